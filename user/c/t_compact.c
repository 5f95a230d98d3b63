/*
 * t_compact.c: memory compaction as Linux offers it to root
 * (Documentation/admin-guide/sysctl/vm.rst, mm/compaction.c):
 * - compact_memory_mode: /proc/sys/vm/compact_memory is mode 0200;
 * - compact_memory_no_read: opening it O_RDONLY is EACCES, even for root
 *   (the sysctl permission is the table's mode, root gets the user bits);
 * - compact_memory_write: writing "1\n" compacts every node and succeeds;
 * - compact_memory_only_1: "0", "2" and "abc" are EINVAL
 *   (sysctl_compaction_handler takes only 1);
 * - compaction_proactiveness_default: 20 (another value is noted, and the
 *   case skipped: a distribution or an administrator may have set it);
 *   compaction_proactiveness_range: 0 and 100 accepted and read back, 101
 *   and -1 EINVAL and leave the value as it was; the old value restored;
 * - extfrag_threshold_default / _range: 500; 0..1000, 1001 and -1 EINVAL;
 * - compact_unevictable_allowed_default / _range: 1; 0..1, 2 and -1 EINVAL;
 * - node_compact: /sys/devices/system/node/node0/compact is mode 0200, a
 *   read open is EACCES, writing "1" compacts node 0 (skipped without
 *   /sys/devices/system/node);
 * - vmstat_counters: /proc/vmstat has compact_migrate_scanned,
 *   compact_free_scanned, compact_isolated, compact_stall, compact_fail,
 *   compact_success, compact_daemon_wake, compact_daemon_migrate_scanned
 *   and compact_daemon_free_scanned, each a number >= 0;
 * - fragmenting: 48 MiB of private anonymous memory in 4 KiB pages, page i
 *   filled with words i * 0x9e3779b97f4a7c15 ^ w, then every odd page
 *   given back (MADV_DONTNEED; holes_freed: mincore sees half the region
 *   resident), then compact_memory:
 *   - huge_blocks_grow: the free pages in blocks of order 9 and 10 (sum
 *     over /proc/buddyinfo's zones, in pages) grow strictly; on Linux
 *     skipped when the holes never reached buddyinfo (a big host's per-CPU
 *     lists hold thousands of freed pages, where compaction cannot merge
 *     them); never skipped in mmkernel (256 MiB: small per-CPU lists);
 *   - scanners_counted: compact_migrate_scanned, compact_free_scanned and
 *     compact_isolated grow;
 *   - pages_migrated: pgmigrate_success grows;
 *   - rss_kept: VmRSS after compaction is VmRSS before it (1% or 8 pages);
 *   - data_kept: every word of every kept page holds its pattern;
 *   - freed_read_zero: every byte of every freed page reads zero;
 * - cow_and_shared: 1 MiB private (copy-on-write shared with a fork
 *   child) and 1 MiB MAP_SHARED|MAP_ANONYMOUS, filled before the fork; the
 *   parent compacts, then wakes the child (a pipe), which checks both
 *   regions word by word and writes a mark into every page of both; the
 *   parent sees the marks in the shared region (shared_write_seen) and
 *   its private copy unchanged (private_copy_kept).
 * Root only: every case is skipped (with the reason) for other users.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define REGION (48UL << 20)
#define SHARED_LEN (1UL << 20)
#define WORDS (PAGE / sizeof(unsigned long))
#define GOLDEN 0x9e3779b97f4a7c15UL
#define MARK 0x5ca1ab1e0ddba11UL

static const char *const CM = "/proc/sys/vm/compact_memory";

/* Pages free in blocks of order LO..HI (count << order), every zone of
 * every node in /proc/buddyinfo; -1 if it cannot be read. */
static long free_pages_in(int lo, int hi)
{
	static char buf[16384];
	if (read_small_file("/proc/buddyinfo", buf, sizeof buf) < 0)
		return -1;
	long pages = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char *s = strstr(l, "zone");
		char *eol = strchr(l, '\n');
		if (!s || (eol && s > eol))
			continue;
		s += 4;
		while (*s == ' ')
			s++;
		while (*s && *s != ' ' && *s != '\n')
			s++; /* the zone's name */
		for (int order = 0; order <= 10; order++) {
			char *end;
			long n = strtol(s, &end, 10);
			if (end == s)
				break;
			if (order >= lo && order <= hi)
				pages += n << order;
			s = end;
		}
	}
	return pages;
}

/* Word W of page I of the fragmented region. */
static inline unsigned long pattern(size_t i, size_t w)
{
	return ((unsigned long)i * GOLDEN) ^ w;
}

static void fill_pages(unsigned long *p, size_t npages, unsigned long seed)
{
	for (size_t i = 0; i < npages; i++)
		for (size_t w = 0; w < WORDS; w++)
			p[i * WORDS + w] = pattern(seed + i, w);
}

