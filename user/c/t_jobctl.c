/*
 * t_jobctl.c: process groups, sessions and job-control signals.
 *
 * - getpgrp/getpgid/getsid agree; ESRCH for a pid that is gone;
 * - setpgid: EINVAL for a negative pgid, ESRCH for a process that is not
 *   a child (a grandchild, a reaped pid), EACCES for a child after execve
 *   (it execs this program with argv[1] = "exec-wait"), EPERM for a session
 *   leader (itself, or as a child), for a child in another session and for
 *   a group in another session or that does not exist; moving a child into
 *   an existing group of the session works;
 * - setsid: EPERM for a group leader; otherwise sid = pgid = pid;
 * - kill(0, sig), kill(-pgid, sig) and killpg reach every member of a group
 *   (a leader and two members report each delivery through a pipe), and
 *   nobody outside it; kill(-gone, 0) is ESRCH;
 * - a group that becomes orphaned (its last member's parent exits) while a
 *   member is stopped: that member gets SIGHUP, then SIGCONT;
 * - SIGTSTP, SIGTTIN, SIGTTOU with the default action stop a process of a
 *   group that is not orphaned, and are discarded in an orphaned group
 *   (a new session's leader); SIGSTOP stops either;
 * - tcgetpgrp on a pipe: ENOTTY;
 * - with a controlling terminal on fd 0 and this process in its foreground
 *   group (else `ok (skipped: no tty)`): after setsid a child has no
 *   controlling terminal (tcgetpgrp/tcgetsid ENOTTY), a background
 *   read stops with SIGTTIN (EIO when SIGTTIN is ignored), a background
 *   tcsetpgrp stops with SIGTTOU (and works when SIGTTOU is ignored),
 *   handing the foreground to a child and taking it back, tcsetpgrp EINVAL
 *   and ESRCH.
 *
 * Every wait for another process's report has a timeout (a non-blocking
 * pipe polled with short sleeps), so a missing signal fails instead of
 * hanging.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include "check.h"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int reap(pid_t pid)
{
	int st = 0;
	pid_t w;
	do
		w = waitpid(pid, &st, 0);
	while (w == -1 && errno == EINTR);
	return w == pid ? st : -1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Read up to N bytes from FD (made non-blocking) within MS ms; returns the count. */
static int read_within(int fd, char *buf, int n, int ms)
{
	fcntl(fd, F_SETFL, O_NONBLOCK);
	int got = 0;
	for (long long end = now_ms() + ms; got < n && now_ms() <= end;) {
		ssize_t r = read(fd, buf + got, (size_t)(n - got));
		if (r > 0) {
			got += (int)r;
			continue;
		}
		if (r == 0)
			break;
		sleep_ms(5);
	}
	return got;
}

/* A pid that existed and is gone (a child, reaped). */
static pid_t gone_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	reap(pid);
	return pid;
}

static void describe(char *buf, size_t len, int st)
{
	if (st == -1)
		snprintf(buf, len, "fork or wait failed");
	else if (st == -2)
		snprintf(buf, len, "neither stopped nor ended within 3 s");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
	else if (WIFSTOPPED(st))
		snprintf(buf, len, "stopped by signal %d", WSTOPSIG(st));
	else
		snprintf(buf, len, "status %#x", st);
}

/* ---- identities and errors ------------------------------------------------ */

static void check_ids(void)
{
	CHECKF("getpgrp_is_getpgid_0", getpgrp() == getpgid(0) && getpgid(0) == getpgid(getpid()),
	       "getpgrp %d getpgid(0) %d getpgid(self) %d", (int)getpgrp(), (int)getpgid(0), (int)getpgid(getpid()));
	/* Both may be 0: Linux's pid 1 starts in session 0 and group 0. */
	CHECKF("getsid_0_is_getsid_self", getsid(0) == getsid(getpid()) && getsid(0) >= 0, "getsid(0) %d self %d",
	       (int)getsid(0), (int)getsid(getpid()));
	pid_t gone = gone_pid();
	CHECK_ERRNO("getpgid_gone_esrch", getpgid(gone), ESRCH);
	CHECK_ERRNO("getsid_gone_esrch", getsid(gone), ESRCH);
	CHECK_ERRNO("setpgid_negative_pgid_einval", setpgid(0, -1), EINVAL);
	CHECK_ERRNO("setpgid_gone_esrch", setpgid(gone, gone), ESRCH);
	CHECK_ERRNO("kill_gone_group_esrch", kill(-gone, 0), ESRCH);

	int fds[2];
	pipe(fds);
	CHECK_ERRNO("tcgetpgrp_pipe_enotty", tcgetpgrp(fds[0]), ENOTTY);
	close(fds[0]);
	close(fds[1]);
}

