/*
 * t_flock.c: flock(2) as Linux does it (the BSD locks of fs/locks.c): a
 * lock belongs to an open file description (shared by dup and fork),
 * shared locks coexist, an exclusive one excludes every other description
 * (even in the same process), LOCK_NB gives EWOULDBLOCK, a blocked call
 * waits until the holder lets go or a signal interrupts it (EINTR without
 * SA_RESTART), the last close releases the lock; EINVAL and EBADF.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static char path[64];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	check_init("t_flock");
	snprintf(path, sizeof path, "/tmp/t_flock.%d", (int)getpid());
	int a = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), b = open(path, O_RDONLY), c = open(path, O_RDONLY);
	if (!CHECK("setup", a >= 0 && b >= 0 && c >= 0))
		return check_done();

	CHECK("exclusive", flock(a, LOCK_EX) == 0);
	CHECK_ERRNO("other_description_exclusive_ewouldblock", flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	CHECK_ERRNO("other_description_shared_ewouldblock", flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	CHECK("relock_same_description", flock(a, LOCK_EX | LOCK_NB) == 0);
	CHECK("unlock", flock(a, LOCK_UN) == 0);
	CHECK("shared_a", flock(a, LOCK_SH | LOCK_NB) == 0);
	CHECK("shared_b_too", flock(b, LOCK_SH | LOCK_NB) == 0);
	CHECK_ERRNO("exclusive_against_shared_ewouldblock", flock(c, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	CHECK_ERRNO("conversion_blocked_ewouldblock", flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	CHECK("failed_conversion_dropped_the_old_lock", flock(b, LOCK_EX | LOCK_NB) == 0);
	flock(b, LOCK_UN);
	CHECK("unlock_when_unlocked", flock(a, LOCK_UN) == 0);

	/* dup shares the description: the lock lives until both close. */
	int d = open(path, O_RDONLY);
	flock(d, LOCK_EX);
	int dd = dup(d);
	close(d);
	CHECK_ERRNO("dup_keeps_the_lock", flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	close(dd);
	CHECK("last_close_releases", flock(b, LOCK_EX | LOCK_NB) == 0);
	flock(b, LOCK_UN);

	/* fork shares it too: the child's LOCK_UN releases the parent's. */
	flock(a, LOCK_EX);
	pid_t pid = fork();
	if (pid == 0)
		_exit(flock(a, LOCK_UN) == 0 ? 0 : 1);
	waitpid(pid, NULL, 0);
	CHECK("fork_child_unlocks_the_shared_description", flock(b, LOCK_EX | LOCK_NB) == 0);
	flock(b, LOCK_UN);

	/* A blocked lock waits for the holder. */
	flock(a, LOCK_EX);
	int pipefd[2];
	pipe(pipefd);
	pid = fork();
	if (pid == 0) {
		int own = open(path, O_RDONLY);
		char x = 1;
		write(pipefd[1], &x, 1);
		long long t0 = now_ms();
		int r = flock(own, LOCK_EX);
		long long waited = now_ms() - t0;
		_exit(r == 0 && waited >= 100 ? 0 : 1);
	}
	char x;
	read(pipefd[0], &x, 1);
	usleep(300000);
	flock(a, LOCK_UN);
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("blocked_lock_granted_at_unlock", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);

	/* A signal without SA_RESTART interrupts the wait. */
	flock(a, LOCK_EX);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa = {0};
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
		int own = open(path, O_RDONLY);
		alarm(1);
		int r = flock(own, LOCK_EX);
		_exit(r == -1 && errno == EINTR ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	CHECKF("signal_interrupts_eintr", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	flock(a, LOCK_UN);

	CHECK_ERRNO("no_operation_einval", flock(a, 0), EINVAL);
	CHECK_ERRNO("shared_and_exclusive_einval", flock(a, LOCK_SH | LOCK_EX), EINVAL);
	CHECK_ERRNO("bad_fd_ebadf", flock(-1, LOCK_SH), EBADF);
	close(a);
	close(b);
	close(c);
	unlink(path);
	return check_done();
}
