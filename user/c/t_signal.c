/*
 * t_signal.c: signal handlers, masks, queues and frames, as Linux does them.
 *
 * - siginfo of kill (SI_USER, si_pid, si_uid), tkill/tgkill (SI_TKILL),
 *   sigqueue (SI_QUEUE, si_value) and rt_sigqueueinfo (the info passed
 *   verbatim to self; EPERM for si_code >= 0 or SI_TKILL to another process);
 *   a signal sent to self is handled before kill returns;
 * - rt_sigaction (raw): the old action read back exactly (handler, flags,
 *   restorer, mask without SIGKILL/SIGSTOP, unknown flag bits cleared),
 *   EINVAL for SIGKILL/SIGSTOP actions, signal 0 and 65, a bad sigsetsize;
 * - SA_RESETHAND (a child dies of the second delivery), SA_NODEFER (nested
 *   delivery) vs the default (the signal and sa_mask blocked in the handler,
 *   the old mask back after);
 * - rt_sigprocmask (raw): BLOCK/UNBLOCK/SETMASK, SIGKILL/SIGSTOP never
 *   blocked, EINVAL for a bad `how` or sigsetsize; sigpending; a blocked
 *   signal handled on unblock before sigprocmask returns;
 * - standard signals coalesce, real-time ones queue: lowest number first,
 *   one number in sending order, each with its si_value;
 * - sigsuspend: -1 EINTR after the handler, its mask in force in the handler
 *   and the old mask back after;
 * - rt_sigtimedwait (raw): EAGAIN on timeout, takes a blocked pending signal
 *   with its info without running the handler, EINVAL for bad timespecs,
 *   EINTR for another handled signal;
 * - sigaltstack: ENOMEM/EINVAL, SS_DISABLE, SA_ONSTACK handler on the alt
 *   stack (a local inside it, SS_ONSTACK, EPERM to change it), nested on the
 *   same alt stack below, a handler without SA_ONSTACK on the normal stack,
 *   SS_AUTODISARM (disarmed in the handler, armed again after);
 * - ucontext: the handler sees the interrupted registers and RIP, changes
 *   them and the changes hold after sigreturn; xmm and MXCSR/x87 control
 *   word preserved across a clobbering handler, which starts with Linux's
 *   initial MXCSR and FCW, sees them in uc_mcontext.fpregs and may change an
 *   xmm there; the frame below the red zone; (rsp + 8) % 16 == 0 at handler
 *   entry on the normal and the alt stack, whatever the interrupted rsp;
 *   a frame changed to return to a kernel CS or a non-canonical RIP kills
 *   with SIGSEGV (children);
 * - siglongjmp out of a handler (sigsetjmp(env, 1) restores the mask,
 *   sigsetjmp(env, 0) does not);
 * - SIG_IGN drops a signal, and setting it drops a pending one; a blocked
 *   signal is queued even while ignored; SIGCHLD, SIGURG, SIGWINCH and SIGCONT
 *   by default do not kill;
 * - execve: handled signals back to SIG_DFL, ignored ones kept, mask and
 *   pending signals kept, alt stack gone (the child execs this program with
 *   argv[1] = "exec-helper", which reports in its exit status);
 * - fork: the child inherits handlers and mask, not pending signals;
 * - children killed by SIGTERM, SIGUSR2, SIGKILL and a real-time signal:
 *   WIFSIGNALED, WTERMSIG exact, no core flag.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include "check.h"

#define BIT(sig) (1ULL << ((sig) - 1))
#define NOINLINE __attribute__((noinline, noclone))

/* The kernel's struct sigaction (rt_sigaction's), not libc's. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

#define K_SA_RESTORER 0x04000000UL

static long k_sigaction(int sig, const struct ksigaction *act, struct ksigaction *old, size_t size)
{
	return syscall(SYS_rt_sigaction, sig, act, old, size);
}

static long k_sigprocmask(int how, const uint64_t *set, uint64_t *old, size_t size)
{
	return syscall(SYS_rt_sigprocmask, how, set, old, size);
}

static uint64_t cur_mask(void)
{
	uint64_t m = 0;
	k_sigprocmask(SIG_BLOCK, NULL, &m, 8);
	return m;
}

static void set_mask(uint64_t m)
{
	k_sigprocmask(SIG_SETMASK, &m, NULL, 8);
}

static uint64_t pending_mask(void)
{
	uint64_t m = 0;
	syscall(SYS_rt_sigpending, &m, 8);
	return m;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Install FN as an SA_SIGINFO handler for SIG with extra FLAGS and sa_mask MASK. */
static int on(int sig, void (*fn)(int, siginfo_t *, void *), int flags, const sigset_t *mask)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO | flags;
	if (mask)
		sa.sa_mask = *mask;
	else
		sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

static void dfl(int sig)
{
	signal(sig, SIG_DFL);
}

/* Wait for PID (retrying EINTR) and return its status, or -1. */
static int reap(pid_t pid)
{
	int st = 0;
	pid_t w;
	do
		w = waitpid(pid, &st, 0);
	while (w == -1 && errno == EINTR);
	return w == pid ? st : -1;
}

static void describe(char *buf, size_t len, int st)
{
	if (st == -1)
		snprintf(buf, len, "fork or wait failed");
	else if (WIFEXITED(st))
		snprintf(buf, len, "child exited with %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "child killed by signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " (core)" : "");
	else
		snprintf(buf, len, "wait status %#x", st);
}

static void no_core(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
}

/* ---- the recording handler ------------------------------------------- */

static volatile sig_atomic_t hits;
static siginfo_t last_info;

static void record(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	last_info = *si;
	hits++;
}

static void reset_record(void)
{
	hits = 0;
	memset(&last_info, 0, sizeof last_info);
}

/* ---- siginfo of the senders ------------------------------------------ */

