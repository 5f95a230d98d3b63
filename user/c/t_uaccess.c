/*
 * t_uaccess.c: hostile pointers and files at the kernel's doors (issue 11).
 *
 * - clone's CLONE_CHILD_SETTID / CLONE_PARENT_SETTID with kernel-half and
 *   non-canonical pointers: the clone succeeds as on Linux (put_user's
 *   result is ignored), the child runs and exits normally; with a valid
 *   pointer the tid lands there (in the child's copy for a fork, before
 *   the child's first user instruction);
 * - CLONE_SETTLS or ARCH_SET_FS with a base at or above TASK_SIZE: EPERM,
 *   no child; ARCH_GET_FS into kernel memory: EFAULT;
 * - set_tid_address / CLONE_CHILD_CLEARTID with kernel pointers, then exit;
 *   with a valid pointer in memory shared with the parent (vfork), the
 *   exit stores 0 there;
 * - 1000 unknown system calls: ENOSYS each, in under 0.5 s (the kernel's
 *   log line is rate-limited; logging each took 1 s under TCG);
 * - execve of crafted ELFs in /etc (user/Makefile makes them from
 *   hello-c): a non-canonical or kernel entry point, or a segment there ->
 *   the new program dies with SIGSEGV after the exec (Linux fails these
 *   after the point of no return); truncated headers, 0xffff program
 *   headers -> ENOEXEC;
 * - execve's argument limits: one string of MAX_ARG_STRLEN (128 KiB) with
 *   its NUL -> E2BIG, one byte less runs; more than a quarter of
 *   RLIMIT_STACK in total -> E2BIG; an argv pointer into the kernel ->
 *   EFAULT.
 */
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003

static const uint64_t bad_ptrs[] = {
	0xffff888000000000ull, /* the direct map */
	0xffffffff80000000ull, /* the kernel image */
	0x0000800000000000ull, /* first non-canonical address */
	0x8000000000000000ull, /* non-canonical */
	0x00007ffffffffffeull, /* above TASK_SIZE, below 2^47 */
};
#define NBAD (sizeof bad_ptrs / sizeof bad_ptrs[0])

static long raw_clone(unsigned long flags, unsigned long ptid, unsigned long ctid, unsigned long tls)
{
	/* x86_64: clone(flags, newsp, parent_tid, child_tid, tls). */
	return syscall(SYS_clone, flags, 0UL, ptid, ctid, tls);
}

/* Wait for pid; return its status, or -1. */
static int wait_status(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static void check_settid_bad_pointers(void)
{
	for (unsigned i = 0; i < NBAD; i++) {
		for (int parent = 0; parent < 2; parent++) {
			unsigned long flags = SIGCHLD | (parent ? CLONE_PARENT_SETTID : CLONE_CHILD_SETTID);
			long pid = parent ? raw_clone(flags, bad_ptrs[i], 0, 0) : raw_clone(flags, 0, bad_ptrs[i], 0);
			if (pid == 0)
				syscall(SYS_exit, 7);
			int st = pid > 0 ? wait_status(pid) : -1;
			char name[64];
			snprintf(name, sizeof name, "%s_settid_bad_pointer_%u", parent ? "parent" : "child", i);
			CHECKF(name, pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 7,
			       "ptr %#llx: clone %ld (errno %d), status %#x", (unsigned long long)bad_ptrs[i], pid,
			       errno, st);
		}
	}
}

static void check_settid_lands(void)
{
	/* Child's tid in the child's own (copy-on-write) memory: it must be
	 * there before the child's first instruction. */
	static volatile pid_t ctid;
	ctid = -1;
	long pid = raw_clone(SIGCHLD | CLONE_CHILD_SETTID, 0, (unsigned long)&ctid, 0);
	if (pid == 0)
		syscall(SYS_exit, ctid == (pid_t)syscall(SYS_getpid) ? 0 : 1);
	int st = pid > 0 ? wait_status(pid) : -1;
	CHECKF("child_settid_in_child_copy", pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && ctid == -1,
	       "clone %ld, status %#x, parent's copy %d", pid, st, (int)ctid);

	volatile pid_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		CHECKF("child_settid_shared", 0, "mmap errno %d", errno);
		return;
	}
	shared[0] = -1;
	shared[1] = -1;
	pid = raw_clone(SIGCHLD | CLONE_CHILD_SETTID | CLONE_PARENT_SETTID, (unsigned long)&shared[1],
			(unsigned long)&shared[0], 0);
	if (pid == 0)
		syscall(SYS_exit, 0);
	st = pid > 0 ? wait_status(pid) : -1;
	CHECKF("child_and_parent_settid_shared", pid > 0 && shared[0] == pid && shared[1] == pid,
	       "clone %ld, child wrote %d, parent wrote %d", pid, (int)shared[0], (int)shared[1]);
	munmap((void *)shared, 4096);
}

