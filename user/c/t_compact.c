/*
 * t_compact.c: memory compaction as Linux offers it to root:
 * - /proc/sys/vm/compact_memory is write-only (0200: a read open is
 *   EACCES even for root); writing 1 compacts, 0, 2 or text is EINVAL;
 * - compaction_proactiveness (default 20, 0..100), extfrag_threshold
 *   (default 500, 0..1000), compact_unevictable_allowed (default 1, 0..1):
 *   out-of-range writes are EINVAL and change nothing;
 * - /sys/devices/system/node/node0/compact is write-only and compacts;
 * - /proc/vmstat has every compact_* counter;
 * - fragmenting: 32 MiB of anonymous memory, every other page freed
 *   (MADV_DONTNEED), then compact_memory: the free memory in blocks of
 *   2 MiB and more (buddyinfo orders 9 and 10) grows (when the holes
 *   reached buddyinfo: Linux may keep them on its per-CPU lists, where
 *   compaction cannot use them; skipped then), the migrate and free
 *   scanners and pgmigrate_success count, every kept page keeps its data,
 *   the freed ones read zero, VmRSS is unchanged;
 * - pages shared with a fork child (private, copy-on-write) and a
 *   MAP_SHARED region keep their data through compaction, seen by the
 *   child, and the child's writes keep their sharing semantics.
 * Root only: skipped (with the reason) for other users.
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

#define REGION (32UL << 20)

/* Write TEXT to PATH: 0 or the errno. */
static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	int e = write(fd, text, strlen(text)) < 0 ? errno : 0;
	close(fd);
	return e;
}

static long read_long(const char *path)
{
	char buf[64];
	return read_small_file(path, buf, sizeof buf) < 0 ? -1 : atol(buf);
}

