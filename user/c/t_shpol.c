/*
 * t_shpol.c: shared memory policies and set_mempolicy_home_node(2), with
 * Linux's semantics:
 * - mbind on a MAP_SHARED mapping of a memfd, a System V segment or a
 *   shared anonymous mapping sets the policy of the object's pages: a
 *   child sets it on its own mapping and exits, and the parent's
 *   get_mempolicy(MPOL_F_ADDR) on its mapping of the same pages reports
 *   it (the pages outside the range: MPOL_DEFAULT); /proc/self/numa_maps
 *   shows it for the parent's area (and an area without any policy the
 *   task's own, `default` without one); MPOL_DEFAULT from the parent's area,
 *   which never had a policy of its own, changes nothing (Linux's
 *   mbind_range: the area's policy is already the default), after a
 *   policy of its own it removes the object's range;
 * - set_mempolicy_home_node(start, len, home_node, flags): flags not 0,
 *   an unaligned start, a node that is not online: EINVAL; an area with
 *   an INTERLEAVE policy: EOPNOTSUPP; no area with a policy in the range
 *   (none, or a hole): ENOENT; len 0: 0; on a BIND area: 0, and the
 *   policy reads back unchanged (get_mempolicy does not show the home
 *   node, nor does numa_maps).
 * With two nodes or more (the `numa=` matrix lines; skipped on a one-node
 * host, with the reason):
 * - the pages the parent touches land where the child's shared policy
 *   says, as move_pages sees them: INTERLEAVE over 0-1 on a memfd puts
 *   half on each node, alternating; BIND to node 1 on a memfd, a System V
 *   segment and a shared anonymous mapping puts them all on node 1; a page
 *   made by write(2) on the memfd follows the policy too;
 * - mbind MPOL_MF_MOVE|MPOL_MF_STRICT on a shared mapping whose pages only
 *   this process maps moves them to the policy's node, data intact;
 * - without a shared policy, the touching task's own policy (BIND to node
 *   1) places a memfd's pages;
 * - BIND and PREFERRED_MANY over nodes 0-1 with home node 1 put every
 *   touched page on node 1, with home node 0 on node 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_PREFERRED_MANY 5
#define MPOL_F_ADDR 2
#define MPOL_MF_STRICT 1
#define MPOL_MF_MOVE 2
#define MAXNODE 65
#define N 8

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

static long get_pol(int *mode, unsigned long *mask, void *addr, unsigned long flags)
{
	return syscall(SYS_get_mempolicy, mode, mask, MAXNODE, addr, flags);
}

static long mbind_(void *addr, unsigned long len, int mode, unsigned long mask, unsigned flags)
{
	return syscall(SYS_mbind, addr, len, mode, mode == MPOL_DEFAULT ? NULL : &mask, MAXNODE, flags);
}

static long home_node(void *start, unsigned long len, unsigned long node, unsigned long flags)
{
	return syscall(SYS_set_mempolicy_home_node, start, len, node, flags);
}

static int nr_nodes(void)
{
	char buf[256];
	if (read_small_file("/sys/devices/system/node/has_memory", buf, sizeof buf) < 0)
		return 1;
	char *dash = strchr(buf, '-');
	return dash ? atoi(dash + 1) + 1 : 1;
}

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
	return syscall(SYS_move_pages, 0, N, pages, NULL, st, 0) == 0 ? 0 : -1;
}

static int count_on(const int *st, int node)
{
	int n = 0;
	for (int i = 0; i < N; i++)
		n += st[i] == node;
	return n;
}

/* The numa_maps line of the area at P, from its policy on, or "". */
static const char *numa_maps_policy(void *p)
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
		l += strlen(head);
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

/* What a child does: map the object its own way and mbind part of it. */
struct bind_req {
	int fd;		/* a memfd to map, or -1 */
	int shmid;	/* a System V segment to attach, or -1 */
	char *shared;	/* an inherited shared mapping, or NULL */
	long first, pages;
	int mode;
	unsigned long mask;
};

static int child_binds(void *arg)
{
	struct bind_req *r = arg;
	char *p = r->shared;
	if (r->fd >= 0)
		p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	else if (r->shmid >= 0)
		p = shmat(r->shmid, NULL, 0);
	if (p == MAP_FAILED || p == (void *)-1 || !p)
		return child_fail("map: %s", strerror(errno));
	if (mbind_(p + r->first * PAGE, r->pages * PAGE, r->mode, r->mask, 0) != 0)
		return child_fail("mbind: %s", strerror(errno));
	return 0;
}