static void check_senders(void)
{
	on(SIGUSR1, record, 0, NULL);

	reset_record();
	int r = kill(getpid(), SIGUSR1);
	int seen = hits;
	CHECKF("kill_self_handled_before_return", r == 0 && seen == 1, "kill %d, handler ran %d times by its return",
	       r, seen);
	CHECKF("kill_siginfo_si_user", last_info.si_signo == SIGUSR1 && last_info.si_code == SI_USER &&
	       last_info.si_pid == getpid() && last_info.si_uid == getuid(),
	       "signo %d code %d pid %d uid %d", last_info.si_signo, last_info.si_code, (int)last_info.si_pid,
	       (int)last_info.si_uid);

	reset_record();
	r = (int)syscall(SYS_tgkill, getpid(), my_tid(), SIGUSR1);
	CHECKF("tgkill_siginfo_si_tkill", r == 0 && hits == 1 && last_info.si_code == SI_TKILL &&
	       last_info.si_pid == getpid() && last_info.si_uid == getuid(),
	       "tgkill %d, hits %d, code %d pid %d uid %d", r, (int)hits, last_info.si_code, (int)last_info.si_pid,
	       (int)last_info.si_uid);

	reset_record();
	r = (int)syscall(SYS_tkill, my_tid(), SIGUSR1);
	CHECKF("tkill_siginfo_si_tkill", r == 0 && hits == 1 && last_info.si_code == SI_TKILL &&
	       last_info.si_pid == getpid(), "tkill %d, hits %d, code %d pid %d", r, (int)hits, last_info.si_code,
	       (int)last_info.si_pid);

	reset_record();
	r = sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 1234});
	CHECKF("sigqueue_siginfo_si_queue", r == 0 && hits == 1 && last_info.si_code == SI_QUEUE &&
	       last_info.si_value.sival_int == 1234 && last_info.si_pid == getpid() && last_info.si_uid == getuid(),
	       "sigqueue %d, hits %d, code %d value %d pid %d", r, (int)hits, last_info.si_code,
	       last_info.si_value.sival_int, (int)last_info.si_pid);

	/* rt_sigqueueinfo to self: the info arrives as given, even a made-up si_pid. */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = SI_QUEUE;
	si.si_pid = 4242;
	si.si_uid = 77;
	si.si_value.sival_int = -5;
	reset_record();
	r = (int)syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si);
	CHECKF("rt_sigqueueinfo_self_verbatim", r == 0 && hits == 1 && last_info.si_code == SI_QUEUE &&
	       last_info.si_pid == 4242 && last_info.si_uid == 77 && last_info.si_value.sival_int == -5,
	       "r %d errno %d, hits %d, code %d pid %d uid %d value %d", r, errno, (int)hits, last_info.si_code,
	       (int)last_info.si_pid, (int)last_info.si_uid, last_info.si_value.sival_int);

	CHECK_ERRNO("kill_bad_signal_einval", kill(getpid(), 65), EINVAL);
	CHECK_ERRNO("tgkill_bad_tgid_einval", syscall(SYS_tgkill, 0, my_tid(), SIGUSR1), EINVAL);
	CHECK("kill_signal_0_probes", kill(getpid(), 0) == 0);

	/* Another process: a made-up SI_USER or SI_TKILL is refused. */
	int p[2];
	if (pipe(p) != 0) {
		CHECKF("rt_sigqueueinfo_other_si_user_eperm", 0, "pipe: %s", strerror(errno));
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	si.si_code = SI_USER;
	CHECK_ERRNO("rt_sigqueueinfo_other_si_user_eperm", syscall(SYS_rt_sigqueueinfo, child, SIGUSR1, &si), EPERM);
	si.si_code = SI_TKILL;
	CHECK_ERRNO("rt_sigqueueinfo_other_si_tkill_eperm", syscall(SYS_rt_sigqueueinfo, child, SIGUSR1, &si),
		    EPERM);
	CHECK_ERRNO("tgkill_wrong_thread_esrch", syscall(SYS_tgkill, getpid(), child, SIGUSR1), ESRCH);
	close(p[1]);
	int st = reap(child);
	CHECKF("kill_reaped_child_esrch", st != -1 && kill(child, 0) == -1 && errno == ESRCH, "status %#x", st);
	dfl(SIGUSR1);
}

/* ---- rt_sigaction ------------------------------------------------------ */

static void check_sigaction(void)
{
	struct ksigaction act = {(void *)record, SA_SIGINFO | SA_ONSTACK | SA_RESTART | K_SA_RESTORER,
				 (void *)0x1234, BIT(SIGINT) | BIT(SIGKILL) | BIT(SIGSTOP)};
	struct ksigaction old;
	long r = k_sigaction(SIGUSR2, &act, NULL, 8);
	memset(&old, 0xaa, sizeof old);
	long r2 = k_sigaction(SIGUSR2, NULL, &old, 8);
	CHECKF("sigaction_old_read_back", r == 0 && r2 == 0 && old.handler == (void *)record &&
	       old.flags == act.flags && old.restorer == (void *)0x1234,
	       "r %ld %ld, handler %p flags %#lx restorer %p", r, r2, old.handler, old.flags, old.restorer);
	CHECKF("sigaction_mask_drops_kill_stop", old.mask == BIT(SIGINT), "mask %#llx, want %#llx",
	       (unsigned long long)old.mask, (unsigned long long)BIT(SIGINT));

	struct ksigaction act2 = {SIG_DFL, K_SA_RESTORER | 0x100, (void *)0x1234, 0};
	memset(&old, 0, sizeof old);
	r = k_sigaction(SIGUSR2, &act2, &old, 8);
	CHECKF("sigaction_old_returned_on_set", r == 0 && old.handler == (void *)record && old.flags == act.flags,
	       "r %ld handler %p flags %#lx", r, old.handler, old.flags);
	k_sigaction(SIGUSR2, NULL, &old, 8);
	CHECKF("sigaction_unknown_flag_cleared", old.flags == K_SA_RESTORER && old.handler == SIG_DFL,
	       "flags %#lx handler %p", old.flags, old.handler);

	struct ksigaction ign = {SIG_IGN, K_SA_RESTORER, NULL, 0};
	struct ksigaction def = {SIG_DFL, K_SA_RESTORER, NULL, 0};
	CHECK_ERRNO("sigaction_sigkill_handler_einval", k_sigaction(SIGKILL, &act, NULL, 8), EINVAL);
	CHECK_ERRNO("sigaction_sigstop_handler_einval", k_sigaction(SIGSTOP, &act, NULL, 8), EINVAL);
	CHECK_ERRNO("sigaction_sigkill_ign_einval", k_sigaction(SIGKILL, &ign, NULL, 8), EINVAL);
	CHECK_ERRNO("sigaction_sigstop_dfl_einval", k_sigaction(SIGSTOP, &def, NULL, 8), EINVAL);
	memset(&old, 0xaa, sizeof old);
	r = k_sigaction(SIGKILL, NULL, &old, 8);
	CHECKF("sigaction_sigkill_read_ok", r == 0 && old.handler == SIG_DFL, "r %ld errno %d handler %p", r, errno,
	       old.handler);
	CHECK_ERRNO("sigaction_signal_0_einval", k_sigaction(0, &def, NULL, 8), EINVAL);
	CHECK_ERRNO("sigaction_signal_65_einval", k_sigaction(65, &def, NULL, 8), EINVAL);
	CHECK_ERRNO("sigaction_signal_65_read_einval", k_sigaction(65, NULL, &old, 8), EINVAL);
	CHECK_ERRNO("sigaction_sigsetsize_4_einval", k_sigaction(SIGUSR2, &def, NULL, 4), EINVAL);
	r = k_sigaction(64, &ign, NULL, 8);
	CHECKF("sigaction_signal_64_ok", r == 0, "r %ld errno %d", r, errno);
	k_sigaction(64, &def, NULL, 8);
}

