/*
 * t_dynamic: a dynamically linked program (musl-gcc without -static: PIE,
 * PT_INTERP /lib/ld-musl-x86_64.so.1, DT_NEEDED libtdyn.so found through
 * RUNPATH $ORIGIN/../lib). The kernel maps it and the loader, and starts
 * the loader, which maps and links the libraries itself.
 *
 *   auxv         AT_BASE is where the loader's file is mapped (/proc/self/
 *                maps), AT_ENTRY is _start, AT_PHDR/AT_PHNUM/AT_PHENT agree
 *                with dl_iterate_phdr and the program's PT_PHDR;
 *                AT_MINSIGSTKSZ bytes of alternate stack carry a handler
 *   linked       a call into libtdyn.so, its data and constructor
 *   dlopen       dlopen/dlsym/dlclose of libtdlopen.so, which calls back
 *                into libtdyn.so; a missing library gives NULL and dlerror
 *   shared text  after a child execs this program, the loader's text
 *                pages are Shared_Clean in /proc/self/smaps (this host's
 *                Linux 6.18 does not count libtdyn.so's one-page text so)
 *   interpreter  copies of this program with PT_INTERP patched to a missing
 *                file (ENOENT), a file shorter than an ELF header (EIO),
 *                a text file (ELIBBAD), a file without x
 *                bits, a directory or a file on a noexec mount (EACCES),
 *                no NUL (ENOEXEC), and to a
 *                copy of the loader in /tmp, which runs (also named
 *                relative to the working directory)
 *
 * Child modes: `t_dynamic child` (writes one byte on fd 1 and waits for
 * stdin to close), `t_dynamic tmp-loader` (exits 42 when the loader is the
 * /tmp copy).
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"

int tdyn_add(int a, int b);
extern int tdyn_counter;
extern int tdyn_ctor_ran;
extern char _start[];

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

static char maps_path[4096];

/* The path and permissions of the /proc/PID/maps line holding ADDR (or
 * starting there, with START set): 0 if found. */
static int mapping_of(const char *maps, uintptr_t addr, int start, char *path, size_t len, char *perms)
{
	FILE *f = fopen(maps, "r");
	if (!f)
		return -1;
	char line[4096 + 128];
	int found = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char p[8];
		int off = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, p, &off) < 3)
			continue;
		if (start ? addr != lo : (addr < lo || addr >= hi))
			continue;
		char *name = off ? line + off : line + strlen(line);
		name[strcspn(name, "\n")] = 0;
		snprintf(path, len, "%s", name);
		if (perms)
			memcpy(perms, p, 5);
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

/* Whether some line of MAPS names PATH. */
static int maps_has(const char *maps, const char *path)
{
	FILE *f = fopen(maps, "r");
	if (!f)
		return 0;
	char line[4096 + 128];
	int found = 0;
	size_t n = strlen(path);
	while (!found && fgets(line, sizeof line, f)) {
		char *name = strchr(line, '/');
		found = name && strncmp(name, path, n) == 0 && name[n] == '\n';
	}
	fclose(f);
	return found;
}

/* Sum of FIELD (kB) over the smaps areas of PATH with permissions PERMS. */
static long smaps_field(const char *path, const char *perms, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	char line[4096 + 128];
	long sum = 0;
	int in = 0;
	size_t flen = strlen(field);
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char p[8];
		int off = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, p, &off) >= 3) {
			char *name = off ? line + off : line + strlen(line);
			name[strcspn(name, "\n")] = 0;
			in = strcmp(name, path) == 0 && strcmp(p, perms) == 0;
			continue;
		}
		if (in && strncmp(line, field, flen) == 0)
			sum += atol(line + flen);
	}
	fclose(f);
	return sum;
}

/* The program's own PT_INTERP string. */
static const char *my_interp(void)
{
	const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);
	uintptr_t bias = 0;
	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return (const char *)(bias + ph[i].p_vaddr);
	return NULL;
}

struct phdr_seen {
	int calls;
	uintptr_t addr;
	const void *phdr;
	int phnum;
};

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct phdr_seen *s = arg;
	(void)size;
	if (s->calls++ == 0) {
		s->addr = info->dlpi_addr;
		s->phdr = info->dlpi_phdr;
		s->phnum = info->dlpi_phnum;
	}
	return 0;
}

