/*
 * t_procvm.c: process_vm_readv(2) and process_vm_writev(2) as Linux does
 * them (mm/process_vm_access.c): copies between this process and a child,
 * scatter-gather over both iovec lists, a short count where the remote
 * memory ends, no write into a read-only area (no FOLL_FORCE, unlike
 * /proc/PID/mem), and the errnos: EINVAL, ESRCH, EFAULT, EPERM.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "mmtest.h"

static long vm_read(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn,
		    unsigned long flags)
{
	return syscall(SYS_process_vm_readv, pid, l, ln, r, rn, flags);
}

static long vm_write(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn,
		     unsigned long flags)
{
	return syscall(SYS_process_vm_writev, pid, l, ln, r, rn, flags);
}

/* Memory the child changes after fork (same addresses in both). */
static char *area;   /* 3 pages rw, then a hole, then 1 page read-only */
static int to_child[2], to_parent[2];

static void child_main(void)
{
	strcpy(area, "child data");
	strcpy(area + PAGE - 3, "cross");
	char c = 1;
	write(to_parent[1], &c, 1);
	/* Wait for the parent's writes, then report what arrived. */
	read(to_child[0], &c, 1);
	int ok = memcmp(area + 100, "written by parent", 17) == 0 && memcmp(area + 2 * PAGE, "ab", 2) == 0 &&
		 memcmp(area + 2 * PAGE + 10, "cd", 2) == 0;
	write(to_parent[1], &ok, sizeof ok);
	read(to_child[0], &c, 1);
	_exit(0);
}

static int read_as_nobody(void *arg)
{
	pid_t parent = *(pid_t *)arg;
	if (drop_root())
		return child_fail("setuid");
	char buf[8];
	struct iovec l = {buf, sizeof buf}, r = {area, sizeof buf};
	errno = 0;
	if (vm_read(parent, &l, 1, &r, 1, 0) != -1 || errno != EPERM)
		return child_fail("read of root's process as nobody: errno %d, want EPERM", errno);
	return 0;
}

int main(void)
{
	check_init("t_procvm");
	area = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || pipe(to_child) || pipe(to_parent))
		return 1;
	munmap(area + 3 * PAGE, PAGE);
	mprotect(area + 4 * PAGE, PAGE, PROT_READ);
	strcpy(area, "parent data");
	pid_t pid = fork();
	if (pid == 0)
		child_main();
	char c;
	read(to_parent[0], &c, 1);

	char buf[64] = {0};
	struct iovec l = {buf, 10}, r = {area, 10};
	long n = vm_read(pid, &l, 1, &r, 1, 0);
	CHECKF("readv_child_memory", n == 10 && memcmp(buf, "child data", 10) == 0, "n %ld, got %.10s", n, buf);
	CHECK("own_copy_unchanged", strcmp(area, "parent data") == 0);

	/* Scatter-gather: remote "chi" + "ld " + "cross" into 2 local runs. */
	char a[4] = {0}, b[16] = {0};
	struct iovec ls[2] = {{a, 3}, {b, 8}};
	struct iovec rs[3] = {{area, 3}, {area + 3, 3}, {area + PAGE - 3, 5}};
	n = vm_read(pid, ls, 2, rs, 3, 0);
	CHECKF("readv_scatter_gather_across_pages", n == 11 && memcmp(a, "chi", 3) == 0 && memcmp(b, "ld cross", 8) == 0,
	       "n %ld, a %.3s b %.8s", n, a, b);

	/* Short where the remote memory ends (the hole after page 2). */
	char big[PAGE];
	struct iovec lb = {big, sizeof big}, rb = {area + 3 * PAGE - 100, sizeof big};
	n = vm_read(pid, &lb, 1, &rb, 1, 0);
	CHECKF("readv_short_at_the_end_of_the_mapping", n == 100, "n %ld", n);
	struct iovec rh = {area + 3 * PAGE, 10};
	errno = 0;
	n = vm_read(pid, &l, 1, &rh, 1, 0);
	CHECKF("readv_of_a_hole_efault", n == -1 && errno == EFAULT, "n %ld errno %d", n, errno);

	/* Writes: one run into two remote pieces. */
	char msg[] = "written by parent";
	struct iovec lw = {msg, 17}, rw = {area + 100, 17};
	CHECKF("writev_child_memory", vm_write(pid, &lw, 1, &rw, 1, 0) == 17, "errno %d", errno);
	char abcd[] = "abcd";
	struct iovec lw2 = {abcd, 4}, rw2[2] = {{area + 2 * PAGE, 2}, {area + 2 * PAGE + 10, 2}};
	CHECK("writev_gather", vm_write(pid, &lw2, 1, rw2, 2, 0) == 4);
	struct iovec rro = {area + 4 * PAGE, 2};
	errno = 0;
	n = vm_write(pid, &lw2, 1, &rro, 1, 0);
	CHECKF("writev_into_read_only_efault", n == -1 && errno == EFAULT, "n %ld errno %d", n, errno);
	c = 1;
	write(to_child[1], &c, 1);
	int ok = 0;
	read(to_parent[0], &ok, sizeof ok);
	CHECK("child_sees_the_writes", ok == 1);

	/* Errors. */
	CHECK_ERRNO("flags_einval", vm_read(pid, &l, 1, &r, 1, 1), EINVAL);
	CHECK_ERRNO("too_many_iovecs_einval", vm_read(pid, &l, 1025, &r, 1, 0), EINVAL);
	struct iovec lbad = {(void *)8, 10};
	CHECK_ERRNO("bad_local_address_efault", vm_read(pid, &lbad, 1, &r, 1, 0), EFAULT);
	CHECK_ERRNO("no_such_process_esrch", vm_read(0x7ffffff0, &l, 1, &r, 1, 0), ESRCH);
	struct iovec lz = {buf, 0};
	CHECK("nothing_to_move_is_0", vm_read(pid, &lz, 1, &r, 1, 0) == 0);
	n = vm_read(getpid(), &l, 1, &r, 1, 0);
	CHECKF("own_process", n == 10 && memcmp(buf, "parent dat", 10) == 0, "n %ld", n);
	pid_t me = getpid();
	if (geteuid() == 0)
		check_child("nobody_cannot_read_root_eperm", read_as_nobody, &me);
	write(to_child[1], &c, 1);
	waitpid(pid, NULL, 0);
	return check_done();
}