/* Page of the first word of P (NPAGES pages) that is not its pattern, -1
 * if none; *WORD gets the word. */
static long first_bad(const unsigned long *p, size_t npages, unsigned long seed, size_t *word)
{
	for (size_t i = 0; i < npages; i++)
		for (size_t w = 0; w < WORDS; w++)
			if (p[i * WORDS + w] != pattern(seed + i, w)) {
				*word = w;
				return (long)i;
			}
	return -1;
}

/* A tunable: its default, the bounds it takes, the values it refuses. */
static void tunable(const char *name, long dflt, long max, int lenient_default)
{
	char path[96], v[32], c[96];
	snprintf(path, sizeof path, "/proc/sys/vm/%s", name);
	long was = read_num(path);
	snprintf(c, sizeof c, "%s_default", name);
	if (was != dflt && was >= 0 && lenient_default) {
		char why[128];
		snprintf(why, sizeof why, "the value is %ld, not the default %ld: set by the system", was, dflt);
		check_skip(c, why);
	} else {
		CHECKF(c, was == dflt, "%ld, want %ld", was, dflt);
	}
	snprintf(c, sizeof c, "%s_range", name);
	if (was < 0) {
		CHECKF(c, 0, "%s cannot be read: %s", path, strerror(errno));
		return;
	}
	/* Refused values leave the value as it was. */
	snprintf(v, sizeof v, "%ld", max + 1);
	int too_big = write_text(path, v);
	long after_big = read_num(path);
	int negative = write_text(path, "-1");
	long after_neg = read_num(path);
	int zero = write_text(path, "0");
	long z = read_num(path);
	snprintf(v, sizeof v, "%ld", max);
	int top = write_text(path, v);
	long t = read_num(path);
	snprintf(v, sizeof v, "%ld", was);
	int back = write_text(path, v);
	long restored = read_num(path);
	CHECKF(c,
	       too_big == EINVAL && after_big == was && negative == EINVAL && after_neg == was && zero == 0 &&
		       z == 0 && top == 0 && t == max && back == 0 && restored == was,
	       "%ld: %s (then %ld), -1: %s (then %ld), 0: %s (%ld), %ld: %s (%ld), restoring %ld: %s (%ld)",
	       max + 1, strerror(too_big), after_big, strerror(negative), after_neg, strerror(zero), z, max,
	       strerror(top), t, was, strerror(back), restored);
}

static void compact_memory_cases(void)
{
	struct stat st;
	int s = stat(CM, &st);
	CHECKF("compact_memory_mode", s == 0 && (st.st_mode & 07777) == 0200, "stat %d (%s), mode %o", s,
	       s ? strerror(errno) : "ok", s ? 0 : st.st_mode & 07777);
	errno = 0;
	int fd = open(CM, O_RDONLY);
	int e = errno;
	CHECKF("compact_memory_no_read", fd < 0 && e == EACCES, "open O_RDONLY: fd %d, errno %d (%s)", fd, e,
	       strerror(e));
	if (fd >= 0)
		close(fd);
	int w = write_text(CM, "1\n");
	CHECKF("compact_memory_write", w == 0, "writing \"1\\n\": %s", strerror(w));
	int e0 = write_text(CM, "0"), e2 = write_text(CM, "2"), ea = write_text(CM, "abc");
	CHECKF("compact_memory_only_1", e0 == EINVAL && e2 == EINVAL && ea == EINVAL, "0: %s, 2: %s, abc: %s",
	       strerror(e0), strerror(e2), strerror(ea));
}

static void node_compact_case(void)
{
	const char *nc = "/sys/devices/system/node/node0/compact";
	struct stat st;
	if (stat("/sys/devices/system/node", &st) != 0) {
		check_skip("node_compact", "no /sys/devices/system/node");
		return;
	}
	int s = stat(nc, &st);
	int mode = s == 0 ? (int)(st.st_mode & 07777) : -1;
	errno = 0;
	int rfd = open(nc, O_RDONLY);
	int re = errno;
	if (rfd >= 0)
		close(rfd);
	int w = write_text(nc, "1");
	CHECKF("node_compact", s == 0 && mode == 0200 && rfd < 0 && re == EACCES && w == 0,
	       "stat %s, mode %o, read open: fd %d errno %d (%s), writing 1: %s", s ? strerror(errno) : "ok", mode,
	       rfd, re, strerror(re), strerror(w));
}

static void vmstat_case(void)
{
	static const char *const counters[] = {
		"compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
		"compact_stall",	   "compact_fail",	   "compact_success",
		"compact_daemon_wake",	   "compact_daemon_migrate_scanned", "compact_daemon_free_scanned"};
	const char *missing = NULL;
	for (size_t i = 0; i < sizeof counters / sizeof *counters; i++)
		if (vmstat_get(counters[i]) < 0)
			missing = counters[i];
	CHECKF("vmstat_counters", !missing, "/proc/vmstat has no %s (or it is negative)", missing);
}