static void test_auxv(void)
{
	unsigned long base = getauxval(AT_BASE);
	const char *interp = my_interp();
	CHECK("has_pt_interp", interp != NULL);
	char path[4096] = "", real[4096] = "";
	int found = mapping_of("/proc/self/maps", base, 1, path, sizeof path, NULL);
	if (interp && !realpath(interp, real))
		real[0] = 0;
	CHECKF("at_base_is_the_loader_mapping", base != 0 && found == 0 && real[0] && strcmp(path, real) == 0,
	       "AT_BASE %#lx maps '%s', loader %s -> '%s'", base, path, interp ? interp : "?", real);
	snprintf(maps_path, sizeof maps_path, "%s", path);
	CHECKF("at_entry_is_start", getauxval(AT_ENTRY) == (uintptr_t)_start, "AT_ENTRY %#lx, _start %p",
	       getauxval(AT_ENTRY), (void *)_start);
	struct phdr_seen s = {0};
	dl_iterate_phdr(first_object, &s);
	const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
	uintptr_t pt_phdr = 0;
	for (int i = 0; i < s.phnum; i++)
		if (ph[i].p_type == PT_PHDR)
			pt_phdr = s.addr + ph[i].p_vaddr;
	CHECKF("at_phdr_matches_dl_iterate_phdr",
	       s.calls >= 3 && s.phdr == ph && (unsigned long)s.phnum == getauxval(AT_PHNUM) &&
	           pt_phdr == (uintptr_t)ph && getauxval(AT_PHENT) == sizeof(Elf64_Phdr),
	       "calls %d phdr %p/%p phnum %d/%lu PT_PHDR %#lx", s.calls, s.phdr, (void *)ph, s.phnum,
	       getauxval(AT_PHNUM), (unsigned long)pt_phdr);
	char prog[4096] = "";
	mapping_of("/proc/self/maps", (uintptr_t)_start, 0, prog, sizeof prog, NULL);
	CHECKF("program_mapped_at_its_path", strstr(prog, "t_dynamic") != NULL, "'%s'", prog);
	const char *plat = (const char *)getauxval(AT_PLATFORM);
	CHECKF("auxv_values", getauxval(AT_PAGESZ) == 4096 && getauxval(AT_CLKTCK) == 100 && getauxval(AT_SECURE) == 0 &&
	                          getauxval(AT_RANDOM) != 0 && getauxval(AT_UID) == getuid() &&
	                          getauxval(AT_EGID) == getegid() && plat && strcmp(plat, "x86_64") == 0,
	       "pagesz %lu clktck %lu secure %lu", getauxval(AT_PAGESZ), getauxval(AT_CLKTCK), getauxval(AT_SECURE));
}

static volatile int ran_on_alt;
static char *alt_lo, *alt_hi;

static void on_alt_handler(int sig)
{
	char here;
	(void)sig;
	ran_on_alt = &here >= alt_lo && &here < alt_hi;
}

/* AT_MINSIGSTKSZ is the stack a signal frame needs: an alternate stack of
 * that size (or MINSIGSTKSZ, the least sigaltstack takes) carries a
 * handler (delivery fails with SIGSEGV when the frame does not fit). */
