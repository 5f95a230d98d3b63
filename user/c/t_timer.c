/*
 * t_timer.c: alarm(2), getitimer/setitimer(2) and the POSIX timers
 * (timer_create, timer_settime, timer_gettime, timer_getoverrun,
 * timer_delete) as Linux has them:
 *
 * - alarm returns the seconds left of the previous alarm, rounded to the
 *   nearest second but never 0 while one is pending; alarm(1) kills a child
 *   that does not catch SIGALRM;
 * - ITIMER_REAL's SIGALRM (si_code SI_KERNEL) interrupts pause() and
 *   nanosleep; a periodic one signals again and again; getitimer shows the
 *   time left going down and the interval; disarming clears both;
 * - ITIMER_VIRTUAL and ITIMER_PROF fire in a busy loop (their default
 *   action kills the child); ITIMER_VIRTUAL does not run while sleeping;
 * - POSIX timers on CLOCK_MONOTONIC and CLOCK_REALTIME, relative and
 *   TIMER_ABSTIME (also already past): si_code SI_TIMER, si_value,
 *   si_timerid; a NULL sigevent means SIGALRM with the id as si_value;
 *   SIGEV_NONE timers are seen only through timer_gettime; a
 *   CLOCK_PROCESS_CPUTIME_ID timer fires in a busy loop; ids count from 0;
 * - overruns: a periodic timer whose signal stays blocked for several
 *   periods reports them in si_overrun and timer_getoverrun;
 * - errors: EINVAL for a bad which, clock, signal, notify value, thread,
 *   timer id or time (timer_delete twice), EOPNOTSUPP for a clock with no
 *   timers, EFAULT for bad pointers;
 * - /proc/self/timers lists the timers newest first in Linux's format;
 * - lifetime: a forked child has no timers and no itimers; execve keeps
 *   ITIMER_REAL and deletes the POSIX timers (the program runs itself
 *   again as `t_timer exec-check ID`).
 *
 * The timer_* calls are made with syscall(2), so the kernel's own ids and
 * errors are checked, not the C library's. A few seconds under TCG.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* alarm(2) itself: the C library may build alarm on setitimer and round
 * differently. */
static unsigned k_alarm(unsigned seconds)
{
	return (unsigned)syscall(SYS_alarm, seconds);
}

static long k_timer_create(clockid_t clock, struct sigevent *sev, int *id)
{
	return syscall(SYS_timer_create, clock, sev, id);
}

static long k_timer_settime(int id, int flags, const struct itimerspec *new, struct itimerspec *old)
{
	return syscall(SYS_timer_settime, id, flags, new, old);
}

static long k_timer_gettime(int id, struct itimerspec *cur)
{
	return syscall(SYS_timer_gettime, id, cur);
}

static long k_timer_getoverrun(int id)
{
	return syscall(SYS_timer_getoverrun, id);
}

static long k_timer_delete(int id)
{
	return syscall(SYS_timer_delete, id);
}

static long long ts_ns(struct timespec t)
{
	return t.tv_sec * SEC + t.tv_nsec;
}

static long long tv_ns(struct timeval t)
{
	return t.tv_sec * SEC + t.tv_usec * 1000LL;
}

static struct timespec ns_ts(long long ns)
{
	struct timespec t = {ns / SEC, ns % SEC};
	return t;
}

static struct timeval ns_tv(long long ns)
{
	struct timeval t = {ns / SEC, (ns % SEC) / 1000};
	return t;
}

static long long now_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return ts_ns(t);
}

/* Sleep `ms` milliseconds, whatever signals arrive meanwhile. */
static void sleep_ms(long ms)
{
	struct timespec ts = ns_ts(ms * MS);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Spin in user mode for `ms` milliseconds of wall time. */
static void busy_ms(long ms)
{
	long long end = now_ns(CLOCK_MONOTONIC) + ms * MS;
	while (now_ns(CLOCK_MONOTONIC) < end)
		;
}

/* Arm an interval timer: value and interval in nanoseconds. */
static int set_itimer(int which, long long value, long long interval, struct itimerval *old)
{
	struct itimerval v = {ns_tv(interval), ns_tv(value)};
	return setitimer(which, &v, old);
}

static int arm(int id, int flags, long long value, long long interval, struct itimerspec *old)
{
	struct itimerspec s = {ns_ts(interval), ns_ts(value)};
	return (int)k_timer_settime(id, flags, &s, old);
}

/* What the handler saw, per signal. */
static volatile sig_atomic_t hits[65];
static siginfo_t last[65];

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	last[sig] = *si;
	hits[sig]++;
}

