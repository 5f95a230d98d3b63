/*
 * t_proc2.c: process calls that must do what they say.
 *
 * - sigaltstack: SS_DISABLE at first; a stack set reads back; bad flags
 *   EINVAL; a size below MINSIGSTKSZ ENOMEM (nothing changes); SS_DISABLE
 *   removes it; a fork child inherits it (raw syscalls: musl checks some
 *   of this itself);
 * - set_robust_list / get_robust_list: the head reads back with length
 *   24; length 23 is EINVAL; an unknown pid ESRCH; a fork child starts
 *   without a list;
 * - setsid / getsid: a child's new session and group are its pid, stat's
 *   session field says so, a second setsid and setpgid of the session
 *   leader are EPERM, moving into the parent's group (another session)
 *   EPERM; a group leader cannot setsid; getsid of no process ESRCH;
 * - PR_SET_PDEATHSIG: reads back, 65 is EINVAL, fork clears it, and the
 *   signal kills a grandchild when its parent exits;
 * - wait4's rusage: a child that touched 4 MiB and spun reports at least
 *   1024 minor faults, 4096 KiB of peak RSS and some CPU time, and
 *   getrusage(RUSAGE_CHILDREN) includes it;
 * - a handler installed for SIGCHLD or SIGWINCH (default: ignore) does not
 *   kill the process when the signal comes.
 */
#include <sys/prctl.h>
#include <time.h>
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)

/* stack_t as the kernel has it. */
struct kstack {
	void *sp;
	int flags;
	size_t size;
};

static long altstack(const struct kstack *ss, struct kstack *old)
{
	return syscall(SYS_sigaltstack, ss, old);
}

static char stack_a[65536];

static int altstack_child(void *unused)
{
	(void)unused;
	struct kstack o;
	if (altstack(NULL, &o) != 0 || o.sp != stack_a || o.size != sizeof stack_a || o.flags != 0)
		return child_fail("child's stack: sp %p size %zu flags %d, want the parent's", o.sp, o.size, o.flags);
	return 0;
}

static void check_sigaltstack(void)
{
	struct kstack o = {0}, s;
	long r = altstack(NULL, &o);
	CHECKF("altstack_initially_disabled", r == 0 && o.flags == SS_DISABLE, "r %ld flags %d", r, o.flags);
	s = (struct kstack){stack_a, 0, sizeof stack_a};
	r = altstack(&s, NULL);
	memset(&o, 0xff, sizeof o);
	long r2 = altstack(NULL, &o);
	CHECKF("altstack_reads_back", r == 0 && r2 == 0 && o.sp == stack_a && o.size == sizeof stack_a && o.flags == 0,
	       "set %ld, get %ld: sp %p size %zu flags %d", r, r2, o.sp, o.size, o.flags);
	check_child("altstack_inherited_by_fork", altstack_child, NULL);
	s = (struct kstack){stack_a, 0x10, sizeof stack_a};
	CHECK_ERRNO("altstack_bad_flags_einval", altstack(&s, NULL), EINVAL);
	s = (struct kstack){stack_a + 4096, 0, 1024};
	CHECK_ERRNO("altstack_small_enomem", altstack(&s, NULL), ENOMEM);
	altstack(NULL, &o);
	CHECKF("altstack_unchanged_after_errors", o.sp == stack_a && o.size == sizeof stack_a, "sp %p size %zu", o.sp, o.size);
	s = (struct kstack){NULL, SS_DISABLE, 0};
	r = altstack(&s, &o);
	struct kstack n;
	altstack(NULL, &n);
	CHECKF("altstack_disable", r == 0 && o.sp == stack_a && n.flags == SS_DISABLE && n.size == 0,
	       "r %ld, old sp %p, now flags %d size %zu", r, o.sp, n.flags, n.size);
}

static long head_a[3];

static int robust_child(void *unused)
{
	(void)unused;
	void *h = (void *)1;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, 0, &h, &len) != 0 || h != NULL || len != 24)
		return child_fail("child's robust list %p len %zu, want NULL 24", h, len);
	return 0;
}

