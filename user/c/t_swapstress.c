/*
 * t_swapstress.c: swap under stress (issue 15's two missing tests).
 *
 * 1. Three times RAM: a child maps 3 x MemTotal of anonymous memory,
 *    writes it sequentially with a pattern that is a function of each 8-byte
 *    word's index and of the page's generation, re-reads it sequentially,
 *    rewrites a random sample of pages (generation 2), re-reads another
 *    random sample, then re-reads everything once more: every word (so every
 *    byte) must be right. pswpout must have grown by at least the part of
 *    the region that cannot fit in RAM. Random samples are 1/16 of the
 *    pages each, so the I/O stays bounded (about 4 passes over 2 x RAM).
 * 2. A steady allocator: a child touches 1.5 x MemTotal in 128 KiB steps,
 *    sleeping 10 ms after each (at most 12.8 MiB/s, under the ~28 MiB/s a
 *    virtio swap disk takes under TCG), while the parent samples
 *    /proc/zoneinfo (each populated zone's `pages free` against its `min`
 *    and `low`) every 20 ms. Asserted: kswapd did the work (pgsteal_kswapd
 *    and pswpout grew), the child's data is intact, and more than half the
 *    samples have every populated zone at or above `min`. Nothing is timed:
 *    a loaded machine only changes how many samples there are, and the share
 *    at or above `low`, which is printed but not asserted (kswapd may lag
 *    behind a burst; direct reclaim is legitimate then: pgscan_direct and
 *    allocstall_* are printed too).
 * 3. After the last child exits: SwapFree is back to what it was before it
 *    started (exactly on this kernel; Linux may keep a few swap-cache pages,
 *    read ahead while the child exited, holding their slots until reclaimed:
 *    1 MiB there), and MemFree is back within 2% of MemTotal (at least
 *    1 MiB): per-CPU free lists (not in MemFree) and the swap cache of other
 *    pages move a little, a leak of the child's memory would be far more.
 *    The parent mlocks itself (mlockall(MCL_CURRENT), not inherited by
 *    fork) so that its own pages do not move to swap between the readings.
 *
 * The swap area: argv[1] if given (made with this tree's mkswap, like
 * t_swapout; overwritten); otherwise what is already on; otherwise a swap
 * file in /tmp (not on tmpfs, which refuses one with EINVAL), removed at
 * the end; if there is none of these, the cases are skipped with the reason.
 *
 * With over 1 GiB of RAM (a development host) filling it would take too
 * long: case 1 then uses a 32 MiB "RAM" and pushes each part out with
 * MADV_PAGEOUT itself, so the same pattern goes through swap; case 2 is
 * skipped (it needs real pressure).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define TMPFS_MAGIC 0x01021994
#define RAMFS_MAGIC 0x858458f6

static const char *cases[] = {
	"swapon",	  "three_x_ram_written", "sequential_reread_intact", "random_rewrite_reread_intact",
	"final_pass_intact", "steady_kswapd_reclaimed", "steady_data_intact",	    "steady_free_above_min",
	"swapfree_back",	  "memfree_back",	  "swapoff",
};

#define SWAPFILE "/tmp/t_swapstress.swap"
#define HOST_RAM (32UL << 20)
#define STEP (128UL << 10)

static char buf[65536];

/* ---- the pattern --------------------------------------------------------- */

static inline uint64_t pat(uint64_t word, uint64_t gen)
{
	uint64_t x = (word + 1) * 0x9e3779b97f4a7c15ULL ^ gen * 0xd1b54a32d192ed03ULL;
	return x ^ (x >> 29);
}

static void write_page(char *base, size_t pg, unsigned gen)
{
	uint64_t *w = (uint64_t *)(base + pg * PAGE);
	uint64_t w0 = pg * (PAGE / 8);
	for (size_t i = 0; i < PAGE / 8; i++)
		w[i] = pat(w0 + i, gen);
}

/* Whether page PG holds generation GEN; explains the first bad word. */
static int page_ok(const char *base, size_t pg, unsigned gen, const char *stage)
{
	const uint64_t *w = (const uint64_t *)(base + pg * PAGE);
	uint64_t w0 = pg * (PAGE / 8);
	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i] != pat(w0 + i, gen)) {
			child_fail("%s: page %zu word %zu is %#llx, want %#llx (generation %u)", stage, pg, i,
				   (unsigned long long)w[i], (unsigned long long)pat(w0 + i, gen), gen);
			return 0;
		}
	return 1;
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static size_t random_page(size_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (size_t)(rng % n);
}

/* ---- case 1: three times RAM --------------------------------------------- */

struct big_arg {
	size_t len;
	int pageout; /* push each part out with MADV_PAGEOUT (no real pressure) */
};

/* report->val[0..2]: stages passed (1 = written, 2 = sequential reread,
 * 3 = random, 4 = final). */