/* Pages free in blocks of order LO..HI, every zone (buddyinfo). */
static long free_pages_in(int lo, int hi)
{
	static char buf[8192];
	if (read_small_file("/proc/buddyinfo", buf, sizeof buf) < 0)
		return -1;
	long pages = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char *z = strstr(l, "zone");
		if (!z)
			continue;
		char *s = z + 4;
		while (*s == ' ')
			s++;
		while (*s && *s != ' ')
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

static long huge_free_pages(void)
{
	return free_pages_in(9, 10);
}

/* A tunable: default, accepted bounds, refused value past the top. */
static void tunable(const char *name, long dflt, long max)
{
	char path[96], v[32], c[96];
	snprintf(path, sizeof path, "/proc/sys/vm/%s", name);
	long was = read_long(path);
	snprintf(c, sizeof c, "%s_default", name);
	CHECKF(c, was == dflt, "%ld, want %ld", was, dflt);
	snprintf(c, sizeof c, "%s_range", name);
	snprintf(v, sizeof v, "%ld", max + 1);
	int too_big = write_file(path, v), negative = write_file(path, "-1");
	int zero = write_file(path, "0");
	long z = read_long(path);
	snprintf(v, sizeof v, "%ld", max);
	int top = write_file(path, v);
	long t = read_long(path);
	CHECKF(c, too_big == EINVAL && negative == EINVAL && zero == 0 && z == 0 && top == 0 && t == max,
	       "%ld: %d, -1: %d, 0: %d (%ld), %ld: %d (%ld)", max + 1, too_big, negative, zero, z, max, top, t);
	snprintf(v, sizeof v, "%ld", was);
	write_file(path, v);
}

static void fill(unsigned long *p, size_t len, unsigned long seed)
{
	for (size_t i = 0; i < len / sizeof *p; i++)
		p[i] = seed ^ (i * 0x9e3779b97f4a7c15UL);
}

/* Index of the first word that differs, or -1. */
static long differs(const unsigned long *p, size_t len, unsigned long seed)
{
	for (size_t i = 0; i < len / sizeof *p; i++)
		if (p[i] != (seed ^ (i * 0x9e3779b97f4a7c15UL)))
			return (long)i;
	return -1;
}

struct shared_case {
	unsigned long *priv, *shared;
	int go[2];
};

static int child_after_compaction(void *arg)
{
	struct shared_case *c = arg;
	char b;
	close(c->go[1]);
	if (read(c->go[0], &b, 1) != 1)
		return child_fail("no word from the parent");
	if (differs(c->priv, 64 * PAGE, 7) >= 0)
		return child_fail("the private copy-on-write pages changed");
	if (differs(c->shared, 64 * PAGE, 8) >= 0)
		return child_fail("the shared pages changed");
	c->priv[0] = 1;
	c->shared[0] = 2;
	return 0;
}

int main(void)
{
	check_init("t_compact");
	if (geteuid() != 0) {
		const char *why = "needs root (compaction and its sysctls are root's)";
		const char *all[] = {"compact_memory_mode", "compact_memory_no_read", "compact_memory_write",
				     "compact_memory_only_1", "node_compact", "vmstat_counters", "huge_blocks_grow",
				     "scanners_counted", "pages_migrated", "data_kept", "freed_read_zero",
				     "rss_kept", "shared_and_cow_kept"};
		for (size_t i = 0; i < sizeof all / sizeof *all; i++)
			check_skip(all[i], why);
		return check_done();
	}
	const char *cm = "/proc/sys/vm/compact_memory";
	struct stat st;
	CHECKF("compact_memory_mode", stat(cm, &st) == 0 && (st.st_mode & 07777) == 0200, "mode %o",
	       st.st_mode & 07777);
	errno = 0;
	int fd = open(cm, O_RDONLY);
	CHECKF("compact_memory_no_read", fd < 0 && errno == EACCES, "fd %d errno %d", fd, errno);
	if (fd >= 0)
		close(fd);
	CHECKF("compact_memory_write", write_file(cm, "1\n") == 0, "errno %d", write_file(cm, "1\n"));
	int e0 = write_file(cm, "0"), e2 = write_file(cm, "2"), ea = write_file(cm, "abc");
	CHECKF("compact_memory_only_1", e0 == EINVAL && e2 == EINVAL && ea == EINVAL, "0: %d, 2: %d, abc: %d", e0, e2,
	       ea);
	tunable("compaction_proactiveness", 20, 100);
	tunable("extfrag_threshold", 500, 1000);
	tunable("compact_unevictable_allowed", 1, 1);

	const char *nc = "/sys/devices/system/node/node0/compact";
	if (stat("/sys/devices/system/node", &st) != 0) {
		check_skip("node_compact", "no /sys/devices/system/node");
	} else {
		errno = 0;
		int rfd = open(nc, O_RDONLY);
		int ok = stat(nc, &st) == 0 && (st.st_mode & 07777) == 0200 && rfd < 0 && errno == EACCES;
		if (rfd >= 0)
			close(rfd);
		CHECKF("node_compact", ok && write_file(nc, "1") == 0, "mode %o", st.st_mode & 07777);
	}
	const char *counters[] = {"compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
				  "compact_stall", "compact_fail", "compact_success", "compact_daemon_wake",
				  "compact_daemon_migrate_scanned", "compact_daemon_free_scanned"};
	int missing = -1;
	for (size_t i = 0; i < sizeof counters / sizeof *counters; i++)
		if (vmstat_get(counters[i]) < 0)
			missing = (int)i;
	CHECKF("vmstat_counters", missing < 0, "no %s", missing < 0 ? "" : counters[missing]);

	/* Fragment: keep the even pages, give back the odd ones. */
	unsigned long *r = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		check_note("# mmap: %s", strerror(errno));
		return 1;
	}
	/* 4 KiB pages, even where transparent huge pages are on (Linux). */
	madvise(r, REGION, MADV_NOHUGEPAGE);
	size_t pages = REGION / PAGE;
	for (size_t i = 0; i < pages; i++)
		fill(r + i * (PAGE / sizeof *r), PAGE, i);
	long small = free_pages_in(0, 8);
	for (size_t i = 1; i < pages; i += 2)
		madvise((char *)r + i * PAGE, PAGE, MADV_DONTNEED);
	/* The holes must reach the buddy allocator for buddyinfo to tell
	 * anything: Linux keeps thousands of freed pages on its per-CPU lists
	 * (pcp high), where compaction never sees them. */
	long holes = free_pages_in(0, 8) - small;
	long rss = status_kb("VmRSS");
	long huge = huge_free_pages();
	long ms = vmstat_get("compact_migrate_scanned"), fs = vmstat_get("compact_free_scanned");
	long iso = vmstat_get("compact_isolated"), mig = vmstat_get("pgmigrate_success");
	int w = write_file(cm, "1");
	long huge2 = huge_free_pages();
	if (holes < (long)pages / 8)
		check_skip("huge_blocks_grow", "the freed pages stayed on per-CPU lists: buddyinfo never saw the holes");
	else
		CHECKF("huge_blocks_grow", w == 0 && huge2 > huge,
		       "write %d; free in blocks >= 2 MiB: %ld -> %ld pages (holes %ld)", w, huge, huge2, holes);
	CHECKF("scanners_counted",
	       vmstat_get("compact_migrate_scanned") > ms && vmstat_get("compact_free_scanned") > fs &&
		       vmstat_get("compact_isolated") > iso,
	       "migrate %ld -> %ld, free %ld -> %ld, isolated %ld -> %ld", ms, vmstat_get("compact_migrate_scanned"),
	       fs, vmstat_get("compact_free_scanned"), iso, vmstat_get("compact_isolated"));
	CHECKF("pages_migrated", vmstat_get("pgmigrate_success") > mig, "pgmigrate_success %ld -> %ld", mig,
	       vmstat_get("pgmigrate_success"));
	long bad = -1, nonzero = -1;
	for (size_t i = 0; i < pages; i++) {
		unsigned long *pg = r + i * (PAGE / sizeof *r);
		if (i % 2 == 0 && bad < 0 && differs(pg, PAGE, i) >= 0)
			bad = (long)i;
		if (i % 2 == 1 && nonzero < 0 && !all_zero(pg, PAGE))
			nonzero = (long)i;
	}
	CHECKF("data_kept", bad < 0, "page %ld changed", bad);
	CHECKF("freed_read_zero", nonzero < 0, "page %ld not zero", nonzero);
	long rss2 = status_kb("VmRSS");
	/* Reading the freed pages mapped the zero page: RSS counts no more. */
	CHECKF("rss_kept", rss2 >= rss - 8 && rss2 <= rss + 8, "VmRSS %ld -> %ld kB", rss, rss2);
	munmap(r, REGION);

	/* Copy-on-write pages shared with a child, and shared memory. */
	static struct shared_case c;
	c.priv = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c.shared = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fill(c.priv, 64 * PAGE, 7);
	fill(c.shared, 64 * PAGE, 8);
	if (pipe(c.go) != 0) {
		check_note("# pipe: %s", strerror(errno));
		return 1;
	}
	report_init();
	report->why[0] = 0;
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_after_compaction(&c));
	close(c.go[0]);
	write_file(cm, "1");
	if (write(c.go[1], "x", 1) != 1)
		check_note("# cannot wake the child");
	int ws = 0;
	waitpid(pid, &ws, 0);
	int ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && c.shared[0] == 2 && c.priv[0] == (7 ^ 0UL);
	CHECKF("shared_and_cow_kept", ok, "child status %#x %s; shared[0] %lu, private[0] %lu", ws, report->why,
	       c.shared[0], c.priv[0]);
	return check_done();
}
