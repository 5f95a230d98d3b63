/*
 * t_fsmore.c: dup3, fchdir, preadv/pwritev and their v2 forms,
 * copy_file_range: data and offsets as Linux leaves them, and the errors.
 * Runs on the host Linux and in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"

#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif

static char dir[64], a[96], b[96];

static long cfr(int in, off_t *oi, int out, off_t *oo, size_t len, unsigned flags)
{
	return syscall(SYS_copy_file_range, in, oi, out, oo, len, flags);
}

static long pv2(long nr, int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return syscall(nr, fd, iov, cnt, (long)off, (long)((unsigned long long)off >> 32), flags);
}

static void test_dup3(void)
{
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int r = dup3(fd, 50, O_CLOEXEC);
	CHECK("dup3_cloexec", r == 50 && fcntl(50, F_GETFD) == FD_CLOEXEC);
	r = dup3(fd, 51, 0);
	CHECK("dup3_plain", r == 51 && fcntl(51, F_GETFD) == 0);
	CHECK_ERRNO("dup3_same_fd_einval", dup3(fd, fd, 0), EINVAL);
	/* The raw call: musl's dup3 without O_CLOEXEC is dup2. */
	CHECK_ERRNO("dup3_bad_flags_einval", syscall(SYS_dup3, fd, 52, O_NONBLOCK), EINVAL);
	CHECK_ERRNO("dup3_bad_fd_ebadf", dup3(999, 52, 0), EBADF);
	close(50);
	close(51);
	close(fd);
}

static void test_fchdir(void)
{
	char here[256], there[256];
	getcwd(here, sizeof(here));
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK("fchdir_moves", d >= 0 && fchdir(d) == 0 && getcwd(there, sizeof(there)) && strcmp(there, dir) == 0);
	chdir(here);
	int f = open(a, O_RDONLY);
	CHECK_ERRNO("fchdir_file_enotdir", fchdir(f), ENOTDIR);
	CHECK_ERRNO("fchdir_bad_fd_ebadf", fchdir(999), EBADF);
	close(f);
	close(d);
}

static void test_preadv(void)
{
	int fd = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char x[4] = "abcd", y[6] = "efghij";
	struct iovec w[2] = { { x, 4 }, { y, 6 } };
	CHECK("pwritev_writes", pwritev(fd, w, 2, 100) == 10);
	CHECK("pwritev_keeps_offset", lseek(fd, 0, SEEK_CUR) == 0);
	char r1[3] = { 0 }, r2[7] = { 0 };
	struct iovec r[2] = { { r1, 3 }, { r2, 7 } };
	CHECK("preadv_reads", preadv(fd, r, 2, 100) == 10 && memcmp(r1, "abc", 3) == 0 && memcmp(r2, "defghij", 7) == 0);
	CHECK("preadv_keeps_offset", lseek(fd, 0, SEEK_CUR) == 0);
	CHECK("preadv_at_end_short", preadv(fd, r, 2, 105) == 5);
	CHECK_ERRNO("preadv_negative_einval", preadv(fd, r, 2, -1), EINVAL);
	int p[2];
	pipe(p);
	CHECK_ERRNO("preadv_pipe_espipe", preadv(p[0], r, 2, 0), ESPIPE);
	close(p[0]);
	close(p[1]);

	/* v2: -1 is the file offset, which then moves. */
	lseek(fd, 100, SEEK_SET);
	memset(r1, 0, 3);
	long n = pv2(SYS_preadv2, fd, r, 1, -1, 0);
	CHECK("preadv2_minus_one_uses_offset", n == 3 && memcmp(r1, "abc", 3) == 0 && lseek(fd, 0, SEEK_CUR) == 103);
	n = pv2(SYS_preadv2, fd, r, 1, 104, 0);
	CHECK("preadv2_at_offset", n == 3 && memcmp(r1, "efg", 3) == 0 && lseek(fd, 0, SEEK_CUR) == 103);
	errno = 0;
	n = pv2(SYS_preadv2, fd, r, 1, 0, 0x1000);
	CHECKF("preadv2_bad_flags_eopnotsupp", n == -1 && errno == EOPNOTSUPP, "n %ld errno %d", n, errno);
	struct iovec z = { "Z", 1 };
	n = pv2(SYS_pwritev2, fd, &z, 1, 0, RWF_APPEND);
	struct stat st;
	fstat(fd, &st);
	char last = 0;
	pread(fd, &last, 1, st.st_size - 1);
	CHECKF("pwritev2_append", n == 1 && st.st_size == 111 && last == 'Z', "n %ld size %lld", n, (long long)st.st_size);
	close(fd);
}

