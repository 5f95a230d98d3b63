/*
 * t_fork.c: fork(2) and copy-on-write, vfork(2), and the madvise flags
 * that change what a child inherits.
 *
 * - COW both ways: a child's writes are invisible to the parent, and the
 *   parent's writes after fork are invisible to the child (the child waits
 *   for them on a flag in shared memory); globals (.data/.bss) and the
 *   stack too; 16 MiB of pages each stamped with its index;
 * - MAP_SHARED|MAP_ANONYMOUS memory stays shared across fork, both ways;
 * - MADV_DONTFORK: the area is absent in the child (mincore ENOMEM,
 *   access SIGSEGV) and intact in the parent; MADV_DOFORK undoes it;
 * - MADV_WIPEONFORK: the child reads zeros, the parent keeps its data;
 *   MADV_KEEPONFORK undoes it;
 * - vfork: the parent sleeps until the child's _exit, and the child's
 *   writes land in the parent's memory (one address space); 400 children
 *   that exit at once all come back (the exit races the parent's sleep);
 * - RLIMIT_NPROC (as uid 65534 in a child): a loop of forks stops with
 *   EAGAIN, every child is reaped, and the wait queue is then empty
 *   (ECHILD);
 * - a grandchild is reaped by its parent; wait4 of a non-child: ECHILD.
 */
#include <sched.h>
#include <time.h>
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)

static int global_data = 1234;
static long global_bss[1024];

static volatile int *flag; /* in shared memory */

static void wait_flag(int v)
{
	for (long i = 0; *flag != v; i++) {
		if (i > 2000000)
			_exit(99); /* the parent never set it */
		sched_yield();
	}
}

/* ---- COW, child writes ---- */

static char *buf;
static size_t buf_len;

static int child_writes(void *unused)
{
	(void)unused;
	long bad = bad_stamp(buf, buf_len, 0xf0f0, 0);
	if (bad >= 0)
		return child_fail("before writing, page %ld does not hold the parent's data", bad);
	/* Overwrite every other page, and half of one page. */
	for (size_t i = 0; i < buf_len / PAGE; i += 2)
		memset(buf + i * PAGE, 0xcc, PAGE);
	global_data = 99;
	global_bss[500] = 77;
	for (size_t i = 0; i < buf_len / PAGE; i++) {
		unsigned char *pg = (unsigned char *)buf + i * PAGE;
		if (i % 2 == 0 ? pg[0] != 0xcc || pg[PAGE - 1] != 0xcc : bad_stamp(pg, PAGE, 0xf0f0, (long)i) >= 0)
			return child_fail("child's own page %zu reads wrong after writing", i);
	}
	if (global_data != 99 || global_bss[500] != 77)
		return child_fail("child's globals did not change");
	return 0;
}

static void check_cow_child_writes(void)
{
	buf_len = 16 * MiB;
	buf = anon(buf_len);
	if (!CHECKF("cow_setup", buf != NULL, "errno %d", errno))
		return;
	stamp_pages(buf, buf_len, 0xf0f0);
	global_bss[500] = 5;
	check_child("cow_child_writes_16m", child_writes, NULL);
	long bad = bad_stamp(buf, buf_len, 0xf0f0, 0);
	CHECKF("cow_child_writes_invisible_to_parent", bad < 0, "parent's page %ld changed", bad);
	CHECKF("cow_globals_private", global_data == 1234 && global_bss[500] == 5, "global_data %d, bss %ld", global_data,
	       global_bss[500]);
}

/* ---- COW, parent writes ---- */

static int child_sees_old(void *unused)
{
	(void)unused;
	volatile int stack_var = 1;
	flag[1] = (int)(intptr_t)&stack_var; /* unused by the parent; keeps the variable on the stack */
	wait_flag(1);
	long bad = bad_stamp(buf, buf_len, 0xf0f0, 0);
	if (bad >= 0)
		return child_fail("after the parent wrote, child's page %ld changed", bad);
	if (global_data != 1234)
		return child_fail("child sees the parent's global write (%d)", global_data);
	if (stack_var != 1)
		return child_fail("stack variable changed");
	return 0;
}

