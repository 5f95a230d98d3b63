/*
 * t_limits.c: extreme but legal numbers and sizes from user space; the
 * kernel answers as Linux does and keeps running (issue 11).
 *
 * - big counts with small buffers: write(pipe, 1 page + unmapped, 1 GiB)
 *   and writev with an unmapped second vector give the mapped prefix;
 *   /dev/null takes the whole count without reading the buffer;
 *   getrandom(1 GiB) into one page gives that page; an unmapped buffer
 *   gives EFAULT;
 * - mincore over a 64 GiB PROT_NONE reservation with a one-page vector
 *   is EFAULT; over 1 GiB in several batches it reports the one touched
 *   page at the right index;
 * - RLIMIT_NOFILE stays within fs.nr_open (EPERM above it, even as root,
 *   and for RLIM_INFINITY); dup2 at or above the limit is EBADF; with the
 *   limit at nr_open, dup2(0, nr_open - 1) works (a sparse fd table) and
 *   F_DUPFD from nr_open - 1 finds it taken (EMFILE); F_DUPFD with a
 *   negative or too large argument is EINVAL;
 * - F_GETPIPE_SZ / F_SETPIPE_SZ: 64 KiB by default, rounding up to a power
 *   of two of pages, EBUSY below the pages in use, EPERM above
 *   fs.pipe-max-size for an unprivileged user (root may), EINVAL past
 *   2 GiB, EBADF on a non-pipe, the capacity honoured by a non-blocking
 *   write; past fs.pipe-user-pages-soft a user's new pipe gets 2 pages and
 *   may not grow, and closing pipes gives the pages back;
 * - fcntl(F_SETFL, O_NONBLOCK) on a pipe makes read EAGAIN, seen through
 *   a dup too; F_GETFL reports it; clearing it works; on a terminal with
 *   nothing typed a read is EAGAIN too (skipped when stdin is no tty);
 * - nanosleep and clock_nanosleep(TIMER_ABSTIME) to the end of time sleep
 *   until killed (the parent survives); a bad tv_nsec is EINVAL;
 * - file offsets near INT64_MAX: lseek there works, read there and
 *   pread64 whose end passes INT64_MAX are EINVAL, lseek past it EINVAL;
 * - the count of getdents64 and the size of readlink are C ints: 1 << 32
 *   is 0 (EINVAL).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

#define PAGE 4096UL
#define NOBODY 65534

/* One readable, writable page followed by an unmapped one, low enough
 * that a 1 GiB range from it stays below the end of user space (access_ok
 * would refuse it whole otherwise: EFAULT). */
static char *page_then_hole(void)
{
	char *p = mmap((void *)(8UL << 30), 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap(p + PAGE, PAGE);
	memset(p, 'x', PAGE);
	return p;
}

static long nr_open(void)
{
	long v = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 1048576;
		fclose(f);
	}
	return v;
}

/* Whether we hold CAP_SYS_RESOURCE (root here; a container's root may
 * not): a child tries to raise its hard RLIMIT_NOFILE. */