static void catch_signal(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	hits[sig] = 0;
}

/* Wait up to `ms` for `sig` to have arrived `n` times. */
static int wait_hits(int sig, int n, long ms)
{
	long long end = now_ns(CLOCK_MONOTONIC) + ms * MS;
	struct timespec nap = ns_ts(2 * MS);
	while (hits[sig] < n && now_ns(CLOCK_MONOTONIC) < end)
		nanosleep(&nap, NULL);
	return hits[sig] >= n;
}

/* Run `fn` in a child; its wait status (-1 if fork or wait failed). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static int killed_by(int st, int sig)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static struct sigevent sigevent_of(int notify, int signo, void *value)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = notify;
	ev.sigev_signo = signo;
	ev.sigev_value.sival_ptr = value;
	return ev;
}

static void check_alarm_values(void)
{
	unsigned none = k_alarm(0);
	unsigned a = k_alarm(10), b = k_alarm(5), c = k_alarm(0), d = k_alarm(0);
	CHECKF("alarm_returns_seconds_left", none == 0 && a == 0 && b == 10 && c == 5 && d == 0,
	       "alarm(0) %u, then %u %u %u %u, want 0 0 10 5 0", none, a, b, c, d);
	/* 0.3 s left reads 1 (never 0 while pending), 1.2 s 1, 1.7 s 2. */
	set_itimer(ITIMER_REAL, 300 * MS, 0, NULL);
	unsigned r1 = k_alarm(0);
	set_itimer(ITIMER_REAL, 1200 * MS, 0, NULL);
	unsigned r2 = k_alarm(0);
	set_itimer(ITIMER_REAL, 1700 * MS, 0, NULL);
	unsigned r3 = k_alarm(0);
	CHECKF("alarm_rounds_to_nearest_second_not_0", r1 == 1 && r2 == 1 && r3 == 2, "0.3 s -> %u, 1.2 s -> %u, 1.7 s -> %u",
	       r1, r2, r3);
}

static int child_alarm(void)
{
	signal(SIGALRM, SIG_DFL);
	k_alarm(1);
	for (int i = 0; i < 5; i++)
		sleep_ms(1000);
	return 0;
}

static void check_alarm_kills(void)
{
	long long t0 = now_ns(CLOCK_MONOTONIC);
	int st = in_child(child_alarm);
	long long took = now_ns(CLOCK_MONOTONIC) - t0;
	CHECKF("alarm_1_kills_child_after_a_second", killed_by(st, SIGALRM) && took >= 900 * MS && took < 4 * SEC,
	       "status %#x after %lld ms", st, took / MS);
}

static void check_sigalrm_interrupts(void)
{
	catch_signal(SIGALRM);
	set_itimer(ITIMER_REAL, 50 * MS, 0, NULL);
	errno = 0;
	int r = pause();
	int e = errno;
	CHECKF("sigalrm_interrupts_pause", r == -1 && e == EINTR && hits[SIGALRM] == 1, "pause %d errno %d, %d signals",
	       r, e, (int)hits[SIGALRM]);
	CHECKF("itimer_signal_is_si_kernel", last[SIGALRM].si_signo == SIGALRM && last[SIGALRM].si_code == SI_KERNEL,
	       "si_signo %d si_code %d", last[SIGALRM].si_signo, last[SIGALRM].si_code);

	set_itimer(ITIMER_REAL, 50 * MS, 0, NULL);
	struct timespec req = ns_ts(2 * SEC), rem = {0, 0};
	errno = 0;
	r = nanosleep(&req, &rem);
	e = errno;
	CHECKF("sigalrm_interrupts_nanosleep", r == -1 && e == EINTR && hits[SIGALRM] == 2 && ts_ns(rem) > SEC,
	       "nanosleep %d errno %d, %d signals, %lld ms left", r, e, (int)hits[SIGALRM], ts_ns(rem) / MS);
}

