/*
 * t_thread.c: threads (issue 13), through musl's pthreads and raw clone:
 * create/join/detach, ids (getpid/gettid/getppid), mutexes, condition
 * variables, barriers and semaphores under contention, thread-local
 * storage and CLONE_SETTLS, CLONE_CHILD_CLEARTID, thread exit against
 * exit_group, memory shared between threads (munmap and mprotect seen
 * by every thread, concurrent faults on the same pages, a child forked by
 * one thread waited for by another),
 * signals to the process and to one thread (kill, tgkill, pthread_kill,
 * per-thread masks, SIGKILL), fork and execve from a threaded process,
 * /proc/self/task, robust mutexes (in-process and pshared, the kernel's
 * robust list at exit), futex timeouts, and clone's flag rules.
 *
 * Every CHECK runs on the main thread (check.h's counters are not atomic);
 * threads report through memory, children through their exit status.
 * Waits are bounded by deadlines; nothing sleeps to synchronise.
 *
 * With argv[1] == "exec-check" it is the image execve'd from a thread: it
 * exits 0 iff its pid is argv[2], its tid is its pid and it has one thread.
 * Runs on the host Linux and in the kernel.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* include/uapi/linux/futex.h and asm/prctl.h (musl's headers lack them). */
#define FUTEX_WAIT 0
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define ARCH_GET_FS 0x1003

#define NPARK 3

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- flags: an int set once and waited for, with a deadline -------------- */

static void flag_set(volatile int *w, int v)
{
	__atomic_store_n(w, v, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void flag_add(volatile int *w, int v)
{
	__atomic_add_fetch(w, v, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Wait until *w == want, at most ms milliseconds; 1 iff it got there. */
static int flag_wait(volatile int *w, int want, long ms)
{
	long end = now_ms() + ms;
	for (;;) {
		int v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
		if (v == want)
			return 1;
		long left = end - now_ms();
		if (left <= 0)
			return 0;
		if (left > 20)
			left = 20;
		struct timespec t = {0, left * 1000000};
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, &t, NULL, 0);
	}
}

/* ---- parked threads: wait for `stop`, taking signals meanwhile ----------- */

struct park {
	pthread_t th;
	volatile pid_t tid;
	int unblock; /* signal this thread unblocks (0: none) */
};

static volatile int park_ready, park_stop;

static void *park_main(void *arg)
{
	struct park *p = arg;
	if (p->unblock) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, p->unblock);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	}
	p->tid = tid();
	flag_add(&park_ready, 1);
	while (!flag_wait(&park_stop, 1, 10000))
		;
	return NULL;
}

/* Start n parked threads; 1 iff all are running. */
static int park_start(struct park *p, int n)
{
	park_ready = 0;
	park_stop = 0;
	for (int i = 0; i < n; i++)
		if (pthread_create(&p[i].th, NULL, park_main, &p[i]) != 0)
			return 0;
	return flag_wait(&park_ready, n, 3000);
}

static void park_end(struct park *p, int n)
{
	flag_set(&park_stop, 1);
	for (int i = 0; i < n; i++)
		pthread_join(p[i].th, NULL);
}

/* ---- children ------------------------------------------------------------ */

static int reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return st;
}

static void describe(char *buf, size_t len, int st)
{
	if (st == -1)
		snprintf(buf, len, "no status");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "status %#x", st);
}

#define CHECK_STATUS(name, st, cond)                                  \
	do {                                                          \
		char why_[48];                                        \
		describe(why_, sizeof why_, (st));                    \
		CHECKF((name), (st) != -1 && (cond), "child %s", why_); \
	} while (0)

/* Park the calling thread until the process ends (for children only). */
static void *park_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* ---- /proc --------------------------------------------------------------- */

static long read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return (long)n;
}

/* The number after "FIELD:" in a /proc status file; -1 if missing. */
static long status_field(const char *path, const char *field)
{
	char buf[4096];
	if (read_file(path, buf, sizeof buf) < 0)
		return -1;
	size_t fl = strlen(field);
	for (char *l = buf; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (strncmp(l, field, fl) == 0 && l[fl] == ':')
			return strtol(l + fl + 1, NULL, 10);
	return -1;
}

static long self_threads(void)
{
	return status_field("/proc/self/status", "Threads");
}

/* The state letter of /proc/self/task/T/status, or '?'. */
static char task_state(pid_t t)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", t);
	if (read_file(path, buf, sizeof buf) < 0)
		return '?';
	char *s = strstr(buf, "\nState:\t");
	return s ? s[8] : '?';
}

/* ---- create, join, detach, ids ------------------------------------------- */

static void *times_two_plus_one(void *arg)
{
	return (void *)((uintptr_t)arg * 2 + 1);
}

static long slots[16];

static void *sum_slot(void *arg)
{
	long i = (long)arg, s = 0;
	for (long k = 1; k <= 1000 * (i + 1); k++)
		s += k;
	slots[i] = s;
	return NULL;
}

static volatile int detached_done;
static volatile pid_t detached_tid;

static void *detached_main(void *arg)
{
	(void)arg;
	detached_tid = tid();
	flag_set(&detached_done, 1);
	return NULL;
}

static void check_create_join(void)
{
	pthread_t t;
	void *ret = NULL;
	int e = pthread_create(&t, NULL, times_two_plus_one, (void *)20);
	int j = e ? e : pthread_join(t, &ret);
	CHECKF("create_join_returns_value", e == 0 && j == 0 && ret == (void *)41, "create %d join %d ret %p", e, j,
	       ret);

	pthread_t ts[16];
	int made = 0;
	for (long i = 0; i < 16; i++)
		made += pthread_create(&ts[i], NULL, sum_slot, (void *)i) == 0;
	int bad = -1;
	for (long i = 0; i < made; i++)
		pthread_join(ts[i], NULL);
	for (long i = 0; i < 16 && bad < 0; i++) {
		long n = 1000 * (i + 1);
		if (slots[i] != n * (n + 1) / 2)
			bad = (int)i;
	}
	CHECKF("sixteen_threads_own_slots", made == 16 && bad < 0, "created %d, slot %d wrong", made, bad);

	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	detached_done = 0;
	e = pthread_create(&t, &a, detached_main, NULL);
	pthread_attr_destroy(&a);
	int done = e == 0 && flag_wait(&detached_done, 1, 3000);
	CHECKF("detached_thread_runs", done && detached_tid != getpid(), "create %d done %d tid %d", e, done,
	       detached_tid);
}