/* ---- SA_RESETHAND, SA_NODEFER, sa_mask --------------------------------- */

static void check_resethand(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		no_core();
		hits = 0;
		on(SIGUSR1, record, SA_RESETHAND, NULL);
		kill(getpid(), SIGUSR1);
		if (hits != 1)
			_exit(1);
		struct sigaction now;
		sigaction(SIGUSR1, NULL, &now);
		if (now.sa_handler != SIG_DFL)
			_exit(2);
		kill(getpid(), SIGUSR1);
		_exit(3);
	}
	int st = reap(pid);
	char why[64];
	describe(why, sizeof why, st);
	CHECKF("sa_resethand_second_delivery_kills", st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1,
	       "%s (1: handler did not run, 2: not reset to SIG_DFL, 3: survived)", why);
}

static volatile int depth, max_depth, nest_calls;
static uint64_t mask_in_handler, pending_in_handler;

static void nesting(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	if (++nest_calls == 1) {
		kill(getpid(), sig);
		mask_in_handler = cur_mask();
		pending_in_handler = pending_mask();
	}
	depth--;
}

static void check_nodefer(void)
{
	uint64_t before = cur_mask();
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);

	depth = max_depth = nest_calls = 0;
	on(SIGUSR1, nesting, SA_NODEFER, NULL);
	kill(getpid(), SIGUSR1);
	CHECKF("sa_nodefer_nested_delivery", nest_calls == 2 && max_depth == 2, "calls %d, max depth %d", nest_calls,
	       max_depth);
	CHECKF("sa_nodefer_signal_not_blocked", !(mask_in_handler & BIT(SIGUSR1)), "mask in handler %#llx",
	       (unsigned long long)mask_in_handler);

	depth = max_depth = nest_calls = 0;
	on(SIGUSR1, nesting, 0, &usr2);
	kill(getpid(), SIGUSR1);
	CHECKF("default_signal_blocked_in_handler", (mask_in_handler & BIT(SIGUSR1)) &&
	       (pending_in_handler & BIT(SIGUSR1)), "mask %#llx pending %#llx in handler",
	       (unsigned long long)mask_in_handler, (unsigned long long)pending_in_handler);
	CHECKF("sa_mask_blocked_in_handler", (mask_in_handler & BIT(SIGUSR2)) && !(mask_in_handler & BIT(SIGTERM)),
	       "mask in handler %#llx", (unsigned long long)mask_in_handler);
	CHECKF("default_delivered_again_after_return", nest_calls == 2 && max_depth == 1, "calls %d, max depth %d",
	       nest_calls, max_depth);
	CHECKF("mask_restored_after_handler", cur_mask() == before, "mask %#llx, before %#llx",
	       (unsigned long long)cur_mask(), (unsigned long long)before);
	dfl(SIGUSR1);
}

/* ---- rt_sigprocmask, sigpending ---------------------------------------- */

static void check_sigprocmask(void)
{
	uint64_t old = 0, now = 0;
	uint64_t set = BIT(SIGUSR1) | BIT(SIGKILL) | BIT(SIGSTOP);
	long r = k_sigprocmask(SIG_BLOCK, &set, &old, 8);
	now = cur_mask();
	CHECKF("sig_block_adds_not_kill_stop", r == 0 && now == (old | BIT(SIGUSR1)), "r %ld old %#llx now %#llx", r,
	       (unsigned long long)old, (unsigned long long)now);
	uint64_t u = BIT(SIGUSR1);
	k_sigprocmask(SIG_UNBLOCK, &u, NULL, 8);
	CHECKF("sig_unblock_removes", cur_mask() == old, "now %#llx", (unsigned long long)cur_mask());
	uint64_t all = ~0ULL;
	k_sigprocmask(SIG_SETMASK, &all, NULL, 8);
	now = cur_mask();
	set_mask(old);
	CHECKF("sig_setmask_all_but_kill_stop", now == ~(BIT(SIGKILL) | BIT(SIGSTOP)), "now %#llx",
	       (unsigned long long)now);
	CHECK_ERRNO("sigprocmask_bad_how_einval", k_sigprocmask(3, &u, NULL, 8), EINVAL);
	r = k_sigprocmask(3, NULL, &now, 8);
	CHECKF("sigprocmask_bad_how_without_set_ok", r == 0 && now == old, "r %ld errno %d", r, errno);
	CHECK_ERRNO("sigprocmask_sigsetsize_4_einval", k_sigprocmask(SIG_BLOCK, &u, NULL, 4), EINVAL);
	CHECK_ERRNO("sigprocmask_bad_pointer_efault", k_sigprocmask(SIG_BLOCK, (uint64_t *)8, NULL, 8), EFAULT);

	/* Blocked: pending, not handled; unblocked: handled before the call returns. */
	on(SIGUSR1, record, 0, NULL);
	reset_record();
	k_sigprocmask(SIG_BLOCK, &u, NULL, 8);
	kill(getpid(), SIGUSR1);
	int seen_blocked = hits;
	uint64_t pend = pending_mask();
	sigset_t ps;
	sigpending(&ps);
	CHECKF("blocked_signal_pending_not_handled", seen_blocked == 0 && (pend & BIT(SIGUSR1)) &&
	       sigismember(&ps, SIGUSR1) == 1, "hits %d pending %#llx", seen_blocked, (unsigned long long)pend);
	k_sigprocmask(SIG_UNBLOCK, &u, NULL, 8);
	int seen = hits;
	CHECKF("unblock_delivers_before_return", seen == 1 && last_info.si_code == SI_USER, "hits %d code %d", seen,
	       last_info.si_code);
	CHECKF("sigpending_empty_after", !(pending_mask() & BIT(SIGUSR1)), "pending %#llx",
	       (unsigned long long)pending_mask());
	dfl(SIGUSR1);
}

/* ---- coalescing and real-time queueing --------------------------------- */

static struct {
	int sig, value, code;
} rt_log[16];
static volatile int rt_n;

static void rt_record(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (rt_n < 16) {
		rt_log[rt_n].sig = sig;
		rt_log[rt_n].value = si->si_value.sival_int;
		rt_log[rt_n].code = si->si_code;
	}
	rt_n++;
}

