/*
 * b_mm.c: memory-management micro-benchmarks, the same binary on the Linux
 * host and on mmkernel (not a test: it is not in tests.txt; run it by
 * hand). One line per measurement:
 *
 *   bench NAME NS_PER_OP N
 *
 * NS_PER_OP is wall time (CLOCK_MONOTONIC) divided by N operations, the
 * best of a few rounds. Measurements:
 *
 *   fault_first_touch    first write to a fresh anonymous page (16 MiB)
 *   fault_4_threads      the same, 4 threads of one process each writing
 *                        its own 4 MiB of one mapping at once (wall time
 *                        per page, all 16 MiB)
 *   fault_4_procs        the same with 4 processes, each its own 4 MiB
 *                        mapping: what sharing one mm costs
 *   mmap_munmap_4k       mmap + munmap of one anonymous page
 *   mmap_munmap_1m       mmap + munmap of 1 MiB (untouched)
 *   munmap_shootdown_64k mmap, touch and munmap 64 KiB while another thread
 *                        of the process spins on another CPU: each munmap
 *                        must flush that CPU's TLB too (an IPI with SMP)
 *   brk_grow_shrink      brk up by one page and back
 *   fork_exit_wait_16m   fork + child _exit + wait4, 16 MiB touched
 *   cow_fault            first write to a page shared copy-on-write with
 *                        a fork child (16 MiB)
 *   fork_64m_child_writes fork of a process with 64 MiB touched, the child
 *                        writing every page then exiting, per page
 *   mremap_move_16m      mremap(MAYMOVE|FIXED) of 16 MiB of touched memory
 *   copy_16m             what mremap spares: a fresh 16 MiB mapping filled
 *                        with memcpy from the old one, then munmap
 *   thp_touch_per_mib    first write to every 4 KiB of a 64 MiB area
 *                        marked MADV_HUGEPAGE (2 MiB aligned: transparent
 *                        huge pages), per MiB; a `#` line gives the faults
 *   nothp_touch_per_mib  the same area marked MADV_NOHUGEPAGE (4 KiB
 *                        pages), per MiB
 *
 * Arguments: an optional scale factor in percent (default 100) for the
 * iteration counts, e.g. `b_mm 10` under a slow emulator.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)
#define AREA (16 * MiB)
#define ROUNDS 3

static long scale = 100;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long iters(long n)
{
	long k = n * scale / 100;
	return k < 1 ? 1 : k;
}

static void report_bench(const char *name, long long best_ns, long n)
{
	check_note("bench %s %lld %ld", name, n > 0 ? best_ns / n : 0, n);
}

static void fail_bench(const char *name, const char *what)
{
	check_note("# bench %s failed: %s: %s", name, what, strerror(errno));
}

static void touch(char *p, size_t len)
{
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
}

#define THP_AREA (64 * MiB)

/* First touch of a 2 MiB aligned THP_AREA marked with ADVICE, per MiB;
 * the minor faults it took go on a note line. */
