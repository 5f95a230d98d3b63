/*
 * b_swap.c: swap benchmarks, the same static binary as init of this kernel
 * and of Linux in QEMU (scripts/bench-swap.sh); not a test (not in
 * tests.txt). It makes DEVICE a swap area with this tree's mkswap (the one
 * next to it in its bin directory) and swaps on it, then prints
 *
 *   bench NAME VALUE N
 *
 * as b_mm does, but VALUE is in the unit NAME ends with (not ns/op):
 *
 *   swapout_mibs        MADV_PAGEOUT of a stamped 32 MiB region, MiB/s;
 *                       the time runs from the call until the writes are
 *                       done: Linux only submits them in the call (its
 *                       pswpout counts submissions), so the clock stops
 *                       when /proc/meminfo's Writeback is back to 0 and
 *                       VmSwap covers the region. N: pages.
 *   touch_2x_ram_ms     a child stamps MemTotal * 2 of anonymous memory,
 *                       page by page, then checks every stamp: wall time
 *                       from fork to its exit, ms. N: pages. Skipped
 *                       when MemTotal is over 1 GiB (a host).
 *   touch_2x_ram_pswpout, touch_2x_ram_pswpin
 *                       /proc/vmstat deltas over that run, pages.
 *   swapin_mibs         reading the region back after the 2x-RAM child
 *                       (which pushed it, and any swap cache of it, out):
 *                       one word of every page, in address order, MiB/s.
 *   swapin_pswpin       pages read from the device meanwhile (Linux's
 *                       readahead counts what it read ahead too).
 *   swapin_random_mibs  the same after a second MADV_PAGEOUT (the pages
 *                       are clean in the swap cache then: dropped, not
 *                       written), pages in a random order, MiB/s.
 *   swapin_random_pswpin
 *
 * Every page read back is checked against its stamp; a wrong page ends the
 * run with exit status 1 and no further lines.
 *
 * Usage: b_swap [-m MODULE.ko]... [DEVICE]
 *
 * DEVICE is overwritten. Without it, /dev/vda, but only when running as
 * init (pid 1, inside a virtual machine); an active swap device is
 * refused. -m loads a kernel module first (finit_module), in the order
 * given: Debian's kernel has virtio-blk as modules. When /proc or DEVICE is
 * missing, proc is mounted on /proc and devtmpfs on /dev (a bare Linux
 * initramfs has neither; this kernel has both and mounts nothing).
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <time.h>
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)
#define REGION (32 * MiB)
#define TAG 0x5157
#define BIG_TAG 0x2b16

static char buf[16384];

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double mibs(size_t bytes, long long ns)
{
	return ns > 0 ? (double)bytes / MiB / ((double)ns / 1e9) : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int die(const char *what)
{
	check_note("# b_swap: %s: %s", what, strerror(errno));
	return 1;
}

static int load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long r = syscall(SYS_finit_module, fd, "", 0);
	int e = errno;
	close(fd);
	errno = e;
	return r == 0 || e == EEXIST ? 0 : -1;
}

/* Until Writeback is 0 and VmSwap has grown by WANT_KB (30 s at most). */
static void wait_written(long swap0_kb, long want_kb)
{
	for (int i = 0; i < 30000; i++) {
		long wb = meminfo_kb("Writeback");
		if (wb <= 0 && status_kb("VmSwap") - swap0_kb >= want_kb)
			return;
		sleep_ms(1);
	}
	check_note("# b_swap: writeback did not finish in 30 s");
}

static unsigned long rng = 88172645463325252UL;

static unsigned long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Page I of the region: one read of its stamp. */
static int page_ok(const char *p, size_t i)
{
	const long *w = (const long *)(p + i * PAGE);
	return w[0] == TAG && w[1] == (long)i;
}

static int touch_big(size_t len)
{
	char *q = anon(len);
	if (!q)
		return 2;
	stamp_pages(q, len, BIG_TAG);
	return bad_stamp(q, len, BIG_TAG, 0) == -1 ? 0 : 3;
}