struct ids {
	pid_t pid, tid, ppid;
	pthread_t self;
};

static void *get_ids(void *arg)
{
	struct ids *p = arg;
	p->pid = getpid();
	p->tid = tid();
	p->ppid = getppid();
	p->self = pthread_self();
	return NULL;
}

static void check_ids(void)
{
	struct ids m, t[4];
	pthread_t th[4];
	get_ids(&m);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, get_ids, &t[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECKF("main_tid_is_pid", m.tid == m.pid, "tid %d pid %d", m.tid, m.pid);
	int same_pid = 1, same_ppid = 1, distinct = 1, self_ok = 1;
	for (int i = 0; i < 4; i++) {
		same_pid &= t[i].pid == m.pid;
		same_ppid &= t[i].ppid == m.ppid;
		self_ok &= pthread_equal(t[i].self, th[i]);
		distinct &= t[i].tid > 0 && t[i].tid != m.pid;
		for (int k = 0; k < i; k++)
			distinct &= t[i].tid != t[k].tid;
	}
	CHECKF("getpid_same_in_threads", same_pid, "pids %d %d %d %d, main %d", t[0].pid, t[1].pid, t[2].pid,
	       t[3].pid, m.pid);
	CHECKF("gettid_distinct_not_pid", distinct, "tids %d %d %d %d, pid %d", t[0].tid, t[1].tid, t[2].tid,
	       t[3].tid, m.pid);
	CHECK("getppid_same_in_threads", same_ppid);
	CHECK("pthread_self_matches_create", self_ok);
}

/* ---- mutex, condition variable, barrier, semaphore ----------------------- */

#define INCS 20000
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *increment(void *arg)
{
	(void)arg;
	for (int i = 0; i < INCS; i++) {
		pthread_mutex_lock(&count_lock);
		long v = counter;
		__asm__ volatile("" ::: "memory");
		counter = v + 1;
		pthread_mutex_unlock(&count_lock);
	}
	return NULL;
}

static void *try_lock(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pthread_mutex_trylock(&count_lock);
}

static void check_mutex(void)
{
	pthread_t th[4];
	counter = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, increment, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECKF("mutex_4x20000_exact", counter == 4L * INCS, "counter %ld", counter);

	void *r = NULL;
	pthread_mutex_lock(&count_lock);
	pthread_create(&th[0], NULL, try_lock, NULL);
	pthread_join(th[0], &r);
	pthread_mutex_unlock(&count_lock);
	CHECKF("trylock_held_elsewhere_ebusy", (intptr_t)r == EBUSY, "trylock %ld", (long)(intptr_t)r);
}

#define QCAP 4
#define PER_PRODUCER 2000
static struct {
	pthread_mutex_t m;
	pthread_cond_t not_empty, not_full;
	int buf[QCAP], head, count, taken;
	unsigned char seen[2 * PER_PRODUCER];
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0, {0}};

static void *producer(void *arg)
{
	int base = (int)(intptr_t)arg * PER_PRODUCER;
	for (int k = 0; k < PER_PRODUCER; k++) {
		pthread_mutex_lock(&q.m);
		while (q.count == QCAP)
			pthread_cond_wait(&q.not_full, &q.m);
		q.buf[(q.head + q.count++) % QCAP] = base + k;
		pthread_cond_signal(&q.not_empty);
		pthread_mutex_unlock(&q.m);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	long got = 0;
	pthread_mutex_lock(&q.m);
	for (;;) {
		while (q.count == 0 && q.taken < 2 * PER_PRODUCER)
			pthread_cond_wait(&q.not_empty, &q.m);
		if (q.taken == 2 * PER_PRODUCER)
			break;
		int v = q.buf[q.head];
		q.head = (q.head + 1) % QCAP;
		q.count--;
		q.seen[v]++;
		got++;
		if (++q.taken == 2 * PER_PRODUCER)
			pthread_cond_broadcast(&q.not_empty);
		pthread_cond_signal(&q.not_full);
	}
	pthread_mutex_unlock(&q.m);
	return (void *)got;
}

static void check_condvar(void)
{
	pthread_t p[2], c[2];
	for (intptr_t i = 0; i < 2; i++) {
		pthread_create(&c[i], NULL, consumer, NULL);
		pthread_create(&p[i], NULL, producer, (void *)i);
	}
	void *g0 = NULL, *g1 = NULL;
	pthread_join(p[0], NULL);
	pthread_join(p[1], NULL);
	pthread_join(c[0], &g0);
	pthread_join(c[1], &g1);
	int once = 1;
	for (int i = 0; i < 2 * PER_PRODUCER; i++)
		once &= q.seen[i] == 1;
	CHECKF("condvar_queue_every_item_once", once && (long)g0 + (long)g1 == 2 * PER_PRODUCER && q.count == 0,
	       "consumed %ld + %ld, left %d, each once %d", (long)g0, (long)g1, q.count, once);
}

#define BTHREADS 4
#define PHASES 3
static pthread_barrier_t barrier;
static volatile int phase_of[BTHREADS];
static volatile int serials, barrier_bad;

static void *barrier_main(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int ph = 1; ph <= PHASES; ph++) {
		phase_of[me] = ph;
		int r = pthread_barrier_wait(&barrier);
		if (r == PTHREAD_BARRIER_SERIAL_THREAD)
			__atomic_add_fetch(&serials, 1, __ATOMIC_SEQ_CST);
		else if (r != 0)
			__atomic_add_fetch(&barrier_bad, 1, __ATOMIC_SEQ_CST);
		for (int k = 0; k < BTHREADS; k++)
			if (phase_of[k] < ph)
				__atomic_add_fetch(&barrier_bad, 1, __ATOMIC_SEQ_CST);
		pthread_barrier_wait(&barrier); /* nobody starts ph + 1 before all looked */
	}
	return NULL;
}

static void check_barrier(void)
{
	pthread_barrier_init(&barrier, NULL, BTHREADS);
	pthread_t th[BTHREADS];
	for (intptr_t i = 0; i < BTHREADS; i++)
		pthread_create(&th[i], NULL, barrier_main, (void *)i);
	for (int i = 0; i < BTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	CHECKF("barrier_phases_and_one_serial", barrier_bad == 0 && serials == PHASES, "bad %d serial %d", barrier_bad,
	       serials);
}

static sem_t sem;

static void *poster(void *arg)
{
	for (long i = 0; i < (long)arg; i++)
		sem_post(&sem);
	return NULL;
}

static void check_semaphore(void)
{
	sem_init(&sem, 0, 0);
	pthread_t th[2];
	pthread_create(&th[0], NULL, poster, (void *)500);
	pthread_create(&th[1], NULL, poster, (void *)500);
	int waited = 0;
	for (int i = 0; i < 1000; i++)
		waited += sem_wait(&sem) == 0;
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	int v = -1;
	sem_getvalue(&sem, &v);
	CHECKF("semaphore_1000_posts_1000_waits", waited == 1000 && v == 0, "waited %d value %d", waited, v);
	CHECK_ERRNO("sem_trywait_empty_eagain", sem_trywait(&sem), EAGAIN);
	struct timespec d;
	clock_gettime(CLOCK_REALTIME, &d);
	d.tv_nsec += 30000000;
	if (d.tv_nsec >= 1000000000)
		d.tv_sec++, d.tv_nsec -= 1000000000;
	long t0 = now_ms();
	CHECK_ERRNO("sem_timedwait_etimedout", sem_timedwait(&sem, &d), ETIMEDOUT);
	long dt = now_ms() - t0;
	CHECKF("sem_timedwait_waited_deadline", dt >= 25 && dt < 2000, "waited %ld ms for 30", dt);
	sem_destroy(&sem);
}

/* ---- thread-local storage ------------------------------------------------ */

static __thread int tls_v = 7;
static __thread char tls_zero[64];
static pthread_barrier_t tls_barrier;

struct tls_report {
	int initial_ok, kept, base_is_self;
	void *addr;
};

static unsigned long fs_base(void)
{
	unsigned long b = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &b);
	return b;
}

static void *tls_main(void *arg)
{
	struct tls_report *r = arg;
	int me = (int)tid();
	r->initial_ok = tls_v == 7;
	for (int i = 0; i < 64; i++)
		r->initial_ok &= tls_zero[i] == 0;
	tls_v = me;
	memset(tls_zero, me, sizeof tls_zero);
	pthread_barrier_wait(&tls_barrier);
	r->kept = tls_v == me && tls_zero[63] == (char)me;
	r->addr = &tls_v;
	r->base_is_self = fs_base() == (unsigned long)pthread_self();
	return NULL;
}

static void check_tls(void)
{
	struct tls_report r[4];
	pthread_t th[4];
	tls_v = 1;
	pthread_barrier_init(&tls_barrier, NULL, 4);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, tls_main, &r[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&tls_barrier);
	int init = 1, kept = 1, distinct = 1, base = 1;
	for (int i = 0; i < 4; i++) {
		init &= r[i].initial_ok;
		kept &= r[i].kept;
		base &= r[i].base_is_self;
		distinct &= r[i].addr != &tls_v;
		for (int k = 0; k < i; k++)
			distinct &= r[i].addr != r[k].addr;
	}
	CHECK("tls_starts_from_image", init);
	CHECK("tls_values_per_thread", kept && tls_v == 1);
	CHECK("tls_addresses_distinct", distinct);
	CHECKF("tls_fs_base_per_thread", base && fs_base() == (unsigned long)pthread_self(), "main fs %#lx self %p",
	       fs_base(), (void *)pthread_self());
}

/* ---- raw clone: CLONE_SETTLS, CLONE_CHILD_CLEARTID, flag rules ----------- */

/* The raw child may not use libc (errno, TLS): these are its system calls. */
static long rsys(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

/* clone(flags, stack, ptid, ctid, tls); the child calls fn(arg) on `stack`
 * and then exit(0). Returns the raw result (-errno on failure). */
static long raw_clone(unsigned long flags, void *stack_top, volatile int *ptid, volatile int *ctid, void *tls,
		      void (*fn)(void *), void *arg)
{
	void **sp = stack_top;
	*--sp = arg;
	*--sp = (void *)fn;
	long ret;
	register long r10 __asm__("r10") = (long)ctid;
	register long r8 __asm__("r8") = (long)tls;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "pop %%rax\n\t"
			 "pop %%rdi\n\t"
			 "and $-16, %%rsp\n\t"
			 "call *%%rax\n\t"
			 "mov $60, %%eax\n\t"
			 "xor %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "=a"(ret)
			 : "a"((long)SYS_clone), "D"(flags), "S"(sp), "d"(ptid), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static struct fake_tcb {
	struct fake_tcb *self;
	long pad[63];
} fake_tcb;
static char raw_stack[65536] __attribute__((aligned(16)));
static volatile int raw_tid_word, raw_go, raw_seen_tid;
static volatile unsigned long raw_seen_fs;

static void raw_thread(void *arg)
{
	(void)arg;
	unsigned long fs = 0;
	rsys(SYS_arch_prctl, ARCH_GET_FS, (long)&fs, 0, 0);
	raw_seen_fs = fs;
	__atomic_store_n(&raw_seen_tid, (int)rsys(SYS_gettid, 0, 0, 0, 0), __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&raw_go, __ATOMIC_SEQ_CST) == 0)
		rsys(SYS_futex, (long)&raw_go, FUTEX_WAIT_PRIVATE, 0, 0);
}

static void raw_nothing(void *arg)
{
	(void)arg;
}

#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

static void check_raw_clone(void)
{
	fake_tcb.self = &fake_tcb;
	raw_tid_word = -1;
	raw_go = 0;
	raw_seen_tid = 0;
	long r = raw_clone(THREAD_FLAGS | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
			   raw_stack + sizeof raw_stack, &raw_tid_word, &raw_tid_word, &fake_tcb, raw_thread, NULL);
	if (r <= 0) {
		CHECKF("raw_clone_thread", 0, "clone returned %ld", r);
		return;
	}
	int parent_settid = raw_tid_word == r;
	int ran = flag_wait(&raw_seen_tid, (int)r, 3000);
	CHECKF("clone_parent_settid", parent_settid, "word %d, tid %ld", raw_tid_word, r);
	CHECKF("clone_thread_gettid_is_result", ran, "child saw tid %d, clone returned %ld", raw_seen_tid, r);
	CHECKF("clone_settls_sets_fs_base", ran && raw_seen_fs == (unsigned long)&fake_tcb &&
						    fs_base() == (unsigned long)pthread_self(),
	       "child fs %#lx want %p; parent fs %#lx", raw_seen_fs, (void *)&fake_tcb, fs_base());

	/* CLONE_CHILD_CLEARTID: at exit the word becomes 0 and its waiter wakes. */
	flag_set(&raw_go, 1);
	long end = now_ms() + 3000, w = 0;
	int e = 0;
	while (raw_tid_word != 0 && now_ms() < end) {
		struct timespec t = {3, 0};
		w = syscall(SYS_futex, &raw_tid_word, FUTEX_WAIT, (int)r, &t, NULL, 0);
		e = w ? errno : 0;
		if (e == ETIMEDOUT)
			break;
	}
	CHECKF("clone_child_cleartid_wakes", raw_tid_word == 0 && e != ETIMEDOUT, "word %d, wait %ld errno %d",
	       raw_tid_word, w, e);

	/* copy_process's rules. */
	static char stack2[16384] __attribute__((aligned(16)));
	struct {
		const char *name;
		unsigned long flags;
	} bad[] = {
		{"clone_thread_without_sighand_einval", CLONE_VM | CLONE_THREAD},
		{"clone_sighand_without_vm_einval", CLONE_SIGHAND},
		{"clone_thread_sighand_without_vm_einval", CLONE_THREAD | CLONE_SIGHAND},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = raw_clone(bad[i].flags, stack2 + sizeof stack2, NULL, NULL, NULL, raw_nothing, NULL);
		if (r > 0 && !(bad[i].flags & CLONE_THREAD))
			waitpid((pid_t)r, NULL, __WALL);
		CHECKF(bad[i].name, r == -EINVAL, "clone(%#lx) returned %ld", bad[i].flags, r);
		if (r > 0) /* a wrongly made thread: let it finish before stack2 is reused */
			usleep(100000);
	}
}

/* ---- exits --------------------------------------------------------------- */

static void *exit_7(void *arg)
{
	(void)arg;
	exit(7);
}

static void *underscore_exit_9(void *arg)
{
	(void)arg;
	_exit(9);
}

static void *pthread_exit_value(void *arg)
{
	pthread_exit(arg);
}

/* Child: a thread runs fn while main waits; parent returns the status. */
static int child_thread_runs(void *(*fn)(void *))
{
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		pthread_t t, p;
		pthread_create(&p, NULL, park_forever, NULL);
		pthread_create(&t, NULL, fn, NULL);
		pthread_join(t, NULL);
		_exit(50);
	}
	return reap(pid);
}

static volatile int main_leaving;

/* The last thread: once the main thread is a zombie, tell the parent and
 * wait for its go, then exit(42). */
static void *outlive_main(void *arg)
{
	int *fds = arg;
	flag_wait(&main_leaving, 1, 3000);
	long end = now_ms() + 2000;
	while (task_state(getpid()) != 'Z' && now_ms() < end)
		sched_yield();
	char c = task_state(getpid()) == 'Z' ? 'z' : 'n';
	write(fds[1], &c, 1);
	read(fds[2], &c, 1);
	exit(42);
}

static void check_exits(void)
{
	void *ret = NULL;
	pthread_t t;
	pthread_create(&t, NULL, pthread_exit_value, (void *)77);
	pthread_join(t, &ret);
	CHECKF("pthread_exit_value_process_lives", ret == (void *)77, "joined %p", ret);

	int st = child_thread_runs(exit_7);
	CHECK_STATUS("exit_in_thread_ends_process", st, WIFEXITED(st) && WEXITSTATUS(st) == 7);
	st = child_thread_runs(underscore_exit_9);
	CHECK_STATUS("_exit_in_thread_ends_process", st, WIFEXITED(st) && WEXITSTATUS(st) == 9);

	/* The main thread leaves first: the process lives on (the parent's
	 * WNOHANG wait sees nothing) until its last thread ends. */
	int up[2], down[2];
	if (pipe(up) || pipe(down)) {
		CHECK("pipe", 0);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		static int fds[3];
		fds[1] = up[1];
		fds[2] = down[0];
		pthread_create(&t, NULL, outlive_main, fds);
		flag_set(&main_leaving, 1);
		pthread_exit(NULL);
	}
	close(up[1]);
	close(down[0]);
	char c = 0;
	read(up[0], &c, 1);
	int early = waitpid(pid, &st, WNOHANG);
	write(down[1], "g", 1);
	st = reap(pid);
	close(up[0]);
	close(down[1]);
	CHECKF("main_pthread_exit_leaves_zombie_leader", c == 'z', "thread saw '%c' (n: leader not a zombie)", c);
	CHECKF("main_pthread_exit_process_lives", early == 0, "waitpid WNOHANG returned %d", early);
	CHECK_STATUS("last_thread_exit_status", st, WIFEXITED(st) && WEXITSTATUS(st) == 42);
}

/* ---- shared memory ------------------------------------------------------- */

static volatile int shared_ready;
static volatile long shared_value;

static void *write_shared(void *arg)
{
	(void)arg;
	shared_value = 0x1234567890L;
	flag_set(&shared_ready, 1);
	return NULL;
}

static void *map_and_fill(void *arg)
{
	(void)arg;
	long *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	for (int i = 0; i < 65536 / 8; i++)
		p[i] = i * 3;
	return p;
}

static volatile long *reader_page;
static volatile int reader_touched, reader_go;

/* Write the page (now in this CPU's TLB), wait, write it again: after the
 * other thread's munmap or mprotect(PROT_READ) that must be SIGSEGV. */
static void *reader(void *arg)
{
	(void)arg;
	long v = reader_page[1];
	reader_page[2] = v;
	flag_set(&reader_touched, (int)v);
	flag_wait(&reader_go, 1, 5000);
	reader_page[2] = v + 1;
	_exit(reader_page[1] == 55 ? 3 : 4);
}

/* In a child: the main thread unmaps (or write-protects) a page a thread
 * has just used; the thread's next write must kill the process. */
static int pull_page_under_thread(int unmap)
{
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		pthread_t t;
		reader_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		reader_page[1] = 55;
		pthread_create(&t, NULL, reader, NULL);
		flag_wait(&reader_touched, 55, 3000);
		if (unmap)
			munmap((void *)reader_page, 4096);
		else
			mprotect((void *)reader_page, 4096, PROT_READ);
		flag_set(&reader_go, 1);
		pthread_join(t, NULL);
		_exit(5);
	}
	return reap(pid);
}

