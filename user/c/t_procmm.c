/*
 * t_procmm.c: process_madvise(2) and process_mrelease(2), another
 * process's memory through a pidfd (mm/madvise.c, mm/oom_kill.c):
 * - MADV_COLD and MADV_PAGEOUT on a child's memory answer the bytes
 *   advised, and the child's data stay (remote_cold, remote_pageout,
 *   child_data_intact);
 * - advice that loses data (MADV_DONTNEED) is EINVAL for another process
 *   (remote_dontneed_einval); the caller's own pidfd takes it
 *   (self_dontneed: the page reads zero again);
 * - two ranges of which the second is unmapped: the first range's bytes
 *   (partial_progress); one unmapped range: ENOMEM (hole_enomem);
 * - flags, more than 1024 ranges: EINVAL; a descriptor that is not a
 *   pidfd: EBADF (bad_args);
 * - an unprivileged caller: on a root-owned child EACCES (mm_access), on
 *   its own child EPERM (no CAP_SYS_NICE) (unprivileged_refused);
 * - process_mrelease: a live child is EINVAL (mrelease_alive_einval);
 *   flags EINVAL; after SIGKILL it succeeds, or says ESRCH once the
 *   child's memory is already gone (mrelease_killed); a reaped child is
 *   ESRCH (mrelease_reaped_esrch); right after kill(SIGKILL) the answer is
 *   never EINVAL, 100 times over (mrelease_killed_100).
 * Skipped where the calls are missing (ENOSYS).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define NR_PIDFD_OPEN 434
#define NR_PROCESS_MADVISE 440
#define NR_PROCESS_MRELEASE 448
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define PG 4096L
#define LEN (16 * PG)

static const char *cases[] = {
	"remote_cold",  "remote_pageout",   "child_data_intact", "remote_dontneed_einval", "self_dontneed",
	"partial_progress", "hole_enomem", "bad_args", "unprivileged_refused", "mrelease_alive_einval",
	"mrelease_killed", "mrelease_reaped_esrch", "mrelease_killed_100",
};

static long pmadvise(int fd, struct iovec *iov, size_t n, int advice, unsigned flags)
{
	return syscall(NR_PROCESS_MADVISE, fd, iov, n, advice, flags);
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(NR_PIDFD_OPEN, pid, 0);
}

static int err_of(long r)
{
	return r == -1 ? errno : 0;
}

/* A child that keeps REGION stamped and reports through its exit status
 * whether the stamps survived, when told to (a byte on the pipe). */
static pid_t keeper(char *region, int *wfd)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		_exit(bad_stamp(region, LEN, 0x9a, 0) == -1 ? 0 : 1);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

static int unprivileged(void *arg)
{
	int fd = *(int *)arg;
	if (drop_root() != 0)
		return child_fail("cannot drop root: errno %d", errno);
	char *r = (char *)(long)0x10000000;
	struct iovec iov = {r, PG};
	/* mm_access: another user's process is EACCES. */
	long n = pmadvise(fd, &iov, 1, MADV_COLD, 0);
	if (n != -1 || errno != EACCES)
		return child_fail("root's child: answered %ld errno %d", n, errno);
	/* Its own user's process, without CAP_SYS_NICE: EPERM (dumpable
	 * again, as setuid made it not). */
	prctl(PR_SET_DUMPABLE, 1);
	pid_t gc = fork();
	if (gc == 0) {
		for (;;)
			pause();
	}
	int gfd = pidfd_open(gc);
	n = pmadvise(gfd, &iov, 1, MADV_COLD, 0);
	int e = errno;
	kill(gc, SIGKILL);
	waitpid(gc, NULL, 0);
	return n == -1 && e == EPERM ? 0 : child_fail("own child: answered %ld errno %d", n, e);
}