/* The fragmented region, compacted. Returns 0, or -1 if it could not run. */
static int fragment_cases(void)
{
	unsigned long *r = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		CHECKF("holes_freed", 0, "mmap of %lu MiB: %s", REGION >> 20, strerror(errno));
		return -1;
	}
	/* 4 KiB pages even where transparent huge pages are on (Linux). */
	madvise(r, REGION, MADV_NOHUGEPAGE);
	size_t pages = REGION / PAGE;
	fill_pages(r, pages, 0);
	long small = free_pages_in(0, 8);
	int dontneed = 0;
	for (size_t i = 1; i < pages; i += 2)
		if (madvise((char *)r + i * PAGE, PAGE, MADV_DONTNEED) != 0)
			dontneed = errno;
	long res = resident(r, REGION);
	CHECKF("holes_freed", dontneed == 0 && res == (long)pages / 2, "MADV_DONTNEED: %s; %ld of %zu pages resident",
	       strerror(dontneed), res, pages);
	/* Linux keeps many freed pages on its per-CPU lists (pcp high); only
	 * what reached the buddy allocator shows in buddyinfo. */
	long holes = free_pages_in(0, 8) - small;

	long rss = status_kb("VmRSS");
	long huge = free_pages_in(9, 10);
	long ms = vmstat_get("compact_migrate_scanned"), fs = vmstat_get("compact_free_scanned");
	long iso = vmstat_get("compact_isolated"), mig = vmstat_get("pgmigrate_success");
	int w = write_text(CM, "1");
	long huge2 = free_pages_in(9, 10);
	long ms2 = vmstat_get("compact_migrate_scanned"), fs2 = vmstat_get("compact_free_scanned");
	long iso2 = vmstat_get("compact_isolated"), mig2 = vmstat_get("pgmigrate_success");
	long rss2 = status_kb("VmRSS");

	check_note("# t_compact: free in order 9-10 blocks %ld -> %ld pages; %ld of %zu holes reached buddyinfo", huge,
		   huge2, holes, pages / 2);
	if (w == 0 && holes < (long)pages / 8 && huge2 <= huge && !in_mmkernel()) {
		char why[160];
		snprintf(why, sizeof why, "only %ld of the %zu freed pages reached buddyinfo (per-CPU lists)", holes,
			 pages / 2);
		check_skip("huge_blocks_grow", why);
	} else {
		CHECKF("huge_blocks_grow", w == 0 && huge2 > huge,
		       "compact_memory: %s; free in order 9-10 blocks: %ld -> %ld pages (holes in buddyinfo %ld)",
		       strerror(w), huge, huge2, holes);
	}
	CHECKF("scanners_counted", ms2 > ms && fs2 > fs && iso2 > iso,
	       "compact_migrate_scanned %ld -> %ld, compact_free_scanned %ld -> %ld, compact_isolated %ld -> %ld", ms,
	       ms2, fs, fs2, iso, iso2);
	CHECKF("pages_migrated", mig2 > mig, "pgmigrate_success %ld -> %ld", mig, mig2);
	long slack = rss / 100 > 8 * (long)(PAGE / 1024) ? rss / 100 : 8 * (long)(PAGE / 1024);
	CHECKF("rss_kept", rss > 0 && rss2 >= rss - slack && rss2 <= rss + slack, "VmRSS %ld -> %ld kB", rss, rss2);

	long bad = -1, nonzero = -1;
	size_t word = 0;
	for (size_t i = 0; i < pages && (bad < 0 || nonzero < 0); i++) {
		unsigned long *pg = r + i * WORDS;
		if (i % 2 == 0 && bad < 0) {
			size_t wd;
			if (first_bad(pg, 1, i, &wd) >= 0) {
				bad = (long)i;
				word = wd;
			}
		}
		if (i % 2 == 1 && nonzero < 0 && !all_zero(pg, PAGE))
			nonzero = (long)i;
	}
	CHECKF("data_kept", bad < 0, "page %ld word %zu: %#lx, want %#lx", bad, word,
	       bad < 0 ? 0 : r[(size_t)bad * WORDS + word], bad < 0 ? 0 : pattern((size_t)bad, word));
	CHECKF("freed_read_zero", nonzero < 0, "freed page %ld is not zero", nonzero);
	munmap(r, REGION);
	return 0;
}

struct cow_case {
	unsigned long *priv, *shared;
	int go[2];
};

#define COW_PAGES (SHARED_LEN / PAGE)
#define PRIV_SEED 1000000UL
#define SHARED_SEED 2000000UL

