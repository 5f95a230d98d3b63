/*
 * t_mempolicy.c: NUMA memory policies, set_mempolicy(2), get_mempolicy(2)
 * and mbind(2), with Linux's semantics:
 * - the default policy reads back as MPOL_DEFAULT with an empty set;
 *   MPOL_F_MEMS_ALLOWED gives the nodes with memory (alone, or EINVAL);
 * - errors: unknown mode, both node flags, NUMA_BALANCING off BIND, a set
 *   for DEFAULT or LOCAL, none for BIND or INTERLEAVE, a set of nodes
 *   without memory: EINVAL; an unreadable mask EFAULT; get_mempolicy with
 *   unknown flags, an address without MPOL_F_ADDR, maxnode below the node
 *   count: EINVAL; MPOL_F_NODE alone without an interleave policy EINVAL;
 * - what is set reads back (mode, flags, the set as given for static
 *   sets); PREFERRED with no node is LOCAL; a fork child inherits the
 *   task policy; MPOL_DEFAULT clears it;
 * - mbind: EINVAL for an unaligned start or unknown flags, EFAULT for a
 *   hole, EPERM for MPOL_MF_MOVE_ALL without privilege; the area's policy
 *   reads back with MPOL_F_ADDR, shows in numa_maps, splits the mapping
 *   in /proc/self/maps, and MPOL_DEFAULT merges it again;
 *   MPOL_F_NODE|MPOL_F_ADDR gives the node of the page there;
 * With two nodes or more (the `numa=2` matrix line; skipped on a one-node
 * host, with the reason):
 * - BIND, PREFERRED and the task's BIND place touched pages on the node,
 *   as move_pages sees them;
 * - INTERLEAVE over two nodes puts half the pages on each, counted in
 *   vmstat numa_interleave and numa_maps N0=/N1=;
 * - mbind MPOL_MF_STRICT alone on misplaced pages is EIO; with
 *   MPOL_MF_MOVE they move, data intact;
 * - MPOL_WEIGHTED_INTERLEAVE with node 0's weight 3: three pages on node
 *   0 for each on node 1.
 * Weighted interleave's weights (/sys/kernel/mm/mempolicy/
 * weighted_interleave, Linux 6.9+; skipped where absent): node0 reads 1
 * by default, takes 1..255, refuses 0 and 256 (EINVAL), `auto` turns
 * false when a weight is written and true again resets them; restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_WEIGHTED_INTERLEAVE 6
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_NUMA_BALANCING (1 << 13)
#define MPOL_F_NODE 1
#define MPOL_F_ADDR 2
#define MPOL_F_MEMS_ALLOWED 4
#define MPOL_MF_STRICT 1
#define MPOL_MF_MOVE 2
#define MPOL_MF_MOVE_ALL 4
#define MAXNODE 65
#define N 16

static long set_pol(int mode, const unsigned long *mask, unsigned long maxnode)
{
	return syscall(SYS_set_mempolicy, mode, mask, maxnode);
}

static long get_pol(int *mode, unsigned long *mask, unsigned long maxnode, void *addr, unsigned long flags)
{
	return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static long mbind_(void *addr, unsigned long len, int mode, const unsigned long *mask, unsigned long maxnode,
		   unsigned flags)
{
	return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}

static long move_pages_(unsigned long count, void **pages, int *status)
{
	return syscall(SYS_move_pages, 0, count, pages, NULL, status, 0);
}

static int nr_nodes(void)
{
	char buf[256];
	if (read_small_file("/sys/devices/system/node/has_memory", buf, sizeof buf) < 0)
		return 1;
	char *dash = strchr(buf, '-');
	return dash ? atoi(dash + 1) + 1 : 1;
}

/* Expect the call to fail with errno WANT. */
#define FAILS(name, call, want)                                                                             \
	do {                                                                                                \
		errno = 0;                                                                                  \
		long r_ = (call);                                                                           \
		CHECKF(name, r_ == -1 && errno == (want), "r %ld errno %d (%s), want %d", r_, errno,        \
		       strerror(errno), (want));                                                           \
	} while (0)