static void test_copy(void)
{
	int in = open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int out = open(b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	static char data[200000], got[200000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 13 + (i >> 8));
	write(in, data, sizeof(data));
	off_t oi = 1000, oo = 10;
	long n = cfr(in, &oi, out, &oo, 150000, 0);
	CHECKF("copy_range_with_offsets", n == 150000 && oi == 151000 && oo == 150010, "n %ld oi %lld oo %lld", n,
	       (long long)oi, (long long)oo);
	CHECK("copy_range_data", pread(out, got, 150000, 10) == 150000 && memcmp(got, data + 1000, 150000) == 0);
	CHECK("copy_keeps_file_offsets", lseek(in, 0, SEEK_CUR) == sizeof(data) && lseek(out, 0, SEEK_CUR) == 0);
	/* Without pointers the files' offsets move. */
	lseek(in, 199990, SEEK_SET);
	lseek(out, 0, SEEK_SET);
	n = cfr(in, NULL, out, NULL, 100, 0);
	CHECK("copy_stops_at_eof", n == 10 && lseek(in, 0, SEEK_CUR) == 200000 && lseek(out, 0, SEEK_CUR) == 10);
	CHECK("copy_at_eof_zero", cfr(in, NULL, out, NULL, 100, 0) == 0);
	oi = 0;
	oo = 0;
	CHECK_ERRNO("copy_flags_einval", cfr(in, &oi, out, &oo, 10, 1), EINVAL);
	oi = 0;
	oo = 5;
	CHECK_ERRNO("copy_same_file_overlap_einval", cfr(in, &oi, in, &oo, 10, 0), EINVAL);
	oi = 0;
	oo = 100;
	CHECK("copy_same_file_apart", cfr(in, &oi, in, &oo, 10, 0) == 10);
	oi = -100;
	CHECK_ERRNO("copy_negative_offset_einval", cfr(in, &oi, out, NULL, 10, 0), EINVAL);
	/* -1 + 10 wraps as an unsigned sum: Linux says EOVERFLOW first. */
	oi = -1;
	CHECK_ERRNO("copy_wrapping_offset_eoverflow", cfr(in, &oi, out, NULL, 10, 0), EOVERFLOW);
	/* Past the input's end the count is 0 first: nothing to overflow. */
	oi = LLONG_MAX - 5;
	CHECK("copy_from_past_max_zero", cfr(in, &oi, out, NULL, 10, 0) == 0);
	oi = 0;
	off_t big = LLONG_MAX - 5;
	CHECK_ERRNO("copy_to_past_max_efbig", cfr(in, &oi, out, &big, 10, 0), EFBIG);
	int ro = open(b, O_RDONLY);
	CHECK_ERRNO("copy_to_readonly_ebadf", cfr(in, NULL, ro, NULL, 10, 0), EBADF);
	int ap = open(b, O_WRONLY | O_APPEND);
	CHECK_ERRNO("copy_to_append_ebadf", cfr(in, NULL, ap, NULL, 10, 0), EBADF);
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_ERRNO("copy_from_dir_eisdir", cfr(d, NULL, out, NULL, 10, 0), EISDIR);
	int p[2];
	pipe(p);
	CHECK_ERRNO("copy_to_pipe_einval", cfr(in, NULL, p[1], NULL, 10, 0), EINVAL);
	close(p[0]);
	close(p[1]);
	close(d);
	close(ap);
	close(ro);
	close(in);
	close(out);
}

int main(void)
{
	check_init("t_fsmore");
	snprintf(dir, sizeof(dir), "/tmp/t_fsmore.%d", getpid());
	mkdir(dir, 0700);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	test_dup3();
	test_fchdir();
	test_preadv();
	test_copy();
	unlink(a);
	unlink(b);
	rmdir(dir);
	return check_done();
}
