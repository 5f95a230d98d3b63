/*
 * t_sched.c: preemption: two CPU-bound processes both make progress.
 *
 * A MAP_SHARED | MAP_ANONYMOUS page is shared across fork. The child spins
 * for about 300 ms of wall time, incrementing a counter in that page with
 * no system call in the loop (it reads CLOCK_MONOTONIC every 4096
 * iterations to know when to stop). The parent spins too, never sleeping
 * or yielding, for up to 2 s, watching the counter. It must see the
 * counter move many times *while the parent itself keeps running*:
 *
 * - one CPU, preemptive scheduler: the timer takes the CPU from each in
 *   turn, so the parent sees the counter jump after each of its slices;
 * - several CPUs: both run at once and the parent sees it move constantly;
 * - no preemption: the parent spins alone and sees nothing (FAILED), then
 *   waits, which lets the child run and finish, so the test still ends.
 *
 * Also checked: the page really is shared (the child's final count and
 * done flag are visible to the parent) and the child exits 0.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

#define CHILD_RUN_NS (300LL * 1000000)
#define PARENT_MAX_NS (2000LL * 1000000)
#define MIN_CHANGES 3		/* separate moments the parent saw the counter move */
#define MIN_COUNT 100000	/* increments the child must have made */

struct shared {
	volatile uint64_t counter;
	volatile int started;
	volatile int done;
};

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void child(struct shared *sh)
{
	sh->started = 1;
	long long end = now_ns() + CHILD_RUN_NS;
	for (uint64_t i = 1;; i++) {
		sh->counter++;
		if ((i & 4095) == 0 && now_ns() >= end)
			break;
	}
	sh->done = 1;
	_exit(0);
}

int main(void)
{
	check_init("t_sched");
	struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("mmap_shared_anon", sh != MAP_FAILED, "mmap: %s", strerror(errno)))
		return check_done();

	pid_t pid = fork();
	if (pid == 0)
		child(sh);
	if (!CHECKF("fork", pid > 0, "fork: %s", strerror(errno)))
		return check_done();

	/* Spin: count how often the counter changed between two of our reads. */
	long long start = now_ns(), elapsed = 0;
	uint64_t last = sh->counter, first_seen = last, changes = 0, spins = 0;
	while (!sh->done) {
		uint64_t c = sh->counter;
		if (c != last) {
			changes++;
			last = c;
		}
		if ((++spins & 4095) == 0) {
			elapsed = now_ns() - start;
			if (elapsed >= PARENT_MAX_NS)
				break;
		}
	}
	elapsed = now_ns() - start;
	int done_while_spinning = sh->done;

	int st = 0;
	pid_t w = wait4(pid, &st, 0, NULL);
	uint64_t final = sh->counter;
	check_note("# parent spun %llu times over %lld ms, saw the counter change %llu times (%llu -> %llu), "
		   "child counted %llu",
		   (unsigned long long)spins, elapsed / 1000000, (unsigned long long)changes,
		   (unsigned long long)first_seen, (unsigned long long)last, (unsigned long long)final);

	CHECKF("child_exits_0", w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait4 %d, status %#x", (int)w, st);
	CHECKF("shared_page_shared", sh->done && sh->started && final >= MIN_COUNT,
	       "done=%d started=%d counter=%llu", sh->done, sh->started, (unsigned long long)final);
	CHECKF("child_ran_while_parent_spun", changes >= MIN_CHANGES && last - first_seen >= MIN_COUNT / 10,
	       "parent saw %llu changes, counter %llu -> %llu while spinning (no preemption?)",
	       (unsigned long long)changes, (unsigned long long)first_seen, (unsigned long long)last);
	CHECKF("child_finished_within_2s", done_while_spinning, "child not done after %lld ms of parent spinning",
	       elapsed / 1000000);
	munmap((void *)sh, 4096);
	return check_done();
}