int main(void)
{
	check_init("t_procmm");
	report_init();
	char *region = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stamp_pages(region, LEN, 0x9a);
	int self = pidfd_open(getpid());
	struct iovec iov = {region, LEN};
	if (self < 0 || (pmadvise(self, &iov, 1, MADV_COLD, 0) < 0 && errno == ENOSYS)) {
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], self < 0 ? "no pidfd_open" : "no process_madvise (ENOSYS)");
		return check_done();
	}

	int wfd = -1;
	pid_t pid = keeper(region, &wfd);
	int fd = pidfd_open(pid);
	long n = pmadvise(fd, &iov, 1, MADV_COLD, 0);
	CHECKF("remote_cold", n == LEN, "answered %ld errno %d", n, errno);
	n = pmadvise(fd, &iov, 1, MADV_PAGEOUT, 0);
	CHECKF("remote_pageout", n == LEN, "answered %ld errno %d", n, errno);
	int e = err_of(pmadvise(fd, &iov, 1, MADV_DONTNEED, 0));
	CHECKF("remote_dontneed_einval", e == EINVAL, "errno %d", e);

	/* A second range that is not mapped. */
	char *gone = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, PG);
	struct iovec two[2] = {{region, 2 * PG}, {gone, PG}};
	n = pmadvise(fd, two, 2, MADV_COLD, 0);
	CHECKF("partial_progress", n == 2 * PG, "answered %ld errno %d", n, errno);
	e = err_of(pmadvise(fd, &two[1], 1, MADV_COLD, 0));
	CHECKF("hole_enomem", e == ENOMEM, "errno %d", e);

	int ef = err_of(pmadvise(fd, &iov, 1, MADV_COLD, 1));
	static struct iovec many[1025];
	for (int i = 0; i < 1025; i++)
		many[i] = (struct iovec){region, PG};
	int em = err_of(pmadvise(fd, many, 1025, MADV_COLD, 0));
	int eb = err_of(pmadvise(wfd, &iov, 1, MADV_COLD, 0));
	CHECKF("bad_args", ef == EINVAL && em == EINVAL && eb == EBADF, "flags %d, 1025 ranges %d, a pipe %d", ef, em, eb);
	if (geteuid() == 0)
		check_child("unprivileged_refused", unprivileged, &fd);
	else
		check_skip("unprivileged_refused", "not root: cannot make an unprivileged child of a root process");

	int mr = err_of(syscall(NR_PROCESS_MRELEASE, fd, 0));
	int mf = err_of(syscall(NR_PROCESS_MRELEASE, fd, 1));
	CHECKF("mrelease_alive_einval", mr == EINVAL && mf == EINVAL, "errno %d, with flags %d", mr, mf);

	char go = 1;
	int st = -1;
	if (write(wfd, &go, 1) == 1)
		waitpid(pid, &st, 0);
	CHECKF("child_data_intact", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	close(wfd);
	close(fd);

	/* process_mrelease on a killed child. */
	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	fd = pidfd_open(pid);
	kill(pid, SIGKILL);
	long k = syscall(NR_PROCESS_MRELEASE, fd, 0);
	int ke = err_of(k);
	CHECKF("mrelease_killed", k == 0 || ke == ESRCH, "answered %ld errno %d", k, ke);
	waitpid(pid, &st, 0);
	e = err_of(syscall(NR_PROCESS_MRELEASE, fd, 0));
	CHECKF("mrelease_reaped_esrch", e == ESRCH, "errno %d", e);
	close(fd);

	/* Right after kill(SIGKILL) returns the process is dying, whatever its
	 * CPU is doing with the signal meanwhile (Linux marks the group exiting
	 * as it sends): never EINVAL, 100 times over. */
	int wrong = 0, last = 0;
	for (int n = 0; n < 100; n++) {
		pid_t c = fork();
		if (c == 0) {
			for (;;)
				pause();
		}
		int cfd = pidfd_open(c);
		kill(c, SIGKILL);
		long r = syscall(NR_PROCESS_MRELEASE, cfd, 0);
		if (r != 0 && errno != ESRCH) {
			wrong++;
			last = errno;
		}
		waitpid(c, &st, 0);
		close(cfd);
	}
	CHECKF("mrelease_killed_100", wrong == 0, "%d of 100 answered errno %d", wrong, last);

	/* The caller's own memory takes any advice. */
	struct iovec one = {region, PG};
	n = pmadvise(self, &one, 1, MADV_DONTNEED, 0);
	CHECKF("self_dontneed", n == PG && region[0] == 0 && region[PG] != 0, "answered %ld errno %d, byte %d", n, errno,
	       region[0]);
	return check_done();
}
