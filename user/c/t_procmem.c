/*
 * t_procmem.c: /proc/PID/mem and vm.mmap_min_addr as Linux has them.
 *
 * - a parent reads a child's memory at offset = address and sees the
 *   child's own data (its copy after fork, not the parent's); it writes
 *   into the child and the child sees the bytes;
 * - a write into a read-only private file mapping of the child breaks
 *   copy-on-write: the child sees the new bytes, the file and the parent's
 *   mapping of it keep the old ones, and the child still cannot write
 *   there itself (SIGSEGV);
 * - a hole reads EIO; a read that starts before a hole is short; an
 *   address past user space is EIO; a write into a hole is EIO;
 * - while the child spins on another CPU, its counter read through mem
 *   moves on, and a flag written through mem stops it;
 * - once the process is gone, an open mem file reads 0 bytes;
 * - access: uid 65534 may not open root's mem (EACCES), may open a
 *   same-uid dumpable process's, not a non-dumpable one's (EACCES);
 * - mmap_min_addr: 0644 root; as uid 65534 MAP_FIXED below it is EPERM
 *   and a hint below it is moved up; writing it as uid 65534 is EACCES;
 *   root may raise it (then mapping below the new value is EPERM), bad
 *   values are EINVAL; the value is restored at the end.
 */
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include "check.h"
#include "mmtest.h"

static char data[64] = "parent data";
static char buf2[64] = "untouched";
static volatile long counter;
static volatile int stop_flag;

static int open_mem(pid_t pid, int flags)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	return open(path, flags);
}

/* A child that changes its data, reports, then waits for one byte. */
struct kid {
	pid_t pid;
	int to[2], from[2];
};

static int kid_wait(struct kid *k)
{
	char c = 0;
	return read(k->from[0], &c, 1) == 1 ? c : -1;
}

static void kid_go(struct kid *k, char c)
{
	if (write(k->to[1], &c, 1) != 1)
		check_note("# t_procmem: cannot write to the child");
}

static int kid_end(struct kid *k)
{
	int st = -1;
	kid_go(k, 'q');
	waitpid(k->pid, &st, 0);
	close(k->to[0]), close(k->to[1]), close(k->from[0]), close(k->from[1]);
	return st;
}

static char *rofile;

/* The child: a loop of commands from the parent. */
static void kid_main(struct kid *k)
{
	strcpy(data, "child data");
	char c = 'r';
	if (write(k->from[1], &c, 1) != 1)
		_exit(3);
	for (;;) {
		if (read(k->to[0], &c, 1) != 1)
			_exit(3);
		char ans = 'n';
		switch (c) {
		case 'w': /* the parent wrote "written" into buf2 */
			ans = strcmp(buf2, "written") == 0 ? 'y' : 'n';
			break;
		case 'f': /* the parent wrote "XYZ" into the read-only file page */
			ans = memcmp(rofile, "XYZe 0000", 9) == 0 ? 'y' : 'n';
			if (ans == 'y' && probe(rofile, PROBE_WRITE) != PROBE_SEGV)
				ans = 'w';
			break;
		case 's': /* spin until the parent sets stop_flag */
			if (write(k->from[1], &c, 1) != 1)
				_exit(3);
			while (!stop_flag)
				counter++;
			ans = 'y';
			break;
		case 'q':
			_exit(0);
		}
		if (write(k->from[1], &ans, 1) != 1)
			_exit(3);
	}
}

static int kid_start(struct kid *k)
{
	if (pipe(k->to) || pipe(k->from))
		return -1;
	k->pid = fork();
	if (k->pid == 0)
		kid_main(k);
	return k->pid > 0 && kid_wait(k) == 'r' ? 0 : -1;
}

