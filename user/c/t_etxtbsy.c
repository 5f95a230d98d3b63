/*
 * t_etxtbsy.c: a program that runs cannot be written, and a file open for
 * writing cannot run (Linux's deny_write_access / get_write_access:
 * ETXTBSY). The program is this test itself, copied to /tmp and started
 * with the argument "hold", in which it tells its parent and waits.
 *
 * - while it runs: open O_WRONLY, O_RDWR, O_RDONLY|O_TRUNC and truncate(2)
 *   are ETXTBSY; O_RDONLY works; unlink and rename work;
 * - once it has exited (even before it is reaped) writing works again;
 * - while a descriptor has it open for writing, execve is ETXTBSY, and
 *   works once that descriptor is closed.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static char copy[64];

static int copy_self(const char *self)
{
	int in = open(self, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0)
		return -1;
	char buf[8192];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n)
			return -1;
	close(in);
	return close(out);
}

/* Start the copy with "hold": it writes one byte on the pipe and waits
 * for its stdin to close. Returns its pid. */
static pid_t start_holder(int *release)
{
	int up[2], down[2];
	if (pipe(up) || pipe(down))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(down[0], 0);
		dup2(up[1], 1);
		close(up[0]);
		close(down[1]);
		execl(copy, copy, "hold", (char *)NULL);
		_exit(127);
	}
	close(up[1]);
	close(down[0]);
	char c;
	if (read(up[0], &c, 1) != 1)
		return -1;
	close(up[0]);
	*release = down[1];
	return pid;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "hold") == 0) {
		char c = 1;
		write(1, &c, 1);
		read(0, &c, 1);
		return 0;
	}
	check_init("t_etxtbsy");
	snprintf(copy, sizeof copy, "/tmp/t_etxtbsy.%d", (int)getpid());
	if (!CHECK("copy", copy_self(argv[0]) == 0))
		return check_done();
	int release;
	pid_t pid = start_holder(&release);
	if (!CHECK("holder_started", pid > 0))
		return check_done();
	CHECK_ERRNO("open_wronly_etxtbsy", open(copy, O_WRONLY), ETXTBSY);
	CHECK_ERRNO("open_rdwr_etxtbsy", open(copy, O_RDWR), ETXTBSY);
	CHECK_ERRNO("open_trunc_etxtbsy", open(copy, O_RDONLY | O_TRUNC), ETXTBSY);
	CHECK_ERRNO("truncate_etxtbsy", truncate(copy, 0), ETXTBSY);
	struct stat st;
	CHECK("still_whole", stat(copy, &st) == 0 && st.st_size > 4096);
	int ro = open(copy, O_RDONLY);
	CHECK("open_rdonly_works", ro >= 0);
	close(ro);
	char moved[80];
	snprintf(moved, sizeof moved, "%s.moved", copy);
	CHECK("rename_works", rename(copy, moved) == 0 && rename(moved, copy) == 0);
	close(release);
	/* Exited, not yet reaped: its address space is gone. */
	siginfo_t si;
	waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	int fd = open(copy, O_WRONLY);
	CHECKF("writable_once_it_exited", fd >= 0, "errno %d", errno);
	waitpid(pid, NULL, 0);

	/* The other way round: open for writing, then exec. */
	pid = fork();
	if (pid == 0) {
		execl(copy, copy, "hold", (char *)NULL);
		_exit(errno == ETXTBSY ? 42 : 43);
	}
	int s = 0;
	waitpid(pid, &s, 0);
	CHECKF("execve_while_open_for_writing_etxtbsy", WIFEXITED(s) && WEXITSTATUS(s) == 42, "status %#x", s);
	close(fd);
	pid = start_holder(&release);
	CHECK("execve_after_close_works", pid > 0);
	if (pid > 0) {
		close(release);
		waitpid(pid, NULL, 0);
	}
	CHECK("unlink_works", unlink(copy) == 0);
	return check_done();
}
