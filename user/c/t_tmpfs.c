/*
 * t_tmpfs.c: writable files as Linux has them, on /tmp and /dev/shm
 * (mm/shmem.c and fs/namei.c in the kernel; on the host /tmp may be any
 * local file system, /dev/shm is tmpfs).
 *
 * - open with O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_TMPFILE, the umask;
 *   write/read/pwrite/pread/writev/readv and lseek keep the data; holes
 *   read as zeros and SEEK_DATA/SEEK_HOLE find them; truncate shrinks and
 *   grows; fallocate mode 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE;
 * - a file unlinked while open stays usable through its descriptor and
 *   its pages go (Shmem in /proc/meminfo back to where it was) at close;
 * - mkdir/rmdir, unlink/unlinkat, rename/renameat2 (NOREPLACE, EXCHANGE),
 *   link, symlink/readlink, chmod, chown, utimensat, statfs, fsync,
 *   getdents64, access, and the errnos Linux gives for each misuse;
 * - path walks follow symbolic links (ELOOP for a loop) and need search
 *   permission; as a non-root user the permission bits and the sticky bit
 *   hold (a forked child after setuid);
 * - MAP_PRIVATE mappings read the file and keep their writes; MAP_SHARED
 *   ones share the file's pages both ways; a program copied there runs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"
#include "mmtest.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#define FALLOC_FL_PUNCH_HOLE 2
#endif
#define TMPFS_MAGIC_ 0x01021994

static char D[64];  /* the test directory under /tmp */
static char SHM[64]; /* a file under /dev/shm */

static const char *p(const char *name)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", D, name);
	return buf[i];
}

static int renameat2_(const char *a, const char *b, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

static int mkfile(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, strlen(data));
	close(fd);
	return n == (ssize_t)strlen(data) ? 0 : -1;
}