static void check_queueing(void)
{
	uint64_t old = cur_mask();
	on(SIGUSR1, record, 0, NULL);
	reset_record();
	uint64_t u = BIT(SIGUSR1);
	k_sigprocmask(SIG_BLOCK, &u, NULL, 8);
	for (int i = 0; i < 3; i++)
		kill(getpid(), SIGUSR1);
	set_mask(old);
	CHECKF("standard_signals_coalesce", hits == 1, "handler ran %d times for 3 kills", (int)hits);
	dfl(SIGUSR1);

	int r1 = SIGRTMIN + 1, r2 = SIGRTMIN + 2;
	sigset_t full;
	sigfillset(&full);
	on(r1, rt_record, 0, &full);
	on(r2, rt_record, 0, &full);
	uint64_t rt = BIT(r1) | BIT(r2);
	k_sigprocmask(SIG_BLOCK, &rt, NULL, 8);
	rt_n = 0;
	sigqueue(getpid(), r2, (union sigval){.sival_int = 1});
	sigqueue(getpid(), r1, (union sigval){.sival_int = 2});
	sigqueue(getpid(), r2, (union sigval){.sival_int = 3});
	sigqueue(getpid(), r1, (union sigval){.sival_int = 4});
	kill(getpid(), r1); /* SI_USER, value 0 */
	int before = rt_n;
	set_mask(old);
	static const int want_sig_off[5] = {1, 1, 1, 2, 2}, want_value[5] = {2, 4, 0, 1, 3};
	int ok = before == 0 && rt_n == 5;
	for (int i = 0; ok && i < 5; i++)
		ok = rt_log[i].sig == SIGRTMIN + want_sig_off[i] && rt_log[i].value == want_value[i] &&
		     rt_log[i].code == (i == 2 ? SI_USER : SI_QUEUE);
	char got[160] = "";
	for (int i = 0; i < rt_n && i < 5; i++) {
		size_t l = strlen(got);
		snprintf(got + l, sizeof got - l, " %d/%d/%d", rt_log[i].sig, rt_log[i].value, rt_log[i].code);
	}
	CHECKF("rt_signals_queue_in_order", ok, "%d before unblock, %d after:%s; want 36/2 36/4 36/0 37/1 37/3",
	       before, rt_n, got);
	dfl(r1);
	dfl(r2);
}

/* ---- sigsuspend --------------------------------------------------------- */

static void mask_record(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	mask_in_handler = cur_mask();
	hits++;
}

static void check_sigsuspend(void)
{
	uint64_t old = cur_mask();
	on(SIGUSR1, mask_record, 0, NULL);
	hits = 0;
	uint64_t u = BIT(SIGUSR1);
	k_sigprocmask(SIG_BLOCK, &u, NULL, 8);
	kill(getpid(), SIGUSR1);
	sigset_t during;
	sigemptyset(&during);
	sigaddset(&during, SIGUSR2);
	errno = 0;
	int r = sigsuspend(&during);
	int e = errno;
	CHECKF("sigsuspend_eintr_after_handler", r == -1 && e == EINTR && hits == 1, "r %d errno %d hits %d", r, e,
	       (int)hits);
	CHECKF("sigsuspend_mask_in_handler", (mask_in_handler & (BIT(SIGUSR1) | BIT(SIGUSR2))) ==
	       (BIT(SIGUSR1) | BIT(SIGUSR2)) && !(mask_in_handler & BIT(SIGTERM)),
	       "mask in handler %#llx", (unsigned long long)mask_in_handler);
	CHECKF("sigsuspend_old_mask_back", cur_mask() == (old | BIT(SIGUSR1)), "mask %#llx",
	       (unsigned long long)cur_mask());
	set_mask(old);
	dfl(SIGUSR1);
}

/* ---- rt_sigtimedwait ---------------------------------------------------- */

static long k_sigtimedwait(uint64_t set, siginfo_t *si, const struct timespec *ts)
{
	return syscall(SYS_rt_sigtimedwait, &set, si, ts, 8);
}

/* Fork a child that sends SIG to this process every MS milliseconds until killed. */
static pid_t start_pinger(int sig, int ms)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) {
			sleep_ms(ms);
			kill(parent, sig);
		}
	}
	return pid;
}

static void stop_pinger(pid_t pid)
{
	kill(pid, SIGKILL);
	reap(pid);
}

static void check_sigtimedwait(void)
{
	uint64_t old = cur_mask();
	uint64_t u2 = BIT(SIGUSR2);
	on(SIGUSR2, record, 0, NULL);
	k_sigprocmask(SIG_BLOCK, &u2, NULL, 8);
	siginfo_t si;

	struct timespec ten_ms = {0, 10000000};
	CHECK_ERRNO("sigtimedwait_timeout_eagain", k_sigtimedwait(u2, &si, &ten_ms), EAGAIN);
	struct timespec zero = {0, 0};
	CHECK_ERRNO("sigtimedwait_zero_timeout_eagain", k_sigtimedwait(u2, &si, &zero), EAGAIN);

	reset_record();
	sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 99});
	memset(&si, 0, sizeof si);
	long r = k_sigtimedwait(u2, &si, &ten_ms);
	CHECKF("sigtimedwait_takes_pending", r == SIGUSR2 && si.si_signo == SIGUSR2 && si.si_code == SI_QUEUE &&
	       si.si_value.sival_int == 99 && si.si_pid == getpid() && hits == 0,
	       "r %ld signo %d code %d value %d pid %d hits %d", r, si.si_signo, si.si_code, si.si_value.sival_int,
	       (int)si.si_pid, (int)hits);
	CHECKF("sigtimedwait_consumes", !(pending_mask() & u2), "pending %#llx", (unsigned long long)pending_mask());

	kill(getpid(), SIGUSR2);
	memset(&si, 0, sizeof si);
	r = k_sigtimedwait(u2, &si, NULL);
	CHECKF("sigwaitinfo_takes_pending", r == SIGUSR2 && si.si_code == SI_USER && si.si_pid == getpid() &&
	       hits == 0, "r %ld code %d pid %d hits %d", r, si.si_code, (int)si.si_pid, (int)hits);

	struct timespec bad1 = {0, 1000000000}, bad2 = {0, -1}, bad3 = {-1, 0};
	CHECK_ERRNO("sigtimedwait_nsec_1e9_einval", k_sigtimedwait(u2, &si, &bad1), EINVAL);
	CHECK_ERRNO("sigtimedwait_nsec_negative_einval", k_sigtimedwait(u2, &si, &bad2), EINVAL);
	CHECK_ERRNO("sigtimedwait_sec_negative_einval", k_sigtimedwait(u2, &si, &bad3), EINVAL);

	/* Another signal with a handler interrupts the wait. */
	on(SIGUSR1, record, 0, NULL);
	pid_t pinger = start_pinger(SIGUSR1, 20);
	struct timespec five_s = {5, 0};
	errno = 0;
	r = k_sigtimedwait(u2, &si, &five_s);
	int e = errno;
	stop_pinger(pinger);
	CHECKF("sigtimedwait_eintr_by_handler", r == -1 && e == EINTR, "r %ld errno %d", r, e);
	set_mask(old);
	dfl(SIGUSR1);
	dfl(SIGUSR2);
}

/* ---- sigaltstack -------------------------------------------------------- */

#define ALT_SIZE (64 * 1024)
static char *alt_base;
static uintptr_t local_addr, nested_local_addr;
static stack_t ss_in_handler;
static int eperm_in_handler, nested_depth;

