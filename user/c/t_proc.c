/*
 * t_proc.c: /proc in Linux's formats, and its numbers checked against one
 * another and against what this program does. The same checks run on the
 * Linux host (as root) and under mmkernel; where the two legitimately
 * differ (vmallocinfo callers, per-node stats, extra lines) only what both
 * print is checked.
 *
 * Formats (each line regenerated with Linux's printf format and compared):
 * - meminfo: "%-16s%8lu kB" (names longer than 16: "%s %5lu kB"; the four
 *   HugePages_ counts without " kB"); MemTotal, MemFree, MemAvailable first;
 * - buddyinfo: "Node %d, zone %8s " then 11 x "%6lu ";
 * - zoneinfo: "Node %d, zone %8s" blocks with "  pages free     %lu",
 *   min/low/high/spanned/present/managed, "        protection: (a, b, ..)"
 *   with one entry per zone of the node;
 * - pagetypeinfo: "Page block order: 9", "Pages per block:  512", the
 *   "%-43s" + "%6d " order header, "Node %4d, zone %8s, type %12s " rows,
 *   the "%-23s" + "%12s " blocks header and "Node %d, zone %8s " + "%12lu ";
 * - slabinfo: version 2.1 header, the "# name" line, 16 columns per cache
 *   as "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata
 *   %6lu %6lu %6lu";
 * - vmallocinfo: "0x%016lx-0x%016lx %7ld ..." with "pages=N" summing to
 *   VmallocUsed and the N<node>= counts summing to N;
 * - vmstat: "name value" lines (nr_free_pages, pgfault, pgmajfault, ...);
 *   nr_mapped is meminfo's Mapped (non-zero: our own text is mapped), and
 *   the LRU counts (nr_inactive_anon, nr_zone_inactive_anon ...) are
 *   meminfo's Inactive(anon) ...;
 * - /proc/self/maps: "%08lx-%08lx %c%c%c%c %08lx %02x:%02x %lu ", the name
 *   in column 73; [heap] and [stack]; smaps: the same headers, then
 *   "%-16s%8lu kB" fields in Linux's order and "VmFlags: xx xx "; the
 *   smaps_rollup header and totals (Pss_Anon + Pss_File + Pss_Shmem = Pss);
 * - status ("Name:\t%8lu kB" Vm lines, Pid/PPid), statm (7 numbers),
 *   stat (52 fields, comm in parentheses), cmdline, comm.
 *
 * Numbers: buddyinfo, zoneinfo and vmstat free pages against MemFree
 * (within 1% of MemTotal under mmkernel, 5% on the host where per-cpu
 * counters lag); MemTotal - MemFree >= AnonPages + Slab + PageTables +
 * KernelStack; touching 1 MiB raises VmRSS by >= 1024 kB and minflt and
 * pgfault by >= 256; an 8-page mapping with 3 pages touched is exactly
 * "Size 32 kB, Rss 12 kB, Anonymous 12 kB" in smaps; statm size x 4 =
 * VmSize = stat vsize / 1024; a child blocked in read (or, without pipe(),
 * in nanosleep) is "S (sleeping)", its cmdline is the argv it was given,
 * and after kill + wait its /proc directory is gone (ENOENT);
 * oom_score_adj 500 raises oom_score, 1001 and "abc" are EINVAL;
 * /proc/sys/vm values out of range are EINVAL and change nothing.
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

#define PAGE 4096UL
#define BUFSZ (512 * 1024)
#define NR_ORDERS 11

extern char **environ;

/* Pre-touched in main, so that reading files does not change our RSS. */
static char buf_a[BUFSZ], buf_b[BUFSZ], buf_c[BUFSZ], buf_d[BUFSZ];
static int on_kernel;

/* --------------------------------------------------------------- helpers */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Read all of PATH into BUF, NUL-terminated; the length, or -1 and errno. */
static long slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (;;) {
		if (n + 1 >= cap) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	return (long)n;
}

/* Open PATH for writing, write TEXT in one write(2); returns its result
 * (errno kept). */
static long write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	long r = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Next line of *CUR (NUL-terminated in place), NULL at the end. */
static char *next_line(char **cur)
{
	char *l = *cur;
	if (!l || !*l)
		return NULL;
	char *nl = strchr(l, '\n');
	if (nl) {
		*nl = '\0';
		*cur = nl + 1;
	} else {
		*cur = l + strlen(l);
	}
	return l;
}

/* Split S in place at runs of blanks; returns the number of words. */
static int split_words(char *s, char **w, int max)
{
	int n = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s)
			break;
		if (n < max)
			w[n] = s;
		n++;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return n;
}