int main(int argc, char **argv)
{
	check_init("b_swap");
	int i = 1;
	for (; i + 1 < argc && !strcmp(argv[i], "-m"); i += 2)
		if (load_module(argv[i + 1]) < 0)
			return die(argv[i + 1]);
	const char *dev = i < argc ? argv[i] : getpid() == 1 ? "/dev/vda" : NULL;
	if (!dev) {
		check_note("# b_swap: usage: b_swap [-m MODULE.ko]... DEVICE (DEVICE is overwritten)");
		return 2;
	}
	struct stat sb;
	if (stat("/proc/self/status", &sb) < 0) {
		mkdir("/proc", 0555);
		if (mount("proc", "/proc", "proc", 0, NULL) < 0)
			return die("mount /proc");
	}
	if (stat(dev, &sb) < 0) {
		mkdir("/dev", 0755);
		if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0)
			return die("mount /dev");
		/* (A disk found by a module just loaded may take a moment.) */
		for (int t = 0; t < 5000 && stat(dev, &sb) < 0; t++)
			sleep_ms(1);
	}
	read_small_file("/proc/swaps", buf, sizeof buf);
	if (strstr(buf, dev)) {
		check_note("# b_swap: %s is swap already", dev);
		return 2;
	}
	if (run_mkswap(dev) < 0)
		return die("mkswap");
	if (swapon(dev, 0) < 0)
		return die("swapon");
	long total_kb = meminfo_kb("MemTotal");
	check_note("# b_swap: %s, MemTotal %ld kB", dev, total_kb);

	/* Swap-out. */
	char *p = anon(REGION);
	if (!p)
		return die("mmap");
	stamp_pages(p, REGION, TAG);
	long swap0 = status_kb("VmSwap");
	long long t0 = now_ns();
	if (madvise(p, REGION, MADV_PAGEOUT) < 0)
		return die("MADV_PAGEOUT");
	long long t_call = now_ns() - t0;
	wait_written(swap0, (long)(REGION >> 10) - 256);
	long long t_out = now_ns() - t0;
	check_note("# b_swap: MADV_PAGEOUT returned after %lld ms, written after %lld ms", t_call / 1000000,
		   t_out / 1000000);
	check_note("bench swapout_mibs %.1f %lu", mibs(REGION, t_out), REGION / PAGE);

	/* 2x RAM in a child (not on a machine with more than 1 GiB, such as
	 * a development host: the region is pushed out with MADV_PAGEOUT
	 * again instead). */
	size_t big = ((size_t)total_kb * 2048) & ~(size_t)(PAGE - 1);
	long out0 = vmstat_get("pswpout"), in0 = vmstat_get("pswpin");
	int st = 0;
	long long t_big = 0;
	if (total_kb > (1L << 20)) {
		check_note("# b_swap: MemTotal over 1 GiB: no touch_2x_ram");
		st = -1;
	} else {
		t0 = now_ns();
		pid_t pid = fork();
		if (pid == 0)
			_exit(touch_big(big));
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return die("fork/wait");
		t_big = now_ns() - t0;
	}
	if (st == -1) {
		/* (The region is still out from the first MADV_PAGEOUT;
		 * Linux may find it in its swap cache.) */
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		check_note("# bench touch_2x_ram_ms failed: child %s %d",
			   WIFEXITED(st) ? "exited" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	} else {
		check_note("bench touch_2x_ram_ms %.1f %zu", (double)t_big / 1e6, big / PAGE);
		check_note("bench touch_2x_ram_pswpout %ld %zu", vmstat_get("pswpout") - out0, big / PAGE);
		check_note("bench touch_2x_ram_pswpin %ld %zu", vmstat_get("pswpin") - in0, big / PAGE);
	}

	/* Swap-in in address order. */
	size_t n = REGION / PAGE;
	in0 = vmstat_get("pswpin");
	t0 = now_ns();
	for (size_t k = 0; k < n; k++)
		if (!page_ok(p, k)) {
			check_note("# b_swap: page %zu of the region lost its stamp", k);
			return 1;
		}
	long long t_in = now_ns() - t0;
	check_note("bench swapin_mibs %.1f %zu", mibs(REGION, t_in), n);
	check_note("bench swapin_pswpin %ld %zu", vmstat_get("pswpin") - in0, n);

	/* Swap-in in a random order. */
	size_t *order = anon(n * sizeof *order);
	if (!order)
		return die("mmap");
	for (size_t k = 0; k < n; k++)
		order[k] = k;
	for (size_t k = n - 1; k > 0; k--) {
		size_t j = next_rand() % (k + 1), x = order[k];
		order[k] = order[j];
		order[j] = x;
	}
	swap0 = status_kb("VmSwap");
	if (madvise(p, REGION, MADV_PAGEOUT) < 0)
		return die("MADV_PAGEOUT");
	wait_written(swap0, (long)(REGION >> 10) - 256);
	in0 = vmstat_get("pswpin");
	t0 = now_ns();
	for (size_t k = 0; k < n; k++)
		if (!page_ok(p, order[k])) {
			check_note("# b_swap: page %zu of the region lost its stamp", order[k]);
			return 1;
		}
	t_in = now_ns() - t0;
	check_note("bench swapin_random_mibs %.1f %zu", mibs(REGION, t_in), n);
	check_note("bench swapin_random_pswpin %ld %zu", vmstat_get("pswpin") - in0, n);
	if (bad_stamp(p, REGION, TAG, 0) != -1) {
		check_note("# b_swap: the region's last words are wrong");
		return 1;
	}
	swapoff(dev);
	check_note("# b_swap: done");
	return 0;
}
