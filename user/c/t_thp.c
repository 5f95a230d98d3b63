/*
 * t_thp.c: transparent huge pages for anonymous memory as Linux offers
 * them (Documentation/admin-guide/mm/transhuge.rst):
 * - sysfs_files: /sys/kernel/mm/transparent_hugepage/enabled and defrag
 *   list their words with exactly one in brackets; hpage_pmd_size is
 *   2097152; bad_word_einval: "sometimes" written to enabled is EINVAL;
 * - in madvise mode (set for the test, restored after), 4 MiB of private
 *   anonymous memory marked MADV_HUGEPAGE and touched is mapped by huge
 *   pages: smaps AnonHugePages 4096 kB and THPeligible 1
 *   (madvise_area_huge), meminfo AnonHugePages and vmstat thp_fault_alloc
 *   grow (counters_grow); memory not marked gets none (unmarked_area_small);
 * - munmap of one 4 KiB page splits its huge page: thp_split_pmd grows,
 *   AnonHugePages drops to 2048 kB, every other word is kept
 *   (cut_splits_keeps_data);
 * - mprotect(PROT_READ) of one 4 KiB page: writes there SIGSEGV, reads and
 *   the neighbours' writes work (mprotect_one_page);
 * - after fork a child's writes stay its own (fork_copy_on_write);
 * - fork shares the huge pages whole: the child's smaps shows the area's
 *   AnonHugePages 4096 kB before it writes (fork_shares_whole); a child's
 *   write is not seen by the parent, whose data are intact and whose
 *   AnonHugePages stays 4096 kB while the child lives and after
 *   (fork_child_write_private);
 * - mremap of a huge-page area to a 2 MiB aligned place moves its huge
 *   pages whole: AnonHugePages 4096 kB there, every word kept
 *   (mremap_moves_whole);
 * - prctl(PR_SET_THP_DISABLE, 1): PR_GET_THP_DISABLE says 1, in a fork
 *   child too, and a new marked area gets no huge page, THPeligible 0
 *   (prctl_disable);
 * - MADV_COLLAPSE makes huge pages of a populated unmarked area, every
 *   word kept (madv_collapse; skipped where the kernel does not know it);
 * - khugepaged, its scan made quick (scan_sleep_millisecs 100, restored
 *   after), collapses an area marked MADV_HUGEPAGE after it was filled
 *   with 4 KiB pages, within 10 s (khugepaged_collapses; skipped without
 *   a khugepaged thread);
 * - reads of a marked area map the huge zero page: nothing in Rss or
 *   AnonHugePages, vmstat thp_zero_page_alloc at least 1; a write then
 *   takes a huge page of its own (Linux 6.x), the rest reads zero
 *   (huge_zero_page);
 * - in never mode a marked area gets none (never_mode).
 * Setting the mode needs root; without it the cases that need a mode are
 * skipped with the reason. A host that cannot find 2 MiB blocks skips the
 * cases that count huge pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#define PR_GET_THP_DISABLE 42
#endif

#define HP (2UL << 20)
#define THP "/sys/kernel/mm/transparent_hugepage/"

static long read_text(const char *path, char *buf, size_t len)
{
	return read_small_file(path, buf, len);
}

/* The bracketed word of a mode file into OUT; 0 if there is exactly one. */
static int chosen(const char *path, char *out, size_t len)
{
	char buf[128];
	if (read_text(path, buf, sizeof buf) < 0)
		return -1;
	char *l = strchr(buf, '['), *r = l ? strchr(l, ']') : NULL;
	if (!l || !r || strchr(r, '[') || (size_t)(r - l - 1) >= len)
		return -1;
	memcpy(out, l + 1, (size_t)(r - l - 1));
	out[r - l - 1] = '\0';
	return 0;
}

/* LEN bytes of private anonymous memory at a 2 MiB boundary (the area
 * is exactly [p, p + len): the rest of the larger mapping is unmapped). */