/* Bind part of an object from a child; 0 when it did. */
static int bind_in_child(struct bind_req r)
{
	int st = run_child(child_binds, &r);
	if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		check_note("# child: %s", report->why);
		return -1;
	}
	return 0;
}

static int mode_at(void *p, unsigned long *mask)
{
	int mode = -1;
	*mask = 0;
	return get_pol(&mode, mask, p, MPOL_F_ADDR) == 0 ? mode : -1;
}

static int memfd(void)
{
	int fd = syscall(SYS_memfd_create, "shpol", 0);
	if (fd >= 0 && ftruncate(fd, N * PAGE) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *map_fd(int fd)
{
	char *p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* The shared policy seen from another process, on one node or more. */
static void shared_views(void)
{
	unsigned long mask;
	int fd = memfd();
	char *p = fd >= 0 ? map_fd(fd) : NULL;
	CHECKF("memfd_map", p != NULL, "%s", strerror(errno));
	if (!p)
		return;
	int r = bind_in_child((struct bind_req){fd, -1, NULL, 0, N / 2, MPOL_BIND, 1});
	int m = mode_at(p + PAGE, &mask);
	CHECKF("memfd_policy_seen_by_other", r == 0 && m == MPOL_BIND && mask == 1, "mode %d mask %#lx", m, mask);
	m = mode_at(p + (N / 2) * PAGE, &mask);
	CHECKF("memfd_outside_range_default", m == MPOL_DEFAULT, "mode %d", m);
	const char *l = numa_maps_policy(p);
	CHECKF("numa_maps_shared_policy", strncmp(l, "bind:0", 6) == 0 && (l[6] == ' ' || !l[6]), "'%s'", l);
	CHECKF("area_not_split", maps_lines_in(p, N * PAGE) == 1, "%d lines", maps_lines_in(p, N * PAGE));
	/* MPOL_DEFAULT from this mapping, which never had a policy: Linux's
	 * mbind_range finds the area's own policy equal and does nothing. */
	CHECK("mbind_default_unbound", mbind_(p, N * PAGE, MPOL_DEFAULT, 0, 0) == 0);
	m = mode_at(p + PAGE, &mask);
	CHECKF("default_from_unbound_mapper_keeps", m == MPOL_BIND, "mode %d", m);
	/* Bound here first, MPOL_DEFAULT removes the object's range. */
	CHECK("mbind_default_shared",
	      mbind_(p, N * PAGE, MPOL_INTERLEAVE, 1, 0) == 0 && mbind_(p, N * PAGE, MPOL_DEFAULT, 0, 0) == 0);
	m = mode_at(p + PAGE, &mask);
	CHECKF("shared_policy_removed", m == MPOL_DEFAULT, "mode %d", m);
	munmap(p, N * PAGE);
	close(fd);

	int id = shmget(IPC_PRIVATE, N * PAGE, IPC_CREAT | 0600);
	char *s = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
	CHECKF("sysv_attach", s != (void *)-1, "%s", strerror(errno));
	if (s != (void *)-1) {
		r = bind_in_child((struct bind_req){-1, id, NULL, 2, 2, MPOL_INTERLEAVE, 1});
		m = mode_at(s + 3 * PAGE, &mask);
		CHECKF("sysv_policy_seen_by_other", r == 0 && m == MPOL_INTERLEAVE && mask == 1, "mode %d mask %#lx", m,
		       mask);
		m = mode_at(s + PAGE, &mask);
		CHECKF("sysv_outside_range_default", m == MPOL_DEFAULT, "mode %d", m);
		shmdt(s);
	}
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);

	char *a = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	r = a == MAP_FAILED ? -1 : bind_in_child((struct bind_req){-1, -1, a, 0, N, MPOL_BIND, 1});
	m = a == MAP_FAILED ? -1 : mode_at(a, &mask);
	CHECKF("shared_anon_policy_seen_by_parent", r == 0 && m == MPOL_BIND && mask == 1, "mode %d mask %#lx", m,
	       mask);
	if (a != MAP_FAILED)
		munmap(a, N * PAGE);

	/* An area without a policy shows the task's in numa_maps. */
	char *t = anon(PAGE);
	unsigned long one = 1;
	long sp = syscall(SYS_set_mempolicy, MPOL_BIND, &one, MAXNODE);
	const char *tl = t ? numa_maps_policy(t) : "";
	CHECKF("numa_maps_task_policy", sp == 0 && strncmp(tl, "bind:0", 6) == 0 && (tl[6] == ' ' || !tl[6]),
	       "set %ld, '%s'", sp, tl);
	syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0);
	tl = t ? numa_maps_policy(t) : "";
	CHECKF("numa_maps_default_again", strncmp(tl, "default", 7) == 0, "'%s'", tl);
	if (t)
		munmap(t, PAGE);
}

/* set_mempolicy_home_node's errors and its success, on any machine. */
static void home_node_cases(int nodes)
{
	char *p = anon(4 * PAGE), *q = anon(2 * PAGE);
	unsigned long mask;
	CHECK("home_setup", p && q && mbind_(p, 2 * PAGE, MPOL_BIND, 1, 0) == 0 &&
				    mbind_(p + 2 * PAGE, 2 * PAGE, MPOL_INTERLEAVE, 1, 0) == 0);
	FAILS("home_flags", home_node(p, PAGE, 0, 1), EINVAL);
	FAILS("home_unaligned", home_node(p + 1, PAGE, 0, 0), EINVAL);
	FAILS("home_node_offline", home_node(p, PAGE, nodes, 0), EINVAL);
	FAILS("home_node_huge", home_node(p, PAGE, 1UL << 40, 0), EINVAL);
	FAILS("home_interleave", home_node(p + 2 * PAGE, 2 * PAGE, 0, 0), EOPNOTSUPP);
	FAILS("home_no_policy", home_node(q, 2 * PAGE, 0, 0), ENOENT);
	munmap(q, 2 * PAGE);
	FAILS("home_unmapped", home_node(q, 2 * PAGE, 0, 0), ENOENT);
	CHECK("home_empty", home_node(p, 0, 0, 0) == 0);
	CHECKF("home_bind", home_node(p, 2 * PAGE, 0, 0) == 0, "%s", strerror(errno));
	int m = mode_at(p, &mask);
	CHECKF("home_policy_unchanged", m == MPOL_BIND && mask == 1, "mode %d mask %#lx", m, mask);
	const char *l = numa_maps_policy(p);
	CHECKF("home_not_in_numa_maps", strncmp(l, "bind:0", 6) == 0 && (l[6] == ' ' || !l[6]), "'%s'", l);
	/* The first area is done before the interleave one refuses. */
	FAILS("home_partial", home_node(p, 4 * PAGE, 0, 0), EOPNOTSUPP);
	munmap(p, 4 * PAGE);
}

/* Pages touched by the parent go where a child's shared policy says. */
static void multi_node(void)
{
	int st[N];
	int fd = memfd();
	char *p = fd >= 0 ? map_fd(fd) : NULL;
	int r = p ? bind_in_child((struct bind_req){fd, -1, NULL, 0, N, MPOL_INTERLEAVE, 3}) : -1;
	if (p)
		stamp_pages(p, N * PAGE, 0x51);
	r = r == 0 ? where(p, st) : -1;
	int alternate = 1;
	for (int i = 0; r == 0 && i + 1 < N; i++)
		alternate &= st[i] != st[i + 1];
	CHECKF("memfd_interleave_places", r == 0 && count_on(st, 0) == N / 2 && count_on(st, 1) == N / 2 && alternate,
	       "r %d; node 0: %d, node 1: %d, %s", r, count_on(st, 0), count_on(st, 1),
	       alternate ? "alternating" : "not alternating");
	if (p)
		munmap(p, N * PAGE);
	if (fd >= 0)
		close(fd);

	fd = memfd();
	p = fd >= 0 ? map_fd(fd) : NULL;
	r = p ? bind_in_child((struct bind_req){fd, -1, NULL, 0, N, MPOL_BIND, 2}) : -1;
	/* Page 0 through write(2), the rest through the mapping. */
	char b = 7;
	long w = fd >= 0 ? pwrite(fd, &b, 1, 0) : -1;
	if (p)
		for (int i = 0; i < N; i++)
			p[i * PAGE + 1] = (char)i;
	r = r == 0 && w == 1 ? where(p, st) : -1;
	CHECKF("memfd_bind_places", r == 0 && count_on(st, 1) == N, "r %d w %ld; on node 1: %d", r, w, count_on(st, 1));
	CHECKF("write_follows_policy", r == 0 && st[0] == 1 && p[0] == 7, "page 0 on %d", st[0]);
	if (p)
		munmap(p, N * PAGE);
	if (fd >= 0)
		close(fd);

	int id = shmget(IPC_PRIVATE, N * PAGE, IPC_CREAT | 0600);
	char *s = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
	r = s != (void *)-1 ? bind_in_child((struct bind_req){-1, id, NULL, 0, N, MPOL_BIND, 2}) : -1;
	if (s != (void *)-1)
		stamp_pages(s, N * PAGE, 0x52);
	r = r == 0 ? where(s, st) : -1;
	CHECKF("sysv_bind_places", r == 0 && count_on(st, 1) == N, "r %d; on node 1: %d", r, count_on(st, 1));
	if (s != (void *)-1)
		shmdt(s);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);

	char *a = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	r = a != MAP_FAILED ? bind_in_child((struct bind_req){-1, -1, a, 0, N, MPOL_BIND, 2}) : -1;
	if (a != MAP_FAILED)
		stamp_pages(a, N * PAGE, 0x53);
	r = r == 0 ? where(a, st) : -1;
	CHECKF("shared_anon_bind_places", r == 0 && count_on(st, 1) == N, "r %d; on node 1: %d", r, count_on(st, 1));

	/* MOVE: the pages only this process maps go to node 0. */
	long mv = a != MAP_FAILED ? mbind_(a, N * PAGE, MPOL_BIND, 1, MPOL_MF_MOVE | MPOL_MF_STRICT) : -1;
	r = mv == 0 ? where(a, st) : -1;
	CHECKF("shared_move_moves", r == 0 && count_on(st, 0) == N, "mbind %ld (%s); on node 0: %d", mv,
	       mv ? strerror(errno) : "ok", count_on(st, 0));
	CHECKF("shared_move_keeps_data", a != MAP_FAILED && bad_stamp(a, N * PAGE, 0x53, 0) < 0, "page %ld",
	       a != MAP_FAILED ? bad_stamp(a, N * PAGE, 0x53, 0) : -1);
	if (a != MAP_FAILED)
		munmap(a, N * PAGE);

	/* No shared policy: the toucher's own task policy places the pages. */
	fd = memfd();
	p = fd >= 0 ? map_fd(fd) : NULL;
	unsigned long two = 2;
	long sp = p ? syscall(SYS_set_mempolicy, MPOL_BIND, &two, MAXNODE) : -1;
	if (sp == 0)
		stamp_pages(p, N * PAGE, 0x54);
	syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0);
	r = sp == 0 ? where(p, st) : -1;
	CHECKF("task_policy_places_shmem", r == 0 && count_on(st, 1) == N, "set %ld r %d; on node 1: %d", sp, r,
	       count_on(st, 1));
	if (p)
		munmap(p, N * PAGE);
	if (fd >= 0)
		close(fd);

	/* Home nodes: where BIND and PREFERRED_MANY start. */
	int modes[2] = {MPOL_BIND, MPOL_PREFERRED_MANY};
	const char *names[2][2] = {{"home_bind_node0", "home_bind_node1"}, {"home_many_node0", "home_many_node1"}};
	for (int k = 0; k < 2; k++)
		for (int home = 0; home < 2; home++) {
			char *h = anon(N * PAGE);
			long rm = h ? mbind_(h, N * PAGE, modes[k], 3, 0) : -1;
			long rh = rm == 0 ? home_node(h, N * PAGE, home, 0) : -1;
			if (rh == 0)
				stamp_pages(h, N * PAGE, 0x60 + home);
			r = rh == 0 ? where(h, st) : -1;
			CHECKF(names[k][home], r == 0 && count_on(st, home) == N, "mbind %ld home %ld (%s); on %d: %d",
			       rm, rh, strerror(errno), home, count_on(st, home));
			if (h)
				munmap(h, N * PAGE);
		}
}

int main(void)
{
	check_init("t_shpol");
	int nodes = nr_nodes();
	shared_views();
	home_node_cases(nodes);
	if (nodes < 2) {
		const char *why = "one NUMA node here (the numa= matrix lines run these)";
		const char *multi[] = {"memfd_interleave_places", "memfd_bind_places",	 "write_follows_policy",
				       "sysv_bind_places",	  "shared_anon_bind_places", "shared_move_moves",
				       "shared_move_keeps_data",  "task_policy_places_shmem", "home_bind_node0",	 "home_bind_node1",
				       "home_many_node0",	  "home_many_node1"};
		for (size_t i = 0; i < sizeof multi / sizeof *multi; i++)
			check_skip(multi[i], why);
	} else {
		multi_node();
	}
	return check_done();
}
