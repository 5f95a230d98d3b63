/*
 * t_pipe.c: pipe(2) and pipe2(2) as Linux has them (fs/pipe.c).
 *
 * - bytes come out in order; fstat says S_IFIFO; lseek is ESPIPE;
 * - a reader blocks until a writer writes, and gets end of file (0) once
 *   every write end is closed, including the copies a child held;
 * - writing with no reader left: EPIPE when SIGPIPE is ignored, death by
 *   SIGPIPE otherwise;
 * - pipe2(O_NONBLOCK): EAGAIN on an empty read and on a full pipe (which
 *   holds at least 4096 bytes; 65536 on Linux by default), F_GETFL shows
 *   O_NONBLOCK; pipe2(O_CLOEXEC) sets FD_CLOEXEC; other flags are EINVAL;
 *   a bad pointer is EFAULT;
 * - 1 MiB written by a child arrives complete and in order, the writer
 *   blocking while the pipe is full.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void check_basics(void)
{
	int p[2];
	if (!CHECK("pipe_returns_two_fds", pipe(p) == 0 && p[0] >= 0 && p[1] >= 0 && p[0] != p[1]))
		return;
	char buf[8] = {0};
	ssize_t w = write(p[1], "abc", 3);
	ssize_t r = read(p[0], buf, sizeof buf);
	CHECKF("bytes_in_order", w == 3 && r == 3 && memcmp(buf, "abc", 3) == 0, "write %zd read %zd [%.8s]", w, r, buf);
	struct stat st;
	CHECKF("fstat_is_fifo", fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "mode %#o", (unsigned)st.st_mode);
	CHECK_ERRNO("lseek_espipe", lseek(p[0], 0, SEEK_SET), ESPIPE);
	CHECK_ERRNO("read_from_write_end_ebadf", read(p[1], buf, 1), EBADF);
	close(p[1]);
	r = read(p[0], buf, sizeof buf);
	CHECKF("eof_after_writer_closes", r == 0, "read returned %zd", r);
	close(p[0]);
}

static void check_blocking_and_eof(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		sleep_ms(100);
		write(p[1], "late", 4);
		sleep_ms(50);
		_exit(0); /* the child's copy of the write end closes here */
	}
	close(p[1]);
	char buf[16] = {0};
	ssize_t r = read(p[0], buf, sizeof buf);
	CHECKF("read_waits_for_writer", r == 4 && memcmp(buf, "late", 4) == 0, "read %zd [%.16s]", r, buf);
	r = read(p[0], buf, sizeof buf);
	CHECKF("eof_when_childs_copy_closes", r == 0, "read returned %zd", r);
	close(p[0]);
	waitpid(pid, NULL, 0);
}

static void check_no_reader(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	CHECK_ERRNO("write_without_reader_epipe", write(p[1], "x", 1), EPIPE);
	signal(SIGPIPE, SIG_DFL);
	pid_t pid = fork();
	if (pid == 0) {
		write(p[1], "x", 1);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("write_without_reader_sigpipe", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "status %#x", st);
	close(p[1]);
}

static void check_pipe2_flags(void)
{
	int p[2];
	if (!CHECK("pipe2_nonblock", pipe2(p, O_NONBLOCK) == 0))
		return;
	char c;
	CHECK_ERRNO("empty_nonblocking_read_eagain", read(p[0], &c, 1), EAGAIN);
	CHECKF("getfl_shows_nonblock", (fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY,
	       "F_GETFL %#x", fcntl(p[0], F_GETFL));
	static char block[4096];
	long total = 0;
	ssize_t w;
	while ((w = write(p[1], block, sizeof block)) > 0 && total < (1L << 24))
		total += w;
	int e = errno;
	CHECKF("full_pipe_eagain", w == -1 && e == EAGAIN && total >= 4096, "total %ld, last write %zd errno %d", total,
	       w, e);
	check_note("# pipe capacity: %ld bytes", total);
	close(p[0]);
	close(p[1]);
	if (pipe2(p, O_CLOEXEC) == 0) {
		CHECKF("pipe2_cloexec", (fcntl(p[0], F_GETFD) & FD_CLOEXEC) && (fcntl(p[1], F_GETFD) & FD_CLOEXEC),
		       "F_GETFD %d %d", fcntl(p[0], F_GETFD), fcntl(p[1], F_GETFD));
		close(p[0]);
		close(p[1]);
	}
	CHECK_ERRNO("pipe2_bad_flags_einval", pipe2(p, O_CREAT), EINVAL);
	CHECK_ERRNO("pipe2_bad_pointer_efault", syscall(SYS_pipe2, (int *)8, 0), EFAULT);
}

static void check_big_transfer(void)
{
	enum { TOTAL = 1 << 20 };
	int p[2];
	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		static unsigned char buf[10000];
		long sent = 0;
		while (sent < TOTAL) {
			size_t n = sizeof buf;
			if (sent + (long)n > TOTAL)
				n = (size_t)(TOTAL - sent);
			for (size_t i = 0; i < n; i++)
				buf[i] = (unsigned char)((sent + (long)i) % 251);
			ssize_t w = write(p[1], buf, n);
			if (w != (ssize_t)n)
				_exit(2);
			sent += w;
		}
		_exit(0);
	}
	close(p[1]);
	static unsigned char buf[7000];
	long got = 0, bad = -1;
	for (;;) {
		ssize_t r = read(p[0], buf, sizeof buf);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r && bad < 0; i++)
			if (buf[i] != (unsigned char)((got + i) % 251))
				bad = got + i;
		got += r;
	}
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("one_mib_arrives_in_order", got == TOTAL && bad < 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "got %ld of %d, first bad byte %ld, writer status %#x", got, TOTAL, bad, st);
}

int main(void)
{
	check_init("t_pipe");
	check_basics();
	check_blocking_and_eof();
	check_no_reader();
	check_pipe2_flags();
	check_big_transfer();
	return check_done();
}
