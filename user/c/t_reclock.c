/*
 * t_reclock.c: fcntl record locks, POSIX (per process) and OFD (per open
 * file description): conflicts seen from another process, F_GETLK's
 * report, splitting and merging of one owner's ranges, release on any
 * close (POSIX) or the last close (OFD), fork, exit, F_SETLKW waiting,
 * EINTR and EDEADLK, and the argument errors. Runs on the host Linux and
 * in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

static char path[64];

static struct flock lk(short type, short whence, off_t start, off_t len)
{
	struct flock f;
	memset(&f, 0, sizeof(f));
	f.l_type = type;
	f.l_whence = whence;
	f.l_start = start;
	f.l_len = len;
	return f;
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock f = lk(type, SEEK_SET, start, len);
	return fcntl(fd, cmd, &f);
}

/*
 * Run `fn` in a child with its own descriptor and return its exit code:
 * the child sees the parent's locks as another owner's.
 */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t p = fork();
	if (p == 0)
		_exit(fn(arg));
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

struct probe {
	short type;
	off_t start, len;
	/* What F_GETLK should answer. */
	short want_type;
	off_t want_start, want_len;
	pid_t want_pid;
	int ofd;
};

/* 0 if F_GETLK (or F_OFD_GETLK) from a fresh descriptor reports `want`. */
static int probe_getlk(void *arg)
{
	struct probe *p = arg;
	int fd = open(path, O_RDWR);
	struct flock f = lk(p->type, SEEK_SET, p->start, p->len);
	if (fcntl(fd, p->ofd ? F_OFD_GETLK : F_GETLK, &f) < 0)
		return 1;
	if (f.l_type != p->want_type)
		return 2;
	if (p->want_type == F_UNLCK)
		return 0;
	if (f.l_start != p->want_start || f.l_len != p->want_len || f.l_whence != SEEK_SET)
		return 3;
	return f.l_pid == p->want_pid ? 0 : 4;
}

static int getlk_says(short type, off_t start, off_t len, short wt, off_t ws, off_t wl, pid_t wp)
{
	struct probe p = { type, start, len, wt, ws, wl, wp, 0 };
	return in_child(probe_getlk, &p);
}

struct try {
	short type;
	off_t start, len;
};

/* The child's F_SETLK result: 0 or the errno. */
static int try_setlk(void *arg)
{
	struct try *t = arg;
	int fd = open(path, O_RDWR);
	return setlk(fd, F_SETLK, t->type, t->start, t->len) == 0 ? 0 : errno;
}

static int child_setlk(short type, off_t start, off_t len)
{
	struct try t = { type, start, len };
	return in_child(try_setlk, &t);
}

