/*
 * t_closerange.c: close_range(2) (fs/file.c):
 * - closes the open descriptors of a range, both ends included, and skips
 *   numbers that are not open (closes_range);
 * - up to ~0U: everything from `first` on (to_the_end);
 * - CLOSE_RANGE_CLOEXEC marks them close-on-exec and leaves them open
 *   (cloexec_only);
 * - CLOSE_RANGE_UNSHARE in a child sharing the table (CLONE_FILES)
 *   closes in its own copy: the parent's stay open (unshare);
 * - EINVAL for first > last and for unknown flags (einval).
 * Skipped where the call is missing (ENOSYS).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define NR_CLOSE_RANGE 436
#define CR_UNSHARE (1U << 1)
#define CR_CLOEXEC (1U << 2)

static long cr(unsigned first, unsigned last, unsigned flags)
{
	return syscall(NR_CLOSE_RANGE, first, last, flags);
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

int main(void)
{
	check_init("t_closerange");
	int base = open("/proc/self/status", O_RDONLY);
	if (base < 0)
		base = dup(1);
	if (cr(~0U, ~0U, 0) != 0 && errno == ENOSYS) {
		const char *cases[] = {"closes_range", "to_the_end", "cloexec_only", "unshare", "einval"};
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], "no close_range (ENOSYS)");
		return check_done();
	}
	for (int fd = 40; fd <= 45; fd++)
		dup2(base, fd);
	close(43);
	long r = cr(41, 44, 0);
	CHECKF("closes_range",
	       r == 0 && is_open(40) && !is_open(41) && !is_open(42) && !is_open(44) && is_open(45),
	       "close_range %ld errno %d; open: 40 %d 41 %d 42 %d 44 %d 45 %d", r, errno, is_open(40), is_open(41),
	       is_open(42), is_open(44), is_open(45));

	dup2(base, 300);
	r = cr(45, ~0U, 0);
	CHECKF("to_the_end", r == 0 && is_open(40) && !is_open(45) && !is_open(300), "close_range %ld errno %d", r,
	       errno);

	dup2(base, 50);
	dup2(base, 51);
	r = cr(50, 51, CR_CLOEXEC);
	CHECKF("cloexec_only",
	       r == 0 && fcntl(50, F_GETFD) == FD_CLOEXEC && fcntl(51, F_GETFD) == FD_CLOEXEC && is_open(40) &&
		       fcntl(40, F_GETFD) == 0,
	       "close_range %ld errno %d; flags %d %d", r, errno, fcntl(50, F_GETFD), fcntl(51, F_GETFD));

	/* A child sharing the table: with UNSHARE it closes only its copy. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(cr(40, 40, CR_UNSHARE) == 0 && !is_open(40) ? 0 : 1);
	int st = -1;
	waitpid(pid, &st, 0);
	int parent_has = is_open(40);
	pid = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(cr(51, 51, 0) == 0 ? 0 : 1);
	int st2 = -1;
	waitpid(pid, &st2, 0);
	CHECKF("unshare", WIFEXITED(st) && WEXITSTATUS(st) == 0 && parent_has && WIFEXITED(st2) && !is_open(51),
	       "unsharing child %#x, parent still has fd 40: %d; sharing child %#x closed fd 51 for both: %d", st,
	       parent_has, st2, !is_open(51));

	int e1 = cr(10, 9, 0) == -1 ? errno : 0;
	int e2 = cr(40, 41, 1U << 3) == -1 ? errno : 0;
	CHECKF("einval", e1 == EINVAL && e2 == EINVAL && is_open(40), "first > last: %d, flags 8: %d", e1, e2);
	return check_done();
}