static int contents_are(const char *path, const char *want)
{
	char buf[256] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

static void check_open_flags(void)
{
	int fd = open(p("a"), O_CREAT | O_EXCL | O_RDWR, 0644);
	CHECKF("creat_excl_makes_file", fd >= 0, "errno %d", errno);
	CHECK_ERRNO("creat_excl_existing_eexist", open(p("a"), O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
	struct stat st;
	CHECKF("new_file_mode_and_owner",
	       fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 && st.st_uid == geteuid() &&
		       st.st_nlink == 1 && st.st_size == 0,
	       "mode %o uid %d nlink %ld", st.st_mode, st.st_uid, (long)st.st_nlink);
	const char *msg = "hello world";
	ssize_t w = write(fd, msg, 11);
	off_t o = lseek(fd, 0, SEEK_SET);
	char buf[32] = {0};
	ssize_t r = read(fd, buf, sizeof buf);
	CHECKF("write_then_read_back", w == 11 && o == 0 && r == 11 && memcmp(buf, msg, 11) == 0, "w %zd r %zd", w, r);
	CHECKF("fstat_size_after_write", fstat(fd, &st) == 0 && st.st_size == 11, "size %ld", (long)st.st_size);
	r = read(fd, buf, sizeof buf);
	CHECKF("read_at_end_is_zero", r == 0, "r %zd", r);
	CHECKF("pwrite_past_end_extends", pwrite(fd, "XY", 2, 20) == 2 && fstat(fd, &st) == 0 && st.st_size == 22,
	       "size %ld", (long)st.st_size);
	memset(buf, 'q', sizeof buf);
	r = pread(fd, buf, sizeof buf, 0);
	int gap_zero = 1;
	for (int i = 11; i < 20; i++)
		gap_zero &= buf[i] == 0;
	CHECKF("pread_gap_reads_zero", r == 22 && gap_zero && buf[20] == 'X', "r %zd", r);
	CHECKF("lseek_end", lseek(fd, 0, SEEK_END) == 22, "errno %d", errno);
	close(fd);

	fd = open(p("a"), O_WRONLY | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	w = write(fd, "Z", 1);
	CHECKF("append_writes_at_end", w == 1 && lseek(fd, 0, SEEK_CUR) == 23 && fstat(fd, &st) == 0 && st.st_size == 23,
	       "size %ld", (long)st.st_size);
	close(fd);
	fd = open(p("a"), O_RDWR | O_TRUNC);
	CHECKF("o_trunc_empties", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0, "size %ld", (long)st.st_size);
	close(fd);

	mode_t old = umask(027);
	fd = open(p("u"), O_CREAT | O_WRONLY, 0666);
	CHECKF("umask_applied_at_create", fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640, "mode %o",
	       st.st_mode);
	close(fd);
	CHECKF("umask_returns_previous", umask(old) == 027, "old %o", old);

	CHECK_ERRNO("open_missing_enoent", open(p("nope"), O_RDONLY), ENOENT);
	CHECK_ERRNO("open_under_file_enotdir", open(p("a/x"), O_RDONLY), ENOTDIR);
	CHECK_ERRNO("open_file_slash_enotdir", open(p("a/"), O_RDONLY), ENOTDIR);
	CHECK_ERRNO("creat_file_slash_eisdir", open(p("new/"), O_CREAT | O_WRONLY, 0644), EISDIR);
	CHECK_ERRNO("o_directory_on_file_enotdir", open(p("a"), O_RDONLY | O_DIRECTORY), ENOTDIR);
	CHECK_ERRNO("open_dir_for_write_eisdir", open(D, O_WRONLY), EISDIR);
	CHECK_ERRNO("creat_on_dir_eisdir", open(D, O_CREAT | O_RDONLY, 0644), EISDIR);
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = 0;
	CHECK_ERRNO("name_too_long", open(p(longname), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	CHECK_ERRNO("creat_missing_dir_enoent", open(p("nodir/f"), O_CREAT | O_WRONLY, 0644), ENOENT);
}

static void check_vectors_and_big(void)
{
	int fd = open(p("v"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	struct iovec iov[3] = {{"abc", 3}, {"defg", 4}, {"hi", 2}};
	ssize_t w = writev(fd, iov, 3);
	char a[3], b[6];
	struct iovec rv[2] = {{a, 3}, {b, 6}};
	lseek(fd, 0, SEEK_SET);
	ssize_t r = readv(fd, rv, 2);
	CHECKF("writev_readv", w == 9 && r == 9 && memcmp(a, "abc", 3) == 0 && memcmp(b, "defghi", 6) == 0,
	       "w %zd r %zd", w, r);
	close(fd);

	/* 300 KiB in odd-sized pieces, read back in other pieces. */
	static unsigned char big[300 * 1024], back[300 * 1024];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7 + i / 4096);
	fd = open(p("big"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	size_t done = 0;
	while (done < sizeof big) {
		size_t n = sizeof big - done < 5000 ? sizeof big - done : 5000;
		if (write(fd, big + done, n) != (ssize_t)n)
			break;
		done += n;
	}
	size_t got = 0;
	while (got < sizeof back) {
		ssize_t n = pread(fd, back + got, 7777, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	CHECKF("big_file_survives", done == sizeof big && got == sizeof big && memcmp(big, back, sizeof big) == 0,
	       "wrote %zu read %zu", done, got);
	close(fd);
	unlink(p("big"));
}

static void check_holes_and_truncate(void)
{
	int fd = open(p("h"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	const off_t M = 1 << 20;
	ssize_t w = pwrite(fd, "x", 1, M);
	struct stat st;
	fstat(fd, &st);
	CHECKF("hole_file_size_and_blocks", w == 1 && st.st_size == M + 1 && st.st_blocks < 64, "size %ld blocks %ld",
	       (long)st.st_size, (long)st.st_blocks);
	char buf[4096];
	memset(buf, 1, sizeof buf);
	ssize_t r = pread(fd, buf, sizeof buf, 8192);
	int zero = r == 4096;
	for (int i = 0; i < 4096 && zero; i++)
		zero = buf[i] == 0;
	CHECK("hole_reads_zero", zero);
	CHECKF("seek_data_skips_hole", lseek(fd, 0, SEEK_DATA) == M, "got %ld", (long)lseek(fd, 0, SEEK_DATA));
	CHECKF("seek_hole_at_start", lseek(fd, 0, SEEK_HOLE) == 0, "got %ld", (long)lseek(fd, 0, SEEK_HOLE));
	CHECKF("seek_hole_after_data_is_eof", lseek(fd, M, SEEK_HOLE) == M + 1, "got %ld", (long)lseek(fd, M, SEEK_HOLE));
	CHECK_ERRNO("seek_data_at_eof_enxio", lseek(fd, M + 1, SEEK_DATA), ENXIO);

	CHECKF("ftruncate_shrink", ftruncate(fd, 3) == 0 && fstat(fd, &st) == 0 && st.st_size == 3, "size %ld",
	       (long)st.st_size);
	pwrite(fd, "abc", 3, 0);
	ftruncate(fd, 1);
	ftruncate(fd, 8);
	memset(buf, 9, 8);
	r = pread(fd, buf, 8, 0);
	CHECKF("truncate_grow_reads_zero", r == 8 && buf[0] == 'a' && buf[1] == 0 && buf[2] == 0 && buf[7] == 0,
	       "r %zd [%d %d]", r, buf[0], buf[1]);
	CHECKF("truncate_path", truncate(p("h"), 2) == 0 && stat(p("h"), &st) == 0 && st.st_size == 2, "size %ld",
	       (long)st.st_size);
	CHECK_ERRNO("ftruncate_negative_einval", ftruncate(fd, -1), EINVAL);
	CHECK_ERRNO("truncate_dir_eisdir", truncate(D, 0), EISDIR);
	int ro = open(p("h"), O_RDONLY);
	CHECK_ERRNO("ftruncate_readonly_fd_einval", ftruncate(ro, 0), EINVAL);
	CHECK_ERRNO("fallocate_readonly_fd_ebadf", fallocate(ro, 0, 0, 4096), EBADF);
	close(ro);
	close(fd);

	fd = open(p("fa"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	int rc = fallocate(fd, 0, 0, 8192);
	fstat(fd, &st);
	CHECKF("fallocate_mode0_grows", rc == 0 && st.st_size == 8192 && st.st_blocks >= 16, "rc %d size %ld blocks %ld",
	       rc, (long)st.st_size, (long)st.st_blocks);
	rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 8192);
	fstat(fd, &st);
	CHECKF("fallocate_keep_size", rc == 0 && st.st_size == 8192 && st.st_blocks >= 32, "rc %d size %ld blocks %ld",
	       rc, (long)st.st_size, (long)st.st_blocks);
	memset(buf, 'k', sizeof buf);
	pwrite(fd, buf, 4096, 0);
	pwrite(fd, buf, 4096, 4096);
	long before = st.st_blocks;
	rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
	fstat(fd, &st);
	r = pread(fd, buf, 4096, 0);
	zero = r == 4096;
	for (int i = 0; i < 4096 && zero; i++)
		zero = buf[i] == 0;
	char k = 0;
	pread(fd, &k, 1, 4096);
	CHECKF("punch_hole_frees_and_zeroes", rc == 0 && zero && k == 'k' && st.st_size == 8192 && st.st_blocks < before,
	       "rc %d blocks %ld -> %ld", rc, before, (long)st.st_blocks);
	rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 200);
	k = 1;
	pread(fd, &k, 1, 4096 + 150);
	CHECK_ERRNO("punch_without_keep_size_eopnotsupp", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
	CHECK_ERRNO("fallocate_zero_len_einval", fallocate(fd, 0, 0, 0), EINVAL);
	close(fd);
	int dfd = open(D, O_RDONLY | O_DIRECTORY);
	CHECK_ERRNO("fallocate_dir_fd_ebadf", fallocate(dfd, 0, 0, 4096), EBADF);
	close(dfd);
	unlink(p("h"));
	unlink(p("fa"));
}

static void check_unlink_while_open(void)
{
	int fd = open(p("gone"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(fd, "abc", 3);
	CHECK("unlink_open_file", unlink(p("gone")) == 0);
	struct stat st;
	CHECKF("unlinked_nlink_zero", fstat(fd, &st) == 0 && st.st_nlink == 0, "nlink %ld", (long)st.st_nlink);
	CHECK_ERRNO("unlinked_name_enoent", stat(p("gone"), &st), ENOENT);
	char buf[8] = {0};
	ssize_t w = write(fd, "de", 2);
	ssize_t r = pread(fd, buf, sizeof buf, 0);
	CHECKF("unlinked_still_usable", w == 2 && r == 5 && memcmp(buf, "abcde", 5) == 0, "w %zd r %zd", w, r);
	close(fd);

	/* Pages of an unlinked file go at the last close. */
	long base = meminfo_kb("Shmem");
	fd = open(SHM, O_CREAT | O_RDWR | O_TRUNC, 0600);
	static char chunk[65536];
	memset(chunk, 's', sizeof chunk);
	for (int i = 0; i < 64; i++)
		write(fd, chunk, sizeof chunk);
	long full = meminfo_kb("Shmem");
	unlink(SHM);
	long unlinked = meminfo_kb("Shmem");
	close(fd);
	long after = meminfo_kb("Shmem");
	CHECKF("shmem_counts_file_pages", full - base >= 3500, "Shmem %ld -> %ld kB", base, full);
	CHECKF("shmem_kept_while_open", unlinked - base >= 3500, "Shmem %ld -> %ld kB", base, unlinked);
	CHECKF("shmem_freed_at_last_close", after - base < 512, "Shmem %ld -> %ld -> %ld kB", base, full, after);
}

static void check_dirs(void)
{
	struct stat st, st2;
	stat(D, &st);
	nlink_t n0 = st.st_nlink;
	CHECK("mkdir", mkdir(p("sub"), 0755) == 0);
	stat(D, &st2);
	CHECKF("mkdir_links_parent", st2.st_nlink == st.st_nlink + 1, "nlink %ld -> %ld", (long)st.st_nlink,
	       (long)st2.st_nlink);
	CHECKF("new_dir_stat", stat(p("sub"), &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 2, "nlink %ld",
	       (long)st.st_nlink);
	CHECK_ERRNO("mkdir_existing_eexist", mkdir(p("sub"), 0755), EEXIST);
	CHECK_ERRNO("mkdir_missing_parent_enoent", mkdir(p("x/y"), 0755), ENOENT);
	mkfile(p("sub/f"), "f", 0644);
	CHECK_ERRNO("rmdir_nonempty_enotempty", rmdir(p("sub")), ENOTEMPTY);
	CHECK_ERRNO("rmdir_file_enotdir", rmdir(p("sub/f")), ENOTDIR);
	CHECK_ERRNO("rmdir_dot_einval", rmdir(p("sub/.")), EINVAL);
	CHECK_ERRNO("rmdir_dotdot_enotempty", rmdir(p("sub/..")), ENOTEMPTY);
	CHECK_ERRNO("rmdir_missing_enoent", rmdir(p("nosuch")), ENOENT);
	CHECK_ERRNO("unlink_dir_eisdir", unlink(p("sub")), EISDIR);
	CHECK_ERRNO("unlink_missing_enoent", unlink(p("nosuch")), ENOENT);
	CHECK_ERRNO("unlinkat_bad_flag_einval", unlinkat(AT_FDCWD, p("sub/f"), 0x4000), EINVAL);
	CHECK("unlinkat_file", unlinkat(AT_FDCWD, p("sub/f"), 0) == 0);
	CHECK_ERRNO("unlinkat_removedir_on_file_enotdir", (mkfile(p("g"), "g", 0644), unlinkat(AT_FDCWD, p("g"), AT_REMOVEDIR)),
		    ENOTDIR);
	unlink(p("g"));
	CHECK("unlinkat_removedir", unlinkat(AT_FDCWD, p("sub"), AT_REMOVEDIR) == 0);
	stat(D, &st2);
	CHECKF("rmdir_unlinks_parent", st2.st_nlink == n0, "nlink %ld, was %ld", (long)st2.st_nlink, (long)n0);
	int dfd = open(D, O_RDONLY | O_DIRECTORY);
	CHECKF("mkdirat_relative", mkdirat(dfd, "sub2", 0700) == 0 && stat(p("sub2"), &st) == 0 && (st.st_mode & 0777) == 0700,
	       "mode %o", st.st_mode);
	CHECK("rmdir_empty", rmdir(p("sub2")) == 0);
	close(dfd);

	/* getdents64 sees every kind of entry. */
	mkdir(p("ls"), 0755);
	mkfile(p("ls/file"), "x", 0644);
	mkdir(p("ls/dir"), 0755);
	symlink("file", p("ls/link"));
	DIR *d = opendir(p("ls"));
	int seen = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") && e->d_type == DT_DIR)
			seen |= 1;
		if (!strcmp(e->d_name, "..") && e->d_type == DT_DIR)
			seen |= 2;
		if (!strcmp(e->d_name, "file") && e->d_type == DT_REG)
			seen |= 4;
		if (!strcmp(e->d_name, "dir") && e->d_type == DT_DIR)
			seen |= 8;
		if (!strcmp(e->d_name, "link") && e->d_type == DT_LNK)
			seen |= 16;
	}
	if (d)
		closedir(d);
	CHECKF("getdents_types", seen == 31, "seen %#x", seen);

	char cwd[256];
	int ok = chdir(p("ls")) == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, p("ls")) == 0 && contents_are("file", "x") &&
		 contents_are("../ls/link", "x");
	CHECKF("chdir_and_relative_paths", ok, "cwd %s", cwd);
	chdir("/");
}

static void check_rename(void)
{
	struct stat st, st2;
	mkfile(p("r1"), "one", 0644);
	stat(p("r1"), &st);
	CHECK("rename_file", rename(p("r1"), p("r2")) == 0 && contents_are(p("r2"), "one") && access(p("r1"), F_OK) == -1);
	stat(p("r2"), &st2);
	CHECKF("rename_keeps_inode", st.st_ino == st2.st_ino, "%lu %lu", (unsigned long)st.st_ino,
	       (unsigned long)st2.st_ino);
	mkfile(p("r3"), "three", 0644);
	CHECK("rename_replaces_file", rename(p("r2"), p("r3")) == 0 && contents_are(p("r3"), "one"));
	mkfile(p("r4"), "four", 0644);
	CHECK_ERRNO("renameat2_noreplace_eexist", renameat2_(p("r3"), p("r4"), RENAME_NOREPLACE), EEXIST);
	CHECK("renameat2_noreplace_free_name", renameat2_(p("r4"), p("r5"), RENAME_NOREPLACE) == 0);
	CHECK("renameat2_exchange",
	      renameat2_(p("r3"), p("r5"), RENAME_EXCHANGE) == 0 && contents_are(p("r3"), "four") && contents_are(p("r5"), "one"));
	CHECK_ERRNO("renameat2_exchange_missing_enoent", renameat2_(p("r3"), p("r9"), RENAME_EXCHANGE), ENOENT);
	CHECK_ERRNO("renameat2_both_flags_einval", renameat2_(p("r3"), p("r5"), RENAME_EXCHANGE | RENAME_NOREPLACE),
		    EINVAL);
	CHECK("rename_same_name", rename(p("r3"), p("r3")) == 0 && contents_are(p("r3"), "four"));
	CHECK_ERRNO("rename_missing_enoent", rename(p("r9"), p("r8")), ENOENT);

	mkdir(p("da"), 0755);
	mkdir(p("da/in"), 0755);
	mkdir(p("db"), 0755);
	mkfile(p("db/x"), "x", 0644);
	mkdir(p("dc"), 0755);
	CHECK_ERRNO("rename_dir_into_itself_einval", rename(p("da"), p("da/in/da")), EINVAL);
	CHECK_ERRNO("rename_dir_over_nonempty_enotempty", rename(p("da"), p("db")), ENOTEMPTY);
	CHECK_ERRNO("rename_file_over_dir_eisdir", rename(p("r3"), p("dc")), EISDIR);
	CHECK_ERRNO("rename_dir_over_file_enotdir", rename(p("dc"), p("r3")), ENOTDIR);
	stat(p("db"), &st);
	CHECK("rename_dir_over_empty_dir", rename(p("da/in"), p("dc")) == 0 && stat(p("dc"), &st2) == 0 && S_ISDIR(st2.st_mode));
	struct stat sa;
	stat(p("da"), &sa);
	CHECKF("rename_dir_moves_link_count", sa.st_nlink == 2, "nlink %ld", (long)sa.st_nlink);
	CHECK("rename_dir_to_other_parent", rename(p("dc"), p("db/dc")) == 0 && stat(p("db/dc"), &st2) == 0);
	stat(p("db"), &st2);
	CHECKF("new_parent_gains_link", st2.st_nlink == st.st_nlink + 1, "nlink %ld -> %ld", (long)st.st_nlink,
	       (long)st2.st_nlink);
	CHECK_ERRNO("rename_across_mounts_exdev", rename(p("r3"), SHM), EXDEV);
	CHECK_ERRNO("rename_dot_ebusy", rename(p("da/."), p("dz")), EBUSY);
	CHECK_ERRNO("rmdir_root_ebusy", rmdir("/"), EBUSY);
	struct stat dev, shm;
	if (stat("/dev", &dev) == 0 && stat("/dev/shm", &shm) == 0 && dev.st_dev != shm.st_dev)
		CHECK_ERRNO("rmdir_mount_point_ebusy", rmdir("/dev/shm"), EBUSY);
	else
		check_skip("rmdir_mount_point_ebusy", "/dev/shm is not a mount point");
	mkdir(p("anc"), 0755);
	mkdir(p("anc/kid"), 0755);
	CHECK_ERRNO("rename_over_own_parent_enotempty", rename(p("anc/kid"), p("anc")), ENOTEMPTY);
	CHECK_ERRNO("exchange_with_own_parent_einval", renameat2_(p("anc/kid"), p("anc"), RENAME_EXCHANGE), EINVAL);
}

static void check_links(void)
{
	struct stat st, st2;
	mkfile(p("l1"), "link", 0644);
	CHECK("link_file", link(p("l1"), p("l2")) == 0);
	stat(p("l1"), &st);
	stat(p("l2"), &st2);
	CHECKF("hard_link_same_inode", st.st_ino == st2.st_ino && st.st_nlink == 2, "nlink %ld", (long)st.st_nlink);
	unlink(p("l1"));
	CHECK("hard_link_survives_unlink", contents_are(p("l2"), "link") && stat(p("l2"), &st) == 0 && st.st_nlink == 1);
	CHECK_ERRNO("link_existing_eexist", link(p("l2"), p("r3")), EEXIST);
	CHECK_ERRNO("link_dir_eperm", link(D, p("dl")), EPERM);
	CHECK_ERRNO("link_across_mounts_exdev", link(p("l2"), SHM), EXDEV);
	CHECK_ERRNO("link_missing_enoent", link(p("nosuch"), p("l9")), ENOENT);

	CHECK("symlink", symlink("l2", p("s1")) == 0);
	char buf[64] = {0};
	ssize_t n = readlink(p("s1"), buf, sizeof buf);
	CHECKF("readlink", n == 2 && memcmp(buf, "l2", 2) == 0, "n %zd [%s]", n, buf);
	CHECKF("lstat_is_link", lstat(p("s1"), &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 2, "mode %o",
	       st.st_mode);
	CHECKF("stat_follows_link", stat(p("s1"), &st) == 0 && S_ISREG(st.st_mode), "mode %o", st.st_mode);
	CHECK("open_through_link", contents_are(p("s1"), "link"));
	CHECK_ERRNO("readlink_regular_einval", readlink(p("l2"), buf, sizeof buf), EINVAL);
	CHECK_ERRNO("symlink_existing_eexist", symlink("x", p("s1")), EEXIST);
	CHECK_ERRNO("o_nofollow_on_link_eloop", open(p("s1"), O_RDONLY | O_NOFOLLOW), ELOOP);
	symlink("loop2", p("loop1"));
	symlink("loop1", p("loop2"));
	CHECK_ERRNO("symlink_loop_eloop", open(p("loop1"), O_RDONLY), ELOOP);
	symlink("nowhere", p("dangling"));
	CHECK_ERRNO("dangling_link_enoent", open(p("dangling"), O_RDONLY), ENOENT);
	CHECK_ERRNO("creat_excl_on_dangling_link_eexist", open(p("dangling"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	int cfd = open(p("dangling"), O_CREAT | O_WRONLY, 0644);
	CHECKF("creat_through_dangling_link_makes_target", cfd >= 0 && write(cfd, "n", 1) == 1 && contents_are(p("nowhere"), "n"),
	       "fd %d errno %d", cfd, errno);
	close(cfd);
	mkdir(p("real"), 0755);
	mkfile(p("real/f"), "deep", 0644);
	symlink(p("real"), p("abs"));
	symlink("real", p("rel"));
	CHECK("walk_through_dir_links", contents_are(p("abs/f"), "deep") && contents_are(p("rel/f"), "deep"));
	mkdir(p("real/sub"), 0755);
	symlink("real/sub", p("tosub"));
	CHECK("dotdot_after_link", contents_are(p("tosub/../f"), "deep"));
	CHECK_ERRNO("empty_symlink_target_enoent", symlink("", p("empty")), ENOENT);
	CHECK("unlink_link_not_target", unlink(p("s1")) == 0 && contents_are(p("l2"), "link"));
}

static void check_attrs(void)
{
	struct stat st;
	mkfile(p("m"), "m", 0644);
	CHECKF("chmod", chmod(p("m"), 0600) == 0 && stat(p("m"), &st) == 0 && (st.st_mode & 07777) == 0600, "mode %o",
	       st.st_mode);
	int fd = open(p("m"), O_RDWR);
	CHECKF("fchmod", fchmod(fd, 0640) == 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0640, "mode %o",
	       st.st_mode);
	CHECKF("fchmodat", fchmodat(AT_FDCWD, p("m"), 0604, 0) == 0 && stat(p("m"), &st) == 0 && (st.st_mode & 07777) == 0604,
	       "mode %o", st.st_mode);
	CHECKF("chown", chown(p("m"), 1234, 5678) == 0 && stat(p("m"), &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678,
	       "uid %d gid %d", st.st_uid, st.st_gid);
	CHECKF("fchown_keeps_minus_one", fchown(fd, -1, 42) == 0 && fstat(fd, &st) == 0 && st.st_uid == 1234 &&
						 st.st_gid == 42,
	       "uid %d gid %d", st.st_uid, st.st_gid);
	symlink("m", p("ml"));
	struct stat lst;
	CHECKF("lchown_changes_link_only",
	       lchown(p("ml"), 77, 77) == 0 && lstat(p("ml"), &lst) == 0 && lst.st_uid == 77 && stat(p("m"), &st) == 0 &&
		       st.st_uid == 1234,
	       "link uid %d file uid %d", lst.st_uid, st.st_uid);
	chown(p("m"), 0, 0);

	struct timespec ts[2] = {{1000, 500}, {2000, 600}};
	CHECKF("utimensat_sets_times",
	       utimensat(AT_FDCWD, p("m"), ts, 0) == 0 && stat(p("m"), &st) == 0 && st.st_atim.tv_sec == 1000 &&
		       st.st_atim.tv_nsec == 500 && st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 600,
	       "atime %ld mtime %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
	struct timespec omit[2] = {{0, UTIME_OMIT}, {5, 0}};
	CHECKF("utime_omit_keeps", utimensat(AT_FDCWD, p("m"), omit, 0) == 0 && stat(p("m"), &st) == 0 &&
					   st.st_atim.tv_sec == 1000 && st.st_mtim.tv_sec == 5,
	       "atime %ld mtime %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
	time_t now = time(NULL);
	CHECKF("utimensat_null_is_now", futimens(fd, NULL) == 0 && fstat(fd, &st) == 0 && st.st_mtim.tv_sec >= now - 5 &&
						st.st_mtim.tv_sec <= now + 5,
	       "mtime %ld now %ld", (long)st.st_mtim.tv_sec, (long)now);
	struct timespec bad[2] = {{0, 2000000000L}, {0, 0}};
	CHECK_ERRNO("utimensat_bad_nsec_einval", utimensat(AT_FDCWD, p("m"), bad, 0), EINVAL);
	struct stat before, after;
	fstat(fd, &before);
	/* Let the clock move on (a busy wait: the time source is what is
	 * tested, not the sleep). */
	struct timespec t0, t1;
	clock_gettime(CLOCK_REALTIME, &t0);
	do
		clock_gettime(CLOCK_REALTIME, &t1);
	while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 20 * 1000 * 1000L);
	write(fd, "w", 1);
	fstat(fd, &after);
	CHECKF("write_moves_mtime",
	       after.st_mtim.tv_sec > before.st_mtim.tv_sec ||
		       (after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec > before.st_mtim.tv_nsec),
	       "%ld.%09ld -> %ld.%09ld", (long)before.st_mtim.tv_sec, before.st_mtim.tv_nsec, (long)after.st_mtim.tv_sec,
	       after.st_mtim.tv_nsec);
	CHECK("fsync", fsync(fd) == 0);
	CHECK("fdatasync", fdatasync(fd) == 0);
	close(fd);

	CHECK("access_f_ok", access(p("m"), F_OK) == 0);
	CHECK("access_root_reads_0604", access(p("m"), R_OK | W_OK) == 0);
	CHECK_ERRNO("access_x_without_x_bits_eacces", access(p("m"), X_OK), EACCES);
	CHECK_ERRNO("access_bad_mode_einval", access(p("m"), 8), EINVAL);

	struct statfs sf;
	CHECKF("statfs_dev_shm_is_tmpfs",
	       statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC_ && sf.f_bsize == 4096 && sf.f_namelen == 255 &&
		       sf.f_blocks > 0 && sf.f_bfree <= sf.f_blocks && sf.f_files > 0,
	       "type %#lx bsize %ld", (long)sf.f_type, (long)sf.f_bsize);
	fd = open("/dev/shm", O_RDONLY | O_DIRECTORY);
	struct statfs sf2;
	CHECKF("fstatfs_same", fstatfs(fd, &sf2) == 0 && sf2.f_type == sf.f_type && sf2.f_blocks == sf.f_blocks, "type %#lx",
	       (long)sf2.f_type);
	close(fd);
	CHECK_ERRNO("statfs_missing_enoent", statfs(p("nosuch"), &sf), ENOENT);

	/* /proc/mounts names /dev/shm as tmpfs, with its size. */
	FILE *m = fopen("/proc/mounts", "r");
	char line[512], dev[128], dir[128], type[64], opts[256];
	int found = 0, fields_ok = 1;
	while (m && fgets(line, sizeof line, m)) {
		int a, b;
		int n = sscanf(line, "%127s %127s %63s %255s %d %d", dev, dir, type, opts, &a, &b);
		fields_ok &= n == 6;
		if (n == 6 && !strcmp(dir, "/dev/shm") && !strcmp(type, "tmpfs") && strstr(opts, "size="))
			found = 1;
	}
	if (m)
		fclose(m);
	CHECKF("proc_mounts_lists_dev_shm", m && found && fields_ok, "found %d fields_ok %d", found, fields_ok);
}

static void check_tmpfile(void)
{
	int fd = open(D, O_TMPFILE | O_RDWR, 0600);
	if (fd < 0 && errno == EOPNOTSUPP) {
		check_skip("o_tmpfile", "not supported by this file system");
		return;
	}
	struct stat st;
	CHECKF("o_tmpfile_unnamed", fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink == 0 && S_ISREG(st.st_mode),
	       "fd %d errno %d", fd, errno);
	write(fd, "tmp", 3);
	int rc = linkat(fd, "", AT_FDCWD, p("named"), AT_EMPTY_PATH);
	CHECKF("o_tmpfile_linkat_names_it", rc == 0 && contents_are(p("named"), "tmp"), "rc %d errno %d", rc, errno);
	close(fd);
	CHECK_ERRNO("o_tmpfile_readonly_einval", open(D, O_TMPFILE | O_RDONLY, 0600), EINVAL);
	CHECK_ERRNO("o_tmpfile_on_file_enotdir", open(p("named"), O_TMPFILE | O_RDWR, 0600), ENOTDIR);
}

static void check_mmap(void)
{
	int fd = open(p("map"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	static char data[8192];
	for (int i = 0; i < 8192; i++)
		data[i] = (char)('a' + i % 26);
	write(fd, data, sizeof data);
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (!CHECKF("mmap_private", m != MAP_FAILED, "errno %d", errno))
		return;
	CHECK("mmap_private_reads_file", memcmp(m, data, 8192) == 0);
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	int named = 0;
	while (maps && fgets(line, sizeof line, maps))
		named |= strstr(line, p("map")) != NULL;
	if (maps)
		fclose(maps);
	CHECK("maps_names_the_file", named);
	m[5000] = '!';
	char c = 0;
	pread(fd, &c, 1, 5000);
	CHECKF("mmap_private_write_stays_private", m[5000] == '!' && c == data[5000], "file has %c", c);
	munmap(m, 8192);

	char *s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!CHECKF("mmap_shared", s != MAP_FAILED, "errno %d", errno))
		return;
	s[100] = '#';
	c = 0;
	pread(fd, &c, 1, 100);
	CHECKF("mmap_shared_store_seen_by_read", c == '#', "read %c", c);
	pwrite(fd, "@", 1, 6000);
	CHECKF("write_seen_by_shared_map", s[6000] == '@', "map has %c", s[6000]);
	munmap(s, 8192);
	close(fd);
	int ro = open(p("map"), O_RDONLY);
	CHECK_ERRNO("mmap_shared_write_on_readonly_eacces", (long)mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, ro, 0), EACCES);
	close(ro);
}

/* A program copied into /tmp runs from there. */
static void check_exec(void)
{
	const char *bindir = getenv("BINDIR");
	char src[512];
	snprintf(src, sizeof src, "%s/hello-c", bindir ? bindir : "/bin");
	int in = open(src, O_RDONLY);
	int out = open(p("hello"), O_CREAT | O_WRONLY | O_TRUNC, 0755);
	static char buf[65536];
	ssize_t n;
	long total = 0;
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
		total += write(out, buf, (size_t)n);
	close(in);
	close(out);
	if (!CHECKF("copy_program_to_tmp", total > 0, "copied %ld bytes of %s", total, src))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		char *argv[] = {"hello", "from", "tmp", NULL};
		execv(p("hello"), argv);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECKF("exec_program_from_tmp", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	chmod(p("hello"), 0644);
	CHECK_ERRNO("exec_without_x_bit_eacces", execv(p("hello"), (char *[]){"hello", NULL}), EACCES);
}

/* As uid/gid 65534 in a forked child: the permission bits hold. */
static void check_nonroot(void)
{
	if (geteuid() != 0) {
		check_skip("nonroot", "needs root to setuid");
		return;
	}
	mkdir(p("closed"), 0755);
	mkfile(p("closed/secret"), "s", 0600);
	mkfile(p("closed/public"), "p", 0644);
	mkfile(p("closed/open"), "o", 0666);
	mkdir(p("private"), 0700);
	mkfile(p("private/f"), "f", 0644);
	mkdir(p("sticky"), 0755);
	chmod(p("sticky"), 01777);
	mkfile(p("sticky/roots"), "r", 0666);
	chmod(p("sticky/roots"), 0666);
	chmod(p("closed/open"), 0666);
	/* The child's case lines count in the parent's summary: it sends its
	 * counts back through a pipe. */
	int counts[2];
	if (pipe(counts) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(counts[0]);
		check_passed = check_failed = 0;
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		CHECK_ERRNO("nonroot_create_in_0755_eacces", open(p("closed/new"), O_CREAT | O_WRONLY, 0644), EACCES);
		CHECK_ERRNO("nonroot_mkdir_in_0755_eacces", mkdir(p("closed/d"), 0755), EACCES);
		CHECK_ERRNO("nonroot_unlink_in_0755_eacces", unlink(p("closed/public")), EACCES);
		CHECK_ERRNO("nonroot_read_0600_eacces", open(p("closed/secret"), O_RDONLY), EACCES);
		CHECK("nonroot_read_0644", contents_are(p("closed/public"), "p"));
		CHECK_ERRNO("nonroot_write_0644_eacces", open(p("closed/public"), O_WRONLY), EACCES);
		CHECK_ERRNO("nonroot_access_w_eacces", access(p("closed/public"), W_OK), EACCES);
		CHECK("nonroot_access_r", access(p("closed/public"), R_OK) == 0);
		CHECK_ERRNO("nonroot_truncate_eacces", truncate(p("closed/public"), 0), EACCES);
		CHECK_ERRNO("nonroot_search_0700_eacces", open(p("private/f"), O_RDONLY), EACCES);
		struct stat st;
		CHECK_ERRNO("nonroot_stat_through_0700_eacces", stat(p("private/f"), &st), EACCES);
		CHECK_ERRNO("nonroot_chmod_others_eperm", chmod(p("closed/public"), 0777), EPERM);
		CHECK_ERRNO("nonroot_chown_eperm", chown(p("closed/public"), 65534, 65534), EPERM);
		struct timespec ts[2] = {{1, 0}, {1, 0}};
		CHECK_ERRNO("nonroot_set_times_eperm", utimensat(AT_FDCWD, p("closed/open"), ts, 0), EPERM);
		CHECK("nonroot_touch_writable_file", utimensat(AT_FDCWD, p("closed/open"), NULL, 0) == 0);
		CHECK_ERRNO("nonroot_sticky_unlink_eperm", unlink(p("sticky/roots")), EPERM);
		CHECK_ERRNO("nonroot_sticky_rename_eperm", rename(p("sticky/roots"), p("sticky/mine")), EPERM);
		int fd = open(p("sticky/mine"), O_CREAT | O_RDWR, 0600);
		CHECKF("nonroot_create_in_sticky", fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534,
		       "fd %d uid %d", fd, st.st_uid);
		close(fd);
		CHECK("nonroot_chmod_own", chmod(p("sticky/mine"), 0644) == 0);
		CHECK("nonroot_unlink_own_in_sticky", unlink(p("sticky/mine")) == 0);
		int n[2] = {check_passed, check_failed};
		write(counts[1], n, sizeof n);
		_exit(check_failed ? 1 : 0);
	}
	close(counts[1]);
	int n[2] = {0, 0};
	if (read(counts[0], n, sizeof n) == sizeof n) {
		check_passed += n[0];
		check_failed += n[1];
	}
	close(counts[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECKF("nonroot_child_passed", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

/* Remove the test tree (depth-first). */
static void rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[512];
			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			rm_rf(sub);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

int main(void)
{
	check_init("t_tmpfs");
	umask(022);
	snprintf(D, sizeof D, "/tmp/t_tmpfs.%d", (int)getpid());
	snprintf(SHM, sizeof SHM, "/dev/shm/t_tmpfs.%d", (int)getpid());
	if (!CHECKF("mkdir_test_dir", mkdir(D, 0755) == 0, "errno %d", errno))
		return check_done();
	check_open_flags();
	check_vectors_and_big();
	check_holes_and_truncate();
	check_unlink_while_open();
	check_dirs();
	check_rename();
	check_links();
	check_attrs();
	check_tmpfile();
	check_mmap();
	check_exec();
	check_nonroot();
	rm_rf(D);
	struct stat st;
	CHECK_ERRNO("test_dir_removed", stat(D, &st), ENOENT);
	return check_done();
}