static void on_usr1(int s)
{
	(void)s;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

static void test_posix(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	pid_t me = getpid();
	CHECK("setlk_write", setlk(fd, F_SETLK, F_WRLCK, 0, 100) == 0);
	CHECK("other_process_conflicts", child_setlk(F_WRLCK, 50, 10) == EAGAIN);
	CHECK("other_process_beyond_is_free", child_setlk(F_WRLCK, 100, 10) == 0);
	CHECK("getlk_reports_holder", getlk_says(F_RDLCK, 10, 1, F_WRLCK, 0, 100, me) == 0);
	CHECK("getlk_free_range_unlck", getlk_says(F_WRLCK, 200, 5, F_UNLCK, 0, 0, 0) == 0);

	/* The owner's own read lock inside its write lock splits it. */
	CHECK("own_relock_read", setlk(fd, F_SETLK, F_RDLCK, 20, 10) == 0);
	CHECK("split_read_part", getlk_says(F_WRLCK, 22, 2, F_RDLCK, 20, 10, me) == 0);
	CHECK("split_write_before", getlk_says(F_WRLCK, 0, 5, F_WRLCK, 0, 20, me) == 0);
	CHECK("split_write_after", getlk_says(F_RDLCK, 30, 70, F_WRLCK, 30, 70, me) == 0);
	CHECK("read_shared_with_reader", child_setlk(F_RDLCK, 20, 10) == 0);

	/* Unlocking the middle frees it. */
	CHECK("unlock_middle", setlk(fd, F_SETLK, F_UNLCK, 40, 20) == 0);
	CHECK("unlocked_hole_free", child_setlk(F_WRLCK, 45, 10) == 0);
	CHECK("around_hole_held", child_setlk(F_WRLCK, 35, 10) == EAGAIN);

	/* Touching locks of one type merge. */
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	setlk(fd, F_SETLK, F_WRLCK, 0, 10);
	setlk(fd, F_SETLK, F_WRLCK, 10, 10);
	CHECK("adjacent_merge", getlk_says(F_RDLCK, 0, 0, F_WRLCK, 0, 20, me) == 0);

	/* l_len 0: to the end; negative: the bytes before l_start. */
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	setlk(fd, F_SETLK, F_WRLCK, 1000, 0);
	CHECK("zero_len_to_eof", getlk_says(F_RDLCK, 5000000, 1, F_WRLCK, 1000, 0, me) == 0);
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	setlk(fd, F_SETLK, F_WRLCK, 100, -50);
	CHECK("negative_len", getlk_says(F_RDLCK, 0, 0, F_WRLCK, 50, 50, me) == 0);
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	char data[1000];
	memset(data, 'x', sizeof(data));
	pwrite(fd, data, sizeof(data), 0);
	struct flock f = lk(F_WRLCK, SEEK_END, -10, 10);
	CHECK("whence_end", fcntl(fd, F_SETLK, &f) == 0 && getlk_says(F_RDLCK, 0, 0, F_WRLCK, 990, 10, me) == 0);
	lseek(fd, 500, SEEK_SET);
	f = lk(F_WRLCK, SEEK_CUR, 5, 5);
	CHECK("whence_cur", fcntl(fd, F_SETLK, &f) == 0 && getlk_says(F_RDLCK, 400, 200, F_WRLCK, 505, 5, me) == 0);
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);

	/* Closing any descriptor of the file drops the process's locks. */
	setlk(fd, F_SETLK, F_WRLCK, 0, 10);
	int fd2 = open(path, O_RDONLY);
	close(fd2);
	CHECK("close_other_fd_releases", child_setlk(F_WRLCK, 0, 10) == 0);

	/* A child holds its own locks, released when it exits. */
	pid_t c = fork();
	if (c == 0) {
		int cfd = open(path, O_RDWR);
		_exit(setlk(cfd, F_SETLK, F_WRLCK, 0, 10) == 0 ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	CHECK("exit_releases", WIFEXITED(st) && WEXITSTATUS(st) == 0 && setlk(fd, F_SETLK, F_WRLCK, 0, 10) == 0);
	/* The child of fork does not inherit the parent's locks. */
	c = fork();
	if (c == 0)
		_exit(setlk(fd, F_SETLK, F_WRLCK, 0, 10) == -1 && errno == EAGAIN ? 0 : 1);
	waitpid(c, &st, 0);
	CHECK("fork_child_owns_none", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fd);
}

static void test_wait(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int pfd[2];
	pipe(pfd);
	setlk(fd, F_SETLK, F_WRLCK, 0, 10);
	pid_t c = fork();
	if (c == 0) {
		int cfd = open(path, O_RDWR);
		struct flock f = lk(F_WRLCK, SEEK_SET, 0, 10);
		int r = fcntl(cfd, F_SETLKW, &f);
		char b = r == 0 ? 'y' : 'n';
		write(pfd[1], &b, 1);
		_exit(0);
	}
	sleep_ms(100);
	char b = 0;
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	int early = read(pfd[0], &b, 1) == 1;
	setlk(fd, F_SETLK, F_UNLCK, 0, 10);
	fcntl(pfd[0], F_SETFL, 0);
	int got = read(pfd[0], &b, 1) == 1 && b == 'y';
	int st;
	waitpid(c, &st, 0);
	CHECKF("setlkw_waits_for_unlock", !early && got, "early %d got %d", early, got);

	/* A signal ends the wait with EINTR (no SA_RESTART). */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	setlk(fd, F_SETLK, F_WRLCK, 0, 10);
	c = fork();
	if (c == 0) {
		int cfd = open(path, O_RDWR);
		struct flock f = lk(F_WRLCK, SEEK_SET, 0, 10);
		int r = fcntl(cfd, F_SETLKW, &f);
		_exit(r == -1 && errno == EINTR ? 0 : 1);
	}
	sleep_ms(100);
	kill(c, SIGUSR1);
	waitpid(c, &st, 0);
	CHECK("setlkw_eintr", WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Two processes each waiting for the other: the second gets EDEADLK. */
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	setlk(fd, F_SETLK, F_WRLCK, 0, 1);
	c = fork();
	if (c == 0) {
		int cfd = open(path, O_RDWR);
		setlk(cfd, F_SETLK, F_WRLCK, 1, 1);
		write(pfd[1], "r", 1);
		struct flock f = lk(F_WRLCK, SEEK_SET, 0, 1);
		int r = fcntl(cfd, F_SETLKW, &f);
		_exit(r == 0 ? 0 : 1);
	}
	read(pfd[0], &b, 1);
	sleep_ms(100);
	struct flock f = lk(F_WRLCK, SEEK_SET, 1, 1);
	int r = fcntl(fd, F_SETLKW, &f);
	int e = errno;
	setlk(fd, F_SETLK, F_UNLCK, 0, 0);
	waitpid(c, &st, 0);
	CHECKF("setlkw_deadlock_edeadlk", r == -1 && e == EDEADLK && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "r %d errno %d", r, e);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
}

static void test_ofd(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int fd2 = open(path, O_RDWR);
	CHECK("ofd_setlk", setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 10) == 0);
	CHECKF("ofd_other_description_conflicts", setlk(fd2, F_OFD_SETLK, F_WRLCK, 5, 1) == -1 && errno == EAGAIN,
	       "errno %d", errno);
	CHECKF("posix_conflicts_with_ofd", setlk(fd2, F_SETLK, F_WRLCK, 5, 1) == -1 && errno == EAGAIN, "errno %d",
	       errno);
	struct probe p = { F_RDLCK, 0, 1, F_WRLCK, 0, 10, -1, 1 };
	CHECK("ofd_getlk_pid_minus_one", in_child(probe_getlk, &p) == 0);
	struct flock f = lk(F_WRLCK, SEEK_SET, 0, 1);
	f.l_pid = 1;
	CHECK_ERRNO("ofd_l_pid_nonzero_einval", fcntl(fd, F_OFD_SETLK, &f), EINVAL);
	/* Closing another description of the file leaves OFD locks alone. */
	close(fd2);
	CHECK("ofd_survives_other_close", child_setlk(F_WRLCK, 0, 10) == EAGAIN);
	/* The description is shared with a fork child: same owner. */
	pid_t c = fork();
	if (c == 0)
		_exit(setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 10) == 0 && setlk(fd, F_OFD_SETLK, F_UNLCK, 0, 10) == 0 ? 0 : 1);
	int st;
	waitpid(c, &st, 0);
	CHECK("ofd_shared_with_fork_child", WIFEXITED(st) && WEXITSTATUS(st) == 0 && child_setlk(F_WRLCK, 0, 10) == 0);
	setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 10);
	close(fd);
	CHECK("ofd_last_close_releases", child_setlk(F_WRLCK, 0, 10) == 0);
}