#define FAULT_PAGES 256
#define FAULTERS 4
static volatile unsigned char *fault_area;

/* Every thread writes its own byte of every page of one fresh mapping:
 * the threads fault the same pages at once. */
static void *fault_pages(void *arg)
{
	long me = (long)arg;
	for (long i = 0; i < FAULT_PAGES; i++)
		fault_area[i * 4096 + me] = (unsigned char)(me + 1);
	return NULL;
}

static void *fork_child_12(void *arg)
{
	(void)arg;
	pid_t pid = fork();
	if (pid == 0)
		_exit(12);
	return (void *)(intptr_t)pid;
}

static void check_shared_memory(void)
{
	pthread_t t;
	shared_ready = 0;
	pthread_create(&t, NULL, write_shared, NULL);
	int seen = flag_wait(&shared_ready, 1, 3000);
	CHECKF("write_seen_by_other_thread", seen && shared_value == 0x1234567890L, "value %#lx", shared_value);
	pthread_join(t, NULL);

	long *p = NULL;
	pthread_create(&t, NULL, map_and_fill, NULL);
	pthread_join(t, (void **)&p);
	int ok = p != NULL;
	for (int i = 0; ok && i < 65536 / 8; i++)
		ok = p[i] == i * 3;
	CHECK("mmap_in_thread_used_in_main", ok && munmap(p, 65536) == 0);

	int st = pull_page_under_thread(1);
	CHECK_STATUS("munmap_seen_by_other_thread_sigsegv", st, WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = pull_page_under_thread(0);
	CHECK_STATUS("mprotect_seen_by_other_thread_sigsegv", st, WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);

	fault_area = mmap(NULL, FAULT_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fault_area == MAP_FAILED) {
		CHECK("mmap_fault_area", 0);
		return;
	}
	pthread_t ft[FAULTERS];
	for (long i = 0; i < FAULTERS; i++)
		pthread_create(&ft[i], NULL, fault_pages, (void *)i);
	for (int i = 0; i < FAULTERS; i++)
		pthread_join(ft[i], NULL);
	long bad = -1;
	for (long i = 0; i < FAULT_PAGES * 4096 && bad < 0; i++)
		if (fault_area[i] != ((i % 4096) < FAULTERS ? (i % 4096) + 1 : 0))
			bad = i;
	CHECKF("concurrent_faults_same_pages_keep_every_write", bad < 0, "byte %ld is %d", bad,
	       bad < 0 ? 0 : fault_area[bad]);
	munmap((void *)fault_area, FAULT_PAGES * 4096);

	void *r = NULL;
	pthread_create(&t, NULL, fork_child_12, NULL);
	pthread_join(t, &r);
	pid_t pid = (pid_t)(intptr_t)r;
	st = pid > 0 ? reap(pid) : -1;
	CHECK_STATUS("wait_for_child_of_other_thread", st, WIFEXITED(st) && WEXITSTATUS(st) == 12);
}

/* ---- signals ------------------------------------------------------------- */

static volatile int sig_count;
static volatile pid_t sig_tid;

static void on_sig(int sig)
{
	(void)sig;
	sig_tid = tid();
	flag_add(&sig_count, 1);
}

static void block(int sig, int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	pthread_sigmask(how, &s, NULL);
}

static int pending_here(int sig)
{
	sigset_t s;
	sigpending(&s);
	return sigismember(&s, sig);
}

static void check_process_signal(void)
{
	struct park p[NPARK] = {{.unblock = 0}, {.unblock = SIGUSR1}, {.unblock = 0}};
	signal(SIGUSR1, on_sig);
	block(SIGUSR1, SIG_BLOCK);
	if (!park_start(p, NPARK)) {
		CHECK("park_threads", 0);
		return;
	}
	sig_count = 0;
	kill(getpid(), SIGUSR1);
	int got = flag_wait(&sig_count, 1, 3000);
	CHECKF("kill_goes_to_unblocking_thread", got && sig_tid == p[1].tid, "handled %d times, by %d; want %d", sig_count,
	       sig_tid, p[1].tid);
	park_end(p, NPARK);
	block(SIGUSR1, SIG_UNBLOCK);
	signal(SIGUSR1, SIG_DFL);
}

static void check_thread_signals(void)
{
	struct park p[NPARK] = {{.unblock = SIGUSR2}, {.unblock = SIGUSR2}, {.unblock = SIGUSR2}};
	signal(SIGUSR2, on_sig);
	block(SIGUSR2, SIG_BLOCK);
	if (!park_start(p, NPARK)) {
		CHECK("park_threads", 0);
		return;
	}
	sig_count = 0;
	int ok = 1, bad_i = -1;
	pid_t got = 0;
	for (int i = 0; i < NPARK && ok; i++) {
		syscall(SYS_tgkill, getpid(), p[i].tid, SIGUSR2);
		ok = flag_wait(&sig_count, i + 1, 3000) && sig_tid == p[i].tid;
		bad_i = i, got = sig_tid;
	}
	CHECKF("tgkill_reaches_that_thread", ok, "thread %d: handled by %d, want %d", bad_i, got, p[bad_i].tid);
	for (int i = 0; i < NPARK && ok; i++) {
		pthread_kill(p[i].th, SIGUSR2);
		ok = flag_wait(&sig_count, NPARK + i + 1, 3000) && sig_tid == p[i].tid;
		bad_i = i, got = sig_tid;
	}
	CHECKF("pthread_kill_reaches_that_thread", ok, "thread %d: handled by %d, want %d", bad_i, got, p[bad_i].tid);
	for (int i = 0; i < NPARK && ok; i++) {
		syscall(SYS_tkill, p[i].tid, SIGUSR2);
		ok = flag_wait(&sig_count, 2 * NPARK + i + 1, 3000) && sig_tid == p[i].tid;
		bad_i = i, got = sig_tid;
	}
	CHECKF("tkill_reaches_that_thread", ok, "thread %d: handled by %d, want %d", bad_i, got, p[bad_i].tid);

	/* Aimed at the main thread, which blocks it: it waits there, though
	 * the others would take it, and runs when main unblocks. */
	int before = sig_count;
	syscall(SYS_tgkill, getpid(), getpid(), SIGUSR2);
	int stolen = flag_wait(&sig_count, before + 1, 50);
	int pend = pending_here(SIGUSR2);
	block(SIGUSR2, SIG_UNBLOCK);
	CHECKF("tgkill_blocked_thread_stays_pending", !stolen && pend && sig_count == before + 1 && sig_tid == getpid(),
	       "taken early %d, pending %d, count %d->%d, by %d", stolen, pend, before, sig_count, sig_tid);

	CHECK("tgkill_sig0_own_thread", syscall(SYS_tgkill, getpid(), p[0].tid, 0) == 0);
	/* Another live process (not the parent: run as init it has pid 0). */
	pid_t other = fork();
	if (other == 0) {
		for (;;)
			pause();
	}
	CHECK_ERRNO("tgkill_wrong_tgid_esrch", syscall(SYS_tgkill, other, p[0].tid, 0), ESRCH);
	kill(other, SIGKILL);
	reap(other);
	CHECK_ERRNO("tgkill_bad_tid_einval", syscall(SYS_tgkill, getpid(), 0, 0), EINVAL);
	park_end(p, NPARK);
	CHECK_ERRNO("tgkill_ended_thread_esrch", syscall(SYS_tgkill, getpid(), p[0].tid, 0), ESRCH);
	signal(SIGUSR2, SIG_DFL);
}

static volatile int mask_stage;

static void *mask_main(void *arg)
{
	(void)arg;
	block(SIGUSR1, SIG_BLOCK);
	syscall(SYS_tgkill, getpid(), tid(), SIGUSR1);
	int bits = pending_here(SIGUSR1) ? 0 : 1;
	flag_set(&mask_stage, 1);
	flag_wait(&mask_stage, 2, 3000);
	block(SIGUSR1, SIG_UNBLOCK);
	if (sig_count != 1 || sig_tid != tid())
		bits |= 2;
	return (void *)(intptr_t)bits;
}

static void check_sigmask_per_thread(void)
{
	signal(SIGUSR1, on_sig);
	sig_count = 0;
	mask_stage = 0;
	pthread_t t;
	pthread_create(&t, NULL, mask_main, NULL);
	flag_wait(&mask_stage, 1, 3000);
	sigset_t mine;
	pthread_sigmask(SIG_BLOCK, NULL, &mine);
	int main_blocks = sigismember(&mine, SIGUSR1), main_pending = pending_here(SIGUSR1), early = sig_count;
	flag_set(&mask_stage, 2);
	void *r = NULL;
	pthread_join(t, &r);
	CHECKF("sigmask_is_per_thread", !main_blocks, "main blocks SIGUSR1 after a thread blocked it");
	CHECKF("thread_pending_is_private", !main_pending && early == 0 && !((intptr_t)r & 1),
	       "main sees pending %d, handled early %d, thread bits %ld", main_pending, early, (long)(intptr_t)r);
	CHECKF("unblock_runs_handler_in_thread", !((intptr_t)r & 2), "count %d tid %d", sig_count, sig_tid);
	signal(SIGUSR1, SIG_DFL);
}

static void check_fatal_signals(void)
{
	int fds[2];
	pipe(fds);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		struct park p[NPARK] = {{.unblock = 0}};
		park_start(p, NPARK);
		write(fds[1], (void *)&p[1].tid, sizeof(pid_t));
		for (;;)
			pause();
	}
	pid_t t = 0;
	read(fds[0], &t, sizeof t);
	kill(pid, SIGKILL);
	int st = reap(pid);
	CHECK_STATUS("sigkill_kills_all_threads", st, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	pid = fork();
	if (pid == 0) {
		alarm(10);
		struct park p[NPARK] = {{.unblock = 0}};
		park_start(p, NPARK);
		write(fds[1], (void *)&p[1].tid, sizeof(pid_t));
		for (;;)
			pause();
	}
	read(fds[0], &t, sizeof t);
	long r = syscall(SYS_tgkill, pid, t, SIGTERM);
	st = reap(pid);
	CHECK_STATUS("fatal_tgkill_to_thread_kills_process", st, r == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	close(fds[0]);
	close(fds[1]);
}

/* ---- fork and execve ----------------------------------------------------- */

static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

static int fork_child_bits(pid_t want_ppid)
{
	int bits = 0;
	if (self_threads() != 1)
		bits |= 1;
	char *m = malloc(100000);
	if (!m)
		bits |= 2;
	else
		memset(m, 1, 100000), free(m);
	if (pthread_mutex_lock(&fork_lock) != 0 || pthread_mutex_unlock(&fork_lock) != 0)
		bits |= 4;
	pthread_t t;
	void *r = NULL;
	if (pthread_create(&t, NULL, times_two_plus_one, (void *)1) != 0 || pthread_join(t, &r) != 0 || r != (void *)3)
		bits |= 8;
	if (tid() != getpid())
		bits |= 16;
	if (getppid() != want_ppid)
		bits |= 32;
	return bits;
}

static void *fork_in_thread(void *arg)
{
	(void)arg;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		_exit(fork_child_bits(parent));
	return (void *)(intptr_t)reap(pid);
}

static void check_fork(void)
{
	struct park p[NPARK] = {{.unblock = 0}};
	if (!park_start(p, NPARK)) {
		CHECK("park_threads", 0);
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(fork_child_bits(getppid()));
	int st = reap(pid);
	CHECK_STATUS("fork_child_one_thread_usable", st, WIFEXITED(st) && WEXITSTATUS(st) == 0);

	pthread_t t;
	void *r = NULL;
	pthread_create(&t, NULL, fork_in_thread, NULL);
	pthread_join(t, &r);
	st = (int)(intptr_t)r;
	CHECK_STATUS("fork_from_thread_child_one_thread", st, WIFEXITED(st) && WEXITSTATUS(st) == 0);
	park_end(p, NPARK);
}

static char exec_path[256];

static void *exec_in_thread(void *arg)
{
	char pidbuf[16];
	snprintf(pidbuf, sizeof pidbuf, "%d", getpid());
	char *argv[] = {exec_path, "exec-check", pidbuf, NULL};
	char *envp[] = {NULL};
	(void)arg;
	execve(exec_path, argv, envp);
	_exit(60);
}

/* The execve'd image (argv[1] == "exec-check"). */
static int exec_check(const char *want_pid)
{
	int bits = 0;
	if (getpid() != atoi(want_pid))
		bits |= 1;
	if (tid() != getpid())
		bits |= 2;
	if (self_threads() != 1)
		bits |= 4;
	return bits;
}

static void check_exec(void)
{
	const char *bindir = getenv("BINDIR");
	snprintf(exec_path, sizeof exec_path, "%s/t_thread", bindir ? bindir : "/bin");
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		struct park p[NPARK] = {{.unblock = 0}};
		park_start(p, NPARK);
		pthread_t t;
		pthread_create(&t, NULL, exec_in_thread, NULL);
		for (;;)
			pause();
	}
	int st = reap(pid);
	CHECK_STATUS("execve_from_thread_keeps_pid_one_thread", st, WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- /proc/self/task ----------------------------------------------------- */

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

/* The tids in /proc/self/task, sorted; their count or -1. */
static int list_tasks(pid_t *out, int cap)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && n < cap)
			out[n++] = atoi(e->d_name);
	closedir(d);
	qsort(out, (size_t)n, sizeof *out, cmp_pid);
	return n;
}

static void check_proc_task(void)
{
	struct park p[NPARK] = {{.unblock = 0}};
	if (!park_start(p, NPARK)) {
		CHECK("park_threads", 0);
		return;
	}
	pid_t want[NPARK + 1], got[16];
	want[0] = getpid();
	for (int i = 0; i < NPARK; i++)
		want[i + 1] = p[i].tid;
	qsort(want, NPARK + 1, sizeof *want, cmp_pid);
	int n = list_tasks(got, 16);
	CHECKF("proc_task_lists_every_tid", n == NPARK + 1 && memcmp(got, want, sizeof want) == 0,
	       "%d entries: %d %d %d %d", n, got[0], got[1], got[2], got[3]);

	char path[64];
	int ok = 1;
	for (int i = 0; i < NPARK && ok; i++) {
		snprintf(path, sizeof path, "/proc/self/task/%d/status", p[i].tid);
		ok = status_field(path, "Pid") == p[i].tid && status_field(path, "Tgid") == getpid();
	}
	CHECKF("proc_task_status_pid_is_tid", ok, "%s: Pid %ld Tgid %ld", path, status_field(path, "Pid"),
	       status_field(path, "Tgid"));
	CHECKF("proc_status_threads_counts", self_threads() == NPARK + 1, "Threads: %ld", self_threads());
	CHECKF("proc_status_tgid_is_pid", status_field("/proc/self/status", "Tgid") == getpid() &&
						  status_field("/proc/self/status", "Pid") == getpid(),
	       "Tgid %ld Pid %ld", status_field("/proc/self/status", "Tgid"), status_field("/proc/self/status", "Pid"));
	park_end(p, NPARK);
	long end = now_ms() + 2000;
	while ((self_threads() != 1 || list_tasks(got, 16) != 1) && now_ms() < end)
		sched_yield();
	n = list_tasks(got, 16);
	CHECKF("proc_threads_back_to_one", self_threads() == 1 && n == 1 && got[0] == getpid(),
	       "Threads: %ld, %d tasks listed", self_threads(), n);
}

/* ---- robust mutexes and the robust list ---------------------------------- */

static void *lock_and_leave(void *arg)
{
	pthread_mutex_lock(arg);
	return NULL;
}

static void robust_init(pthread_mutex_t *m, int pshared)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pshared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* Lock an owner-died mutex: 1 iff EOWNERDEAD, then consistent, unlock and
 * relock all work. */
static int recovers(pthread_mutex_t *m, int *first)
{
	*first = pthread_mutex_lock(m);
	return *first == EOWNERDEAD && pthread_mutex_consistent(m) == 0 && pthread_mutex_unlock(m) == 0 &&
	       pthread_mutex_lock(m) == 0 && pthread_mutex_unlock(m) == 0;
}

static void *lock_then_park(void *arg)
{
	pthread_mutex_lock(arg);
	flag_set(&park_ready, 1);
	for (;;)
		pause();
	return NULL;
}

static void check_robust(void)
{
	static pthread_mutex_t m;
	robust_init(&m, 0);
	pthread_t t;
	pthread_create(&t, NULL, lock_and_leave, &m);
	pthread_join(t, NULL);
	int first;
	CHECKF("robust_thread_exit_eownerdead", recovers(&m, &first), "first lock %d", first);
	pthread_mutex_destroy(&m);

	pthread_mutex_t *sm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sm == MAP_FAILED) {
		CHECK("mmap_shared", 0);
		return;
	}
	/* The kernel walks the robust list when the holder's process exits. */
	robust_init(sm, 1);
	pid_t pid = fork();
	if (pid == 0)
		_exit(pthread_mutex_lock(sm) == 0 ? 0 : 1);
	int st = reap(pid);
	CHECKF("robust_pshared_child_exit_eownerdead", st == 0 && recovers(sm, &first), "child %#x first lock %d", st,
	       first);

	/* A non-main thread holds it when another thread calls _exit. */
	robust_init(sm, 1);
	pid = fork();
	if (pid == 0) {
		alarm(10);
		park_ready = 0;
		pthread_create(&t, NULL, lock_then_park, sm);
		flag_wait(&park_ready, 1, 3000);
		_exit(0);
	}
	st = reap(pid);
	CHECKF("robust_pshared_thread_of_exiting_process", st == 0 && recovers(sm, &first), "child %#x first lock %d",
	       st, first);
	munmap(sm, 4096);
}

/* include/uapi/linux/futex.h */
struct robust_list_head {
	void *next;
	long futex_offset;
	void *pending;
};
static struct robust_list_head my_head;
static volatile int robust_stage;
static volatile long robust_self_ok;
static volatile pid_t robust_tid;

static void *set_own_list(void *arg)
{
	(void)arg;
	my_head.next = &my_head;
	my_head.futex_offset = 0;
	my_head.pending = NULL;
	long r = syscall(SYS_set_robust_list, &my_head, sizeof my_head);
	void *h = NULL;
	size_t len = 0;
	long g = syscall(SYS_get_robust_list, 0, &h, &len);
	robust_tid = tid();
	robust_self_ok = r == 0 && g == 0 && h == &my_head && len == sizeof my_head;
	flag_set(&robust_stage, 1);
	flag_wait(&robust_stage, 2, 3000);
	return NULL;
}

static void check_robust_list_calls(void)
{
	struct robust_list_head h = {&h, 0, NULL};
	CHECK_ERRNO("set_robust_list_bad_len_einval", syscall(SYS_set_robust_list, &h, sizeof h - 1), EINVAL);
	robust_stage = 0;
	pthread_t t;
	pthread_create(&t, NULL, set_own_list, NULL);
	flag_wait(&robust_stage, 1, 3000);
	pid_t other = robust_tid;
	void *got = NULL;
	size_t len = 0;
	long r = other ? syscall(SYS_get_robust_list, other, &got, &len) : -1;
	flag_set(&robust_stage, 2);
	pthread_join(t, NULL);
	CHECK("get_robust_list_self", robust_self_ok);
	CHECKF("get_robust_list_other_thread", r == 0 && got == &my_head && len == sizeof my_head,
	       "tid %d: r %ld head %p len %zu", other, r, got, len);
	CHECK_ERRNO("get_robust_list_no_such_tid_esrch", syscall(SYS_get_robust_list, INT_MAX, &got, &len), ESRCH);
}

/* ---- timeouts ------------------------------------------------------------ */

static volatile int hold_stage;

static void *hold_lock(void *arg)
{
	pthread_mutex_lock(arg);
	flag_set(&hold_stage, 1);
	flag_wait(&hold_stage, 2, 3000);
	pthread_mutex_unlock(arg);
	return NULL;
}

static struct timespec deadline_in(clockid_t c, long ms)
{
	struct timespec d;
	clock_gettime(c, &d);
	d.tv_nsec += ms * 1000000;
	while (d.tv_nsec >= 1000000000)
		d.tv_sec++, d.tv_nsec -= 1000000000;
	return d;
}

static void check_timeouts(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	pthread_mutex_lock(&m);
	struct timespec d = deadline_in(CLOCK_REALTIME, 40);
	long t0 = now_ms();
	int r = pthread_cond_timedwait(&c, &m, &d);
	long dt = now_ms() - t0;
	pthread_mutex_unlock(&m);
	CHECKF("cond_timedwait_etimedout", r == ETIMEDOUT && dt >= 35 && dt < 2000, "r %d after %ld ms", r, dt);

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&m);
	d = deadline_in(CLOCK_MONOTONIC, 40);
	t0 = now_ms();
	r = pthread_cond_timedwait(&c, &m, &d);
	dt = now_ms() - t0;
	pthread_mutex_unlock(&m);
	pthread_cond_destroy(&c);
	CHECKF("cond_timedwait_monotonic_etimedout", r == ETIMEDOUT && dt >= 35 && dt < 2000, "r %d after %ld ms", r,
	       dt);

	hold_stage = 0;
	pthread_t t;
	pthread_create(&t, NULL, hold_lock, &m);
	flag_wait(&hold_stage, 1, 3000);
	d = deadline_in(CLOCK_REALTIME, 40);
	t0 = now_ms();
	r = pthread_mutex_timedlock(&m, &d);
	dt = now_ms() - t0;
	flag_set(&hold_stage, 2);
	pthread_join(t, NULL);
	CHECKF("mutex_timedlock_etimedout", r == ETIMEDOUT && dt >= 35 && dt < 2000, "r %d after %ld ms", r, dt);
	d = deadline_in(CLOCK_REALTIME, 40);
	r = pthread_mutex_timedlock(&m, &d);
	CHECKF("mutex_timedlock_free_after_unlock", r == 0 && pthread_mutex_unlock(&m) == 0, "r %d", r);
}

