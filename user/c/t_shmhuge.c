/*
 * t_shmhuge.c: System V shared memory on huge pages (shmget with
 * SHM_HUGETLB), as Linux's ipc/shm.c newseg and hugetlb_file_setup give it:
 * - a 3 MiB segment is made of two 2 MiB pages, both promised at shmget
 *   (created_reserves: HugePages_Rsvd + 2), while IPC_STAT keeps the size
 *   asked (segsz_as_asked);
 * - shmat maps it 2 MiB aligned, 4 MiB long, with 2048 kB pages in smaps
 *   and the segment's name in maps (attach_huge); touching both pages uses
 *   the promises (touch_uses_promises: Free - 2, Rsvd back);
 * - a forked child sees the parent's bytes and the parent the child's
 *   (shared_across_fork); shm_nattch counts the child's attachment
 *   (nattch_counts);
 * - SHM_INFO counts the huge pages in 4 KiB pages in shm_rss, none in
 *   shm_swp (shm_info_rss);
 * - attaching at an address that is not 2 MiB aligned is EINVAL
 *   (unaligned_attach_einval); SHM_LOCK succeeds and changes nothing
 *   (lock_is_noop);
 * - more pages than the pool has: ENOMEM (beyond_pool_enomem); with
 *   SHM_NORESERVE the segment is made and promises nothing
 *   (noreserve_promises_nothing); a page size with no pool is EINVAL
 *   (bad_size_einval);
 * - a user without CAP_IPC_LOCK, outside group 0 and with RLIMIT_MEMLOCK
 *   0 gets EPERM (unprivileged_eperm);
 * - IPC_RMID while attached keeps the pages until the last detach, then
 *   every page and promise is back (rmid_frees).
 * The pool is set to 4 pages and restored at the end. Root only; every
 * case is skipped, with the reason, when the pool cannot be set.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif
#define SHM_HUGE_SHIFT 26

#define HP (2UL << 20)
#define POOL 4
#define NR "/proc/sys/vm/nr_hugepages"

static const char *cases[] = {
	"created_reserves", "segsz_as_asked", "attach_huge", "touch_uses_promises", "shared_across_fork",
	"nattch_counts", "shm_info_rss", "unaligned_attach_einval", "lock_is_noop", "beyond_pool_enomem",
	"noreserve_promises_nothing", "bad_size_einval", "unprivileged_eperm", "rmid_frees",
};

static long nattch(int id)
{
	struct shmid_ds ds;
	return shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

/* The child checks the parent's bytes, writes its own, and reports the
 * attachments it sees (the parent's and its own). */
static int child_rw(void *p)
{
	long *w = p;
	if (w[0] != 0x7e57 || w[HP / sizeof(long)] != 0x7e58)
		return child_fail("the child sees %#lx/%#lx", w[0], w[HP / sizeof(long)]);
	w[1] = 0xc41d;
	return 0;
}

static int unprivileged(void *unused)
{
	(void)unused;
	struct rlimit r = {0, 0};
	/* Supplementary groups (group 0 among them) go first; a kernel
	 * without them answers ENOSYS and has none to drop. */
	if (setgroups(0, NULL) != 0 && errno != ENOSYS)
		return child_fail("setgroups: errno %d", errno);
	if (setrlimit(RLIMIT_MEMLOCK, &r) != 0 || drop_root() != 0)
		return child_fail("cannot drop privileges: errno %d", errno);
	int id = shmget(IPC_PRIVATE, HP, SHM_HUGETLB | IPC_CREAT | 0600);
	if (id >= 0) {
		shmctl(id, IPC_RMID, NULL);
		return child_fail("shmget worked");
	}
	return errno == EPERM ? 0 : child_fail("errno %d, not EPERM", errno);
}

