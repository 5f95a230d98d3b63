/*
 * t_membarrier.c: membarrier(2) as Linux answers it (kernel/sched/
 * membarrier.c): QUERY, the registration rules (EPERM before REGISTER,
 * registrations kept across fork and cleared by exec), GET_REGISTRATIONS,
 * EINVAL for flags and unknown commands, and the barriers returning while
 * another thread of the process spins on another CPU.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

enum {
	QUERY = 0,
	GLOBAL = 1,
	GLOBAL_EXPEDITED = 2,
	REGISTER_GLOBAL_EXPEDITED = 4,
	PRIVATE_EXPEDITED = 8,
	REGISTER_PRIVATE_EXPEDITED = 16,
	PRIVATE_EXPEDITED_SYNC_CORE = 32,
	REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 64,
	GET_REGISTRATIONS = 512,
};

static long mb(int cmd, unsigned flags)
{
	return syscall(SYS_membarrier, cmd, flags, 0);
}

static volatile int stop;

static void *spin(void *unused)
{
	(void)unused;
	while (!stop)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	check_init("t_membarrier");
	if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
		/* Exec'd by the test below: exec cleared the registrations. */
		long g = mb(GET_REGISTRATIONS, 0);
		CHECKF("exec_clears_registrations", g == 0, "%ld", g);
		CHECK_ERRNO("private_after_exec_eperm", mb(PRIVATE_EXPEDITED, 0), EPERM);
		return check_done();
	}
	long q = mb(QUERY, 0);
	long want = GLOBAL | GLOBAL_EXPEDITED | REGISTER_GLOBAL_EXPEDITED | PRIVATE_EXPEDITED |
		    REGISTER_PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_SYNC_CORE | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE |
		    GET_REGISTRATIONS;
	CHECKF("query_lists_the_commands", q >= 0 && (q & want) == want, "query %#lx", q);
	CHECK_ERRNO("flags_einval", mb(QUERY, 1), EINVAL);
	CHECK_ERRNO("unknown_command_einval", mb(1 << 20, 0), EINVAL);
	CHECK_ERRNO("two_commands_einval", mb(GLOBAL | GLOBAL_EXPEDITED, 0), EINVAL);
	CHECK_ERRNO("private_before_register_eperm", mb(PRIVATE_EXPEDITED, 0), EPERM);
	CHECK_ERRNO("sync_core_before_register_eperm", mb(PRIVATE_EXPEDITED_SYNC_CORE, 0), EPERM);
	CHECK("global", mb(GLOBAL, 0) == 0);
	CHECK("global_expedited_needs_no_registration", mb(GLOBAL_EXPEDITED, 0) == 0);
	CHECK("register_private", mb(REGISTER_PRIVATE_EXPEDITED, 0) == 0);
	CHECK("register_global", mb(REGISTER_GLOBAL_EXPEDITED, 0) == 0);
	long g = mb(GET_REGISTRATIONS, 0);
	CHECKF("get_registrations", g == (REGISTER_PRIVATE_EXPEDITED | REGISTER_GLOBAL_EXPEDITED), "%#lx", g);
	CHECK_ERRNO("sync_core_needs_its_own_registration", mb(PRIVATE_EXPEDITED_SYNC_CORE, 0), EPERM);

	/* With another thread spinning (on another CPU when there is one). */
	pthread_t t;
	int made = pthread_create(&t, NULL, spin, NULL) == 0;
	int fails = 0;
	for (int i = 0; i < 200; i++)
		fails += mb(PRIVATE_EXPEDITED, 0) != 0 || mb(GLOBAL_EXPEDITED, 0) != 0;
	stop = 1;
	if (made)
		pthread_join(t, NULL);
	CHECKF("barriers_with_a_running_thread", made && fails == 0, "%d failures", fails);

	pid_t pid = fork();
	if (pid == 0)
		_exit(mb(GET_REGISTRATIONS, 0) == g && mb(PRIVATE_EXPEDITED, 0) == 0 ? 0 : 1);
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("fork_keeps_registrations", st == 0, "status %#x", st);

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *args[] = {argv[0], "after-exec", NULL};
		execv(argv[0], args);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	CHECKF("exec_child_ran", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	return check_done();
}