/* Where each of the N pages at P is (move_pages query); -1 on error. */
static int where(char *p, int *st)
{
	void *pages[N];
	for (int i = 0; i < N; i++)
		pages[i] = p + i * PAGE;
	return move_pages_(N, pages, st) == 0 ? 0 : -1;
}

static int count_on(const int *st, int node)
{
	int n = 0;
	for (int i = 0; i < N; i++)
		n += st[i] == node;
	return n;
}

/* The numa_maps line of the area at P, or "". */
static const char *numa_maps_line(void *p)
{
	static char buf[1 << 16], line[512];
	char head[32];
	line[0] = 0;
	if (read_small_file("/proc/self/numa_maps", buf, sizeof buf) < 0)
		return line;
	snprintf(head, sizeof head, "%lx ", (unsigned long)p);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, head, strlen(head)))
			continue;
		size_t n = strcspn(l, "\n");
		snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), l);
		break;
	}
	return line;
}

/* Lines of /proc/self/maps that overlap [p, p + len). */
static int maps_lines_in(char *p, size_t len)
{
	static char buf[1 << 16];
	if (read_small_file("/proc/self/maps", buf, sizeof buf) < 0)
		return -1;
	int n = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char *dash;
		unsigned long s = strtoul(l, &dash, 16), e = strtoul(dash + 1, NULL, 16);
		n += s < (unsigned long)p + len && e > (unsigned long)p;
	}
	return n;
}

static int child_policy(void *arg)
{
	(void)arg;
	int mode = -1;
	unsigned long mask[2] = {0, 0};
	if (get_pol(&mode, mask, MAXNODE, NULL, 0) != 0)
		return child_fail("get_mempolicy: %s", strerror(errno));
	return mode == MPOL_BIND && mask[0] == 1 ? 0 : child_fail("child sees mode %d mask %#lx", mode, mask[0]);
}

static int move_all_unprivileged(void *p)
{
	drop_root();
	unsigned long one = 1;
	errno = 0;
	long r = mbind_(p, PAGE, MPOL_BIND, &one, MAXNODE, MPOL_MF_MOVE_ALL);
	return r == -1 && errno == EPERM ? 0 : child_fail("r %ld errno %d", r, errno);
}

#define WI "/sys/kernel/mm/mempolicy/weighted_interleave"

static int write_str(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	int e = write(fd, v, strlen(v)) < 0 ? errno : 0;
	close(fd);
	return e;
}

static void weights(void)
{
	static const char *cases[] = {"weight_default", "weight_range", "weight_auto"};
	if (access(WI "/node0", F_OK) != 0) {
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], "no " WI " (Linux before 6.9)");
		return;
	}
	char autob[16] = "";
	int has_auto = read_small_file(WI "/auto", autob, sizeof autob) >= 0;
	long was = read_num(WI "/node0");
	CHECKF("weight_default", was >= 1 && was <= 255, "node0 weight %ld", was);
	int e0 = write_str(WI "/node0", "0"), e256 = write_str(WI "/node0", "256"), e2 = write_str(WI "/node0", "2\n");
	long now = read_num(WI "/node0");
	CHECKF("weight_range", e0 == EINVAL && e256 == EINVAL && e2 == 0 && now == 2, "0: %d, 256: %d, 2: %d (%ld)", e0,
	       e256, e2, now);
	if (!has_auto) {
		check_skip("weight_auto", "no auto file (Linux before 6.16)");
	} else {
		char a1[16] = "", a2[16] = "";
		read_small_file(WI "/auto", a1, sizeof a1);
		int et = write_str(WI "/auto", "true");
		read_small_file(WI "/auto", a2, sizeof a2);
		CHECKF("weight_auto", !strncmp(a1, "false", 5) && et == 0 && !strncmp(a2, "true", 4),
		       "after a write '%.5s', after true: %d '%.4s'", a1, et, a2);
	}
	char v[16];
	snprintf(v, sizeof v, "%ld", was);
	write_str(WI "/node0", v);
	if (has_auto && !strncmp(autob, "true", 4))
		write_str(WI "/auto", "true");
}

