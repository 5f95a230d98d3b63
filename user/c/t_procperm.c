/*
 * t_procperm.c: Linux's permissions in /proc and sysctl.
 *
 * - stat: /proc/vmallocinfo is 0100400 root, /proc/sys/vm/overcommit_memory
 *   0100644 root, drop_caches 0100200, /proc/self a directory owned by the
 *   caller;
 * - root may open a sysctl for writing (nothing is written), but not read
 *   drop_caches (0200: sysctls give root no override);
 * - as uid 65534 (a forked child): opening /proc/sys/vm/overcommit_memory
 *   for writing is EACCES and the value stays; /proc/vmallocinfo is
 *   EACCES; the root parent's /proc/PID/{maps,smaps,smaps_rollup} are
 *   EACCES and readlink of its exe is EACCES, its own /proc/self/maps is
 *   readable; get_robust_list on the parent is EPERM, kill(parent, 0) EPERM;
 *   after setuid the process is not dumpable and its /proc/self files
 *   belong to root; PR_SET_DUMPABLE 1 gives them back to the uid;
 *   oom_score_adj may be raised, lowered down to the minimum a privileged
 *   write set (0), and not below it (EACCES, value unchanged).
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include "check.h"
#include "mmtest.h"

/* The first line of a file as a number; -100000 if it cannot be read. */
static long read_long(const char *path)
{
	char buf[64];
	if (read_small_file(path, buf, sizeof buf) <= 0)
		return -100000;
	return strtol(buf, NULL, 10);
}

/* open(PATH, FLAGS): 0 if it opened (closed again), else the errno. */
static int open_errno(const char *path, int flags)
{
	int fd = open(path, flags);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* Write VAL to /proc/self/oom_score_adj: 0 or the errno. */
static int write_adj(const char *val)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, val, strlen(val));
	int e = n < 0 ? errno : 0;
	close(fd);
	return e;
}

static void check_modes(void)
{
	struct stat st;
	int r = stat("/proc/vmallocinfo", &st);
	CHECKF("vmallocinfo_0400_root", r == 0 && st.st_mode == 0100400 && st.st_uid == 0, "stat %d, mode %o, uid %u", r,
	       r ? 0 : st.st_mode, r ? 0 : st.st_uid);
	r = stat("/proc/sys/vm/overcommit_memory", &st);
	CHECKF("sysctl_0644_root", r == 0 && st.st_mode == 0100644 && st.st_uid == 0, "stat %d, mode %o, uid %u", r,
	       r ? 0 : st.st_mode, r ? 0 : st.st_uid);
	r = stat("/proc/sys/vm/drop_caches", &st);
	CHECKF("drop_caches_0200", r == 0 && st.st_mode == 0100200, "stat %d, mode %o", r, r ? 0 : st.st_mode);
	r = stat("/proc/self", &st);
	CHECKF("proc_self_owned_by_caller", r == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid(), "stat %d, mode %o, uid %u",
	       r, r ? 0 : st.st_mode, r ? 0 : st.st_uid);
	r = stat("/proc/self/oom_score_adj", &st);
	CHECKF("oom_score_adj_0644", r == 0 && st.st_mode == 0100644, "stat %d, mode %o", r, r ? 0 : st.st_mode);
	r = stat("/proc/self/maps", &st);
	CHECKF("maps_0444", r == 0 && st.st_mode == 0100444, "stat %d, mode %o", r, r ? 0 : st.st_mode);
}

/* The parent's pid, for the child's cross-process cases. */
static pid_t parent_pid;

