/*
 * t_shmswap.c: shared memory goes to swap under pressure and comes back
 * intact (Linux's shmem swap), on the device named by argv[1] (made a swap
 * area with this tree's mkswap, as t_swapout).
 *
 * Four kinds of shared memory are filled with stamped pages: a memfd
 * (tmpfs) written with write(2) and also mapped, a System V segment, a
 * System V segment locked with SHM_LOCK, and a shared anonymous mapping.
 * First MADV_PAGEOUT of a shared mapping this process alone maps writes it
 * out at once (smaps Swap:) and it reads back. A child then touches more
 * anonymous memory than is available. After it:
 * - Shmem in /proc/meminfo fell and SHM_INFO counts swapped pages;
 * - the locked segment stayed resident (mincore) and its pages sit on the
 *   Unevictable list;
 * - read(2) of the memfd, its mapping, the segment and the shared mapping
 *   all read back every stamp, and a child's writes to the shared
 *   mapping after the round trip show in the parent;
 * - the memfd's st_blocks counts pages on swap too, and smaps' Swap: those
 *   of the shared mapping;
 * - IPC_RMID of a segment with pages on swap frees their slots (a second
 *   segment, not read back);
 * - after a second round, swapoff reads every page back (Shmem rises to
 *   what is left) and the data survive.
 *
 * Needs a machine whose RAM the test can fill quickly: every case is
 * skipped (with the reason) when MemTotal is over 1 GiB, as on a
 * development host, or without a device. Like t_swap it overwrites the
 * device: there is no default, and an active swap device is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define MIB (1L << 20)
#define MEMFD_LEN (16 * MIB)
#define SEG_LEN (8 * MIB)
#define LOCKED_LEN (4 * MIB)
#define SHARED_LEN (8 * MIB)

static const char *cases[] = {
	"swapon", "pageout_shared", "pageout_shared_back", "pressure_survived", "shmem_fell",	    "shm_info_swapped",	     "locked_resident",
	"locked_unevictable", "memfd_read_back",   "memfd_mapping_back",    "sysv_back",	     "shared_anon_back",
	"shared_after_swap",  "smaps_swap", "st_blocks_counts_swapped", "rmid_frees_slots", "swapoff_brings_back", "swapoff_data_intact",
};

/* The Swap: kB of the smaps entry of the mapping at P, -1 if not found. */
static long smaps_swap_kb(void *p)
{
	static char sm[1 << 18];
	char head[32];
	if (read_small_file("/proc/self/smaps", sm, sizeof sm) < 0)
		return -1;
	snprintf(head, sizeof head, "%lx-", (unsigned long)p);
	char *e = strstr(sm, head);
	char *sw = e ? strstr(e, "\nSwap:") : NULL;
	return sw ? atol(sw + strlen("\nSwap:")) : -1;
}

/* A child touches MemAvailable + 32 MiB of anonymous memory, 4 MiB at a
 * time, then exits; returns whether it exited normally. */