static void check_itimer_periodic(void)
{
	catch_signal(SIGALRM);
	set_itimer(ITIMER_REAL, 20 * MS, 20 * MS, NULL);
	int five = wait_hits(SIGALRM, 5, 3000);
	struct itimerval cur;
	getitimer(ITIMER_REAL, &cur);
	CHECKF("itimer_real_periodic_signals", five, "%d SIGALRM in 3 s, want 5", (int)hits[SIGALRM]);
	CHECKF("getitimer_periodic_shows_interval", tv_ns(cur.it_interval) == 20 * MS && tv_ns(cur.it_value) > 0 &&
							   tv_ns(cur.it_value) <= 20 * MS,
	       "value %lld us, interval %lld us", tv_ns(cur.it_value) / 1000, tv_ns(cur.it_interval) / 1000);
	struct itimerval old;
	set_itimer(ITIMER_REAL, 0, 0, &old);
	int n = hits[SIGALRM];
	sleep_ms(60);
	getitimer(ITIMER_REAL, &cur);
	CHECKF("setitimer_0_disarms_and_returns_old", tv_ns(old.it_interval) == 20 * MS && hits[SIGALRM] == n &&
							 tv_ns(cur.it_value) == 0 && tv_ns(cur.it_interval) == 0,
	       "old interval %lld us, %d more signals, now %lld/%lld us", tv_ns(old.it_interval) / 1000,
	       (int)hits[SIGALRM] - n, tv_ns(cur.it_value) / 1000, tv_ns(cur.it_interval) / 1000);
}

static void check_getitimer_decreasing(void)
{
	struct itimerval old, g1, g2;
	set_itimer(ITIMER_REAL, 10 * SEC, 2500 * MS, &old);
	getitimer(ITIMER_REAL, &g1);
	sleep_ms(50);
	getitimer(ITIMER_REAL, &g2);
	long long v1 = tv_ns(g1.it_value), v2 = tv_ns(g2.it_value);
	CHECKF("getitimer_time_left_decreases", tv_ns(old.it_value) == 0 && v1 > 9 * SEC && v1 <= 10 * SEC &&
						    v1 - v2 >= 40 * MS && v2 > 9 * SEC,
	       "old %lld us, then %lld us, %lld us", tv_ns(old.it_value) / 1000, v1 / 1000, v2 / 1000);
	CHECKF("getitimer_shows_interval", tv_ns(g2.it_interval) == 2500 * MS, "interval %lld us",
	       tv_ns(g2.it_interval) / 1000);
	set_itimer(ITIMER_REAL, 0, 0, NULL);
}

static int child_busy_virtual(void)
{
	set_itimer(ITIMER_VIRTUAL, 30 * MS, 0, NULL);
	busy_ms(5000);
	return 0;
}

static int child_busy_prof(void)
{
	set_itimer(ITIMER_PROF, 30 * MS, 0, NULL);
	busy_ms(5000);
	return 0;
}

/* ITIMER_VIRTUAL counts user time only: a sleep leaves it as it was. */
static int child_sleep_virtual(void)
{
	struct itimerval cur;
	set_itimer(ITIMER_VIRTUAL, 100 * MS, 0, NULL);
	sleep_ms(300);
	getitimer(ITIMER_VIRTUAL, &cur);
	long long left = tv_ns(cur.it_value);
	return left > 50 * MS && left <= 120 * MS ? 0 : 1;
}

static void check_cpu_itimers(void)
{
	int st = in_child(child_busy_virtual);
	CHECKF("itimer_virtual_fires_in_busy_loop", killed_by(st, SIGVTALRM), "status %#x, want SIGVTALRM", st);
	st = in_child(child_busy_prof);
	CHECKF("itimer_prof_fires_in_busy_loop", killed_by(st, SIGPROF), "status %#x, want SIGPROF", st);
	st = in_child(child_sleep_virtual);
	CHECKF("itimer_virtual_stands_still_in_sleep", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "status %#x", st);
}

