/*
 * t_movepages.c: move_pages(2), asking where pages are and moving them
 * between NUMA nodes (Linux's semantics):
 * - bad flags EINVAL, no such process ESRCH, a node out of range ENODEV,
 *   MPOL_MF_MOVE_ALL without privilege EPERM;
 * - per-page status: the node of a touched page, -ENOENT for a page never
 *   touched, -EFAULT outside any mapping and for the shared zero page;
 * - moving to the node a page is on already succeeds and changes nothing;
 * - a new page lands on the node of the CPU that touched it (each CPU in
 *   turn, its node from getcpu);
 * With two nodes or more (the `numa=2` matrix line; skipped on a one-node
 * host, with the reason):
 * - /proc/self/numa_maps shows the region's pages (anon=, dirty=, N<node>=);
 * - 64 anonymous pages move to the last node (status, a second query,
 *   numa_maps, pgmigrate_success) with every byte intact, and back;
 * - the target node's numa_hit in sysfs rises by the pages that arrive;
 * - migrate_pages(2): ESRCH, EINVAL for new nodes none of which has memory; every page
 *   on one node goes to another and back, data intact;
 * - a shared page mapped by a child too needs MPOL_MF_MOVE_ALL (-EACCES
 *   without); with it, the page moves and the child still reads its data
 *   and shares the parent's later writes;
 * - a private page shared since fork (copy-on-write) needs MOVE_ALL too;
 *   with it the page moves for both: the child's query shows the new
 *   node and its data, and its write afterwards is its own copy;
 * - an mlocked page moves (and stays locked: munlock works);
 * - a page shared since fork moves back and forth (MOVE_ALL) while the
 *   child reads it in a loop on another CPU: every read sees the data
 *   (a fault on a migration entry waits for the new page).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define MPOL_MF_MOVE (1 << 1)
#define MPOL_MF_MOVE_ALL (1 << 2)
#define N 64

static long migrate_pages(int pid, unsigned long maxnode, const unsigned long *old, const unsigned long *new_)
{
	return syscall(SYS_migrate_pages, pid, maxnode, old, new_);
}

static long move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
	return syscall(SYS_move_pages, pid, count, pages, nodes, status, flags);
}

static int nr_nodes(void)
{
	char buf[256];
	if (read_small_file("/sys/devices/system/node/online", buf, sizeof buf) < 0)
		return 1;
	/* "0" or "0-N" (the nodes of the machines this runs on are contiguous). */
	char *dash = strchr(buf, '-');
	return dash ? atoi(dash + 1) + 1 : 1;
}

/* A counter of /sys/devices/system/node/nodeN/numastat, -1 if missing. */
static long node_numastat(int nid, const char *key)
{
	char path[96], buf[4096];
	snprintf(path, sizeof path, "/sys/devices/system/node/node%d/numastat", nid);
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, strlen(key)) && l[strlen(key)] == ' ')
			return atol(l + strlen(key) + 1);
	return -1;
}

/* The numa_maps line of the area starting at P (without its newline),
 * or "" if there is none. */
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

static int all_status(const int *st, int n, int want)
{
	for (int i = 0; i < n; i++)
		if (st[i] != want)
			return i;
	return -1;
}

static const char *multi_cases[] = {"moved_to_last_node", "numa_maps_after_move", "query_after_move", "data_intact_after_move",
				    "node_numa_hit_rises", "moved_back",	       "shared_needs_move_all",
				    "shared_moves_with_move_all", "child_shares_moved_page",
				    "cow_shared_needs_move_all", "cow_shared_moves_with_move_all",
				    "cow_child_sees_moved_page", "cow_child_write_private", "mlocked_page_moves",
				    "moves_while_child_reads",
				    "migrate_pages_moves_all", "migrate_pages_back"};