static void check_robust_list(void)
{
	long r = syscall(SYS_set_robust_list, head_a, 24);
	void *h = NULL;
	size_t len = 0;
	long r2 = syscall(SYS_get_robust_list, 0, &h, &len);
	CHECKF("robust_list_reads_back", r == 0 && r2 == 0 && h == head_a && len == 24, "set %ld get %ld: %p len %zu", r, r2, h,
	       len);
	h = NULL;
	r2 = syscall(SYS_get_robust_list, getpid(), &h, &len);
	CHECKF("robust_list_by_pid", r2 == 0 && h == head_a, "get %ld: %p", r2, h);
	CHECK_ERRNO("robust_list_len_einval", syscall(SYS_set_robust_list, head_a, 23), EINVAL);
	CHECK_ERRNO("robust_list_no_such_pid_esrch", syscall(SYS_get_robust_list, 0x3ffffff0, &h, &len), ESRCH);
	check_child("robust_list_cleared_by_fork", robust_child, NULL);
}

/* Field N (1-based) of /proc/self/stat, after the command name. */
static long stat_field(int n)
{
	static char buf[1024];
	if (read_small_file("/proc/self/stat", buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2; /* field 3 */
	for (int i = 3; i < n; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return strtol(p, NULL, 10);
}

static int setsid_child(void *unused)
{
	(void)unused;
	pid_t me = getpid(), parent_sid = getsid(getppid());
	if (getsid(0) != parent_sid)
		return child_fail("getsid %d, parent's %d: fork keeps the session", (int)getsid(0), (int)parent_sid);
	pid_t s = setsid();
	if (s != me)
		return child_fail("setsid: %d (%s), want %d", (int)s, strerror(errno), (int)me);
	if (getsid(0) != me || getpgid(0) != me)
		return child_fail("after setsid: sid %d pgid %d, want %d", (int)getsid(0), (int)getpgid(0), (int)me);
	long sess = stat_field(6);
	if (sess != me)
		return child_fail("/proc/self/stat session %ld, want %d", sess, (int)me);
	errno = 0;
	if (setsid() != -1 || errno != EPERM)
		return child_fail("second setsid: %s, want EPERM", strerror(errno));
	errno = 0;
	if (setpgid(0, 0) != -1 || errno != EPERM)
		return child_fail("setpgid of a session leader: %s, want EPERM", strerror(errno));
	errno = 0;
	if (setpgid(0, getpgid(getppid())) != -1 || errno != EPERM)
		return child_fail("setpgid into another session's group: %s, want EPERM", strerror(errno));
	return 0;
}

static int group_leader_child(void *unused)
{
	(void)unused;
	if (setpgid(0, 0) != 0)
		return child_fail("setpgid(0, 0): %s", strerror(errno));
	errno = 0;
	if (setsid() != -1 || errno != EPERM)
		return child_fail("setsid of a group leader: %s, want EPERM", strerror(errno));
	return 0;
}

static void check_sessions(void)
{
	CHECKF("stat_session_is_getsid", stat_field(6) == getsid(0), "stat %ld, getsid %d", stat_field(6), (int)getsid(0));
	check_child("setsid_new_session", setsid_child, NULL);
	check_child("setsid_group_leader_eperm", group_leader_child, NULL);
	CHECK_ERRNO("getsid_no_such_pid_esrch", getsid(0x3ffffff0), ESRCH);
}

static int pdeath_fork_child(void *unused)
{
	(void)unused;
	int sig = -1;
	if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0 || sig != 0)
		return child_fail("fork child's pdeathsig %d, want 0", sig);
	return 0;
}

static void check_pdeathsig(void)
{
	int sig = -1;
	long r = prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
	long r2 = prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
	CHECKF("pdeathsig_reads_back", r == 0 && r2 == 0 && sig == SIGUSR1, "set %ld get %ld: %d", r, r2, sig);
	check_child("pdeathsig_cleared_by_fork", pdeath_fork_child, NULL);
	CHECK_ERRNO("pdeathsig_65_einval", prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0), EINVAL);
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);

	/* A grandchild with pdeathsig SIGUSR1 holds the write end of `alive`;
	 * its parent exits once it is ready. The signal kills it: the pipe
	 * reaches EOF. If it is still alive after 10 s it writes 'x'. */
	int ready[2], alive[2];
	if (pipe(ready) != 0 || pipe(alive) != 0) {
		CHECKF("pdeathsig_delivered", 0, "pipe: %s", strerror(errno));
		return;
	}
	pid_t c = fork();
	if (c == 0) {
		close(alive[0]);
		pid_t g = fork();
		if (g == 0) {
			close(ready[0]);
			prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
			if (write(ready[1], "r", 1) != 1)
				_exit(2);
			close(ready[1]);
			sleep(10);
			if (write(alive[1], "x", 1) != 1)
				_exit(3);
			_exit(0);
		}
		close(alive[1]);
		char b;
		close(ready[1]);
		/* Wait for the grandchild to have set it, then die. */
		_exit(g > 0 && read(ready[0], &b, 1) == 1 ? 0 : 1);
	}
	close(ready[0]);
	close(ready[1]);
	close(alive[1]);
	int st = 0;
	waitpid(c, &st, 0);
	char b = 0;
	ssize_t n = read(alive[0], &b, 1);
	close(alive[0]);
	CHECKF("pdeathsig_delivered", WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 0,
	       "middle child status %#x; the grandchild %s", st, n == 0 ? "died" : "survived its parent by 10 s");
}

