/*
 * t_fault.c: CPU exceptions in user mode become the right fatal signal.
 *
 * Each case forks a child that does one bad thing; the parent reaps it with
 * wait4 and checks it was killed by the signal Linux sends (and did not
 * exit). The kernel must survive all of them:
 *
 *   read a kernel address            #PF (U/S)       SIGSEGV
 *   read a non-canonical address     #GP             SIGSEGV
 *   read through NULL                #PF (not mapped) SIGSEGV
 *   write a string literal (.rodata) #PF (R/W)       SIGSEGV
 *   execute a page mapped without PROT_EXEC  #PF (I/D, NX)  SIGSEGV
 *   jump to a kernel address         #PF (U/S, I/D)  SIGSEGV
 *   overflow the stack (RLIMIT_STACK 1 MiB)          SIGSEGV
 *   ud2                              #UD             SIGILL
 *   integer divide by zero           #DE             SIGFPE
 *   int3                             #BP             SIGTRAP
 *
 * and a child that simply exits with 3 is seen as exited with 3.
 * Children switch core dumps off first (RLIMIT_CORE 0).
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "check.h"

/* Volatile so the compiler can neither see the value nor drop the access. */
static volatile uintptr_t kernel_addr = 0xffffffff80000000UL;
static volatile uintptr_t noncanonical_addr = 0x8000000000000000UL;
static volatile uintptr_t null_addr = 0;
static volatile int zero = 0, one = 1;
static volatile long sink;
static const char literal[] = "a string literal in .rodata";

static void do_read_kernel(void)
{
	sink = *(volatile char *)kernel_addr;
}

static void do_read_noncanonical(void)
{
	sink = *(volatile char *)noncanonical_addr;
}

static void do_read_null(void)
{
	sink = *(volatile int *)null_addr;
}

static void do_write_literal(void)
{
	char *volatile p = (char *)literal;
	*p = 'X';
}

static void do_exec_nx_page(void)
{
	unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		_exit(101);
	page[0] = 0xc3; /* ret */
	void (*volatile fn)(void) = (void (*)(void))page;
	fn();
}

static void do_jump_kernel(void)
{
	void (*volatile fn)(void) = (void (*)(void))kernel_addr;
	fn();
}

static int recurse(int depth)
{
	volatile char frame[4096];
	frame[0] = (char)depth;
	if (depth == -1) /* never: keeps the compiler from seeing endless recursion */
		return 0;
	return recurse(depth + 1) + frame[0];
}

static void do_stack_overflow(void)
{
	struct rlimit rl = {1 << 20, 1 << 20};
	setrlimit(RLIMIT_STACK, &rl);
	sink = recurse(0);
}

static void do_ud2(void)
{
	__asm__ volatile("ud2");
}

static void do_divide_by_zero(void)
{
	sink = one / zero;
}

static void do_int3(void)
{
	__asm__ volatile("int3");
}

/* Fork a child running FN and return its wait status (or -1). */
static int status_of_child(void (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		fn();
		_exit(100); /* the bad thing did not kill us */
	}
	if (pid < 0)
		return -1;
	int st = 0;
	if (wait4(pid, &st, 0, NULL) != pid)
		return -1;
	return st;
}

static void describe(char *buf, size_t len, int st)
{
	if (st == -1)
		snprintf(buf, len, "fork or wait4 failed: %s", strerror(errno));
	else if (WIFEXITED(st))
		snprintf(buf, len, "child exited with %d%s", WEXITSTATUS(st),
			 WEXITSTATUS(st) == 100 ? " (no fault)" : "");
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "child killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status %#x", st);
}

static void expect_signal(const char *name, void (*fn)(void), int sig)
{
	int st = status_of_child(fn);
	char why[128];
	describe(why, sizeof why, st);
	CHECKF(name, st != -1 && WIFSIGNALED(st) && !WIFEXITED(st) && WTERMSIG(st) == sig, "%s, want signal %d (%s)",
	       why, sig, strsignal(sig));
}

static void do_exit_3(void)
{
	_exit(3);
}

int main(void)
{
	check_init("t_fault");
	expect_signal("read_kernel_address_sigsegv", do_read_kernel, SIGSEGV);
	expect_signal("read_noncanonical_sigsegv", do_read_noncanonical, SIGSEGV);
	expect_signal("read_null_sigsegv", do_read_null, SIGSEGV);
	expect_signal("write_string_literal_sigsegv", do_write_literal, SIGSEGV);
	expect_signal("exec_nx_page_sigsegv", do_exec_nx_page, SIGSEGV);
	expect_signal("jump_kernel_address_sigsegv", do_jump_kernel, SIGSEGV);
	expect_signal("stack_overflow_sigsegv", do_stack_overflow, SIGSEGV);
	expect_signal("ud2_sigill", do_ud2, SIGILL);
	expect_signal("divide_by_zero_sigfpe", do_divide_by_zero, SIGFPE);
	expect_signal("int3_sigtrap", do_int3, SIGTRAP);

	int st = status_of_child(do_exit_3);
	char why[128];
	describe(why, sizeof why, st);
	CHECKF("normal_exit_3", st != -1 && WIFEXITED(st) && !WIFSIGNALED(st) && WEXITSTATUS(st) == 3, "%s", why);
	return check_done();
}