static void check_tls_bases(void)
{
	static const uint64_t tls[] = {1ull << 47, 0xffff800000000000ull, 0x00007ffffffff000ull, ~0ull};
	for (unsigned i = 0; i < sizeof tls / sizeof tls[0]; i++) {
		char name[64];
		errno = 0;
		long pid = raw_clone(SIGCHLD | CLONE_SETTLS, 0, 0, tls[i]);
		if (pid == 0)
			syscall(SYS_exit, 0);
		int e = errno;
		if (pid > 0)
			wait_status(pid);
		snprintf(name, sizeof name, "clone_settls_eperm_%u", i);
		CHECKF(name, pid == -1 && e == EPERM, "tls %#llx: clone %ld errno %d", (unsigned long long)tls[i], pid,
		       e);
		snprintf(name, sizeof name, "arch_set_fs_eperm_%u", i);
		CHECK_ERRNO(name, syscall(SYS_arch_prctl, ARCH_SET_FS, tls[i]), EPERM);
	}
	for (unsigned i = 0; i < NBAD; i++) {
		char name[64];
		snprintf(name, sizeof name, "arch_get_fs_efault_%u", i);
		CHECK_ERRNO(name, syscall(SYS_arch_prctl, ARCH_GET_FS, bad_ptrs[i]), EFAULT);
	}
	CHECK_ERRNO("arch_get_fs_null_efault", syscall(SYS_arch_prctl, ARCH_GET_FS, 0UL), EFAULT);
	/* Memory the process cannot write itself: read-only and PROT_NONE
	 * (touched first, so its page exists). */
	unsigned long *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		*p = 0x1234;
		mprotect(p, 4096, PROT_READ);
		CHECK_ERRNO("arch_get_fs_read_only_efault", syscall(SYS_arch_prctl, ARCH_GET_FS, p), EFAULT);
		mprotect(p, 4096, PROT_NONE);
		CHECK_ERRNO("arch_get_fs_prot_none_efault", syscall(SYS_arch_prctl, ARCH_GET_FS, p), EFAULT);
		mprotect(p, 4096, PROT_READ);
		CHECKF("arch_get_fs_refused_writes_nothing", *p == 0x1234, "*p = %#lx", *p);
		munmap(p, 4096);
	}
	unsigned long fs = 0;
	CHECKF("arch_get_fs_works", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs) == 0 && fs != 0, "fs %#lx", fs);
}

static void check_clear_tid(void)
{
	/* set_tid_address with kernel pointers, then exit. */
	for (unsigned i = 0; i < NBAD; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			long me = syscall(SYS_set_tid_address, bad_ptrs[i]);
			syscall(SYS_exit, me == syscall(SYS_getpid) ? 3 : 4);
		}
		int st = pid > 0 ? wait_status(pid) : -1;
		char name[64];
		snprintf(name, sizeof name, "set_tid_address_bad_pointer_%u", i);
		CHECKF(name, WIFEXITED(st) && WEXITSTATUS(st) == 3, "status %#x", st);
	}
}

static char vfork_stack[65536] __attribute__((aligned(16)));

static int vfork_child(void *arg)
{
	(void)arg;
	return 0;
}