static void bench_thp_touch(const char *name, int advice)
{
	long long best = -1;
	long faults = 0;
	for (int r = 0; r < ROUNDS; r++) {
		char *raw = mmap(NULL, THP_AREA + 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			return fail_bench(name, "mmap");
		char *p = (char *)(((uintptr_t)raw + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
		madvise(p, THP_AREA, advice);
		struct rusage u0, u1;
		getrusage(RUSAGE_SELF, &u0);
		long long t = now_ns();
		touch(p, THP_AREA);
		t = now_ns() - t;
		getrusage(RUSAGE_SELF, &u1);
		munmap(raw, THP_AREA + 2 * MiB);
		faults = u1.ru_minflt - u0.ru_minflt;
		if (best < 0 || t < best)
			best = t;
	}
	check_note("# %s: %ld faults for 64 MiB", name, faults);
	report_bench(name, best, THP_AREA / MiB);
}

static void bench_first_touch(void)
{
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		char *p = anon(AREA);
		if (!p)
			return fail_bench("fault_first_touch", "mmap");
		long long t = now_ns();
		touch(p, AREA);
		t = now_ns() - t;
		munmap(p, AREA);
		if (best < 0 || t < best)
			best = t;
	}
	report_bench("fault_first_touch", best, AREA / PAGE);
}

#define PAR 4
#define PAR_AREA (AREA / PAR)

/* Start gate and counters of the parallel fault runs, in MAP_SHARED memory
 * so that forked children see them too. */
struct gate {
	int ready, go, done;
};

static void gate_wait_count(int *w, int n)
{
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < n)
		sched_yield();
}

/* One worker: say ready, wait for go, touch its region, say done. */
static void par_worker(struct gate *g, char *p)
{
	__atomic_add_fetch(&g->ready, 1, __ATOMIC_RELEASE);
	gate_wait_count(&g->go, 1);
	touch(p, PAR_AREA);
	__atomic_add_fetch(&g->done, 1, __ATOMIC_RELEASE);
}

struct par_arg {
	struct gate *g;
	char *p;
};

static void *par_thread(void *arg)
{
	struct par_arg *a = arg;
	par_worker(a->g, a->p);
	return NULL;
}

/* Open the gate once all PAR workers are ready; the time until all are done. */
static long long par_time(struct gate *g)
{
	gate_wait_count(&g->ready, PAR);
	long long t = now_ns();
	__atomic_store_n(&g->go, 1, __ATOMIC_RELEASE);
	gate_wait_count(&g->done, PAR);
	return now_ns() - t;
}

static void bench_fault_parallel(int threads)
{
	const char *name = threads ? "fault_4_threads" : "fault_4_procs";
	struct gate *g = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		return fail_bench(name, "mmap");
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		memset(g, 0, sizeof *g);
		long long t;
		if (threads) {
			char *p = anon(AREA);
			if (!p)
				return fail_bench(name, "mmap");
			pthread_t th[PAR];
			struct par_arg a[PAR];
			int made = 0;
			for (int i = 0; i < PAR; i++) {
				a[i] = (struct par_arg){g, p + i * PAR_AREA};
				made += pthread_create(&th[i], NULL, par_thread, &a[i]) == 0;
			}
			if (made < PAR) {
				g->ready = PAR, g->go = 1; /* let the made ones run out */
				for (int i = 0; i < made; i++)
					pthread_join(th[i], NULL);
				return fail_bench(name, "pthread_create");
			}
			t = par_time(g);
			for (int i = 0; i < PAR; i++)
				pthread_join(th[i], NULL);
			munmap(p, AREA);
		} else {
			pid_t pids[PAR];
			for (int i = 0; i < PAR; i++) {
				pids[i] = fork();
				if (pids[i] == 0) {
					char *p = anon(PAR_AREA);
					if (!p) { /* do not hold up the others */
						__atomic_add_fetch(&g->ready, 1, __ATOMIC_RELEASE);
						__atomic_add_fetch(&g->done, 1, __ATOMIC_RELEASE);
						_exit(1);
					}
					par_worker(g, p);
					_exit(0);
				}
				if (pids[i] < 0) {
					g->go = 1;
					while (i-- > 0)
						waitpid(pids[i], NULL, 0);
					return fail_bench(name, "fork");
				}
			}
			t = par_time(g);
			int failed = 0;
			for (int i = 0; i < PAR; i++) {
				int st = -1;
				waitpid(pids[i], &st, 0);
				failed |= st != 0;
			}
			if (failed)
				return fail_bench(name, "child mmap");
		}
		if (best < 0 || t < best)
			best = t;
	}
	munmap(g, PAGE);
	report_bench(name, best, AREA / PAGE);
}

static void bench_mmap_munmap(const char *name, size_t len, long n)
{
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		long long t = now_ns();
		for (long i = 0; i < n; i++) {
			void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				return fail_bench(name, "mmap");
			munmap(p, len);
		}
		t = now_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	report_bench(name, best, n);
}

static int spin_stop;

/* Stay on a CPU with the process's address space loaded, no system calls. */
static void *spinner(void *unused)
{
	(void)unused;
	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	return NULL;
}

static void bench_munmap_shootdown(long n)
{
	const char *name = "munmap_shootdown_64k";
	pthread_t th;
	__atomic_store_n(&spin_stop, 0, __ATOMIC_RELEASE);
	if (pthread_create(&th, NULL, spinner, NULL) != 0)
		return fail_bench(name, "pthread_create");
	long long best = -1;
	for (int r = 0; r < ROUNDS && best != -2; r++) {
		long long t = now_ns();
		for (long i = 0; i < n; i++) {
			char *p = anon(64 * 1024);
			if (!p) {
				best = -2;
				break;
			}
			touch(p, 64 * 1024);
			munmap(p, 64 * 1024);
		}
		t = now_ns() - t;
		if (best != -2 && (best < 0 || t < best))
			best = t;
	}
	__atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	if (best == -2)
		return fail_bench(name, "mmap");
	report_bench(name, best, n);
}

static void bench_brk(long n)
{
	uintptr_t b = (uintptr_t)syscall(SYS_brk, 0);
	uintptr_t base = (b + PAGE - 1) & ~(PAGE - 1);
	if ((uintptr_t)syscall(SYS_brk, base) != base)
		return fail_bench("brk_grow_shrink", "brk");
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		long long t = now_ns();
		for (long i = 0; i < n; i++) {
			syscall(SYS_brk, base + PAGE);
			syscall(SYS_brk, base);
		}
		t = now_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	syscall(SYS_brk, b);
	report_bench("brk_grow_shrink", best, n);
}

