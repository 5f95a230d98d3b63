/*
 * t_swapout.c: memory past RAM goes to swap and comes back intact (the
 * device named by argv[1], made a swap area with this tree's mkswap).
 *
 * - MADV_PAGEOUT writes a region out at once (VmSwap, pswpout) and every
 *   page reads back with its stamp (VmSwap falls again), also through
 *   process_vm_readv and /proc/self/mem; the pages read back are
 *   refaults of evicted pages (vmstat workingset_refault_anon, Linux
 *   5.9+: the shadow reclaim left in the swap slot).
 * - After fork, parent and child share the swapped pages: the child
 *   reads the parent's data, its writes stay its own.
 * - munmap gives the slots back (/proc/swaps Used falls by the region).
 * - mlock and MADV_POPULATE_READ bring swapped pages back in.
 * - A child touching more anonymous memory than is available is not
 *   OOM-killed: reclaim swaps (kswapd scans too), and every page reads
 *   back with its stamp.
 * - swapoff with pages out reads them all back; the data survives.
 *
 * The pressure case needs a machine whose RAM the test can fill quickly:
 * it is skipped (with the reason) when MemTotal is over 1 GiB, as on a
 * development host; the rest runs there too, on a loop device:
 *   truncate -s 256M /tmp/s.img; losetup -f --show /tmp/s.img; t_swapout /dev/loopN
 * Like t_swap it overwrites the device: there is no default, and an
 * active swap device is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static const char *cases[] = {
	"swapon",	    "pageout_writes_range", "readahead_shows_in_mempic", "pageout_data_back", "pageout_refaults_counted", "process_vm_readv_swapped", "proc_mem_swapped", "fork_child_reads",
	"fork_cow_private", "munmap_frees_slots",   "mlock_brings_back", "populate_brings_back",
	"kswapd0_exists", "past_ram_not_killed", "past_ram_data_intact", "kswapd_reclaimed", "swapoff_brings_back", "swapoff_data_intact",
};

/* Wait for a child; its exit status, or 1000 + signal. */
static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

#define REGION (16 << 20)
#define REGION_KB (REGION >> 10)
/* Pages that may stay in (or come back) on their own: page tables,
 * races with the stamping loop's own stack. */
#define SLACK_KB 256