static int unprivileged_child(void *unused)
{
	(void)unused;
	char path[64];
	if (drop_root() != 0)
		return child_fail("cannot drop root: %s", strerror(errno));

	long before = read_long("/proc/sys/vm/overcommit_memory");
	int e = open_errno("/proc/sys/vm/overcommit_memory", O_WRONLY);
	if (e != EACCES)
		return child_fail("open(overcommit_memory, O_WRONLY) as uid 65534: %s, want EACCES", e ? strerror(e) : "opened");
	e = open_errno("/proc/sys/vm/overcommit_memory", O_RDWR);
	if (e != EACCES)
		return child_fail("open(overcommit_memory, O_RDWR) as uid 65534: %s, want EACCES", e ? strerror(e) : "opened");
	long after = read_long("/proc/sys/vm/overcommit_memory");
	if (before == -100000 || after != before)
		return child_fail("overcommit_memory %ld before, %ld after (readable by all)", before, after);
	e = open_errno("/proc/sys/vm/drop_caches", O_WRONLY);
	if (e != EACCES)
		return child_fail("open(drop_caches, O_WRONLY): %s, want EACCES", e ? strerror(e) : "opened");
	e = open_errno("/proc/vmallocinfo", O_RDONLY);
	if (e != EACCES)
		return child_fail("open(/proc/vmallocinfo): %s, want EACCES", e ? strerror(e) : "opened");

	static const char *views[] = {"maps", "smaps", "smaps_rollup"};
	for (unsigned i = 0; i < sizeof views / sizeof views[0]; i++) {
		snprintf(path, sizeof path, "/proc/%d/%s", (int)parent_pid, views[i]);
		e = open_errno(path, O_RDONLY);
		if (e != EACCES)
			return child_fail("open(%s) of root's process: %s, want EACCES", path, e ? strerror(e) : "opened");
	}
	char target[256];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)parent_pid);
	errno = 0;
	ssize_t n = readlink(path, target, sizeof target);
	if (n != -1 || errno != EACCES)
		return child_fail("readlink(%s): %zd (%s), want EACCES", path, n, strerror(errno));
	/* The parent's status is for everyone (0444, no ptrace check). */
	snprintf(path, sizeof path, "/proc/%d/status", (int)parent_pid);
	e = open_errno(path, O_RDONLY);
	if (e != 0)
		return child_fail("open(%s): %s, want it readable", path, strerror(e));

	void *head;
	size_t len;
	errno = 0;
	long r = syscall(SYS_get_robust_list, (int)parent_pid, &head, &len);
	if (r != -1 || errno != EPERM)
		return child_fail("get_robust_list(root's process): %ld (%s), want EPERM", r, strerror(errno));
	errno = 0;
	if (kill(parent_pid, 0) != -1 || errno != EPERM)
		return child_fail("kill(root's process, 0): %s, want EPERM", strerror(errno));

	/* Our own memory view stays ours. */
	static char buf[8192];
	n = read_small_file("/proc/self/maps", buf, sizeof buf);
	if (n <= 0)
		return child_fail("/proc/self/maps as uid 65534: %zd (%s)", n, strerror(errno));

	/* setuid made us non-dumpable: /proc/self belongs to root. */
	struct stat st;
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (dumpable == 1)
		return child_fail("PR_GET_DUMPABLE after setuid: 1, want 0 (suid_dumpable)");
	if (stat("/proc/self/status", &st) != 0 || st.st_uid != 0)
		return child_fail("/proc/self/status of a non-dumpable process: uid %u, want 0", st.st_uid);
	if (write_adj("100") != EACCES)
		return child_fail("oom_score_adj of a non-dumpable process writable by uid 65534");
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
		return child_fail("PR_SET_DUMPABLE 1: %s", strerror(errno));
	if (stat("/proc/self", &st) != 0 || st.st_uid != NOBODY || st.st_gid != NOBODY)
		return child_fail("/proc/self of a dumpable uid 65534: uid %u gid %u", st.st_uid, st.st_gid);
	if (stat("/proc/self/oom_score_adj", &st) != 0 || st.st_uid != NOBODY)
		return child_fail("/proc/self/oom_score_adj: uid %u, want 65534", st.st_uid);

	/* oom_score_adj: up freely, down to oom_score_adj_min (0, set by the
	 * root parent), not below. */
	if ((e = write_adj("100")) != 0 || read_long("/proc/self/oom_score_adj") != 100)
		return child_fail("raising oom_score_adj to 100: %s", strerror(e));
	if ((e = write_adj("50")) != 0 || read_long("/proc/self/oom_score_adj") != 50)
		return child_fail("lowering oom_score_adj to 50 (above the minimum 0): %s", strerror(e));
	if ((e = write_adj("-1")) != EACCES)
		return child_fail("lowering oom_score_adj to -1 as uid 65534: %s, want EACCES", e ? strerror(e) : "done");
	if (read_long("/proc/self/oom_score_adj") != 50)
		return child_fail("oom_score_adj %ld after the refused write, want 50", read_long("/proc/self/oom_score_adj"));
	return 0;
}

int main(void)
{
	check_init("t_procperm");
	check_modes();
	if (geteuid() != 0) {
		check_skip("unprivileged", "not root: cannot switch to uid 65534");
		return check_done();
	}
	int e = open_errno("/proc/sys/vm/overcommit_memory", O_WRONLY);
	CHECKF("root_opens_sysctl_for_write", e == 0, "%s", strerror(e));
	/* Sysctls give root no override: drop_caches (0200) is not readable. */
	e = open_errno("/proc/sys/vm/drop_caches", O_RDONLY);
	CHECKF("root_cannot_read_drop_caches", e == EACCES, "%s, want EACCES", e ? strerror(e) : "opened");
	/* A privileged write sets oom_score_adj_min to 0 for the child. */
	e = write_adj("0");
	CHECKF("root_sets_oom_score_adj", e == 0, "%s", strerror(e));
	parent_pid = getpid();
	check_child("unprivileged", unprivileged_child, NULL);
	return check_done();
}
