/*
 * t_mprotect.c: mprotect(2) (error cases through the raw system call:
 * musl's wrapper rounds the start down).
 *
 * - errors: EINVAL for an unaligned start, unknown PROT bits, both
 *   PROT_GROWSDOWN and PROT_GROWSUP; ENOMEM for a range with a hole, one
 *   that starts in a hole, or one whose end wraps; length 0 succeeds;
 *   EACCES for PROT_WRITE on a MAP_SHARED mapping of an O_RDONLY file
 *   (a MAP_PRIVATE one may become writable: copy-on-write);
 * - one call over three adjacent areas (private, shared, read-only)
 *   changes them all;
 * - dropping PROT_WRITE keeps the data and makes writes die of SIGSEGV;
 *   giving it back makes them work again; PROT_NONE makes reads die too;
 * - a page first read (the shared zero page) then made writable gets its
 *   own copy: other fresh pages still read zero;
 * - mprotect does not break copy-on-write: after fork, PROT_READ then
 *   PROT_READ|PROT_WRITE, a parent write is still invisible to the child;
 * - /proc/self/maps shows the area split in three by a change in the
 *   middle and merged back into one when it is undone.
 */
#include <sched.h>
#include "check.h"
#include "mmtest.h"

static const char *testdata;

static void check_errors(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("errors_setup", p != NULL, "errno %d", errno))
		return;
	CHECK_ERRNO("unaligned_einval", sys_mprotect(p + 1, PAGE, PROT_READ), EINVAL);
	CHECK_ERRNO("unknown_prot_bit_einval", sys_mprotect(p, PAGE, PROT_READ | 0x80), EINVAL);
	CHECK_ERRNO("growsdown_and_growsup_einval", sys_mprotect(p, PAGE, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP), EINVAL);
	CHECKF("zero_length_ok", mprotect(p, 0, PROT_READ) == 0, "errno %d", errno);
	CHECK_ERRNO("wrapping_length_enomem", sys_mprotect(p, (size_t)-PAGE, PROT_READ), ENOMEM);
	munmap(p + PAGE, PAGE);
	CHECK_ERRNO("range_with_hole_enomem", mprotect(p, 4 * PAGE, PROT_READ), ENOMEM);
	CHECK_ERRNO("range_starting_in_hole_enomem", mprotect(p + PAGE, 3 * PAGE, PROT_READ), ENOMEM);
	CHECK_ERRNO("unmapped_enomem", mprotect(p + PAGE, PAGE, PROT_READ), ENOMEM);
	munmap(p, 4 * PAGE);

	int fd = open(testdata, O_RDONLY);
	if (!CHECKF("open_testdata", fd >= 0, "open(%s): %s", testdata, strerror(errno)))
		return;
	char *s = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (CHECKF("file_shared_map", s != MAP_FAILED, "errno %d", errno)) {
		CHECK_ERRNO("shared_rdonly_file_write_eacces", mprotect(s, PAGE, PROT_READ | PROT_WRITE), EACCES);
		CHECKF("shared_rdonly_file_still_readable", s[0] == 'l', "reads %d", s[0]);
		munmap(s, PAGE);
	}
	char *q = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	if (CHECKF("file_private_map", q != MAP_FAILED, "errno %d", errno)) {
		int r = mprotect(q, PAGE, PROT_READ | PROT_WRITE);
		CHECKF("private_rdonly_file_write_ok", r == 0, "errno %d", errno);
		if (r == 0) {
			q[0] = 'L';
			char c = 0;
			CHECKF("private_file_write_is_private", q[0] == 'L' && pread(fd, &c, 1, 0) == 1 && c == 'l',
			       "mapping %c, file %c", q[0], c);
		}
		munmap(q, PAGE);
	}
	close(fd);
}

