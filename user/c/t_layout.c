/*
 * t_layout.c: personality(2) and the two mmap layouts (kernel/exec_domain.c,
 * arch/x86/mm/mmap.c):
 * - personality(0xffffffff) asks without changing; a set persona reads
 *   back, /proc/self/personality shows it ("%08x"), and fork inherits it
 *   (query_and_set, proc_personality, inherited_by_fork);
 * - READ_IMPLIES_EXEC: mmap and mprotect with PROT_READ give executable
 *   areas (r-xp, rwxp in maps); without it they do not (read_implies_exec);
 * - the default layout puts mappings top-down, above two thirds of the
 *   address space (top_down_default);
 * - ADDR_COMPAT_LAYOUT at exec gives the legacy layout: mappings bottom-up
 *   from a third of the address space (legacy_by_persona);
 * - vm.legacy_va_layout does the same for every exec; -1 is EINVAL
 *   (legacy_by_sysctl, root only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define NR_PERSONALITY 135
#define ADDR_NO_RANDOMIZE_ 0x0040000u
#define ADDR_COMPAT_LAYOUT_ 0x0200000u
#define READ_IMPLIES_EXEC_ 0x0400000u
/* x86_64: a third of the user address space (TASK_SIZE / 3, page aligned). */
#define UNMAPPED_BASE 0x2aaaaaaab000ul

static long persona(unsigned long p)
{
	return syscall(NR_PERSONALITY, p);
}

/* The permissions /proc/self/maps shows for the area holding `p`. */
static void perms_of(void *p, char out[5])
{
	strcpy(out, "????");
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) == 3 && lo <= (unsigned long)p && (unsigned long)p < hi)
			memcpy(out, perm, 5);
	}
	fclose(f);
}

/* In the exec'd child: two fresh mappings, bottom-up from the base. */
static int legacy_child(void)
{
	char *a = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ok = a != MAP_FAILED && b != MAP_FAILED && (unsigned long)a >= UNMAPPED_BASE &&
		 (unsigned long)a < 0x400000000000ul && b > a;
	if (!ok)
		fprintf(stderr, "# legacy child: mmap %p then %p\n", (void *)a, (void *)b);
	return ok ? 0 : 1;
}

/* Fork, set `p` (unless ~0), exec this program as the legacy child. */
static int run_child(const char *self, unsigned long p)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (p != ~0ul)
			persona(p);
		char *argv[] = {(char *)self, (char *)"--legacy-child", NULL};
		execv(self, argv);
		_exit(3);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	return st;
}

static int write_sysctl(const char *v)
{
	int fd = open("/proc/sys/vm/legacy_va_layout", O_WRONLY);
	if (fd < 0)
		return -1;
	int r = write(fd, v, strlen(v)) == (long)strlen(v) ? 0 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--legacy-child"))
		return legacy_child();
	check_init("t_layout");
	long start = persona(~0ul);
	long set = persona(ADDR_NO_RANDOMIZE_);
	long now = persona(~0ul);
	CHECKF("query_and_set", start >= 0 && set == start && now == (long)ADDR_NO_RANDOMIZE_,
	       "first %#lx, set returned %#lx, then %#lx", start, set, now);

	char text[32] = "";
	FILE *pf = fopen("/proc/self/personality", "r");
	if (pf) {
		if (!fgets(text, sizeof text, pf))
			text[0] = 0;
		fclose(pf);
	}
	CHECKF("proc_personality", !strcmp(text, "00040000\n"), "'%s'", text);

	pid_t pid = fork();
	if (pid == 0)
		_exit(persona(~0ul) == (long)ADDR_NO_RANDOMIZE_ ? 0 : 1);
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("inherited_by_fork", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);

	persona(READ_IMPLIES_EXEC_);
	char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char p1[5], p2[5], p3[5];
	perms_of(m, p1);
	mprotect(m, 4096, PROT_READ | PROT_WRITE);
	perms_of(m, p2);
	persona(start);
	char *n = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	perms_of(n, p3);
	CHECKF("read_implies_exec", !strcmp(p1, "r-xp") && !strcmp(p2, "rwxp") && !strcmp(p3, "r--p"),
	       "with it: %s then %s after mprotect; without: %s", p1, p2, p3);
	munmap(m, 4096);
	munmap(n, 4096);

	char *a = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *b = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECKF("top_down_default", (unsigned long)a > 0x400000000000ul && b < a, "mmap %p then %p", (void *)a,
	       (void *)b);

	char self[512] = "";
	ssize_t ns = readlink("/proc/self/exe", self, sizeof self - 1);
	if (ns <= 0) {
		CHECKF("legacy_by_persona", 0, "readlink /proc/self/exe: errno %d", errno);
	} else {
		int lst = run_child(self, ADDR_COMPAT_LAYOUT_ | ADDR_NO_RANDOMIZE_);
		CHECKF("legacy_by_persona", WIFEXITED(lst) && WEXITSTATUS(lst) == 0, "child status %#x", lst);
	}

	if (geteuid() != 0 || ns <= 0) {
		check_skip("legacy_by_sysctl", "not root, or no /proc/self/exe");
	} else {
		int bad = write_sysctl("-1") == -1 ? errno : 0;
		int on = write_sysctl("1");
		int sst = run_child(self, ADDR_NO_RANDOMIZE_);
		int off = write_sysctl("0");
		CHECKF("legacy_by_sysctl", bad == EINVAL && on == 0 && off == 0 && WIFEXITED(sst) && WEXITSTATUS(sst) == 0,
		       "-1: errno %d, on %d, off %d, child status %#x", bad, on, off, sst);
	}
	return check_done();
}