static void multi_node(int nodes)
{
	int last = nodes - 1, st[N];
	unsigned long lastm = 1UL << last, both = 3;

	char *b = anon(N * PAGE);
	CHECK("bind_call", mbind_(b, N * PAGE, MPOL_BIND, &lastm, MAXNODE, 0) == 0);
	stamp_pages(b, N * PAGE, 0x11);
	CHECKF("bind_places_pages", where(b, st) == 0 && count_on(st, last) == N, "on last %d", count_on(st, last));

	char *pr = anon(N * PAGE);
	mbind_(pr, N * PAGE, MPOL_PREFERRED, &lastm, MAXNODE, 0);
	stamp_pages(pr, N * PAGE, 0x12);
	CHECKF("preferred_places_pages", where(pr, st) == 0 && count_on(st, last) == N, "on last %d",
	       count_on(st, last));

	long hits = vmstat_get("numa_interleave");
	char *il = anon(N * PAGE);
	CHECK("interleave_call", mbind_(il, N * PAGE, MPOL_INTERLEAVE, &both, MAXNODE, 0) == 0);
	stamp_pages(il, N * PAGE, 0x13);
	CHECKF("interleave_spreads", where(il, st) == 0 && count_on(st, 0) == N / 2 && count_on(st, 1) == N / 2,
	       "node 0: %d, node 1: %d", count_on(st, 0), count_on(st, 1));
	CHECKF("interleave_counted", vmstat_get("numa_interleave") - hits >= N, "numa_interleave %ld -> %ld", hits,
	       vmstat_get("numa_interleave"));
	const char *l = numa_maps_line(il);
	CHECKF("numa_maps_interleave", strstr(l, " interleave:0-1 ") && strstr(l, " N0=8") && strstr(l, " N1=8"),
	       "%s", l);

	/* The task's policy, in an area with none of its own. */
	char *t = anon(N * PAGE);
	set_pol(MPOL_BIND, &lastm, MAXNODE);
	stamp_pages(t, N * PAGE, 0x14);
	set_pol(MPOL_DEFAULT, NULL, 0);
	CHECKF("task_bind_places_pages", where(t, st) == 0 && count_on(st, last) == N, "on last %d",
	       count_on(st, last));

	/* Misplaced pages: STRICT alone is EIO, MOVE moves them. */
	char *m = anon(N * PAGE);
	unsigned long zero = 1;
	mbind_(m, N * PAGE, MPOL_BIND, &zero, MAXNODE, 0);
	stamp_pages(m, N * PAGE, 0x15);
	FAILS("strict_misplaced_eio", mbind_(m, N * PAGE, MPOL_BIND, &lastm, MAXNODE, MPOL_MF_STRICT), EIO);
	CHECK("move_call", mbind_(m, N * PAGE, MPOL_BIND, &lastm, MAXNODE, MPOL_MF_MOVE | MPOL_MF_STRICT) == 0);
	CHECKF("move_moves", where(m, st) == 0 && count_on(st, last) == N, "on last %d", count_on(st, last));
	CHECK("move_keeps_data", bad_stamp(m, N * PAGE, 0x15, 0) == -1);

	/* Weighted: node 0 three times as heavy as node 1. */
	long w0 = read_num(WI "/node0"), w1 = read_num(WI "/node1");
	if (w0 < 0 || w1 < 0) {
		check_skip("weighted_interleave_spreads", "no " WI);
		return;
	}
	write_str(WI "/node0", "3");
	write_str(WI "/node1", "1");
	char *wi = anon(N * PAGE);
	long r = mbind_(wi, N * PAGE, MPOL_WEIGHTED_INTERLEAVE, &both, MAXNODE, 0);
	stamp_pages(wi, N * PAGE, 0x16);
	CHECKF("weighted_interleave_spreads",
	       r == 0 && where(wi, st) == 0 && count_on(st, 0) == 3 * N / 4 && count_on(st, 1) == N / 4,
	       "r %ld; node 0: %d, node 1: %d", r, count_on(st, 0), count_on(st, 1));
	char v[16];
	snprintf(v, sizeof v, "%ld", w0);
	write_str(WI "/node0", v);
	snprintf(v, sizeof v, "%ld", w1);
	write_str(WI "/node1", v);
}

