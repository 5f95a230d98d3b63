/*
 * t_wait.c: process life cycle: fork, vfork, execve, _exit, wait4.
 *
 * - fork + exit(42): wait4(pid) returns pid and WEXITSTATUS 42;
 * - WNOHANG: 0 while the child (sleeping 200 ms) runs, its pid later;
 * - wait4 without children: ECHILD; with an undefined option bit: EINVAL;
 * - getppid() in a child is the parent's pid;
 * - vfork + execve("$BINDIR/hello", ...): the parent resumes after the exec
 *   and the child exits 0 (BINDIR is /bin in the kernel, the build's
 *   rootfs/bin on the host; see user/tests.txt);
 * - execve of a missing file fails with ENOENT (child then exits 7);
 * - execve of an executable (mode 0755) file that is not an ELF fails with
 *   ENOEXEC: "not-elf" next to $TESTDATA (the build creates it).
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void check_exit_status(void)
{
	pid_t pid = fork();
	if (pid == 0)
		exit(42);
	int st = 0;
	pid_t w = wait4(pid, &st, 0, NULL);
	CHECKF("fork_exit_42", pid > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 42,
	       "fork %d, wait4 %d, status %#x", (int)pid, (int)w, st);
}

static void check_wnohang(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(200);
		_exit(5);
	}
	int st = 0;
	pid_t first = wait4(-1, &st, WNOHANG, NULL);
	CHECKF("wnohang_running_child_is_0", pid > 0 && first == 0, "fork %d, wait4 returned %d", (int)pid,
	       (int)first);
	pid_t w = first;
	for (int i = 0; i < 500 && w == 0; i++) { /* up to 5 s */
		sleep_ms(10);
		w = wait4(-1, &st, WNOHANG, NULL);
	}
	CHECKF("wnohang_reaps_later", w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 5, "wait4 %d, status %#x",
	       (int)w, st);
}

static void check_errors(void)
{
	int st;
	CHECK_ERRNO("wait4_no_children_echild", wait4(-1, &st, 0, NULL), ECHILD);
	/* 0x10 is no wait option at all (WNOHANG 1, WUNTRACED 2, WCONTINUED 8, ...). */
	CHECK_ERRNO("wait4_bad_options_einval", wait4(-1, &st, 0x10, NULL), EINVAL);
}

static void check_getppid(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		_exit(getppid() == parent ? 0 : 1);
	int st = 0;
	pid_t w = wait4(pid, &st, 0, NULL);
	CHECKF("child_getppid_is_parent", w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait4 %d, status %#x",
	       (int)w, st);
}

static void check_vfork_exec(void)
{
	const char *bindir = getenv("BINDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/hello", bindir ? bindir : "/bin");
	char *argv[] = {path, "from", "t_wait", NULL};
	char *envp[] = {"FOO=bar", NULL};

	pid_t pid = vfork();
	if (pid == 0) {
		execve(path, argv, envp);
		_exit(127);
	}
	int st = 0;
	pid_t w = pid > 0 ? wait4(pid, &st, 0, NULL) : -1;
	CHECKF("vfork_execve_hello", pid > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "%s: vfork %d, wait4 %d, status %#x (127: execve failed)", path, (int)pid, (int)w, st);
}

/* Fork a child that execs PATH and exits 7 on ERR, 8 on another error. */
static void expect_exec_error(const char *name, const char *path, int err, const char *errname)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {(char *)path, NULL};
		char *envp[] = {NULL};
		execve(path, argv, envp);
		_exit(errno == err ? 7 : 8);
	}
	int st = 0;
	pid_t w = wait4(pid, &st, 0, NULL);
	CHECKF(name, w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7,
	       "%s: wait4 %d, status %#x (exit 8: execve failed with another errno than %s)", path, (int)w, st,
	       errname);
}

int main(void)
{
	check_init("t_wait");
	check_exit_status();
	check_wnohang();
	check_errors();
	check_getppid();
	check_vfork_exec();
	expect_exec_error("execve_missing_enoent", "/no/such/program", ENOENT, "ENOENT");

	const char *testdata = getenv("TESTDATA");
	if (testdata) {
		char dir[512], path[600];
		snprintf(dir, sizeof dir, "%s", testdata);
		snprintf(path, sizeof path, "%s/not-elf", dirname(dir));
		expect_exec_error("execve_not_elf_enoexec", path, ENOEXEC, "ENOEXEC");
	} else {
		CHECKF("execve_not_elf_enoexec", 0, "TESTDATA is not set");
	}
	return check_done();
}
