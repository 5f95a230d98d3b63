/*
 * t_sigfault.c: CPU faults delivered to handlers as Linux fills them.
 *
 * The handler records the siginfo and the fault fields of the sigcontext
 * (trapno, err, cr2, rip), then leaves by siglongjmp, or fixes the cause and
 * returns so the faulting instruction runs again, or moves RIP past it:
 *
 *   read an unmapped address   SIGSEGV SEGV_MAPERR, si_addr exact, trap 14,
 *                              err 4 (user read, not present), cr2 = address
 *   write a PROT_READ page     SEGV_ACCERR, err 7 (read first: present);
 *                              the handler mprotects the page writable
 *                              and returns: the store lands
 *   touch a hole               the handler maps it (MAP_FIXED) and returns
 *   read past EOF of a file mapping (/etc/testdata.txt, 10000 bytes, mapped
 *                              4 pages, MAP_SHARED and MAP_PRIVATE)
 *                              SIGBUS BUS_ADRERR, si_addr exact; the rest of
 *                              the last page reads as zeros
 *   divl by zero               SIGFPE FPE_INTDIV, si_addr = rip = the div
 *   ud2                        SIGILL ILL_ILLOPN, si_addr = rip = the ud2
 *   int3                       SIGTRAP SI_KERNEL, si_addr 0, rip after it
 *   read a kernel address      SEGV_MAPERR, err 5 (Linux adds PROT)
 *   read a non-canonical one   #GP: SIGSEGV SI_KERNEL, si_addr 0, trap 13
 *   jump to a NX page          SEGV_ACCERR, si_addr = rip = the page, err 0x15
 *
 * and, in children: a fault with rsp pointing at unmapped memory kills with
 * SIGSEGV (also for a SIGILL handler), unless the handler is SA_ONSTACK with
 * an alt stack; a blocked or ignored SIGSEGV/SIGILL/SIGFPE at fault time
 * kills with that signal; a SIGSEGV inside the SIGSEGV handler kills.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ucontext.h>
#include "check.h"

#define PAGE 4096
#define NOINLINE __attribute__((noinline, noclone))
/* The handler changes `seen` behind the compiler's back: reload it after a fault. */
#define BARRIER() __asm__ volatile("" ::: "memory")

enum action { JUMP, MPROTECT_RW, MAP_PAGE, RESUME_AT, RETURN };

static volatile enum action fault_action;
static char *volatile fix_page;   /* MPROTECT_RW, MAP_PAGE: the page to fix */
static volatile uintptr_t resume_at; /* RESUME_AT: the new rip */
static sigjmp_buf fault_env;

static struct {
	int count;
	siginfo_t si;
	greg_t trapno, err, cr2, rip;
} seen;

static void fault_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	seen.count++;
	seen.si = *si;
	seen.trapno = g[REG_TRAPNO];
	seen.err = g[REG_ERR];
	seen.cr2 = g[REG_CR2];
	seen.rip = g[REG_RIP];
	switch (fault_action) {
	case JUMP:
		siglongjmp(fault_env, 1);
	case MPROTECT_RW:
		mprotect(fix_page, PAGE, PROT_READ | PROT_WRITE);
		break;
	case MAP_PAGE:
		if (mmap(fix_page, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    fix_page)
			memset(fix_page, 0x5a, PAGE);
		break;
	case RESUME_AT:
		g[REG_RIP] = (greg_t)resume_at;
		break;
	case RETURN:
		break;
	}
}