#define MAGIC ((void *)0x5eed1234)

/* One signal from timer `id`: `sig`, SI_TIMER, its id and value, no overruns. */
static int timer_info_ok(int sig, int id, void *value)
{
	siginfo_t *si = &last[sig];
	return si->si_signo == sig && si->si_code == SI_TIMER && si->si_timerid == id && si->si_value.sival_ptr == value &&
	       si->si_overrun == 0;
}

static void check_posix_timer(clockid_t clock, const char *clock_name)
{
	char name[96];
	catch_signal(SIGUSR1);
	struct sigevent ev = sigevent_of(SIGEV_SIGNAL, SIGUSR1, MAGIC);
	int id = -1;
	long r = k_timer_create(clock, &ev, &id);
	snprintf(name, sizeof name, "timer_create_%s", clock_name);
	if (!CHECKF(name, r == 0 && id >= 0, "returned %ld errno %d, id %d", r, errno, id))
		return;

	struct itimerspec cur;
	arm(id, 0, 30 * MS, 0, NULL);
	k_timer_gettime(id, &cur);
	int got = wait_hits(SIGUSR1, 1, 2000);
	snprintf(name, sizeof name, "timer_relative_%s_signals_si_timer", clock_name);
	CHECKF(name, got && timer_info_ok(SIGUSR1, id, MAGIC) && ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 30 * MS,
	       "%d signals, code %d timerid %d value %p overrun %d; gettime %lld us", (int)hits[SIGUSR1],
	       last[SIGUSR1].si_code, last[SIGUSR1].si_timerid, last[SIGUSR1].si_value.sival_ptr,
	       last[SIGUSR1].si_overrun, ts_ns(cur.it_value) / 1000);
	k_timer_gettime(id, &cur);
	snprintf(name, sizeof name, "timer_gettime_%s_after_expiry_is_0", clock_name);
	CHECKF(name, ts_ns(cur.it_value) == 0 && ts_ns(cur.it_interval) == 0, "%lld/%lld ns", ts_ns(cur.it_value),
	       ts_ns(cur.it_interval));

	arm(id, TIMER_ABSTIME, now_ns(clock) + 30 * MS, 0, NULL);
	got = wait_hits(SIGUSR1, 2, 2000);
	snprintf(name, sizeof name, "timer_absolute_%s_signals", clock_name);
	CHECKF(name, got && timer_info_ok(SIGUSR1, id, MAGIC), "%d signals, code %d", (int)hits[SIGUSR1],
	       last[SIGUSR1].si_code);

	arm(id, TIMER_ABSTIME, now_ns(clock) - SEC, 0, NULL);
	got = wait_hits(SIGUSR1, 3, 1000);
	snprintf(name, sizeof name, "timer_absolute_%s_in_the_past_fires_at_once", clock_name);
	CHECKF(name, got, "%d signals", (int)hits[SIGUSR1]);

	struct itimerspec old;
	arm(id, 0, SEC, 100 * MS, NULL);
	arm(id, 0, 0, 0, &old);
	k_timer_gettime(id, &cur);
	sleep_ms(30);
	snprintf(name, sizeof name, "timer_settime_%s_0_disarms", clock_name);
	CHECKF(name, ts_ns(old.it_value) > 900 * MS && ts_ns(old.it_interval) == 100 * MS && ts_ns(cur.it_value) == 0 &&
			     ts_ns(cur.it_interval) == 0 && hits[SIGUSR1] == 3,
	       "old %lld/%lld us, then %lld/%lld ns, %d signals", ts_ns(old.it_value) / 1000, ts_ns(old.it_interval) / 1000,
	       ts_ns(cur.it_value), ts_ns(cur.it_interval), (int)hits[SIGUSR1]);
	k_timer_delete(id);
}

