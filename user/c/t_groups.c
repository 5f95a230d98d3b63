/*
 * t_groups.c: supplementary groups, getgroups(2) and setgroups(2)
 * (kernel/groups.c, kernel/sys.c), and where they count:
 * - setgroups keeps the list sorted; getgroups(0) is its length, a list
 *   shorter than that is EINVAL, a negative size EINVAL (set_and_get,
 *   getgroups_errors);
 * - setgroups: more than NGROUPS_MAX, a negative size or the gid -1 is
 *   EINVAL, a bad list EFAULT; setgroups(0) empties the list
 *   (setgroups_errors, setgroups_empty);
 * - /proc/self/status shows them after "Groups:" with a space after each
 *   (status_line);
 * - a child inherits them; without CAP_SETGID setgroups is EPERM and the
 *   list stays (inherited_and_eperm);
 * - a file whose group is a supplementary group opens with the group's
 *   permission bits, and does not once the group is gone (group_permission);
 * - the owner of a file may chown it to a supplementary group, not to
 *   another one (chown_to_group);
 * - System V IPC checks them too: a segment readable by its group only
 *   attaches read-only for a member (ipc_permission).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define NGROUPS_MAX_LINUX 65536
#define USER 4242
#define GROUP_A 3001
#define GROUP_B 3002
#define GROUP_OTHER 3003

static long sys_getgroups(long size, void *list)
{
	return syscall(SYS_getgroups, size, list);
}

static long sys_setgroups(long size, const void *list)
{
	return syscall(SYS_setgroups, size, list);
}

static int err_of(long r)
{
	return r == -1 ? errno : 0;
}

/* Become USER with only `groups` as supplementary groups. */
static int become_user(const gid_t *groups, int n)
{
	if (sys_setgroups(n, groups) != 0 || setgid(USER) != 0 || setuid(USER) != 0)
		return -1;
	return 0;
}

static char path[64];

static int reads_group_file(void *arg)
{
	gid_t g[1] = {GROUP_A};
	if (become_user(g, *(int *)arg) != 0)
		return child_fail("cannot become uid %d: errno %d", USER, errno);
	int fd = open(path, O_RDONLY);
	int e = errno;
	if (*(int *)arg == 1) {
		if (fd < 0)
			return child_fail("member: open errno %d", e);
		char c = 0;
		if (read(fd, &c, 1) != 1 || c != 'g')
			return child_fail("member: read %d", c);
		return 0;
	}
	return fd < 0 && e == EACCES ? 0 : child_fail("non-member: open %d errno %d", fd, e);
}