static int has_sys_resource(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_max >= (rlim_t)nr_open())
			rl.rlim_max = (rlim_t)nr_open() - 1;
		rl.rlim_cur = rl.rlim_max = rl.rlim_max + 1;
		_exit(setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : 1);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void check_big_counts(void)
{
	char *p = page_then_hole();
	int fds[2];
	/* Non-blocking: a kernel that wrote nothing fails the case, not hangs. */
	if (!p || pipe2(fds, O_NONBLOCK) != 0 || (uintptr_t)p + (1UL << 30) > 0x7f0000000000UL) {
		CHECK("big_counts_setup", 0);
		return;
	}
	errno = 0;
	long n = write(fds[1], p, 1UL << 30);
	CHECKF("write_1g_from_one_page_gives_the_page", n == (long)PAGE, "write returned %ld errno %d", n, errno);
	char *drain = malloc(PAGE);
	CHECK("pipe_holds_the_page", read(fds[0], drain, PAGE) == (long)PAGE && drain[0] == 'x');
	CHECK_ERRNO("write_1g_from_unmapped_efault", write(fds[1], p + PAGE, 1UL << 30), EFAULT);

	struct iovec iov[2] = { { p, PAGE }, { p + PAGE, 2 * PAGE } };
	n = writev(fds[1], iov, 2);
	CHECKF("writev_unmapped_second_vector_gives_the_first", n == (long)PAGE, "writev returned %ld errno %d", n, errno);
	read(fds[0], drain, PAGE);
	CHECK_ERRNO("writev_unmapped_first_vector_efault", writev(fds[1], iov + 1, 1), EFAULT);

	/* /dev/null takes any count without reading the buffer. */
	int null = open("/dev/null", O_WRONLY);
	n = write(null, p + PAGE, 1UL << 30);
	CHECKF("write_1g_unmapped_to_dev_null_whole_count", n == 1L << 30, "write returned %ld errno %d", n, errno);
	n = writev(null, iov, 2);
	CHECKF("writev_to_dev_null_whole_count", n == (long)(3 * PAGE), "writev returned %ld errno %d", n, errno);
	close(null);

	n = syscall(SYS_getrandom, p, 1UL << 30, 0);
	CHECKF("getrandom_1g_into_one_page_gives_the_page", n == (long)PAGE, "getrandom returned %ld errno %d", n, errno);
	CHECK_ERRNO("getrandom_unmapped_efault", syscall(SYS_getrandom, p + PAGE, 1UL << 30, 0), EFAULT);
	CHECK_ERRNO("getrandom_bad_flags_einval", syscall(SYS_getrandom, p, 8, 6), EINVAL);
	close(fds[0]);
	close(fds[1]);
	free(drain);
	munmap(p, PAGE);
}

static void check_mincore(void)
{
	char *vec = page_then_hole();
	size_t huge = 64UL << 30;
	char *r = mmap(NULL, huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!vec || r == MAP_FAILED) {
		check_skip("mincore_64g_small_vector_efault", "no 64 GiB reservation");
	} else {
		CHECK_ERRNO("mincore_64g_small_vector_efault", mincore(r, huge, (unsigned char *)vec), EFAULT);
		munmap(r, huge);
	}
	/* 1 GiB: 262144 pages, several of the kernel's batches. */
	size_t len = 1UL << 30, pages = len / PAGE, touched = (300UL << 20) / PAGE;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned char *v = malloc(pages);
	if (m == MAP_FAILED || !v) {
		CHECK("mincore_1g_setup", 0);
		return;
	}
	m[touched * PAGE] = 1;
	memset(v, 0xff, pages);
	int rc = mincore(m, len, v);
	size_t ones = 0, at = 0;
	for (size_t i = 0; i < pages; i++)
		if (v[i] & 1) {
			ones++;
			at = i;
		}
	CHECKF("mincore_1g_reports_the_touched_page", rc == 0 && ones == 1 && at == touched, "rc %d, %zu resident, last at %zu (want %zu)", rc, ones, at, touched);
	munmap(m, len);
	free(v);
	munmap(vec, PAGE);
}

