/*
 * t_prio: scheduling classes, nice values and CPU-time clocks, checked
 * against Linux (run as root: the real-time and lowering cases need it;
 * the unprivileged cases run in a child that drops to uid 1000).
 *
 *   sched_get_priority_max/min, sched_setscheduler/getscheduler,
 *   sched_setparam/getparam, SCHED_RESET_ON_FORK, sched_rr_get_interval,
 *   a SCHED_FIFO task keeping one CPU from a SCHED_OTHER one,
 *   pthread attributes with an explicit policy,
 *   getpriority/setpriority and /proc/self/stat's nice field,
 *   times(), clock_getcpuclockid and pthread_getcpuclockid.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long cpu_ns(clockid_t c)
{
	struct timespec t;
	if (clock_gettime(c, &t) != 0)
		return -1;
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void burn_ms(long ms)
{
	long end = now_ms() + ms;
	while (now_ms() < end)
		;
}

static int wait_status(pid_t pid)
{
	int st = -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static int sys_setscheduler(pid_t pid, int policy, int prio)
{
	struct sched_param p = {.sched_priority = prio};
	return syscall(SYS_sched_setscheduler, pid, policy, &p);
}

static void check_ranges(void)
{
	CHECK("fifo_max_99", sched_get_priority_max(SCHED_FIFO) == 99);
	CHECK("fifo_min_1", sched_get_priority_min(SCHED_FIFO) == 1);
	CHECK("rr_range_1_99", sched_get_priority_max(SCHED_RR) == 99 && sched_get_priority_min(SCHED_RR) == 1);
	CHECK("other_range_0", sched_get_priority_max(SCHED_OTHER) == 0 && sched_get_priority_min(SCHED_OTHER) == 0);
	CHECK_ERRNO("bad_policy_max_einval", sched_get_priority_max(77), EINVAL);
}

static void check_set_get(void)
{
	CHECK("starts_other", syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER);
	struct sched_param p = {.sched_priority = -1};
	CHECK("starts_prio_0", syscall(SYS_sched_getparam, 0, &p) == 0 && p.sched_priority == 0);
	CHECK_ERRNO("other_prio_5_einval", sys_setscheduler(0, SCHED_OTHER, 5), EINVAL);
	CHECK_ERRNO("fifo_prio_0_einval", sys_setscheduler(0, SCHED_FIFO, 0), EINVAL);
	CHECK_ERRNO("fifo_prio_100_einval", sys_setscheduler(0, SCHED_FIFO, 100), EINVAL);
	CHECK_ERRNO("unknown_policy_einval", sys_setscheduler(0, 77, 0), EINVAL);
	CHECK_ERRNO("negative_pid_einval", sys_setscheduler(-1, SCHED_OTHER, 0), EINVAL);
	CHECK_ERRNO("null_param_einval", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL), EINVAL);
	CHECK_ERRNO("no_such_pid_esrch", sys_setscheduler(4000000, SCHED_OTHER, 0), ESRCH);

	CHECK("root_sets_fifo_10", sys_setscheduler(0, SCHED_FIFO, 10) == 0);
	p.sched_priority = -1;
	CHECK("reads_fifo_10", syscall(SYS_sched_getscheduler, 0) == SCHED_FIFO &&
				       syscall(SYS_sched_getparam, 0, &p) == 0 && p.sched_priority == 10);
	p.sched_priority = 20;
	CHECK("setparam_keeps_policy", syscall(SYS_sched_setparam, 0, &p) == 0 &&
					       syscall(SYS_sched_getscheduler, 0) == SCHED_FIFO);
	struct timespec ts = {1, 1};
	CHECK("fifo_rr_interval_0", syscall(SYS_sched_rr_get_interval, 0, &ts) == 0 && ts.tv_sec == 0 && ts.tv_nsec == 0);
	CHECK("rr_interval_positive",
	      sys_setscheduler(0, SCHED_RR, 5) == 0 && syscall(SYS_sched_rr_get_interval, 0, &ts) == 0 &&
		      (ts.tv_sec > 0 || ts.tv_nsec > 0));
	CHECK("back_to_other", sys_setscheduler(0, SCHED_OTHER, 0) == 0 &&
				       syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER);

	/* SCHED_RESET_ON_FORK: the parent keeps FIFO, the child starts OTHER. */
	int r = sys_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, 3);
	long got = syscall(SYS_sched_getscheduler, 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER ? 0 : 1);
	int st = wait_status(pid);
	sys_setscheduler(0, SCHED_OTHER, 0);
	CHECKF("reset_on_fork_child_other", r == 0 && got == (SCHED_FIFO | SCHED_RESET_ON_FORK) && WIFEXITED(st) &&
						     WEXITSTATUS(st) == 0,
	       "r %d policy %#lx child status %#x", r, got, st);

	/* Without privilege: no real time (RLIMIT_RTPRIO 0), no lowering nice. */
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		setrlimit(RLIMIT_RTPRIO, &rl);
		setrlimit(RLIMIT_NICE, &rl);
		if (setuid(1000) != 0)
			_exit(10);
		int bits = 0;
		if (!(sys_setscheduler(0, SCHED_FIFO, 1) == -1 && errno == EPERM))
			bits |= 1;
		if (setpriority(PRIO_PROCESS, 0, 10) != 0)
			bits |= 2;
		if (!(setpriority(PRIO_PROCESS, 0, 5) == -1 && errno == EACCES))
			bits |= 4;
		/* The parent is root's: not ours to change. */
		if (!(sys_setscheduler(getppid(), SCHED_OTHER, 0) == -1 && errno == EPERM))
			bits |= 8;
		_exit(bits);
	}
	st = wait_status(pid);
	CHECKF("unprivileged_rt_eperm_nice_eacces", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* One CPU: a runnable SCHED_FIFO task keeps a SCHED_OTHER one off it. */
static void check_fifo_preference(void)
{
	volatile long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	*counter = 0;
	pid_t pid = fork();
	if (pid == 0) {
		sched_setaffinity(0, sizeof one, &one);
		for (;;)
			(*counter)++;
	}
	cpu_set_t old;
	sched_getaffinity(0, sizeof old, &old);
	sched_setaffinity(0, sizeof one, &one);
	/* Let the child run a little first. */
	long t0 = now_ms();
	while (*counter == 0 && now_ms() - t0 < 2000)
		sched_yield();
	int r = sys_setscheduler(0, SCHED_FIFO, 10);
	long c0 = *counter;
	burn_ms(100);
	long c1 = *counter;
	sys_setscheduler(0, SCHED_OTHER, 0);
	/* Back to fair sharing: the child runs again, once the parent's lead
	 * in virtual time is used up (a host that preempted the guest while
	 * the child ran above may have charged the child a long stretch). */
	long t1 = now_ms();
	while (*counter == c1 && now_ms() - t1 < 3000)
		burn_ms(10);
	long c2 = *counter;
	sched_setaffinity(0, sizeof old, &old);
	kill(pid, SIGKILL);
	wait_status(pid);
	CHECKF("fifo_keeps_cpu_from_other", r == 0 && c0 > 0 && c1 == c0 && c2 > c1, "r %d counts %ld %ld %ld", r, c0,
	       c1, c2);
	munmap((void *)counter, 4096);
}

static void *report_policy(void *arg)
{
	(void)arg;
	int policy = -1;
	struct sched_param p;
	pthread_getschedparam(pthread_self(), &policy, &p);
	return (void *)(long)(policy * 1000 + p.sched_priority);
}

static void check_pthread_attr(void)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_RR);
	struct sched_param p = {.sched_priority = 7};
	pthread_attr_setschedparam(&a, &p);
	pthread_t t;
	int r = pthread_create(&t, &a, report_policy, NULL);
	void *v = NULL;
	if (r == 0)
		pthread_join(t, &v);
	pthread_attr_destroy(&a);
	CHECKF("pthread_explicit_rr_7", r == 0 && (long)v == SCHED_RR * 1000 + 7, "r %d got %ld", r, (long)v);
}

