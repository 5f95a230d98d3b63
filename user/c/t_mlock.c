/*
 * t_mlock.c: mlock(2), mlock2(2), munlock(2), mlockall(2), munlockall(2)
 * and MAP_LOCKED, with VmLck from /proc/self/status (those checks are
 * skipped only if the file cannot be opened) and residency from mincore.
 *
 * As root (the test runs as root on the host and in the kernel):
 * - mlock faults every page in and VmLck grows by the length; munlock
 *   gives it back and keeps the data; an unaligned start is rounded down;
 *   a range with a hole gives ENOMEM;
 * - mlock2(MLOCK_ONFAULT) locks without faulting in (VmLck counts the
 *   whole range, like Linux); a touched page becomes resident; unknown
 *   flags give EINVAL;
 * - locked memory refuses MADV_DONTNEED (EINVAL) and msync(MS_INVALIDATE)
 *   (EBUSY);
 * - a fork child does not inherit the locks (its VmLck is 0), nor
 *   mlockall(MCL_FUTURE) (its new mappings are not locked);
 * - mlockall(MCL_CURRENT) faults in existing mappings, MCL_FUTURE new
 *   ones, munlockall ends both (VmLck 0); bad flags give EINVAL;
 *   MAP_LOCKED maps resident memory.
 * As uid 65534 in a child (root has CAP_IPC_LOCK and no limit):
 * - RLIMIT_MEMLOCK 64 KiB: up to the limit works (relocking counts once),
 *   over it mlock gives ENOMEM, MAP_LOCKED EAGAIN, mlockall(MCL_CURRENT)
 *   ENOMEM; after mlockall(MCL_FUTURE) a big mmap gives EAGAIN;
 * - RLIMIT_MEMLOCK 0: mlock, mlock2 and mlockall give EPERM, MAP_LOCKED
 *   EPERM.
 */
#include "check.h"
#include "mmtest.h"

#define KiB 1024UL

static int have_status;

static const char *residency(const void *p, size_t n)
{
	static char out[72];
	unsigned char vec[64];
	int r = mincore((void *)p, n * PAGE, vec);
	for (size_t i = 0; i < n; i++)
		out[i] = r != 0 ? 'E' : vec[i] == 1 ? '1' : vec[i] == 0 ? '0' : '?';
	out[n] = '\0';
	return out;
}

static int all_ones(const char *s)
{
	return strspn(s, "1") == strlen(s);
}

/* VmLck in kB, or -1 when /proc/self/status is missing. */
static long vmlck(void)
{
	return status_kb("VmLck");
}

/* Check VmLck == WANT kB unless /proc/self/status is missing. */
static void check_vmlck(const char *name, long want)
{
	if (!have_status) {
		check_skip(name, "/proc/self/status cannot be opened");
		return;
	}
	long v = vmlck();
	CHECKF(name, v == want, "VmLck %ld kB, want %ld kB", v, want);
}

static char *locked;

static int fork_child_vmlck(void *unused)
{
	(void)unused;
	long v = vmlck();
	if (v != 0)
		return child_fail("child's VmLck %ld kB, want 0 (locks are not inherited)", v);
	if (locked[0] != 'L')
		return child_fail("child does not see the data");
	return 0;
}

/* After the parent's mlockall(MCL_FUTURE): the child's new mappings are
 * not locked (Linux's mm_init keeps no VM_LOCKED in def_flags). */
static int fork_child_future(void *unused)
{
	(void)unused;
	char *m = anon(8 * PAGE);
	if (!m)
		return child_fail("mmap: %s", strerror(errno));
	const char *res = residency(m, 8);
	long v = vmlck();
	if (v != 0 || strcmp(res, "00000000") != 0)
		return child_fail("child's new mapping: VmLck %ld kB, residency %s; want 0 and untouched", v, res);
	return 0;
}