static void check_default_sigevent(void)
{
	catch_signal(SIGALRM);
	int id = -1;
	long r = k_timer_create(CLOCK_MONOTONIC, NULL, &id);
	arm(id, 0, 20 * MS, 0, NULL);
	int got = wait_hits(SIGALRM, 1, 2000);
	siginfo_t *si = &last[SIGALRM];
	CHECKF("timer_null_sigevent_is_sigalrm_with_id", r == 0 && got && si->si_code == SI_TIMER &&
								 si->si_timerid == id && si->si_value.sival_int == id,
	       "create %ld, %d signals, code %d timerid %d value %d (id %d)", r, (int)hits[SIGALRM], si->si_code,
	       si->si_timerid, si->si_value.sival_int, id);
	k_timer_delete(id);
}

static int child_timer_ids(void)
{
	int a = -1, b = -1;
	struct sigevent ev = sigevent_of(SIGEV_NONE, 0, NULL);
	k_timer_create(CLOCK_MONOTONIC, &ev, &a);
	k_timer_create(CLOCK_REALTIME, &ev, &b);
	return a == 0 && b == 1 ? 0 : 1;
}

static int child_timer_kills(void)
{
	struct sigevent ev = sigevent_of(SIGEV_SIGNAL, SIGUSR2, NULL);
	int id = -1;
	signal(SIGUSR2, SIG_DFL);
	if (k_timer_create(CLOCK_MONOTONIC, &ev, &id) != 0 || arm(id, 0, 20 * MS, 0, NULL) != 0)
		return 1;
	sleep_ms(5000);
	return 2;
}

static int child_cpu_timer(void)
{
	struct sigevent ev = sigevent_of(SIGEV_SIGNAL, SIGUSR1, NULL);
	int id = -1;
	signal(SIGUSR1, SIG_DFL);
	if (k_timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &id) != 0 || arm(id, 0, 30 * MS, 0, NULL) != 0)
		return 1;
	busy_ms(5000);
	return 2;
}