static void test_minsigstksz(void)
{
	unsigned long min = getauxval(AT_MINSIGSTKSZ);
	CHECKF("at_minsigstksz_given", min >= 512, "AT_MINSIGSTKSZ %lu", min);
	pid_t pid = fork();
	if (pid == 0) {
		size_t size = min < MINSIGSTKSZ ? MINSIGSTKSZ : min;
		alt_lo = malloc(size);
		alt_hi = alt_lo + size;
		stack_t ss = {.ss_sp = alt_lo, .ss_size = size};
		struct sigaction sa = {.sa_handler = on_alt_handler, .sa_flags = SA_ONSTACK};
		if (!alt_lo || sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL))
			_exit(2);
		raise(SIGUSR1);
		_exit(ran_on_alt ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("handler_runs_on_an_alt_stack_of_that_size", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

static void test_linked(void)
{
	char path[4096] = "";
	mapping_of("/proc/self/maps", (uintptr_t)tdyn_add, 0, path, sizeof path, NULL);
	CHECKF("linked_library_call", tdyn_add(2, 3) == 5 && tdyn_counter == 40 && tdyn_ctor_ran == 1,
	       "add %d counter %d ctor %d", tdyn_add(2, 3), tdyn_counter, tdyn_ctor_ran);
	const char *slash = strrchr(path, '/');
	CHECKF("linked_library_mapped_at_its_path", slash && strcmp(slash, "/libtdyn.so") == 0, "'%s'", path);
}

static void test_dlopen(const char *libdir)
{
	char lib[8192];
	snprintf(lib, sizeof lib, "%s/libtdlopen.so", libdir);
	void *h = dlopen(lib, RTLD_NOW);
	CHECKF("dlopen", h != NULL, "%s: %s", lib, dlerror());
	if (!h)
		return;
	int (*mul_add)(int, int) = (int (*)(int, int))dlsym(h, "tdl_mul_add");
	int *value = dlsym(h, "tdl_value");
	CHECKF("dlsym", mul_add && value && *value == 7 && mul_add(6, 7) == 49, "mul_add %p value %p", (void *)mul_add,
	       (void *)value);
	char path[4096] = "";
	if (mul_add)
		mapping_of("/proc/self/maps", (uintptr_t)mul_add, 0, path, sizeof path, NULL);
	const char *slash = strrchr(path, '/');
	CHECKF("dlopened_library_mapped_at_its_path", slash && strcmp(slash, "/libtdlopen.so") == 0, "'%s'", path);
	CHECK("dlclose", dlclose(h) == 0);
	snprintf(lib, sizeof lib, "%s/libtdmissing.so", libdir);
	CHECK("dlopen_missing_fails", dlopen(lib, RTLD_NOW) == NULL && dlerror() != NULL);
}

static long text_shared(const char *path)
{
	return smaps_field(path, "r-xp", "Shared_Clean:");
}

static void test_shared_text(const char *self)
{
	char lib[4096] = "";
	mapping_of("/proc/self/maps", (uintptr_t)tdyn_add, 0, lib, sizeof lib, NULL);
	int up[2], down[2];
	if (pipe(up) || pipe(down)) {
		CHECK("pipes", 0);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(up[1], 1);
		dup2(down[0], 0);
		close(up[0]);
		close(down[1]);
		execl(self, self, "child", (char *)NULL);
		_exit(127);
	}
	close(up[1]);
	close(down[0]);
	char c = 0;
	ssize_t n = read(up[0], &c, 1);
	CHECKF("child_execd_and_ran", n == 1 && c == 'r', "read %zd '%c'", n, c);
	long ld = text_shared(maps_path);
	char cmaps[64];
	snprintf(cmaps, sizeof cmaps, "/proc/%d/maps", (int)pid);
	CHECKF("child_maps_the_same_files", maps_has(cmaps, maps_path) && maps_has(cmaps, lib), "%s, %s", maps_path,
	       lib);
	close(down[1]);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("loader_text_shared_with_child", ld > 0, "Shared_Clean of %s r-xp: %ld kB", maps_path, ld);
	CHECKF("child_exited", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	close(up[0]);
}

static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !(*out = malloc(st.st_size))) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *out + got, st.st_size - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	*len = got;
	return got == (size_t)st.st_size ? 0 : -1;
}

static int write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return chmod(path, mode) == 0 && n == (ssize_t)len ? 0 : -1;
}

/* The working directory of the children run() starts (NULL: ours). */
static const char *run_cwd;

/* Run PROG with ARG in a child: the execve errno (0 if it ran), and the
 * exit status of a program that ran. */
static int run(const char *prog, const char *arg, int *status)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		fcntl(p[1], F_SETFD, FD_CLOEXEC);
		if (run_cwd && chdir(run_cwd) != 0)
			_exit(125);
		execl(prog, prog, arg, (char *)NULL);
		int e = errno;
		if (write(p[1], &e, sizeof e) != sizeof e)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	int e = 0;
	if (read(p[0], &e, sizeof e) != sizeof e)
		e = 0;
	close(p[0]);
	waitpid(pid, status, 0);
	return e;
}

#define TMP_PROG "/tmp/t_dynamic-prog"

/* A copy of SELF (LEN bytes) whose interpreter path, at AT, says NEW. */
static int exec_with_interp(const char *self, size_t len, size_t at, const char *new, size_t n, int *status)
{
	char *copy = malloc(len);
	if (!copy)
		return -1;
	memcpy(copy, self, len);
	memcpy(copy + at, new, n);
	int r = write_file(TMP_PROG, copy, len, 0755);
	free(copy);
	if (r)
		return -1;
	return run(TMP_PROG, "tmp-loader", status);
}