static int big_child(void *a)
{
	struct big_arg *arg = a;
	size_t n = arg->len / PAGE;
	char *p = anon(arg->len);
	unsigned char *gen = anon((n + PAGE - 1) & ~(PAGE - 1));
	report->val[0] = 0;
	if (!p || !gen)
		return child_fail("mmap of %zu MiB: %s", arg->len >> 20, strerror(errno));
	const size_t chunk = (4UL << 20) / PAGE;
	for (size_t i = 0; i < n; i++) {
		write_page(p, i, 1);
		gen[i] = 1;
		if (arg->pageout && (i + 1) % chunk == 0)
			madvise(p + (i + 1 - chunk) * PAGE, chunk * PAGE, MADV_PAGEOUT);
	}
	if (arg->pageout)
		madvise(p, arg->len, MADV_PAGEOUT);
	report->val[0] = 1;
	for (size_t i = 0; i < n; i++)
		if (!page_ok(p, i, 1, "sequential reread"))
			return 1;
	report->val[0] = 2;
	for (size_t k = 0; k < n / 16; k++) {
		size_t i = random_page(n);
		write_page(p, i, 2);
		gen[i] = 2;
	}
	if (arg->pageout)
		madvise(p, arg->len, MADV_PAGEOUT);
	for (size_t k = 0; k < n / 16; k++) {
		size_t i = random_page(n);
		if (!page_ok(p, i, gen[i], "random reread"))
			return 1;
	}
	report->val[0] = 3;
	if (arg->pageout)
		madvise(p, arg->len, MADV_PAGEOUT);
	for (size_t i = 0; i < n; i++)
		if (!page_ok(p, i, gen[i], "final pass"))
			return 1;
	report->val[0] = 4;
	return 0;
}

/* ---- case 2: the steady allocator ---------------------------------------- */

static int steady_child(void *a)
{
	size_t len = *(size_t *)a;
	char *p = anon(len);
	if (!p)
		return child_fail("mmap of %zu MiB: %s", len >> 20, strerror(errno));
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	for (size_t off = 0; off < len; off += STEP) {
		for (size_t pg = off / PAGE; pg < (off + STEP) / PAGE; pg++)
			write_page(p, pg, 3);
		nanosleep(&pause, NULL);
	}
	for (size_t pg = 0; pg < len / PAGE; pg++)
		if (!page_ok(p, pg, 3, "steady allocator's data"))
			return 1;
	return 0;
}

/* One sample of /proc/zoneinfo: whether every populated zone has
 * free >= min (*ok_min) and free >= low (*ok_low); 0 if unreadable. */
static int sample_zones(int *ok_min, int *ok_low)
{
	if (read_small_file("/proc/zoneinfo", buf, sizeof buf) <= 0)
		return 0;
	*ok_min = *ok_low = 1;
	int zones = 0;
	for (char *z = strstr(buf, "Node "); z; z = strstr(z + 1, "\nNode ")) {
		char *end = strstr(z + 1, "\nNode ");
		char *f = strstr(z, "pages free"), *mn = strstr(z, "\n        min "),
		     *lo = strstr(z, "\n        low "), *mg = strstr(z, "\n        managed ");
		if (!f || !mn || !lo || !mg || (end && (f > end || mn > end || lo > end || mg > end)))
			continue;
		long free = atol(f + strlen("pages free")), min = atol(mn + 13), low = atol(lo + 13),
		     managed = atol(mg + 17);
		if (managed == 0)
			continue;
		zones++;
		if (free < min)
			*ok_min = 0;
		if (free < low)
			*ok_low = 0;
	}
	return zones > 0;
}

/* kswapd0's state letter in /proc/PID/stat (R, S, D...), '?' if none. */
static char kswapd_state(void)
{
	char path[64], comm[32], st[256];
	for (int pid = 2; pid < 64; pid++) {
		snprintf(path, sizeof path, "/proc/%d/comm", pid);
		if (read_small_file(path, comm, sizeof comm) <= 0 || strcmp(comm, "kswapd0\n"))
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		char *r = read_small_file(path, st, sizeof st) > 0 ? strrchr(st, ')') : NULL;
		return r && r[1] ? r[2] : '?';
	}
	return '?';
}

/* ---- the swap area --------------------------------------------------------- */

static const char *swap_src;	/* what swapoff takes at the end, or NULL */
static int swap_is_file;