static void catch_faults(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

static void forget(void)
{
	memset(&seen, 0, sizeof seen);
}

/* A page-aligned address with nothing mapped there (mapped, then unmapped). */
static char *hole(void)
{
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap(p, PAGE);
	return p;
}

static volatile long sink;

/* Read ADDR with JUMP as the action; returns 1 if the handler jumped out. */
static NOINLINE int read_and_jump(uintptr_t addr)
{
	fault_action = JUMP;
	if (sigsetjmp(fault_env, 1) == 0) {
		sink = *(volatile char *)addr;
		return 0;
	}
	return 1;
}

static void check_maperr(void)
{
	char *h = hole();
	uintptr_t addr = (uintptr_t)h + 0x123;
	forget();
	int jumped = read_and_jump(addr);
	CHECKF("segv_maperr_siginfo", jumped && seen.si.si_signo == SIGSEGV && seen.si.si_code == SEGV_MAPERR &&
	       seen.si.si_addr == (void *)addr && seen.si.si_errno == 0,
	       "jumped %d signo %d code %d addr %p (want %#lx) errno %d", jumped, seen.si.si_signo, seen.si.si_code,
	       seen.si.si_addr, (unsigned long)addr, seen.si.si_errno);
	CHECKF("segv_maperr_sigcontext", seen.trapno == 14 && seen.err == 4 && seen.cr2 == (greg_t)addr,
	       "trapno %lld err %#llx cr2 %#llx", seen.trapno, seen.err, seen.cr2);
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	int again = read_and_jump(addr + 1);
	CHECKF("siglongjmp_out_of_sigsegv_twice", !sigismember(&now, SIGSEGV) && again && seen.count == 2 &&
	       seen.si.si_addr == (void *)(addr + 1), "segv blocked after jump %d, second jump %d, count %d",
	       sigismember(&now, SIGSEGV), again, seen.count);
}

static void check_accerr_mprotect(void)
{
	char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		CHECKF("segv_accerr_mprotect_resume", 0, "mmap: %s", strerror(errno));
		return;
	}
	volatile int *target = (volatile int *)(p + 0x40);
	forget();
	fault_action = MPROTECT_RW;
	fix_page = p;
	sink = *target; /* the page is present, read-only: the write fault has P set */
	*target = 0x1234567;
	BARRIER();
	CHECKF("segv_accerr_mprotect_resume", seen.count == 1 && *target == 0x1234567, "handler ran %d times, value %#x",
	       seen.count, *target);
	CHECKF("segv_accerr_siginfo", seen.si.si_signo == SIGSEGV && seen.si.si_code == SEGV_ACCERR &&
	       seen.si.si_addr == (void *)target, "signo %d code %d addr %p (want %p)", seen.si.si_signo,
	       seen.si.si_code, seen.si.si_addr, (void *)target);
	CHECKF("segv_accerr_sigcontext", seen.trapno == 14 && seen.err == 7 && seen.cr2 == (greg_t)target,
	       "trapno %lld err %#llx cr2 %#llx", seen.trapno, seen.err, seen.cr2);
	munmap(p, PAGE);
}

static void check_map_fixed_in_handler(void)
{
	char *h = hole();
	volatile int *target = (volatile int *)(h + 8);
	forget();
	fault_action = MAP_PAGE;
	fix_page = h;
	*target = 77;
	BARRIER();
	CHECKF("handler_maps_page_store_lands", seen.count == 1 && seen.si.si_code == SEGV_MAPERR && *target == 77 &&
	       h[9 + sizeof(int)] == 0x5a, "handler ran %d times, code %d, value %d", seen.count, seen.si.si_code,
	       *target);
	munmap(h, PAGE);

	h = hole();
	forget();
	fix_page = h;
	char got = *(volatile char *)(h + 100);
	BARRIER();
	CHECKF("handler_maps_page_load_sees_it", seen.count == 1 && got == 0x5a, "handler ran %d times, read %#x",
	       seen.count, got);
	munmap(h, PAGE);
}