static void test_interpreter(const char *self, const char *libdir)
{
	/* The copy runs from /tmp: its $ORIGIN/../lib is not the test's. */
	setenv("LD_LIBRARY_PATH", libdir, 1);
	const char *interp = my_interp();
	char *file = NULL, *loader = NULL;
	size_t len = 0, llen = 0;
	if (!interp || read_file(self, &file, &len) || read_file(interp, &loader, &llen)) {
		CHECK("read_program_and_loader", 0);
		return;
	}
	size_t ilen = strlen(interp) + 1, at = 0;
	for (size_t i = 0; i + ilen <= len; i++)
		if (memcmp(file + i, interp, ilen) == 0) {
			at = i;
			break;
		}
	/* Each replacement has the length of "/lib/ld-musl-x86_64.so.1". */
	static const char missing[] = "/tmp/t_dynamic-missing-l", notelf[] = "/tmp/t_dynamic-notelf-ld",
			  noexec[] = "/tmp/t_dynamic-noexec-ld", dir[] = "/tmp/t_dynamic-dir-ld---",
			  shortf[] = "/tmp/t_dynamic-short-ld-",
			  copy[] = "/tmp/t_dynamic-loader-ld";
	if (at == 0 || ilen != sizeof missing) {
		CHECKF("find_pt_interp_string", 0, "'%s' at %zu", interp, at);
		return;
	}
	int st = 0;
	unlink(missing);
	int e = exec_with_interp(file, len, at, missing, ilen, &st);
	CHECKF("missing_interpreter_enoent", e == ENOENT, "errno %d", e);
	/* Shorter than an ELF header: the read of it fails (EIO). */
	write_file(shortf, "not an ELF file\n", 16, 0755);
	e = exec_with_interp(file, len, at, shortf, ilen, &st);
	CHECKF("short_interpreter_eio", e == EIO, "errno %d", e);
	char text[256];
	memset(text, 'x', sizeof text);
	write_file(notelf, text, sizeof text, 0755);
	e = exec_with_interp(file, len, at, notelf, ilen, &st);
	CHECKF("text_interpreter_elibbad", e == ELIBBAD, "errno %d", e);
	write_file(noexec, loader, llen, 0644);
	e = exec_with_interp(file, len, at, noexec, ilen, &st);
	CHECKF("interpreter_without_x_eacces", e == EACCES, "errno %d", e);
	rmdir(dir);
	mkdir(dir, 0755);
	e = exec_with_interp(file, len, at, dir, ilen, &st);
	CHECKF("directory_interpreter_eacces", e == EACCES, "errno %d", e);
	char nonul[sizeof missing];
	memcpy(nonul, interp, ilen);
	nonul[ilen - 1] = 'x';
	e = exec_with_interp(file, len, at, nonul, ilen, &st);
	CHECKF("interpreter_without_nul_enoexec", e == ENOEXEC, "errno %d", e);
	write_file(copy, loader, llen, 0755);
	e = exec_with_interp(file, len, at, copy, ilen, &st);
	CHECKF("loader_copy_in_tmp_runs", e == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 42, "errno %d status %#x", e,
	       st);
	/* An interpreter on a noexec mount is EACCES (path_noexec). */
	static const char nxdir[] = "/tmp/t_dynamic-nx", nxloader[] = "/tmp/t_dynamic-nx/loader";
	_Static_assert(sizeof nxloader == sizeof missing, "same length");
	if (getuid() != 0) {
		check_skip("noexec_mount_interpreter_eacces", "not root");
	} else {
		mkdir(nxdir, 0755);
		int m = mount("none", nxdir, "tmpfs", MS_NOEXEC, NULL);
		int w = m == 0 ? write_file(nxloader, loader, llen, 0755) : -1;
		e = w == 0 ? exec_with_interp(file, len, at, nxloader, ilen, &st) : -1;
		CHECKF("noexec_mount_interpreter_eacces", e == EACCES, "mount %d write %d errno %d", m, w, e);
		if (m == 0)
			umount(nxdir);
		rmdir(nxdir);
	}
	/* A relative interpreter path is looked up from the caller's working
	 * directory (Linux's open_exec does no more). */
	static const char relative[] = "tmp//t_dynamic-loader-ld";
	_Static_assert(sizeof relative == sizeof missing, "same length");
	run_cwd = "/";
	e = exec_with_interp(file, len, at, relative, ilen, &st);
	int from_root = e == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 42;
	run_cwd = "/proc";
	e = exec_with_interp(file, len, at, relative, ilen, &st);
	run_cwd = NULL;
	CHECKF("relative_interpreter_from_cwd", from_root && e == ENOENT, "from / %d, from /proc errno %d", from_root,
	       e);
	unlink(TMP_PROG);
	unlink(missing);
	unlink(notelf);
	unlink(shortf);
	unlink(noexec);
	unlink(copy);
	rmdir(dir);
	free(file);
	free(loader);
	unsetenv("LD_LIBRARY_PATH");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		/* Run libtdyn.so's text before saying so. */
		if (tdyn_add(1, 1) != 2 || write(1, "r", 1) != 1)
			return 1;
		char c;
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "tmp-loader") == 0) {
		char path[4096] = "";
		mapping_of("/proc/self/maps", getauxval(AT_BASE), 1, path, sizeof path, NULL);
		return strcmp(path, "/tmp/t_dynamic-loader-ld") == 0 && tdyn_add(20, 22) == 42 ? 42 : 1;
	}
	check_init("t_dynamic");
	/* The program, found again from BINDIR as other tests do. */
	const char *bindir = getenv("BINDIR");
	char self[4096], libdir[4096];
	snprintf(self, sizeof self, "%s/t_dynamic", bindir ? bindir : "/bin");
	snprintf(libdir, sizeof libdir, "%s/../lib", bindir ? bindir : "/bin");
	test_auxv();
	test_minsigstksz();
	test_linked();
	test_dlopen(libdir);
	test_shared_text(self);
	test_interpreter(self, libdir);
	return check_done();
}