static void check_timer_children(void)
{
	int st = in_child(child_timer_ids);
	CHECKF("timer_ids_count_from_0", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	st = in_child(child_timer_kills);
	CHECKF("timer_signal_default_action_kills", killed_by(st, SIGUSR2), "status %#x, want SIGUSR2", st);
	st = in_child(child_cpu_timer);
	CHECKF("timer_process_cputime_fires_in_busy_loop", killed_by(st, SIGUSR1), "status %#x, want SIGUSR1", st);
}

static void check_sigev_none(void)
{
	struct sigevent ev = sigevent_of(SIGEV_NONE, 0, NULL);
	int id = -1;
	long r = k_timer_create(CLOCK_REALTIME, &ev, &id);
	struct itimerspec cur, old;
	arm(id, TIMER_ABSTIME, now_ns(CLOCK_REALTIME) + 500 * MS, 0, NULL);
	k_timer_gettime(id, &cur);
	CHECKF("sigev_none_absolute_realtime_gettime", r == 0 && ts_ns(cur.it_value) > 400 * MS &&
							       ts_ns(cur.it_value) <= 500 * MS && ts_ns(cur.it_interval) == 0,
	       "create %ld, left %lld us", r, ts_ns(cur.it_value) / 1000);

	arm(id, 0, 20 * MS, 0, NULL);
	sleep_ms(60);
	k_timer_gettime(id, &cur);
	CHECKF("sigev_none_expired_reads_0", ts_ns(cur.it_value) == 0, "left %lld ns", ts_ns(cur.it_value));

	arm(id, 0, 10 * MS, 30 * MS, NULL);
	sleep_ms(50);
	k_timer_gettime(id, &cur);
	arm(id, 0, 0, 0, &old);
	CHECKF("sigev_none_periodic_moves_on", ts_ns(cur.it_interval) == 30 * MS && ts_ns(cur.it_value) > 0 &&
						       ts_ns(cur.it_value) <= 30 * MS && ts_ns(old.it_interval) == 30 * MS,
	       "left %lld us, interval %lld us, old interval %lld us", ts_ns(cur.it_value) / 1000,
	       ts_ns(cur.it_interval) / 1000, ts_ns(old.it_interval) / 1000);
	k_timer_delete(id);
}

static void check_overrun(void)
{
	sigset_t set, prev;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	catch_signal(SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, &prev);
	struct sigevent ev = sigevent_of(SIGEV_SIGNAL, SIGUSR2, MAGIC);
	int id = -1;
	k_timer_create(CLOCK_MONOTONIC, &ev, &id);
	arm(id, 0, 20 * MS, 20 * MS, NULL);
	sleep_ms(150);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	struct timespec wait = ns_ts(2 * SEC);
	int sig = sigtimedwait(&set, &si, &wait);
	long over = k_timer_getoverrun(id);
	CHECKF("blocked_timer_counts_overruns", sig == SIGUSR2 && si.si_code == SI_TIMER && si.si_timerid == id &&
							si.si_overrun >= 2 && si.si_overrun < 50,
	       "sigtimedwait %d, code %d timerid %d overrun %d (id %d)", sig, si.si_code, si.si_timerid, si.si_overrun,
	       id);
	CHECKF("timer_getoverrun_reports_last_signal", over == si.si_overrun, "timer_getoverrun %ld, si_overrun %d", over,
	       si.si_overrun);
	k_timer_delete(id);
	sigprocmask(SIG_SETMASK, &prev, NULL);
}

static void check_errors(void)
{
	struct itimerval v = {{0, 0}, {1, 0}};
	CHECK_ERRNO("setitimer_bad_which_einval", setitimer(3, &v, NULL), EINVAL);
	CHECK_ERRNO("getitimer_bad_which_einval", getitimer(-1, &v), EINVAL);
	v.it_value.tv_usec = 1000000;
	CHECK_ERRNO("setitimer_usec_1000000_einval", setitimer(ITIMER_REAL, &v, NULL), EINVAL);
	v.it_value.tv_usec = -1;
	CHECK_ERRNO("setitimer_negative_usec_einval", setitimer(ITIMER_REAL, &v, NULL), EINVAL);
	v.it_value = (struct timeval){-1, 0};
	CHECK_ERRNO("setitimer_negative_sec_einval", setitimer(ITIMER_REAL, &v, NULL), EINVAL);
	v.it_value = (struct timeval){1, 0};
	v.it_interval.tv_usec = 1000000;
	CHECK_ERRNO("setitimer_bad_interval_einval", setitimer(ITIMER_REAL, &v, NULL), EINVAL);
	CHECK_ERRNO("setitimer_bad_pointer_efault", setitimer(ITIMER_REAL, (struct itimerval *)8, NULL), EFAULT);
	CHECK_ERRNO("getitimer_bad_pointer_efault", getitimer(ITIMER_REAL, (struct itimerval *)8), EFAULT);

	int id = -1;
	struct sigevent ev = sigevent_of(SIGEV_SIGNAL, SIGUSR1, NULL);
	CHECK_ERRNO("timer_create_bad_clock_einval", k_timer_create(99, &ev, &id), EINVAL);
	CHECK_ERRNO("timer_create_monotonic_raw_eopnotsupp", k_timer_create(CLOCK_MONOTONIC_RAW, &ev, &id), EOPNOTSUPP);
	ev.sigev_signo = 0;
	CHECK_ERRNO("timer_create_signal_0_einval", k_timer_create(CLOCK_MONOTONIC, &ev, &id), EINVAL);
	ev.sigev_signo = 65;
	CHECK_ERRNO("timer_create_signal_65_einval", k_timer_create(CLOCK_MONOTONIC, &ev, &id), EINVAL);
	ev.sigev_signo = SIGUSR1;
	ev.sigev_notify = 3;
	CHECK_ERRNO("timer_create_bad_notify_einval", k_timer_create(CLOCK_MONOTONIC, &ev, &id), EINVAL);
	ev.sigev_notify = SIGEV_THREAD_ID;
	ev.sigev_notify_thread_id = getppid();
	CHECK_ERRNO("timer_create_other_thread_einval", k_timer_create(CLOCK_MONOTONIC, &ev, &id), EINVAL);
	ev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	long r = k_timer_create(CLOCK_MONOTONIC, &ev, &id);
	CHECKF("timer_create_own_thread_id", r == 0, "returned %ld errno %d", r, errno);
	if (r == 0)
		k_timer_delete(id);
	CHECK_ERRNO("timer_create_bad_sigevent_efault", k_timer_create(CLOCK_MONOTONIC, (struct sigevent *)8, &id),
		    EFAULT);
	CHECK_ERRNO("timer_create_bad_id_pointer_efault", k_timer_create(CLOCK_MONOTONIC, NULL, (int *)8), EFAULT);

	ev = sigevent_of(SIGEV_NONE, 0, NULL);
	k_timer_create(CLOCK_MONOTONIC, &ev, &id);
	struct itimerspec s = {{0, 0}, {1, SEC}};
	CHECK_ERRNO("timer_settime_nsec_1e9_einval", k_timer_settime(id, 0, &s, NULL), EINVAL);
	s = (struct itimerspec){{-1, 0}, {1, 0}};
	CHECK_ERRNO("timer_settime_negative_interval_einval", k_timer_settime(id, 0, &s, NULL), EINVAL);
	CHECK_ERRNO("timer_settime_null_einval", k_timer_settime(id, 0, NULL, NULL), EINVAL);
	CHECK_ERRNO("timer_settime_bad_pointer_efault", k_timer_settime(id, 0, (struct itimerspec *)8, NULL), EFAULT);
	s = (struct itimerspec){{0, 0}, {1, 0}};
	CHECK_ERRNO("timer_settime_bad_id_einval", k_timer_settime(id + 1000, 0, &s, NULL), EINVAL);
	CHECK_ERRNO("timer_gettime_bad_pointer_efault", k_timer_gettime(id, (struct itimerspec *)8), EFAULT);
	CHECKF("timer_delete_once", k_timer_delete(id) == 0, "errno %d", errno);
	CHECK_ERRNO("timer_delete_twice_einval", k_timer_delete(id), EINVAL);
	struct itimerspec cur;
	CHECK_ERRNO("timer_gettime_deleted_einval", k_timer_gettime(id, &cur), EINVAL);
	CHECK_ERRNO("timer_getoverrun_deleted_einval", k_timer_getoverrun(id), EINVAL);
	CHECK_ERRNO("timer_delete_negative_id_einval", k_timer_delete(-1), EINVAL);
}

static void check_proc_timers(void)
{
	int a = -1, b = -1, c = -1;
	struct sigevent none = sigevent_of(SIGEV_NONE, 0, MAGIC);
	struct sigevent tid = sigevent_of(SIGEV_THREAD_ID, SIGUSR1, NULL);
	tid.sigev_notify_thread_id = getpid();
	k_timer_create(CLOCK_MONOTONIC, NULL, &a);
	k_timer_create(CLOCK_REALTIME, &none, &b);
	k_timer_create(CLOCK_BOOTTIME, &tid, &c);
	char want[512], got[512];
	snprintf(want, sizeof want,
		 "ID: %d\nsignal: %d/%016x\nnotify: signal/tid.%d\nClockID: %d\n"
		 "ID: %d\nsignal: 0/%016lx\nnotify: none/pid.%d\nClockID: %d\n"
		 "ID: %d\nsignal: %d/%016x\nnotify: signal/pid.%d\nClockID: %d\n",
		 c, SIGUSR1, 0, (int)getpid(), CLOCK_BOOTTIME, b, (unsigned long)MAGIC, (int)getpid(), CLOCK_REALTIME, a,
		 SIGALRM, a, (int)getpid(), CLOCK_MONOTONIC);
	int fd = open("/proc/self/timers", O_RDONLY);
	ssize_t n = 0, r;
	while (fd >= 0 && n < (ssize_t)sizeof got - 1 && (r = read(fd, got + n, sizeof got - 1 - (size_t)n)) > 0)
		n += r;
	got[n] = 0;
	if (fd >= 0)
		close(fd);
	CHECKF("proc_self_timers_lists_newest_first", strcmp(got, want) == 0, "got \"%s\", want \"%s\"", got, want);
	k_timer_delete(a);
	k_timer_delete(b);
	k_timer_delete(c);
}

static int fork_timer_id;

/* In a forked child: none of the parent's timers. Exit code: what was wrong. */
static int child_has_no_timers(void)
{
	struct itimerspec cur;
	struct itimerval it;
	errno = 0;
	if (k_timer_gettime(fork_timer_id, &cur) != -1 || errno != EINVAL)
		return 1;
	getitimer(ITIMER_REAL, &it);
	if (tv_ns(it.it_value) != 0)
		return 2;
	if (k_alarm(0) != 0)
		return 3;
	return 0;
}

static void check_fork(void)
{
	struct sigevent ev = sigevent_of(SIGEV_NONE, 0, NULL);
	k_timer_create(CLOCK_MONOTONIC, &ev, &fork_timer_id);
	arm(fork_timer_id, 0, 5 * SEC, 0, NULL);
	set_itimer(ITIMER_REAL, 5 * SEC, 0, NULL);
	int st = in_child(child_has_no_timers);
	CHECKF("fork_child_has_no_timers", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "status %#x (1: POSIX timer, 2: itimer, 3: alarm)", st);
	struct itimerspec cur;
	long r = k_timer_gettime(fork_timer_id, &cur);
	CHECKF("fork_parent_keeps_timers", r == 0 && ts_ns(cur.it_value) > 4 * SEC && k_alarm(0) > 3, "gettime %ld, left %lld ms",
	       r, ts_ns(cur.it_value) / MS);
	k_timer_delete(fork_timer_id);
}

/* `t_timer exec-check ID`, run by execve: ITIMER_REAL survived, timer ID did not. */
static int exec_check(int id)
{
	struct itimerval it;
	struct itimerspec cur;
	getitimer(ITIMER_REAL, &it);
	set_itimer(ITIMER_REAL, 0, 0, NULL);
	if (tv_ns(it.it_value) <= 3 * SEC || tv_ns(it.it_value) > 5 * SEC)
		return 1;
	errno = 0;
	if (k_timer_gettime(id, &cur) != -1 || errno != EINVAL)
		return 2;
	return 0;
}

static const char *self_path;

static int child_exec(void)
{
	struct sigevent ev = sigevent_of(SIGEV_NONE, 0, NULL);
	int id = -1;
	if (k_timer_create(CLOCK_MONOTONIC, &ev, &id) != 0 || arm(id, 0, 5 * SEC, 0, NULL) != 0)
		return 10;
	set_itimer(ITIMER_REAL, 5 * SEC, 0, NULL);
	char idstr[16];
	snprintf(idstr, sizeof idstr, "%d", id);
	char *argv[] = {"t_timer", "exec-check", idstr, NULL};
	char *envp[] = {NULL};
	execve(self_path, argv, envp);
	return 11;
}

static void check_exec(void)
{
	int st = in_child(child_exec);
	CHECKF("exec_keeps_itimer_deletes_posix_timers", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "status %#x (1: itimer lost, 2: POSIX timer kept, 10/11: set-up or exec failed)", st);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "exec-check") == 0)
		return exec_check(atoi(argv[2]));
	check_init("t_timer");
	static char path[4096];
	const char *bindir = getenv("BINDIR");
	snprintf(path, sizeof path, "%s/t_timer", bindir ? bindir : "/bin");
	self_path = path;

	check_alarm_values();
	check_errors();
	check_getitimer_decreasing();
	check_sigev_none();
	check_proc_timers();
	check_fork();
	check_exec();
	check_cpu_itimers();
	check_timer_children();
	check_alarm_kills();
	check_sigalrm_interrupts();
	check_itimer_periodic();
	check_posix_timer(CLOCK_MONOTONIC, "monotonic");
	check_posix_timer(CLOCK_REALTIME, "realtime");
	check_default_sigevent();
	check_overrun();
	return check_done();
}