static void check_several_areas(void)
{
	char *x = mmap(NULL, 6 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("areas_setup", x != MAP_FAILED, "errno %d", errno))
		return;
	char *a = mmap(x, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	char *b = mmap(x + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	char *c = mmap(x + 4 * PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (!CHECKF("areas_map", a == x && b == x + 2 * PAGE && c == x + 4 * PAGE, "%p %p %p", (void *)a, (void *)b,
		    (void *)c)) {
		munmap(x, 6 * PAGE);
		return;
	}
	a[0] = 'a';
	b[0] = 'b';
	int r = mprotect(x, 6 * PAGE, PROT_READ);
	int w0 = probe(x, PROBE_WRITE), w2 = probe(x + 2 * PAGE, PROBE_WRITE), w5 = probe(x + 5 * PAGE, PROBE_WRITE);
	CHECKF("three_areas_read_only", r == 0 && w0 == PROBE_SEGV && w2 == PROBE_SEGV && w5 == PROBE_SEGV,
	       "mprotect %d (errno %d); writes: %s %s %s", r, errno, probe_name(w0), probe_name(w2), probe_name(w5));
	r = mprotect(x, 6 * PAGE, PROT_READ | PROT_WRITE);
	int ok = r == 0;
	if (ok) {
		for (int i = 0; i < 6; i++)
			x[i * PAGE + 1] = (char)i;
		for (int i = 0; i < 6; i++)
			ok &= x[i * PAGE + 1] == (char)i;
	}
	CHECKF("three_areas_writable", ok && a[0] == 'a' && b[0] == 'b', "mprotect %d errno %d", r, errno);
	munmap(x, 6 * PAGE);
}

static void check_drop_write(void)
{
	char *p = anon(2 * PAGE);
	if (!CHECKF("drop_write_setup", p != NULL, "errno %d", errno))
		return;
	p[0] = 0x11;
	p[PAGE] = 0x22;
	int r = mprotect(p, 2 * PAGE, PROT_READ);
	int w = probe(p + PAGE + 5, PROBE_WRITE), rd = probe(p, PROBE_READ);
	CHECKF("drop_write_sigsegv", r == 0 && w == PROBE_SEGV && rd == PROBE_OK, "mprotect %d; write %s, read %s", r,
	       probe_name(w), probe_name(rd));
	CHECKF("drop_write_keeps_data", p[0] == 0x11 && p[PAGE] == 0x22, "reads %d %d", p[0], p[PAGE]);
	r = mprotect(p, 2 * PAGE, PROT_READ | PROT_WRITE);
	if (CHECKF("restore_write", r == 0, "errno %d", errno)) {
		p[1] = 0x33;
		CHECK("restore_write_works", p[0] == 0x11 && p[1] == 0x33);
	}
	r = mprotect(p, PAGE, PROT_NONE);
	rd = probe(p, PROBE_READ);
	w = probe(p, PROBE_WRITE);
	int other = probe(p + PAGE, PROBE_WRITE);
	CHECKF("prot_none_sigsegv", r == 0 && rd == PROBE_SEGV && w == PROBE_SEGV && other == PROBE_OK,
	       "mprotect %d; read %s, write %s, next page write %s", r, probe_name(rd), probe_name(w), probe_name(other));
	r = mprotect(p, PAGE, PROT_READ);
	CHECKF("prot_none_keeps_data", r == 0 && p[0] == 0x11 && p[1] == 0x33, "mprotect %d", r);
	munmap(p, 2 * PAGE);
}

static void check_zero_page(void)
{
	char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("zero_page_setup", p != MAP_FAILED, "errno %d", errno))
		return;
	volatile char c = p[100]; /* maps the zero page */
	(void)c;
	int r = mprotect(p, PAGE, PROT_READ | PROT_WRITE);
	if (r == 0)
		memset(p, 0x77, PAGE);
	char *q = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECKF("write_after_read_gets_own_page", r == 0 && q != MAP_FAILED && q[100] == 0 && p[100] == 0x77,
	       "mprotect %d; a fresh page reads %d", r, q != MAP_FAILED ? q[100] : -1);
	munmap(p, PAGE);
	if (q != MAP_FAILED)
		munmap(q, PAGE);
}

static volatile int *flag;
static char *cow;

static int cow_child(void *unused)
{
	(void)unused;
	for (long i = 0; *flag != 1 && i < 2000000; i++)
		sched_yield();
	if (*flag != 1)
		return child_fail("the parent never finished");
	return cow[0] == 'o' && cow[PAGE] == 'o' ? 0 : child_fail("child sees %c %c, want o o", cow[0], cow[PAGE]);
}

static void check_keeps_cow(void)
{
	cow = anon(2 * PAGE);
	if (!CHECKF("cow_setup", cow != NULL && flag != MAP_FAILED, "errno %d", errno))
		return;
	cow[0] = cow[PAGE] = 'o';
	*flag = 0;
	report->why[0] = '\0';
	pid_t pid = fork();
	if (pid == 0)
		_exit(cow_child(NULL));
	int r1 = mprotect(cow, 2 * PAGE, PROT_READ);
	int r2 = mprotect(cow, 2 * PAGE, PROT_READ | PROT_WRITE);
	if (r1 == 0 && r2 == 0)
		cow[0] = cow[PAGE] = 'n';
	*flag = 1;
	int st = 0;
	pid_t w = pid > 0 ? waitpid(pid, &st, 0) : -1;
	CHECKF("mprotect_keeps_cow", pid > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 && r1 == 0 && r2 == 0,
	       "mprotect %d/%d, child status %#x: %s", r1, r2, st, report->why);
	munmap(cow, 2 * PAGE);
}

/* Number of /proc/self/maps lines that intersect [p, p+len), or -1. */
static int maps_lines(const void *p, size_t len)
{
	static char buf[65536];
	if (read_small_file("/proc/self/maps", buf, sizeof buf) < 0)
		return -1;
	int n = 0;
	uintptr_t s = (uintptr_t)p, e = s + len;
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');
		unsigned long a = strtoul(line, NULL, 16);
		char *dash = strchr(line, '-');
		unsigned long b = dash ? strtoul(dash + 1, NULL, 16) : 0;
		if (a < e && b > s)
			n++;
		line = next ? next + 1 : NULL;
	}
	return n;
}

static void check_maps_split_merge(void)
{
	char *p = anon(3 * PAGE);
	if (!CHECKF("maps_setup", p != NULL, "errno %d", errno))
		return;
	p[0] = p[PAGE] = p[2 * PAGE] = 1;
	int before = maps_lines(p, 3 * PAGE);
	if (before < 0) {
		check_skip("maps_split_in_three", "/proc/self/maps cannot be opened");
		check_skip("maps_merged_back", "/proc/self/maps cannot be opened");
		munmap(p, 3 * PAGE);
		return;
	}
	int r = mprotect(p + PAGE, PAGE, PROT_READ);
	int split = maps_lines(p, 3 * PAGE);
	CHECKF("maps_split_in_three", before == 1 && r == 0 && split == 3, "lines before %d, after mprotect %d", before,
	       split);
	r = mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE);
	int merged = maps_lines(p, 3 * PAGE);
	CHECKF("maps_merged_back", r == 0 && merged == 1, "lines after undoing %d", merged);
	munmap(p, 3 * PAGE);
}

int main(void)
{
	check_init("t_mprotect");
	report_init();
	testdata = getenv("TESTDATA");
	if (!testdata)
		testdata = "/etc/testdata.txt";
	flag = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	check_errors();
	check_several_areas();
	check_drop_write();
	check_zero_page();
	check_keeps_cow();
	check_maps_split_merge();
	/* The kernel must not read PROT_NONE memory on the process's behalf:
	 * write(2) from such a buffer is EFAULT, as the access itself would be. */
	{
		int fds[2];
		char *n = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (CHECKF("prot_none_buffer_setup", n != MAP_FAILED && pipe(fds) == 0, "%s", strerror(errno))) {
			memcpy(n, "secret", 6);
			mprotect(n, PAGE, PROT_NONE);
			errno = 0;
			long r = write(fds[1], n, 6);
			CHECKF("write_from_prot_none_efault", r == -1 && errno == EFAULT, "write returned %ld errno %d", r, errno);
			mprotect(n, PAGE, PROT_READ);
			CHECKF("prot_none_data_kept", memcmp(n, "secret", 6) == 0, "data changed");
			close(fds[0]);
			close(fds[1]);
			munmap(n, PAGE);
		}
	}
	return check_done();
}