static void alt_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	volatile char here = 0;
	if (nested_depth == 0) {
		local_addr = (uintptr_t)&here;
		sigaltstack(NULL, &ss_in_handler);
		stack_t other = {.ss_sp = alt_base, .ss_size = ALT_SIZE / 2, .ss_flags = 0};
		errno = 0;
		eperm_in_handler = sigaltstack(&other, NULL) == -1 ? errno : 0;
		nested_depth = 1;
		kill(getpid(), SIGUSR2);
		nested_depth = 0;
	} else {
		nested_local_addr = (uintptr_t)&here;
	}
	(void)sig;
}

static int on_alt(uintptr_t a)
{
	return a >= (uintptr_t)alt_base && a < (uintptr_t)alt_base + ALT_SIZE;
}

static void check_sigaltstack(void)
{
	stack_t ss, old;
	memset(&old, 0xaa, sizeof old);
	int r = sigaltstack(NULL, &old);
	CHECKF("sigaltstack_initially_disabled", r == 0 && old.ss_flags == SS_DISABLE, "r %d flags %#x", r,
	       old.ss_flags);
	alt_base = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (alt_base == MAP_FAILED) {
		CHECKF("sigaltstack_onstack_handler", 0, "mmap: %s", strerror(errno));
		return;
	}
	ss = (stack_t){.ss_sp = alt_base, .ss_size = 1024, .ss_flags = 0};
	CHECK_ERRNO("sigaltstack_too_small_enomem", sigaltstack(&ss, NULL), ENOMEM);
	ss = (stack_t){.ss_sp = alt_base, .ss_size = ALT_SIZE, .ss_flags = 4};
	CHECK_ERRNO("sigaltstack_bad_flags_einval", sigaltstack(&ss, NULL), EINVAL);

	ss = (stack_t){.ss_sp = alt_base, .ss_size = ALT_SIZE, .ss_flags = 0};
	r = sigaltstack(&ss, NULL);
	memset(&old, 0, sizeof old);
	sigaltstack(NULL, &old);
	CHECKF("sigaltstack_read_back", r == 0 && old.ss_sp == alt_base && old.ss_size == ALT_SIZE &&
	       old.ss_flags == 0, "r %d sp %p size %zu flags %#x", r, old.ss_sp, old.ss_size, old.ss_flags);

	on(SIGUSR1, alt_handler, SA_ONSTACK, NULL);
	on(SIGUSR2, alt_handler, SA_ONSTACK, NULL);
	local_addr = nested_local_addr = 0;
	kill(getpid(), SIGUSR1);
	CHECKF("sa_onstack_handler_on_alt_stack", on_alt(local_addr), "local at %#lx, alt stack %p+%#x",
	       (unsigned long)local_addr, alt_base, ALT_SIZE);
	CHECKF("sigaltstack_in_handler_ss_onstack", ss_in_handler.ss_flags == SS_ONSTACK &&
	       ss_in_handler.ss_sp == alt_base, "flags %#x sp %p", ss_in_handler.ss_flags, ss_in_handler.ss_sp);
	CHECKF("sigaltstack_change_on_it_eperm", eperm_in_handler == EPERM, "errno %d", eperm_in_handler);
	CHECKF("nested_onstack_below_outer", on_alt(nested_local_addr) && nested_local_addr < local_addr,
	       "outer local %#lx, nested local %#lx", (unsigned long)local_addr, (unsigned long)nested_local_addr);

	/* Without SA_ONSTACK the handler stays on the normal stack. */
	on(SIGUSR1, alt_handler, 0, NULL);
	dfl(SIGUSR2);
	uint64_t u2 = BIT(SIGUSR2), old_mask = cur_mask();
	k_sigprocmask(SIG_BLOCK, &u2, NULL, 8); /* the handler's kill of SIGUSR2 stays pending */
	local_addr = 0;
	kill(getpid(), SIGUSR1);
	CHECKF("no_sa_onstack_normal_stack", local_addr != 0 && !on_alt(local_addr) && ss_in_handler.ss_flags == 0,
	       "local at %#lx, flags in handler %#x", (unsigned long)local_addr, ss_in_handler.ss_flags);
	signal(SIGUSR2, SIG_IGN); /* drops the pending one */
	set_mask(old_mask);

	/* SS_AUTODISARM: no alt stack inside the handler, back after it. */
	ss = (stack_t){.ss_sp = alt_base, .ss_size = ALT_SIZE, .ss_flags = SS_AUTODISARM};
	r = sigaltstack(&ss, NULL);
	on(SIGUSR1, alt_handler, SA_ONSTACK, NULL);
	on(SIGUSR2, alt_handler, SA_ONSTACK, NULL);
	local_addr = nested_local_addr = 0;
	memset(&ss_in_handler, 0xaa, sizeof ss_in_handler);
	kill(getpid(), SIGUSR1);
	CHECKF("ss_autodisarm_runs_on_alt_stack", r == 0 && on_alt(local_addr), "r %d local at %#lx", r,
	       (unsigned long)local_addr);
	CHECKF("ss_autodisarm_disarmed_in_handler", ss_in_handler.ss_flags == SS_DISABLE &&
	       ss_in_handler.ss_sp == NULL && ss_in_handler.ss_size == 0 && eperm_in_handler == 0,
	       "flags %#x sp %p size %zu, change errno %d", ss_in_handler.ss_flags, ss_in_handler.ss_sp,
	       ss_in_handler.ss_size, eperm_in_handler);
	memset(&old, 0, sizeof old);
	sigaltstack(NULL, &old);
	CHECKF("ss_autodisarm_rearmed_after", old.ss_sp == alt_base && old.ss_size == ALT_SIZE &&
	       old.ss_flags == (int)SS_AUTODISARM, "sp %p size %zu flags %#x", old.ss_sp, old.ss_size, old.ss_flags);

	ss = (stack_t){.ss_flags = SS_DISABLE};
	r = sigaltstack(&ss, NULL);
	memset(&old, 0xaa, sizeof old);
	sigaltstack(NULL, &old);
	CHECKF("ss_disable_reads_back_empty", r == 0 && old.ss_flags == SS_DISABLE && old.ss_sp == NULL &&
	       old.ss_size == 0, "r %d flags %#x sp %p size %zu", r, old.ss_flags, old.ss_sp, old.ss_size);
	dfl(SIGUSR1);
	dfl(SIGUSR2);
}

/* ---- ucontext: registers ------------------------------------------------ */

static greg_t seen_rax, seen_rbx, seen_r12, seen_r15, seen_rip;
extern char regs_ud2[];

static void regs_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	seen_rax = g[REG_RAX];
	seen_rbx = g[REG_RBX];
	seen_r12 = g[REG_R12];
	seen_r15 = g[REG_R15];
	seen_rip = g[REG_RIP];
	g[REG_RAX] = 0x1111;
	g[REG_RBX] = 0x2222;
	g[REG_R12] = 0x3333;
	g[REG_R15] = 0x4444;
	g[REG_RIP] += 2; /* past the ud2 */
}