static void check_child_memory(void)
{
	struct kid k;
	if (kid_start(&k)) {
		CHECKF("child_started", 0, "%s", strerror(errno));
		return;
	}
	int fd = open_mem(k.pid, O_RDWR);
	CHECKF("open_child_mem", fd >= 0, "%s", strerror(errno));
	char got[64] = {0};
	ssize_t n = pread(fd, got, sizeof got, (off_t)(uintptr_t)data);
	CHECKF("read_child_data", n == sizeof got && strcmp(got, "child data") == 0 && strcmp(data, "parent data") == 0,
	       "read %zd: \"%s\"; mine \"%s\"", n, got, data);
	n = pwrite(fd, "written", 8, (off_t)(uintptr_t)buf2);
	kid_go(&k, 'w');
	int ans = kid_wait(&k);
	CHECKF("write_child_seen", n == 8 && ans == 'y' && strcmp(buf2, "untouched") == 0, "pwrite %zd, child %c", n,
	       ans);

	/* The read-only private file page: copy-on-write for the child only. */
	n = pwrite(fd, "XYZ", 3, (off_t)(uintptr_t)rofile);
	kid_go(&k, 'f');
	ans = kid_wait(&k);
	char file[16] = {0};
	int tfd = open(getenv("TESTDATA") ? getenv("TESTDATA") : "/etc/testdata.txt", O_RDONLY);
	ssize_t fn = pread(tfd, file, 9, 0);
	close(tfd);
	CHECKF("write_read_only_private_breaks_cow",
	       n == 3 && ans == 'y' && fn == 9 && memcmp(file, "line 0000", 9) == 0 && memcmp(rofile, "line 0000", 9) == 0,
	       "pwrite %zd, child %c (w: it could write itself), file \"%.9s\", parent's mapping \"%.9s\"", n, ans, file,
	       rofile);

	/* While it runs. */
	kid_go(&k, 's');
	kid_wait(&k);
	long c1 = -1, c2 = -1;
	for (int i = 0; i < 200 && c2 <= c1; i++) {
		if (pread(fd, &c1, sizeof c1, (off_t)(uintptr_t)&counter) != sizeof c1)
			break;
		usleep(2000);
		if (pread(fd, &c2, sizeof c2, (off_t)(uintptr_t)&counter) != sizeof c2)
			break;
	}
	int one = 1;
	n = pwrite(fd, &one, sizeof one, (off_t)(uintptr_t)&stop_flag);
	ans = kid_wait(&k);
	CHECKF("running_child", c2 > c1 && c1 >= 0 && n == sizeof one && ans == 'y',
	       "counter %ld then %ld, stop written %zd, child %c", c1, c2, n, ans);
	int st = kid_end(&k);
	CHECKF("child_exit", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	n = pread(fd, got, 8, (off_t)(uintptr_t)data);
	CHECKF("gone_reads_zero", n == 0, "read %zd (%s)", n, n < 0 ? strerror(errno) : "");
	close(fd);
}

static void check_holes(void)
{
	char *p = anon(3 * PAGE);
	memset(p, 'a', 3 * PAGE);
	munmap(p + PAGE, PAGE);
	int fd = open("/proc/self/mem", O_RDWR);
	char b[32];
	errno = 0;
	ssize_t n = pread(fd, b, 8, (off_t)(uintptr_t)(p + PAGE));
	CHECKF("hole_eio", n == -1 && errno == EIO, "read %zd (%s)", n, strerror(errno));
	n = pread(fd, b, 32, (off_t)(uintptr_t)(p + PAGE - 8));
	CHECKF("short_before_hole", n == 8 && memcmp(b, "aaaaaaaa", 8) == 0, "read %zd", n);
	errno = 0;
	n = pwrite(fd, "x", 1, (off_t)(uintptr_t)(p + PAGE));
	CHECKF("write_hole_eio", n == -1 && errno == EIO, "write %zd (%s)", n, strerror(errno));
	errno = 0;
	n = pread(fd, b, 8, (off_t)0x800000000000LL);
	CHECKF("past_user_space_eio", n == -1 && errno == EIO, "read %zd (%s)", n, strerror(errno));
	/* Own memory through lseek + read. */
	off_t o = lseek(fd, (off_t)(uintptr_t)(p + 2 * PAGE), SEEK_SET);
	n = read(fd, b, 4);
	CHECKF("lseek_read_self", o == (off_t)(uintptr_t)(p + 2 * PAGE) && n == 4 && memcmp(b, "aaaa", 4) == 0,
	       "lseek %lld, read %zd", (long long)o, n);
	close(fd);
	munmap(p, 3 * PAGE);
	struct stat st;
	int r = stat("/proc/self/mem", &st);
	CHECKF("mem_0600", r == 0 && st.st_mode == 0100600, "mode %o", r ? 0 : st.st_mode);
}

static pid_t parent_pid;

static int nobody_child(void *unused)
{
	(void)unused;
	if (drop_root())
		return child_fail("cannot drop root: %s", strerror(errno));
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (open_mem(parent_pid, O_RDONLY) >= 0 || errno != EACCES)
		return child_fail("root's mem as uid 65534: %s, want EACCES", strerror(errno));
	/* A same-uid process: dumpable, then not. */
	int p[2], q[2];
	if (pipe(p) || pipe(q))
		return child_fail("pipe");
	pid_t g = fork();
	if (g == 0) {
		char c;
		if (read(p[0], &c, 1) != 1)
			_exit(1);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (write(q[1], &c, 1) != 1)
			_exit(1);
		if (read(p[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	int fd = open_mem(g, O_RDWR);
	int e1 = fd < 0 ? errno : 0;
	long v = 0;
	ssize_t n = fd >= 0 ? pread(fd, &v, sizeof v, (off_t)(uintptr_t)&parent_pid) : -1;
	if (fd >= 0)
		close(fd);
	char c = 'x';
	if (write(p[1], &c, 1) != 1 || read(q[0], &c, 1) != 1)
		return child_fail("sync");
	fd = open_mem(g, O_RDONLY);
	int e2 = fd < 0 ? errno : 0;
	if (write(p[1], &c, 1) != 1)
		return child_fail("sync");
	waitpid(g, NULL, 0);
	if (e1 || n != sizeof v || (pid_t)v != parent_pid)
		return child_fail("same-uid dumpable mem: open %s, read %zd", e1 ? strerror(e1) : "ok", n);
	if (e2 != EACCES)
		return child_fail("same-uid non-dumpable mem: %s, want EACCES", e2 ? strerror(e2) : "opened");
	return 0;
}

/* mmap_min_addr as uid 65534 with the current value V. */
static int min_addr_child(void *arg)
{
	unsigned long v = *(unsigned long *)arg;
	if (drop_root())
		return child_fail("cannot drop root: %s", strerror(errno));
	if (open("/proc/sys/vm/mmap_min_addr", O_WRONLY) >= 0 || errno != EACCES)
		return child_fail("open mmap_min_addr for writing as uid 65534: %s, want EACCES", strerror(errno));
	void *below = (void *)(v - PAGE);
	void *r = mmap(below, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (r != MAP_FAILED || errno != EPERM)
		return child_fail("MAP_FIXED at %p below mmap_min_addr %#lx: %p (%s), want EPERM", below, v, r,
				  strerror(errno));
	r = mmap(below, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED || (uintptr_t)r < v)
		return child_fail("hint %p below mmap_min_addr %#lx: %p", below, v, r);
	munmap(r, PAGE);
	r = mmap((void *)v, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r != (void *)v)
		return child_fail("MAP_FIXED at mmap_min_addr %#lx: %p (%s)", v, r, strerror(errno));
	munmap(r, PAGE);
	return 0;
}

static int write_min_addr(const char *s)
{
	int fd = open("/proc/sys/vm/mmap_min_addr", O_WRONLY);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, s, strlen(s));
	int e = n < 0 ? errno : 0;
	close(fd);
	return e;
}

static unsigned long read_min_addr(void)
{
	char b[64];
	return read_small_file("/proc/sys/vm/mmap_min_addr", b, sizeof b) > 0 ? strtoul(b, NULL, 10) : 0;
}

static void check_min_addr(void)
{
	struct stat st;
	int r = stat("/proc/sys/vm/mmap_min_addr", &st);
	CHECKF("mmap_min_addr_0644", r == 0 && st.st_mode == 0100644 && st.st_uid == 0, "mode %o", r ? 0 : st.st_mode);
	unsigned long orig = read_min_addr();
	if (in_mmkernel())
		CHECKF("mmap_min_addr_default", orig == 65536, "%lu", orig);
	if (orig < PAGE) {
		check_skip("mmap_min_addr_eperm", "mmap_min_addr below a page");
		return;
	}
	check_child("mmap_min_addr_eperm", min_addr_child, &orig);
	int e = write_min_addr("131072\n");
	unsigned long now = read_min_addr();
	CHECKF("mmap_min_addr_root_writes", e == 0 && now == 131072, "write: %s, value %lu", e ? strerror(e) : "ok", now);
	if (now == 131072)
		check_child("mmap_min_addr_raised_eperm", min_addr_child, &now);
	e = write_min_addr("-1");
	int e2 = write_min_addr("abc");
	CHECKF("mmap_min_addr_bad_values", e == EINVAL && e2 == EINVAL && read_min_addr() == 131072, "-1: %s, abc: %s",
	       strerror(e), strerror(e2));
	char s[32];
	snprintf(s, sizeof s, "%lu", orig);
	e = write_min_addr(s);
	CHECKF("mmap_min_addr_restored", e == 0 && read_min_addr() == orig, "%s", strerror(e));
}

int main(void)
{
	check_init("t_procmem");
	parent_pid = getpid();
	const char *path = getenv("TESTDATA") ? getenv("TESTDATA") : "/etc/testdata.txt";
	int fd = path ? open(path, O_RDONLY) : -1;
	rofile = fd >= 0 ? mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (rofile == MAP_FAILED) {
		CHECKF("map_testdata", 0, "%s", strerror(errno));
		return check_done();
	}
	close(fd);
	check_child_memory();
	check_holes();
	check_child("access_rules", nobody_child, NULL);
	check_min_addr();
	return check_done();
}