/* A child that reports a grandchild's pid; setpgid on the grandchild is ESRCH. */
static void check_grandchild_esrch(void)
{
	int p[2], hold[2];
	pipe(p);
	pipe(hold);
	pid_t child = fork();
	if (child == 0) {
		pid_t g = fork();
		if (g == 0) {
			char c;
			close(hold[1]);
			read(hold[0], &c, 1);
			_exit(0);
		}
		close(hold[1]); /* only the parent may end the grandchild's wait */
		write(p[1], &g, sizeof g);
		reap(g);
		_exit(0);
	}
	close(hold[0]);
	pid_t g = 0;
	int got = read_within(p[0], (char *)&g, sizeof g, 2000);
	if (got == sizeof g)
		CHECK_ERRNO("setpgid_grandchild_esrch", setpgid(g, g), ESRCH);
	else
		CHECKF("setpgid_grandchild_esrch", 0, "no grandchild pid");
	close(hold[1]);
	reap(child);
	close(p[0]);
	close(p[1]);
}

/* setpgid before and after the child's execve. */
static void check_setpgid_exec(void)
{
	const char *bindir = getenv("BINDIR");
	char path[512], wfd_s[16], rfd_s[16];
	snprintf(path, sizeof path, "%s/t_jobctl", bindir ? bindir : "/bin");
	int go[2], ready[2], hold[2];
	pipe(go);
	pipe(ready);
	pipe(hold);
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(go[1]);
		close(ready[0]);
		close(hold[1]);
		read(go[0], &c, 1);
		snprintf(wfd_s, sizeof wfd_s, "%d", ready[1]);
		snprintf(rfd_s, sizeof rfd_s, "%d", hold[0]);
		char *argv[] = {path, "exec-wait", wfd_s, rfd_s, NULL};
		char *envp[] = {NULL};
		execve(path, argv, envp);
		_exit(100);
	}
	close(go[0]);
	close(ready[1]);
	close(hold[0]);
	int r = setpgid(child, child);
	CHECKF("setpgid_child_before_exec", r == 0 && getpgid(child) == child, "setpgid %d errno %d getpgid %d", r,
	       errno, (int)getpgid(child));
	write(go[1], "g", 1);
	char c = 0;
	int got = read_within(ready[0], &c, 1, 5000);
	if (got == 1)
		CHECK_ERRNO("setpgid_child_after_exec_eacces", setpgid(child, getpgrp()), EACCES);
	else
		CHECKF("setpgid_child_after_exec_eacces", 0, "the child did not report after execve of %s", path);
	close(hold[1]);
	int st = reap(child);
	CHECKF("exec_wait_helper_exits_0", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	close(go[1]);
	close(ready[0]);
}

/* argv: exec-wait WFD RFD: write one byte to WFD, wait for EOF on RFD. */
static int exec_wait(char **argv)
{
	int wfd = atoi(argv[2]), rfd = atoi(argv[3]);
	char c;
	write(wfd, "x", 1);
	while (read(rfd, &c, 1) > 0)
		;
	return 0;
}

enum {
	SL_SETSID_FAILED = 1,
	SL_IDS_WRONG = 2,
	SL_SETPGID_SELF_NOT_EPERM = 4,
	SL_SETSID_AGAIN_NOT_EPERM = 8,
};