static NOINLINE void check_ucontext_regs(void)
{
	on(SIGILL, regs_handler, 0, NULL);
	register long rax __asm__("rax") = 0xa0a0;
	register long rbx __asm__("rbx") = 0xb0b0;
	register long r12 __asm__("r12") = 0xc12c12;
	register long r15 __asm__("r15") = 0xf15f15;
	__asm__ volatile(".globl regs_ud2\nregs_ud2: ud2" : "+r"(rax), "+r"(rbx), "+r"(r12), "+r"(r15));
	long out_rax = rax, out_rbx = rbx, out_r12 = r12, out_r15 = r15;
	dfl(SIGILL);
	CHECKF("ucontext_sees_registers", seen_rax == 0xa0a0 && seen_rbx == 0xb0b0 && seen_r12 == 0xc12c12 &&
	       seen_r15 == 0xf15f15 && seen_rip == (greg_t)regs_ud2,
	       "rax %#llx rbx %#llx r12 %#llx r15 %#llx rip %#llx (ud2 at %p)", seen_rax, seen_rbx, seen_r12,
	       seen_r15, seen_rip, (void *)regs_ud2);
	CHECKF("ucontext_changes_hold", out_rax == 0x1111 && out_rbx == 0x2222 && out_r12 == 0x3333 &&
	       out_r15 == 0x4444, "rax %#lx rbx %#lx r12 %#lx r15 %#lx", out_rax, out_rbx, out_r12, out_r15);
}

/* A handler that points the frame at a kernel CS or a non-canonical RIP. */
static void bad_cs_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	/* REG_CSGSFS: cs in bits 0-15, then gs, fs, ss. */
	uc->uc_mcontext.gregs[REG_CSGSFS] = (uc->uc_mcontext.gregs[REG_CSGSFS] & ~0xffffLL) | 0x10;
}

static void bad_rip_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP] = (greg_t)0x8000000000000000ULL;
}