/* Make a swap file of LEN bytes at SWAPFILE and turn it on; NULL or why not. */
static const char *swapfile_on(size_t len)
{
	struct statfs sf;
	if (statfs("/tmp", &sf) != 0)
		return "no /tmp for a swap file";
	if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
		return "no swap device given, and /tmp is tmpfs (no swap files there)";
	if ((unsigned long)sf.f_bavail * sf.f_bsize < 4 * len)
		return "no room in /tmp for a swap file";
	int fd = open(SWAPFILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return "cannot create the swap file";
	static char zero[1 << 16];
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, zero, sizeof zero);
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	int synced = fsync(fd);
	close(fd);
	if (done < len || synced != 0 || run_mkswap(SWAPFILE) != 0) {
		unlink(SWAPFILE);
		return "cannot write or mkswap the swap file";
	}
	if (swapon(SWAPFILE, 0) != 0) {
		unlink(SWAPFILE);
		return "swapon of a file failed (no swap device given)";
	}
	swap_is_file = 1;
	swap_src = SWAPFILE;
	return NULL;
}

int main(int argc, char **argv)
{
	check_init("t_swapstress");
	report_init();
	long ram_kb = meminfo_kb("MemTotal");
	int pressure = ram_kb > 0 && ram_kb <= (1L << 20);
	size_t ram = pressure ? (size_t)ram_kb << 10 : HOST_RAM;
	size_t big = (3 * ram) & ~(PAGE - 1);

	const char *why = NULL;
	int on_ok = 0, reported = 0;
	if (argc > 1) {
		read_small_file("/proc/swaps", buf, sizeof buf);
		if (strstr(buf, argv[1]))
			why = "the device is swap already";
		else if (run_mkswap(argv[1]) != 0)
			why = "mkswap failed";
		else {
			on_ok = swapon(argv[1], 0) == 0;
			CHECKF("swapon", on_ok, "swapon %s: %s", argv[1], strerror(errno));
			reported = 1;
			swap_src = argv[1];
			if (!on_ok)
				why = "swapon failed";
		}
	} else if (meminfo_kb("SwapTotal") > 0) {
		check_skip("swapon", "swap is on already: using it");
		on_ok = reported = 1;
	} else {
		why = swapfile_on(big + (32UL << 20));
		if (!why)
			CHECK("swapon", 1);
		on_ok = reported = !why;
	}
	if (!why && (size_t)meminfo_kb("SwapFree") << 10 < big - ram / 2)
		why = "not enough free swap for three times RAM";
	if (why) {
		for (size_t i = reported ? 1 : 0; i < sizeof cases / sizeof cases[0] - 1; i++)
			check_skip(cases[i], why);
		if (swap_src) {
			int r = swapoff(swap_src), e = errno;
			CHECKF("swapoff", r == 0, "swapoff %s: %s", swap_src, strerror(e));
		} else
			check_skip("swapoff", why);
		if (swap_is_file)
			unlink(SWAPFILE);
		return check_done();
	}
	/* Our own pages stay in RAM: the baselines below are about the
	 * children's. */
	if (mlockall(MCL_CURRENT) != 0)
		check_note("# mlockall: %s (the baselines may move by our own pages)", strerror(errno));

	/* 1. Three times RAM. */
	struct big_arg barg = { big, !pressure };
	long out0 = vmstat_get("pswpout"), in0 = vmstat_get("pswpin");
	long sf0 = meminfo_kb("SwapFree"), mf0 = meminfo_kb("MemFree");
	if (!pressure)
		check_note("# more than 1 GiB of RAM: a %lu MiB \"RAM\", pushed out with MADV_PAGEOUT", ram >> 20);
	int st = run_child(big_child, &barg);
	long out1 = vmstat_get("pswpout"), in1 = vmstat_get("pswpin");
	long sf1 = meminfo_kb("SwapFree"), mf1 = meminfo_kb("MemFree");
	char d[96];
	describe_status(d, sizeof d, st);
	long stage = report->val[0];
	long need = (long)((big - ram) / PAGE);
	check_note("# %zu MiB region: pswpout +%ld, pswpin +%ld pages; %s", big >> 20, out1 - out0, in1 - in0, d);
	CHECKF("three_x_ram_written", stage >= 1 && out1 - out0 >= need,
	       "%s%s%s; pswpout +%ld pages, want at least %ld", d, report->why[0] ? ": " : "", report->why, out1 - out0,
	       need);
	CHECKF("sequential_reread_intact", stage >= 2, "%s: %s", d, report->why);
	CHECKF("random_rewrite_reread_intact", stage >= 3, "%s: %s", d, report->why);
	CHECKF("final_pass_intact", stage >= 4 && st == 0, "%s: %s", d, report->why);

	/* 2. The steady allocator. */
	if (!pressure) {
		const char *big_ram = "more than 1 GiB of RAM: no real memory pressure here";
		check_skip("steady_kswapd_reclaimed", big_ram);
		check_skip("steady_data_intact", big_ram);
		check_skip("steady_free_above_min", big_ram);
	} else {
		size_t len = (ram + ram / 2) & ~(STEP - 1);
		long ks0 = vmstat_get("pgsteal_kswapd"), sc0 = vmstat_get("pgscan_kswapd"),
		     dir0 = vmstat_get("pgscan_direct"), o0 = vmstat_get("pswpout");
		long stall0 = vmstat_get("allocstall_dma32") + vmstat_get("allocstall_normal") +
			      vmstat_get("allocstall_movable");
		sf0 = meminfo_kb("SwapFree");
		mf0 = meminfo_kb("MemFree");
		check_note("# before the steady allocator: MemFree %ld kB, MemAvailable %ld kB, SwapCached %ld kB, "
			   "AnonPages %ld kB, Shmem %ld kB, SwapFree %ld kB; kswapd0 %c, pgscan_kswapd %ld",
			   mf0, meminfo_kb("MemAvailable"), meminfo_kb("SwapCached"), meminfo_kb("AnonPages"),
			   meminfo_kb("Shmem"), sf0, kswapd_state(), sc0);
		report->why[0] = '\0';
		pid_t pid = fork();
		if (pid == 0)
			_exit(steady_child(&len));
		long samples = 0, ok_min = 0, ok_low = 0;
		struct timespec tick = { 0, 20 * 1000 * 1000 };
		st = -1;
		for (;;) {
			int m, l;
			if (sample_zones(&m, &l)) {
				samples++;
				ok_min += m;
				ok_low += l;
			}
			pid_t r = waitpid(pid, &st, WNOHANG);
			if (r == pid || (r < 0 && errno != EINTR))
				break;
			nanosleep(&tick, NULL);
		}
		long ks1 = vmstat_get("pgsteal_kswapd"), sc1 = vmstat_get("pgscan_kswapd"),
		     dir1 = vmstat_get("pgscan_direct"), o1 = vmstat_get("pswpout");
		long stall1 = vmstat_get("allocstall_dma32") + vmstat_get("allocstall_normal") +
			      vmstat_get("allocstall_movable");
		sf1 = meminfo_kb("SwapFree");
		mf1 = meminfo_kb("MemFree");
		describe_status(d, sizeof d, st);
		if (ks1 == ks0)
			check_note("# after: kswapd0 %c, MemFree %ld kB, AnonPages %ld kB", kswapd_state(), mf1,
				   meminfo_kb("AnonPages"));
		check_note("# steady %zu MiB: %ld samples, %ld with free >= min, %ld >= low; pgscan_kswapd +%ld, "
			   "pgsteal_kswapd +%ld, pgscan_direct +%ld, allocstall +%ld, pswpout +%ld",
			   len >> 20, samples, ok_min, ok_low, sc1 - sc0, ks1 - ks0, dir1 - dir0, stall1 - stall0, o1 - o0);
		CHECKF("steady_kswapd_reclaimed", ks1 > ks0 && o1 > o0, "pgsteal_kswapd %ld -> %ld, pswpout %ld -> %ld",
		       ks0, ks1, o0, o1);
		CHECKF("steady_data_intact", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s%s%s", d,
		       report->why[0] ? ": " : "", report->why);
		CHECKF("steady_free_above_min", samples > 0 && 2 * ok_min > samples,
		       "%ld of %ld samples with every zone's free >= min", ok_min, samples);
	}

	/* 3. Back to the baseline after the last child. */
	long swap_tol = in_mmkernel() ? 0 : 1024;
	long mem_tol = ram_kb / 50 > 1024 ? ram_kb / 50 : 1024;
	if (sf1 < sf0 - swap_tol || mf1 < mf0 - mem_tol) {
		/* Not an assertion: whether what the dead child held comes
		 * back later (slow release) or never (a leak). */
		long anon_now = meminfo_kb("AnonPages");
		sleep(2);
		check_note("# after the child: AnonPages %ld kB, 2 s later %ld kB, SwapFree %ld kB, MemFree %ld kB; kswapd0 %c",
			   anon_now, meminfo_kb("AnonPages"), meminfo_kb("SwapFree"), meminfo_kb("MemFree"),
			   kswapd_state());
	}
	CHECKF("swapfree_back", sf1 >= sf0 - swap_tol, "SwapFree %ld kB before the child, %ld kB after (tolerance %ld)",
	       sf0, sf1, swap_tol);
	CHECKF("memfree_back", mf1 >= mf0 - mem_tol, "MemFree %ld kB before the child, %ld kB after (tolerance %ld)",
	       mf0, mf1, mem_tol);

	munlockall();
	if (swap_src) {
		int r = swapoff(swap_src), e = errno;
		CHECKF("swapoff", r == 0, "swapoff %s: %s", swap_src, strerror(e));
	} else
		check_skip("swapoff", "swap was on before: left on");
	if (swap_is_file)
		unlink(SWAPFILE);
	return check_done();
}