int main(void)
{
	check_init("t_shmhuge");
	report_init();
	long old = read_num(NR);
	const char *why = NULL;
	if (geteuid() != 0)
		why = "not root: the pool is root's";
	else if (old < 0)
		why = "no /proc/sys/vm/nr_hugepages (a kernel without hugetlb)";
	else if (write_num(NR, POOL) != 0 || read_num(NR) != POOL || meminfo_kb("HugePages_Free") != POOL)
		why = "the pool did not reach 4 free pages";
	else if (meminfo_kb("Hugepagesize") != 2048)
		why = "the default huge page size is not 2 MiB";
	if (why) {
		if (old >= 0 && geteuid() == 0)
			write_num(NR, old);
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], why);
		return check_done();
	}
	long rsvd0 = meminfo_kb("HugePages_Rsvd"), free0 = meminfo_kb("HugePages_Free");

	int id = shmget(IPC_PRIVATE, 3 << 20, SHM_HUGETLB | IPC_CREAT | 0600);
	long rsvd1 = meminfo_kb("HugePages_Rsvd");
	CHECKF("created_reserves", id >= 0 && rsvd1 == rsvd0 + 2, "id %d errno %d, Rsvd %ld -> %ld", id, errno, rsvd0,
	       rsvd1);
	struct shmid_ds ds;
	CHECKF("segsz_as_asked", shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_segsz == 3 << 20, "shm_segsz %zu",
	       (size_t)ds.shm_segsz);

	char *p = shmat(id, NULL, 0);
	char name[64];
	snprintf(name, sizeof name, "/SYSV%08x", 0);
	long kps = p == (void *)-1 ? -1 : smaps_field(p, "KernelPageSize");
	long size = p == (void *)-1 ? -1 : smaps_field(p, "Size");
	char maps[1 << 14];
	int named = read_small_file("/proc/self/maps", maps, sizeof maps) > 0 && strstr(maps, name);
	CHECKF("attach_huge", p != (void *)-1 && (unsigned long)p % HP == 0 && kps == 2048 && size == 4096 && named,
	       "at %p, KernelPageSize %ld kB, Size %ld kB, named %d", (void *)p, kps, size, named);
	if (p == (void *)-1) {
		shmctl(id, IPC_RMID, NULL);
		write_num(NR, old);
		return check_done();
	}
	long *w = (long *)p;
	w[0] = 0x7e57;
	w[HP / sizeof(long)] = 0x7e58;
	long free1 = meminfo_kb("HugePages_Free"), rsvd2 = meminfo_kb("HugePages_Rsvd");
	CHECKF("touch_uses_promises", free1 == free0 - 2 && rsvd2 == rsvd0, "Free %ld -> %ld, Rsvd %ld", free0, free1,
	       rsvd2);

	int r = run_child(child_rw, p);
	CHECKF("shared_across_fork", r == 0 && w[1] == 0xc41d, "child %d, the parent sees %#lx", r, w[1]);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(300 * 1000);
		_exit(0);
	}
	long two = nattch(id);
	int st;
	waitpid(pid, &st, 0);
	long one = nattch(id);
	CHECKF("nattch_counts", two == 2 && one == 1, "with the child %ld, after it %ld", two, one);

	struct shm_info info;
	int ir = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
	CHECKF("shm_info_rss", ir >= 0 && info.shm_rss >= 2 * 512 && info.shm_swp == 0, "shm_rss %lu, shm_swp %lu",
	       (unsigned long)info.shm_rss, (unsigned long)info.shm_swp);

	/* A free 2 MiB-aligned place, then 4 KiB past it. */
	char *hole = mmap(NULL, 3 * HP, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *at = (char *)(((unsigned long)hole + HP - 1) & ~(HP - 1)) + 4096;
	munmap(hole, 3 * HP);
	errno = 0;
	void *q = shmat(id, at, 0);
	CHECKF("unaligned_attach_einval", q == (void *)-1 && errno == EINVAL, "at %p: %p errno %d", (void *)at, q,
	       errno);
	if (q != (void *)-1)
		shmdt(q);

	int lr = shmctl(id, SHM_LOCK, NULL);
	int lmode = shmctl(id, IPC_STAT, &ds) == 0 ? (int)ds.shm_perm.mode : -1;
	shmctl(id, SHM_UNLOCK, NULL);
	CHECKF("lock_is_noop", lr == 0 && lmode >= 0 && !(lmode & SHM_LOCKED), "SHM_LOCK %d errno %d, mode %o", lr,
	       errno, lmode);

	/* Two pages of four are in use: three more cannot be promised. */
	errno = 0;
	int big = shmget(IPC_PRIVATE, 3 * HP, SHM_HUGETLB | IPC_CREAT | 0600);
	CHECKF("beyond_pool_enomem", big < 0 && errno == ENOMEM, "id %d errno %d", big, errno);
	if (big >= 0)
		shmctl(big, IPC_RMID, NULL);
	long rsvd3 = meminfo_kb("HugePages_Rsvd");
	int nr = shmget(IPC_PRIVATE, 3 * HP, SHM_HUGETLB | SHM_NORESERVE | IPC_CREAT | 0600);
	char *np = nr < 0 ? (void *)-1 : shmat(nr, NULL, 0);
	long rsvd4 = meminfo_kb("HugePages_Rsvd");
	CHECKF("noreserve_promises_nothing", nr >= 0 && np != (void *)-1 && rsvd4 == rsvd3, "id %d at %p errno %d, Rsvd %ld -> %ld",
	       nr, (void *)np, errno, rsvd3, rsvd4);
	if (np != (void *)-1)
		shmdt(np);
	if (nr >= 0)
		shmctl(nr, IPC_RMID, NULL);
	errno = 0;
	int bad = shmget(IPC_PRIVATE, HP, SHM_HUGETLB | (20 << SHM_HUGE_SHIFT) | IPC_CREAT | 0600);
	CHECKF("bad_size_einval", bad < 0 && errno == EINVAL, "id %d errno %d", bad, errno);
	if (bad >= 0)
		shmctl(bad, IPC_RMID, NULL);

	CHECKF("unprivileged_eperm", run_child(unprivileged, NULL) == 0, "see the child's line");

	int rr = shmctl(id, IPC_RMID, NULL);
	long kept = meminfo_kb("HugePages_Free");
	int still = w[0] == 0x7e57;
	shmdt(p);
	long free2 = meminfo_kb("HugePages_Free"), rsvd5 = meminfo_kb("HugePages_Rsvd");
	CHECKF("rmid_frees", rr == 0 && kept == free0 - 2 && still && free2 == free0 && rsvd5 == rsvd0,
	       "RMID %d; Free while attached %ld, after detach %ld (was %ld), Rsvd %ld (was %ld)", rr, kept, free2, free0,
	       rsvd5, rsvd0);
	write_num(NR, old);
	return check_done();
}