/* The child: wait for the parent's compaction, check, then write. */
static int cow_child(void *arg)
{
	struct cow_case *c = arg;
	char b;
	size_t w;
	close(c->go[1]);
	if (read(c->go[0], &b, 1) != 1)
		return child_fail("no word from the parent");
	long bad = first_bad(c->priv, COW_PAGES, PRIV_SEED, &w);
	if (bad >= 0)
		return child_fail("child: private (copy-on-write) page %ld word %zu changed", bad, w);
	bad = first_bad(c->shared, COW_PAGES, SHARED_SEED, &w);
	if (bad >= 0)
		return child_fail("child: shared page %ld word %zu changed", bad, w);
	for (size_t i = 0; i < COW_PAGES; i++) {
		c->priv[i * WORDS] = MARK ^ i;
		c->shared[i * WORDS] = MARK ^ i;
	}
	return 0;
}

static void cow_cases(void)
{
	static struct cow_case c;
	c.priv = mmap(NULL, SHARED_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c.shared = mmap(NULL, SHARED_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.priv == MAP_FAILED || c.shared == MAP_FAILED || pipe(c.go) != 0) {
		int e = errno;
		CHECKF("cow_and_shared", 0, "setup: %s", strerror(e));
		check_skip("shared_write_seen", "no setup");
		check_skip("private_copy_kept", "no setup");
		return;
	}
	madvise(c.priv, SHARED_LEN, MADV_NOHUGEPAGE);
	fill_pages(c.priv, COW_PAGES, PRIV_SEED);
	fill_pages(c.shared, COW_PAGES, SHARED_SEED);
	report_init();
	report->why[0] = '\0';
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		_exit(cow_child(&c));
	}
	close(c.go[0]);
	int w = pid > 0 ? write_text(CM, "1") : 0;
	if (pid > 0 && write(c.go[1], "x", 1) != 1)
		check_note("# t_compact: cannot wake the child: %s", strerror(errno));
	close(c.go[1]);
	int ws = 0;
	pid_t r = -1;
	if (pid > 0)
		do
			r = waitpid(pid, &ws, 0);
		while (r < 0 && errno == EINTR);
	char d[96];
	describe_status(d, sizeof d, r == pid ? ws : -1);
	CHECKF("cow_and_shared", pid > 0 && w == 0 && r == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	       "compact_memory: %s; %s%s%s", strerror(w), d, report->why[0] ? ": " : "", report->why);

	long seen = -1;
	for (size_t i = 0; i < COW_PAGES; i++) {
		for (size_t k = 0; k < WORDS; k++) {
			unsigned long want = k == 0 ? MARK ^ i : pattern(SHARED_SEED + i, k);
			if (c.shared[i * WORDS + k] != want) {
				seen = (long)i;
				break;
			}
		}
		if (seen >= 0)
			break;
	}
	CHECKF("shared_write_seen", seen < 0, "shared page %ld: word 0 %#lx, want the child's mark %#lx", seen,
	       seen < 0 ? 0 : c.shared[(size_t)seen * WORDS], seen < 0 ? 0 : MARK ^ (unsigned long)seen);
	size_t wd = 0;
	long bad = first_bad(c.priv, COW_PAGES, PRIV_SEED, &wd);
	CHECKF("private_copy_kept", bad < 0, "private page %ld word %zu: %#lx (the child's write leaked?)", bad, wd,
	       bad < 0 ? 0 : c.priv[(size_t)bad * WORDS + wd]);
	munmap(c.priv, SHARED_LEN);
	munmap(c.shared, SHARED_LEN);
}

int main(void)
{
	check_init("t_compact");
	if (geteuid() != 0) {
		static const char *const all[] = {
			"compact_memory_mode", "compact_memory_no_read", "compact_memory_write",
			"compact_memory_only_1", "compaction_proactiveness_default",
			"compaction_proactiveness_range", "extfrag_threshold_default", "extfrag_threshold_range",
			"compact_unevictable_allowed_default", "compact_unevictable_allowed_range", "node_compact",
			"vmstat_counters", "holes_freed", "huge_blocks_grow", "scanners_counted", "pages_migrated",
			"rss_kept", "data_kept", "freed_read_zero", "cow_and_shared", "shared_write_seen",
			"private_copy_kept"};
		for (size_t i = 0; i < sizeof all / sizeof *all; i++)
			check_skip(all[i], "needs root (compaction and its sysctls are root's)");
		return check_done();
	}
	compact_memory_cases();
	tunable("compaction_proactiveness", 20, 100, 1);
	tunable("extfrag_threshold", 500, 1000, 0);
	tunable("compact_unevictable_allowed", 1, 1, 0);
	node_compact_case();
	vmstat_case();
	fragment_cases();
	cow_cases();
	return check_done();
}
