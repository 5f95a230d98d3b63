/*
 * t_balance.c: tasks spread over the CPUs. Spinners all started on one
 * CPU spread to every CPU once they may (load balancing); a process whose
 * affinity another process changes moves there, as /proc/PID/stat's
 * `processor` and its own getcpu say; more spinners than CPUs all get a
 * share of the time. Runs on the host Linux and in the kernel; with one
 * CPU the spreading cases are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MAX_SPIN 8

/* Shared with the children: the CPU each last ran on. */
static volatile int *slot;

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

static pid_t spinner(int i)
{
	pid_t p = fork();
	if (p == 0) {
		for (;;) {
			unsigned cpu = 0;
			if (syscall(SYS_getcpu, &cpu, NULL, NULL) == 0)
				slot[i] = (int)cpu;
		}
	}
	return p;
}

static void stop_all(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
}

static int set_affinity(pid_t pid, int first, int last)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	for (int c = first; c <= last; c++)
		CPU_SET(c, &s);
	return sched_setaffinity(pid, sizeof(s), &s);
}

/* /proc/PID/stat from field 3 on (after "PID (comm) "), or NULL. */
static const char *stat_fields(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p ? p + 2 : NULL;
}

/* Field 39 (processor) of /proc/PID/stat, or -1. */
static int stat_processor(pid_t pid)
{
	char buf[1024];
	const char *p = stat_fields(pid, buf, sizeof(buf));
	for (int f = 3; f < 39 && p; f++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? atoi(p) : -1;
}

/* utime + stime of PID, in ticks. */
static long stat_cpu_ticks(pid_t pid)
{
	char buf[1024];
	const char *p = stat_fields(pid, buf, sizeof(buf));
	long ut = 0, st = 0;
	if (!p || sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

static int distinct(int n)
{
	unsigned mask = 0;
	for (int i = 0; i < n; i++)
		if (slot[i] >= 0 && slot[i] < 32)
			mask |= 1u << slot[i];
	return __builtin_popcount(mask);
}

/*
 * One spinner per CPU, all pinned to CPU 0, then allowed everywhere: they
 * still share CPU 0 until the balancer moves them (nothing in the wake-up
 * path does: they never sleep), so seeing every CPU busy at once means
 * tasks were pulled to the idle CPUs.
 */
static void check_spread(int ncpu)
{
	int n = ncpu < MAX_SPIN ? ncpu : MAX_SPIN;
	pid_t pids[MAX_SPIN];
	for (int i = 0; i < n; i++)
		slot[i] = -1;
	for (int i = 0; i < n; i++) {
		pids[i] = spinner(i);
		set_affinity(pids[i], 0, 0);
	}
	/* Wait until every spinner has run on CPU 0 (one may have started
	 * elsewhere before its affinity changed). */
	long t0 = now_ms();
	int pinned = 0;
	while (!pinned && now_ms() - t0 < 3000) {
		sleep_ms(10);
		pinned = 1;
		for (int i = 0; i < n; i++)
			pinned &= slot[i] == 0;
	}
	CHECKF("pinned_spinners_share_cpu0", pinned, "slots %d %d", slot[0], n > 1 ? slot[1] : -1);
	for (int i = 0; i < n; i++)
		set_affinity(pids[i], 0, ncpu - 1);
	t0 = now_ms();
	int best = 0;
	while (now_ms() - t0 < 5000) {
		int d = distinct(n);
		best = d > best ? d : best;
		if (best == n)
			break;
		sleep_ms(10);
	}
	CHECKF("spinners_spread_to_every_cpu", best == n, "%d spinners reached at most %d CPUs at once", n, best);
	stop_all(pids, n);
}

/* Another process's affinity moves it, and /proc says where it runs. */
static void check_follow(int ncpu)
{
	slot[0] = -1;
	pid_t p = spinner(0);
	int ok_move = 1, ok_stat = 1;
	int targets[2] = { ncpu - 1, 0 };
	for (int k = 0; k < 2; k++) {
		int c = targets[k];
		int r = set_affinity(p, c, c);
		long t0 = now_ms();
		while (slot[0] != c && now_ms() - t0 < 3000)
			sleep_ms(5);
		/* Let it run there a little, then both views must agree. */
		sleep_ms(20);
		ok_move &= r == 0 && slot[0] == c;
		ok_stat &= stat_processor(p) == c;
	}
	CHECKF("affinity_moves_another_process", ok_move, "slot %d", slot[0]);
	CHECKF("stat_processor_is_where_it_runs", ok_stat, "processor %d", stat_processor(p));
	stop_all(&p, 1);
}

/* More spinners than CPUs: none starves (each gets at least a quarter of
 * what the luckiest one got over a second). */
static void check_share(int ncpu)
{
	int n = ncpu + 1 < MAX_SPIN ? ncpu + 1 : MAX_SPIN;
	pid_t pids[MAX_SPIN];
	long before[MAX_SPIN], used[MAX_SPIN];
	for (int i = 0; i < n; i++)
		pids[i] = spinner(i);
	sleep_ms(100);
	for (int i = 0; i < n; i++)
		before[i] = stat_cpu_ticks(pids[i]);
	sleep_ms(1500);
	long lo = -1, hi = 0;
	for (int i = 0; i < n; i++) {
		used[i] = stat_cpu_ticks(pids[i]) - before[i];
		lo = lo < 0 || used[i] < lo ? used[i] : lo;
		hi = used[i] > hi ? used[i] : hi;
	}
	stop_all(pids, n);
	CHECKF("no_spinner_starves", hi > 0 && lo * 4 >= hi, "%d spinners on %d CPUs: least %ld ticks, most %ld", n,
	       ncpu, lo, hi);
}

int main(void)
{
	check_init("t_balance");
	slot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slot == MAP_FAILED)
		return 1;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 2) {
		check_skip("pinned_spinners_share_cpu0", "one CPU online");
		check_skip("spinners_spread_to_every_cpu", "one CPU online");
		check_skip("affinity_moves_another_process", "one CPU online");
		check_skip("stat_processor_is_where_it_runs", "one CPU online");
	} else {
		check_spread(ncpu);
		check_follow(ncpu);
	}
	check_share(ncpu);
	return check_done();
}