static void check_sessions(void)
{
	/* A child that becomes a session leader, then checks its rules. */
	int hold[2];
	pipe(hold);
	pid_t leader = fork();
	if (leader == 0) {
		close(hold[1]);
		int bad = 0;
		pid_t sid = setsid();
		if (sid != getpid())
			bad |= SL_SETSID_FAILED;
		if (getsid(0) != getpid() || getpgrp() != getpid())
			bad |= SL_IDS_WRONG;
		if (!(setpgid(0, 0) == -1 && errno == EPERM))
			bad |= SL_SETPGID_SELF_NOT_EPERM;
		if (!(setsid() == -1 && errno == EPERM))
			bad |= SL_SETSID_AGAIN_NOT_EPERM;
		char c;
		read(hold[0], &c, 1);
		_exit(bad);
	}
	close(hold[0]);
	/* Wait until the child is its own session (then its group is its pid). */
	for (int i = 0; i < 400 && getsid(leader) != leader; i++)
		sleep_ms(5);
	CHECKF("setsid_child_seen_by_parent", getsid(leader) == leader && getpgid(leader) == leader,
	       "getsid %d getpgid %d (child %d)", (int)getsid(leader), (int)getpgid(leader), (int)leader);
	CHECK_ERRNO("setpgid_child_other_session_eperm", setpgid(leader, leader), EPERM);

	/* A second child cannot join a group of another session, nor a group that does not exist. */
	int hold2[2];
	pipe(hold2);
	pid_t other = fork();
	if (other == 0) {
		char c;
		close(hold2[1]);
		read(hold2[0], &c, 1);
		_exit(0);
	}
	close(hold2[0]);
	CHECK_ERRNO("setpgid_into_other_session_group_eperm", setpgid(other, leader), EPERM);
	CHECK_ERRNO("setpgid_into_missing_group_eperm", setpgid(other, gone_pid()), EPERM);

	/* Moving a child into an existing group of this session. */
	int r1 = setpgid(other, other);
	int hold3[2];
	pipe(hold3);
	pid_t joiner = fork();
	if (joiner == 0) {
		char c;
		close(hold3[1]);
		read(hold3[0], &c, 1);
		_exit(0);
	}
	close(hold3[0]);
	int r2 = setpgid(joiner, other);
	CHECKF("setpgid_join_existing_group", r1 == 0 && r2 == 0 && getpgid(joiner) == other && getpgid(other) == other,
	       "setpgid %d %d, getpgid %d %d", r1, r2, (int)getpgid(joiner), (int)getpgid(other));
	close(hold3[1]);
	reap(joiner);
	close(hold2[1]);
	reap(other);

	close(hold[1]);
	int st = reap(leader);
	int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	char why[64];
	describe(why, sizeof why, st);
	CHECKF("setsid_makes_leader", code >= 0 && !(code & (SL_SETSID_FAILED | SL_IDS_WRONG)), "child %s", why);
	CHECKF("setpgid_session_leader_eperm", code >= 0 && !(code & SL_SETPGID_SELF_NOT_EPERM), "child %s", why);
	CHECKF("setsid_group_leader_eperm", code >= 0 && !(code & SL_SETSID_AGAIN_NOT_EPERM), "child %s", why);

	/* setsid in a process that leads its group: EPERM. */
	pid_t gl = fork();
	if (gl == 0) {
		setpgid(0, 0);
		_exit(setsid() == -1 && errno == EPERM ? 0 : 1);
	}
	st = reap(gl);
	CHECKF("setsid_after_setpgid_eperm", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* ---- signals to a group -------------------------------------------------- */

static int report_fd = -1;
static char my_id;
static volatile sig_atomic_t usr1_hits;

static void report_usr1(int sig)
{
	(void)sig;
	usr1_hits++;
	write(report_fd, &my_id, 1);
}

/* Sort the bytes and compare with "12L". */
static int is_whole_group(char *b, int n)
{
	if (n != 3)
		return 0;
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (b[j] < b[i]) {
				char t = b[i];
				b[i] = b[j];
				b[j] = t;
			}
	return memcmp(b, "12L", 3) == 0;
}

static void check_group_kill(void)
{
	int rep[2], pidp[2];
	pipe(rep);
	pipe(pidp);
	pid_t leader = fork();
	if (leader == 0) {
		setpgid(0, 0);
		report_fd = rep[1];
		signal(SIGUSR1, report_usr1);
		sigset_t usr1, none;
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		sigemptyset(&none);
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		pid_t members[2];
		for (int i = 0; i < 2; i++) {
			members[i] = fork();
			if (members[i] == 0) {
				my_id = (char)('1' + i);
				while (usr1_hits < 3)
					sigsuspend(&none);
				_exit(0);
			}
		}
		my_id = 'L';
		write(pidp[1], "r", 1);
		kill(0, SIGUSR1);
		while (usr1_hits < 3)
			sigsuspend(&none);
		int bad = 0;
		for (int i = 0; i < 2; i++) {
			int st = reap(members[i]);
			bad |= !(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		_exit(bad);
	}
	setpgid(leader, leader); /* also done by the child: whichever runs first */
	char b[8];
	int ready = read_within(pidp[0], b, 1, 5000);
	int n = ready == 1 ? read_within(rep[0], b, 3, 5000) : 0;
	int all = CHECKF("kill_0_reaches_group", is_whole_group(b, n), "%d reports%s", n,
			 ready ? "" : " (leader not ready)");
	int r = kill(-leader, SIGUSR1);
	n = read_within(rep[0], b, 3, 5000);
	all &= CHECKF("kill_negative_pgid_reaches_group", r == 0 && is_whole_group(b, n), "kill %d, %d reports", r, n);
	r = killpg(leader, SIGUSR1);
	n = read_within(rep[0], b, 3, 5000);
	all &= CHECKF("killpg_reaches_group", r == 0 && is_whole_group(b, n), "killpg %d, %d reports", r, n);
	n = read_within(rep[0], b, 1, 50);
	CHECKF("group_signals_exactly_once_each", n == 0, "%d extra reports", n);
	if (!all) /* some member still waits for its third signal */
		kill(-leader, SIGKILL);
	int st = reap(leader);
	char why[64];
	describe(why, sizeof why, st);
	CHECKF("group_members_exit_cleanly", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "leader %s", why);
	close(rep[0]);
	close(rep[1]);
	close(pidp[0]);
	close(pidp[1]);
}

/* ---- orphaned process groups --------------------------------------------- */

static void report_sig(int sig)
{
	char c = sig == SIGHUP ? 'H' : sig == SIGCONT ? 'C' : '?';
	write(report_fd, &c, 1);
}

/*
 *   T (this test)  --fork-->  S: setsid()  --fork-->  C: setpgid(0, 0)  --fork-->  G
 *   session of T              session S, group S      session S, group C           group C
 *
 * G stops itself; C sees it stopped and exits. G's new parent is outside
 * session S, so group C is orphaned with a stopped member: G gets SIGHUP
 * and SIGCONT and writes "HC" (each handler blocks everything, so they run
 * in the order the signals are taken: SIGHUP first).
 */
static void check_orphaned_stopped_group(void)
{
	int rep[2], pidp[2];
	pipe(rep);
	pipe(pidp);
	pid_t s = fork();
	if (s == 0) {
		setsid();
		pid_t c = fork();
		if (c == 0) {
			setpgid(0, 0);
			pid_t g = fork();
			if (g == 0) {
				report_fd = rep[1];
				struct sigaction sa;
				memset(&sa, 0, sizeof sa);
				sa.sa_handler = report_sig;
				sigfillset(&sa.sa_mask);
				sigaction(SIGHUP, &sa, NULL);
				sigaction(SIGCONT, &sa, NULL);
				kill(getpid(), SIGSTOP);
				sleep_ms(100); /* let both handlers run (they already have, on Linux) */
				_exit(0);
			}
			write(pidp[1], &g, sizeof g);
			int st;
			pid_t w = waitpid(g, &st, WUNTRACED);
			_exit(w == g && WIFSTOPPED(st) ? 0 : 1);
		}
		int st = reap(c);
		_exit(st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : 2);
	}
	pid_t g = 0;
	int got_pid = read_within(pidp[0], (char *)&g, sizeof g, 5000) == sizeof g;
	int st = reap(s);
	char b[4] = "";
	int n = read_within(rep[0], b, 2, 5000);
	CHECKF("orphaned_group_setup", got_pid && st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "grandchild pid %d, status %#x (exit 1: the grandchild was not seen stopped)", got_pid ? (int)g : 0, st);
	CHECKF("orphaned_stopped_group_gets_sighup_then_sigcont", n == 2 && memcmp(b, "HC", 2) == 0,
	       "%d reports: %.*s", n, n, b);
	if (got_pid && n != 2)
		kill(g, SIGKILL);
	close(rep[0]);
	close(rep[1]);
	close(pidp[0]);
	close(pidp[1]);
}

/*
 * In a new session S (S's group is orphaned: S's parent is in another
 * session): SIGTSTP, SIGTTIN and SIGTTOU to S itself are discarded, while
 * SIGSTOP stops a child of S in S's group. A child that moves to its own
 * group has S (same session, other group) as parent, so its group is not
 * orphaned: each of the three stops it.
 * Exit status of S: a bit per case that went wrong.
 */
static const int tty_stops[3] = {SIGTSTP, SIGTTIN, SIGTTOU};

static int session_stop_rules(void)
{
	int bad = 0;
	setsid();
	for (int i = 0; i < 3; i++)
		kill(getpid(), tty_stops[i]); /* would stop us: we would never get here */
	pid_t c = fork();
	if (c == 0) {
		kill(getpid(), SIGSTOP);
		_exit(0);
	}
	int st;
	pid_t w = waitpid(c, &st, WUNTRACED);
	if (!(w == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP))
		bad |= 1;
	kill(c, SIGKILL);
	reap(c);
	for (int i = 0; i < 3; i++) {
		c = fork();
		if (c == 0) {
			setpgid(0, 0);
			kill(getpid(), tty_stops[i]);
			_exit(0);
		}
		w = waitpid(c, &st, WUNTRACED);
		if (!(w == c && WIFSTOPPED(st) && WSTOPSIG(st) == tty_stops[i]))
			bad |= 2 << i;
		kill(c, SIGKILL);
		reap(c);
	}
	return bad;
}

static void check_stop_rules(void)
{
	pid_t s = fork();
	if (s == 0)
		_exit(session_stop_rules());
	int st = 0;
	pid_t w;
	do
		w = waitpid(s, &st, WUNTRACED);
	while (w == -1 && errno == EINTR);
	int stopped = w == s && WIFSTOPPED(st);
	if (stopped) {
		kill(s, SIGKILL);
		reap(s);
	}
	int code = w == s && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	char why[64];
	describe(why, sizeof why, st);
	CHECKF("orphaned_group_tty_stops_discarded", code >= 0, "session leader %s", why);
	CHECKF("orphaned_group_sigstop_stops", code >= 0 && !(code & 1), "session leader %s", why);
	CHECKF("sigtstp_stops_in_non_orphaned_group", code >= 0 && !(code & 2), "session leader %s", why);
	CHECKF("sigttin_stops_in_non_orphaned_group", code >= 0 && !(code & 4), "session leader %s", why);
	CHECKF("sigttou_stops_in_non_orphaned_group", code >= 0 && !(code & 8), "session leader %s", why);
}

/* ---- the controlling terminal -------------------------------------------- */

/*
 * Fork a child in its own (background) group running FN; return its wait
 * status once it stops or ends (a stopped child is then killed), or -2 if
 * it does neither within 3 s (it is killed too).
 */
static int background(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		_exit(fn());
	}
	setpgid(pid, pid);
	int st = 0;
	pid_t w = 0;
	for (long long end = now_ms() + 3000; w == 0 && now_ms() <= end;) {
		w = waitpid(pid, &st, WUNTRACED | WNOHANG);
		if (w == 0)
			sleep_ms(5);
	}
	if (w == 0 || (w == pid && WIFSTOPPED(st))) {
		kill(pid, SIGKILL);
		reap(pid);
	}
	return w == pid ? st : w == 0 ? -2 : -1;
}

/* After setsid the terminal is no longer ours: ENOTTY. */
static int lose_tty(void)
{
	if (setsid() == -1)
		return 11;
	if (!(tcgetpgrp(0) == -1 && errno == ENOTTY))
		return 12;
	return tcgetsid(0) == -1 && errno == ENOTTY ? 10 : 13;
}

static int bg_read(void)
{
	char c;
	ssize_t r = read(0, &c, 1);
	return r == -1 && errno == EIO ? 10 : 11;
}

static int bg_read_ignoring_ttin(void)
{
	signal(SIGTTIN, SIG_IGN);
	return bg_read();
}

static int bg_tcsetpgrp(void)
{
	return tcsetpgrp(0, getpgrp()) == 0 ? 10 : 11;
}

/* With SIGTTOU ignored: take the foreground, check it, give it back to the parent's group. */
static int bg_tcsetpgrp_ignoring_ttou(void)
{
	pid_t parent_pgrp = getpgid(getppid());
	signal(SIGTTOU, SIG_IGN);
	if (tcsetpgrp(0, getpgrp()) != 0)
		return 11;
	if (tcgetpgrp(0) != getpgrp())
		return 12;
	return tcsetpgrp(0, parent_pgrp) == 0 ? 10 : 13;
}

static void expect_bg(const char *name, int (*fn)(void), int stop_sig, int exit_code)
{
	int st = background(fn);
	char why[64];
	describe(why, sizeof why, st);
	int ok = st != -1 && (stop_sig ? WIFSTOPPED(st) && WSTOPSIG(st) == stop_sig
				       : WIFEXITED(st) && WEXITSTATUS(st) == exit_code);
	CHECKF(name, ok, "child %s, want %s %d", why, stop_sig ? "stop by" : "exit", stop_sig ? stop_sig : exit_code);
}

static void check_tty(void)
{
	static const char *names[] = {"tty_setsid_loses_it", "tty_background_read_sigttin",
				      "tty_background_read_ignored_eio", "tty_background_tcsetpgrp_sigttou",
				      "tty_background_tcsetpgrp_ignored_works", "tty_foreground_handoff_and_back",
				      "tty_tcsetpgrp_errors"};
	/* fd 0 is our session's controlling terminal and we are in its foreground. */
	if (!isatty(0) || tcgetsid(0) != getsid(0) || tcgetpgrp(0) != getpgrp()) {
		for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
			check_skip(names[i], "no tty");
		return;
	}
	pid_t lone = fork();
	if (lone == 0)
		_exit(lose_tty());
	int lone_st = reap(lone);
	CHECKF(names[0], lone_st != -1 && WIFEXITED(lone_st) && WEXITSTATUS(lone_st) == 10,
	       "child status %#x (11: setsid failed, 12: tcgetpgrp, 13: tcgetsid not ENOTTY)", lone_st);
	expect_bg(names[1], bg_read, SIGTTIN, 0);
	expect_bg(names[2], bg_read_ignoring_ttin, 0, 10);
	expect_bg(names[3], bg_tcsetpgrp, SIGTTOU, 0);
	expect_bg(names[4], bg_tcsetpgrp_ignoring_ttou, 0, 10);

	/* Give the foreground to a child's group and take it back (SIGTTOU blocked meanwhile). */
	int hold[2];
	pipe(hold);
	pid_t child = fork();
	if (child == 0) {
		char c;
		setpgid(0, 0);
		close(hold[1]);
		read(hold[0], &c, 1);
		_exit(0);
	}
	close(hold[0]);
	setpgid(child, child);
	sigset_t ttou, old;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	int r1 = tcsetpgrp(0, child);
	pid_t fg = tcgetpgrp(0);
	int r2 = tcsetpgrp(0, getpgrp());
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(hold[1]);
	reap(child);
	CHECKF(names[5], r1 == 0 && fg == child && r2 == 0 && tcgetpgrp(0) == getpgrp(),
	       "tcsetpgrp %d, foreground %d (child %d), back %d, now %d", r1, (int)fg, (int)child, r2,
	       (int)tcgetpgrp(0));

	errno = 0;
	int e1 = tcsetpgrp(0, -1) == -1 ? errno : 0;
	int e2 = tcsetpgrp(0, gone_pid()) == -1 ? errno : 0;
	CHECKF(names[6], e1 == EINVAL && e2 == ESRCH, "negative: errno %d (want EINVAL), gone: errno %d (want ESRCH)",
	       e1, e2);
}

int main(int argc, char **argv)
{
	if (argc > 3 && strcmp(argv[1], "exec-wait") == 0)
		return exec_wait(argv);
	check_init("t_jobctl");
	check_ids();
	check_grandchild_esrch();
	check_setpgid_exec();
	check_sessions();
	check_group_kill();
	check_orphaned_stopped_group();
	check_stop_rules();
	check_tty();
	return check_done();
}