static int chowns_to_group(void *arg)
{
	(void)arg;
	gid_t g[2] = {GROUP_A, GROUP_B};
	if (become_user(g, 2) != 0)
		return child_fail("cannot become uid %d: errno %d", USER, errno);
	char mine[80];
	snprintf(mine, sizeof mine, "%s.own", path);
	int fd = open(mine, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		return child_fail("create %s: errno %d", mine, errno);
	close(fd);
	int ok = chown(mine, -1, GROUP_B);
	int e_ok = errno;
	struct stat st;
	stat(mine, &st);
	int bad = chown(mine, -1, GROUP_OTHER);
	int e_bad = errno;
	unlink(mine);
	if (ok != 0 || st.st_gid != GROUP_B)
		return child_fail("chown to a member group: %d errno %d, gid %u", ok, e_ok, (unsigned)st.st_gid);
	return bad == -1 && e_bad == EPERM ? 0 : child_fail("chown to another group: %d errno %d", bad, e_bad);
}

static int attaches_segment(void *arg)
{
	int id = *(int *)arg;
	gid_t g[1] = {GROUP_A};
	if (become_user(g, 1) != 0)
		return child_fail("cannot become uid %d: errno %d", USER, errno);
	void *r = shmat(id, NULL, SHM_RDONLY);
	if (r == (void *)-1)
		return child_fail("read-only attach: errno %d", errno);
	shmdt(r);
	void *w = shmat(id, NULL, 0);
	int e = errno;
	if (w != (void *)-1)
		return child_fail("read-write attach was allowed");
	if (e != EACCES)
		return child_fail("read-write attach: errno %d", e);
	/* Without the group: only the "other" bits, which are 0. */
	if (sys_setgroups(0, NULL) != -1 || errno != EPERM)
		return child_fail("setgroups as a user: errno %d", errno);
	return 0;
}

static int inherits(void *arg)
{
	(void)arg;
	gid_t got[8];
	long n = sys_getgroups(8, got);
	if (n != 2 || got[0] != GROUP_A || got[1] != GROUP_B)
		return child_fail("child sees %ld groups", n);
	if (setuid(USER) != 0)
		return child_fail("setuid: errno %d", errno);
	gid_t none[1] = {GROUP_OTHER};
	long r = sys_setgroups(1, none);
	int e = errno;
	n = sys_getgroups(8, got);
	if (r != -1 || e != EPERM)
		return child_fail("setgroups without CAP_SETGID: %ld errno %d", r, e);
	return n == 2 ? 0 : child_fail("the list changed: %ld groups", n);
}

static int status_groups(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[512];
	int found = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Groups:", 7) == 0) {
			snprintf(out, len, "%s", line);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

int main(void)
{
	check_init("t_groups");
	report_init();
	if (geteuid() != 0) {
		const char *cases[] = {"set_and_get",	     "getgroups_errors", "setgroups_errors",
				       "setgroups_empty",    "status_line",	 "inherited_and_eperm",
				       "group_permission",   "chown_to_group",	 "ipc_permission"};
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], "not root: setgroups needs CAP_SETGID");
		return check_done();
	}

	gid_t set[3] = {GROUP_B, GROUP_OTHER, GROUP_A};
	long r = sys_setgroups(3, set);
	gid_t got[8] = {0};
	long n0 = sys_getgroups(0, NULL);
	long n = sys_getgroups(8, got);
	CHECKF("set_and_get",
	       r == 0 && n0 == 3 && n == 3 && got[0] == GROUP_A && got[1] == GROUP_B && got[2] == GROUP_OTHER,
	       "setgroups %ld errno %d; getgroups(0) %ld, getgroups %ld: %u %u %u", r, errno, n0, n, (unsigned)got[0],
	       (unsigned)got[1], (unsigned)got[2]);

	int short_list = err_of(sys_getgroups(2, got));
	int negative = err_of(sys_getgroups(-1, got));
	int bad_buf = err_of(sys_getgroups(3, (void *)8));
	CHECKF("getgroups_errors", short_list == EINVAL && negative == EINVAL && bad_buf == EFAULT,
	       "size 2: %d, size -1: %d, bad list: %d", short_list, negative, bad_buf);

	static gid_t many[NGROUPS_MAX_LINUX + 1];
	int too_many = err_of(sys_setgroups(NGROUPS_MAX_LINUX + 1, many));
	int neg = err_of(sys_setgroups(-1, set));
	int fault = err_of(sys_setgroups(2, (void *)8));
	gid_t invalid[2] = {GROUP_A, (gid_t)-1};
	int minus_one = err_of(sys_setgroups(2, invalid));
	n = sys_getgroups(8, got);
	CHECKF("setgroups_errors",
	       too_many == EINVAL && neg == EINVAL && fault == EFAULT && minus_one == EINVAL && n == 3,
	       "65537: %d, -1: %d, bad list: %d, gid -1: %d; %ld groups left", too_many, neg, fault, minus_one, n);

	char line[512] = "";
	int sr = status_groups(line, sizeof line);
	CHECKF("status_line", sr == 0 && strcmp(line, "Groups:\t3001 3002 3003 \n") == 0, "'%s'", line);

	gid_t two[2] = {GROUP_B, GROUP_A};
	sys_setgroups(2, two);
	check_child("inherited_and_eperm", inherits, NULL);

	/* A file of root's, group GROUP_A, readable by the group only. */
	snprintf(path, sizeof path, "/tmp/t_groups.%d", (int)getpid());
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	int made = fd >= 0 && write(fd, "g", 1) == 1;
	if (fd >= 0)
		close(fd);
	made = made && chown(path, 0, GROUP_A) == 0 && chmod(path, 0040) == 0;
	if (made) {
		int member = 1, stranger = 0;
		int a = run_child(reads_group_file, &member);
		int b = run_child(reads_group_file, &stranger);
		CHECKF("group_permission", a == 0 && b == 0, "member: status %#x, non-member: status %#x (%s)", a, b,
		       report->why);
		chmod(path, 0777);
		check_child("chown_to_group", chowns_to_group, NULL);
	} else {
		CHECKF("group_permission", 0, "cannot make %s: errno %d", path, errno);
		CHECKF("chown_to_group", 0, "no file");
	}
	unlink(path);

	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0040);
	struct shmid_ds ds;
	int set_gid = id >= 0 && shmctl(id, IPC_STAT, &ds) == 0;
	if (set_gid) {
		ds.shm_perm.gid = GROUP_A;
		set_gid = shmctl(id, IPC_SET, &ds) == 0;
	}
	if (set_gid)
		check_child("ipc_permission", attaches_segment, &id);
	else
		CHECKF("ipc_permission", 0, "shmget/IPC_SET: errno %d", errno);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);

	long cleared = sys_setgroups(0, NULL);
	CHECKF("setgroups_empty", cleared == 0 && sys_getgroups(0, NULL) == 0, "setgroups(0) %ld errno %d", cleared,
	       errno);
	return check_done();
}