static void check_sigbus(int flags, const char *name_info, const char *name_tail)
{
	const char *path = getenv("TESTDATA");
	int fd = path ? open(path, O_RDONLY) : -1;
	char *base = fd >= 0 ? mmap(NULL, 4 * PAGE, PROT_READ, flags, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	if (base == MAP_FAILED) {
		CHECKF(name_info, 0, "open or mmap of %s: %s", path ? path : "$TESTDATA (unset)", strerror(errno));
		return;
	}
	CHECKF(name_tail, base[9999] == '\n' && base[10000] == 0 && base[12287] == 0, "bytes %#x %#x %#x",
	       base[9999], base[10000], base[12287]);
	uintptr_t addr = (uintptr_t)base + 3 * PAGE + 100;
	forget();
	int jumped = read_and_jump(addr);
	CHECKF(name_info, jumped && seen.si.si_signo == SIGBUS && seen.si.si_code == BUS_ADRERR &&
	       seen.si.si_addr == (void *)addr, "jumped %d signo %d code %d addr %p (want %#lx)", jumped,
	       seen.si.si_signo, seen.si.si_code, seen.si.si_addr, (unsigned long)addr);
	munmap(base, 4 * PAGE);
}

extern char div_insn[], div_after[], ud2_insn[], ud2_after[], int3_after[];
static volatile unsigned zero;

static NOINLINE void check_traps(void)
{
	forget();
	fault_action = RESUME_AT;
	resume_at = (uintptr_t)div_after;
	unsigned lo = 100, hi = 0, z = zero;
	__asm__ volatile(".globl div_insn, div_after\ndiv_insn: divl %[z]\ndiv_after:"
			 : "+a"(lo), "+d"(hi)
			 : [z] "r"(z)
			 : "memory");
	CHECKF("sigfpe_intdiv", seen.count == 1 && seen.si.si_signo == SIGFPE && seen.si.si_code == FPE_INTDIV &&
	       seen.si.si_addr == (void *)div_insn && seen.rip == (greg_t)div_insn && seen.trapno == 0,
	       "count %d signo %d code %d addr %p rip %#llx (div at %p) trapno %lld", seen.count, seen.si.si_signo,
	       seen.si.si_code, seen.si.si_addr, seen.rip, (void *)div_insn, seen.trapno);

	forget();
	resume_at = (uintptr_t)ud2_after;
	__asm__ volatile(".globl ud2_insn, ud2_after\nud2_insn: ud2\nud2_after:" ::: "memory");
	CHECKF("sigill_illopn", seen.count == 1 && seen.si.si_signo == SIGILL && seen.si.si_code == ILL_ILLOPN &&
	       seen.si.si_addr == (void *)ud2_insn && seen.rip == (greg_t)ud2_insn && seen.trapno == 6,
	       "count %d signo %d code %d addr %p rip %#llx (ud2 at %p) trapno %lld", seen.count, seen.si.si_signo,
	       seen.si.si_code, seen.si.si_addr, seen.rip, (void *)ud2_insn, seen.trapno);

	forget();
	fault_action = RETURN;
	__asm__ volatile("int3\n.globl int3_after\nint3_after:" ::: "memory");
	CHECKF("sigtrap_int3_si_kernel", seen.count == 1 && seen.si.si_signo == SIGTRAP &&
	       seen.si.si_code == SI_KERNEL && seen.si.si_addr == NULL && seen.rip == (greg_t)int3_after &&
	       seen.trapno == 3, "count %d signo %d code %d addr %p rip %#llx (after int3 %p) trapno %lld",
	       seen.count, seen.si.si_signo, seen.si.si_code, seen.si.si_addr, seen.rip, (void *)int3_after,
	       seen.trapno);
}

static void check_kernel_and_noncanonical(void)
{
	uintptr_t kaddr = 0xffffffff80000000UL;
	forget();
	int jumped = read_and_jump(kaddr);
	CHECKF("kernel_address_segv_maperr", jumped && seen.si.si_signo == SIGSEGV && seen.si.si_code == SEGV_MAPERR &&
	       seen.si.si_addr == (void *)kaddr && seen.err == 5, "jumped %d signo %d code %d addr %p err %#llx",
	       jumped, seen.si.si_signo, seen.si.si_code, seen.si.si_addr, seen.err);

	forget();
	jumped = read_and_jump(0x8000000000000000UL);
	CHECKF("noncanonical_gp_si_kernel", jumped && seen.si.si_signo == SIGSEGV && seen.si.si_code == SI_KERNEL &&
	       seen.si.si_addr == NULL && seen.trapno == 13, "jumped %d signo %d code %d addr %p trapno %lld", jumped,
	       seen.si.si_signo, seen.si.si_code, seen.si.si_addr, seen.trapno);
}

static NOINLINE int call_and_jump(void (*fn)(void))
{
	fault_action = JUMP;
	if (sigsetjmp(fault_env, 1) == 0) {
		fn();
		return 0;
	}
	return 1;
}

static void check_exec_nx(void)
{
	unsigned char *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		CHECKF("exec_nx_segv_accerr", 0, "mmap: %s", strerror(errno));
		return;
	}
	page[0] = 0xc3; /* ret */
	forget();
	int jumped = call_and_jump((void (*)(void))page);
	CHECKF("exec_nx_segv_accerr", jumped && seen.si.si_signo == SIGSEGV && seen.si.si_code == SEGV_ACCERR &&
	       seen.si.si_addr == page && seen.rip == (greg_t)page && seen.err == 0x15,
	       "jumped %d signo %d code %d addr %p rip %#llx err %#llx (page %p)", jumped, seen.si.si_signo,
	       seen.si.si_code, seen.si.si_addr, seen.rip, seen.err, (void *)page);
	munmap(page, PAGE);
}

/* ---- children that must die -------------------------------------------- */

