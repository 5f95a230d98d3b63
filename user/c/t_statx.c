/*
 * t_statx: the file-metadata calls glibc programs make (coreutils' ls -l):
 * statx against stat (a file, a file by descriptor with AT_EMPTY_PATH, a
 * symbolic link with and without AT_SYMLINK_NOFOLLOW, invalid flags and
 * masks), newfstatat with AT_NO_AUTOMOUNT, and the reading xattr calls on
 * files without attributes (ENODATA, empty lists, name errors).
 *
 * musl 1.2.3 has no statx wrapper: the call and struct statx are spelled
 * out here (include/uapi/linux/stat.h).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "check.h"

struct kstatx_ts {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};

struct kstatx {
	uint32_t mask, blksize;
	uint64_t attributes;
	uint32_t nlink, uid, gid;
	uint16_t mode, spare0;
	uint64_t ino, size, blocks, attributes_mask;
	struct kstatx_ts atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
	uint64_t spare[14];
};

_Static_assert(sizeof(struct kstatx) == 256, "struct statx is 256 bytes");

#define K_STATX_BASIC_STATS 0x7ffu
#define K_STATX_RESERVED 0x80000000u
#define K_AT_NO_AUTOMOUNT 0x800
#define K_AT_STATX_FORCE_SYNC 0x2000
#define K_AT_STATX_DONT_SYNC 0x4000

static long kstatx(int dirfd, const char *path, int flags, unsigned mask, struct kstatx *buf)
{
	return syscall(SYS_statx, dirfd, path, flags, mask, buf);
}

static int same(const struct kstatx *x, const struct stat *st)
{
	return (x->mask & K_STATX_BASIC_STATS) == K_STATX_BASIC_STATS && x->ino == st->st_ino &&
	       x->size == (uint64_t)st->st_size && x->mode == st->st_mode && x->nlink == st->st_nlink &&
	       x->uid == st->st_uid && x->gid == st->st_gid && x->blocks == (uint64_t)st->st_blocks &&
	       x->mtime.tv_sec == st->st_mtim.tv_sec && x->mtime.tv_nsec == (uint32_t)st->st_mtim.tv_nsec &&
	       x->ctime.tv_sec == st->st_ctim.tv_sec && makedev(x->dev_major, x->dev_minor) == st->st_dev;
}

#define LINK "/tmp/t_statx-link"

static void test_statx(const char *data)
{
	struct stat st;
	struct kstatx x;
	memset(&x, 0xff, sizeof x);
	long r = kstatx(AT_FDCWD, data, 0, K_STATX_BASIC_STATS, &x);
	CHECKF("statx_matches_stat", r == 0 && stat(data, &st) == 0 && same(&x, &st) && x.size == 10000,
	       "r %ld errno %d mask %#x size %llu", r, errno, x.mask, (unsigned long long)x.size);
	int fd = open(data, O_RDONLY);
	memset(&x, 0, sizeof x);
	r = kstatx(fd, "", AT_EMPTY_PATH, K_STATX_BASIC_STATS, &x);
	CHECKF("statx_empty_path_is_the_file", r == 0 && fstat(fd, &st) == 0 && same(&x, &st), "r %ld errno %d", r,
	       errno);
	close(fd);
	unlink(LINK);
	CHECK("symlink", symlink(data, LINK) == 0);
	memset(&x, 0, sizeof x);
	r = kstatx(AT_FDCWD, LINK, AT_SYMLINK_NOFOLLOW, K_STATX_BASIC_STATS, &x);
	CHECKF("statx_nofollow_sees_the_link", r == 0 && lstat(LINK, &st) == 0 && S_ISLNK(x.mode) && same(&x, &st),
	       "r %ld mode %o", r, x.mode);
	r = kstatx(AT_FDCWD, LINK, 0, 0, &x);
	CHECKF("statx_follows_the_link", r == 0 && S_ISREG(x.mode) && x.size == 10000, "r %ld mode %o", r, x.mode);
	unlink(LINK);
	CHECK_ERRNO("statx_both_sync_bits_einval",
		    kstatx(AT_FDCWD, data, K_AT_STATX_FORCE_SYNC | K_AT_STATX_DONT_SYNC, 0, &x), EINVAL);
	CHECK_ERRNO("statx_unknown_flag_einval", kstatx(AT_FDCWD, data, 0x1, 0, &x), EINVAL);
	CHECK_ERRNO("statx_reserved_mask_einval", kstatx(AT_FDCWD, data, 0, K_STATX_RESERVED, &x), EINVAL);
	CHECK("statx_dont_sync_ok", kstatx(AT_FDCWD, data, K_AT_STATX_DONT_SYNC | K_AT_NO_AUTOMOUNT, 0, &x) == 0);
	CHECK_ERRNO("statx_empty_path_enoent", kstatx(AT_FDCWD, "", 0, 0, &x), ENOENT);
	CHECK_ERRNO("statx_missing_enoent", kstatx(AT_FDCWD, "/tmp/t_statx-missing", 0, 0, &x), ENOENT);
	CHECK_ERRNO("statx_bad_buffer_efault", kstatx(AT_FDCWD, data, 0, 0, (struct kstatx *)8), EFAULT);
	CHECK_ERRNO("statx_bad_fd_ebadf", kstatx(-5, "", AT_EMPTY_PATH, 0, &x), EBADF);
	CHECK("newfstatat_no_automount",
	      syscall(SYS_newfstatat, AT_FDCWD, data, &st, K_AT_NO_AUTOMOUNT) == 0 && st.st_size == 10000);
}

#define FILE_X "/tmp/t_statx-file"

static void test_xattr(void)
{
	int fd = open(FILE_X, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK("create", fd >= 0);
	char buf[256];
	CHECK_ERRNO("getxattr_enodata", getxattr(FILE_X, "user.t_statx", buf, sizeof buf), ENODATA);
	CHECK_ERRNO("lgetxattr_security_enodata", lgetxattr(FILE_X, "security.selinux", buf, sizeof buf), ENODATA);
	CHECK_ERRNO("fgetxattr_enodata", fgetxattr(fd, "user.t_statx", buf, sizeof buf), ENODATA);
	CHECK_ERRNO("getxattr_missing_file_enoent", getxattr("/tmp/t_statx-missing", "user.a", buf, 1), ENOENT);
	CHECK_ERRNO("getxattr_empty_name_erange", getxattr(FILE_X, "", buf, sizeof buf), ERANGE);
	char longname[300];
	memcpy(longname, "user.", 5);
	memset(longname + 5, 'n', sizeof longname - 6);
	longname[sizeof longname - 1] = 0;
	CHECK_ERRNO("getxattr_long_name_erange", getxattr(FILE_X, longname, buf, sizeof buf), ERANGE);
	CHECK_ERRNO("getxattr_no_namespace_eopnotsupp", getxattr(FILE_X, "t_statx", buf, sizeof buf), EOPNOTSUPP);
	CHECK_ERRNO("fgetxattr_bad_fd_ebadf", fgetxattr(-1, "user.a", buf, sizeof buf), EBADF);
	CHECK("listxattr_empty", listxattr(FILE_X, buf, sizeof buf) == 0 && listxattr(FILE_X, NULL, 0) == 0);
	CHECK("llistxattr_empty", llistxattr(FILE_X, buf, sizeof buf) == 0);
	CHECK("flistxattr_empty", flistxattr(fd, buf, sizeof buf) == 0);
	CHECK_ERRNO("listxattr_missing_enoent", listxattr("/tmp/t_statx-missing", buf, sizeof buf), ENOENT);
	close(fd);
	unlink(FILE_X);
}

int main(void)
{
	check_init("t_statx");
	const char *data = getenv("TESTDATA");
	test_statx(data ? data : "/etc/testdata.txt");
	test_xattr();
	return check_done();
}