int main(void)
{
	check_init("t_mempolicy");
	int nodes = nr_nodes(), mode = -1;
	unsigned long mask[2] = {~0UL, ~0UL}, one = 1, none = 1UL << 63;

	CHECKF("default_policy", get_pol(&mode, mask, MAXNODE, NULL, 0) == 0 && mode == MPOL_DEFAULT && mask[0] == 0,
	       "mode %d mask %#lx", mode, mask[0]);
	mask[0] = 0;
	CHECKF("mems_allowed", get_pol(&mode, mask, MAXNODE, NULL, MPOL_F_MEMS_ALLOWED) == 0 &&
				       mask[0] == (nodes >= 64 ? ~0UL : (1UL << nodes) - 1),
	       "mask %#lx, %d nodes", mask[0], nodes);
	FAILS("mems_allowed_alone", get_pol(&mode, mask, MAXNODE, NULL, MPOL_F_MEMS_ALLOWED | MPOL_F_NODE), EINVAL);
	FAILS("get_bad_flags", get_pol(&mode, mask, MAXNODE, NULL, 8), EINVAL);
	FAILS("get_addr_without_flag", get_pol(&mode, mask, MAXNODE, (void *)mask, 0), EINVAL);
	FAILS("get_maxnode_too_small", get_pol(&mode, mask, 0, NULL, 0), EINVAL);
	FAILS("node_without_interleave", get_pol(&mode, NULL, 0, NULL, MPOL_F_NODE), EINVAL);

	FAILS("unknown_mode", set_pol(7, &one, MAXNODE), EINVAL);
	FAILS("both_node_flags", set_pol(MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, &one, MAXNODE), EINVAL);
	FAILS("balancing_needs_bind", set_pol(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, &one, MAXNODE), EINVAL);
	FAILS("default_takes_no_set", set_pol(MPOL_DEFAULT, &one, MAXNODE), EINVAL);
	FAILS("local_takes_no_set", set_pol(MPOL_LOCAL, &one, MAXNODE), EINVAL);
	FAILS("bind_needs_a_set", set_pol(MPOL_BIND, NULL, 0), EINVAL);
	FAILS("interleave_needs_a_set", set_pol(MPOL_INTERLEAVE, NULL, MAXNODE), EINVAL);
	FAILS("set_of_no_memory", set_pol(MPOL_BIND, &none, MAXNODE), EINVAL);
	FAILS("mask_unreadable", set_pol(MPOL_BIND, (unsigned long *)8, MAXNODE), EFAULT);

	CHECK("set_bind", set_pol(MPOL_BIND, &one, MAXNODE) == 0);
	CHECKF("get_bind", get_pol(&mode, mask, MAXNODE, NULL, 0) == 0 && mode == MPOL_BIND && mask[0] == 1,
	       "mode %d mask %#lx", mode, mask[0]);
	check_child("fork_inherits", child_policy, NULL);
	unsigned long odd = 1 | 1UL << 40;
	CHECK("set_static", set_pol(MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, &odd, MAXNODE) == 0);
	CHECKF("get_static_as_given",
	       get_pol(&mode, mask, MAXNODE, NULL, 0) == 0 && mode == (MPOL_INTERLEAVE | MPOL_F_STATIC_NODES) &&
		       mask[0] == odd,
	       "mode %#x mask %#lx", mode, mask[0]);
	CHECKF("interleave_next_node", get_pol(&mode, NULL, 0, NULL, MPOL_F_NODE) == 0 && mode == 0, "node %d", mode);
	CHECK("set_preferred_empty", set_pol(MPOL_PREFERRED, NULL, 0) == 0);
	CHECKF("preferred_empty_is_local", get_pol(&mode, mask, MAXNODE, NULL, 0) == 0 && mode == MPOL_LOCAL,
	       "mode %d", mode);
	CHECK("set_default", set_pol(MPOL_DEFAULT, NULL, 0) == 0);
	CHECKF("default_again", get_pol(&mode, mask, MAXNODE, NULL, 0) == 0 && mode == MPOL_DEFAULT, "mode %d", mode);

	/* mbind on the middle of three pages' worth of areas. */
	char *p = anon(3 * 4 * PAGE);
	char *mid = p + 4 * PAGE;
	FAILS("mbind_unaligned", mbind_(mid + 1, PAGE, MPOL_BIND, &one, MAXNODE, 0), EINVAL);
	FAILS("mbind_bad_flags", mbind_(mid, PAGE, MPOL_BIND, &one, MAXNODE, 8), EINVAL);
	char *hole = anon(3 * PAGE);
	munmap(hole + PAGE, PAGE);
	FAILS("mbind_hole", mbind_(hole, 3 * PAGE, MPOL_BIND, &one, MAXNODE, 0), EFAULT);
	CHECK("mbind_empty_range", mbind_(mid, 0, MPOL_BIND, &one, MAXNODE, 0) == 0);
	CHECK("mbind_interleave", mbind_(mid, 4 * PAGE, MPOL_INTERLEAVE, &one, MAXNODE, 0) == 0);
	CHECKF("get_addr", get_pol(&mode, mask, MAXNODE, mid + PAGE, MPOL_F_ADDR) == 0 && mode == MPOL_INTERLEAVE &&
				   mask[0] == 1,
	       "mode %d mask %#lx", mode, mask[0]);
	CHECKF("get_addr_outside_default", get_pol(&mode, mask, MAXNODE, p, MPOL_F_ADDR) == 0 && mode == MPOL_DEFAULT,
	       "mode %d", mode);
	FAILS("get_addr_unmapped", get_pol(&mode, mask, MAXNODE, hole + PAGE, MPOL_F_ADDR), EFAULT);
	CHECKF("mbind_splits", maps_lines_in(p, 12 * PAGE) == 3, "%d lines", maps_lines_in(p, 12 * PAGE));
	const char *l = numa_maps_line(mid);
	CHECKF("numa_maps_policy", strncmp(strchr(l, ' ') ? strchr(l, ' ') : "", " interleave:0", 13) == 0, "'%s'", l);
	CHECK("mbind_default", mbind_(mid, 4 * PAGE, MPOL_DEFAULT, NULL, 0, MPOL_MF_STRICT) == 0);
	CHECKF("mbind_default_merges", maps_lines_in(p, 12 * PAGE) == 1, "%d lines", maps_lines_in(p, 12 * PAGE));
	p[0] = 1;
	int st[1];
	void *pg[1] = {p};
	move_pages_(1, pg, st);
	CHECKF("node_of_addr", get_pol(&mode, NULL, 0, p, MPOL_F_NODE | MPOL_F_ADDR) == 0 && mode == st[0],
	       "node %d, move_pages says %d", mode, st[0]);
	check_child("move_all_needs_privilege", move_all_unprivileged, p);

	weights();
	if (nodes < 2) {
		const char *why = "one NUMA node here (the numa=2 matrix line runs these)";
		const char *multi[] = {"bind_call",	     "bind_places_pages",	"preferred_places_pages",
				       "interleave_call",    "interleave_spreads",	"interleave_counted",
				       "numa_maps_interleave", "task_bind_places_pages", "strict_misplaced_eio",
				       "move_call",	     "move_moves",		"move_keeps_data",
				       "weighted_interleave_spreads"};
		for (size_t i = 0; i < sizeof multi / sizeof *multi; i++)
			check_skip(multi[i], why);
	} else {
		multi_node(nodes);
	}
	return check_done();
}