static void check_mlock_root(void)
{
	long base = have_status ? vmlck() : 0;
	CHECKF("vmlck_starts_at_zero", !have_status || base == 0, "VmLck %ld kB", base);
	char *p = anon(16 * PAGE);
	if (!CHECKF("setup", p != NULL, "errno %d", errno))
		return;
	int r = mlock(p, 16 * PAGE);
	CHECKF("mlock", r == 0, "errno %d", errno);
	const char *res = residency(p, 16);
	CHECKF("mlock_faults_pages_in", all_ones(res) && all_zero(p, 16 * PAGE), "residency %s", res);
	check_vmlck("mlock_vmlck", base + 64);
	p[0] = 'L';
	locked = p;
	if (have_status)
		check_child("fork_child_does_not_inherit_locks", fork_child_vmlck, NULL);
	CHECK_ERRNO("dontneed_locked_einval", madvise(p, PAGE, MADV_DONTNEED), EINVAL);
	CHECK_ERRNO("msync_invalidate_locked_ebusy", msync(p, PAGE, MS_INVALIDATE), EBUSY);
	r = mlock(p, 16 * PAGE);
	check_vmlck("mlock_twice_counts_once", base + 64);
	r = munlock(p, 16 * PAGE);
	CHECKF("munlock", r == 0 && p[0] == 'L', "munlock %d errno %d", r, errno);
	check_vmlck("munlock_vmlck", base);
	CHECKF("munlocked_dontneed_ok", madvise(p + PAGE, PAGE, MADV_DONTNEED) == 0, "errno %d", errno);

	r = mlock(p + 3 * PAGE + 100, 10);
	res = residency(p + 3 * PAGE, 1);
	CHECKF("mlock_unaligned_start_rounds_down", r == 0 && strcmp(res, "1") == 0, "mlock %d errno %d residency %s", r,
	       errno, res);
	check_vmlck("mlock_one_page_vmlck", base + 4);
	munlock(p + 3 * PAGE, PAGE);
	munmap(p + 8 * PAGE, PAGE);
	CHECK_ERRNO("mlock_hole_enomem", mlock(p, 16 * PAGE), ENOMEM);
	CHECK_ERRNO("munlock_hole_enomem", munlock(p, 16 * PAGE), ENOMEM);
	munlock(p, 8 * PAGE);
	munmap(p, 16 * PAGE);

	/* mlock2(MLOCK_ONFAULT). */
	p = anon(8 * PAGE);
	if (!p)
		return;
	r = mlock2(p, 8 * PAGE, MLOCK_ONFAULT);
	res = residency(p, 8);
	CHECKF("mlock2_onfault_not_faulted_in", r == 0 && strcmp(res, "00000000") == 0, "mlock2 %d errno %d residency %s",
	       r, errno, res);
	check_vmlck("mlock2_onfault_vmlck", base + 32);
	p[3 * PAGE] = 1;
	res = residency(p, 8);
	CHECKF("mlock2_onfault_touch", strcmp(res, "00010000") == 0, "residency %s", res);
	CHECK_ERRNO("mlock2_bad_flags_einval", mlock2(p, PAGE, 0x10), EINVAL);
	munlock(p, 8 * PAGE);
	check_vmlck("mlock2_munlock_vmlck", base);
	munmap(p, 8 * PAGE);
}

static void check_mlockall_root(void)
{
	char *p = anon(8 * PAGE);
	if (!CHECKF("mlockall_setup", p != NULL, "errno %d", errno))
		return;
	CHECK_ERRNO("mlockall_zero_einval", mlockall(0), EINVAL);
	CHECK_ERRNO("mlockall_onfault_alone_einval", mlockall(MCL_ONFAULT), EINVAL);
	CHECK_ERRNO("mlockall_unknown_flag_einval", mlockall(MCL_CURRENT | 0x100), EINVAL);

	int r = mlockall(MCL_CURRENT);
	const char *res = residency(p, 8);
	CHECKF("mlockall_current_faults_in", r == 0 && all_ones(res), "mlockall %d errno %d residency %s", r, errno, res);
	if (have_status) {
		long v = vmlck(), size = status_kb("VmSize");
		CHECKF("mlockall_current_vmlck", v >= 32 && v <= size && v >= size / 2, "VmLck %ld kB of VmSize %ld kB", v, size);
	} else {
		check_skip("mlockall_current_vmlck", "/proc/self/status cannot be opened");
	}
	/* Memory mapped later is not locked with MCL_CURRENT alone. */
	char *q = anon(8 * PAGE);
	res = q ? residency(q, 8) : "E";
	CHECKF("mlockall_current_not_future", q && strcmp(res, "00000000") == 0, "residency %s", res);
	if (q)
		munmap(q, 8 * PAGE);
	r = munlockall();
	CHECKF("munlockall", r == 0, "errno %d", errno);
	check_vmlck("munlockall_vmlck", 0);

	r = mlockall(MCL_FUTURE);
	q = anon(8 * PAGE);
	res = q ? residency(q, 8) : "E";
	CHECKF("mlockall_future_locks_new_mappings", r == 0 && q && all_ones(res), "mlockall %d errno %d residency %s", r,
	       errno, res);
	if (have_status) {
		long v = vmlck();
		CHECKF("mlockall_future_vmlck", v == 32, "VmLck %ld kB, want 32 (only the new mapping)", v);
	} else {
		check_skip("mlockall_future_vmlck", "/proc/self/status cannot be opened");
	}
	if (have_status)
		check_child("fork_child_does_not_inherit_mcl_future", fork_child_future, NULL);
	if (q)
		munmap(q, 8 * PAGE);
	munlockall();
	q = anon(8 * PAGE);
	res = q ? residency(q, 8) : "E";
	CHECKF("munlockall_ends_future", q && strcmp(res, "00000000") == 0, "residency %s", res);
	if (q)
		munmap(q, 8 * PAGE);
	check_vmlck("vmlck_back_to_zero", 0);

	q = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	res = q != MAP_FAILED ? residency(q, 8) : "E";
	CHECKF("map_locked_resident", q != MAP_FAILED && all_ones(res), "mmap %p errno %d residency %s", (void *)q, errno,
	       res);
	check_vmlck("map_locked_vmlck", 32);
	if (q != MAP_FAILED)
		munmap(q, 8 * PAGE);
	check_vmlck("munmap_locked_vmlck", 0);
	munmap(p, 8 * PAGE);
}