static char *aligned_area(size_t len)
{
	char *raw = mmap(NULL, len + HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	char *p = (char *)(((uintptr_t)raw + HP - 1) & ~(HP - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (p + len < raw + len + HP)
		munmap(p + len, (size_t)(raw + len + HP - (p + len)));
	return p;
}

static void fill(char *p, size_t len, long tag)
{
	for (size_t off = 0; off < len; off += 4096)
		*(long *)(p + off) = (long)off ^ tag;
}

static long bad_word(char *p, size_t len, long tag, size_t skip)
{
	for (size_t off = 0; off < len; off += 4096)
		if (off != skip && *(long *)(p + off) != ((long)off ^ tag))
			return (long)(off / 4096);
	return -1;
}

static int child_writes(void *arg)
{
	char *p = arg;
	fill(p, 2 * HP, 0x3c3c);
	return bad_word(p, 2 * HP, 0x3c3c, (size_t)-1) == -1 ? 0 : child_fail("the child's own writes did not stick");
}

static int child_thp_disabled(void *arg)
{
	(void)arg;
	long v = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	return v == 1 ? 0 : child_fail("PR_GET_THP_DISABLE %ld in the child", v);
}

/* The cases that need a free 2 MiB block come first (NEED_BLOCK of them). */
static const char *mode_cases[] = {
	"madvise_area_huge", "counters_grow",	   "unmarked_area_small",      "cut_splits_keeps_data",
	"mprotect_one_page", "fork_copy_on_write", "fork_shares_whole",	       "fork_child_write_private",
	"mremap_moves_whole", "prctl_disable",	   "madv_collapse",	       "khugepaged_collapses",
	"huge_zero_page",    "never_mode",
};
#define NEED_BLOCK 9

/* fork_shares_whole and fork_child_write_private: the child reports its
 * view through a pipe and stays alive until the parent has looked. */
static void fork_cases(void)
{
	char *f = aligned_area(2 * HP);
	int up[2], down[2];
	if (!f || pipe(up) != 0 || pipe(down) != 0) {
		CHECKF("fork_shares_whole", 0, "mmap or pipe errno %d", errno);
		CHECKF("fork_child_write_private", 0, "mmap or pipe errno %d", errno);
		return;
	}
	madvise(f, 2 * HP, MADV_HUGEPAGE);
	fill(f, 2 * HP, 0x1357);
	long ph0 = smaps_field(f, "AnonHugePages");
	pid_t pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		long msg[3];
		msg[0] = smaps_field(f, "AnonHugePages");
		*(long *)(f + HP + 4096) = 0x4242;
		msg[1] = smaps_field(f, "AnonHugePages");
		msg[2] = *(long *)(f + HP + 4096) == 0x4242 && bad_word(f, 2 * HP, 0x1357, HP + 4096) == -1;
		if (write(up[1], msg, sizeof msg) != sizeof msg)
			_exit(1);
		char c;
		while (read(down[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	long msg[3] = {-1, -1, 0};
	ssize_t n = pid > 0 ? read(up[0], msg, sizeof msg) : -1;
	long ph1 = smaps_field(f, "AnonHugePages");
	long pbad = bad_word(f, 2 * HP, 0x1357, (size_t)-1);
	close(down[1]);
	close(up[0]);
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	long ph2 = smaps_field(f, "AnonHugePages");
	CHECKF("fork_shares_whole", n == sizeof msg && ph0 == 4096 && msg[0] == 4096,
	       "parent's AnonHugePages %ld kB, the child's before it wrote %ld kB", ph0, msg[0]);
	CHECKF("fork_child_write_private",
	       n == sizeof msg && msg[2] == 1 && pbad == -1 && ph1 == 4096 && ph2 == 4096 && WIFEXITED(st) &&
		       WEXITSTATUS(st) == 0,
	       "child sees its write and its data: %ld (its AnonHugePages then %ld kB); parent's first bad page %ld, "
	       "its AnonHugePages %ld kB with the child alive, %ld kB after; child status %#x",
	       msg[2], msg[1], pbad, ph1, ph2, st);
	munmap(f, 2 * HP);
}

/* mremap_moves_whole: 4 MiB of huge pages to another 2 MiB boundary. */
static void mremap_case(void)
{
	char *m = aligned_area(2 * HP), *dst = aligned_area(2 * HP);
	if (!m || !dst) {
		CHECKF("mremap_moves_whole", 0, "mmap errno %d", errno);
		return;
	}
	madvise(m, 2 * HP, MADV_HUGEPAGE);
	fill(m, 2 * HP, 0x2222);
	long before = smaps_field(m, "AnonHugePages");
	char *r = mremap(m, 2 * HP, 2 * HP, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	long after = r == dst ? smaps_field(dst, "AnonHugePages") : -1;
	long bad = r == dst ? bad_word(dst, 2 * HP, 0x2222, (size_t)-1) : -2;
	CHECKF("mremap_moves_whole", r == dst && before == 4096 && after == 4096 && bad == -1,
	       "mremap %p (want %p), AnonHugePages %ld -> %ld kB, first bad page %ld", (void *)r, (void *)dst, before,
	       after, bad);
	munmap(r == dst ? dst : m, 2 * HP);
	if (r != dst)
		munmap(dst, 2 * HP);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* Whether a task named khugepaged exists (/proc/PID/comm). */
static int have_khugepaged(void)
{
	char path[64], comm[32];
	for (int pid = 1; pid < 4096; pid++) {
		snprintf(path, sizeof path, "/proc/%d/comm", pid);
		if (read_small_file(path, comm, sizeof comm) > 0 && strncmp(comm, "khugepaged", 10) == 0)
			return 1;
	}
	return 0;
}

int main(void)
{
	check_init("t_thp");
	report_init();
	char en[32] = "", df[32] = "", sz[32] = "";
	int e1 = chosen(THP "enabled", en, sizeof en), e2 = chosen(THP "defrag", df, sizeof df);
	long pmd = read_text(THP "hpage_pmd_size", sz, sizeof sz) < 0 ? -1 : atol(sz);
	if (e1 < 0 && pmd < 0) {
		check_skip("sysfs_files", "no /sys/kernel/mm/transparent_hugepage");
		check_skip("bad_word_einval", "no /sys/kernel/mm/transparent_hugepage");
		for (size_t i = 0; i < sizeof mode_cases / sizeof *mode_cases; i++)
			check_skip(mode_cases[i], "no /sys/kernel/mm/transparent_hugepage");
		return check_done();
	}
	CHECKF("sysfs_files", e1 == 0 && e2 == 0 && pmd == 2097152, "enabled [%s], defrag [%s], hpage_pmd_size %ld", en,
	       df, pmd);
	const char *why = NULL;
	if (geteuid() != 0)
		why = "not root: the mode cannot be set";
	else if (write_text(THP "enabled", "madvise\n") != 0)
		why = "the mode cannot be set here";
	if (why) {
		check_skip("bad_word_einval", why);
		for (size_t i = 0; i < sizeof mode_cases / sizeof *mode_cases; i++)
			check_skip(mode_cases[i], why);
		return check_done();
	}
	CHECKF("bad_word_einval", write_text(THP "enabled", "sometimes\n") == EINVAL, "write of a bad word");

	char *p = aligned_area(2 * HP);
	char *q = aligned_area(2 * HP);
	if (!p || !q) {
		printf("# mmap failed: errno %d\n", errno);
		return check_done();
	}
	long anon0 = meminfo_kb("AnonHugePages"), alloc0 = vmstat_get("thp_fault_alloc");
	madvise(p, 2 * HP, MADV_HUGEPAGE);
	fill(p, 2 * HP, 0x5a5a);
	fill(q, 2 * HP, 0x5a5a);
	long huge = smaps_field(p, "AnonHugePages"), elig = smaps_field(p, "THPeligible");
	long anon1 = meminfo_kb("AnonHugePages"), alloc1 = vmstat_get("thp_fault_alloc");
	int got = huge == 4096;
	if (!got && huge == 0 && vmstat_get("thp_fault_fallback") > 0) {
		/* A host whose memory is too fragmented right now. */
		for (size_t i = 0; i < NEED_BLOCK; i++)
			check_skip(mode_cases[i], "no free 2 MiB block (thp_fault_fallback)");
	} else {
		CHECKF("madvise_area_huge", got && elig == 1, "AnonHugePages %ld kB, THPeligible %ld", huge, elig);
		CHECKF("counters_grow", anon1 - anon0 >= 4096 && alloc1 - alloc0 >= 2,
		       "AnonHugePages %ld -> %ld kB, thp_fault_alloc %ld -> %ld", anon0, anon1, alloc0, alloc1);
		long qh = smaps_field(q, "AnonHugePages");
		CHECKF("unmarked_area_small", qh == 0, "AnonHugePages %ld kB", qh);

		long split0 = vmstat_get("thp_split_pmd");
		int mu = munmap(p + 8 * 4096, 4096);
		long split1 = vmstat_get("thp_split_pmd");
		long huge2 = smaps_field(p, "AnonHugePages");
		/* The area after the hole starts at p + 9 pages. */
		long bad = bad_word(p, 8 * 4096, 0x5a5a, (size_t)-1);
		long bad2 = -1;
		for (size_t off = 9 * 4096; off < 2 * HP; off += 4096)
			if (*(long *)(p + off) != ((long)off ^ 0x5a5a)) {
				bad2 = (long)(off / 4096);
				break;
			}
		CHECKF("cut_splits_keeps_data", mu == 0 && split1 > split0 && huge2 == 0 && bad == -1 && bad2 == -1,
		       "munmap %d, thp_split_pmd %ld -> %ld, AnonHugePages %ld kB, bad pages %ld %ld", mu, split0, split1,
		       huge2, bad, bad2);
		char *second = p + HP;
		long huge3 = smaps_field(p + 9 * 4096, "AnonHugePages");
		if (huge3 != 2048)
			printf("# the area after the hole shows AnonHugePages %ld kB\n", huge3);

		int mp = mprotect(second, 4096, PROT_READ);
		int wr = probe(second, PROBE_WRITE), rd = probe(second, PROBE_READ), nb = probe(second + 4096, PROBE_WRITE);
		CHECKF("mprotect_one_page", mp == 0 && wr == PROBE_SEGV && rd == PROBE_OK && nb == PROBE_OK,
		       "mprotect %d, write %s, read %s, neighbour write %s", mp, probe_name(wr), probe_name(rd),
		       probe_name(nb));

		char *f = aligned_area(2 * HP);
		if (f) {
			madvise(f, 2 * HP, MADV_HUGEPAGE);
			fill(f, 2 * HP, 0x7777);
			int r = run_child(child_writes, f);
			long fb = bad_word(f, 2 * HP, 0x7777, (size_t)-1);
			CHECKF("fork_copy_on_write", r == 0 && fb == -1, "child status %#x, parent's first bad page %ld", r, fb);
			munmap(f, 2 * HP);
		} else {
			CHECKF("fork_copy_on_write", 0, "mmap errno %d", errno);
		}
		fork_cases();
		mremap_case();
	}

	int ps = prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	long pg = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	char *d = aligned_area(2 * HP);
	int cr = run_child(child_thp_disabled, NULL);
	long dh = -1, de = -1;
	if (d) {
		madvise(d, 2 * HP, MADV_HUGEPAGE);
		fill(d, 2 * HP, 1);
		dh = smaps_field(d, "AnonHugePages");
		de = smaps_field(d, "THPeligible");
		munmap(d, 2 * HP);
	}
	prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
	CHECKF("prctl_disable", ps == 0 && pg == 1 && cr == 0 && dh == 0 && de == 0,
	       "set %d, get %ld, child %#x, AnonHugePages %ld kB, THPeligible %ld", ps, pg, cr, dh, de);

	char *c = aligned_area(2 * HP);
	if (!c) {
		CHECKF("madv_collapse", 0, "mmap errno %d", errno);
	} else {
		fill(c, 2 * HP, 0x6161);
		long before = smaps_field(c, "AnonHugePages");
		int r = madvise(c, 2 * HP, MADV_COLLAPSE);
		int e = errno;
		long after = smaps_field(c, "AnonHugePages");
		long bad = bad_word(c, 2 * HP, 0x6161, (size_t)-1);
		if (r != 0 && e == EINVAL && before == 0 && after == 0)
			check_skip("madv_collapse", "MADV_COLLAPSE unknown to this kernel");
		else
			CHECKF("madv_collapse", r == 0 && before == 0 && after == 4096 && bad == -1,
			       "madvise %d errno %d, AnonHugePages %ld -> %ld kB, first bad page %ld", r, e, before, after,
			       bad);
		munmap(c, 2 * HP);
	}

	if (!have_khugepaged()) {
		check_skip("khugepaged_collapses", "no khugepaged thread");
	} else {
		char old_sleep[32] = "10000\n";
		read_small_file(THP "khugepaged/scan_sleep_millisecs", old_sleep, sizeof old_sleep);
		char *k = aligned_area(2 * HP);
		long kh = -1;
		if (k) {
			fill(k, 2 * HP, 0x2468);
			madvise(k, 2 * HP, MADV_HUGEPAGE);
			write_text(THP "khugepaged/scan_sleep_millisecs", "100\n");
			for (int i = 0; i < 100 && kh != 4096; i++) {
				usleep(100000);
				kh = smaps_field(k, "AnonHugePages");
			}
		}
		write_text(THP "khugepaged/scan_sleep_millisecs", old_sleep);
		long bad = k ? bad_word(k, 2 * HP, 0x2468, (size_t)-1) : -2;
		CHECKF("khugepaged_collapses", kh == 4096 && bad == -1, "AnonHugePages %ld kB after 10 s, first bad page %ld",
		       kh, bad);
		if (k)
			munmap(k, 2 * HP);
	}

	char *z = aligned_area(2 * HP);
	if (!z) {
		CHECKF("huge_zero_page", 0, "mmap errno %d", errno);
	} else {
		madvise(z, 2 * HP, MADV_HUGEPAGE);
		long sum = 0;
		for (size_t off = 0; off < 2 * HP; off += 4096)
			sum += z[off];
		long zr = smaps_field(z, "Rss"), zh = smaps_field(z, "AnonHugePages");
		long zalloc = vmstat_get("thp_zero_page_alloc");
		z[HP + 4096] = 5;
		long wr = smaps_field(z, "Rss"), wh = smaps_field(z, "AnonHugePages");
		CHECKF("huge_zero_page",
		       sum == 0 && zr == 0 && zh == 0 && zalloc >= 1 && wr == 2048 && wh == 2048 && z[HP] == 0 &&
			       z[HP + 4096] == 5,
		       "read: Rss %ld AnonHugePages %ld kB, thp_zero_page_alloc %ld; after a write: Rss %ld AnonHugePages %ld kB",
		       zr, zh, zalloc, wr, wh);
		munmap(z, 2 * HP);
	}

	write_text(THP "enabled", "never\n");
	char *n = aligned_area(2 * HP);
	long nh = -1;
	if (n) {
		madvise(n, 2 * HP, MADV_HUGEPAGE);
		fill(n, 2 * HP, 2);
		nh = smaps_field(n, "AnonHugePages");
		munmap(n, 2 * HP);
	}
	CHECKF("never_mode", nh == 0, "AnonHugePages %ld kB", nh);

	munmap(p, 2 * HP);
	munmap(q, 2 * HP);
	char restore[40];
	snprintf(restore, sizeof restore, "%s\n", en);
	write_text(THP "enabled", restore);
	return check_done();
}
