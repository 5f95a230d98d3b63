/*
 * t_syscalls.c: everyday system calls and their error paths, through musl.
 *
 * - bad user pointers give EFAULT (write from / read into a bad buffer);
 *   an unknown syscall number gives ENOSYS;
 * - ids (getpid, getppid, gettid), uname;
 * - clocks: CLOCK_MONOTONIC never goes back, CLOCK_REALTIME is a real date
 *   (year >= 2024), nanosleep(30 ms) takes at least 30 ms, a bad clock id
 *   gives EINVAL;
 * - resource limits: get, lower and read back, soft > hard gives EINVAL;
 * - files, on $TESTDATA (1000 lines "line NNNN\n", 10000 bytes: line i
 *   starts at offset 10 * i): open, read, lseek (SET/CUR/END, negative ->
 *   EINVAL), pread (does not move the offset), fstat, read at EOF, ENOENT,
 *   ENOTDIR, EBADF on bad descriptors, ENOTTY for TCGETS on a file;
 * - writev of three buffers;
 * - rt_sigaction / rt_sigprocmask bookkeeping (no signal is delivered);
 * - credentials: as root, a child drops to uid 1000 with setresuid and can
 *   no longer setuid(0) (EPERM); skipped when not run as root.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include "check.h"

#define TESTDATA_SIZE 10000
#define KERNEL_ADDR ((void *)0xffff888000000000UL) /* Linux's direct map */
#define BAD_FD 999

