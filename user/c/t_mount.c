/*
 * t_mount.c: mount(2) and umount2(2) of tmpfs as Linux does them
 * (fs/namespace.c, mm/shmem.c). Run as root (as the test runners do); the
 * non-root cases run in a forked child after setuid.
 *
 * - a tmpfs mounted over a directory hides what was there until umount;
 *   its size=, nr_inodes= and mode= hold (ENOSPC past them) and show in
 *   statfs, stat and /proc/mounts; ".." from its root is the directory
 *   holding the mount point; rmdir of the mount point is EBUSY;
 * - mounts stack, and nested ones make umount EBUSY unless MNT_DETACH;
 * - a noexec mount refuses execve (EACCES) of a program that runs from a
 *   normal one;
 * - errors: EPERM for non-root, ENOENT, ENOTDIR, ENODEV, EINVAL for bad
 *   options and flags, EINVAL to umount what is not a mount.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "mmtest.h"

#define TMPFS_MAGIC 0x01021994

static char dir[64], sub[80], plain[80];

static ino_t ino_of(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_ino : 0;
}

static int in_proc_mounts(const char *path, const char *want)
{
	static char buf[16384];
	long n = read_small_file("/proc/mounts", buf, sizeof buf);
	if (n <= 0)
		return 0;
	char key[100];
	snprintf(key, sizeof key, " %s tmpfs ", path);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, key) && strstr(line, want))
			return 1;
	return 0;
}

static int as_nobody_mount(void *unused)
{
	(void)unused;
	if (drop_root())
		return child_fail("setuid");
	errno = 0;
	if (mount("tmpfs", dir, "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return child_fail("mount as nobody: errno %d, want EPERM", errno);
	return 0;
}

static int as_nobody_umount(void *unused)
{
	(void)unused;
	if (drop_root())
		return child_fail("setuid");
	errno = 0;
	if (umount2(dir, 0) != -1 || errno != EPERM)
		return child_fail("umount as nobody: errno %d, want EPERM", errno);
	return 0;
}

/* Copy the file FROM to TO with mode 0755. */
static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0)
		return -1;
	char buf[4096];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n)
			return -1;
	close(in);
	close(out);
	return n == 0 ? 0 : -1;
}

/* Run PATH in a child with stdout on /dev/null: its exit status, or
 * 1000 + errno if execve failed. */
static int run(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		char *argv[] = {(char *)path, NULL};
		execve(path, argv, (char *[]){NULL});
		_exit(100 + errno > 255 ? 255 : 100 + errno);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st))
		return -1;
	int code = WEXITSTATUS(st);
	return code >= 100 ? 1000 + code - 100 : code;
}

static void basics(void)
{
	struct stat before;
	stat(dir, &before);
	CHECK("mount_tmpfs", mount("tmpfs", dir, "tmpfs", 0, "size=64k,nr_inodes=4,mode=0700") == 0);
	struct stat st, tmp;
	stat(dir, &st);
	stat("/tmp", &tmp);
	CHECKF("root_mode_from_mode_option", st.st_mode == (S_IFDIR | 0700), "mode %o", st.st_mode);
	CHECK("a_new_device", st.st_dev != before.st_dev && st.st_dev != tmp.st_dev);
	CHECKF("what_was_there_is_hidden", access(plain, F_OK) == -1 && errno == ENOENT, "errno %d", errno);
	CHECKF("dotdot_leaves_the_mount", ino_of(sub) == ino_of("/tmp"), "%lu vs %lu", (unsigned long)ino_of(sub),
	       (unsigned long)ino_of("/tmp"));
	struct statfs sf;
	CHECK("statfs", statfs(dir, &sf) == 0);
	CHECKF("statfs_type_and_limits",
	       sf.f_type == TMPFS_MAGIC && sf.f_blocks * sf.f_bsize == 65536 && sf.f_files == 4,
	       "type %lx blocks %lu bsize %lu files %lu", (unsigned long)sf.f_type, (unsigned long)sf.f_blocks,
	       (unsigned long)sf.f_bsize, (unsigned long)sf.f_files);
	CHECK("proc_mounts_lists_the_options", in_proc_mounts(dir, "size=64k,nr_inodes=4,mode=700"));

	/* size=64k: sixteen pages, then ENOSPC. */
	char f[96];
	snprintf(f, sizeof f, "%s/data", dir);
	int fd = open(f, O_WRONLY | O_CREAT, 0600);
	char page[4096];
	memset(page, 'x', sizeof page);
	int pages = 0;
	while (pages < 20 && write(fd, page, sizeof page) == (ssize_t)sizeof page)
		pages++;
	int e = errno;
	CHECKF("size_limit_enospc", pages == 16 && e == ENOSPC, "%d pages, errno %d", pages, e);
	close(fd);

	/* nr_inodes=4: the root, data, and two more. */
	int made = 0;
	for (int i = 0; i < 4; i++) {
		char n[96];
		snprintf(n, sizeof n, "%s/f%d", dir, i);
		int g = open(n, O_WRONLY | O_CREAT, 0600);
		if (g < 0)
			break;
		close(g);
		made++;
	}
	e = errno;
	CHECKF("nr_inodes_limit_enospc", made == 2 && e == ENOSPC, "%d made, errno %d", made, e);
	CHECK_ERRNO("rmdir_mount_point_ebusy", rmdir(dir), EBUSY);
	check_child("mount_as_nobody_eperm", as_nobody_mount, NULL);
	check_child("umount_as_nobody_eperm", as_nobody_umount, NULL);
	CHECK_ERRNO("umount_unknown_flag_einval", umount2(dir, 0x100), EINVAL);
	CHECK_ERRNO("umount_expire_with_detach_einval", umount2(dir, MNT_EXPIRE | MNT_DETACH), EINVAL);

	CHECK("umount", umount2(dir, 0) == 0);
	stat(dir, &st);
	CHECK("the_directory_is_back", st.st_dev == before.st_dev && st.st_mode == before.st_mode);
	CHECK("what_was_there_is_back", access(plain, F_OK) == 0);
	CHECK("proc_mounts_forgets_it", !in_proc_mounts(dir, ""));
	CHECK_ERRNO("umount_not_a_mount_einval", umount2(dir, 0), EINVAL);
}