static int pressure(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		size_t fill = (size_t)meminfo_kb("MemAvailable") * 1024 + 32 * MIB;
		for (size_t done = 0; done < fill; done += 4 * MIB) {
			char *c = anon(4 * MIB);
			if (!c)
				_exit(3);
			stamp_pages(c, 4 * MIB, 0xf111);
		}
		_exit(0);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Swapped pages of every segment (SHM_INFO), -1 on error. */
static long shm_swapped(void)
{
	struct shm_info info;
	if (shmctl(0, SHM_INFO, (struct shmid_ds *)&info) < 0)
		return -1;
	return (long)info.shm_swp;
}

/* First bad stamp of the memfd read with read(2), -1 if none, -2 on a
 * failed read. */
static long memfd_bad(int fd, long tag)
{
	static char chunk[1 << 20];
	for (off_t off = 0; off < MEMFD_LEN; off += sizeof chunk) {
		if (pread(fd, chunk, sizeof chunk, off) != (ssize_t)sizeof chunk)
			return -2;
		long bad = bad_stamp(chunk, sizeof chunk, tag, off / PAGE);
		if (bad != -1)
			return off / PAGE + bad;
	}
	return -1;
}

/* A child writes a new stamp to the shared mapping. */
static int restamp(void *p)
{
	stamp_pages(p, SHARED_LEN, 0x5a5b);
	return 0;
}

int main(int argc, char **argv)
{
	check_init("t_shmswap");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = swap_device_unusable(dev, 1);
	if (why) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_skip(cases[i], why);
		return check_done();
	}
	CHECKF("swapon", swapon(dev, 0) == 0, "errno %d", errno);

	/* MADV_PAGEOUT of a shared mapping only this process maps: out at
	 * once (smaps Swap:), and back with its data. */
	char *po = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (po != MAP_FAILED) {
		stamp_pages(po, 4 * MIB, 0x9090);
		int pr = madvise(po, 4 * MIB, MADV_PAGEOUT);
		long pkb = smaps_swap_kb(po);
		CHECKF("pageout_shared", pr == 0 && pkb >= 4096 * 7 / 8, "madvise %d errno %d, Swap: %ld kB", pr, errno, pkb);
		long pbad = bad_stamp(po, 4 * MIB, 0x9090, 0);
		CHECKF("pageout_shared_back", pbad == -1, "first bad page %ld", pbad);
		munmap(po, 4 * MIB);
	}

	/* The four kinds of shared memory, stamped. */
	int fd = memfd_create("shmswap", 0);
	static char chunk[1 << 20];
	for (off_t off = 0; fd >= 0 && off < MEMFD_LEN; off += sizeof chunk) {
		stamp_pages(chunk, sizeof chunk, 0x3e3f);
		for (size_t i = 0; i < sizeof chunk / PAGE; i++) {
			long *w = (long *)(chunk + i * PAGE);
			w[1] = off / PAGE + (long)i;
			w[PAGE / sizeof(long) - 1] = 0x3e3f ^ w[1];
		}
		if (pwrite(fd, chunk, sizeof chunk, off) != (ssize_t)sizeof chunk)
			return check_done();
	}
	char *fm = fd < 0 ? MAP_FAILED : mmap(NULL, MEMFD_LEN, PROT_READ, MAP_SHARED, fd, 0);
	/* Segment A is read back, segment B removed while on swap. */
	int seg = shmget(IPC_PRIVATE, SEG_LEN, IPC_CREAT | 0600);
	int segb = shmget(IPC_PRIVATE, SEG_LEN, IPC_CREAT | 0600);
	int lseg = shmget(IPC_PRIVATE, LOCKED_LEN, IPC_CREAT | 0600);
	char *sp = seg < 0 ? (void *)-1 : shmat(seg, NULL, 0);
	char *sb = segb < 0 ? (void *)-1 : shmat(segb, NULL, 0);
	char *lp = lseg < 0 ? (void *)-1 : shmat(lseg, NULL, 0);
	char *shared = mmap(NULL, SHARED_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fm == MAP_FAILED || sp == (void *)-1 || sb == (void *)-1 || lp == (void *)-1 || shared == MAP_FAILED) {
		printf("# setup failed: errno %d\n", errno);
		return check_done();
	}
	stamp_pages(sp, SEG_LEN, 0x5e65);
	stamp_pages(sb, SEG_LEN, 0x5e66);
	stamp_pages(lp, LOCKED_LEN, 0x10c4);
	stamp_pages(shared, SHARED_LEN, 0x5a5a);
	int lr = shmctl(lseg, SHM_LOCK, NULL);
	struct stat st0;
	fstat(fd, &st0);
	long shmem0 = meminfo_kb("Shmem"), unev0 = meminfo_kb("Unevictable");

	/* 1. Pressure. */
	int ok = pressure();
	long shmem1 = meminfo_kb("Shmem"), unev1 = meminfo_kb("Unevictable"), swp = shm_swapped();
	printf("# Shmem %ld -> %ld kB, Unevictable %ld -> %ld kB, shm_swp %ld pages\n", shmem0, shmem1, unev0, unev1,
	       swp);
	CHECKF("pressure_survived", ok, "the pressing child did not exit cleanly");
	CHECKF("shmem_fell", shmem0 - shmem1 >= 8 * 1024, "Shmem %ld -> %ld kB", shmem0, shmem1);
	CHECKF("shm_info_swapped", swp > 0, "shm_swp %ld", swp);
	/* Which shared pages reclaim chose depends on the order it met them:
	 * when it left the shared mapping whole, half of it is paged out so
	 * that smaps has swapped pages to show. */
	long smaps_kb = smaps_swap_kb(shared), shared_res = resident(shared, SHARED_LEN);
	if (smaps_kb == 0 && shared_res == SHARED_LEN / PAGE) {
		/* Reclaim may have unmapped pages it then kept (another CPU
		 * held the object): reading them maps them again, and
		 * MADV_PAGEOUT only acts on mapped pages. */
		printf("# the shared mapping stayed resident under pressure: paging out half of it\n");
		bad_stamp(shared, SHARED_LEN / 2, 0x5a5a, 0);
		madvise(shared, SHARED_LEN / 2, MADV_PAGEOUT);
		smaps_kb = smaps_swap_kb(shared);
		shared_res = resident(shared, SHARED_LEN);
	}
	CHECKF("smaps_swap", smaps_kb > 0 && smaps_kb + shared_res * 4 >= SHARED_LEN / 1024,
	       "Swap: %ld kB, %ld of %ld pages resident", smaps_kb, shared_res, SHARED_LEN / PAGE);
	long lres = resident(lp, LOCKED_LEN);
	CHECKF("locked_resident", lr == 0 && lres == LOCKED_LEN / PAGE, "SHM_LOCK %d, %ld of %ld pages resident", lr,
	       lres, LOCKED_LEN / PAGE);
	CHECKF("locked_unevictable", unev1 - unev0 >= LOCKED_LEN / 1024 / 2, "Unevictable %ld -> %ld kB", unev0, unev1);

	/* 2. Everything reads back. */
	struct stat st1;
	fstat(fd, &st1);
	CHECKF("st_blocks_counts_swapped", st1.st_blocks == st0.st_blocks && st0.st_blocks == MEMFD_LEN / 512,
	       "st_blocks %ld -> %ld", (long)st0.st_blocks, (long)st1.st_blocks);
	long bad = memfd_bad(fd, 0x3e3f);
	CHECKF("memfd_read_back", bad == -1, "first bad page %ld", bad);
	bad = bad_stamp(fm, MEMFD_LEN, 0x3e3f, 0);
	CHECKF("memfd_mapping_back", bad == -1, "first bad page %ld", bad);
	bad = bad_stamp(sp, SEG_LEN, 0x5e65, 0);
	long bad2 = bad_stamp(lp, LOCKED_LEN, 0x10c4, 0);
	CHECKF("sysv_back", bad == -1 && bad2 == -1, "first bad page: segment %ld, locked segment %ld", bad, bad2);
	bad = bad_stamp(shared, SHARED_LEN, 0x5a5a, 0);
	CHECKF("shared_anon_back", bad == -1, "first bad page %ld", bad);
	int r = run_child(restamp, shared);
	bad = bad_stamp(shared, SHARED_LEN, 0x5a5b, 0);
	CHECKF("shared_after_swap", r == 0 && bad == -1, "child %d, first page without its stamp %ld", r, bad);

	/* 3. Segment B's slots go with it (the only segment pages left on
	 * swap now). */
	swp = shm_swapped();
	if (swp == 0) {
		/* Reclaim chose other pages than segment B's: send them. */
		printf("# segment B stayed resident under pressure: paging it out\n");
		bad_stamp(sb, SEG_LEN, 0x5e66, 0);
		madvise(sb, SEG_LEN, MADV_PAGEOUT);
		swp = shm_swapped();
	}
	long used0 = swap_used(dev);
	shmdt(sb);
	shmctl(segb, IPC_RMID, NULL);
	long used1 = swap_used(dev);
	printf("# segment removed with %ld pages on swap: swap used %ld -> %ld kB\n", swp, used0, used1);
	CHECKF("rmid_frees_slots", swp > 0 && used0 - used1 >= swp * 4 - 64, "shm_swp %ld, swap used %ld -> %ld kB",
	       swp, used0, used1);

	/* 4. Again, then swapoff brings every page back. */
	ok = pressure();
	long shmem2 = meminfo_kb("Shmem");
	r = swapoff(dev);
	long shmem3 = meminfo_kb("Shmem");
	long want = (MEMFD_LEN + SEG_LEN + LOCKED_LEN + SHARED_LEN) / 1024;
	CHECKF("swapoff_brings_back", ok && r == 0 && shmem3 >= want && swap_used(dev) == -1,
	       "pressure %d, swapoff %d errno %d, Shmem %ld -> %ld kB (want %ld)", ok, r, errno, shmem2, shmem3, want);
	bad = memfd_bad(fd, 0x3e3f);
	bad2 = bad_stamp(shared, SHARED_LEN, 0x5a5b, 0);
	CHECKF("swapoff_data_intact", bad == -1 && bad2 == -1, "first bad page: memfd %ld, shared %ld", bad, bad2);
	shmdt(sp);
	shmdt(lp);
	shmctl(seg, IPC_RMID, NULL);
	shmctl(lseg, IPC_RMID, NULL);
	return check_done();
}
