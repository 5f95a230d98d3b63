/*
 * t_futex.c: futex(2) between processes (no threads yet): FUTEX_WAIT and
 * FUTEX_WAKE on MAP_SHARED memory across fork (keyed by the shared
 * object), FUTEX_PRIVATE_FLAG keeping processes apart, the bitset
 * operations, timeouts on both clocks, CMP_REQUEUE, REQUEUE, WAKE_OP,
 * interruption by signals with and without SA_RESTART, and the errors.
 * Runs on the host Linux and in the kernel.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* include/uapi/linux/futex.h (musl's headers do not carry it). */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OR 2
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_NE 1
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP(op, oparg, cmp, cmparg) \
	((((op) & 0xf) << 28) | (((cmp) & 0xf) << 24) | (((oparg) & 0xfff) << 12) | ((cmparg) & 0xfff))

static long fx(volatile uint32_t *uaddr, int op, uint32_t val, const void *timeout_or_val2, volatile uint32_t *uaddr2,
	       uint32_t val3)
{
	return syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3);
}

static volatile uint32_t *shared;

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&t, &t) == -1 && errno == EINTR)
		;
}

/* A child that waits on `word` (expecting 0) and exits 0 if woken, 1 on
 * ETIMEDOUT, 2 on EINTR, 3 otherwise. */
static pid_t waiter(volatile uint32_t *word, int op, long timeout_ms)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec t = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
		long r = fx(word, op, 0, timeout_ms ? &t : NULL, NULL, 0);
		_exit(r == 0 ? 0 : errno == ETIMEDOUT ? 1 : errno == EINTR ? 2 : 3);
	}
	return pid;
}