static int stat_nice(void)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return -100;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -100;
	/* After ") ": fields 3.. ; nice is field 19. */
	int field = 2;
	for (p++; *p && field < 19; p++)
		if (*p == ' ')
			field++;
	return atoi(p);
}

static void check_nice(void)
{
	errno = 0;
	CHECK("getpriority_starts_0", getpriority(PRIO_PROCESS, 0) == 0 && errno == 0);
	CHECK("raw_getpriority_is_20_minus_nice", syscall(SYS_getpriority, PRIO_PROCESS, 0) == 20);
	CHECK("setpriority_5", setpriority(PRIO_PROCESS, 0, 5) == 0 && getpriority(PRIO_PROCESS, 0) == 5);
	CHECK("stat_shows_nice_5", stat_nice() == 5);
	CHECK("clamped_to_19", setpriority(PRIO_PROCESS, 0, 50) == 0 && getpriority(PRIO_PROCESS, 0) == 19);
	CHECK("root_lowers_to_0", setpriority(PRIO_PROCESS, 0, 0) == 0 && getpriority(PRIO_PROCESS, 0) == 0);
	CHECK_ERRNO("bad_which_einval", setpriority(7, 0, 0), EINVAL);
	CHECK_ERRNO("no_such_pid_esrch", getpriority(PRIO_PROCESS, 4000000), ESRCH);
	CHECK("pgrp_form", getpriority(PRIO_PGRP, 0) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		setpriority(PRIO_PROCESS, 0, 3);
		_exit(0);
	}
	wait_status(pid);
	CHECK("child_nice_does_not_touch_parent", getpriority(PRIO_PROCESS, 0) == 0);
}