static long long ns_of(const struct timespec *ts)
{
	return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* Whether BUF[0..10) is line number N of the test data. */
static int is_line(const char *buf, int n)
{
	char want[16];
	snprintf(want, sizeof want, "line %04d\n", n);
	return memcmp(buf, want, 10) == 0;
}

static void check_bad_pointers(void)
{
	/* /dev/null (1:3) accepts any buffer without reading it (so does Linux). */
	struct stat st;
	if (fstat(1, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
		check_skip("write_bad_buffer_efault", "stdout is /dev/null, which never reads the buffer");
	else
		CHECK_ERRNO("write_bad_buffer_efault", write(1, (void *)1, 10), EFAULT);
	CHECK_ERRNO("syscall_1000_enosys", syscall(1000), ENOSYS);
}

static void check_ids(void)
{
	pid_t pid = getpid();
	CHECKF("getpid", pid > 0, "getpid() = %d", (int)pid);
	CHECKF("getppid", getppid() >= 0, "getppid() = %d", (int)getppid());
	long tid = syscall(SYS_gettid);
	CHECKF("gettid_is_pid", tid == pid, "gettid() = %ld, getpid() = %d", tid, (int)pid);

	struct utsname u;
	int r = uname(&u);
	CHECKF("uname", r == 0 && u.sysname[0] != '\0' && strcmp(u.machine, "x86_64") == 0,
	       "r=%d sysname=%s machine=%s", r, u.sysname, u.machine);
}

static void check_clocks(void)
{
	struct timespec a, b;
	int bad = 0, r = clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 1000 && r == 0; i++) {
		r = clock_gettime(CLOCK_MONOTONIC, &b);
		if (ns_of(&b) < ns_of(&a) || b.tv_nsec < 0 || b.tv_nsec >= 1000000000L)
			bad++;
		a = b;
	}
	CHECKF("monotonic_never_decreases", r == 0 && bad == 0, "r=%d, %d steps backwards or bad tv_nsec", r, bad);

	struct timespec rt;
	r = clock_gettime(CLOCK_REALTIME, &rt);
	/* 1704067200 is 2024-01-01T00:00:00Z. */
	CHECKF("realtime_is_a_date", r == 0 && rt.tv_sec >= 1704067200, "r=%d tv_sec=%lld (needs an RTC)", r,
	       (long long)rt.tv_sec);

	struct timespec req = {0, 30 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = nanosleep(&req, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long slept = ns_of(&b) - ns_of(&a);
	CHECKF("nanosleep_30ms", r == 0 && slept >= 30000000LL, "r=%d, monotonic advanced %lld ns", r, slept);

	CHECK_ERRNO("clock_gettime_bad_clock_einval", clock_gettime((clockid_t)100, &a), EINVAL);
}

static void check_rlimits(void)
{
	struct rlimit rl;
	int r = getrlimit(RLIMIT_STACK, &rl);
	CHECKF("getrlimit_stack", r == 0 && rl.rlim_cur > 0, "r=%d cur=%llu", r, (unsigned long long)rl.rlim_cur);

	struct rlimit orig, lower, now;
	r = getrlimit(RLIMIT_NOFILE, &orig);
	lower.rlim_cur = orig.rlim_cur > 64 ? 64 : orig.rlim_cur / 2;
	lower.rlim_max = orig.rlim_max;
	int r2 = setrlimit(RLIMIT_NOFILE, &lower);
	int r3 = getrlimit(RLIMIT_NOFILE, &now);
	CHECKF("setrlimit_lower_nofile", r == 0 && r2 == 0 && r3 == 0 && now.rlim_cur == lower.rlim_cur &&
						 now.rlim_max == orig.rlim_max,
	       "r=%d/%d/%d, soft now %llu want %llu", r, r2, r3, (unsigned long long)now.rlim_cur,
	       (unsigned long long)lower.rlim_cur);
	r = setrlimit(RLIMIT_NOFILE, &orig);
	CHECKF("setrlimit_restore_nofile", r == 0, "errno %d", errno);

	struct rlimit inverted = {.rlim_cur = 200, .rlim_max = 100};
	CHECK_ERRNO("setrlimit_soft_above_hard_einval", setrlimit(RLIMIT_NOFILE, &inverted), EINVAL);
}

static void check_files(void)
{
	const char *path = getenv("TESTDATA");
	if (!path) {
		CHECKF("open_testdata", 0, "TESTDATA is not set");
		return;
	}
	int fd = open(path, O_RDONLY);
	if (!CHECKF("open_testdata", fd >= 0, "open(%s): %s", path, strerror(errno)))
		return;

	struct stat st;
	int r = fstat(fd, &st);
	CHECKF("fstat_size", r == 0 && st.st_size == TESTDATA_SIZE && S_ISREG(st.st_mode), "r=%d size=%lld mode=%#o",
	       r, (long long)st.st_size, (unsigned)st.st_mode);

	char buf[32];
	long n = read(fd, buf, 10);
	CHECKF("read_first_line", n == 10 && is_line(buf, 0), "read %ld: %.10s", n, buf);
	n = read(fd, buf, 10);
	CHECKF("read_advances", n == 10 && is_line(buf, 1), "read %ld: %.10s", n, buf);

	off_t off = lseek(fd, 5000, SEEK_SET);
	n = read(fd, buf, 10);
	CHECKF("lseek_set", off == 5000 && n == 10 && is_line(buf, 500), "off=%lld n=%ld", (long long)off, n);
	off = lseek(fd, 10, SEEK_CUR);
	n = read(fd, buf, 10);
	CHECKF("lseek_cur", off == 5020 && n == 10 && is_line(buf, 502), "off=%lld n=%ld", (long long)off, n);
	off = lseek(fd, 0, SEEK_END);
	CHECKF("lseek_end", off == TESTDATA_SIZE, "off=%lld", (long long)off);
	n = read(fd, buf, 10);
	CHECKF("read_at_eof_is_0", n == 0, "read returned %ld", n);
	off = lseek(fd, -10, SEEK_END);
	n = read(fd, buf, 10);
	CHECKF("lseek_end_negative", off == TESTDATA_SIZE - 10 && n == 10 && is_line(buf, 999), "off=%lld n=%ld",
	       (long long)off, n);
	off = lseek(fd, 9995, SEEK_SET);
	n = read(fd, buf, sizeof buf);
	CHECKF("read_short_at_end", off == 9995 && n == 5 && memcmp(buf, "0999\n", 5) == 0, "off=%lld n=%ld",
	       (long long)off, n);
	CHECK_ERRNO("lseek_negative_einval", lseek(fd, -1, SEEK_SET), EINVAL);

	lseek(fd, 100, SEEK_SET);
	n = pread(fd, buf, 10, 1230);
	off = lseek(fd, 0, SEEK_CUR);
	CHECKF("pread_keeps_offset", n == 10 && is_line(buf, 123) && off == 100, "n=%ld offset now %lld", n,
	       (long long)off);
	n = pread(fd, buf, 10, 20000);
	CHECKF("pread_past_eof_is_0", n == 0, "pread returned %ld", n);

	struct termios t;
	CHECK_ERRNO("ioctl_tcgets_file_enotty", ioctl(fd, TCGETS, &t), ENOTTY);
	CHECK_ERRNO("read_kernel_buffer_efault", read(fd, KERNEL_ADDR, 10), EFAULT);
	CHECK_ERRNO("write_readonly_fd_ebadf", write(fd, "x", 1), EBADF);
	CHECKF("close", close(fd) == 0, "errno %d", errno);
	CHECK_ERRNO("close_twice_ebadf", close(fd), EBADF);

	fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, 10) : -1;
	CHECKF("openat_cwd", fd >= 0 && n == 10 && is_line(buf, 0), "fd=%d n=%ld errno %d", fd, n, errno);
	if (fd >= 0)
		close(fd);

	CHECK_ERRNO("open_missing_enoent", open("/no/such/file", O_RDONLY), ENOENT);
	char below[512];
	snprintf(below, sizeof below, "%s/x", path);
	CHECK_ERRNO("open_through_file_enotdir", open(below, O_RDONLY), ENOTDIR);
	CHECK_ERRNO("read_bad_fd_ebadf", read(BAD_FD, buf, 1), EBADF);
	CHECK_ERRNO("fstat_bad_fd_ebadf", fstat(BAD_FD, &st), EBADF);
	CHECK_ERRNO("close_bad_fd_ebadf", close(BAD_FD), EBADF);
}

static void check_writev(void)
{
	static const char a[] = "(writev) part one, ", b[] = "part two, ", c[] = "part three\n";
	struct iovec iov[3] = {
		{(void *)a, sizeof a - 1},
		{(void *)b, sizeof b - 1},
		{(void *)c, sizeof c - 1},
	};
	long want = (long)(sizeof a + sizeof b + sizeof c - 3);
	long n = writev(1, iov, 3);
	CHECKF("writev_total", n == want, "writev returned %ld, want %ld", n, want);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void check_signals(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	memset(&old, 0, sizeof old);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	int r = sigaction(SIGUSR1, &sa, NULL);
	int r2 = sigaction(SIGUSR1, NULL, &old);
	CHECKF("sigaction_roundtrip", r == 0 && r2 == 0 && old.sa_handler == on_usr1, "r=%d/%d handler %s", r, r2,
	       old.sa_handler == on_usr1 ? "same" : "different");
	CHECK_ERRNO("sigaction_sigkill_einval", sigaction(SIGKILL, &sa, NULL), EINVAL);

	sigset_t set, cur;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	r = sigprocmask(SIG_BLOCK, &set, NULL);
	r2 = sigprocmask(SIG_BLOCK, NULL, &cur);
	CHECKF("sigprocmask_block", r == 0 && r2 == 0 && sigismember(&cur, SIGUSR1) == 1, "r=%d/%d member=%d", r, r2,
	       sigismember(&cur, SIGUSR1));
	r = sigprocmask(SIG_UNBLOCK, &set, NULL);
	r2 = sigprocmask(SIG_SETMASK, NULL, &cur);
	CHECKF("sigprocmask_unblock", r == 0 && r2 == 0 && sigismember(&cur, SIGUSR1) == 0, "r=%d/%d member=%d", r,
	       r2, sigismember(&cur, SIGUSR1));

	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
}

static void check_credentials(void)
{
	if (getuid() != 0) {
		check_skip("setuid_drop", "not root");
		return;
	}
	/* In a child, so that this process keeps running as root. */
	pid_t pid = fork();
	if (pid == 0) {
		int bits = 0;
		if (setresuid(1000, 1000, 1000) != 0)
			bits |= 1;
		if (getuid() != 1000 || geteuid() != 1000)
			bits |= 2;
		errno = 0;
		if (!(setuid(0) == -1 && errno == EPERM))
			bits |= 4;
		_exit(bits);
	}
	int st = 0;
	pid_t w = pid > 0 ? waitpid(pid, &st, 0) : -1;
	CHECKF("setuid_drop", w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "fork/wait %d/%d status %#x (exit bits: 1 setresuid failed, 2 ids not 1000, 4 setuid(0) not EPERM)",
	       (int)pid, (int)w, st);
	CHECK("parent_still_root", getuid() == 0 && geteuid() == 0);
}

int main(void)
{
	check_init("t_syscalls");
	check_bad_pointers();
	check_ids();
	check_clocks();
	check_rlimits();
	check_files();
	check_writev();
	check_signals();
	check_credentials();
	return check_done();
}
