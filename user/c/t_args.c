/*
 * t_args.c: what the kernel puts on the initial stack, seen through musl.
 *
 * Run as `t_args one two three` with exactly the test contract's
 * environment (TESTDATA, BINDIR, FOO=bar; see user/tests.txt). Checks argc,
 * argv and its NULL terminator, environ and getenv, and the auxiliary
 * vector through getauxval: AT_PAGESZ, AT_RANDOM, AT_PHDR/AT_PHENT/AT_PHNUM,
 * AT_ENTRY (== _start) and AT_EXECFN.
 */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include "check.h"

extern char **environ;
void _start(void);

/* Whether the last path component of PATH is NAME. */
static int basename_is(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');
	return strcmp(slash ? slash + 1 : path, name) == 0;
}

static void check_argv(int argc, char **argv)
{
	CHECKF("argc", argc == 4, "argc = %d, want 4", argc);
	CHECKF("argv0_is_program", argc > 0 && basename_is(argv[0], "t_args"), "argv[0] = %s",
	       argc > 0 ? argv[0] : "(none)");
	CHECK("argv_values", argc == 4 && strcmp(argv[1], "one") == 0 && strcmp(argv[2], "two") == 0 &&
				     strcmp(argv[3], "three") == 0);
	CHECK("argv_null_terminated", argv[argc] == NULL);
}

static void check_environ(void)
{
	int n = 0, foo = 0, testdata = 0, bindir = 0;
	for (char **e = environ; *e; e++, n++) {
		foo += strcmp(*e, "FOO=bar") == 0;
		testdata += strncmp(*e, "TESTDATA=", 9) == 0;
		bindir += strncmp(*e, "BINDIR=", 7) == 0;
	}
	CHECKF("environ_exact", n == 3 && foo == 1 && testdata == 1 && bindir == 1,
	       "%d entries (FOO=bar %d, TESTDATA %d, BINDIR %d), want exactly TESTDATA, BINDIR, FOO=bar", n, foo,
	       testdata, bindir);
	const char *v = getenv("FOO");
	CHECKF("getenv_foo", v && strcmp(v, "bar") == 0, "FOO = %s", v ? v : "(unset)");
	CHECK("getenv_missing", getenv("NOT_SET_ANYWHERE") == NULL);
	v = getenv("TESTDATA");
	CHECKF("getenv_testdata", v && basename_is(v, "testdata.txt"), "TESTDATA = %s", v ? v : "(unset)");
}

static void check_auxv(void)
{
	unsigned long pagesz = getauxval(AT_PAGESZ);
	CHECKF("auxv_pagesz", pagesz == 4096, "AT_PAGESZ = %lu", pagesz);
	CHECKF("sysconf_pagesize", sysconf(_SC_PAGESIZE) == 4096, "%ld", sysconf(_SC_PAGESIZE));

	const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
	int nonzero = 0;
	if (rnd)
		for (int i = 0; i < 16; i++)
			nonzero |= rnd[i];
	CHECKF("auxv_random", rnd && nonzero, "AT_RANDOM = %p, bytes %s", (const void *)rnd,
	       nonzero ? "ok" : "all zero");

	unsigned long phdr = getauxval(AT_PHDR), phnum = getauxval(AT_PHNUM), phent = getauxval(AT_PHENT);
	CHECKF("auxv_phdr", phdr != 0, "AT_PHDR = %#lx", phdr);
	CHECKF("auxv_phnum", phnum > 0, "AT_PHNUM = %lu", phnum);
	CHECKF("auxv_phent", phent == sizeof(Elf64_Phdr), "AT_PHENT = %lu", phent);
	int loads = 0;
	if (phdr && phent == sizeof(Elf64_Phdr)) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)phdr;
		for (unsigned long i = 0; i < phnum; i++)
			loads += ph[i].p_type == PT_LOAD;
	}
	CHECKF("phdr_has_load", loads > 0, "%d PT_LOAD entries", loads);

	unsigned long entry = getauxval(AT_ENTRY);
	CHECKF("auxv_entry_is_start", entry != 0 && entry == (unsigned long)(uintptr_t)_start,
	       "AT_ENTRY = %#lx, _start = %p", entry, (void *)_start);

	const char *execfn = (const char *)getauxval(AT_EXECFN);
	CHECKF("auxv_execfn", execfn && basename_is(execfn, "t_args"), "AT_EXECFN = %s", execfn ? execfn : "(null)");
}

int main(int argc, char **argv)
{
	check_init("t_args");
	check_argv(argc, argv);
	check_environ();
	check_auxv();
	return check_done();
}
