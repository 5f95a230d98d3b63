/*
 * t_mseal.c: mseal(2), memory sealing (Linux 6.10, mm/mseal.c,
 * Documentation/userspace-api/mseal.rst):
 * - sealing the middle two pages of four splits the mapping and smaps
 *   shows `sl` in VmFlags of the sealed part (seal_splits, smaps_sl);
 * - munmap, mprotect, mremap (grow, shrink, move), mmap(MAP_FIXED) over
 *   it and mremap onto it are EPERM, and the data stay
 *   (munmap_eperm ... data_intact);
 * - the unsealed neighbours still change (neighbours_change);
 * - MADV_DONTNEED on sealed read-only private memory is EPERM and the
 *   data stay (ro_anon_discard_eperm); on writable memory it works
 *   (rw_anon_discard_ok);
 * - a fork child inherits the seal (child_inherits);
 * - a hole in the range is ENOMEM with nothing sealed (hole_enomem);
 *   flags and an unaligned start are EINVAL, length 0 is a no-op
 *   (bad_args).
 * On a kernel without mseal (ENOSYS) every case is skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
#ifndef MADV_DONTNEED
#define MADV_DONTNEED 4
#endif
#define NR_MSEAL 462
#define PG 4096L

static const char *cases[] = {
	"seal_splits", "smaps_sl", "munmap_eperm", "mprotect_eperm", "mremap_grow_eperm", "mremap_shrink_eperm",
	"mremap_move_eperm", "map_fixed_eperm", "mremap_onto_eperm", "data_intact", "neighbours_change",
	"ro_anon_discard_eperm", "rw_anon_discard_ok", "child_inherits", "hole_enomem", "bad_args",
};

static long sys_mseal(void *p, size_t len, unsigned long flags)
{
	return syscall(NR_MSEAL, p, len, flags);
}

/* The VmFlags line of the smaps entry at P contains WORD. */
static int vmflag(void *p, const char *word)
{
	static char sm[1 << 18];
	char head[40];
	if (read_small_file("/proc/self/smaps", sm, sizeof sm) < 0)
		return 0;
	snprintf(head, sizeof head, "%lx-", (unsigned long)p);
	char *e = strstr(sm, head);
	char *f = e ? strstr(e, "\nVmFlags:") : NULL;
	if (!f)
		return 0;
	char *end = strchr(f + 1, '\n');
	if (end)
		*end = '\0';
	char w[8];
	snprintf(w, sizeof w, " %s", word);
	return strstr(f, w) != NULL;
}

/* errno of a call that must fail with -1 (0 if it worked). */
static int err_of(long r)
{
	return r == -1 ? errno : 0;
}
#define MAPR(expr) ((expr) == MAP_FAILED ? -1L : 0L)

static int child_munmap(void *p)
{
	if (munmap(p, PG) == 0)
		return child_fail("the child unmapped a sealed page");
	return errno == EPERM ? 0 : child_fail("errno %d, not EPERM", errno);
}

int main(void)
{
	check_init("t_mseal");
	char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("# mmap failed: errno %d\n", errno);
		return check_done();
	}
	if (sys_mseal(p, 0, 0) != 0 && errno == ENOSYS) {
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], "no mseal(2) on this kernel (ENOSYS)");
		return check_done();
	}
	for (int i = 0; i < 4; i++)
		memset(p + i * PG, 'a' + i, PG);
	char *s = p + PG;
	long r = sys_mseal(s, 2 * PG, 0);
	CHECKF("seal_splits", r == 0 && !vmflag(p, "sl") && !vmflag(p + 3 * PG, "sl"), "mseal %ld errno %d", r, errno);
	CHECK("smaps_sl", vmflag(s, "sl"));

	CHECK_ERRNO("munmap_eperm", munmap(p, 4 * PG), EPERM);
	int e = err_of(mprotect(s, PG, PROT_READ));
	CHECKF("mprotect_eperm", e == EPERM, "errno %d", e);
	e = err_of(MAPR(mremap(s, 2 * PG, 8 * PG, MREMAP_MAYMOVE)));
	CHECKF("mremap_grow_eperm", e == EPERM, "errno %d", e);
	e = err_of(MAPR(mremap(s, 2 * PG, PG, 0)));
	CHECKF("mremap_shrink_eperm", e == EPERM, "errno %d", e);
	char *far = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	e = err_of(MAPR(mremap(s, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, far)));
	CHECKF("mremap_move_eperm", e == EPERM, "errno %d", e);
	e = err_of(MAPR(mmap(s, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)));
	CHECKF("map_fixed_eperm", e == EPERM, "errno %d", e);
	e = err_of(MAPR(mremap(far, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, s)));
	CHECKF("mremap_onto_eperm", e == EPERM, "errno %d", e);
	int intact = 1;
	for (int i = 1; i < 3; i++)
		for (long j = 0; j < PG; j += 512)
			intact &= p[i * PG + j] == 'a' + i;
	CHECK("data_intact", intact && vmflag(s, "sl"));

	int un = munmap(p, PG);
	int pr = mprotect(p + 3 * PG, PG, PROT_READ);
	CHECKF("neighbours_change", un == 0 && pr == 0 && vmflag(s, "sl"), "munmap %d mprotect %d errno %d", un, pr,
	       errno);

	char *ro = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(ro, 'r', 2 * PG);
	mprotect(ro, 2 * PG, PROT_READ);
	sys_mseal(ro, 2 * PG, 0);
	int de = err_of(madvise(ro, 2 * PG, MADV_DONTNEED));
	CHECKF("ro_anon_discard_eperm", de == EPERM && ro[0] == 'r' && ro[PG] == 'r', "errno %d, byte %c", de, ro[0]);
	int rw = madvise(s, PG, MADV_DONTNEED);
	CHECKF("rw_anon_discard_ok", rw == 0 && s[0] == 0 && s[PG] == 'c', "madvise %d errno %d, bytes %d %c", rw, errno,
	       s[0], s[PG]);

	CHECK("child_inherits", run_child(child_munmap, s) == 0);

	char *h = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(h + PG, PG);
	int he = err_of(sys_mseal(h, 3 * PG, 0));
	CHECKF("hole_enomem", he == ENOMEM && !vmflag(h, "sl") && munmap(h, PG) == 0, "errno %d", he);

	int fe = err_of(sys_mseal(far, PG, 1));
	int ue = err_of(sys_mseal(far + 1, PG, 0));
	long z = sys_mseal(far, 0, 0);
	CHECKF("bad_args", fe == EINVAL && ue == EINVAL && z == 0 && !vmflag(far, "sl"), "flags %d unaligned %d zero %ld",
	       fe, ue, z);
	return check_done();
}