static void check_cow_parent_writes(void)
{
	if (!buf)
		return;
	*flag = 0;
	report->why[0] = '\0';
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		_exit(child_sees_old(NULL));
	}
	if (!CHECKF("cow_parent_fork", pid > 0, "fork: %s", strerror(errno)))
		return;
	for (size_t i = 0; i < buf_len / PAGE; i += 3)
		memset(buf + i * PAGE, 0xdd, 64);
	global_data = 4321;
	*flag = 1;
	int st = 0;
	pid_t r = waitpid(pid, &st, 0);
	char d[96];
	describe_status(d, sizeof d, r == pid ? st : -1);
	CHECKF("cow_parent_writes_invisible_to_child", r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s%s%s", d,
	       report->why[0] ? ": " : "", report->why);
	int ok = 1;
	for (size_t i = 0; i < buf_len / PAGE; i++) {
		unsigned char *pg = (unsigned char *)buf + i * PAGE;
		if (i % 3 == 0 ? pg[0] != 0xdd || pg[63] != 0xdd || ((long *)pg)[PAGE / sizeof(long) - 1] != (0xf0f0 ^ (long)i)
			       : bad_stamp(pg, PAGE, 0xf0f0, (long)i) >= 0)
			ok = 0;
	}
	CHECK("cow_parent_keeps_its_writes", ok && global_data == 4321);
	global_data = 1234;
	munmap(buf, buf_len);
	buf = NULL;
}

/* ---- shared anonymous memory ---- */

static int *shared;

static int shared_child(void *unused)
{
	(void)unused;
	if (shared[0] != 11)
		return child_fail("child reads %d, want the parent's 11", shared[0]);
	shared[1] = 22;
	wait_flag(2);
	if (shared[2] != 33)
		return child_fail("child reads %d after the parent wrote 33", shared[2]);
	return 0;
}

static void check_shared(void)
{
	shared = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("shared_setup", shared != MAP_FAILED, "errno %d", errno))
		return;
	shared[0] = 11;
	*flag = 0;
	report->why[0] = '\0';
	pid_t pid = fork();
	if (pid == 0)
		_exit(shared_child(NULL));
	if (!CHECKF("shared_fork", pid > 0, "fork: %s", strerror(errno)))
		return;
	for (long i = 0; shared[1] != 22 && i < 2000000; i++)
		sched_yield();
	int saw = shared[1];
	shared[2] = 33;
	*flag = 2;
	int st = 0;
	pid_t r = waitpid(pid, &st, 0);
	CHECKF("shared_child_write_seen_by_parent", saw == 22, "parent reads %d", saw);
	CHECKF("shared_parent_write_seen_by_child", r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st,
	       report->why);
	munmap(shared, 2 * PAGE);
}

/* ---- MADV_DONTFORK / MADV_WIPEONFORK ---- */

static char *area;

static int dontfork_child(void *unused)
{
	(void)unused;
	unsigned char v;
	errno = 0;
	if (mincore(area, PAGE, &v) != -1 || errno != ENOMEM)
		return child_fail("mincore on the DONTFORK area in the child: errno %d, want ENOMEM", errno);
	probe_sink = area[0]; /* must die here */
	return child_fail("the DONTFORK area is readable in the child");
}

static int dofork_child(void *unused)
{
	(void)unused;
	return area[0] == 'D' && area[2 * PAGE] == 'D' ? 0 : child_fail("area reads %d", area[0]);
}

static int wipe_child(void *unused)
{
	(void)unused;
	if (!all_zero(area, 4 * PAGE))
		return child_fail("the WIPEONFORK area is not zero in the child");
	area[0] = 'c'; /* writable, and private to the child */
	return 0;
}

static int keep_child(void *unused)
{
	(void)unused;
	return (unsigned char)area[0] == 'W' ? 0 : child_fail("area reads %d after MADV_KEEPONFORK", area[0]);
}

static void check_madvise_fork(void)
{
	area = anon(4 * PAGE);
	if (!CHECKF("dontfork_setup", area != NULL, "errno %d", errno))
		return;
	memset(area, 'D', 4 * PAGE);
	CHECKF("madv_dontfork", madvise(area, 4 * PAGE, MADV_DONTFORK) == 0, "errno %d", errno);
	check_child_signal("dontfork_absent_in_child", dontfork_child, NULL, SIGSEGV);
	CHECKF("dontfork_parent_intact", area[0] == 'D' && area[4 * PAGE - 1] == 'D', "parent reads %d", area[0]);
	CHECKF("madv_dofork", madvise(area, 4 * PAGE, MADV_DOFORK) == 0, "errno %d", errno);
	check_child("dofork_present_in_child", dofork_child, NULL);
	munmap(area, 4 * PAGE);

	area = anon(4 * PAGE);
	if (!area)
		return;
	memset(area, 'W', 4 * PAGE);
	CHECKF("madv_wipeonfork", madvise(area, 4 * PAGE, MADV_WIPEONFORK) == 0, "errno %d", errno);
	check_child("wipeonfork_zero_in_child", wipe_child, NULL);
	CHECKF("wipeonfork_parent_intact", area[0] == 'W' && area[4 * PAGE - 1] == 'W', "parent reads %d", area[0]);
	CHECKF("madv_keeponfork", madvise(area, 4 * PAGE, MADV_KEEPONFORK) == 0, "errno %d", errno);
	check_child("keeponfork_data_in_child", keep_child, NULL);
	munmap(area, 4 * PAGE);

	/* WIPEONFORK is for private anonymous memory only. */
	char *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s != MAP_FAILED) {
		CHECK_ERRNO("wipeonfork_shared_einval", madvise(s, PAGE, MADV_WIPEONFORK), EINVAL);
		munmap(s, PAGE);
	}
}