static void bench_fork(long n)
{
	char *p = anon(AREA);
	if (!p)
		return fail_bench("fork_exit_wait_16m", "mmap");
	touch(p, AREA);
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		long long t = now_ns();
		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(0);
			if (pid < 0) {
				munmap(p, AREA);
				return fail_bench("fork_exit_wait_16m", "fork");
			}
			waitpid(pid, NULL, 0);
		}
		t = now_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	munmap(p, AREA);
	report_bench("fork_exit_wait_16m", best, n);
}

static void bench_fork_child_writes(void)
{
	const size_t len = 64 * MiB;
	char *p = anon(len);
	if (!p)
		return fail_bench("fork_64m_child_writes", "mmap");
	touch(p, len);
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		long long t = now_ns();
		pid_t pid = fork();
		if (pid == 0) {
			for (size_t i = 0; i < len; i += PAGE)
				p[i] = 3;
			_exit(0);
		}
		if (pid < 0) {
			munmap(p, len);
			return fail_bench("fork_64m_child_writes", "fork");
		}
		waitpid(pid, NULL, 0);
		t = now_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	munmap(p, len);
	report_bench("fork_64m_child_writes", best, len / PAGE);
}

static void bench_copy(long n)
{
	char *from = anon(AREA);
	if (!from)
		return fail_bench("copy_16m", "mmap");
	touch(from, AREA);
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		long long t = now_ns();
		for (long i = 0; i < n; i++) {
			char *to = anon(AREA);
			if (!to) {
				munmap(from, AREA);
				return fail_bench("copy_16m", "mmap");
			}
			memcpy(to, from, AREA);
			munmap(from, AREA);
			from = to;
		}
		t = now_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	munmap(from, AREA);
	report_bench("copy_16m", best, n);
}

static void bench_cow(void)
{
	volatile int *flag = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (flag == MAP_FAILED)
		return fail_bench("cow_fault", "mmap");
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		char *p = anon(AREA);
		if (!p)
			break;
		touch(p, AREA);
		*flag = 0;
		pid_t pid = fork();
		if (pid == 0) {
			/* Hold the pages shared until the parent is done. */
			struct timespec ms = {0, 1000000};
			while (*flag == 0)
				nanosleep(&ms, NULL);
			_exit(0);
		}
		if (pid < 0) {
			munmap(p, AREA);
			fail_bench("cow_fault", "fork");
			break;
		}
		long long t = now_ns();
		for (size_t i = 0; i < AREA; i += PAGE)
			p[i] = 2;
		t = now_ns() - t;
		*flag = 1;
		waitpid(pid, NULL, 0);
		munmap(p, AREA);
		if (best < 0 || t < best)
			best = t;
	}
	munmap((void *)flag, PAGE);
	if (best >= 0)
		report_bench("cow_fault", best, AREA / PAGE);
}

static void bench_mremap(long n)
{
	/* Two 16 MiB places; the area moves back and forth between them. */
	char *a = anon(AREA);
	char *b = mmap(NULL, AREA, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!a || b == MAP_FAILED)
		return fail_bench("mremap_move_16m", "mmap");
	touch(a, AREA);
	munmap(b, AREA);
	char *from = a, *to = b;
	long long best = -1;
	for (int r = 0; r < ROUNDS; r++) {
		long long t = now_ns();
		for (long i = 0; i < n; i++) {
			void *q = sys_mremap(from, AREA, AREA, MREMAP_MAYMOVE | MREMAP_FIXED, to);
			if (q != to) {
				munmap(from, AREA);
				return fail_bench("mremap_move_16m", "mremap");
			}
			char *x = from;
			from = to;
			to = x;
		}
		t = now_ns() - t;
		if (best < 0 || t < best)
			best = t;
	}
	if (from[0] != 1 || from[AREA - PAGE] != 1)
		check_note("# bench mremap_move_16m: data did not survive the moves");
	munmap(from, AREA);
	report_bench("mremap_move_16m", best, n);
}

int main(int argc, char **argv)
{
	check_init("b_mm");
	report_init();
	if (argc > 1 && atol(argv[1]) > 0)
		scale = atol(argv[1]);
	struct utsname u;
	uname(&u);
	check_note("# b_mm on %s %s, scale %ld%%, best of %d rounds", u.sysname, u.release, scale, ROUNDS);
	bench_first_touch();
	bench_fault_parallel(1);
	bench_fault_parallel(0);
	bench_mmap_munmap("mmap_munmap_4k", PAGE, iters(2000));
	bench_mmap_munmap("mmap_munmap_1m", MiB, iters(2000));
	bench_munmap_shootdown(iters(500));
	bench_brk(iters(2000));
	bench_fork(iters(20));
	bench_cow();
	bench_fork_child_writes();
	bench_mremap(iters(50));
	bench_copy(iters(10));
	bench_thp_touch("thp_touch_per_mib", MADV_HUGEPAGE);
	bench_thp_touch("nothp_touch_per_mib", MADV_NOHUGEPAGE);
	return 0;
}