static void errors(void)
{
	CHECK_ERRNO("mount_missing_target_enoent", mount("tmpfs", "/tmp/t_mount.none/x", "tmpfs", 0, NULL), ENOENT);
	CHECK_ERRNO("mount_on_a_file_enotdir", mount("tmpfs", plain, "tmpfs", 0, NULL), ENOTDIR);
	CHECK_ERRNO("mount_unknown_type_enodev", mount("none", dir, "nosuchfs", 0, NULL), ENODEV);
	CHECK_ERRNO("mount_unknown_option_einval", mount("tmpfs", dir, "tmpfs", 0, "bogus=1"), EINVAL);
	CHECK_ERRNO("mount_bad_size_einval", mount("tmpfs", dir, "tmpfs", 0, "size=12q"), EINVAL);
	CHECK_ERRNO("umount_missing_enoent", umount2("/tmp/t_mount.none", 0), ENOENT);
}

static void stacking_and_nesting(void)
{
	CHECK("mount_lower", mount("tmpfs", dir, "tmpfs", 0, "mode=0711") == 0);
	CHECK("mount_upper", mount("tmpfs", dir, "tmpfs", 0, "mode=0701") == 0);
	struct stat st;
	stat(dir, &st);
	CHECKF("upper_is_seen", (st.st_mode & 07777) == 0701, "mode %o", st.st_mode);
	CHECK("umount_upper", umount2(dir, 0) == 0);
	stat(dir, &st);
	CHECKF("lower_is_seen_again", (st.st_mode & 07777) == 0711, "mode %o", st.st_mode);

	char inner[96];
	snprintf(inner, sizeof inner, "%s/inner", dir);
	CHECK("mkdir_inside", mkdir(inner, 0755) == 0);
	CHECK("mount_nested", mount("tmpfs", inner, "tmpfs", 0, "size=1%") == 0);
	CHECK_ERRNO("umount_with_a_mount_below_ebusy", umount2(dir, 0), EBUSY);
	CHECK("umount_detach_takes_the_subtree", umount2(dir, MNT_DETACH) == 0);
	CHECK("original_directory_again", access(plain, F_OK) == 0 && access(inner, F_OK) == -1);
}

static void noexec(void)
{
	const char *bindir = getenv("BINDIR");
	char hello[256], exe[96];
	snprintf(hello, sizeof hello, "%s/hello-c", bindir ? bindir : "/bin");
	snprintf(exe, sizeof exe, "%s/hello", dir);
	if (mount("tmpfs", dir, "tmpfs", 0, NULL) != 0 || copy_file(hello, exe) != 0) {
		CHECKF("noexec_setup", 0, "errno %d", errno);
		return;
	}
	CHECKF("program_runs_from_tmpfs", run(exe) == 0, "status %d", run(exe));
	umount2(dir, 0);
	if (mount("tmpfs", dir, "tmpfs", MS_NOEXEC | MS_NOSUID, NULL) != 0 || copy_file(hello, exe) != 0) {
		CHECKF("noexec_setup2", 0, "errno %d", errno);
		return;
	}
	CHECK("proc_mounts_says_noexec", in_proc_mounts(dir, "nosuid") && in_proc_mounts(dir, "noexec"));
	int r = run(exe);
	CHECKF("execve_on_noexec_eacces", r == 1000 + EACCES, "status %d", r);
	umount2(dir, 0);
}

int main(void)
{
	check_init("t_mount");
	snprintf(dir, sizeof dir, "/tmp/t_mount.%d", (int)getpid());
	snprintf(sub, sizeof sub, "%s/..", dir);
	snprintf(plain, sizeof plain, "%s/plain", dir);
	if (mkdir(dir, 0755) != 0 || close(open(plain, O_WRONLY | O_CREAT, 0644)) != 0) {
		CHECKF("setup", 0, "%s", strerror(errno));
		return check_done();
	}
	if (geteuid() != 0) {
		check_skip("all", "needs root");
	} else {
		basics();
		errors();
		stacking_and_nesting();
		noexec();
	}
	unlink(plain);
	rmdir(dir);
	return check_done();
}
