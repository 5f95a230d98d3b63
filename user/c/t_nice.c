/*
 * t_nice.c: the fair scheduler weights CPU time by nice value, as Linux's
 * CFS does (kernel/sched/fair.c, sched_prio_to_weight: nice 0 weighs 1024,
 * nice 19 weighs 15, SCHED_IDLE 3).
 *
 * Two children pinned to CPU 0 spin for the same wall-clock time, started
 * together; each reports the CPU time it got (CLOCK_PROCESS_CPUTIME_ID)
 * and how many loops it ran. Outcomes with wide margins, so a loaded
 * machine does not change them:
 *
 * - nice 0 beside nice 0: neither gets more than 3 times the other;
 * - nice 0 beside nice 19: the nice 0 one gets more than 4 times as much
 *   (Linux: about 68 times), and the nice 19 one still runs;
 * - nice 0 beside a SCHED_IDLE task: the same.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

#define SPIN_NS 1500000000LL

struct shared {
	int ready;
	long long stop_at;
	long long cpu_ns[2];
	long loops[2];
};

static struct shared *sh;
/* Closed by the parent to start both children at once. */
static int start_pipe[2];

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Child I: pin to CPU 0, take its scheduling class, spin until stop_at. */
static void child(int i, int nice_value, int idle_policy)
{
	close(start_pipe[1]);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		_exit(2);
	if (idle_policy) {
		/* musl's sched_setscheduler is a stub (ENOSYS): the system call. */
		struct sched_param p = {0};
		if (syscall(SYS_sched_setscheduler, 0, SCHED_IDLE, &p) != 0)
			_exit(3);
	} else if (setpriority(PRIO_PROCESS, 0, nice_value) != 0) {
		_exit(4);
	}
	/* Block until the parent starts both: a task that spun here would be
	 * charged for it, and one tick of a SCHED_IDLE task's CPU time weighs
	 * as 341 ticks of a nice 0 task's, longer than the whole window. */
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_RELEASE);
	char c;
	while (read(start_pipe[0], &c, 1) < 0)
		;
	long loops = 0;
	while (mono_ns() < __atomic_load_n(&sh->stop_at, __ATOMIC_ACQUIRE))
		loops++;
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	sh->cpu_ns[i] = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	sh->loops[i] = loops;
	_exit(0);
}

/* Run the pair; 0 on success with the CPU times in sh. */
static int pair(int nice_b, int idle_b)
{
	memset(sh, 0, sizeof *sh);
	if (pipe(start_pipe) != 0)
		return -1;
	pid_t a = fork();
	if (a == 0)
		child(0, 0, 0);
	pid_t b = fork();
	if (b == 0)
		child(1, nice_b, idle_b);
	close(start_pipe[0]);
	if (a < 0 || b < 0) {
		close(start_pipe[1]);
		return -1;
	}
	int sa = -1, sb = -1;
	while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < 2) {
		/* A child that could not set itself up exits: stop the other. */
		if (waitpid(a, &sa, WNOHANG) == a || waitpid(b, &sb, WNOHANG) == b) {
			__atomic_store_n(&sh->stop_at, 1, __ATOMIC_RELEASE);
			close(start_pipe[1]);
			if (sa == -1)
				waitpid(a, &sa, 0);
			if (sb == -1)
				waitpid(b, &sb, 0);
			return sa ? sa : sb;
		}
		usleep(1000);
	}
	__atomic_store_n(&sh->stop_at, mono_ns() + SPIN_NS, __ATOMIC_RELEASE);
	close(start_pipe[1]);
	waitpid(a, &sa, 0);
	waitpid(b, &sb, 0);
	return sa == 0 && sb == 0 ? 0 : (sa ? sa : sb);
}

int main(void)
{
	check_init("t_nice");
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;

	int r = pair(0, 0);
	long long x = sh->cpu_ns[0], y = sh->cpu_ns[1];
	CHECKF("equal_nice_share_the_cpu", r == 0 && x > 0 && y > 0 && x < 3 * y && y < 3 * x,
	       "status %#x, cpu %lld vs %lld ns", r, x, y);

	r = pair(19, 0);
	x = sh->cpu_ns[0], y = sh->cpu_ns[1];
	CHECKF("nice_19_gets_far_less", r == 0 && x > 4 * y, "status %#x, nice 0 %lld ns, nice 19 %lld ns", r, x, y);
	CHECKF("nice_19_still_runs", r == 0 && sh->loops[1] > 0, "%ld loops", sh->loops[1]);

	r = pair(0, 1);
	x = sh->cpu_ns[0], y = sh->cpu_ns[1];
	CHECKF("sched_idle_gets_far_less", r == 0 && x > 4 * y, "status %#x, nice 0 %lld ns, idle %lld ns", r, x, y);
	CHECKF("sched_idle_still_runs", r == 0 && sh->loops[1] > 0, "%ld loops", sh->loops[1]);
	return check_done();
}