/* POSIX timers aimed at threads: musl's and glibc's SIGEV_THREAD runs the
 * function in a helper thread the timer signals with SIGEV_THREAD_ID. */
static volatile int timer_fired;
static volatile pid_t timer_fired_tid;

static void timer_notify(union sigval v)
{
	(void)v;
	timer_fired_tid = tid();
	__atomic_add_fetch(&timer_fired, 1, __ATOMIC_SEQ_CST);
}

static void check_thread_timers(void)
{
	struct sigevent ev = {0};
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = timer_notify;
	timer_t id;
	int r = timer_create(CLOCK_MONOTONIC, &ev, &id);
	struct itimerspec its = {{0, 10 * 1000 * 1000}, {0, 10 * 1000 * 1000}};
	if (r == 0)
		r = timer_settime(id, 0, &its, NULL);
	long t0 = now_ms();
	while (r == 0 && __atomic_load_n(&timer_fired, __ATOMIC_SEQ_CST) < 3 && now_ms() - t0 < 3000)
		sched_yield();
	int fired = r == 0 && timer_fired >= 3;
	if (r == 0)
		timer_delete(id);
	CHECKF("timer_sigev_thread_runs_function", fired && timer_fired_tid != getpid(), "r %d, fired %d by %d", r,
	       timer_fired, timer_fired_tid);

	/* SIGEV_THREAD_ID must name a thread of the caller's process. */
	pid_t other = fork();
	if (other == 0) {
		for (;;)
			pause();
	}
	/* The kernel's struct sigevent (C libraries name the tid field
	 * differently). */
	struct {
		union sigval value;
		int signo, notify, tid;
		int pad[11];
	} bad = {.signo = SIGUSR1, .notify = 4 /* SIGEV_THREAD_ID */, .tid = other};
	CHECK_ERRNO("sigev_thread_id_other_process_einval", syscall(SYS_timer_create, CLOCK_MONOTONIC, &bad, &id),
		    EINVAL);
	kill(other, SIGKILL);
	reap(other);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "exec-check") == 0)
		return exec_check(argv[2]);
	check_init("t_thread");
	check_create_join();
	check_ids();
	check_mutex();
	check_condvar();
	check_barrier();
	check_semaphore();
	check_tls();
	check_raw_clone();
	check_exits();
	check_shared_memory();
	check_process_signal();
	check_thread_signals();
	check_sigmask_per_thread();
	check_fatal_signals();
	check_fork();
	check_exec();
	check_proc_task();
	check_robust();
	check_robust_list_calls();
	check_timeouts();
	check_thread_timers();
	return check_done();
}