static void expect_bad_frame_kills(const char *name, void (*fn)(int, siginfo_t *, void *))
{
	pid_t pid = fork();
	if (pid == 0) {
		no_core();
		on(SIGUSR1, fn, 0, NULL);
		kill(getpid(), SIGUSR1);
		_exit(3);
	}
	int st = reap(pid);
	char why[64];
	describe(why, sizeof why, st);
	CHECKF(name, st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s, want SIGSEGV", why);
}

/* ---- FPU/SSE state ------------------------------------------------------ */

static uint32_t xmm_in[16][4] __attribute__((aligned(16)));
static uint32_t xmm_out[16][4] __attribute__((aligned(16)));
static unsigned handler_mxcsr, frame_mxcsr, frame_xmm3_ok;
static unsigned short handler_fcw, frame_fcw;
static int frame_has_fpregs;

static void clobber_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	__asm__ volatile("stmxcsr %0" : "=m"(handler_mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(handler_fcw));
	struct _fpstate *fp = uc->uc_mcontext.fpregs;
	frame_has_fpregs = fp != NULL;
	if (fp) {
		frame_mxcsr = fp->mxcsr;
		frame_fcw = fp->cwd;
		frame_xmm3_ok = memcmp(fp->_xmm[3].element, xmm_in[3], 16) == 0;
		fp->_xmm[5].element[0] = 0xdeadbeef;
	}
	unsigned wild = 0x7f80 ^ 0x6000; /* another rounding mode */
	unsigned short wild_cw = 0x0c7f;
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" ::"m"(wild), "m"(wild_cw));
	__asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\tpcmpeqd %%xmm2, %%xmm2\n\t"
			 "pcmpeqd %%xmm3, %%xmm3\n\tpcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"
			 "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\tpcmpeqd %%xmm8, %%xmm8\n\t"
			 "pcmpeqd %%xmm9, %%xmm9\n\tpcmpeqd %%xmm10, %%xmm10\n\tpcmpeqd %%xmm11, %%xmm11\n\t"
			 "pcmpeqd %%xmm12, %%xmm12\n\tpcmpeqd %%xmm13, %%xmm13\n\tpcmpeqd %%xmm14, %%xmm14\n\t"
			 "pcmpeqd %%xmm15, %%xmm15" ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
			 "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static NOINLINE void check_fpu(void)
{
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 4; j++)
			xmm_in[i][j] = 0x01010101u * (unsigned)(i + 1) + (unsigned)j;
	on(SIGUSR1, clobber_handler, 0, NULL);
	unsigned mx_in = 0x7f80, mx_out = 0, mx_default = 0x1f80; /* round toward zero */
	unsigned short cw_in = 0x027f, cw_out = 0, cw_default = 0x037f;
	long pid = getpid();
	__asm__ volatile("movdqa 0(%[in]), %%xmm0\n\tmovdqa 16(%[in]), %%xmm1\n\tmovdqa 32(%[in]), %%xmm2\n\t"
			 "movdqa 48(%[in]), %%xmm3\n\tmovdqa 64(%[in]), %%xmm4\n\tmovdqa 80(%[in]), %%xmm5\n\t"
			 "movdqa 96(%[in]), %%xmm6\n\tmovdqa 112(%[in]), %%xmm7\n\tmovdqa 128(%[in]), %%xmm8\n\t"
			 "movdqa 144(%[in]), %%xmm9\n\tmovdqa 160(%[in]), %%xmm10\n\tmovdqa 176(%[in]), %%xmm11\n\t"
			 "movdqa 192(%[in]), %%xmm12\n\tmovdqa 208(%[in]), %%xmm13\n\tmovdqa 224(%[in]), %%xmm14\n\t"
			 "movdqa 240(%[in]), %%xmm15\n\t"
			 "ldmxcsr %[mxi]\n\tfldcw %[cwi]\n\t"
			 "mov %[nr], %%eax\n\tmov %[pid], %%rdi\n\tmov %[sig], %%esi\n\tsyscall\n\t"
			 "stmxcsr %[mxo]\n\tfnstcw %[cwo]\n\t"
			 "movdqa %%xmm0, 0(%[out])\n\tmovdqa %%xmm1, 16(%[out])\n\tmovdqa %%xmm2, 32(%[out])\n\t"
			 "movdqa %%xmm3, 48(%[out])\n\tmovdqa %%xmm4, 64(%[out])\n\tmovdqa %%xmm5, 80(%[out])\n\t"
			 "movdqa %%xmm6, 96(%[out])\n\tmovdqa %%xmm7, 112(%[out])\n\tmovdqa %%xmm8, 128(%[out])\n\t"
			 "movdqa %%xmm9, 144(%[out])\n\tmovdqa %%xmm10, 160(%[out])\n\tmovdqa %%xmm11, 176(%[out])\n\t"
			 "movdqa %%xmm12, 192(%[out])\n\tmovdqa %%xmm13, 208(%[out])\n\tmovdqa %%xmm14, 224(%[out])\n\t"
			 "movdqa %%xmm15, 240(%[out])\n\t"
			 "ldmxcsr %[mxd]\n\tfldcw %[cwd]"
			 : [mxo] "=m"(mx_out), [cwo] "=m"(cw_out)
			 : [in] "r"(xmm_in), [out] "r"(xmm_out), [mxi] "m"(mx_in), [cwi] "m"(cw_in),
			   [mxd] "m"(mx_default), [cwd] "m"(cw_default), [nr] "i"(SYS_kill), [pid] "r"(pid),
			   [sig] "i"(SIGUSR1)
			 : "rax", "rdi", "rsi", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
			   "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	dfl(SIGUSR1);
	int same = 1, bad = -1;
	for (int i = 0; i < 16 && same; i++) {
		uint32_t want0 = i == 5 ? 0xdeadbeef : xmm_in[i][0];
		same = xmm_out[i][0] == want0 && memcmp(&xmm_out[i][1], &xmm_in[i][1], 12) == 0;
		if (!same)
			bad = i;
	}
	CHECKF("xmm_preserved_across_handler", same, "xmm%d after: %08x %08x %08x %08x", bad,
	       bad >= 0 ? xmm_out[bad][0] : 0, bad >= 0 ? xmm_out[bad][1] : 0, bad >= 0 ? xmm_out[bad][2] : 0,
	       bad >= 0 ? xmm_out[bad][3] : 0);
	CHECKF("mxcsr_fcw_preserved_across_handler", mx_out == mx_in && cw_out == cw_in, "mxcsr %#x fcw %#x", mx_out,
	       cw_out);
	CHECKF("handler_starts_with_initial_fpu_state", handler_mxcsr == 0x1f80 && handler_fcw == 0x037f,
	       "mxcsr %#x fcw %#x in handler", handler_mxcsr, handler_fcw);
	CHECKF("frame_fpregs_hold_interrupted_state", frame_has_fpregs && frame_mxcsr == mx_in &&
	       frame_fcw == cw_in && frame_xmm3_ok, "fpregs %d mxcsr %#x fcw %#x xmm3 %d", frame_has_fpregs,
	       frame_mxcsr, frame_fcw, frame_xmm3_ok);
}

/* ---- frame placement: alignment and red zone ---------------------------- */

/* align_probe: a handler in assembly that records rsp at its first instruction. */
volatile uintptr_t align_entry_rsp;
__asm__(".text\n.globl align_probe\n.type align_probe, @function\nalign_probe:\n\t"
	"movq %rsp, align_entry_rsp(%rip)\n\tret\n.size align_probe, .-align_probe\n");
extern void align_probe(int);

/* Send SIGUSR1 to self by a syscall made with rsp = (16-aligned) - SKEW. */
static NOINLINE void kill_self_skewed(long skew)
{
	long pid = getpid();
	__asm__ volatile("mov %%rsp, %%r12\n\tsub $256, %%rsp\n\tand $-16, %%rsp\n\tsub %[skew], %%rsp\n\t"
			 "mov %[nr], %%eax\n\tmov %[pid], %%rdi\n\tmov %[sig], %%esi\n\tsyscall\n\tmov %%r12, %%rsp"
			 :
			 : [skew] "r"(skew), [nr] "i"(SYS_kill), [pid] "r"(pid), [sig] "i"(SIGUSR1)
			 : "rax", "rdi", "rsi", "rcx", "r11", "r12", "memory");
}

static uintptr_t frame_rsp, frame_low_end;

static void redzone_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	frame_rsp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	uintptr_t end = (uintptr_t)si + sizeof *si;
	if ((uintptr_t)uc + 8 > end)
		end = (uintptr_t)uc + 8;
	if (uc->uc_mcontext.fpregs && (uintptr_t)uc->uc_mcontext.fpregs + 512 > end)
		end = (uintptr_t)uc->uc_mcontext.fpregs + 512;
	frame_low_end = end;
}

static void check_frame_placement(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = align_probe;
	sigaction(SIGUSR1, &sa, NULL);
	for (long skew = 0; skew < 16; skew += 8) {
		align_entry_rsp = 1;
		kill_self_skewed(skew);
		CHECKF(skew ? "frame_aligned_rsp_skewed_8" : "frame_aligned_rsp_aligned", (align_entry_rsp + 8) % 16 == 0,
		       "rsp at handler entry %#lx", (unsigned long)align_entry_rsp);
	}
	char *alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stack_t ss = {.ss_sp = alt + 3, .ss_size = ALT_SIZE - 8, .ss_flags = 0};
	sigaltstack(&ss, NULL);
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	align_entry_rsp = 1;
	kill(getpid(), SIGUSR1);
	CHECKF("frame_aligned_on_odd_alt_stack", (align_entry_rsp + 8) % 16 == 0 &&
	       align_entry_rsp > (uintptr_t)alt && align_entry_rsp < (uintptr_t)alt + ALT_SIZE,
	       "rsp at handler entry %#lx, alt stack %p", (unsigned long)align_entry_rsp, (void *)alt);
	ss = (stack_t){.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	munmap(alt, ALT_SIZE);

	on(SIGUSR1, redzone_handler, 0, NULL);
	frame_rsp = 0;
	kill(getpid(), SIGUSR1);
	CHECKF("frame_below_red_zone", frame_rsp != 0 && frame_low_end <= frame_rsp - 128,
	       "interrupted rsp %#lx, frame ends at %#lx", (unsigned long)frame_rsp, (unsigned long)frame_low_end);
	dfl(SIGUSR1);
}

/* ---- siglongjmp out of a handler ---------------------------------------- */

static sigjmp_buf jump_env;

static void jump_handler(int sig)
{
	(void)sig;
	siglongjmp(jump_env, 1);
}

static void check_siglongjmp(void)
{
	uint64_t old = cur_mask();
	signal(SIGUSR1, jump_handler);
	volatile int jumped = 0;
	if (sigsetjmp(jump_env, 1) == 0)
		kill(getpid(), SIGUSR1);
	else
		jumped = 1;
	CHECKF("siglongjmp_savemask_restores_mask", jumped && cur_mask() == old, "jumped %d mask %#llx before %#llx",
	       jumped, (unsigned long long)cur_mask(), (unsigned long long)old);

	jumped = 0;
	if (sigsetjmp(jump_env, 0) == 0)
		kill(getpid(), SIGUSR1);
	else
		jumped = 1;
	CHECKF("siglongjmp_nosave_keeps_handler_mask", jumped && cur_mask() == (old | BIT(SIGUSR1)),
	       "jumped %d mask %#llx", jumped, (unsigned long long)cur_mask());
	set_mask(old);
	dfl(SIGUSR1);
}

/* ---- ignoring ----------------------------------------------------------- */

static void check_ignore(void)
{
	uint64_t old = cur_mask(), u = BIT(SIGUSR1);
	signal(SIGUSR1, SIG_IGN);
	int r = kill(getpid(), SIGUSR1);
	CHECKF("sig_ign_dropped", r == 0 && !(pending_mask() & u), "kill %d pending %#llx", r,
	       (unsigned long long)pending_mask());

	/* Blocked signals are queued even while ignored (the action may change before unblocking). */
	k_sigprocmask(SIG_BLOCK, &u, NULL, 8);
	kill(getpid(), SIGUSR1);
	CHECKF("blocked_ignored_signal_queued", pending_mask() & u, "pending %#llx", (unsigned long long)pending_mask());
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR1, SIG_IGN); /* setting SIG_IGN discards the pending one */
	CHECKF("setting_sig_ign_drops_pending", !(pending_mask() & u), "pending %#llx",
	       (unsigned long long)pending_mask());
	set_mask(old);
	dfl(SIGUSR1);

	pid_t pid = fork();
	if (pid == 0) {
		kill(getpid(), SIGCHLD);
		kill(getpid(), SIGURG);
		kill(getpid(), SIGWINCH);
		kill(getpid(), SIGCONT);
		_exit(0);
	}
	int st = reap(pid);
	char why[64];
	describe(why, sizeof why, st);
	CHECKF("default_ignored_signals_do_not_kill", st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", why);
}

/* ---- exec and fork ------------------------------------------------------ */

enum {
	EXEC_HANDLER_NOT_DFL = 1,
	EXEC_IGNORED_NOT_KEPT = 2,
	EXEC_MASK_NOT_KEPT = 4,
	EXEC_PENDING_NOT_KEPT = 8,
	EXEC_ALTSTACK_KEPT = 16,
};

/* After execve (argv[1] == "exec-helper"): report what survived in the exit status. */
static int exec_helper(void)
{
	int bad = 0;
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	if (sa.sa_handler != SIG_DFL)
		bad |= EXEC_HANDLER_NOT_DFL;
	sigaction(SIGUSR2, NULL, &sa);
	if (sa.sa_handler != SIG_IGN)
		bad |= EXEC_IGNORED_NOT_KEPT;
	if (!(cur_mask() & BIT(SIGTERM)) || !(cur_mask() & BIT(SIGINT)))
		bad |= EXEC_MASK_NOT_KEPT;
	if (!(pending_mask() & BIT(SIGINT)))
		bad |= EXEC_PENDING_NOT_KEPT;
	stack_t ss;
	sigaltstack(NULL, &ss);
	if (ss.ss_flags != SS_DISABLE)
		bad |= EXEC_ALTSTACK_KEPT;
	return bad;
}

static void check_exec(void)
{
	const char *bindir = getenv("BINDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/t_signal", bindir ? bindir : "/bin");
	pid_t pid = fork();
	if (pid == 0) {
		on(SIGUSR1, record, 0, NULL);
		signal(SIGUSR2, SIG_IGN);
		uint64_t m = BIT(SIGTERM) | BIT(SIGINT);
		k_sigprocmask(SIG_BLOCK, &m, NULL, 8);
		kill(getpid(), SIGINT);
		static char alt[16384];
		stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
		sigaltstack(&ss, NULL);
		char *argv[] = {path, "exec-helper", NULL};
		char *envp[] = {NULL};
		execve(path, argv, envp);
		_exit(100);
	}
	int st = reap(pid);
	int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	char why[64];
	describe(why, sizeof why, st);
	int ran = code >= 0 && code < 32;
	CHECKF("exec_handled_signal_reset_to_default", ran && !(code & EXEC_HANDLER_NOT_DFL), "%s (%s)", why, path);
	CHECKF("exec_keeps_ignored_signal", ran && !(code & EXEC_IGNORED_NOT_KEPT), "%s", why);
	CHECKF("exec_keeps_mask", ran && !(code & EXEC_MASK_NOT_KEPT), "%s", why);
	CHECKF("exec_keeps_pending", ran && !(code & EXEC_PENDING_NOT_KEPT), "%s", why);
	CHECKF("exec_clears_altstack", ran && !(code & EXEC_ALTSTACK_KEPT), "%s", why);
}

static void check_fork_inherits(void)
{
	uint64_t old = cur_mask(), u1 = BIT(SIGUSR1);
	on(SIGUSR2, record, 0, NULL);
	k_sigprocmask(SIG_BLOCK, &u1, NULL, 8);
	kill(getpid(), SIGUSR1);
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		if (pending_mask() & u1)
			bad |= 1;
		if (!(cur_mask() & u1))
			bad |= 2;
		hits = 0;
		kill(getpid(), SIGUSR2);
		if (hits != 1)
			bad |= 4;
		_exit(bad);
	}
	int st = reap(pid);
	int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	CHECKF("fork_child_no_pending", code >= 0 && !(code & 1), "child status %#x", st);
	CHECKF("fork_child_inherits_mask", code >= 0 && !(code & 2), "child status %#x", st);
	CHECKF("fork_child_inherits_handler", code >= 0 && !(code & 4), "child status %#x", st);
	CHECKF("fork_parent_keeps_pending", pending_mask() & u1, "pending %#llx", (unsigned long long)pending_mask());
	signal(SIGUSR1, SIG_IGN);
	set_mask(old);
	dfl(SIGUSR1);
	dfl(SIGUSR2);
}

/* ---- killed by signals --------------------------------------------------- */

static void expect_killed_by(const char *name, int sig)
{
	pid_t pid = fork();
	if (pid == 0) {
		no_core();
		kill(getpid(), sig);
		_exit(3);
	}
	int st = reap(pid);
	char why[64];
	describe(why, sizeof why, st);
	CHECKF(name, st != -1 && WIFSIGNALED(st) && !WIFEXITED(st) && WTERMSIG(st) == sig && !WCOREDUMP(st),
	       "%s, want signal %d", why, sig);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-helper") == 0)
		return exec_helper();
	check_init("t_signal");
	check_senders();
	check_sigaction();
	check_resethand();
	check_nodefer();
	check_sigprocmask();
	check_queueing();
	check_sigsuspend();
	check_sigtimedwait();
	check_sigaltstack();
	check_ucontext_regs();
	expect_bad_frame_kills("sigreturn_kernel_cs_sigsegv", bad_cs_handler);
	expect_bad_frame_kills("sigreturn_noncanonical_rip_sigsegv", bad_rip_handler);
	check_fpu();
	check_frame_placement();
	check_siglongjmp();
	check_ignore();
	check_exec();
	check_fork_inherits();
	expect_killed_by("killed_by_sigterm", SIGTERM);
	expect_killed_by("killed_by_sigusr2", SIGUSR2);
	expect_killed_by("killed_by_sigkill", SIGKILL);
	expect_killed_by("killed_by_rt_signal", SIGRTMIN + 3);
	return check_done();
}