static void check_clear_tid_vfork(void)
{
	/* A vfork child with CLONE_CHILD_CLEARTID: its exit stores 0 in the
	 * memory it shares with us (mm_release). */
	static volatile pid_t word;
	word = 0x1234567;
	pid_t pid = clone(vfork_child, vfork_stack + sizeof vfork_stack, CLONE_VM | CLONE_VFORK | CLONE_CHILD_CLEARTID | SIGCHLD,
			  NULL, NULL, NULL, (pid_t *)&word);
	int st = pid > 0 ? wait_status(pid) : -1;
	CHECKF("vfork_child_cleartid_stores_0", pid > 0 && WIFEXITED(st) && word == 0, "clone %d errno %d, status %#x, word %#x",
	       (int)pid, errno, st, (unsigned)word);
	/* The same with a kernel pointer: nothing happens, nothing breaks. */
	for (unsigned i = 0; i < NBAD; i++) {
		pid = clone(vfork_child, vfork_stack + sizeof vfork_stack, CLONE_VM | CLONE_VFORK | CLONE_CHILD_CLEARTID | SIGCHLD,
			    NULL, NULL, NULL, (pid_t *)(uintptr_t)bad_ptrs[i]);
		st = pid > 0 ? wait_status(pid) : -1;
		char name[64];
		snprintf(name, sizeof name, "vfork_child_cleartid_bad_pointer_%u", i);
		CHECKF(name, pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "clone %d errno %d, status %#x", (int)pid, errno, st);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check_unknown_syscall_storm(void)
{
	double t0 = now_s();
	int bad = 0;
	for (int i = 0; i < 1000; i++) {
		errno = 0;
		long r = syscall(1000 + i % 64);
		if (r != -1 || errno != ENOSYS)
			bad++;
	}
	double dt = now_s() - t0;
	check_note("# 1000 unknown system calls took %.3f s", dt);
	/* Under QEMU TCG: 0.01 s with the log line rate-limited, 1 s when each
	 * call logged a line. */
	CHECKF("unknown_syscall_storm", bad == 0 && dt < 0.5, "%d not ENOSYS, %.3f s", bad, dt);
}

static char etc_dir[4096];
static char bin_dir[4096];

/* fork + execve(path, argv); the child exits with errno if execve fails.
 * Returns the wait status. The environment tells t_uaccess itself to exit
 * 0 at once (the argument tests run it with huge arguments). */
static int run(const char *path, char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		char *envp[] = {"T_UACCESS_EXIT=1", NULL};
		execve(path, argv, envp);
		_exit(errno & 0x7f);
	}
	return pid > 0 ? wait_status(pid) : -1;
}

static void check_bad_elves(void)
{
	static const struct {
		const char *file;
		int sig;   /* killed by this signal after the exec, or */
		int errno_; /* execve fails with this */
	} cases[] = {
		{"bad-entry.elf", SIGSEGV, 0},
		{"kernel-entry.elf", SIGSEGV, 0},
		{"kernel-segment.elf", SIGSEGV, 0},
		{"noncanonical-segment.elf", SIGSEGV, 0},
		{"truncated.elf", 0, ENOEXEC},
		{"truncated-phdrs.elf", 0, ENOEXEC},
		{"phnum.elf", 0, ENOEXEC},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", etc_dir, cases[i].file);
		char *argv[] = {path, NULL};
		int st = run(path, argv);
		char name[64];
		snprintf(name, sizeof name, "execve_%s", cases[i].file);
		if (cases[i].sig)
			CHECKF(name, WIFSIGNALED(st) && WTERMSIG(st) == cases[i].sig, "status %#x, want signal %d", st,
			       cases[i].sig);
		else
			CHECKF(name, WIFEXITED(st) && WEXITSTATUS(st) == cases[i].errno_, "status %#x, want exit %d", st,
			       cases[i].errno_);
	}
}

/* A string of n 'a's. */
static char *string_of(size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memset(s, 'a', n);
	s[n] = 0;
	return s;
}

static void check_arg_limits(void)
{
	/* This program, which exits at once when run by `run`. */
	char self[8192];
	snprintf(self, sizeof self, "%s/t_uaccess", bin_dir);
	char *longest = string_of(128 * 1024 - 1), *too_long = string_of(128 * 1024);
	if (!longest || !too_long) {
		CHECK("arg_limits_malloc", 0);
		return;
	}
	char *ok_argv[] = {self, longest, NULL};
	int st = run(self, ok_argv);
	CHECKF("execve_arg_of_max_arg_strlen_minus_1_runs", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	char *long_argv[] = {self, too_long, NULL};
	st = run(self, long_argv);
	CHECKF("execve_arg_of_max_arg_strlen_is_e2big", WIFEXITED(st) && WEXITSTATUS(st) == E2BIG, "status %#x", st);

	/* 15 strings of 128 KiB - 1: 1.9 MiB, just inside 8 MiB / 4; the new
	 * stack grows past its first 128 KiB while exec writes them. */
	char *fifteen[17];
	fifteen[0] = self;
	for (int i = 1; i < 16; i++)
		fifteen[i] = longest;
	fifteen[16] = NULL;
	st = run(self, fifteen);
	CHECKF("execve_args_just_inside_quarter_of_stack_limit_run", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x",
	       st);

	/* 20 strings of 128 KiB - 1: 2.5 MiB, more than 8 MiB / 4. */
	char *many[22];
	many[0] = self;
	for (int i = 1; i < 21; i++)
		many[i] = longest;
	many[21] = NULL;
	st = run(self, many);
	CHECKF("execve_args_over_quarter_of_stack_limit_e2big", WIFEXITED(st) && WEXITSTATUS(st) == E2BIG, "status %#x",
	       st);

	/* RLIMIT_STACK 1 MiB: the space is max(256 KiB, ARG_MAX 128 KiB). */
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = {1 << 20, 1 << 20};
		if (setrlimit(RLIMIT_STACK, &rl) != 0)
			_exit(100);
		char *three[] = {self, longest, longest, longest, NULL}; /* 384 KiB */
		int s3 = run(self, three);
		char *one[] = {self, longest, NULL};
		int s1 = run(self, one);
		_exit(WIFEXITED(s3) && WEXITSTATUS(s3) == E2BIG && WIFEXITED(s1) && WEXITSTATUS(s1) == 0 ? 0 : 1);
	}
	st = pid > 0 ? wait_status(pid) : -1;
	CHECKF("execve_space_follows_rlimit_stack", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);

	char *kernel_argv = (char *)(uintptr_t)0xffff888000000000ull;
	pid = fork();
	if (pid == 0) {
		execve(self, (char *const *)kernel_argv, NULL);
		_exit(errno & 0x7f);
	}
	st = pid > 0 ? wait_status(pid) : -1;
	CHECKF("execve_kernel_argv_efault", WIFEXITED(st) && WEXITSTATUS(st) == EFAULT, "status %#x", st);
	char *bad_str[] = {self, (char *)(uintptr_t)0xffffffff80000000ull, NULL};
	st = run(self, bad_str);
	CHECKF("execve_kernel_string_efault", WIFEXITED(st) && WEXITSTATUS(st) == EFAULT, "status %#x", st);
	free(longest);
	free(too_long);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (getenv("T_UACCESS_EXIT"))
		return 0;
	check_init("t_uaccess");
	const char *td = getenv("TESTDATA");
	const char *bd = getenv("BINDIR");
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", td ? td : "/etc/testdata.txt");
	snprintf(etc_dir, sizeof etc_dir, "%s", dirname(tmp));
	snprintf(bin_dir, sizeof bin_dir, "%s", bd ? bd : "/bin");
	/* The argument space is a quarter of RLIMIT_STACK: use the usual
	 * 8 MiB whatever the runner's limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (8 << 20))) {
		rl.rlim_cur = 8 << 20;
		setrlimit(RLIMIT_STACK, &rl);
	}

	check_settid_bad_pointers();
	check_settid_lands();
	check_tls_bases();
	check_clear_tid();
	check_clear_tid_vfork();
	check_unknown_syscall_storm();
	check_bad_elves();
	check_arg_limits();
	return check_done();
}