static void *burner(void *arg)
{
	(void)arg;
	burn_ms(60);
	return NULL;
}

static void check_cpu_clocks(void)
{
	struct tms before, after;
	clock_t c0 = times(&before);
	burn_ms(60);
	clock_t c1 = times(&after);
	CHECKF("times_counts_cpu", c1 > c0 && (after.tms_utime + after.tms_stime) > (before.tms_utime + before.tms_stime),
	       "ticks %ld -> %ld, cpu %ld -> %ld", (long)c0, (long)c1, (long)(before.tms_utime + before.tms_stime),
	       (long)(after.tms_utime + after.tms_stime));

	clockid_t pc;
	int r = clock_getcpuclockid(getpid(), &pc);
	long p0 = r == 0 ? cpu_ns(pc) : -1;
	long self0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	long th0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	pthread_t t;
	pthread_create(&t, NULL, burner, NULL);
	clockid_t tc;
	int r2 = pthread_getcpuclockid(t, &tc);
	pthread_join(t, NULL);
	long p1 = r == 0 ? cpu_ns(pc) : -1;
	long self1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	long th1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	/* The main thread sleeps in the join while the other burns: only the
	 * process clocks grow (by at least a 10 ms tick: kernels that count
	 * CPU time by ticks may miss some under a loaded host). */
	CHECKF("process_clock_counts_threads",
	       r == 0 && p1 - p0 >= 10000000 && self1 - self0 >= 10000000 && self1 - self0 > th1 - th0,
	       "r %d, pid clock +%ld ns, process clock +%ld ns, main thread +%ld ns", r, p1 - p0, self1 - self0,
	       th1 - th0);
	/* Its own clock grew by less than half the process's: the other
	 * thread's 60 ms are not its (a tick-charging kernel under a loaded
	 * host may give it a tick or two of its own bookkeeping). */
	CHECKF("thread_clock_is_own", th1 - th0 < (self1 - self0) / 2,
	       "main thread +%ld ns, process +%ld ns, while another burnt 60 ms", th1 - th0, self1 - self0);
	CHECK("pthread_getcpuclockid_works", r2 == 0);
	CHECK_ERRNO("bad_dynamic_clock_einval", clock_gettime((clockid_t)(((unsigned)~4000000u << 3) | 2), &(struct timespec){0}),
		    EINVAL);
}

int main(void)
{
	check_init("t_prio");
	check_ranges();
	check_set_get();
	check_fifo_preference();
	check_pthread_attr();
	check_nice();
	check_cpu_clocks();
	return check_done();
}