static void no_core(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
}

static void exit_42(int sig)
{
	(void)sig;
	_exit(42);
}

/* Point rsp at unmapped memory, then store to NULL (or ud2 when USE_UD2). */
static void fault_with_bad_stack(int use_ud2)
{
	char *bad = hole() + PAGE / 2;
	if (use_ud2)
		__asm__ volatile("mov %0, %%rsp\n\tud2" ::"r"(bad) : "memory");
	else
		__asm__ volatile("mov %0, %%rsp\n\tmovl $1, (%1)" ::"r"(bad), "r"(0L) : "memory");
}

static void bad_stack_segv_handler(void)
{
	signal(SIGSEGV, exit_42);
	fault_with_bad_stack(0);
}

static void bad_stack_sigill_handler(void)
{
	signal(SIGILL, exit_42);
	fault_with_bad_stack(1);
}

static void bad_stack_with_altstack(void)
{
	static char alt[65536];
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = exit_42;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	fault_with_bad_stack(0);
}

static void block(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_BLOCK, &s, NULL);
}

static void blocked_segv(void)
{
	signal(SIGSEGV, exit_42);
	block(SIGSEGV);
	sink = *(volatile int *)(uintptr_t)zero;
}

static void ignored_segv(void)
{
	signal(SIGSEGV, SIG_IGN);
	sink = *(volatile int *)(uintptr_t)zero;
}

static void blocked_sigill(void)
{
	signal(SIGILL, exit_42);
	block(SIGILL);
	__asm__ volatile("ud2");
}

static void blocked_sigfpe(void)
{
	signal(SIGFPE, exit_42);
	block(SIGFPE);
	unsigned lo = 1, hi = 0, z = zero;
	__asm__ volatile("divl %2" : "+a"(lo), "+d"(hi) : "r"(z));
}

static void segv_in_handler(int sig)
{
	(void)sig;
	sink = *(volatile int *)(uintptr_t)zero;
	_exit(43);
}

static void segv_inside_segv_handler(void)
{
	signal(SIGSEGV, segv_in_handler);
	sink = *(volatile int *)(uintptr_t)zero;
}

static void expect_child(const char *name, void (*fn)(void), int want_sig, int want_exit)
{
	pid_t pid = fork();
	if (pid == 0) {
		no_core();
		fn();
		_exit(100);
	}
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	char why[96];
	if (w != pid)
		snprintf(why, sizeof why, "waitpid: %s", strerror(errno));
	else if (WIFEXITED(st))
		snprintf(why, sizeof why, "child exited with %d (42/43: the handler ran, 100: no fault)",
			 WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(why, sizeof why, "child killed by signal %d", WTERMSIG(st));
	else
		snprintf(why, sizeof why, "status %#x", st);
	int ok = w == pid && (want_sig ? WIFSIGNALED(st) && WTERMSIG(st) == want_sig
				       : WIFEXITED(st) && WEXITSTATUS(st) == want_exit);
	CHECKF(name, ok, "%s; want %s %d", why, want_sig ? "signal" : "exit", want_sig ? want_sig : want_exit);
}

int main(void)
{
	check_init("t_sigfault");
	catch_faults();
	check_maperr();
	check_accerr_mprotect();
	check_map_fixed_in_handler();
	check_sigbus(MAP_SHARED, "sigbus_past_eof_shared", "file_tail_zero_shared");
	check_sigbus(MAP_PRIVATE, "sigbus_past_eof_private", "file_tail_zero_private");
	check_traps();
	check_kernel_and_noncanonical();
	check_exec_nx();

	expect_child("bad_stack_segv_handler_kills_sigsegv", bad_stack_segv_handler, SIGSEGV, 0);
	expect_child("bad_stack_sigill_handler_kills_sigsegv", bad_stack_sigill_handler, SIGSEGV, 0);
	expect_child("bad_stack_with_altstack_handler_runs", bad_stack_with_altstack, 0, 42);
	expect_child("blocked_sigsegv_kills", blocked_segv, SIGSEGV, 0);
	expect_child("ignored_sigsegv_kills", ignored_segv, SIGSEGV, 0);
	expect_child("blocked_sigill_kills", blocked_sigill, SIGILL, 0);
	expect_child("blocked_sigfpe_kills", blocked_sigfpe, SIGFPE, 0);
	expect_child("sigsegv_in_sigsegv_handler_kills", segv_inside_segv_handler, SIGSEGV, 0);
	return check_done();
}