static void test_errors(void)
{
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
	CHECK_ERRNO("bad_type_einval", setlk(fd, F_SETLK, 7, 0, 1), EINVAL);
	struct flock f = lk(F_WRLCK, 9, 0, 1);
	CHECK_ERRNO("bad_whence_einval", fcntl(fd, F_SETLK, &f), EINVAL);
	CHECK_ERRNO("negative_start_einval", setlk(fd, F_SETLK, F_WRLCK, -5, 1), EINVAL);
	CHECK_ERRNO("negative_len_before_zero_einval", setlk(fd, F_SETLK, F_WRLCK, 5, -10), EINVAL);
	CHECK_ERRNO("range_overflow", setlk(fd, F_SETLK, F_WRLCK, LLONG_MAX, 2), EOVERFLOW);
	CHECK_ERRNO("read_lock_on_wronly_ebadf", setlk(wo, F_SETLK, F_RDLCK, 0, 1), EBADF);
	CHECK_ERRNO("write_lock_on_rdonly_ebadf", setlk(ro, F_SETLK, F_WRLCK, 0, 1), EBADF);
	f = lk(F_UNLCK, SEEK_SET, 0, 1);
	CHECK_ERRNO("getlk_unlck_einval", fcntl(fd, F_GETLK, &f), EINVAL);
	CHECK_ERRNO("bad_fd_ebadf", setlk(-1, F_SETLK, F_WRLCK, 0, 1), EBADF);
	CHECK_ERRNO("bad_pointer_efault", fcntl(fd, F_SETLK, (void *)8), EFAULT);
	CHECK("unlock_nothing_ok", setlk(ro, F_SETLK, F_UNLCK, 0, 0) == 0);
	close(ro);
	close(wo);
	close(fd);
}

int main(void)
{
	check_init("t_reclock");
	snprintf(path, sizeof(path), "/tmp/t_reclock.%d", getpid());
	test_posix();
	test_wait();
	test_ofd();
	test_errors();
	unlink(path);
	return check_done();
}