static int status_of(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* Wake `word` until one waiter was woken (it may not be asleep yet); the
 * count of the successful wake, or 0 after 3 s. */
static long wake_one(volatile uint32_t *word, int op)
{
	for (long end = now_ms() + 3000; now_ms() < end; sleep_ms(5)) {
		long n = fx(word, op, 1, NULL, NULL, 0);
		if (n != 0)
			return n;
	}
	return 0;
}

static void check_errors(void)
{
	uint32_t w = 7;
	CHECK_ERRNO("wait_value_differs_eagain", fx(&w, FUTEX_WAIT, 8, NULL, NULL, 0), EAGAIN);
	CHECK_ERRNO("unaligned_einval", fx((uint32_t *)((char *)&w + 1), FUTEX_WAKE, 1, NULL, NULL, 0), EINVAL);
	CHECK_ERRNO("unmapped_efault", fx((uint32_t *)8, FUTEX_WAIT, 0, NULL, NULL, 0), EFAULT);
	CHECK_ERRNO("wait_bitset_zero_einval", fx(&w, FUTEX_WAIT_BITSET, 7, NULL, NULL, 0), EINVAL);
	CHECK_ERRNO("wake_bitset_zero_einval", fx(&w, FUTEX_WAKE_BITSET, 1, NULL, NULL, 0), EINVAL);
	CHECK_ERRNO("unknown_op_enosys", fx(&w, 99, 0, NULL, NULL, 0), ENOSYS);
	CHECK_ERRNO("realtime_wake_enosys", fx(&w, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0), ENOSYS);
	struct timespec bad = {0, 1000000000};
	CHECK_ERRNO("bad_timespec_einval", fx(&w, FUTEX_WAIT, 7, &bad, NULL, 0), EINVAL);
	CHECK("wake_nobody_is_0", fx(&w, FUTEX_WAKE, 1, NULL, NULL, 0) == 0);
	CHECK("wake_private_nobody_is_0", fx(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 0);
}

static void check_timeouts(void)
{
	uint32_t w = 0;
	struct timespec rel = {0, 30000000};
	long t0 = now_ms();
	long r = fx(&w, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
	long took = now_ms() - t0;
	CHECKF("relative_timeout_etimedout", r == -1 && errno == ETIMEDOUT && took >= 29, "r %ld errno %d after %ld ms",
	       r, errno, took);

	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 30000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	t0 = now_ms();
	r = fx(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
	took = now_ms() - t0;
	CHECKF("absolute_monotonic_timeout", r == -1 && errno == ETIMEDOUT && took >= 25, "r %ld errno %d after %ld ms", r,
	       errno, took);

	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_nsec += 30000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	r = fx(&w, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
	CHECKF("absolute_realtime_timeout", r == -1 && errno == ETIMEDOUT, "r %ld errno %d", r, errno);

	struct timespec past = {0, 0};
	r = fx(&w, FUTEX_WAIT_BITSET_PRIVATE, 0, &past, NULL, FUTEX_BITSET_MATCH_ANY);
	CHECKF("absolute_past_times_out_at_once", r == -1 && errno == ETIMEDOUT, "r %ld errno %d", r, errno);
}

static void check_shared_wake(void)
{
	shared[0] = 0;
	pid_t c = waiter(&shared[0], FUTEX_WAIT, 0);
	long n = wake_one(&shared[0], FUTEX_WAKE);
	CHECKF("shared_wake_across_fork", n == 1 && status_of(c) == 0, "woke %ld", n);

	/* Private futexes of different processes never meet. */
	c = waiter(&shared[0], FUTEX_WAIT_PRIVATE, 300);
	sleep_ms(50);
	n = fx(&shared[0], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	int st = status_of(c);
	CHECKF("private_stays_in_its_process", n == 0 && st == 1, "woke %ld, child %d (1: timed out)", n, st);

	/* Two waiters: a wake of 1 wakes one, the next the other. */
	pid_t a = waiter(&shared[0], FUTEX_WAIT, 0), b = waiter(&shared[0], FUTEX_WAIT, 0);
	sleep_ms(100);
	long n1 = wake_one(&shared[0], FUTEX_WAKE);
	long n2 = wake_one(&shared[0], FUTEX_WAKE);
	int sa = status_of(a), sb = status_of(b);
	CHECKF("wake_counts_one_by_one", n1 == 1 && n2 == 1 && sa == 0 && sb == 0, "%ld %ld, children %d %d", n1, n2,
	       sa, sb);

	/* Bitsets: a wake whose bitset misses the waiter's leaves it. */
	c = fork();
	if (c == 0)
		_exit(fx(&shared[0], FUTEX_WAIT_BITSET, 0, NULL, NULL, 0x2) == 0 ? 0 : 3);
	sleep_ms(100);
	long miss = fx(&shared[0], FUTEX_WAKE_BITSET, 1, NULL, NULL, 0x1);
	long hit = 0;
	for (long end = now_ms() + 3000; hit == 0 && now_ms() < end; sleep_ms(5))
		hit = fx(&shared[0], FUTEX_WAKE_BITSET, 1, NULL, NULL, 0x2);
	st = status_of(c);
	CHECKF("bitset_selects_waiters", miss == 0 && hit == 1 && st == 0, "miss %ld hit %ld child %d", miss, hit, st);
}

static void check_requeue(void)
{
	volatile uint32_t *a = &shared[4], *b = &shared[8];
	*a = 0;
	*b = 0;
	pid_t w1 = waiter(a, FUTEX_WAIT, 0), w2 = waiter(a, FUTEX_WAIT, 0);
	sleep_ms(150);
	CHECK_ERRNO("cmp_requeue_value_differs_eagain", fx(a, FUTEX_CMP_REQUEUE, 1, (void *)1, b, 5), EAGAIN);
	long n = fx(a, FUTEX_CMP_REQUEUE, 1, (void *)1, b, 0);
	long on_a = fx(a, FUTEX_WAKE, 1, NULL, NULL, 0);
	long on_b = wake_one(b, FUTEX_WAKE);
	int s1 = status_of(w1), s2 = status_of(w2);
	CHECKF("cmp_requeue_wakes_and_moves", n == 2 && on_a == 0 && on_b == 1 && s1 == 0 && s2 == 0,
	       "cmp_requeue %ld, then a %ld b %ld, children %d %d", n, on_a, on_b, s1, s2);

	w1 = waiter(a, FUTEX_WAIT, 0);
	w2 = waiter(a, FUTEX_WAIT, 0);
	sleep_ms(150);
	n = fx(a, FUTEX_REQUEUE, 0, (void *)2, b, 0);
	on_b = fx(b, FUTEX_WAKE, 2, NULL, NULL, 0);
	s1 = status_of(w1);
	s2 = status_of(w2);
	CHECKF("requeue_counts_moved_waiters", n == 2 && on_b == 2 && s1 == 0 && s2 == 0, "requeue %ld, b %ld, %d %d", n,
	       on_b, s1, s2);
}

static void check_wake_op(void)
{
	volatile uint32_t *a = &shared[12], *b = &shared[16];
	*a = 0;
	*b = 5;
	long n = fx(a, FUTEX_WAKE_OP, 1, (void *)1, b, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 0));
	CHECKF("wake_op_adds", n == 0 && *b == 6, "n %ld b %u", n, *b);
	n = fx(a, FUTEX_WAKE_OP, 1, (void *)1, b, FUTEX_OP(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_EQ, 0));
	CHECKF("wake_op_or_shifted", n == 0 && *b == 22, "n %ld b %u", n, *b);
	/* The second waiter list is woken only when the old value passes. */
	*b = 0;
	pid_t c = waiter(b, FUTEX_WAIT, 0);
	sleep_ms(100);
	long miss = fx(a, FUTEX_WAKE_OP, 1, (void *)1, b, FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_NE, 0));
	long hit = 0;
	for (long end = now_ms() + 3000; hit == 0 && now_ms() < end; sleep_ms(5))
		hit = fx(a, FUTEX_WAKE_OP, 1, (void *)1, b, FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0));
	int st = status_of(c);
	CHECKF("wake_op_compares_old_value", miss == 0 && hit == 1 && st == 0, "miss %ld hit %ld child %d", miss, hit, st);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void check_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	/* Without SA_RESTART the wait ends with EINTR. */
	shared[20] = 0;
	pid_t c = fork();
	if (c == 0) {
		sigaction(SIGUSR1, &sa, NULL);
		long r = fx(&shared[20], FUTEX_WAIT, 0, NULL, NULL, 0);
		_exit(r == -1 && errno == EINTR ? 0 : 3);
	}
	sleep_ms(100);
	kill(c, SIGUSR1);
	int st = status_of(c);
	CHECKF("signal_interrupts_wait_eintr", st == 0, "child %d", st);

	/* With SA_RESTART it waits on, and a wake ends it normally. */
	c = fork();
	if (c == 0) {
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		long r = fx(&shared[20], FUTEX_WAIT, 0, NULL, NULL, 0);
		_exit(r == 0 ? 0 : errno == EINTR ? 2 : 3);
	}
	sleep_ms(100);
	kill(c, SIGUSR1);
	sleep_ms(50);
	long n = wake_one(&shared[20], FUTEX_WAKE);
	st = status_of(c);
	CHECKF("sa_restart_keeps_waiting", n == 1 && st == 0, "woke %ld child %d (2: EINTR)", n, st);
}

int main(void)
{
	check_init("t_futex");
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		CHECK("mmap_shared", 0);
		return check_done();
	}
	check_errors();
	check_timeouts();
	check_shared_wake();
	check_requeue();
	check_wake_op();
	check_signals();
	return check_done();
}