static void check_nofile(void)
{
	long max = nr_open();
	struct rlimit old, rl;
	getrlimit(RLIMIT_NOFILE, &old);
	rl.rlim_cur = old.rlim_cur;
	rl.rlim_max = (rlim_t)max + 1;
	CHECK_ERRNO("setrlimit_nofile_above_nr_open_eperm", setrlimit(RLIMIT_NOFILE, &rl), EPERM);
	rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
	CHECK_ERRNO("setrlimit_nofile_infinity_eperm", setrlimit(RLIMIT_NOFILE, &rl), EPERM);
	CHECK_ERRNO("dup2_to_1m_ebadf", dup2(0, 1 << 20), EBADF);
	CHECK_ERRNO("dup2_at_limit_ebadf", dup2(0, (int)old.rlim_cur), EBADF);
	CHECK_ERRNO("f_dupfd_at_limit_einval", fcntl(0, F_DUPFD, (int)old.rlim_cur), EINVAL);
	CHECK_ERRNO("f_dupfd_negative_einval", fcntl(0, F_DUPFD, -1), EINVAL);
	int top = (int)old.rlim_cur - 1;
	CHECK("f_dupfd_last_slot", fcntl(0, F_DUPFD, top) == top);
	CHECK_ERRNO("f_dupfd_last_slot_taken_emfile", fcntl(0, F_DUPFD, top), EMFILE);
	close(top);

	if (!has_sys_resource()) {
		check_skip("dup2_to_nr_open_minus_one", "no CAP_SYS_RESOURCE to raise the limit");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(10);
		if (dup2(0, (int)max - 1) != (int)max - 1)
			_exit(11);
		if (fcntl(0, F_DUPFD, (int)max - 1) != -1 || errno != EMFILE)
			_exit(12);
		if (dup2(0, (int)max) != -1 || errno != EBADF)
			_exit(13);
		if (close((int)max - 1) != 0 || fcntl(0, F_DUPFD, (int)max - 1) != (int)max - 1)
			_exit(14);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("dup2_to_nr_open_minus_one", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x (exit code names the step)", st);
}

static void check_pipe_size(void)
{
	int fds[2];
	if (pipe2(fds, O_NONBLOCK) != 0) {
		CHECK("pipe_size_setup", 0);
		return;
	}
	CHECK("getpipe_sz_default_64k", fcntl(fds[0], F_GETPIPE_SZ) == 65536);
	CHECK("setpipe_sz_1_is_a_page", fcntl(fds[1], F_SETPIPE_SZ, 1) == 4096 && fcntl(fds[0], F_GETPIPE_SZ) == 4096);
	CHECK("setpipe_sz_rounds_to_power_of_two", fcntl(fds[1], F_SETPIPE_SZ, 5000) == 8192);
	CHECK_ERRNO("setpipe_sz_past_2g_einval", fcntl(fds[1], F_SETPIPE_SZ, 0x80000001U), EINVAL);
	CHECK("setpipe_sz_64k", fcntl(fds[1], F_SETPIPE_SZ, 65536) == 65536);
	char buf[3 * 4096];
	memset(buf, 'p', sizeof buf);
	CHECK("write_three_pages", write(fds[1], buf, sizeof buf) == (long)sizeof buf);
	CHECK_ERRNO("setpipe_sz_below_content_ebusy", fcntl(fds[1], F_SETPIPE_SZ, 8192), EBUSY);
	CHECK("setpipe_sz_to_content_ok", fcntl(fds[1], F_SETPIPE_SZ, 16384) == 16384);
	CHECK("contents_survive_resize", read(fds[0], buf, sizeof buf) == (long)sizeof buf && buf[4095] == 'p');
	/* The capacity is what a non-blocking write gets in. */
	fcntl(fds[1], F_SETPIPE_SZ, 4096);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	long n = write(fds[1], buf, sizeof buf);
	CHECKF("nonblocking_write_fills_one_page", n == 4096, "write returned %ld", n);
	CHECK_ERRNO("nonblocking_write_full_eagain", write(fds[1], buf, 1), EAGAIN);
	int file = open(getenv("TESTDATA") ? getenv("TESTDATA") : "/etc/testdata.txt", O_RDONLY);
	CHECK_ERRNO("setpipe_sz_on_a_file_ebadf", fcntl(file, F_SETPIPE_SZ, 4096), EBADF);
	close(file);

	/* Above pipe-max-size: EPERM unprivileged, allowed for root. */
	if (has_sys_resource())
		CHECK("root_may_exceed_pipe_max_size", fcntl(fds[0], F_SETPIPE_SZ, 2 << 20) == 2 << 20);
	else
		check_skip("root_may_exceed_pipe_max_size", "no CAP_SYS_RESOURCE");
	pid_t pid = fork();
	if (pid == 0) {
		if (getuid() == 0 && (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0))
			_exit(20);
		int q[2];
		if (pipe(q) != 0)
			_exit(21);
		if (fcntl(q[0], F_SETPIPE_SZ, 1 << 20) != 1 << 20)
			_exit(22);
		if (fcntl(q[0], F_SETPIPE_SZ, 2 << 20) != -1 || errno != EPERM)
			_exit(23);
		if (fcntl(q[0], F_SETPIPE_SZ, 4096) != 4096)
			_exit(24);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("unprivileged_pipe_max_size_eperm", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x (exit code names the step)", st);
	close(fds[0]);
	close(fds[1]);
}

/* Past pipe-user-pages-soft (16384 pages = 1024 default pipes), a new pipe
 * of that user gets 2 pages and cannot grow; closing gives pages back. */
static void check_pipe_user_pages(void)
{
	if (getuid() != 0) {
		check_skip("pipe_user_pages_soft_limit", "not root (needs a fresh uid)");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 4096, 4096 };
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(30);
		if (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(31);
		static int fds[1025][2];
		for (int i = 0; i < 1024; i++)
			if (pipe(fds[i]) != 0)
				_exit(32);
		if (fcntl(fds[1023][0], F_GETPIPE_SZ) != 65536)
			_exit(33);
		if (pipe(fds[1024]) != 0)
			_exit(34);
		if (fcntl(fds[1024][0], F_GETPIPE_SZ) != 8192)
			_exit(35);
		if (fcntl(fds[1024][0], F_SETPIPE_SZ, 65536) != -1 || errno != EPERM)
			_exit(36);
		if (fcntl(fds[1024][0], F_SETPIPE_SZ, 4096) != 4096)
			_exit(37);
		for (int i = 0; i < 1025; i++) {
			close(fds[i][0]);
			close(fds[i][1]);
		}
		int q[2];
		if (pipe(q) != 0 || fcntl(q[0], F_GETPIPE_SZ) != 65536)
			_exit(38);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("pipe_user_pages_soft_limit", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x (exit code names the step)", st);
}

static void check_setfl_nonblock(void)
{
	int fds[2];
	char c;
	if (pipe(fds) != 0) {
		CHECK("setfl_setup", 0);
		return;
	}
	CHECK("getfl_blocking_at_first", (fcntl(fds[0], F_GETFL) & O_NONBLOCK) == 0);
	CHECK("setfl_nonblock", fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
	CHECK("getfl_reports_nonblock", (fcntl(fds[0], F_GETFL) & (O_NONBLOCK | O_ACCMODE)) == (O_NONBLOCK | O_RDONLY));
	CHECK_ERRNO("read_empty_after_setfl_eagain", read(fds[0], &c, 1), EAGAIN);
	int d = dup(fds[0]);
	CHECK_ERRNO("dup_shares_nonblock", read(d, &c, 1), EAGAIN);
	CHECK("setfl_clear", fcntl(d, F_SETFL, 0) == 0 && (fcntl(fds[0], F_GETFL) & O_NONBLOCK) == 0);
	write(fds[1], "z", 1);
	CHECK("read_after_clear", read(fds[0], &c, 1) == 1 && c == 'z');
	close(d);
	close(fds[0]);
	close(fds[1]);
}

/* On a terminal, F_SETFL O_NONBLOCK makes a read with nothing typed
 * EAGAIN. The read runs in a child the parent kills after 2 s, so a kernel
 * that ignores the flag fails the case instead of hanging. */
static void check_tty_nonblock(void)
{
	if (!isatty(0)) {
		check_skip("tty_read_nonblock_eagain", "stdin is not a terminal");
		return;
	}
	int fl = fcntl(0, F_GETFL);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		if (fcntl(0, F_SETFL, fl | O_NONBLOCK) != 0)
			_exit(2);
		long n = read(0, &c, 1);
		_exit(n == -1 && errno == EAGAIN ? 0 : 1);
	}
	int st = -1, waited = 0;
	while (waitpid(pid, &st, WNOHANG) == 0 && waited < 200) {
		struct timespec t = { 0, 10 * 1000 * 1000 };
		nanosleep(&t, NULL);
		waited++;
	}
	if (waited >= 200) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	/* The child shared our open file: put the flags back. */
	fcntl(0, F_SETFL, fl);
	CHECKF("tty_read_nonblock_eagain", waited < 200 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s, status %#x", waited >= 200 ? "read blocked" : "read returned", st);
}

enum sleeper { NANOSLEEP, ABS_REALTIME, ABS_MONOTONIC };

/* A child sleeping until the end of time is still asleep after 100 ms and
 * dies by SIGKILL; the parent (and the kernel) carry on. */
static void check_sleep_forever(const char *name, enum sleeper how)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = { INT64_MAX, 999999999 };
		if (how == NANOSLEEP)
			nanosleep(&ts, &ts);
		else
			clock_nanosleep(how == ABS_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		_exit(1);
	}
	struct timespec t = { 0, 100 * 1000 * 1000 };
	nanosleep(&t, NULL);
	int st = -1;
	pid_t early = waitpid(pid, &st, WNOHANG);
	kill(pid, SIGKILL);
	if (early == 0)
		waitpid(pid, &st, 0);
	CHECKF(name, early == 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child %s, status %#x", early ? "returned early" : "slept", st);
}

static void check_offsets(void)
{
	int fd = open(getenv("TESTDATA") ? getenv("TESTDATA") : "/etc/testdata.txt", O_RDONLY);
	char buf[100];
	if (fd >= 0 && lseek(fd, INT64_MAX, SEEK_SET) < 0 && errno == EINVAL) {
		/* A host file system with a smaller s_maxbytes (ext4): use
		 * shmem, whose largest offset is INT64_MAX as in initramfs. */
		close(fd);
		fd = memfd_create("t_limits", 0);
		if (fd >= 0)
			write(fd, "0123456789", 10);
	}
	if (fd < 0) {
		CHECK("offsets_setup", 0);
		return;
	}
	CHECK("lseek_to_int64_max", lseek(fd, INT64_MAX, SEEK_SET) == INT64_MAX);
	CHECK("read_0_at_int64_max", read(fd, buf, 0) == 0);
	CHECK_ERRNO("read_at_int64_max_einval", read(fd, buf, sizeof buf), EINVAL);
	CHECK_ERRNO("lseek_past_int64_max_einval", lseek(fd, 1, SEEK_CUR), EINVAL);
	CHECK_ERRNO("lseek_end_past_int64_max_einval", lseek(fd, INT64_MAX, SEEK_END), EINVAL);
	CHECK_ERRNO("pread_ending_past_int64_max_einval", pread(fd, buf, sizeof buf, INT64_MAX - 1), EINVAL);
	CHECK("pread_ending_at_int64_max_eof", pread(fd, buf, sizeof buf, INT64_MAX - (off_t)sizeof buf) == 0);
	CHECK_ERRNO("pread_negative_einval", pread(fd, buf, 1, -1), EINVAL);
	close(fd);

	int dir = open("/", O_RDONLY | O_DIRECTORY);
	char *d = malloc(PAGE);
	CHECK_ERRNO("getdents64_count_is_uint_einval", syscall(SYS_getdents64, dir, d, 1UL << 32), EINVAL);
	CHECK("getdents64_normal", syscall(SYS_getdents64, dir, d, PAGE) > 0);
	close(dir);
	CHECK_ERRNO("readlink_size_is_int_einval", syscall(SYS_readlink, "/proc/self/exe", d, 1UL << 32), EINVAL);
	CHECK("readlink_normal", syscall(SYS_readlink, "/proc/self/exe", d, PAGE) > 0);
	free(d);
	struct timespec bad = { 0, 1000000000 };
	CHECK_ERRNO("nanosleep_bad_nsec_einval", nanosleep(&bad, NULL), EINVAL);
}

/* Read or write a /proc/sys value; -1 on failure. */
static long sysctl_get(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int sysctl_set(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	int ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	int e = errno;
	close(fd);
	errno = e;
	return ok ? 0 : -1;
}

/* /proc/sys/fs: Linux's defaults, its validation, and the hard limit on
 * pipe pages per user (ENFILE for an unprivileged user past it). */
static void check_fs_sysctls(void)
{
	CHECKF("sysctl_nr_open_default", sysctl_get("/proc/sys/fs/nr_open") == 1048576, "%ld",
	       sysctl_get("/proc/sys/fs/nr_open"));
	CHECKF("sysctl_pipe_max_size_default", sysctl_get("/proc/sys/fs/pipe-max-size") == 1048576, "%ld",
	       sysctl_get("/proc/sys/fs/pipe-max-size"));
	CHECKF("sysctl_pipe_user_pages_soft_default", sysctl_get("/proc/sys/fs/pipe-user-pages-soft") == 16384, "%ld",
	       sysctl_get("/proc/sys/fs/pipe-user-pages-soft"));
	long hard = sysctl_get("/proc/sys/fs/pipe-user-pages-hard");
	if (getuid() != 0 || sysctl_set("/proc/sys/fs/pipe-user-pages-hard", "0") != 0) {
		check_skip("sysctl_nr_open_below_64_einval", "/proc/sys/fs not writable here");
		check_skip("pipe_user_pages_hard_enfile", "/proc/sys/fs not writable here");
		return;
	}
	errno = 0;
	CHECKF("sysctl_nr_open_below_64_einval", sysctl_set("/proc/sys/fs/nr_open", "63") == -1 && errno == EINVAL,
	       "errno %d, value now %ld", errno, sysctl_get("/proc/sys/fs/nr_open"));
	sysctl_set("/proc/sys/fs/pipe-user-pages-hard", "1");
	pid_t pid = fork();
	if (pid == 0) {
		if (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(31);
		int p[2];
		errno = 0;
		_exit(pipe(p) == -1 && errno == ENFILE ? 0 : 32);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	int p[2];
	int root_ok = pipe(p) == 0;
	if (root_ok) {
		close(p[0]);
		close(p[1]);
	}
	char text[32];
	snprintf(text, sizeof text, "%ld", hard < 0 ? 0 : hard);
	sysctl_set("/proc/sys/fs/pipe-user-pages-hard", text);
	CHECKF("pipe_user_pages_hard_enfile", WIFEXITED(st) && WEXITSTATUS(st) == 0 && root_ok,
	       "child status %#x, root's pipe %s", st, root_ok ? "made" : "refused");
}

/* A process with as many areas as max_map_count allows: its maps and
 * smaps (some 3 MiB and 45 MiB of text) are read like any file, one
 * record at a time; the kernel once built smaps whole and panicked. */
static void check_proc_many_areas(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		long n = 70000;
		char *p = mmap(NULL, (size_t)n * 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			_exit(40);
		long made = 0;
		while (made < n && mprotect(p + made * 2 * 4096, 4096, PROT_NONE) == 0)
			made++;
		if (made < 30000 || errno != ENOMEM)
			_exit(41);
		static char buf[65536];
		int fd = open("/proc/self/maps", O_RDONLY);
		long lines = 0, r;
		while ((r = read(fd, buf, sizeof buf)) > 0)
			for (long i = 0; i < r; i++)
				lines += buf[i] == '\n';
		close(fd);
		if (r != 0 || lines < 2 * made)
			_exit(42);
		/* The first MiB of smaps, and its first record whole. */
		fd = open("/proc/self/smaps", O_RDONLY);
		long total = 0;
		while (total < (1 << 20) && (r = read(fd, buf, sizeof buf)) > 0)
			total += r;
		close(fd);
		if (total < (1 << 20))
			_exit(43);
		_exit(0);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	CHECKF("proc_maps_smaps_of_max_map_count_areas", WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "child status %#x (exit code names the step)", st);
}

int main(void)
{
	check_init("t_limits");
	check_big_counts();
	check_mincore();
	check_nofile();
	check_pipe_size();
	check_pipe_user_pages();
	check_fs_sysctls();
	check_proc_many_areas();
	check_setfl_nonblock();
	check_tty_nonblock();
	check_sleep_forever("nanosleep_int64_max_until_killed", NANOSLEEP);
	check_sleep_forever("clock_nanosleep_abs_realtime_until_killed", ABS_REALTIME);
	check_sleep_forever("clock_nanosleep_abs_monotonic_until_killed", ABS_MONOTONIC);
	check_offsets();
	return check_done();
}