/* ---- vfork ---- */

static volatile int vfork_mark;

static void check_vfork(void)
{
	vfork_mark = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		/* Take some time: a parent that did not wait would see 0. */
		for (volatile int i = 0; i < 1000000; i++)
			;
		vfork_mark = 1;
		_exit(7);
	}
	int seen = vfork_mark; /* before wait: the child has already exited */
	int st = 0;
	pid_t r = pid > 0 ? waitpid(pid, &st, 0) : -1;
	CHECKF("vfork_child_exit_7", pid > 0 && r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7, "pid %d wait %d status %#x",
	       (int)pid, (int)r, st);
	CHECKF("vfork_shares_memory_parent_waits", seen == 1, "parent read %d after vfork returned, want 1", seen);

	/* Children that exit at once, many times: with several CPUs the exit
	 * races the parent going to sleep, and a wake-up lost there leaves
	 * the parent asleep for good (a hang, not a failed check). */
	volatile int done = 0;
	for (volatile int i = 0; i < 400; i++) {
		pid_t c = vfork();
		if (c == 0)
			_exit(0);
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st))
			break;
		done++;
	}
	CHECKF("vfork_exit_at_once_400", done == 400, "%d of 400 vforks came back", done);
}

/* ---- RLIMIT_NPROC ---- */

#define NPROC_LIMIT 6
#define NPROC_TRIES 64

static int nproc_child(void *unused)
{
	(void)unused;
	if (drop_root() != 0)
		return child_fail("cannot drop root: %s", strerror(errno));
	struct rlimit rl = {NPROC_LIMIT, NPROC_LIMIT};
	if (setrlimit(RLIMIT_NPROC, &rl) != 0)
		return child_fail("setrlimit(RLIMIT_NPROC): %s", strerror(errno));
	*flag = 0;
	int made = 0, err = 0;
	pid_t kids[NPROC_TRIES];
	for (int i = 0; i < NPROC_TRIES; i++) {
		pid_t p = fork();
		if (p == 0) {
			/* Stay alive (and counted) until released. */
			for (long j = 0; *flag != 3 && j < 4000000; j++)
				sched_yield();
			_exit(0);
		}
		if (p < 0) {
			err = errno;
			break;
		}
		kids[made++] = p;
	}
	*flag = 3;
	int reaped = 0, bad = 0;
	for (int i = 0; i < made; i++) {
		int st = 0;
		if (waitpid(kids[i], &st, 0) == kids[i])
			reaped++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	errno = 0;
	pid_t more = waitpid(-1, NULL, WNOHANG);
	int e = errno;
	report->val[0] = made;
	if (err != EAGAIN)
		return child_fail("%d forks succeeded, then errno %d (%s), want EAGAIN", made, err, strerror(err));
	if (made > NPROC_LIMIT - 1)
		return child_fail("%d forks succeeded with RLIMIT_NPROC %d (this process counts too)", made, NPROC_LIMIT);
	if (reaped != made || bad)
		return child_fail("reaped %d of %d children, %d exited badly", reaped, made, bad);
	if (more != -1 || e != ECHILD)
		return child_fail("waitpid after reaping all: %d errno %d, want ECHILD", (int)more, e);
	return 0;
}

static int grandparent_child(void *unused)
{
	(void)unused;
	pid_t p = fork();
	if (p == 0)
		_exit(5);
	int st = 0;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 5)
		return child_fail("grandchild: pid %d status %#x", (int)p, st);
	return 0;
}

int main(void)
{
	check_init("t_fork");
	report_init();
	flag = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (flag == MAP_FAILED) {
		CHECKF("flag_page", 0, "errno %d", errno);
		return check_done();
	}
	check_cow_child_writes();
	check_cow_parent_writes();
	check_shared();
	check_madvise_fork();
	check_vfork();
	if (getuid() == 0) {
		check_child("rlimit_nproc_eagain", nproc_child, NULL);
		check_note("# rlimit_nproc: %ld forks succeeded before EAGAIN", report->val[0]);
	} else {
		check_skip("rlimit_nproc_eagain", "needs root to become uid 65534");
	}
	check_child("grandchild_reaped", grandparent_child, NULL);
	CHECK_ERRNO("wait_no_children_echild", waitpid(-1, NULL, 0), ECHILD);
	CHECK_ERRNO("wait_not_a_child_echild", waitpid(1, NULL, 0), ECHILD);
	return check_done();
}