int main(void)
{
	check_init("t_movepages");
	char *p = anon(N * PAGE);
	void *pages[N];
	int nodes[N], st[N];
	for (int i = 0; i < N; i++)
		pages[i] = p + i * PAGE;

	/* Errors for the whole call. */
	errno = 0;
	long r = move_pages(0, 1, pages, NULL, st, 1 << 3);
	CHECKF("bad_flags", r == -1 && errno == EINVAL, "r %ld errno %d", r, errno);
	errno = 0;
	r = move_pages(0x3fffffff, 1, pages, NULL, st, 0);
	CHECKF("no_process", r == -1 && errno == ESRCH, "r %ld errno %d", r, errno);
	nodes[0] = 4096;
	p[0] = 1;
	errno = 0;
	r = move_pages(0, 1, pages, nodes, st, MPOL_MF_MOVE);
	CHECKF("node_out_of_range", r == -1 && errno == ENODEV, "r %ld errno %d", r, errno);
	errno = 0;
	CHECKF("bad_pages_array", move_pages(0, 1, (void **)8, NULL, st, 0) == -1 && errno == EFAULT, "errno %d",
	       errno);

	/* Queries: touched, untouched, unmapped, the zero page. */
	stamp_pages(p, 4 * PAGE, 0x60);
	volatile char sink = p[5 * PAGE];
	(void)sink;
	char *gone = anon(PAGE);
	munmap(gone, PAGE);
	void *q[4] = {p, p + 4 * PAGE, gone, p + 5 * PAGE};
	int qs[4] = {-99, -99, -99, -99};
	r = move_pages(0, 4, q, NULL, qs, 0);
	int home = qs[0];
	CHECKF("query", r == 0 && home >= 0 && home < nr_nodes(), "r %ld status %d", r, qs[0]);
	CHECKF("query_untouched_enoent", qs[1] == -ENOENT, "status %d", qs[1]);
	CHECKF("query_unmapped_efault", qs[2] == -EFAULT, "status %d", qs[2]);
	CHECKF("query_zero_page_efault", qs[3] == -EFAULT, "status %d", qs[3]);

	/* To the node it is on: nothing to do. */
	for (int i = 0; i < 4; i++)
		nodes[i] = home;
	r = move_pages(0, 4, pages, nodes, st, MPOL_MF_MOVE);
	CHECKF("same_node", r == 0 && all_status(st, 4, home) == -1 && bad_stamp(p, 4 * PAGE, 0x60, 0) == -1,
	       "r %ld status %d %d", r, st[0], st[3]);

	/* MOVE_ALL is for the privileged (CAP_SYS_NICE). */
	pid_t pid = fork();
	if (pid == 0) {
		if (drop_root() != 0)
			_exit(2);
		errno = 0;
		long rr = move_pages(0, 1, pages, nodes, st, MPOL_MF_MOVE_ALL);
		_exit(rr == -1 && errno == EPERM ? 0 : 1);
	}
	int ws;
	waitpid(pid, &ws, 0);
	CHECKF("move_all_needs_privilege", WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child status %#x", ws);

	/* numa_maps: the whole region, anonymous and dirty, on one node. */
	stamp_pages(p, N * PAGE, 0x61);
	char want[64];
	move_pages(0, 1, pages, NULL, st, 0);
	snprintf(want, sizeof want, " N%d=%d ", st[0], N);
	const char *line = numa_maps_line(p);
	CHECKF("numa_maps_line",
	       strstr(line, " default ") && strstr(line, " anon=64 dirty=64 ") && strstr(line, want) &&
		       strstr(line, " kernelpagesize_kB=4"),
	       "'%s'", line);

	/* Default placement is the running CPU's node: pinned to each CPU in
	 * turn, a new page lands where getcpu says the CPU is. */
	int cpus_ok = 1, ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	char *lp = anon((size_t)ncpu * PAGE);
	for (int c = 0; lp && c < ncpu && cpus_ok; c++) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(c, &set);
		unsigned cpu = 0, node = 0;
		if (sched_setaffinity(0, sizeof set, &set) != 0 || syscall(SYS_getcpu, &cpu, &node, NULL) != 0)
			continue;
		lp[c * PAGE] = 1;
		void *one[1] = {lp + c * PAGE};
		int ns[1] = {-1};
		move_pages(0, 1, one, NULL, ns, 0);
		if (ns[0] != (int)node) {
			printf("# cpu %u (node %u): new page on node %d\n", cpu, node, ns[0]);
			cpus_ok = 0;
		}
	}
	cpu_set_t all;
	CPU_ZERO(&all);
	for (int c = 0; c < ncpu; c++)
		CPU_SET(c, &all);
	sched_setaffinity(0, sizeof all, &all);
	CHECK("local_node_allocation", lp && cpus_ok);
	if (lp)
		munmap(lp, (size_t)ncpu * PAGE);

	/* migrate_pages: errors. */
	unsigned long m0 = 1, mbad = 1UL << 63;
	errno = 0;
	r = migrate_pages(0x3fffffff, 64, &m0, &m0);
	CHECKF("migrate_pages_no_process", r == -1 && errno == ESRCH, "r %ld errno %d", r, errno);
	errno = 0;
	r = migrate_pages(0, 65, &m0, &mbad);
	CHECKF("migrate_pages_node_without_memory", r == -1 && errno == EINVAL, "r %ld errno %d", r, errno);
	r = migrate_pages(0, 64, &m0, &m0);
	CHECKF("migrate_pages_same_nodes", r == 0 && bad_stamp(p, N * PAGE, 0x61, 0) == -1, "r %ld errno %d", r, errno);

	int nn = nr_nodes();
	if (nn < 2) {
		for (size_t i = 0; i < sizeof multi_cases / sizeof multi_cases[0]; i++)
			check_skip(multi_cases[i], "one NUMA node");
		return check_done();
	}

	/* 64 pages to the last node and back (from node 0: they went where
	 * the CPU that touched them was). */
	int last = nn - 1;
	stamp_pages(p, N * PAGE, 0x61);
	for (int i = 0; i < N; i++)
		nodes[i] = 0;
	move_pages(0, N, pages, nodes, st, MPOL_MF_MOVE);
	long success0 = vmstat_get("pgmigrate_success"), hit0 = node_numastat(last, "numa_hit");
	for (int i = 0; i < N; i++)
		nodes[i] = last;
	r = move_pages(0, N, pages, nodes, st, MPOL_MF_MOVE);
	long success1 = vmstat_get("pgmigrate_success"), hit1 = node_numastat(last, "numa_hit");
	int bad = all_status(st, N, last);
	CHECKF("moved_to_last_node", r == 0 && bad == -1 && success1 - success0 >= N, "r %ld, status[%d] %d, pgmigrate_success +%ld",
	       r, bad, bad < 0 ? 0 : st[bad], success1 - success0);
	snprintf(want, sizeof want, " N%d=%d ", last, N);
	line = numa_maps_line(p);
	CHECKF("numa_maps_after_move", strstr(line, want) && !strstr(line, " N0="), "'%s'", line);
	memset(st, 0, sizeof st);
	r = move_pages(0, N, pages, NULL, st, 0);
	bad = all_status(st, N, last);
	CHECKF("query_after_move", r == 0 && bad == -1, "status[%d] %d", bad, bad < 0 ? 0 : st[bad]);
	long badp = bad_stamp(p, N * PAGE, 0x61, 0);
	CHECKF("data_intact_after_move", badp == -1, "first bad page %ld", badp);
	/* Each new page was allocated on the node it was asked on (MemFree
	 * would not tell: the CPU's lists may have held the pages already). */
	CHECKF("node_numa_hit_rises", hit1 - hit0 >= N, "node%d numa_hit %ld -> %ld", last, hit0, hit1);
	for (int i = 0; i < N; i++)
		nodes[i] = 0;
	r = move_pages(0, N, pages, nodes, st, MPOL_MF_MOVE);
	CHECKF("moved_back", r == 0 && all_status(st, N, 0) == -1 && bad_stamp(p, N * PAGE, 0x61, 0) == -1,
	       "r %ld status %d", r, st[0]);

	/* A shared page a child maps too. */
	char *sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	stamp_pages(sh, PAGE, 0x62);
	void *shp[1] = {sh};
	int shn[1] = {0}, shs[1] = {-99};
	move_pages(0, 1, shp, shn, shs, MPOL_MF_MOVE);
	shn[0] = last;
	int go[2], back[2];
	if (pipe(go) || pipe(back))
		return check_done();
	pid = fork();
	if (pid == 0) {
		char c;
		volatile long touch = *(volatile long *)sh;
		(void)touch;
		if (write(back[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(3);
		/* After the move: the data, and the parent's later write. */
		_exit(bad_stamp(sh, PAGE, 0x62, 0) == -1 && sh[100] == 'z' ? 0 : 1);
	}
	char c;
	if (read(back[0], &c, 1) != 1)
		return check_done();
	r = move_pages(0, 1, shp, shn, shs, MPOL_MF_MOVE);
	CHECKF("shared_needs_move_all", r == 0 && shs[0] == -EACCES, "r %ld status %d", r, shs[0]);
	r = move_pages(0, 1, shp, shn, shs, MPOL_MF_MOVE_ALL);
	CHECKF("shared_moves_with_move_all", r == 0 && shs[0] == last, "r %ld status %d", r, shs[0]);
	sh[100] = 'z';
	if (write(go[1], "g", 1) != 1)
		return check_done();
	waitpid(pid, &ws, 0);
	CHECKF("child_shares_moved_page", WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child status %#x", ws);

	/* A private page shared since fork: one page, copy-on-write in both. */
	char *cw = anon(PAGE);
	stamp_pages(cw, PAGE, 0x63);
	void *cwp[1] = {cw};
	int cwn[1] = {0}, cws[1] = {-99};
	move_pages(0, 1, cwp, cwn, cws, MPOL_MF_MOVE);
	cwn[0] = last;
	int go2[2], back2[2];
	if (pipe(go2) || pipe(back2))
		return check_done();
	pid = fork();
	if (pid == 0) {
		int node[1] = {-99};
		if (write(back2[1], "r", 1) != 1 || read(go2[0], &c, 1) != 1)
			_exit(3);
		move_pages(0, 1, cwp, NULL, node, 0);
		char rep = node[0] == last && bad_stamp(cw, PAGE, 0x63, 0) == -1 ? 'y' : 'n';
		cw[0] = 'w';
		_exit(write(back2[1], &rep, 1) == 1 ? 0 : 3);
	}
	if (read(back2[0], &c, 1) != 1)
		return check_done();
	r = move_pages(0, 1, cwp, cwn, cws, MPOL_MF_MOVE);
	CHECKF("cow_shared_needs_move_all", r == 0 && cws[0] == -EACCES, "r %ld status %d", r, cws[0]);
	r = move_pages(0, 1, cwp, cwn, cws, MPOL_MF_MOVE_ALL);
	CHECKF("cow_shared_moves_with_move_all", r == 0 && cws[0] == last && bad_stamp(cw, PAGE, 0x63, 0) == -1,
	       "r %ld status %d", r, cws[0]);
	char rep = 0;
	if (write(go2[1], "g", 1) != 1 || read(back2[0], &rep, 1) != 1)
		rep = '?';
	waitpid(pid, &ws, 0);
	CHECKF("cow_child_sees_moved_page", rep == 'y' && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "reply %c status %#x",
	       rep, ws);
	CHECKF("cow_child_write_private", cw[0] != 'w' && bad_stamp(cw, PAGE, 0x63, 0) == -1, "first byte %#x", cw[0]);

	/* An mlocked page moves too (Linux migrates unevictable pages). */
	char *ml = anon(PAGE);
	stamp_pages(ml, PAGE, 0x64);
	if (mlock(ml, PAGE) != 0) {
		check_skip("mlocked_page_moves", "mlock failed");
	} else {
		void *mlp[1] = {ml};
		int mln[1] = {last}, mls[1] = {-99}, mlq[1] = {-99};
		r = move_pages(0, 1, mlp, mln, mls, MPOL_MF_MOVE);
		move_pages(0, 1, mlp, NULL, mlq, 0);
		int un = munlock(ml, PAGE);
		CHECKF("mlocked_page_moves",
		       r == 0 && mls[0] == last && mlq[0] == last && un == 0 && bad_stamp(ml, PAGE, 0x64, 0) == -1,
		       "r %ld status %d query %d munlock %d", r, mls[0], mlq[0], un);
	}

	/* Back and forth while a child reads the page on another CPU. */
	char *rd = anon(PAGE);
	volatile long *stop = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	stamp_pages(rd, PAGE, 0x65);
	/* stop[0]: the parent is done; stop[1]: the child's reads so far. */
	stop[0] = 0;
	stop[1] = 0;
	pid = fork();
	if (pid == 0) {
		while (!stop[0]) {
			if (bad_stamp(rd, PAGE, 0x65, 0) != -1)
				_exit(1);
			stop[1]++;
		}
		_exit(stop[1] > 0 ? 0 : 2);
	}
	/* The moves start once the child reads (on a loaded host it may be
	 * a while before it first runs). */
	for (int i = 0; i < 5000 && !stop[1]; i++)
		usleep(1000);
	void *rdp[1] = {rd};
	int moved = 0, rds[1];
	for (int i = 0; i < 200; i++) {
		int to[1] = {i % 2 ? 0 : last};
		if (move_pages(0, 1, rdp, to, rds, MPOL_MF_MOVE_ALL) == 0 && rds[0] == to[0])
			moved++;
	}
	stop[0] = 1;
	waitpid(pid, &ws, 0);
	CHECKF("moves_while_child_reads", moved > 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
						  bad_stamp(rd, PAGE, 0x65, 0) == -1,
	       "moved %d of 200, child status %#x", moved, ws);

	/* migrate_pages: everything on node 0 to the last node, then back. */
	unsigned long from = 1, to = 1UL << last;
	r = migrate_pages(0, 64, &from, &to);
	memset(st, 0, sizeof st);
	move_pages(0, N, pages, NULL, st, 0);
	bad = all_status(st, N, last);
	CHECKF("migrate_pages_moves_all", r >= 0 && bad == -1 && bad_stamp(p, N * PAGE, 0x61, 0) == -1,
	       "r %ld errno %d, status[%d] %d", r, errno, bad, bad < 0 ? 0 : st[bad]);
	r = migrate_pages(0, 64, &to, &from);
	move_pages(0, N, pages, NULL, st, 0);
	bad = all_status(st, N, 0);
	CHECKF("migrate_pages_back", r >= 0 && bad == -1 && bad_stamp(p, N * PAGE, 0x61, 0) == -1,
	       "r %ld errno %d, status[%d] %d", r, errno, bad, bad < 0 ? 0 : st[bad]);
	return check_done();
}