int main(int argc, char **argv)
{
	check_init("t_swapout");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = swap_device_unusable(dev, 0);
	if (why) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_skip(cases[i], why);
		return check_done();
	}
	CHECKF("swapon", swapon(dev, 0) == 0, "errno %d", errno);

	/* 1. MADV_PAGEOUT and reading back. */
	char *p = anon(REGION);
	stamp_pages(p, REGION, 0x77);
	long out0 = vmstat_get("pswpout"), in0 = vmstat_get("pswpin"), swap0 = status_kb("VmSwap");
	long ws0 = vmstat_get("workingset_refault_anon");
	int r = madvise(p, REGION, MADV_PAGEOUT);
	long swap1 = status_kb("VmSwap"), out1 = vmstat_get("pswpout");
	CHECKF("pageout_writes_range",
	       r == 0 && swap1 - swap0 >= REGION_KB - SLACK_KB && out1 - out0 >= (REGION_KB - SLACK_KB) / 4,
	       "madvise %d errno %d, VmSwap %ld -> %ld kB, pswpout %ld -> %ld", r, errno, swap0, swap1, out0, out1);
	/* One page read back brings its neighbours into the swap cache
	 * (read-ahead, vm.page-cluster); this kernel's memory picture counts
	 * them (Linux has no /proc/mempic). */
	volatile long first = *(volatile long *)p;
	(void)first;
	static char pic[1 << 16];
	if (read_small_file("/proc/mempic", pic, sizeof pic) < 0) {
		check_skip("readahead_shows_in_mempic", "no /proc/mempic (Linux)");
	} else {
		char *c = strstr(pic, " swapcache ");
		long cached = c ? atol(c + strlen(" swapcache ")) : 0;
		CHECKF("readahead_shows_in_mempic", cached > 0, "swapcache %ld pages", cached);
	}
	long bad = bad_stamp(p, REGION, 0x77, 0);
	long swap2 = status_kb("VmSwap"), in1 = vmstat_get("pswpin");
	/* (Linux may still find the pages in the swap cache, without a read.) */
	CHECKF("pageout_data_back", bad == -1 && swap2 <= swap0 + SLACK_KB,
	       "bad page %ld, VmSwap %ld kB, pswpin %ld -> %ld", bad, swap2, in0, in1);
	/* Every page read from a slot reclaim evicted it from is a refault
	 * (read-ahead ones too); pages found still in the swap cache are not
	 * (Linux may find many there). */
	long ws1 = vmstat_get("workingset_refault_anon");
	if (ws0 < 0) {
		check_skip("pageout_refaults_counted", "no workingset_refault_anon in /proc/vmstat (Linux before 5.9)");
	} else {
		CHECKF("pageout_refaults_counted", ws1 - ws0 > 0 && ws1 - ws0 >= (in1 - in0) / 2,
		       "workingset_refault_anon %ld -> %ld, pswpin %ld -> %ld", ws0, ws1, in0, in1);
	}

	/* Another way in: process_vm_readv and /proc/PID/mem read pages on
	 * swap back as the process's own access would. */
	madvise(p, REGION, MADV_PAGEOUT);
	static char copy[1 << 20];
	struct iovec l = { copy, sizeof copy }, rv = { p + (4 << 20), sizeof copy };
	ssize_t got = process_vm_readv(getpid(), &l, 1, &rv, 1, 0);
	CHECKF("process_vm_readv_swapped", got == (ssize_t)sizeof copy && bad_stamp(copy, sizeof copy, 0x77, 1024) == -1,
	       "read %zd errno %d", got, errno);
	int memfd = open("/proc/self/mem", O_RDONLY);
	got = memfd < 0 ? -1 : pread(memfd, copy, sizeof copy, (off_t)(uintptr_t)(p + (8 << 20)));
	CHECKF("proc_mem_swapped", got == (ssize_t)sizeof copy && bad_stamp(copy, sizeof copy, 0x77, 2048) == -1,
	       "read %zd errno %d", got, errno);
	if (memfd >= 0)
		close(memfd);

	/* 2. Fork with the region on swap. */
	madvise(p, REGION, MADV_PAGEOUT);
	pid_t pid = fork();
	if (pid == 0) {
		if (bad_stamp(p, REGION, 0x77, 0) != -1)
			_exit(1);
		stamp_pages(p, REGION, 0x88);
		_exit(bad_stamp(p, REGION, 0x88, 0) == -1 ? 0 : 2);
	}
	int st = reap(pid);
	CHECKF("fork_child_reads", st == 0 || st == 2, "status %d", st);
	CHECKF("fork_cow_private", st == 0 && bad_stamp(p, REGION, 0x77, 0) == -1, "status %d", st);

	/* 3. munmap gives the slots back. */
	madvise(p, REGION, MADV_PAGEOUT);
	long used0 = swap_used(dev);
	munmap(p, REGION);
	long used1 = swap_used(dev);
	CHECKF("munmap_frees_slots", used0 - used1 >= REGION_KB - SLACK_KB, "Used %ld -> %ld kB", used0, used1);

	/* 4. mlock and MADV_POPULATE_READ of swapped pages. */
	p = anon(REGION);
	stamp_pages(p, REGION, 0x99);
	madvise(p, REGION, MADV_PAGEOUT);
	long s0 = status_kb("VmSwap");
	r = mlock(p, REGION / 2);
	long s1 = status_kb("VmSwap");
	CHECKF("mlock_brings_back",
	       r == 0 && s0 - s1 >= REGION_KB / 2 - SLACK_KB && bad_stamp(p, REGION / 2, 0x99, 0) == -1,
	       "mlock %d errno %d, VmSwap %ld -> %ld kB", r, errno, s0, s1);
	munlock(p, REGION / 2);
	r = madvise(p + REGION / 2, REGION / 2, MADV_POPULATE_READ);
	long s2 = status_kb("VmSwap");
	CHECKF("populate_brings_back",
	       r == 0 && s1 - s2 >= REGION_KB / 2 - SLACK_KB &&
		       bad_stamp(p + REGION / 2, REGION / 2, 0x99, REGION / 2 / PAGE) == -1,
	       "madvise %d errno %d, VmSwap %ld -> %ld kB", r, errno, s1, s2);

	/* The background reclaimer is a task named kswapd0 (Linux starts it
	 * at boot; this kernel with the first swap area). */
	int found = 0;
	DIR *d = opendir("/proc");
	for (struct dirent *de; d && !found && (de = readdir(d));) {
		char path[300], comm[32] = { 0 };
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
		if (read_small_file(path, comm, sizeof comm) > 0 && !strcmp(comm, "kswapd0\n"))
			found = 1;
	}
	if (d)
		closedir(d);
	CHECK("kswapd0_exists", found);

	/* 5. More than is available, in a child (the OOM killer would take
	 * it, not us). */
	if (meminfo_kb("MemTotal") > (1L << 20)) {
		const char *big = "more than 1 GiB of RAM: filling it would take too long";
		check_skip("past_ram_not_killed", big);
		check_skip("past_ram_data_intact", big);
		check_skip("kswapd_reclaimed", big);
	} else {
		long avail_kb = meminfo_kb("MemAvailable");
		size_t len = ((size_t)avail_kb * 1024 + REGION) & ~(size_t)(PAGE - 1);
		long o0 = vmstat_get("pswpout"), k0 = vmstat_get("pgscan_kswapd");
		pid = fork();
		if (pid == 0) {
			char *q = anon(len);
			if (!q)
				_exit(2);
			stamp_pages(q, len, 0x5a5a);
			_exit(bad_stamp(q, len, 0x5a5a, 0) == -1 ? 0 : 4);
		}
		st = reap(pid);
		long o1 = vmstat_get("pswpout"), k1 = vmstat_get("pgscan_kswapd");
		CHECKF("past_ram_not_killed", st == 0 || st == 4, "status %d, %zu MiB over %ld kB available, pswpout +%ld",
		       st, len >> 20, avail_kb, o1 - o0);
		CHECKF("past_ram_data_intact", st == 0, "status %d", st);
		/* Allocations under the low watermark woke the background
		 * reclaimer, which scanned too. */
		CHECKF("kswapd_reclaimed", k1 > k0, "pgscan_kswapd %ld -> %ld", k0, k1);
	}

	/* 6. swapoff with pages out. */
	madvise(p, REGION, MADV_PAGEOUT);
	long before_off = status_kb("VmSwap");
	r = swapoff(dev);
	int e = errno;
	/* (Linux leaves pages that were mlocked on its unevictable list a
	 * while: some of the region may stay in.) */
	CHECKF("swapoff_brings_back", r == 0 && before_off > 0 && status_kb("VmSwap") == 0 &&
					      swap_used(dev) == -1,
	       "swapoff %d errno %d, VmSwap was %ld kB", r, e, before_off);
	CHECK("swapoff_data_intact", bad_stamp(p, REGION, 0x99, 0) == -1);
	munmap(p, REGION);
	if (r != 0)
		swapoff(dev);
	return check_done();
}