/* Unprivileged, RLIMIT_MEMLOCK 64 KiB. */
static int limit_child(void *unused)
{
	(void)unused;
	struct rlimit rl = {64 * KiB, 64 * KiB};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return child_fail("setrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
	if (drop_root() != 0)
		return child_fail("cannot drop root: %s", strerror(errno));
	char *a = anon(8 * PAGE), *b = anon(16 * PAGE);
	if (!a || !b)
		return child_fail("mmap: %s", strerror(errno));
	if (mlock(a, 8 * PAGE) != 0)
		return child_fail("mlock of 32 KiB under a 64 KiB limit: %s", strerror(errno));
	errno = 0;
	if (mlock(b, 16 * PAGE) != -1 || errno != ENOMEM)
		return child_fail("mlock of 64 KiB more over the limit: errno %d (%s), want ENOMEM", errno, strerror(errno));
	if (mlock(a, 8 * PAGE) != 0)
		return child_fail("relocking the same 32 KiB: %s (already locked pages count once)", strerror(errno));
	if (munlock(a, 8 * PAGE) != 0)
		return child_fail("munlock: %s", strerror(errno));
	if (mlock(b, 16 * PAGE) != 0)
		return child_fail("mlock of exactly the limit: %s", strerror(errno));
	munlock(b, 16 * PAGE);
	errno = 0;
	void *m = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (m != MAP_FAILED || errno != EAGAIN)
		return child_fail("MAP_LOCKED of 128 KiB over the limit: %p errno %d (%s), want EAGAIN", m, errno,
				  strerror(errno));
	m = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (m == MAP_FAILED)
		return child_fail("MAP_LOCKED of 32 KiB under the limit: %s", strerror(errno));
	munmap(m, 8 * PAGE);
	errno = 0;
	if (mlockall(MCL_CURRENT) != -1 || errno != ENOMEM)
		return child_fail("mlockall(MCL_CURRENT) with more mapped than the limit: errno %d (%s), want ENOMEM", errno,
				  strerror(errno));
	if (mlockall(MCL_FUTURE) != 0)
		return child_fail("mlockall(MCL_FUTURE): %s", strerror(errno));
	errno = 0;
	m = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e = errno;
	munlockall();
	if (m != MAP_FAILED || e != EAGAIN)
		return child_fail("mmap of 128 KiB after mlockall(MCL_FUTURE) over the limit: %p errno %d, want EAGAIN", m, e);
	return 0;
}

/* Unprivileged, RLIMIT_MEMLOCK 0. */
static int zero_limit_child(void *unused)
{
	(void)unused;
	struct rlimit rl = {0, 0};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		return child_fail("setrlimit(RLIMIT_MEMLOCK, 0): %s", strerror(errno));
	if (drop_root() != 0)
		return child_fail("cannot drop root: %s", strerror(errno));
	char *a = anon(PAGE);
	if (!a)
		return child_fail("mmap: %s", strerror(errno));
	errno = 0;
	if (mlock(a, PAGE) != -1 || errno != EPERM)
		return child_fail("mlock: errno %d (%s), want EPERM", errno, strerror(errno));
	errno = 0;
	if (mlock2(a, PAGE, MLOCK_ONFAULT) != -1 || errno != EPERM)
		return child_fail("mlock2: errno %d (%s), want EPERM", errno, strerror(errno));
	errno = 0;
	if (mlockall(MCL_CURRENT) != -1 || errno != EPERM)
		return child_fail("mlockall: errno %d (%s), want EPERM", errno, strerror(errno));
	errno = 0;
	/* The raw call: musl's mmap turns EPERM into ENOMEM for MAP_ANONYMOUS. */
	void *m = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (m != MAP_FAILED || errno != EPERM)
		return child_fail("MAP_LOCKED: %p errno %d (%s), want EPERM", m, errno, strerror(errno));
	if (munlock(a, PAGE) != 0 || munlockall() != 0)
		return child_fail("munlock/munlockall without a limit: %s", strerror(errno));
	return 0;
}

int main(void)
{
	check_init("t_mlock");
	report_init();
	have_status = have_proc_status();
	if (!have_status)
		check_note("# /proc/self/status cannot be opened: VmLck checks are skipped");
	if (getuid() != 0) {
		check_skip("root_cases", "not root");
	} else {
		check_mlock_root();
		check_mlockall_root();
	}
	if (getuid() == 0) {
		check_child("unprivileged_rlimit_memlock_64k", limit_child, NULL);
		check_child("unprivileged_rlimit_memlock_0_eperm", zero_limit_child, NULL);
	} else {
		check_skip("unprivileged_rlimit_memlock", "needs root to set up");
	}
	return check_done();
}