static double now(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void check_rusage(void)
{
	struct rusage before;
	getrusage(RUSAGE_CHILDREN, &before);
	pid_t c = fork();
	if (c == 0) {
		volatile char *p = malloc(4 * MiB);
		if (!p)
			_exit(1);
		for (unsigned long i = 0; i < 4 * MiB; i += PAGE)
			p[i] = 1;
		/* 200 ms of CPU, or 2 s of wall time on a busy host. */
		double t0 = now(CLOCK_MONOTONIC);
		while (now(CLOCK_PROCESS_CPUTIME_ID) < 0.2 && now(CLOCK_MONOTONIC) - t0 < 2)
			;
		_exit(0);
	}
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	int st = 0;
	pid_t w = wait4(c, &st, 0, &ru);
	long cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	check_note("# child rusage: minflt %ld majflt %ld maxrss %ld KiB cpu %ld ms", ru.ru_minflt, ru.ru_majflt, ru.ru_maxrss,
		   cpu_ms);
	CHECKF("wait4_rusage_faults", w == c && ru.ru_minflt >= 1024, "wait4 %d, minflt %ld", (int)w, ru.ru_minflt);
	CHECKF("wait4_rusage_maxrss", ru.ru_maxrss >= 4096, "maxrss %ld KiB", ru.ru_maxrss);
	CHECKF("wait4_rusage_cpu", cpu_ms >= 10, "utime+stime %ld ms after 200 ms of spinning", cpu_ms);
	struct rusage after;
	getrusage(RUSAGE_CHILDREN, &after);
	CHECKF("rusage_children_includes_it", after.ru_minflt - before.ru_minflt >= ru.ru_minflt && after.ru_maxrss >= ru.ru_maxrss,
	       "children minflt %ld -> %ld, maxrss %ld", before.ru_minflt, after.ru_minflt, after.ru_maxrss);
}

static void handler(int sig)
{
	(void)sig;
}

static int caught_child(void *unused)
{
	(void)unused;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	if (sigaction(SIGWINCH, &sa, NULL) != 0 || sigaction(SIGURG, &sa, NULL) != 0)
		return child_fail("sigaction: %s", strerror(errno));
	kill(getpid(), SIGWINCH);
	kill(getpid(), SIGURG);
	return 0;
}

static void check_caught_ignored_signals(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigaction(SIGCHLD, &sa, &old);
	kill(getpid(), SIGCHLD);
	/* The child's exit sends us SIGCHLD (on Linux): we must survive it. */
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	CHECKF("caught_sigchld_harmless", w == c && WIFEXITED(st), "waitpid %d status %#x", (int)w, st);
	sigaction(SIGCHLD, &old, NULL);
	check_child("caught_sigwinch_sigurg_harmless", caught_child, NULL);
}

int main(void)
{
	check_init("t_proc2");
	check_sigaltstack();
	check_robust_list();
	check_sessions();
	check_pdeathsig();
	check_rusage();
	check_caught_ignored_signals();
	return check_done();
}
