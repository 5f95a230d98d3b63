/*
 * t_signalfd.c: signalfd(2): blocked signals read as signalfd_siginfo
 * records (kill, sigqueue, a child's kill waking a blocking read), poll
 * readiness, mask changes on an existing fd, and the errors. Runs on the
 * host Linux and in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&t, &t) == -1 && errno == EINTR)
		;
}

int main(void)
{
	check_init("t_signalfd");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);

	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	CHECKF("create", fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) && (fcntl(fd, F_GETFL) & O_NONBLOCK), "fd %d", fd);
	struct signalfd_siginfo si[2];
	CHECK_ERRNO("nothing_pending_eagain", read(fd, si, sizeof si), EAGAIN);
	struct pollfd pf = {fd, POLLIN, 0};
	CHECK("poll_not_ready", poll(&pf, 1, 0) == 0);

	kill(getpid(), SIGUSR1);
	CHECK("poll_ready", poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN));
	CHECK_ERRNO("short_buffer_einval", read(fd, si, sizeof si[0] - 1), EINVAL);
	ssize_t r = read(fd, si, sizeof si);
	CHECKF("kill_reads_one_record", r == (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR1 &&
	       si[0].ssi_code == SI_USER && si[0].ssi_pid == (unsigned)getpid() && si[0].ssi_uid == getuid(),
	       "read %zd signo %u code %d pid %u", r, si[0].ssi_signo, si[0].ssi_code, si[0].ssi_pid);
	sigset_t pending;
	sigpending(&pending);
	CHECK("taken_off_pending", !sigismember(&pending, SIGUSR1));

	union sigval v = {.sival_int = 42};
	sigqueue(getpid(), SIGUSR2, v);
	kill(getpid(), SIGUSR1);
	r = read(fd, si, sizeof si);
	CHECKF("two_records_in_one_read", r == 2 * (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR1 &&
	       si[1].ssi_signo == SIGUSR2 && si[1].ssi_code == SI_QUEUE && si[1].ssi_int == 42,
	       "read %zd: %u, %u code %d int %d", r, si[0].ssi_signo, si[1].ssi_signo, si[1].ssi_code, si[1].ssi_int);

	/* A new mask on the same fd: SIGUSR1 stays pending, unseen. */
	sigset_t only2;
	sigemptyset(&only2);
	sigaddset(&only2, SIGUSR2);
	CHECK("change_mask", signalfd(fd, &only2, 0) == fd);
	kill(getpid(), SIGUSR1);
	CHECK_ERRNO("masked_out_signal_unseen", read(fd, si, sizeof si), EAGAIN);
	sigpending(&pending);
	CHECK("masked_out_still_pending", sigismember(&pending, SIGUSR1));
	signalfd(fd, &set, 0);
	CHECK("back_in_the_mask", read(fd, si, sizeof si) == (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR1);

	/* A blocking read waits for a child's kill. */
	int bfd = signalfd(-1, &set, 0);
	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		sleep_ms(50);
		kill(parent, SIGUSR2);
		_exit(0);
	}
	r = read(bfd, si, sizeof si);
	CHECKF("blocking_read_wakes", r == (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGUSR2 &&
	       si[0].ssi_pid == (unsigned)c, "read %zd signo %u pid %u (child %d)", r, si[0].ssi_signo, si[0].ssi_pid, c);
	waitpid(c, NULL, 0);

	/* A child's exit is a SIGCHLD record with its status. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int cfd = signalfd(-1, &chld, 0);
	c = fork();
	if (c == 0)
		_exit(7);
	r = read(cfd, si, sizeof si);
	CHECKF("sigchld_record", r == (ssize_t)sizeof si[0] && si[0].ssi_signo == SIGCHLD && si[0].ssi_code == CLD_EXITED &&
	       si[0].ssi_pid == (unsigned)c && si[0].ssi_status == 7, "read %zd signo %u code %d pid %u status %d", r,
	       si[0].ssi_signo, si[0].ssi_code, si[0].ssi_pid, si[0].ssi_status);
	waitpid(c, NULL, 0);

	int p[2];
	pipe(p);
	CHECK_ERRNO("not_a_signalfd_einval", signalfd(p[0], &set, 0), EINVAL);
	CHECK_ERRNO("closed_fd_ebadf", signalfd(999, &set, 0), EBADF);
	CHECK_ERRNO("bad_flags_einval", signalfd(-1, &set, 0x1), EINVAL);
	return check_done();
}