/* The line of TEXT starting with PREFIX (at a line start), or NULL. */
static const char *find_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *l = text; l && *l;) {
		if (strncmp(l, prefix, n) == 0)
			return l;
		const char *nl = strchr(l, '\n');
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* The number after PREFIX on its line, or -1 if there is no such line. */
static long long field(const char *text, const char *prefix)
{
	const char *l = find_line(text, prefix);
	if (!l)
		return -1;
	return strtoll(l + strlen(prefix), NULL, 10);
}

/* Copy the line at L (without its newline) into OUT. */
static void copy_line(const char *l, char *out, size_t cap)
{
	size_t n = 0;
	while (l && l[n] && l[n] != '\n' && n + 1 < cap) {
		out[n] = l[n];
		n++;
	}
	out[n] = '\0';
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static long long llabs_(long long x)
{
	return x < 0 ? -x : x;
}

/* Allowed gap, in kB, between two views of free memory. */
static long long free_tolerance_kb(long long memtotal_kb)
{
	return on_kernel ? memtotal_kb / 100 : memtotal_kb * 5 / 100;
}

/*
 * MemTotal and MemFree, and the part of them that no zone manages (yet):
 * 0 on stock Linux and under mmkernel (MemTotal is the sum of the zones'
 * managed pages), but this host's kernel initialises struct pages lazily
 * ("deferred_init=lazy") and counts the pages still waiting in MemTotal
 * and MemFree before any zone, buddyinfo or vmstat sees them.
 */
struct memview {
	long long total, free, unzoned;
};

static char zbuf[BUFSZ], mbuf[8192];

static int read_memview(struct memview *v)
{
	long m = slurp("/proc/meminfo", mbuf, sizeof mbuf);
	long z = slurp("/proc/zoneinfo", zbuf, sizeof zbuf);
	if (m <= 0 || z <= 0)
		return 0;
	v->total = field(mbuf, "MemTotal:");
	v->free = field(mbuf, "MemFree:");
	long long managed = 0;
	for (const char *p = zbuf; (p = strstr(p, "\n        managed  ")); p++)
		managed += atoll(p + 18);
	v->unzoned = v->total - managed * 4;
	return v->total > 0 && v->free >= 0;
}

/* MemFree as the zones see it. */
static long long zoned_free(const struct memview *v)
{
	return v->free - v->unzoned;
}

/* A failed format check: the first bad line and what Linux prints. */
struct fmt_err {
	int bad;
	int lineno;
	char got[200];
	char want[200];
};

static void fmt_fail(struct fmt_err *e, int lineno, const char *got, const char *want)
{
	if (e->bad++)
		return;
	e->lineno = lineno;
	copy_line(got, e->got, sizeof e->got);
	copy_line(want, e->want, sizeof e->want);
}

static void fmt_check(const char *name, struct fmt_err *e)
{
	CHECKF(name, !e->bad, "%d bad lines; line %d: got '%s' want '%s'", e->bad, e->lineno, e->got, e->want);
}

/* ------------------------------------------------------------- meminfo */

static const char *const meminfo_names[] = {
	"MemTotal:", "MemFree:", "MemAvailable:", "Buffers:", "Cached:", "SwapCached:", "Active:", "Inactive:",
	"Active(anon):", "Inactive(anon):", "Active(file):", "Inactive(file):", "Unevictable:", "Mlocked:",
	"SwapTotal:", "SwapFree:", "Dirty:", "Writeback:", "AnonPages:", "Mapped:", "Shmem:", "KReclaimable:",
	"Slab:", "SReclaimable:", "SUnreclaim:", "KernelStack:", "PageTables:", "CommitLimit:", "Committed_AS:",
	"VmallocTotal:", "VmallocUsed:", "HugePages_Total:", "HugePages_Free:", "Hugepagesize:",
};

static int unitless_meminfo(const char *name)
{
	return strncmp(name, "HugePages_", 10) == 0;
}

/* Format of every line; returns the number of lines. */
static int meminfo_format(char *text, struct fmt_err *e)
{
	int lineno = 0;
	char *cur = text, *l;
	while ((l = next_line(&cur))) {
		lineno++;
		char name[64], want[200];
		const char *colon = strchr(l, ':');
		if (!colon || colon - l >= (long)sizeof name - 1) {
			fmt_fail(e, lineno, l, "Name: value");
			continue;
		}
		size_t nl = (size_t)(colon - l) + 1;
		memcpy(name, l, nl);
		name[nl] = '\0';
		char *end;
		unsigned long long v = strtoull(colon + 1, &end, 10);
		const char *unit = unitless_meminfo(name) ? "" : " kB";
		if (nl <= 16)
			snprintf(want, sizeof want, "%-16s%8llu%s", name, v, unit);
		else
			snprintf(want, sizeof want, "%s %5llu%s", name, v, unit);
		if (strcmp(l, want) != 0)
			fmt_fail(e, lineno, l, want);
	}
	return lineno;
}

static void check_meminfo(void)
{
	long n = slurp("/proc/meminfo", buf_a, BUFSZ);
	if (!CHECKF("meminfo_read", n > 0 && buf_a[n - 1] == '\n', "read %ld: %s", n, strerror(errno)))
		return;
	memcpy(buf_b, buf_a, (size_t)n + 1);
	const char *m = buf_b;

	int missing = 0;
	const char *first_missing = "";
	for (size_t i = 0; i < sizeof meminfo_names / sizeof *meminfo_names; i++) {
		if (!find_line(m, meminfo_names[i])) {
			if (!missing++)
				first_missing = meminfo_names[i];
		}
	}
	CHECKF("meminfo_has_linux_fields", missing == 0, "%d missing, first %s", missing, first_missing);
	CHECKF("meminfo_order", strncmp(m, "MemTotal:", 9) == 0 && strncmp(strchr(m, '\n') + 1, "MemFree:", 8) == 0 &&
					strncmp(strchr(strchr(m, '\n') + 1, '\n') + 1, "MemAvailable:", 13) == 0,
	       "starts with '%.40s'", m);

	struct fmt_err e = {0};
	int lines = meminfo_format(buf_a, &e);
	fmt_check("meminfo_format", &e);
	CHECKF("meminfo_lines", lines >= 40, "%d lines", lines);

	long long total = field(m, "MemTotal:"), fr = field(m, "MemFree:"), avail = field(m, "MemAvailable:");
	CHECKF("meminfo_free_le_total", total > 0 && fr > 0 && fr <= total, "MemTotal %lld MemFree %lld", total, fr);
	CHECKF("meminfo_available_le_total", avail >= 0 && avail <= total, "MemAvailable %lld MemTotal %lld", avail,
	       total);
	long long slab = field(m, "Slab:"), sr = field(m, "SReclaimable:"), su = field(m, "SUnreclaim:");
	CHECKF("meminfo_slab_sum", slab == sr + su, "Slab %lld SReclaimable %lld SUnreclaim %lld", slab, sr, su);
	CHECKF("meminfo_kreclaimable_ge_sreclaimable", field(m, "KReclaimable:") >= sr, "KReclaimable %lld SReclaimable %lld",
	       field(m, "KReclaimable:"), sr);
	long long act = field(m, "Active:"), aa = field(m, "Active(anon):"), af = field(m, "Active(file):");
	long long ina = field(m, "Inactive:"), ia = field(m, "Inactive(anon):"), ifl = field(m, "Inactive(file):");
	CHECKF("meminfo_lru_sums", act == aa + af && ina == ia + ifl, "Active %lld = %lld + %lld, Inactive %lld = %lld + %lld",
	       act, aa, af, ina, ia, ifl);
	CHECKF("meminfo_swapfree_le_swaptotal", field(m, "SwapFree:") <= field(m, "SwapTotal:"), "SwapFree %lld SwapTotal %lld",
	       field(m, "SwapFree:"), field(m, "SwapTotal:"));
	long long anon = field(m, "AnonPages:"), pt = field(m, "PageTables:"), ks = field(m, "KernelStack:");
	CHECKF("meminfo_used_covers_kernel_and_anon", total - fr >= anon + slab + pt + ks,
	       "MemTotal-MemFree %lld < AnonPages %lld + Slab %lld + PageTables %lld + KernelStack %lld", total - fr, anon,
	       slab, pt, ks);
	CHECKF("meminfo_hugepagesize", field(m, "Hugepagesize:") == 2048, "Hugepagesize %lld", field(m, "Hugepagesize:"));
	CHECKF("meminfo_vmalloc_total", field(m, "VmallocTotal:") > 0 && field(m, "VmallocUsed:") >= 0,
	       "VmallocTotal %lld VmallocUsed %lld", field(m, "VmallocTotal:"), field(m, "VmallocUsed:"));
	CHECKF("meminfo_committed_as", field(m, "Committed_AS:") > 0, "Committed_AS %lld", field(m, "Committed_AS:"));

	/* CommitLimit = MemTotal * overcommit_ratio / 100 + SwapTotal (in pages),
	 * unless overcommit_kbytes is set. */
	char tmp[64];
	long long ratio = slurp("/proc/sys/vm/overcommit_ratio", tmp, sizeof tmp) > 0 ? atoll(tmp) : -1;
	long long kbytes = slurp("/proc/sys/vm/overcommit_kbytes", tmp, sizeof tmp) > 0 ? atoll(tmp) : 0;
	if (ratio >= 0 && kbytes == 0) {
		long long want = (total / 4) * ratio / 100 * 4 + field(m, "SwapTotal:");
		long long got = field(m, "CommitLimit:");
		CHECKF("meminfo_commit_limit", llabs_(got - want) <= total / 1000 + 4,
		       "CommitLimit %lld, MemTotal %lld x overcommit_ratio %lld%% + SwapTotal = %lld", got, total, ratio, want);
	} else {
		check_skip("meminfo_commit_limit", "overcommit_kbytes is set");
	}
}

/* ----------------------------------------------------------- buddyinfo */

struct zone_free {
	int node;
	char name[16];
	unsigned long long count[NR_ORDERS];
	long long pages;
};

static int parse_buddyinfo(char *text, struct zone_free *z, int max, struct fmt_err *e)
{
	int nz = 0, lineno = 0;
	char *cur = text, *l;
	while ((l = next_line(&cur))) {
		lineno++;
		char copy[400], want[400];
		snprintf(copy, sizeof copy, "%s", l);
		char *w[20];
		int n = split_words(copy, w, 20);
		/* "Node" "0," "zone" "DMA" + 11 counts */
		if (n != 4 + NR_ORDERS || strcmp(w[0], "Node") != 0 || strcmp(w[2], "zone") != 0) {
			fmt_fail(e, lineno, l, "Node N, zone NAME + 11 counts");
			continue;
		}
		struct zone_free zf = {.node = atoi(w[1])};
		snprintf(zf.name, sizeof zf.name, "%s", w[3]);
		int len = snprintf(want, sizeof want, "Node %d, zone %8s ", zf.node, zf.name);
		for (int o = 0; o < NR_ORDERS; o++) {
			zf.count[o] = strtoull(w[4 + o], NULL, 10);
			zf.pages += (long long)(zf.count[o] << o);
			len += snprintf(want + len, sizeof want - (size_t)len, "%6llu ", zf.count[o]);
		}
		if (strcmp(l, want) != 0)
			fmt_fail(e, lineno, l, want);
		if (nz < max)
			z[nz++] = zf;
	}
	return nz;
}

static void check_buddyinfo(void)
{
	long n = slurp("/proc/buddyinfo", buf_a, BUFSZ);
	struct memview mv;
	int m = read_memview(&mv);
	if (!CHECKF("buddyinfo_read", n > 0 && buf_a[n - 1] == '\n' && m, "read %ld: %s", n, strerror(errno)))
		return;
	struct zone_free z[16];
	struct fmt_err e = {0};
	int nz = parse_buddyinfo(buf_a, z, 16, &e);
	fmt_check("buddyinfo_format", &e);
	CHECKF("buddyinfo_has_zones", nz > 0, "%d zones", nz);
	long long pages = 0;
	for (int i = 0; i < nz; i++)
		pages += z[i].pages;
	long long buddy_free_kb = pages * 4;
	CHECKF("buddyinfo_sum_matches_memfree", llabs_(buddy_free_kb - zoned_free(&mv)) <= free_tolerance_kb(mv.total),
	       "buddyinfo %lld kB, MemFree %lld kB (%lld kB of it in no zone), MemTotal %lld kB (allowed gap %lld kB)",
	       buddy_free_kb, mv.free, mv.unzoned, mv.total, free_tolerance_kb(mv.total));
}

/* ------------------------------------------------------------ zoneinfo */

struct zinfo {
	int node;
	char name[16];
	long long free, min, low, high, spanned, present, managed, nr_free;
	int nprot;
};

/* "<prefix>%lu" lines of a zone: parse, and check the exact format. */
static int zone_value(const char *l, const char *prefix, long long *out, int lineno, struct fmt_err *e)
{
	size_t n = strlen(prefix);
	if (strncmp(l, prefix, n) != 0)
		return 0;
	*out = strtoll(l + n, NULL, 10);
	char want[200];
	snprintf(want, sizeof want, "%s%lld", prefix, *out);
	if (strcmp(l, want) != 0)
		fmt_fail(e, lineno, l, want);
	return 1;
}

static void check_zoneinfo(void)
{
	long n = slurp("/proc/zoneinfo", buf_a, BUFSZ);
	long m = slurp("/proc/meminfo", buf_b, BUFSZ);
	if (!CHECKF("zoneinfo_read", n > 0 && buf_a[n - 1] == '\n' && m > 0, "read %ld: %s", n, strerror(errno)))
		return;
	static struct zinfo z[32];
	int nz = 0, lineno = 0, bad_prot = 0;
	struct fmt_err e = {0};
	char prot_bad[200] = "";
	char *cur = buf_a, *l;
	while ((l = next_line(&cur))) {
		lineno++;
		if (strncmp(l, "Node ", 5) == 0) {
			if (nz == 32)
				break;
			struct zinfo *zi = &z[nz++];
			memset(zi, 0, sizeof *zi);
			zi->free = zi->min = zi->low = zi->high = zi->spanned = zi->present = zi->managed = -1;
			zi->nr_free = -1;
			char want[200];
			if (sscanf(l, "Node %d, zone %15s", &zi->node, zi->name) != 2) {
				fmt_fail(&e, lineno, l, "Node %d, zone %8s");
				continue;
			}
			snprintf(want, sizeof want, "Node %d, zone %8s", zi->node, zi->name);
			if (strcmp(l, want) != 0)
				fmt_fail(&e, lineno, l, want);
			continue;
		}
		if (nz == 0)
			continue;
		struct zinfo *zi = &z[nz - 1];
		if (zone_value(l, "  pages free     ", &zi->free, lineno, &e) ||
		    zone_value(l, "        min      ", &zi->min, lineno, &e) ||
		    zone_value(l, "        low      ", &zi->low, lineno, &e) ||
		    zone_value(l, "        high     ", &zi->high, lineno, &e) ||
		    zone_value(l, "        spanned  ", &zi->spanned, lineno, &e) ||
		    zone_value(l, "        present  ", &zi->present, lineno, &e) ||
		    zone_value(l, "        managed  ", &zi->managed, lineno, &e))
			continue;
		if (strncmp(l, "      nr_free_pages ", 20) == 0) {
			zi->nr_free = atoll(l + 20);
			continue;
		}
		if (strncmp(l, "        protection: (", 21) == 0) {
			/* "(a, b, c)": numbers separated by ", ". */
			const char *p = l + 21;
			int k = 0, ok = 1;
			for (;;) {
				if (!isdigit((unsigned char)*p)) {
					ok = 0;
					break;
				}
				while (isdigit((unsigned char)*p))
					p++;
				k++;
				if (*p == ')') {
					ok = p[1] == '\0';
					break;
				}
				if (p[0] != ',' || p[1] != ' ') {
					ok = 0;
					break;
				}
				p += 2;
			}
			zi->nprot = ok ? k : -1;
			if (!ok && !bad_prot++)
				snprintf(prot_bad, sizeof prot_bad, "%s", l);
		}
	}
	fmt_check("zoneinfo_format", &e);
	CHECKF("zoneinfo_protection_format", !bad_prot, "%d bad, e.g. '%s'", bad_prot, prot_bad);

	int missing = 0, order_bad = 0, prot_count_bad = 0;
	char why[200] = "";
	long long free_sum = 0, managed_sum = 0, nrfree_gap = 0;
	for (int i = 0; i < nz; i++) {
		struct zinfo *zi = &z[i];
		if (zi->free < 0 || zi->min < 0 || zi->low < 0 || zi->high < 0 || zi->spanned < 0 || zi->present < 0 ||
		    zi->managed < 0 || zi->nprot <= 0) {
			if (!missing++)
				snprintf(why, sizeof why, "zone %s: free %lld min %lld low %lld high %lld spanned %lld present %lld managed %lld protection entries %d",
					 zi->name, zi->free, zi->min, zi->low, zi->high, zi->spanned, zi->present,
					 zi->managed, zi->nprot);
			continue;
		}
		if (!(zi->min <= zi->low && zi->low <= zi->high && zi->managed <= zi->present &&
		      zi->present <= zi->spanned && zi->free <= zi->managed))
			order_bad++;
		int zones_in_node = 0;
		for (int j = 0; j < nz; j++)
			zones_in_node += z[j].node == zi->node;
		if (zi->nprot != zones_in_node)
			prot_count_bad++;
		free_sum += zi->free;
		managed_sum += zi->managed;
		if (zi->nr_free >= 0 && zi->managed > 0)
			nrfree_gap += llabs_(zi->nr_free - zi->free);
	}
	CHECKF("zoneinfo_zone_fields", nz > 0 && !missing, "%d zones, %d incomplete: %s", nz, missing, why);
	CHECKF("zoneinfo_watermarks_and_sizes_ordered", !order_bad,
	       "%d zones break min <= low <= high, free <= managed <= present <= spanned", order_bad);
	CHECKF("zoneinfo_protection_per_zone", !prot_count_bad, "%d zones whose protection list is not one entry per zone",
	       prot_count_bad);
	long long memfree = field(buf_b, "MemFree:"), total = field(buf_b, "MemTotal:");
	long long unzoned = total - managed_sum * 4;
	CHECKF("zoneinfo_free_matches_memfree", llabs_(free_sum * 4 - (memfree - unzoned)) <= free_tolerance_kb(total),
	       "zones' pages free %lld kB, MemFree %lld kB (%lld kB in no zone)", free_sum * 4, memfree, unzoned);
	CHECKF("zoneinfo_nr_free_pages_matches", nrfree_gap * 4 <= free_tolerance_kb(total),
	       "nr_free_pages differs from pages free by %lld pages", nrfree_gap);
	if (on_kernel || unzoned == 0) {
		CHECKF("zoneinfo_managed_is_memtotal", unzoned == 0, "zones' managed %lld kB, MemTotal %lld kB",
		       managed_sum * 4, total);
	} else {
		check_note("# zoneinfo: %lld kB of MemTotal in no zone yet (lazy deferred page init of this host)",
			   unzoned);
		CHECKF("zoneinfo_managed_is_memtotal", unzoned > 0, "zones' managed %lld kB, MemTotal %lld kB",
		       managed_sum * 4, total);
	}
}

/* -------------------------------------------------------- pagetypeinfo */

static void check_pagetypeinfo(void)
{
	long n = slurp("/proc/pagetypeinfo", buf_a, BUFSZ);
	long b = slurp("/proc/buddyinfo", buf_c, BUFSZ);
	long zi = slurp("/proc/zoneinfo", buf_d, BUFSZ);
	long m = slurp("/proc/meminfo", buf_b, BUFSZ);
	if (!CHECKF("pagetypeinfo_read", n > 0 && buf_a[n - 1] == '\n' && b > 0 && zi > 0 && m > 0, "read %ld: %s", n,
		    strerror(errno)))
		return;
	struct fmt_err e = {0};
	char want[600];
	char *cur = buf_a, *l;
	int lineno = 0;

	/* Header. */
	int order = -1;
	long per_block = -1;
	l = next_line(&cur);
	lineno++;
	if (l && sscanf(l, "Page block order: %d", &order) == 1) {
		snprintf(want, sizeof want, "Page block order: %d", order);
		if (strcmp(l, want))
			fmt_fail(&e, lineno, l, want);
	} else {
		fmt_fail(&e, lineno, l ? l : "", "Page block order: %d");
	}
	l = next_line(&cur);
	lineno++;
	if (l && sscanf(l, "Pages per block:  %ld", &per_block) == 1) {
		snprintf(want, sizeof want, "Pages per block:  %ld", per_block);
		if (strcmp(l, want))
			fmt_fail(&e, lineno, l, want);
	} else {
		fmt_fail(&e, lineno, l ? l : "", "Pages per block:  %lu");
	}
	CHECKF("pagetypeinfo_block_order", order == 9 && per_block == 512, "order %d, pages per block %ld", order,
	       per_block);
	/* Linux: an empty line, then the order header. */
	if (*cur == '\n') {
		cur++;
		lineno++;
	} else {
		fmt_fail(&e, lineno + 1, "(not empty)", "");
	}
	l = next_line(&cur);
	lineno++;
	int len = snprintf(want, sizeof want, "%-43s ", "Free pages count per migrate type at order");
	for (int o = 0; o < NR_ORDERS; o++)
		len += snprintf(want + len, sizeof want - (size_t)len, "%6d ", o);
	if (!l || strcmp(l, want) != 0)
		fmt_fail(&e, lineno, l ? l : "", want);

	/* Free counts per zone and type, until the empty line. */
	struct {
		int node;
		char zone[16];
		long long pages;
		int overflow;
		char types[8][16];
		int ntypes;
	} zt[16];
	int nzt = 0, rows = 0;
	while (*cur && *cur != '\n' && (l = next_line(&cur))) {
		lineno++;
		char copy[600];
		snprintf(copy, sizeof copy, "%s", l);
		char *w[24];
		int nw = split_words(copy, w, 24);
		/* Node 0, zone DMA, type Movable + 11 */
		if (nw != 6 + NR_ORDERS || strcmp(w[0], "Node") || strcmp(w[2], "zone") || strcmp(w[4], "type")) {
			fmt_fail(&e, lineno, l, "Node %4d, zone %8s, type %12s + 11 x %6lu");
			continue;
		}
		rows++;
		int node = atoi(w[1]);
		char zone[16];
		snprintf(zone, sizeof zone, "%.*s", (int)strcspn(w[3], ","), w[3]);
		int k;
		for (k = 0; k < nzt; k++)
			if (zt[k].node == node && !strcmp(zt[k].zone, zone))
				break;
		if (k == nzt && nzt < 16) {
			memset(&zt[nzt], 0, sizeof zt[nzt]);
			zt[nzt].node = node;
			snprintf(zt[nzt].zone, sizeof zt[nzt].zone, "%s", zone);
			nzt++;
		}
		if (k < 16 && zt[k].ntypes < 8)
			snprintf(zt[k].types[zt[k].ntypes++], 16, "%s", w[5]);
		len = snprintf(want, sizeof want, "Node %4d, zone %8s, type %12s ", node, zone, w[5]);
		for (int o = 0; o < NR_ORDERS; o++) {
			const char *t = w[6 + o];
			int over = *t == '>';
			unsigned long long c = strtoull(t + over, NULL, 10);
			if (k < 16) {
				zt[k].pages += (long long)(c << o);
				zt[k].overflow |= over;
			}
			len += snprintf(want + len, sizeof want - (size_t)len, "%s%6llu ", over ? ">" : "", c);
		}
		if (strcmp(l, want) != 0)
			fmt_fail(&e, lineno, l, want);
	}
	if (*cur == '\n') {
		cur++;
		lineno++;
	} else {
		fmt_fail(&e, lineno + 1, "(not empty)", "");
	}

	/* Number of blocks per type. */
	l = next_line(&cur);
	lineno++;
	char types[8][16];
	int ntypes = 0;
	if (l && strncmp(l, "Number of blocks type ", 22) == 0) {
		char copy[600];
		snprintf(copy, sizeof copy, "%s", l + 22);
		char *w[8];
		ntypes = split_words(copy, w, 8);
		if (ntypes > 8)
			ntypes = 8;
		len = snprintf(want, sizeof want, "%-23s", "Number of blocks type ");
		for (int t = 0; t < ntypes; t++) {
			snprintf(types[t], sizeof types[t], "%s", w[t]);
			len += snprintf(want + len, sizeof want - (size_t)len, "%12s ", w[t]);
		}
		if (strcmp(l, want) != 0)
			fmt_fail(&e, lineno, l, want);
	} else {
		fmt_fail(&e, lineno, l ? l : "", "Number of blocks type ...");
	}
	int block_rows = 0, blocks_bad = 0;
	char blocks_why[300] = "";
	while ((l = next_line(&cur))) {
		lineno++;
		char copy[600];
		snprintf(copy, sizeof copy, "%s", l);
		char *w[16];
		int nw = split_words(copy, w, 16);
		if (nw != 4 + ntypes || strcmp(w[0], "Node") || strcmp(w[2], "zone")) {
			fmt_fail(&e, lineno, l, "Node %d, zone %8s + %12lu per type");
			continue;
		}
		block_rows++;
		int node = atoi(w[1]);
		len = snprintf(want, sizeof want, "Node %d, zone %8s ", node, w[3]);
		long long blocks = 0;
		for (int t = 0; t < ntypes; t++) {
			unsigned long long c = strtoull(w[4 + t], NULL, 10);
			blocks += (long long)c;
			len += snprintf(want + len, sizeof want - (size_t)len, "%12llu ", c);
		}
		if (strcmp(l, want) != 0)
			fmt_fail(&e, lineno, l, want);
		/* Blocks cover the zone: between managed/512 - 1 and spanned/512 + 1. */
		char hdr[64];
		snprintf(hdr, sizeof hdr, "Node %d, zone %8s\n", node, w[3]);
		const char *zp = strstr(buf_d, hdr);
		if (zp) {
			long long present, spanned;
			const char *pl = strstr(zp, "        managed  "), *sl = strstr(zp, "        spanned  ");
			present = pl ? atoll(pl + 17) : -1;
			spanned = sl ? atoll(sl + 17) : -1;
			if (present < 0 || blocks < present / 512 - 1 || blocks > (spanned + 511) / 512 + 1) {
				if (!blocks_bad++)
					snprintf(blocks_why, sizeof blocks_why, "zone %s: %lld blocks, managed %lld, spanned %lld",
						 w[3], blocks, present, spanned);
			}
		}
	}
	fmt_check("pagetypeinfo_format", &e);
	CHECKF("pagetypeinfo_rows", nzt > 0 && rows == nzt * ntypes && block_rows == nzt, "%d zones, %d type rows, %d types, %d block rows",
	       nzt, rows, ntypes, block_rows);
	int types_bad = 0;
	for (int k = 0; k < nzt; k++) {
		if (zt[k].ntypes != ntypes)
			types_bad++;
		for (int t = 0; t < zt[k].ntypes && t < ntypes; t++)
			types_bad += strcmp(zt[k].types[t], types[t]) != 0;
	}
	CHECKF("pagetypeinfo_types_match_blocks_header", !types_bad && ntypes >= 3, "%d mismatches, %d types", types_bad,
	       ntypes);
	CHECKF("pagetypeinfo_blocks_cover_zones", !blocks_bad, "%s", blocks_why);

	/* Free pages per zone agree with buddyinfo. */
	struct zone_free bz[16];
	struct fmt_err be = {0};
	int nbz = parse_buddyinfo(buf_c, bz, 16, &be);
	long long total = field(buf_b, "MemTotal:");
	int gap_bad = 0;
	char gap_why[200] = "";
	for (int k = 0; k < nzt; k++) {
		if (zt[k].overflow)
			continue;
		int j;
		for (j = 0; j < nbz; j++)
			if (bz[j].node == zt[k].node && !strcmp(bz[j].name, zt[k].zone))
				break;
		if (j == nbz || llabs_(bz[j].pages - zt[k].pages) * 4 > free_tolerance_kb(total)) {
			if (!gap_bad++)
				snprintf(gap_why, sizeof gap_why, "zone %s: pagetypeinfo %lld pages, buddyinfo %lld", zt[k].zone,
					 zt[k].pages, j == nbz ? -1 : bz[j].pages);
		}
	}
	CHECKF("pagetypeinfo_free_matches_buddyinfo", !gap_bad && nbz == nzt, "%s (%d/%d zones)", gap_why, nzt, nbz);
}

/* ------------------------------------------------------------- slabinfo */

static void check_slabinfo(void)
{
	long n = slurp("/proc/slabinfo", buf_a, BUFSZ);
	if (!CHECKF("slabinfo_read", n > 0 && buf_a[n - 1] == '\n', "read %ld: %s", n, strerror(errno)))
		return;
	char *cur = buf_a, *l;
	l = next_line(&cur);
	CHECKF("slabinfo_version", l && strcmp(l, "slabinfo - version: 2.1") == 0, "first line '%s'", l ? l : "");
	l = next_line(&cur);
	const char *hdr = "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> "
			  "<batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>";
	CHECKF("slabinfo_header", l && strcmp(l, hdr) == 0, "second line '%s'", l ? l : "");
	struct fmt_err e = {0};
	int lineno = 2, caches = 0, bad = 0;
	char why[300] = "";
	while ((l = next_line(&cur))) {
		lineno++;
		char copy[400], want[400];
		snprintf(copy, sizeof copy, "%s", l);
		char *w[20];
		int nw = split_words(copy, w, 20);
		if (nw != 16 || strcmp(w[6], ":") || strcmp(w[7], "tunables") || strcmp(w[11], ":") ||
		    strcmp(w[12], "slabdata")) {
			fmt_fail(&e, lineno, l, "16 columns: name 5 numbers : tunables 3 numbers : slabdata 3 numbers");
			continue;
		}
		caches++;
		unsigned long long v[16];
		for (int i = 1; i < 16; i++)
			v[i] = strtoull(w[i], NULL, 10);
		snprintf(want, sizeof want,
			 "%-17s %6llu %6llu %6llu %4llu %4llu : tunables %4llu %4llu %4llu : slabdata %6llu %6llu %6llu", w[0],
			 v[1], v[2], v[3], v[4], v[5], v[8], v[9], v[10], v[13], v[14], v[15]);
		if (strcmp(l, want) != 0)
			fmt_fail(&e, lineno, l, want);
		/* active <= total objects and slabs; objects fit their slabs. */
		int ok = v[1] <= v[2] && v[13] <= v[14] && v[3] > 0 && v[4] > 0 && v[5] > 0 && (v[5] & (v[5] - 1)) == 0 &&
			 v[3] * v[4] <= v[5] * PAGE;
		if (!ok && !bad++)
			snprintf(why, sizeof why, "%s", l);
	}
	fmt_check("slabinfo_format", &e);
	CHECKF("slabinfo_has_caches", caches > 0, "%d caches", caches);
	CHECKF("slabinfo_numbers_consistent", !bad, "%d caches, e.g. '%s'", bad, why);
}

/* ---------------------------------------------------------- vmallocinfo */

static void check_vmallocinfo(void)
{
	long n = slurp("/proc/vmallocinfo", buf_a, BUFSZ);
	long m = slurp("/proc/meminfo", buf_b, BUFSZ);
	if (!CHECKF("vmallocinfo_read", n > 0 && buf_a[n - 1] == '\n' && m > 0, "read %ld: %s", n, strerror(errno)))
		return;
	struct fmt_err e = {0};
	int lineno = 0, areas = 0, bad = 0;
	char why[300] = "";
	long long pages_sum = 0;
	char *cur = buf_a, *l;
	while ((l = next_line(&cur))) {
		lineno++;
		unsigned long long s, en;
		long long size;
		int pos = 0;
		if (sscanf(l, "0x%16llx-0x%16llx %lld%n", &s, &en, &size, &pos) != 3 || strlen(l) < 37 || l[18] != '-') {
			fmt_fail(&e, lineno, l, "0x%016lx-0x%016lx %7ld ...");
			continue;
		}
		char want[64];
		snprintf(want, sizeof want, "0x%016llx-0x%016llx %7lld", s, en, size);
		/* The range is hashed (%pK) on the host: compare the layout only. */
		if ((size_t)pos != strlen(want) || strncmp(l + 37, want + 37, strlen(want) - 37) != 0 || l[pos] != ' ') {
			fmt_fail(&e, lineno, l, want);
			continue;
		}
		areas++;
		long long pages = -1, nodes = 0;
		char copy[400];
		snprintf(copy, sizeof copy, "%s", l + pos);
		char *w[32];
		int nw = split_words(copy, w, 32);
		for (int i = 0; i < nw && i < 32; i++) {
			if (!strncmp(w[i], "pages=", 6))
				pages = atoll(w[i] + 6);
			else if (w[i][0] == 'N' && isdigit((unsigned char)w[i][1]) && strchr(w[i], '='))
				nodes += atoll(strchr(w[i], '=') + 1);
		}
		int ok = size > 0 && size % (long long)PAGE == 0;
		if (pages >= 0) {
			pages_sum += pages;
			ok = ok && pages * (long long)PAGE <= size && nodes == pages;
		}
		if (on_kernel)
			ok = ok && en > s && (long long)(en - s) == size;
		if (!ok && !bad++)
			snprintf(why, sizeof why, "%s", l);
	}
	fmt_check("vmallocinfo_format", &e);
	CHECKF("vmallocinfo_has_areas", areas > 0, "%d areas", areas);
	CHECKF("vmallocinfo_sizes", !bad, "%d bad, e.g. '%s'", bad, why);
	long long used = field(buf_b, "VmallocUsed:");
	long long gap = on_kernel ? 16 : used / 20 + 64;
	CHECKF("vmallocinfo_pages_match_vmallocused", llabs_(pages_sum * 4 - used) <= gap,
	       "pages= sum %lld kB, VmallocUsed %lld kB", pages_sum * 4, used);
}

/* -------------------------------------------------------------- vmstat */

static const char *const vmstat_names[] = {
	"nr_free_pages", "nr_anon_pages", "nr_mapped", "nr_file_pages", "nr_slab_reclaimable", "nr_slab_unreclaimable",
	"nr_page_table_pages", "nr_kernel_stack", "nr_shmem", "nr_dirty", "nr_writeback", "pgfault", "pgmajfault",
	"pgfree", "pswpin", "pswpout", "pgpgin", "pgpgout",
};

/* Counters both print, in Linux's order (zone, node, then event items). */
static const char *const vmstat_linux_order[] = {
	"nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
	"nr_zone_active_file", "nr_zone_unevictable", "nr_mlock", "nr_slab_reclaimable", "nr_slab_unreclaimable",
	"nr_anon_pages", "nr_mapped", "nr_file_pages", "nr_dirty", "nr_writeback", "nr_shmem", "nr_kernel_stack",
	"nr_page_table_pages", "pgpgin", "pgpgout", "pswpin", "pswpout", "pgalloc_dma", "pgalloc_dma32",
	"pgalloc_normal", "pgalloc_movable", "allocstall_normal", "pgfree", "pgfault", "pgmajfault", "pglazyfreed",
	"pgreuse", "oom_kill", "thp_fault_alloc",
};

static long long vmstat_value(const char *text, const char *name)
{
	char p[64];
	snprintf(p, sizeof p, "%s ", name);
	return field(text, p);
}

static void check_vmstat(void)
{
	long n = slurp("/proc/vmstat", buf_a, BUFSZ);
	long m = slurp("/proc/meminfo", buf_c, BUFSZ);
	struct memview mv;
	int z = read_memview(&mv);
	if (!CHECKF("vmstat_read", n > 0 && buf_a[n - 1] == '\n' && m > 0 && z, "read %ld: %s", n, strerror(errno)))
		return;
	memcpy(buf_b, buf_a, (size_t)n + 1);
	struct fmt_err e = {0};
	int lineno = 0, dups = 0, nnames = 0;
	static char names[1024][64];
	char *cur = buf_a, *l;
	while ((l = next_line(&cur))) {
		lineno++;
		char name[64], want[120];
		unsigned long long v;
		int ok = sscanf(l, "%63[a-z0-9_] %llu", name, &v) == 2;
		if (ok) {
			snprintf(want, sizeof want, "%s %llu", name, v);
			ok = strcmp(l, want) == 0;
		} else {
			snprintf(want, sizeof want, "name value");
		}
		if (!ok) {
			fmt_fail(&e, lineno, l, want);
			continue;
		}
		for (int i = 0; i < nnames; i++)
			dups += !strcmp(names[i], name);
		if (nnames < 1024)
			snprintf(names[nnames++], sizeof names[0], "%s", name);
	}
	fmt_check("vmstat_format", &e);
	CHECKF("vmstat_no_duplicates", dups == 0, "%d duplicate names", dups);
	/* Names of the reference list come in its order. */
	size_t k = 0, nref = sizeof vmstat_linux_order / sizeof *vmstat_linux_order;
	const char *order_why = NULL, *order_prev = "(start)";
	for (int i = 0; i < nnames && !order_why; i++) {
		size_t j;
		for (j = 0; j < nref; j++)
			if (!strcmp(vmstat_linux_order[j], names[i]))
				break;
		if (j == nref)
			continue;
		if (j < k)
			order_why = names[i];
		else {
			k = j + 1;
			order_prev = names[i];
		}
	}
	CHECKF("vmstat_linux_order", !order_why, "%s comes after %s (Linux prints it before)", order_why, order_prev);
	int missing = 0;
	const char *first_missing = "";
	for (size_t i = 0; i < sizeof vmstat_names / sizeof *vmstat_names; i++)
		if (vmstat_value(buf_b, vmstat_names[i]) < 0 && !missing++)
			first_missing = vmstat_names[i];
	CHECKF("vmstat_has_linux_counters", missing == 0, "%d missing, first %s", missing, first_missing);
	const char *v = buf_b, *mi = buf_c;
	long long total = field(mi, "MemTotal:"), tol = free_tolerance_kb(total);
	long long nfree = vmstat_value(v, "nr_free_pages");
	CHECKF("vmstat_nr_free_pages_matches_memfree", llabs_(nfree * 4 - zoned_free(&mv)) <= tol,
	       "nr_free_pages %lld x 4 kB, MemFree %lld kB (%lld kB in no zone)", nfree, mv.free, mv.unzoned);
	long long anon = vmstat_value(v, "nr_anon_pages") * 4, slab = (vmstat_value(v, "nr_slab_reclaimable") +
								     vmstat_value(v, "nr_slab_unreclaimable")) * 4;
	CHECKF("vmstat_anon_matches_meminfo", llabs_(anon - field(mi, "AnonPages:")) <= tol,
	       "nr_anon_pages %lld kB, AnonPages %lld kB", anon, field(mi, "AnonPages:"));
	CHECKF("vmstat_slab_matches_meminfo", llabs_(slab - field(mi, "Slab:")) <= tol, "nr_slab_* %lld kB, Slab %lld kB",
	       slab, field(mi, "Slab:"));
	long long pt = vmstat_value(v, "nr_page_table_pages") * 4;
	CHECKF("vmstat_page_tables_match_meminfo", llabs_(pt - field(mi, "PageTables:")) <= tol,
	       "nr_page_table_pages %lld kB, PageTables %lld kB", pt, field(mi, "PageTables:"));
	/* nr_kernel_stack is in kB (as KernelStack). */
	long long ks = vmstat_value(v, "nr_kernel_stack");
	CHECKF("vmstat_kernel_stack_matches_meminfo", llabs_(ks - field(mi, "KernelStack:")) <= tol,
	       "nr_kernel_stack %lld kB, KernelStack %lld kB", ks, field(mi, "KernelStack:"));
	CHECKF("vmstat_pgfault_counts", vmstat_value(v, "pgfault") > 0 && vmstat_value(v, "pgfault") >= vmstat_value(v, "pgmajfault"),
	       "pgfault %lld pgmajfault %lld", vmstat_value(v, "pgfault"), vmstat_value(v, "pgmajfault"));
	/* Mapped: file pages someone maps; this program's own text is one. */
	long long mapped = vmstat_value(v, "nr_mapped") * 4;
	CHECKF("meminfo_mapped_counts_our_text", field(mi, "Mapped:") > 0, "Mapped %lld kB", field(mi, "Mapped:"));
	CHECKF("vmstat_nr_mapped_matches_meminfo", llabs_(mapped - field(mi, "Mapped:")) <= tol, "nr_mapped %lld kB, Mapped %lld kB",
	       mapped, field(mi, "Mapped:"));
	/* The LRU split: the same in both files (node and zone sums). */
	static const char *const lru[][3] = {
		{"nr_inactive_anon", "nr_zone_inactive_anon", "Inactive(anon):"},
		{"nr_active_anon", "nr_zone_active_anon", "Active(anon):"},
		{"nr_inactive_file", "nr_zone_inactive_file", "Inactive(file):"},
		{"nr_active_file", "nr_zone_active_file", "Active(file):"},
		{"nr_unevictable", "nr_zone_unevictable", "Unevictable:"},
	};
	for (size_t i = 0; i < sizeof lru / sizeof *lru; i++) {
		char name[64];
		long long node = vmstat_value(v, lru[i][0]) * 4, zone = vmstat_value(v, lru[i][1]) * 4, mv_ = field(mi, lru[i][2]);
		snprintf(name, sizeof name, "vmstat_%s_matches_meminfo", lru[i][0] + 3);
		CHECKF(name, node >= 0 && llabs_(node - mv_) <= tol && llabs_(zone - mv_) <= tol, "%s %lld kB, %s %lld kB, %s %lld kB",
		       lru[i][0], node, lru[i][1], zone, lru[i][2], mv_);
	}
}

/* ------------------------------------------------------ /proc/self/maps */

struct map {
	unsigned long start, end, off, ino;
	char perms[8];
	unsigned maj, min;
	char name[128];
	char head[100]; /* the line up to the name */
};

/* Parse and check one maps (or smaps header) line. */
static int parse_map_line(const char *l, struct map *m, char *want, size_t wn)
{
	int pos = 0;
	memset(m, 0, sizeof *m);
	if (sscanf(l, "%lx-%lx %4s %lx %x:%x %lu%n", &m->start, &m->end, m->perms, &m->off, &m->maj, &m->min, &m->ino,
		   &pos) != 7) {
		snprintf(want, wn, "%%08lx-%%08lx %%c%%c%%c%%c %%08lx %%02x:%%02x %%lu [name at column 73]");
		return 0;
	}
	int hl = snprintf(m->head, sizeof m->head, "%08lx-%08lx %s %08lx %02x:%02x %lu ", m->start, m->end, m->perms,
			  m->off, m->maj, m->min, m->ino);
	if ((size_t)hl > strlen(l)) {
		snprintf(want, wn, "%s", m->head);
		return 0;
	}
	const char *rest = l + hl;
	int ok = strncmp(l, m->head, (size_t)hl) == 0 && strlen(m->perms) == 4 && strchr("r-", m->perms[0]) &&
		 strchr("w-", m->perms[1]) && strchr("x-", m->perms[2]) && strchr("ps", m->perms[3]);
	if (ok && *rest) {
		/* Padded so that the name starts in column 73 (0-based). */
		size_t col = hl > 73 ? (size_t)hl : 73;
		ok = strlen(l) > col && l[col] != ' ';
		for (size_t i = (size_t)hl; ok && i < col; i++)
			ok = l[i] == ' ';
		if (ok)
			snprintf(m->name, sizeof m->name, "%s", l + col);
	}
	if (!ok) {
		if (*rest)
			snprintf(want, wn, "%-72s %s", m->head, rest + strspn(rest, " "));
		else
			snprintf(want, wn, "%s", m->head);
	}
	return ok;
}

#define MAX_MAPS 256
static struct map maps[MAX_MAPS];
static int nmaps;

/* Read and parse /proc/self/maps into maps[]. */
static int load_maps(const char *case_name)
{
	long n = slurp("/proc/self/maps", buf_a, BUFSZ);
	if (n <= 0 || buf_a[n - 1] != '\n') {
		CHECKF(case_name, 0, "read /proc/self/maps: %ld, %s", n, strerror(errno));
		return 0;
	}
	struct fmt_err e = {0};
	char *cur = buf_a, *l;
	int lineno = 0;
	nmaps = 0;
	while ((l = next_line(&cur))) {
		lineno++;
		char want[300];
		struct map m;
		if (!parse_map_line(l, &m, want, sizeof want))
			fmt_fail(&e, lineno, l, want);
		else if (nmaps < MAX_MAPS)
			maps[nmaps++] = m;
	}
	fmt_check(case_name, &e);
	return !e.bad;
}

static const struct map *map_of(unsigned long addr)
{
	for (int i = 0; i < nmaps; i++)
		if (maps[i].start <= addr && addr < maps[i].end)
			return &maps[i];
	return NULL;
}

/* /proc/self/stat, split: f[1] is the pid, f[2] the comm ... f[52]. */
struct statf {
	char comm[64];
	char state;
	long long f[53];
	int nfields;
	char raw[1024];
};

static int read_stat(const char *path, struct statf *s)
{
	memset(s, 0, sizeof *s);
	long n = slurp(path, s->raw, sizeof s->raw);
	if (n <= 0 || s->raw[n - 1] != '\n')
		return 0;
	char *open_p = strchr(s->raw, '('), *close_p = strrchr(s->raw, ')');
	if (!open_p || !close_p || close_p < open_p || open_p == s->raw || open_p[-1] != ' ' || close_p[1] != ' ')
		return 0;
	s->f[1] = atoll(s->raw);
	snprintf(s->comm, sizeof s->comm, "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	char copy[1024];
	snprintf(copy, sizeof copy, "%s", close_p + 2);
	copy[strcspn(copy, "\n")] = '\0';
	char *w[64];
	int nw = split_words(copy, w, 64);
	s->nfields = 2 + nw;
	if (nw < 1)
		return 0;
	s->state = w[0][0];
	for (int i = 1; i < nw && i + 3 <= 52; i++)
		s->f[i + 3] = strtoll(w[i], NULL, 10);
	/* Fields past 52 or with a sign where Linux prints %lu are format errors. */
	for (int i = 1; i < nw; i++)
		if (!is_number(w[i]) && !(w[i][0] == '-' && is_number(w[i] + 1)))
			return 0;
	return 1;
}

/* ------------------------------------------------------- pid files */

static const char *const status_order[] = {
	"Name", "Umask", "State", "Tgid", "Ngid", "Pid", "PPid", "TracerPid", "Uid", "Gid", "FDSize", "Groups", "VmPeak",
	"VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData", "VmStk", "VmExe",
	"VmLib", "VmPTE", "VmSwap", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "CapInh",
	"CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Cpus_allowed", "Cpus_allowed_list",
	"Mems_allowed", "Mems_allowed_list", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches",
};

static int is_vm_line(const char *name)
{
	return !strncmp(name, "Vm", 2) || !strncmp(name, "Rss", 3);
}

static int is_hex16(const char *s)
{
	if (strlen(s) != 16)
		return 0;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return 0;
	return 1;
}

/* Linux's "%*pbl": comma-separated "a" or "a-b" with a < b, ascending. */
static int is_bitmap_list(const char *s)
{
	long prev = -1;
	for (;;) {
		char *end;
		if (!isdigit((unsigned char)*s))
			return 0;
		long a = strtol(s, &end, 10), b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return 0;
			b = strtol(end + 1, &end, 10);
			if (b <= a)
				return 0;
		}
		if (a <= prev)
			return 0;
		prev = b;
		if (*end == '\0')
			return 1;
		if (*end != ',')
			return 0;
		s = end + 1;
	}
}

static void check_status_format(const char *text, const char *prog)
{
	char copy[8192];
	snprintf(copy, sizeof copy, "%s", text);
	struct fmt_err e = {0};
	size_t next = 0;
	int lineno = 0;
	char *cur = copy, *l;
	while ((l = next_line(&cur))) {
		lineno++;
		char *tab = strchr(l, '\t');
		char *colon = strchr(l, ':');
		if (!colon || !tab || tab != colon + 1) {
			fmt_fail(&e, lineno, l, "Name:\\tvalue");
			continue;
		}
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(colon - l), l);
		const char *val = tab + 1;
		char want[200] = "";
		int ok = 1;
		for (size_t i = next; i < sizeof status_order / sizeof *status_order; i++)
			if (!strcmp(status_order[i], name)) {
				if (i != next)
					fmt_fail(&e, lineno, l, "(a line missing or out of order before this one)");
				next = i + 1;
				break;
			}
		if (is_vm_line(name)) {
			snprintf(want, sizeof want, "%s:\t%8llu kB", name, strtoull(val, NULL, 10));
			ok = !strcmp(l, want);
		} else if (!strcmp(name, "Name")) {
			snprintf(want, sizeof want, "Name:\t%s", prog);
			ok = !strcmp(l, want);
		} else if (!strcmp(name, "State")) {
			snprintf(want, sizeof want, "State:\tR (running)|S (sleeping)|Z (zombie)|D (disk sleep)");
			ok = strlen(val) > 4 && val[1] == ' ' && val[2] == '(' && val[strlen(val) - 1] == ')';
		} else if (!strcmp(name, "Groups")) {
			/* "%u %u ... " : each group, then one space (also with none). */
			snprintf(want, sizeof want, "Groups:\t[%%u ]... ");
			size_t vl = strlen(val);
			ok = vl >= 1 && val[vl - 1] == ' ';
			for (size_t i = 0; ok && i + 1 < vl; i++)
				ok = isdigit((unsigned char)val[i]) || (val[i] == ' ' && i > 0 && isdigit((unsigned char)val[i - 1]));
		} else if (!strcmp(name, "Cpus_allowed_list") || !strcmp(name, "Mems_allowed_list")) {
			snprintf(want, sizeof want, "%s:\t%%*pbl (a or a-b with a < b, comma-separated)", name);
			ok = is_bitmap_list(val);
		} else if (!strcmp(name, "Umask")) {
			snprintf(want, sizeof want, "Umask:\t%%04o");
			ok = strlen(val) == 4 && val[0] == '0' && strspn(val, "01234567") == 4;
		} else if (!strcmp(name, "Uid") || !strcmp(name, "Gid")) {
			char c2[64], *w[8];
			snprintf(c2, sizeof c2, "%s", val);
			snprintf(want, sizeof want, "%s:\t%%u\t%%u\t%%u\t%%u", name);
			ok = split_words(c2, w, 8) == 4 && strchr(val, ' ') == NULL;
			for (int i = 0; ok && i < 4; i++)
				ok = is_number(w[i]);
		} else if (!strncmp(name, "Sig", 3) && strcmp(name, "SigQ") != 0) {
			snprintf(want, sizeof want, "%s:\t%%016lx", name);
			ok = is_hex16(val);
		} else if (!strcmp(name, "ShdPnd") || !strncmp(name, "Cap", 3)) {
			snprintf(want, sizeof want, "%s:\t%%016lx", name);
			ok = is_hex16(val);
		} else if (!strcmp(name, "SigQ")) {
			snprintf(want, sizeof want, "SigQ:\t%%d/%%d");
			const char *slash = strchr(val, '/');
			ok = slash && slash > val && strspn(val, "0123456789") == (size_t)(slash - val) && is_number(slash + 1);
		} else if (!strcmp(name, "Tgid") || !strcmp(name, "Pid") || !strcmp(name, "PPid") ||
			   !strcmp(name, "TracerPid") || !strcmp(name, "Threads") || !strcmp(name, "FDSize") ||
			   !strcmp(name, "Ngid") || !strcmp(name, "NoNewPrivs") || !strcmp(name, "Seccomp") ||
			   !strcmp(name, "voluntary_ctxt_switches") || !strcmp(name, "nonvoluntary_ctxt_switches")) {
			snprintf(want, sizeof want, "%s:\t%%d", name);
			ok = is_number(val);
		}
		if (!ok)
			fmt_fail(&e, lineno, l, want);
	}
	if (next != sizeof status_order / sizeof *status_order)
		fmt_fail(&e, lineno, "(end of file)", status_order[next]);
	fmt_check("status_format", &e);
}

/*
 * /proc/self/exe, cwd and root: symbolic links to this program's file
 * (its name ends the link, and the link opens the same file), the working
 * directory (as getcwd) and "/"; lstat says link; another user's process
 * refuses a reader without ptrace access (EACCES).
 */
static void check_self_links(char **argv)
{
	char exe[512] = "", cwd[512] = "", here[512] = "", root[64] = "";
	ssize_t ne = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ssize_t nc = readlink("/proc/self/cwd", cwd, sizeof cwd - 1);
	ssize_t nr = readlink("/proc/self/root", root, sizeof root - 1);
	if (!getcwd(here, sizeof here))
		here[0] = 0;
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	const char *ebase = strrchr(exe, '/');
	struct stat ls, via, direct;
	int lok = lstat("/proc/self/exe", &ls) == 0 && S_ISLNK(ls.st_mode);
	int same = stat("/proc/self/exe", &via) == 0 && stat(exe, &direct) == 0 && via.st_ino == direct.st_ino &&
		   via.st_dev == direct.st_dev;
	CHECKF("self_links",
	       ne > 0 && ebase && !strcmp(ebase + 1, base) && nc > 0 && !strcmp(cwd, here) && nr == 1 &&
		       root[0] == '/' && lok && same,
	       "exe '%s' (%zd), cwd '%s' (%zd) vs '%s', root '%s' (%zd), lstat link %d, same file %d", exe, ne, cwd,
	       nc, here, root, nr, lok, same);
	if (geteuid() != 0) {
		check_skip("other_exe_eacces", "not root: cannot make a process of another user");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		char link[64], t[256];
		snprintf(link, sizeof link, "/proc/%d/exe", (int)getppid());
		ssize_t n = readlink(link, t, sizeof t);
		_exit(n == -1 && errno == EACCES ? 0 : 1);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("other_exe_eacces", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

/*
 * /proc/self/fd: a link per descriptor. A file reads as its path, a pipe
 * as pipe:[INO], a memfd as /memfd:NAME (deleted); the link's mode says
 * how it was opened; the directory lists them; opening a pipe's link
 * reopens the pipe itself (a magic link); another user may not look.
 */
static void check_fd_links(char **argv)
{
	int p[2] = {-1, -1};
	int ok_pipe = pipe(p) == 0;
	int mfd = (int)syscall(SYS_memfd_create, "fdlink", 0);
	char self[512] = "";
	ssize_t ns = readlink("/proc/self/exe", self, sizeof self - 1);
	int ro = ns > 0 ? open(self, O_RDONLY) : -1;
	char link[64], t_pipe[64] = "", t_mem[64] = "", t_ro[512] = "";
	snprintf(link, sizeof link, "/proc/self/fd/%d", p[0]);
	readlink(link, t_pipe, sizeof t_pipe - 1);
	snprintf(link, sizeof link, "/proc/self/fd/%d", mfd);
	readlink(link, t_mem, sizeof t_mem - 1);
	snprintf(link, sizeof link, "/proc/self/fd/%d", ro);
	readlink(link, t_ro, sizeof t_ro - 1);
	struct stat ps;
	fstat(p[0], &ps);
	char want_pipe[64];
	snprintf(want_pipe, sizeof want_pipe, "pipe:[%lu]", (unsigned long)ps.st_ino);
	CHECKF("fd_link_targets",
	       ok_pipe && !strcmp(t_pipe, want_pipe) && !strcmp(t_mem, "/memfd:fdlink (deleted)") && ro >= 0 &&
		       !strcmp(t_ro, self),
	       "pipe '%s' (want '%s'), memfd '%s', file '%s' (want '%s')", t_pipe, want_pipe, t_mem, t_ro, self);

	struct stat lr, lw, lrw;
	snprintf(link, sizeof link, "/proc/self/fd/%d", p[0]);
	int a = lstat(link, &lr);
	snprintf(link, sizeof link, "/proc/self/fd/%d", p[1]);
	int b = lstat(link, &lw);
	snprintf(link, sizeof link, "/proc/self/fd/%d", mfd);
	int c = lstat(link, &lrw);
	CHECKF("fd_link_modes",
	       !a && !b && !c && S_ISLNK(lr.st_mode) && (lr.st_mode & 0777) == 0500 && (lw.st_mode & 0777) == 0300 &&
		       (lrw.st_mode & 0777) == 0700,
	       "read end %o, write end %o, memfd %o", lr.st_mode & 0777, lw.st_mode & 0777, lrw.st_mode & 0777);

	int listed = 0;
	char names[4][16];
	int want[4] = {p[0], p[1], mfd, ro};
	for (int i = 0; i < 4; i++)
		snprintf(names[i], sizeof names[i], "%d", want[i]);
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	char dbuf[4096];
	long n;
	while (dfd >= 0 && (n = syscall(SYS_getdents64, dfd, dbuf, sizeof dbuf)) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(dbuf + off);
			for (int i = 0; i < 4; i++)
				if (!strcmp(d->name, names[i]) && d->type == 10)
					listed++;
			off += d->reclen;
		}
	}
	if (dfd >= 0)
		close(dfd);
	CHECKF("fd_dir_lists", listed == 4, "%d of the 4 descriptors listed as links", listed);

	snprintf(link, sizeof link, "/proc/self/fd/%d", p[1]);
	int again = open(link, O_WRONLY);
	long w = again >= 0 ? write(again, "m", 1) : -1;
	char got = 0;
	long r = read(p[0], &got, 1);
	CHECKF("fd_magic_reopen", again >= 0 && w == 1 && r == 1 && got == 'm', "reopen %d errno %d, write %ld, read %ld",
	       again, errno, w, r);
	if (again >= 0)
		close(again);

	if (geteuid() == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(2);
			char dir[64];
			snprintf(dir, sizeof dir, "/proc/%d/fd", (int)getppid());
			int d = open(dir, O_RDONLY | O_DIRECTORY);
			_exit(d == -1 && errno == EACCES ? 0 : 1);
		}
		int st = -1;
		waitpid(pid, &st, 0);
		CHECKF("fd_dir_other_eacces", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	} else {
		check_skip("fd_dir_other_eacces", "not root");
	}
	(void)argv;
	close(p[0]);
	close(p[1]);
	close(mfd);
	close(ro);
}

static void check_self_files(int argc, char **argv)
{
	static char status[8192], status2[8192], statm[256], cmd[4096];
	memset(status, 0, sizeof status);
	memset(status2, 0, sizeof status2);
	memset(statm, 0, sizeof statm);
	memset(cmd, 0, sizeof cmd);
	long ns = slurp("/proc/self/status", status, sizeof status);
	long nm = slurp("/proc/self/statm", statm, sizeof statm);
	struct statf st;
	int sok = read_stat("/proc/self/stat", &st);
	long ns2 = slurp("/proc/self/status", status2, sizeof status2);
	if (!CHECKF("self_files_read", ns > 0 && nm > 0 && ns2 > 0, "status %ld statm %ld: %s", ns, nm, strerror(errno)))
		return;

	check_status_format(status, "t_proc");
	CHECKF("status_state_running", find_line(status, "State:\tR (running)\n") != NULL, "%s",
	       find_line(status, "State:") ? find_line(status, "State:") : "no State line");
	CHECKF("status_pid_is_getpid", field(status, "Pid:\t") == getpid() && field(status, "Tgid:\t") == getpid(),
	       "Pid %lld Tgid %lld getpid %d", field(status, "Pid:\t"), field(status, "Tgid:\t"), (int)getpid());
	CHECKF("status_ppid_is_getppid", field(status, "PPid:\t") == getppid(), "PPid %lld getppid %d",
	       field(status, "PPid:\t"), (int)getppid());
	CHECKF("status_uid_is_getuid", field(status, "Uid:\t") == (long long)getuid(), "Uid %lld getuid %d",
	       field(status, "Uid:\t"), (int)getuid());
	CHECKF("status_threads_1", field(status, "Threads:\t") == 1, "Threads %lld", field(status, "Threads:\t"));
	long long vmsize = field(status, "VmSize:"), rss = field(status, "VmRSS:");
	long long ra = field(status, "RssAnon:"), rf = field(status, "RssFile:"), rsh = field(status, "RssShmem:");
	CHECKF("status_rss_sum", rss == ra + rf + rsh, "VmRSS %lld RssAnon %lld RssFile %lld RssShmem %lld", rss, ra, rf,
	       rsh);
	CHECKF("status_peaks", field(status, "VmPeak:") >= vmsize && field(status, "VmHWM:") >= rss && rss > 0,
	       "VmPeak %lld VmSize %lld VmHWM %lld VmRSS %lld", field(status, "VmPeak:"), vmsize, field(status, "VmHWM:"),
	       rss);
	CHECKF("status_vm_parts", field(status, "VmData:") > 0 && field(status, "VmStk:") > 0 &&
					  field(status, "VmExe:") > 0 && field(status, "VmPTE:") > 0 &&
					  field(status, "VmData:") + field(status, "VmStk:") + field(status, "VmExe:") <= vmsize,
	       "VmData %lld VmStk %lld VmExe %lld VmPTE %lld VmSize %lld", field(status, "VmData:"),
	       field(status, "VmStk:"), field(status, "VmExe:"), field(status, "VmPTE:"), vmsize);

	/* statm: size resident shared text lib data dt, in pages. */
	unsigned long long sm[8];
	int pos = 0;
	int n7 = sscanf(statm, "%llu %llu %llu %llu %llu %llu %llu%n", &sm[0], &sm[1], &sm[2], &sm[3], &sm[4], &sm[5],
			&sm[6], &pos);
	char want[256];
	snprintf(want, sizeof want, "%llu %llu %llu %llu %llu %llu %llu\n", sm[0], sm[1], sm[2], sm[3], sm[4], sm[5],
		 sm[6]);
	CHECKF("statm_format", n7 == 7 && strcmp(statm, want) == 0, "got '%s' want '%s'", statm, want);
	CHECKF("statm_size_is_vmsize", (long long)sm[0] * 4 == vmsize, "statm size %llu pages, VmSize %lld kB", sm[0],
	       vmsize);
	CHECKF("statm_resident_is_vmrss", (long long)sm[1] * 4 == rss, "statm resident %llu pages, VmRSS %lld kB", sm[1],
	       rss);
	CHECKF("statm_shared_is_file_plus_shmem", (long long)sm[2] * 4 == rf + rsh,
	       "statm shared %llu pages, RssFile + RssShmem %lld kB", sm[2], rf + rsh);
	CHECKF("statm_text_covers_vmexe", (long long)sm[3] * 4 >= field(status, "VmExe:") && sm[3] > 0,
	       "statm text %llu pages, VmExe %lld kB", sm[3], field(status, "VmExe:"));
	CHECKF("statm_data_is_vmdata_plus_vmstk", (long long)sm[5] * 4 == field(status, "VmData:") + field(status, "VmStk:"),
	       "statm data %llu pages, VmData %lld + VmStk %lld kB", sm[5], field(status, "VmData:"),
	       field(status, "VmStk:"));
	CHECKF("statm_lib_dt_zero", sm[4] == 0 && sm[6] == 0, "lib %llu dt %llu", sm[4], sm[6]);

	/* stat */
	if (!CHECKF("stat_format", sok && st.nfields == 52, "%d fields: %s", st.nfields, st.raw))
		return;
	CHECKF("stat_pid_comm_state", st.f[1] == getpid() && !strcmp(st.comm, "t_proc") && st.state == 'R',
	       "pid %lld comm (%s) state %c", st.f[1], st.comm, st.state);
	CHECKF("stat_ppid", st.f[4] == getppid(), "ppid %lld getppid %d", st.f[4], (int)getppid());
	CHECKF("stat_vsize_is_vmsize", st.f[23] == vmsize * 1024, "vsize %lld, VmSize %lld kB", st.f[23], vmsize);
	CHECKF("stat_rss_near_vmrss", llabs_(st.f[24] * 4 - rss) <= 256, "rss %lld pages, VmRSS %lld kB", st.f[24], rss);
	CHECKF("stat_fixed_fields", st.f[18] == 20 && st.f[19] == 0 && st.f[20] == 1 && st.f[38] == 17 && st.f[52] == 0,
	       "priority %lld nice %lld threads %lld exit_signal %lld exit_code %lld", st.f[18], st.f[19], st.f[20],
	       st.f[38], st.f[52]);
	unsigned long code = (unsigned long)&check_self_files;
	CHECKF("stat_code_range", (unsigned long)st.f[26] <= code && code < (unsigned long)st.f[27],
	       "startcode %#llx endcode %#llx, a function at %#lx", st.f[26], st.f[27], code);
	int local = 0;
	unsigned long sp = (unsigned long)&local, stk = (unsigned long)st.f[28];
	CHECKF("stat_startstack", stk > sp && stk - sp < (1UL << 20), "startstack %#lx, a local at %#lx", stk, sp);
	unsigned long arg_start = (unsigned long)st.f[48], arg_end = (unsigned long)st.f[49];
	unsigned long want_end = (unsigned long)argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	CHECKF("stat_arg_range", arg_start == (unsigned long)argv[0] && arg_end == want_end,
	       "arg_start %#lx arg_end %#lx, argv[0] at %p, end of argv %#lx", arg_start, arg_end, (void *)argv[0],
	       want_end);
	unsigned long env_start = (unsigned long)st.f[50];
	CHECKF("stat_env_start", environ[0] && env_start == (unsigned long)environ[0], "env_start %#lx, environ[0] at %p",
	       env_start, (void *)environ[0]);
	unsigned long brk_now = (unsigned long)syscall(SYS_brk, 0);
	CHECKF("stat_start_brk", (unsigned long)st.f[47] <= brk_now && st.f[47] > 0, "start_brk %#llx, brk %#lx", st.f[47],
	       brk_now);
	CHECKF("stat_start_end_data", st.f[45] <= st.f[46] && st.f[45] > 0, "start_data %#llx end_data %#llx", st.f[45],
	       st.f[46]);

	/* cmdline: argv, each NUL-terminated. */
	long nc = slurp("/proc/self/cmdline", cmd, sizeof cmd);
	char expect[4096];
	size_t el = 0;
	for (int i = 0; i < argc && el < sizeof expect; i++) {
		size_t k = strlen(argv[i]) + 1;
		if (el + k > sizeof expect)
			break;
		memcpy(expect + el, argv[i], k);
		el += k;
	}
	CHECKF("cmdline_is_argv", nc == (long)el && memcmp(cmd, expect, el) == 0, "read %ld bytes, want %zu: '%s'", nc,
	       el, cmd);

	/* comm, read one byte at a time. */
	char comm[64];
	size_t cl = 0;
	int fd = open("/proc/self/comm", O_RDONLY);
	while (fd >= 0 && cl + 1 < sizeof comm && read(fd, comm + cl, 1) == 1)
		cl++;
	comm[cl] = '\0';
	if (fd >= 0)
		close(fd);
	CHECKF("comm_bytewise", !strcmp(comm, "t_proc\n"), "got '%s'", comm);

	/* /proc/PID is /proc/self. */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
	long np = slurp(path, status2, sizeof status2);
	CHECKF("proc_pid_is_self", np > 0 && field(status2, "Pid:\t") == getpid(), "%s: %ld, Pid %lld", path, np,
	       np > 0 ? field(status2, "Pid:\t") : -1);
	struct stat sb;
	int r = stat("/proc/self", &sb);
	CHECKF("proc_self_is_dir", r == 0 && S_ISDIR(sb.st_mode), "stat: %d mode %#o", r, (unsigned)sb.st_mode);
	CHECK_ERRNO("proc_missing_pid_enoent", open("/proc/999999/status", O_RDONLY), ENOENT);
	CHECK_ERRNO("proc_missing_file_enoent", open("/proc/self/no_such_file", O_RDONLY), ENOENT);
}

/* -------------------------------------------------------------- smaps */

#define MAX_FIELDS 40
struct smap {
	struct map m;
	int nf;
	char name[MAX_FIELDS][24];
	long long v[MAX_FIELDS];
};

static struct smap smaps[MAX_MAPS];
static int nsmaps;

static long long smap_field(const struct smap *s, const char *name)
{
	for (int i = 0; i < s->nf; i++)
		if (!strcmp(s->name[i], name))
			return s->v[i];
	return -1;
}

static const char *const smaps_order[] = {
	"Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty",
	"Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
	"ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked",
	"THPeligible", "VmFlags",
};

static const char *const rollup_order[] = {
	"Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean", "Shared_Dirty",
	"Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
	"ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked",
};

/* A "Name:   value [kB]" or "VmFlags: .." line of smaps into S. */
static void smaps_field_line(char *l, struct smap *s, int lineno, struct fmt_err *e)
{
	char *colon = strchr(l, ':');
	if (!colon || colon - l > 22) {
		fmt_fail(e, lineno, l, "Name: value");
		return;
	}
	if (s->nf == MAX_FIELDS)
		return;
	snprintf(s->name[s->nf], sizeof s->name[0], "%.*s", (int)(colon - l), l);
	char want[200];
	if (!strcmp(s->name[s->nf], "VmFlags")) {
		/* "VmFlags: rd wr mr " : two-character mnemonics, each with a space. */
		const char *p = colon + 1;
		int ok = *p == ' ';
		p++;
		while (ok && *p) {
			ok = isalnum((unsigned char)p[0]) && isalnum((unsigned char)p[1]) && p[2] == ' ';
			p += ok ? 3 : 0;
		}
		if (!ok)
			fmt_fail(e, lineno, l, "VmFlags: xx xx ");
		s->v[s->nf++] = 0;
		return;
	}
	unsigned long long v = strtoull(colon + 1, NULL, 10);
	size_t len = strlen(l);
	const char *unit = len > 3 && !strcmp(l + len - 3, " kB") ? " kB" : "";
	char label[32];
	snprintf(label, sizeof label, "%s:", s->name[s->nf]);
	snprintf(want, sizeof want, "%-16s%8llu%s", label, v, unit);
	int kb_expected = strcmp(label, "THPeligible:") != 0 && strcmp(label, "ProtectionKey:") != 0;
	if (strcmp(l, want) != 0 || (kb_expected && !*unit)) {
		snprintf(want, sizeof want, "%-16s%8llu%s", label, v, kb_expected ? " kB" : "");
		fmt_fail(e, lineno, l, want);
	}
	s->v[s->nf++] = (long long)v;
}

/* Check that the names of S, restricted to ORDER, are exactly ORDER. */
static int fields_in_order(const struct smap *s, const char *const *order, size_t n, char *why, size_t wn)
{
	size_t k = 0;
	for (int i = 0; i < s->nf; i++) {
		size_t j;
		for (j = 0; j < n; j++)
			if (!strcmp(order[j], s->name[i]))
				break;
		if (j == n)
			continue; /* a line this check does not know (ProtectionKey...) */
		if (j != k) {
			snprintf(why, wn, "%s where %s was expected", s->name[i], k < n ? order[k] : "(end)");
			return 0;
		}
		k++;
	}
	if (k != n) {
		snprintf(why, wn, "%s missing", order[k]);
		return 0;
	}
	return 1;
}

static int load_smaps(struct fmt_err *e)
{
	long n = slurp("/proc/self/smaps", buf_b, BUFSZ);
	if (n <= 0 || buf_b[n - 1] != '\n')
		return 0;
	char *cur = buf_b, *l;
	int lineno = 0;
	nsmaps = 0;
	while ((l = next_line(&cur))) {
		lineno++;
		unsigned long a, b;
		char sp = 0;
		if (sscanf(l, "%lx-%lx%c", &a, &b, &sp) == 3 && sp == ' ') {
			char want[300];
			if (nsmaps == MAX_MAPS)
				break;
			struct smap *s = &smaps[nsmaps++];
			s->nf = 0;
			if (!parse_map_line(l, &s->m, want, sizeof want))
				fmt_fail(e, lineno, l, want);
			continue;
		}
		if (nsmaps == 0) {
			fmt_fail(e, lineno, l, "a maps header first");
			continue;
		}
		smaps_field_line(l, &smaps[nsmaps - 1], lineno, e);
	}
	return 1;
}

static void check_maps_smaps(void)
{
	/* A heap for sure: grow the break by two pages and touch them. */
	unsigned long brk0 = (unsigned long)syscall(SYS_brk, 0);
	unsigned long brk1 = (unsigned long)syscall(SYS_brk, brk0 + 2 * PAGE);
	if (brk1 == brk0 + 2 * PAGE)
		memset((void *)brk0, 1, 2 * PAGE);
	CHECKF("brk_grows", brk1 == brk0 + 2 * PAGE, "brk(%#lx) = %#lx", brk0 + 2 * PAGE, brk1);

	if (!load_maps("maps_format"))
		return;
	struct statf st;
	read_stat("/proc/self/stat", &st);
	unsigned long start_brk = (unsigned long)st.f[47], brk_now = (unsigned long)syscall(SYS_brk, 0);

	int sorted = 1;
	for (int i = 1; i < nmaps; i++)
		sorted &= maps[i - 1].end <= maps[i].start && maps[i].start < maps[i].end;
	CHECKF("maps_sorted_disjoint", sorted && nmaps > 3, "%d areas", nmaps);

	int local = 0;
	const struct map *stk = map_of((unsigned long)&local);
	CHECKF("maps_stack_named", stk && !strcmp(stk->name, "[stack]") && stk->perms[0] == 'r' && stk->perms[1] == 'w',
	       "area of a local: %s", stk ? stk->head : "none");
	const struct map *st_area = map_of((unsigned long)st.f[28]);
	CHECKF("maps_startstack_in_stack", st_area && !strcmp(st_area->name, "[stack]"), "startstack %#llx in %s",
	       st.f[28], st_area ? st_area->head : "no area");
	const struct map *heap = map_of(brk_now - 1);
	CHECKF("maps_heap_named", heap && !strcmp(heap->name, "[heap]"), "area of brk-1 (%#lx): %s %s", brk_now - 1,
	       heap ? heap->head : "none", heap ? heap->name : "");
	int heap_bad = 0;
	char heap_why[200] = "";
	for (int i = 0; i < nmaps; i++) {
		if (strcmp(maps[i].name, "[heap]"))
			continue;
		/* Linux: an anonymous area with start < brk and end > start_brk. */
		if (!(maps[i].start < brk_now && maps[i].end > start_brk) && !heap_bad++)
			snprintf(heap_why, sizeof heap_why, "%s[heap] but start_brk %#lx brk %#lx", maps[i].head, start_brk,
				 brk_now);
	}
	CHECKF("maps_heap_only_brk_area", !heap_bad, "%s", heap_why);
	const struct map *exe = map_of((unsigned long)&check_maps_smaps);
	size_t nl = exe ? strlen(exe->name) : 0;
	CHECKF("maps_exe_named", exe && nl >= 7 && !strcmp(exe->name + nl - 7, "/t_proc") && exe->perms[2] == 'x' &&
					 exe->ino != 0,
	       "area of the code: %s%s", exe ? exe->head : "none", exe ? exe->name : "");

	/* smaps: the same areas, each with its fields. */
	struct fmt_err e = {0};
	int ok = load_smaps(&e);
	if (!CHECKF("smaps_read", ok, "%s", strerror(errno)))
		return;
	fmt_check("smaps_format", &e);
	int same = nsmaps == nmaps;
	for (int i = 0; same && i < nmaps; i++)
		same = !strcmp(smaps[i].m.head, maps[i].head) && !strcmp(smaps[i].m.name, maps[i].name);
	CHECKF("smaps_headers_are_maps", same, "%d smaps areas, %d maps areas", nsmaps, nmaps);
	int order_bad = 0, sums_bad = 0;
	char why[300] = "";
	long long rss_sum = 0, pss_sum = 0, anon_sum = 0;
	for (int i = 0; i < nsmaps; i++) {
		const struct smap *s = &smaps[i];
		char w[200];
		if (!fields_in_order(s, smaps_order, sizeof smaps_order / sizeof *smaps_order, w, sizeof w)) {
			if (!order_bad++)
				snprintf(why, sizeof why, "%s: %s", s->m.head, w);
			continue;
		}
		long long size = smap_field(s, "Size"), rss = smap_field(s, "Rss"), pss = smap_field(s, "Pss");
		long long parts = smap_field(s, "Shared_Clean") + smap_field(s, "Shared_Dirty") +
				  smap_field(s, "Private_Clean") + smap_field(s, "Private_Dirty");
		int good = size == (long long)(s->m.end - s->m.start) / 1024 && smap_field(s, "KernelPageSize") == 4 &&
			   smap_field(s, "MMUPageSize") == 4 && rss <= size && rss == parts && pss <= rss &&
			   smap_field(s, "Anonymous") <= rss && smap_field(s, "Referenced") <= rss &&
			   smap_field(s, "Pss_Dirty") <= pss && smap_field(s, "Locked") <= pss;
		if (!good && !sums_bad++)
			snprintf(why, sizeof why, "%s: Size %lld Rss %lld Pss %lld Shared+Private %lld Anonymous %lld", s->m.head,
				 size, rss, pss, parts, smap_field(s, "Anonymous"));
		rss_sum += rss;
		pss_sum += pss;
		anon_sum += smap_field(s, "Anonymous");
	}
	CHECKF("smaps_fields_in_linux_order", !order_bad, "%d areas; %s", order_bad, why);
	CHECKF("smaps_numbers_consistent", !sums_bad, "%d areas; %s", sums_bad, why);

	/* smaps_rollup: header over all areas (without [vsyscall]) and totals. */
	long n = slurp("/proc/self/smaps_rollup", buf_c, BUFSZ);
	static char status[8192];
	memset(status, 0, sizeof status);
	long ns = slurp("/proc/self/status", status, sizeof status);
	if (!CHECKF("smaps_rollup_read", n > 0 && buf_c[n - 1] == '\n' && ns > 0, "read %ld: %s", n, strerror(errno)))
		return;
	char *cur = buf_c, *l = next_line(&cur);
	struct smap r = {0};
	char want[300];
	int last = nmaps - 1;
	while (last > 0 && !strcmp(maps[last].name, "[vsyscall]"))
		last--;
	char head[120];
	snprintf(head, sizeof head, "%08lx-%08lx ---p 00000000 00:00 0 ", maps[0].start, maps[last].end);
	snprintf(want, sizeof want, "%-72s [rollup]", head);
	CHECKF("smaps_rollup_header", l && !strcmp(l, want), "got '%s' want '%s'", l ? l : "", want);
	struct fmt_err re = {0};
	int lineno = 1;
	while ((l = next_line(&cur)))
		smaps_field_line(l, &r, ++lineno, &re);
	fmt_check("smaps_rollup_format", &re);
	char w[200] = "";
	CHECKF("smaps_rollup_fields_in_linux_order",
	       fields_in_order(&r, rollup_order, sizeof rollup_order / sizeof *rollup_order, w, sizeof w), "%s", w);
	long long rr = smap_field(&r, "Rss"), rp = smap_field(&r, "Pss");
	CHECKF("smaps_rollup_rss_is_sum", llabs_(rr - rss_sum) <= 32, "rollup Rss %lld, sum of smaps Rss %lld", rr,
	       rss_sum);
	CHECKF("smaps_rollup_anon_is_sum", llabs_(smap_field(&r, "Anonymous") - anon_sum) <= 32,
	       "rollup Anonymous %lld, sum of smaps %lld", smap_field(&r, "Anonymous"), anon_sum);
	/* Each area's Pss is rounded down to a kB, the total only once. */
	CHECKF("smaps_rollup_pss_is_sum", rp >= pss_sum - 32 && rp <= pss_sum + nsmaps + 32,
	       "rollup Pss %lld, sum of smaps Pss %lld", rp, pss_sum);
	long long pa = smap_field(&r, "Pss_Anon"), pf = smap_field(&r, "Pss_File"), psh = smap_field(&r, "Pss_Shmem");
	CHECKF("smaps_rollup_pss_split", pa >= 0 && pf >= 0 && psh >= 0 && llabs_(pa + pf + psh - rp) <= 2,
	       "Pss_Anon %lld + Pss_File %lld + Pss_Shmem %lld vs Pss %lld", pa, pf, psh, rp);
	/* Private anonymous memory only here: Pss_Anon is Anonymous. */
	CHECKF("smaps_rollup_pss_anon_is_anonymous", llabs_(pa - smap_field(&r, "Anonymous")) <= 4,
	       "Pss_Anon %lld, Anonymous %lld", pa, smap_field(&r, "Anonymous"));
	long long vmrss = field(status, "VmRSS:");
	CHECKF("smaps_rollup_rss_is_vmrss", llabs_(rr - vmrss) <= 64, "rollup Rss %lld, VmRSS %lld", rr, vmrss);
}

/* ------------------------------------------------ faults move counters */

static void check_fault_counters(void)
{
	static char status[8192];
	memset(status, 0, sizeof status);
	struct statf s0, s1;
	long a = slurp("/proc/self/status", status, sizeof status);
	long long rss0 = field(status, "VmRSS:"), anon0 = field(status, "RssAnon:"), size0 = field(status, "VmSize:");
	int ok0 = read_stat("/proc/self/stat", &s0);
	long b = slurp("/proc/vmstat", buf_a, BUFSZ);
	long long pgf0 = vmstat_value(buf_a, "pgfault");

	size_t len = 1UL << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("fault_mmap_1mib", p != MAP_FAILED && a > 0 && b > 0 && ok0, "mmap: %s", strerror(errno)))
		return;
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = (char)i | 1;

	long a1 = slurp("/proc/self/status", status, sizeof status);
	long long rss1 = field(status, "VmRSS:"), anon1 = field(status, "RssAnon:"), size1 = field(status, "VmSize:");
	int ok1 = read_stat("/proc/self/stat", &s1);
	long b1 = slurp("/proc/vmstat", buf_a, BUFSZ);
	long long pgf1 = vmstat_value(buf_a, "pgfault");
	munmap(p, len);
	if (!CHECKF("fault_reread", a1 > 0 && b1 > 0 && ok1, "%s", strerror(errno)))
		return;
	CHECKF("fault_vmsize_grows_1024kb", size1 - size0 == 1024, "VmSize %lld -> %lld kB", size0, size1);
	CHECKF("fault_vmrss_grows_1024kb", rss1 - rss0 >= 1024 && anon1 - anon0 >= 1024,
	       "VmRSS %lld -> %lld kB, RssAnon %lld -> %lld kB", rss0, rss1, anon0, anon1);
	CHECKF("fault_minflt_grows_256", s1.f[10] - s0.f[10] >= 256, "minflt %lld -> %lld", s0.f[10], s1.f[10]);
	CHECKF("fault_majflt_unchanged", s1.f[12] == s0.f[12], "majflt %lld -> %lld", s0.f[12], s1.f[12]);
	CHECKF("fault_vmstat_pgfault_grows_256", pgf1 - pgf0 >= 256, "pgfault %lld -> %lld", pgf0, pgf1);

	long a2 = slurp("/proc/self/status", status, sizeof status);
	long long size2 = field(status, "VmSize:");
	CHECKF("fault_munmap_shrinks_vmsize", a2 > 0 && size2 == size0, "VmSize %lld after munmap, %lld before", size2,
	       size0);
}

/* An 8-page mapping (between two PROT_NONE guard pages, so that it merges
 * with nothing) with 3 pages touched. */
static void check_small_mapping(void)
{
	char *g = mmap(NULL, 10 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("small_mmap", g != MAP_FAILED, "mmap: %s", strerror(errno)))
		return;
	int r1 = mprotect(g, PAGE, PROT_NONE), r2 = mprotect(g + 9 * PAGE, PAGE, PROT_NONE);
	char *p = g + PAGE;
	p[0] = 1;
	p[3 * PAGE] = 2;
	p[7 * PAGE + 100] = 3;

	int ok = load_maps("small_maps_format");
	char line[100], guard1[100], guard2[100];
	snprintf(line, sizeof line, "%08lx-%08lx rw-p 00000000 00:00 0 ", (unsigned long)p, (unsigned long)(p + 8 * PAGE));
	snprintf(guard1, sizeof guard1, "%08lx-%08lx ---p 00000000 00:00 0 ", (unsigned long)g, (unsigned long)p);
	snprintf(guard2, sizeof guard2, "%08lx-%08lx ---p 00000000 00:00 0 ", (unsigned long)(p + 8 * PAGE),
		 (unsigned long)(g + 10 * PAGE));
	const struct map *m = map_of((unsigned long)p);
	CHECKF("small_maps_line", ok && r1 == 0 && r2 == 0 && m && !strcmp(m->head, line) && !m->name[0],
	       "mprotect %d/%d; want '%s', got '%s%s'", r1, r2, line, m ? m->head : "no area", m ? m->name : "");
	const struct map *m1 = map_of((unsigned long)g), *m2 = map_of((unsigned long)(p + 8 * PAGE));
	CHECKF("small_maps_guards", m1 && m2 && !strcmp(m1->head, guard1) && !strcmp(m2->head, guard2),
	       "want '%s' and '%s', got '%s' and '%s'", guard1, guard2, m1 ? m1->head : "none", m2 ? m2->head : "none");

	struct fmt_err e = {0};
	if (!CHECKF("small_smaps_read", load_smaps(&e) && !e.bad, "%d format errors: %s", e.bad, e.got))
		goto out;
	const struct smap *s = NULL;
	for (int i = 0; i < nsmaps; i++)
		if (!strcmp(smaps[i].m.head, line))
			s = &smaps[i];
	if (!CHECKF("small_smaps_area", s != NULL, "no smaps area '%s'", line))
		goto out;
	long long size = smap_field(s, "Size"), rss = smap_field(s, "Rss"), anon = smap_field(s, "Anonymous");
	CHECKF("small_smaps_size_rss_anon", size == 32 && rss == 12 && anon == 12, "Size %lld Rss %lld Anonymous %lld",
	       size, rss, anon);
	CHECKF("small_smaps_private_dirty", smap_field(s, "Pss") == 12 && smap_field(s, "Private_Dirty") == 12 &&
						    smap_field(s, "Private_Clean") == 0 && smap_field(s, "Shared_Clean") == 0 &&
						    smap_field(s, "Shared_Dirty") == 0 && smap_field(s, "Swap") == 0,
	       "Pss %lld Private_Dirty %lld Private_Clean %lld Shared %lld/%lld Swap %lld", smap_field(s, "Pss"),
	       smap_field(s, "Private_Dirty"), smap_field(s, "Private_Clean"), smap_field(s, "Shared_Clean"),
	       smap_field(s, "Shared_Dirty"), smap_field(s, "Swap"));
	const struct smap *sg = NULL;
	for (int i = 0; i < nsmaps; i++)
		if (!strcmp(smaps[i].m.head, guard1))
			sg = &smaps[i];
	CHECKF("small_smaps_guard_empty", sg && smap_field(sg, "Size") == 4 && smap_field(sg, "Rss") == 0,
	       "guard: Size %lld Rss %lld", sg ? smap_field(sg, "Size") : -1, sg ? smap_field(sg, "Rss") : -1);
out:
	munmap(g, 10 * PAGE);
}

/* ------------------------------------------------- a child in /proc */

static const char *child_args[] = {"--block", "two words", "x"};

/* The child's side (after execve): block reading fd 0, or sleep. */
static int child_main(const char *how)
{
	if (!strcmp(how, "--block")) {
		char c;
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	for (;;)
		sleep_ms(1000);
}

static void check_child(void)
{
	const char *bindir = getenv("BINDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/t_proc", bindir ? bindir : "/bin");
	int p[2];
	int have_pipe = pipe(p) == 0;
	if (!have_pipe)
		check_note("# pipe(): %s; the child sleeps in nanosleep instead of blocking in read", strerror(errno));
	char *cargv[5] = {path, (char *)(have_pipe ? "--block" : "--sleep"), (char *)child_args[1],
			  (char *)child_args[2], NULL};
	char expect[1200];
	size_t el = 0;
	for (int i = 0; cargv[i]; i++) {
		size_t k = strlen(cargv[i]) + 1;
		memcpy(expect + el, cargv[i], k);
		el += k;
	}

	pid_t pid = fork();
	if (pid == 0) {
		if (have_pipe) {
			dup2(p[0], 0);
			close(p[0]);
			close(p[1]);
		}
		execve(path, cargv, environ);
		_exit(127);
	}
	if (have_pipe)
		close(p[0]);
	if (!CHECKF("child_fork", pid > 0, "fork: %s", strerror(errno))) {
		if (have_pipe)
			close(p[1]);
		return;
	}

	char dir[64], f[96];
	snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
	static char text[8192];
	/* Wait (up to 20 s) until the exec is done and the child sleeps. */
	long n = -1;
	int exec_done = 0, sleeping = 0;
	for (int i = 0; i < 2000 && !sleeping; i++) {
		snprintf(f, sizeof f, "%s/cmdline", dir);
		n = slurp(f, text, sizeof text);
		exec_done = n == (long)el && !memcmp(text, expect, el);
		if (exec_done) {
			snprintf(f, sizeof f, "%s/status", dir);
			sleeping = slurp(f, text, sizeof text) > 0 && find_line(text, "State:\tS (sleeping)\n");
		}
		if (!sleeping)
			sleep_ms(10);
	}
	snprintf(f, sizeof f, "%s/cmdline", dir);
	n = slurp(f, text, sizeof text);
	CHECKF("child_cmdline_is_argv", n == (long)el && !memcmp(text, expect, el), "read %ld bytes (want %zu): '%s'", n,
	       el, n > 0 ? text : strerror(errno));
	snprintf(f, sizeof f, "%s/status", dir);
	n = slurp(f, text, sizeof text);
	const char *state = n > 0 ? find_line(text, "State:") : NULL;
	char sl[64];
	copy_line(state, sl, sizeof sl);
	CHECKF("child_state_sleeping", state && !strcmp(sl, "State:\tS (sleeping)"), "'%s'", state ? sl : strerror(errno));
	CHECKF("child_status_ids", n > 0 && field(text, "Pid:\t") == pid && field(text, "PPid:\t") == getpid(),
	       "Pid %lld PPid %lld, want %d %d", field(text, "Pid:\t"), field(text, "PPid:\t"), (int)pid, (int)getpid());
	if (n > 0)
		check_status_format(text, "t_proc");
	struct statf st;
	snprintf(f, sizeof f, "%s/stat", dir);
	int sok = read_stat(f, &st);
	CHECKF("child_stat", sok && st.nfields == 52 && st.f[1] == pid && st.state == 'S' && st.f[4] == getpid() &&
				     !strcmp(st.comm, "t_proc"),
	       "%d fields, pid %lld state %c ppid %lld comm (%s)", st.nfields, st.f[1], st.state, st.f[4], st.comm);
	snprintf(f, sizeof f, "%s/comm", dir);
	n = slurp(f, text, sizeof text);
	CHECKF("child_comm", n > 0 && !strcmp(text, "t_proc\n"), "'%s'", n > 0 ? text : strerror(errno));

	/* Kill it: a zombie until reaped (State Z, no memory), then gone. */
	int kr = kill(pid, SIGKILL);
	int zombie = 0;
	for (int i = 0; i < 2000 && !zombie; i++) {
		snprintf(f, sizeof f, "%s/status", dir);
		zombie = slurp(f, text, sizeof text) > 0 && find_line(text, "State:\tZ (zombie)\n");
		if (!zombie)
			sleep_ms(10);
	}
	CHECKF("child_zombie_state", kr == 0 && zombie, "kill %d; status: %.200s", kr, text);
	if (zombie) {
		snprintf(f, sizeof f, "%s/statm", dir);
		n = slurp(f, text, sizeof text);
		CHECKF("child_zombie_statm_zero", n > 0 && !strcmp(text, "0 0 0 0 0 0 0\n"), "'%s'",
		       n > 0 ? text : strerror(errno));
	}
	int wst = 0;
	pid_t w = waitpid(pid, &wst, 0);
	if (have_pipe)
		close(p[1]);
	CHECKF("child_reaped_killed", w == pid && WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL, "waitpid %d status %#x",
	       (int)w, wst);
	snprintf(f, sizeof f, "%s/status", dir);
	CHECK_ERRNO("child_gone_status_enoent", open(f, O_RDONLY), ENOENT);
	struct stat sb;
	CHECK_ERRNO("child_gone_dir_enoent", stat(dir, &sb), ENOENT);
}

/* -------------------------------------------------------- oom_score_adj */

static long long read_int_file(const char *path)
{
	char t[64];
	long n = slurp(path, t, sizeof t);
	if (n <= 0)
		return LLONG_MIN;
	char want[64];
	long long v = strtoll(t, NULL, 10);
	snprintf(want, sizeof want, "%lld\n", v);
	return strcmp(t, want) == 0 ? v : LLONG_MIN + 1;
}

static void check_oom(void)
{
	const char *adj = "/proc/self/oom_score_adj", *score = "/proc/self/oom_score";
	long long orig = read_int_file(adj), s0 = read_int_file(score);
	CHECKF("oom_files_read", orig >= -1000 && orig <= 1000 && s0 >= 0 && s0 <= 2000, "oom_score_adj %lld oom_score %lld",
	       orig, s0);
	long r = write_file(adj, "500");
	long long v = read_int_file(adj), s1 = read_int_file(score);
	CHECKF("oom_adj_write_500", r == 3 && v == 500, "write %ld (%s), reads %lld", r, r < 0 ? strerror(errno) : "", v);
	/* init (pid 1) is never chosen: its score is 0 whatever the adj
	 * (Linux's is_global_init in oom_badness). */
	int init = getpid() == 1;
	if (init)
		CHECKF("oom_score_init_0", s0 == 0 && s1 == 0, "pid 1: oom_score %lld, %lld with adj 500", s0, s1);
	else
		CHECKF("oom_score_grows", s1 > s0, "oom_score %lld with adj %lld, %lld with 500", s0, orig, s1);
	CHECK_ERRNO("oom_adj_1001_einval", write_file(adj, "1001"), EINVAL);
	CHECK_ERRNO("oom_adj_minus_1001_einval", write_file(adj, "-1001"), EINVAL);
	CHECK_ERRNO("oom_adj_abc_einval", write_file(adj, "abc"), EINVAL);
	v = read_int_file(adj);
	CHECKF("oom_adj_unchanged_after_einval", v == 500, "reads %lld", v);
	char t[32];
	snprintf(t, sizeof t, "%lld\n", orig < -1000 ? 0 : orig);
	r = write_file(adj, t);
	v = read_int_file(adj);
	CHECKF("oom_adj_restore", r == (long)strlen(t) && v == (orig < -1000 ? 0 : orig), "write %ld, reads %lld", r, v);
	long long s2 = read_int_file(score);
	if (!init)
		CHECKF("oom_score_restored", s2 < s1, "oom_score %lld after restoring, %lld at 500", s2, s1);
}

/* --------------------------------------------------------- /proc/sys/vm */

/* A value to write and the word naming it in the case name. */
struct bad_value {
	const char *text, *label;
};

static void check_sysctl_file(const char *name, const struct bad_value *bad, int nbad)
{
	char path[128], cname[128];
	snprintf(path, sizeof path, "/proc/sys/vm/%s", name);
	long long v = read_int_file(path);
	snprintf(cname, sizeof cname, "sysctl_%s_reads_one_integer", name);
	if (!CHECKF(cname, v > LLONG_MIN + 1, "%s: %s", path, v == LLONG_MIN ? strerror(errno) : "not one integer line"))
		return;
	for (int i = 0; i < nbad; i++) {
		snprintf(cname, sizeof cname, "sysctl_%s_%s_einval", name, bad[i].label);
		errno = 0;
		long r = write_file(path, bad[i].text);
		int e = errno;
		long long after = read_int_file(path);
		CHECKF(cname, r == -1 && e == EINVAL && after == v, "write '%s': %ld (%s), value %lld -> %lld", bad[i].text, r,
		       strerror(e), v, after);
	}
	char t[32];
	snprintf(t, sizeof t, "%lld\n", v);
	long r = write_file(path, t);
	long long after = read_int_file(path);
	snprintf(cname, sizeof cname, "sysctl_%s_write_same_value", name);
	CHECKF(cname, r == (long)strlen(t) && after == v, "write '%lld': %ld (%s), reads %lld", v, r,
	       r < 0 ? strerror(errno) : "", after);
}

static void check_sysctl(void)
{
	static const struct bad_value oc_bad[] = {{"3", "3"}, {"-1", "minus1"}, {"abc", "abc"}};
	static const struct bad_value neg[] = {{"-1", "minus1"}};
	check_sysctl_file("overcommit_memory", oc_bad, 3);
	check_sysctl_file("overcommit_ratio", NULL, 0);
	check_sysctl_file("min_free_kbytes", neg, 1);
	check_sysctl_file("max_map_count", neg, 1);
	/* 0..200 since Linux 5.8 (proc_dointvec_minmax). */
	static const struct bad_value sw_bad[] = {{"201", "201"}, {"-1", "minus1"}};
	check_sysctl_file("swappiness", sw_bad, 2);
	/* 0..31 (page_cluster_max). */
	static const struct bad_value pc_bad[] = {{"32", "32"}, {"-1", "minus1"}};
	check_sysctl_file("page-cluster", pc_bad, 2);
	/* 1..3000. */
	static const struct bad_value wsf_bad[] = {{"0", "0"}, {"3001", "3001"}};
	check_sysctl_file("watermark_scale_factor", wsf_bad, 2);
	/* 0 and up (proc_dointvec_minmax, extra1 = 0). */
	check_sysctl_file("vfs_cache_pressure", neg, 1);

	/* drop_caches: write-only on Linux (mode 0200: reading is EACCES even
	 * for root, sysctls give root no override). */
	const char *dc = "/proc/sys/vm/drop_caches";
	char t[64];
	errno = 0;
	long n = slurp(dc, t, sizeof t);
	int e = errno;
	CHECKF("sysctl_drop_caches_read_eacces", n < 0 && e == EACCES, "read %ld (%s) '%s'", n, strerror(e), n > 0 ? t : "");
	CHECK_ERRNO("sysctl_drop_caches_0_einval", write_file(dc, "0"), EINVAL);
	errno = 0;
	long r5 = write_file(dc, "5");
	int e5 = errno;
	if (!on_kernel && r5 == 1)
		check_skip("sysctl_drop_caches_5_einval", "this host kernel takes drop_caches values above 4 "
							  "(mainline Linux: 1..4)");
	else
		CHECKF("sysctl_drop_caches_5_einval", r5 == -1 && e5 == EINVAL, "write '5': %ld (%s)", r5, strerror(e5));
	long m0 = slurp("/proc/meminfo", buf_a, BUFSZ);
	long long free0 = field(buf_a, "MemFree:");
	long r = write_file(dc, "3");
	CHECKF("sysctl_drop_caches_3", r == 1, "write '3': %ld (%s)", r, r < 0 ? strerror(errno) : "");
	long m1 = slurp("/proc/meminfo", buf_a, BUFSZ);
	long long free1 = field(buf_a, "MemFree:");
	if (on_kernel)
		/* Nothing here allocates but the files' own text (a few pages). */
		CHECKF("drop_caches_memfree_not_lower", m0 > 0 && m1 > 0 && free1 + 64 >= free0,
		       "MemFree %lld kB before, %lld kB after", free0, free1);
	else
		check_skip("drop_caches_memfree_not_lower", "the host's other processes move MemFree");
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--block") || !strcmp(argv[1], "--sleep")))
		return child_main(argv[1]);
	check_init("t_proc");
	memset(buf_a, 0, BUFSZ);
	memset(buf_b, 0, BUFSZ);
	memset(buf_c, 0, BUFSZ);
	memset(buf_d, 0, BUFSZ);
	memset(zbuf, 0, BUFSZ);
	struct utsname u;
	on_kernel = uname(&u) == 0 && strstr(u.release, "mmkernel") != NULL;
	check_note("# t_proc: %s %s", u.sysname, u.release);

	check_meminfo();
	check_buddyinfo();
	check_zoneinfo();
	check_pagetypeinfo();
	check_slabinfo();
	check_vmallocinfo();
	check_vmstat();
	check_self_files(argc, argv);
	check_self_links(argv);
	check_fd_links(argv);
	check_maps_smaps();
	check_fault_counters();
	check_small_mapping();
	check_child();
	check_oom();
	check_sysctl();
	return check_done();
}
