/*
 * t_mmap.c: mmap(2) and munmap(2) as Linux defines them (the errno table
 * through the raw system call: musl's wrapper catches some cases itself).
 *
 * - the errno table: EINVAL (zero length, unaligned MAP_FIXED, neither or
 *   both of MAP_PRIVATE/MAP_SHARED, unaligned offset), ENOMEM (length
 *   that rounds to 0, larger than TASK_SIZE, no hole big enough, MAP_FIXED
 *   beyond TASK_SIZE), EEXIST (MAP_FIXED_NOREPLACE over a mapping), EBADF,
 *   EACCES (MAP_SHARED + PROT_WRITE on an O_RDONLY file), ENODEV (a
 *   directory), EOPNOTSUPP (MAP_SHARED_VALIDATE + MAP_SYNC on a plain
 *   file), EPERM (MAP_FIXED below mmap_min_addr, unprivileged);
 *   munmap: EINVAL unaligned / zero length / beyond TASK_SIZE, unmapping
 *   nothing succeeds;
 * - every PROT combination: read, write and execute each work or die of
 *   SIGSEGV in a child (x86: PROT_WRITE implies read; PROT_EXEC alone may
 *   be execute-only with protection keys, so its read is not checked);
 * - munmap of a hole in the middle, then of the head and the tail: the
 *   rest keeps its data, the unmapped pages fault;
 * - MAP_FIXED over an existing mapping: the replaced pages read zero;
 * - an address hint is honoured when free, moved when taken;
 * - MAP_POPULATE: VmRSS grows by the size right after mmap;
 * - MAP_NORESERVE of 4x RAM succeeds and pages can be touched (and without
 *   MAP_NORESERVE the heuristic overcommit refuses it);
 * - MAP_GROWSDOWN grows when touched just below;
 * - private file mapping of $TESTDATA: the file's bytes, zeros after EOF
 *   in the last page, SIGBUS for pages wholly past EOF, a private write is
 *   not seen by read(2); MAP_SHARED read-only mapping at an offset.
 */
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include "check.h"
#include "mmtest.h"

#define TASK_SIZE 0x7ffffffff000UL
#define TESTDATA_SIZE 10000

static const char *testdata;

static char testdata_byte(long k)
{
	char line[32];
	snprintf(line, sizeof line, "line %04ld\n", k / 10);
	return line[k % 10];
}

/* Index of the first byte of P (file offset OFF, LEN bytes) that differs
 * from the test data, or -1. */
static long bad_testdata(const char *p, long off, long len)
{
	for (long i = 0; i < len; i++)
		if (p[i] != testdata_byte(off + i))
			return i;
	return -1;
}

static void check_errors(void)
{
	CHECK_ERRNO("zero_length_einval", sys_mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL);
	CHECK_ERRNO("fixed_unaligned_einval",
		    sys_mmap((void *)0x10000100UL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EINVAL);
	CHECK_ERRNO("neither_private_nor_shared_einval", sys_mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);
	CHECK_ERRNO("private_and_shared_anon_einval",
		    sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS, -1, 0), EINVAL);
	CHECK_ERRNO("length_rounds_to_zero_enomem", sys_mmap(NULL, (size_t)-1, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		    ENOMEM);
	CHECK_ERRNO("length_above_task_size_enomem",
		    sys_mmap(NULL, 1UL << 48, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), ENOMEM);
	/* The program sits at 0x400000 and the stack near the top: no hole
	 * is this big. */
	CHECK_ERRNO("no_hole_big_enough_enomem",
		    sys_mmap(NULL, TASK_SIZE - 0x200000UL, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
		    ENOMEM);
	CHECK_ERRNO("fixed_beyond_task_size_enomem",
		    sys_mmap((void *)(TASK_SIZE - PAGE), 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		    ENOMEM);
	CHECK_ERRNO("fixed_above_task_size_enomem",
		    sys_mmap((void *)(1UL << 47), PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), ENOMEM);

	/* A hint beyond TASK_SIZE is only a hint. */
	void *p = mmap((void *)(1UL << 50), PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECKF("hint_beyond_task_size_ignored", p != MAP_FAILED && (uintptr_t)p < TASK_SIZE, "mmap returned %p errno %d",
	       p, errno);
	if (p != MAP_FAILED)
		munmap(p, PAGE);

	/* MAP_FIXED_NOREPLACE. */
	char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (CHECKF("map_4_pages", a != MAP_FAILED, "errno %d", errno)) {
		a[0] = 'k';
		CHECK_ERRNO("fixed_noreplace_eexist",
			    sys_mmap(a, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0), EEXIST);
		munmap(a + 2 * PAGE, 2 * PAGE);
		CHECK_ERRNO("fixed_noreplace_partial_overlap_eexist",
			    sys_mmap(a + PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
			    EEXIST);
		CHECKF("fixed_noreplace_kept_data", a[0] == 'k', "a[0] = %d", a[0]);
		void *q = mmap(a + 2 * PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		CHECKF("fixed_noreplace_free_range", q == a + 2 * PAGE, "mmap returned %p, want %p (errno %d)", q,
		       (void *)(a + 2 * PAGE), errno);
		munmap(a, 4 * PAGE);
	}

	/* munmap. */
	a = anon(2 * PAGE);
	if (a) {
		CHECK_ERRNO("munmap_unaligned_einval", munmap(a + 1, PAGE), EINVAL);
		CHECK_ERRNO("munmap_zero_length_einval", munmap(a, 0), EINVAL);
		CHECK_ERRNO("munmap_beyond_task_size_einval", munmap((void *)(TASK_SIZE - PAGE), 3 * PAGE), EINVAL);
		CHECK_ERRNO("munmap_kernel_address_einval", munmap((void *)0xffff888000000000UL, PAGE), EINVAL);
		CHECKF("munmap", munmap(a, 2 * PAGE) == 0, "errno %d", errno);
		CHECKF("munmap_nothing_mapped_ok", munmap(a, 2 * PAGE) == 0, "errno %d", errno);
	}

	/* Files. */
	int fd = open(testdata, O_RDONLY);
	if (!CHECKF("open_testdata", fd >= 0, "open(%s): %s", testdata, strerror(errno)))
		return;
	CHECK_ERRNO("file_unaligned_offset_einval", sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 100), EINVAL);
	CHECK_ERRNO("file_neither_private_nor_shared_einval", sys_mmap(NULL, PAGE, PROT_READ, 0, fd, 0), EINVAL);
	CHECK_ERRNO("bad_fd_ebadf", sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 999, 0), EBADF);
	CHECK_ERRNO("fd_minus_1_without_anonymous_ebadf", sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0), EBADF);
	CHECK_ERRNO("shared_write_on_rdonly_file_eacces", sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
		    EACCES);
	CHECK_ERRNO("shared_validate_map_sync_eopnotsupp",
		    sys_mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0), EOPNOTSUPP);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECKF("private_write_on_rdonly_file_ok", p != MAP_FAILED, "errno %d (%s)", errno, strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	close(fd);

	/* A directory has no pages to map. */
	char dir[512];
	snprintf(dir, sizeof dir, "%s", testdata);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		CHECK_ERRNO("directory_enodev", sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, dfd, 0), ENODEV);
		close(dfd);
	} else {
		CHECKF("directory_enodev", 0, "open(%s, O_DIRECTORY): %s", dir, strerror(errno));
	}
}

/* MAP_FIXED below vm.mmap_min_addr (at address 0, below any setting):
 * EPERM without privilege (root may, with CAP_SYS_RAWIO). */
static int below_min_addr_child(void *unused)
{
	(void)unused;
	if (drop_root() != 0)
		return child_fail("cannot drop root: %s", strerror(errno));
	errno = 0;
	void *p = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != MAP_FAILED || errno != EPERM)
		return child_fail("mmap(0, MAP_FIXED) as uid %d returned %p errno %d, want EPERM", NOBODY, p, errno);
	return 0;
}

static const char *prot_str(int prot, char *buf)
{
	buf[0] = prot & PROT_READ ? 'r' : '-';
	buf[1] = prot & PROT_WRITE ? 'w' : '-';
	buf[2] = prot & PROT_EXEC ? 'x' : '-';
	buf[3] = '\0';
	return buf;
}

static void check_prot_combinations(void)
{
	for (int prot = 0; prot <= 7; prot++) {
		char ps[4], name[64], why[256] = "";
		prot_str(prot, ps);
		snprintf(name, sizeof name, "prot_%s", ps);
		char *p = mmap(NULL, PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			CHECKF(name, 0, "mmap(prot %s): %s", ps, strerror(errno));
			continue;
		}
		size_t w = 0;
		/* Read: PROT_READ or PROT_WRITE make a page readable on x86. */
		if (prot != PROT_EXEC) {
			int want = prot & (PROT_READ | PROT_WRITE) ? PROBE_OK : PROBE_SEGV;
			int got = probe(p, PROBE_READ);
			if (got != want)
				w += snprintf(why + w, sizeof why - w, "read %s, want %s; ", probe_name(got), probe_name(want));
		}
		int want = prot & PROT_WRITE ? PROBE_OK : PROBE_SEGV;
		int got = probe(p, PROBE_WRITE);
		if (got != want)
			w += snprintf(why + w, sizeof why - w, "write %s, want %s; ", probe_name(got), probe_name(want));
		if (prot & PROT_READ) {
			if (p[0] != 0)
				w += snprintf(why + w, sizeof why - w, "fresh page reads %d, not 0; ", p[0]);
		}
		munmap(p, PAGE);

		/* Execute: the code (ret) is written first, then the page gets
		 * PROT (mprotect), as a loader would do. */
		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			p[0] = (char)0xc3;
			if (mprotect(p, PAGE, prot) != 0) {
				w += snprintf(why + w, sizeof why - w, "mprotect(%s): %s; ", ps, strerror(errno));
			} else {
				want = prot & PROT_EXEC ? PROBE_OK : PROBE_SEGV;
				got = probe(p, PROBE_EXEC);
				if (got != want)
					w += snprintf(why + w, sizeof why - w, "execute %s, want %s; ", probe_name(got),
						      probe_name(want));
			}
			munmap(p, PAGE);
		}
		CHECKF(name, w == 0, "%s", why);
	}
}

static void check_munmap_holes(void)
{
	const size_t n = 8;
	char *p = anon(n * PAGE);
	if (!CHECKF("munmap_hole_setup", p != NULL, "errno %d", errno))
		return;
	stamp_pages(p, n * PAGE, 0x4d4d);
	CHECKF("munmap_middle", munmap(p + 3 * PAGE, 2 * PAGE) == 0, "errno %d", errno);
	long bad = bad_stamp(p, 3 * PAGE, 0x4d4d, 0);
	long bad2 = bad_stamp(p + 5 * PAGE, 3 * PAGE, 0x4d4d, 5);
	CHECKF("munmap_middle_rest_keeps_data", bad < 0 && bad2 < 0, "page %ld / %ld of the rest lost its data", bad,
	       bad2 < 0 ? bad2 : bad2 + 5);
	int r3 = probe(p + 3 * PAGE, PROBE_READ), r4 = probe(p + 5 * PAGE - 1, PROBE_READ);
	CHECKF("munmap_middle_hole_faults", r3 == PROBE_SEGV && r4 == PROBE_SEGV, "reading page 3: %s, page 4: %s",
	       probe_name(r3), probe_name(r4));

	CHECKF("munmap_head", munmap(p, PAGE) == 0, "errno %d", errno);
	CHECKF("munmap_tail", munmap(p + 7 * PAGE, PAGE) == 0, "errno %d", errno);
	bad = bad_stamp(p + PAGE, 2 * PAGE, 0x4d4d, 1);
	bad2 = bad_stamp(p + 5 * PAGE, 2 * PAGE, 0x4d4d, 5);
	CHECKF("munmap_head_tail_rest_keeps_data", bad < 0 && bad2 < 0, "bad page %ld / %ld", bad, bad2);
	int r0 = probe(p, PROBE_READ), r7 = probe(p + 7 * PAGE, PROBE_WRITE);
	int r1 = probe(p + PAGE, PROBE_WRITE), r6 = probe(p + 6 * PAGE, PROBE_WRITE);
	CHECKF("munmap_head_tail_fault", r0 == PROBE_SEGV && r7 == PROBE_SEGV && r1 == PROBE_OK && r6 == PROBE_OK,
	       "page 0: %s, page 7: %s (want SIGSEGV); page 1: %s, page 6: %s (want works)", probe_name(r0),
	       probe_name(r7), probe_name(r1), probe_name(r6));
	/* Unmapping across the holes takes the rest. */
	CHECKF("munmap_across_holes", munmap(p, n * PAGE) == 0 && !is_mapped(p + PAGE, PAGE) && !is_mapped(p + 6 * PAGE, PAGE),
	       "errno %d", errno);
}

static void check_fixed_replace(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("fixed_replace_setup", p != NULL, "errno %d", errno))
		return;
	memset(p, 0xaa, 4 * PAGE);
	char *q = mmap(p + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECKF("fixed_replace_same_address", q == p + PAGE, "mmap returned %p, want %p", (void *)q, (void *)(p + PAGE));
	int zero = all_zero(p + PAGE, 2 * PAGE);
	int kept = (unsigned char)p[0] == 0xaa && (unsigned char)p[PAGE - 1] == 0xaa && (unsigned char)p[3 * PAGE] == 0xaa &&
		   (unsigned char)p[4 * PAGE - 1] == 0xaa;
	CHECKF("fixed_replace_reads_zero", zero, "replaced pages still hold old data");
	CHECKF("fixed_replace_neighbours_kept", kept, "pages around the replaced range lost their data");

	/* MAP_FIXED with a shared mapping over a private one, and back. */
	q = mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECKF("fixed_replace_private_by_shared", q == p && p[0] == 0, "mmap returned %p, p[0] = %d", (void *)q,
	       q == p ? p[0] : -1);
	munmap(p, 4 * PAGE);
}

static void check_hint(void)
{
	char *p = anon(16 * PAGE);
	if (!CHECKF("hint_setup", p != NULL, "errno %d", errno))
		return;
	munmap(p, 16 * PAGE);
	char *hint = p + 4 * PAGE;
	char *q = mmap(hint, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECKF("hint_honoured_when_free", q == hint, "mmap(hint %p) returned %p", (void *)hint, (void *)q);
	if (q == MAP_FAILED)
		return;
	q[0] = 'h';
	char *r = mmap(hint, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECKF("hint_taken_goes_elsewhere", r != MAP_FAILED && r != hint && q[0] == 'h',
	       "mmap(hint %p) over a mapping returned %p, old data %d", (void *)hint, (void *)r, q[0]);
	char *s = mmap(hint + 1, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECKF("hint_unaligned_not_einval", s != MAP_FAILED && ((uintptr_t)s & (PAGE - 1)) == 0, "mmap returned %p errno %d",
	       (void *)s, errno);
	if (s != MAP_FAILED)
		munmap(s, PAGE);
	if (r != MAP_FAILED)
		munmap(r, 4 * PAGE);
	munmap(q, 4 * PAGE);
}

static void check_populate(void)
{
	const size_t len = 4UL << 20;
	long before = status_kb("VmRSS");
	if (before == -1) {
		check_skip("populate_grows_rss", "/proc/self/status cannot be opened");
		check_skip("no_populate_rss_unchanged", "/proc/self/status cannot be opened");
		return;
	}
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	long after = status_kb("VmRSS");
	if (!CHECKF("populate_grows_rss", p != MAP_FAILED && before >= 0 && after - before >= 4096 - 512,
		    "mmap %p, VmRSS %ld kB -> %ld kB, want +4096 kB", (void *)p, before, after)) {
		if (p != MAP_FAILED)
			munmap(p, len);
		return;
	}
	CHECKF("populate_reads_zero", all_zero(p, len), "populated memory is not zero");
	munmap(p, len);
	long gone = status_kb("VmRSS");
	CHECKF("munmap_shrinks_rss", after - gone >= 4096 - 512, "VmRSS %ld kB -> %ld kB after munmap", after, gone);

	before = status_kb("VmRSS");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	after = status_kb("VmRSS");
	CHECKF("no_populate_rss_unchanged", p != MAP_FAILED && after - before < 1024, "VmRSS %ld kB -> %ld kB", before,
	       after);
	if (p != MAP_FAILED) {
		for (size_t i = 0; i < len; i += PAGE)
			p[i] = 1;
		long touched = status_kb("VmRSS");
		CHECKF("touch_grows_rss", touched - after >= 4096 - 512, "VmRSS %ld kB -> %ld kB after touching 4 MiB",
		       after, touched);
		munmap(p, len);
	}
}

static int overcommit_mode(void)
{
	char buf[32];
	if (read_small_file("/proc/sys/vm/overcommit_memory", buf, sizeof buf) <= 0)
		return 0; /* the default */
	return atoi(buf);
}

static void check_noreserve(void)
{
	struct sysinfo si;
	if (!CHECKF("sysinfo", sysinfo(&si) == 0 && si.totalram > 0, "errno %d", errno))
		return;
	unsigned long ram = si.totalram * (si.mem_unit ? si.mem_unit : 1);
	unsigned long len = (4 * ram + PAGE - 1) & ~(PAGE - 1);
	int mode = overcommit_mode();
	if (mode == 2) {
		check_skip("noreserve_4x_ram", "vm.overcommit_memory is 2 (never)");
		return;
	}
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!CHECKF("noreserve_4x_ram", p != MAP_FAILED, "mmap(%lu MiB, MAP_NORESERVE): %s", len >> 20, strerror(errno)))
		return;
	size_t spots[] = {0, PAGE, len / 2, len / 2 + 12345, len - PAGE, len - 1};
	int bad = 0;
	for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++)
		p[spots[i]] = (char)(i + 1);
	for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++)
		if (p[spots[i]] != (char)(i + 1))
			bad++;
	CHECKF("noreserve_touch_pages", bad == 0 && p[2 * PAGE] == 0, "%d bytes read back wrong", bad);
	CHECKF("noreserve_munmap", munmap(p, len) == 0, "errno %d", errno);

	if (mode == 0) {
		errno = 0;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECKF("4x_ram_without_noreserve_enomem", p == MAP_FAILED && errno == ENOMEM,
		       "heuristic overcommit: mmap(%lu MiB) returned %p errno %d", len >> 20, (void *)p, errno);
		if (p != MAP_FAILED)
			munmap(p, len);
	} else {
		check_skip("4x_ram_without_noreserve_enomem", "vm.overcommit_memory is not 0 (heuristic)");
	}
}

static void check_growsdown(void)
{
	/* Reserve 8 MiB, keep its first page as an inaccessible sentinel, free
	 * the rest and put a 4-page MAP_GROWSDOWN area at its top: below the
	 * area there is nothing accessible for far more than the guard gap. */
	const size_t res = 8UL << 20;
	char *r = mmap(NULL, res, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!CHECKF("growsdown_setup", r != MAP_FAILED, "errno %d", errno))
		return;
	munmap(r + PAGE, res - PAGE);
	char *g = mmap(r + res - 4 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
	if (!CHECKF("growsdown_map", g == r + res - 4 * PAGE, "mmap returned %p errno %d", (void *)g, errno)) {
		munmap(r, PAGE);
		return;
	}
	g[0] = 'g';
	int before = is_mapped(g - PAGE, PAGE);
	int pr = probe(g - 1, PROBE_WRITE);
	CHECKF("growsdown_grows_in_child", !before && pr == PROBE_OK, "below mapped before: %d; writing g-1 in a child: %s",
	       before, probe_name(pr));
	g[-1] = 'x';
	g[-PAGE] = 'y';
	CHECKF("growsdown_grows", g[-1] == 'x' && g[-PAGE] == 'y' && g[0] == 'g' && is_mapped(g - PAGE, PAGE),
	       "after touching just below: %d %d %d mapped %d", g[-1], g[-PAGE], g[0], is_mapped(g - PAGE, PAGE));
	munmap(g - PAGE, 5 * PAGE);
	munmap(r, PAGE);
}

static void check_file_mappings(void)
{
	int fd = open(testdata, O_RDONLY);
	if (!CHECKF("file_open", fd >= 0, "open(%s): %s", testdata, strerror(errno)))
		return;
	char *p = mmap(NULL, TESTDATA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (!CHECKF("file_private_map", p != MAP_FAILED, "errno %d (%s)", errno, strerror(errno))) {
		close(fd);
		return;
	}
	long bad = bad_testdata(p, 0, TESTDATA_SIZE);
	CHECKF("file_private_reads_file", bad < 0, "byte %ld is %#x, want %#x", bad, bad < 0 ? 0 : p[bad],
	       bad < 0 ? 0 : testdata_byte(bad));
	/* The rest of the last page reads zero. */
	CHECKF("file_tail_of_last_page_zero", all_zero(p + TESTDATA_SIZE, 3 * PAGE - TESTDATA_SIZE),
	       "bytes after EOF in the last page are not zero");
	memcpy(p, "XXXXXXXX", 8);
	memcpy(p + 5000, "YYYY", 4);
	char buf[16];
	long n = pread(fd, buf, 10, 0), n2 = pread(fd, buf + 10, 4, 5000);
	CHECKF("file_private_write_not_in_file", n == 10 && n2 == 4 && memcmp(buf, "line 0000\n", 10) == 0 &&
							 memcmp(buf + 10, "line", 4) == 0,
	       "pread after a private write: %.10s / %.4s", buf, buf + 10);
	CHECKF("file_private_write_visible_in_mapping", memcmp(p, "XXXXXXXX", 8) == 0 && p[8] == '0', "mapping reads %.10s", p);
	char *q = mmap(NULL, TESTDATA_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECKF("file_second_private_map_unchanged", q != MAP_FAILED && bad_testdata(q, 0, TESTDATA_SIZE) < 0,
	       "second mapping %p does not read the file", (void *)q);
	if (q != MAP_FAILED)
		munmap(q, TESTDATA_SIZE);
	munmap(p, TESTDATA_SIZE);

	/* Shared read-only mapping at an offset. */
	q = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, PAGE);
	CHECKF("file_shared_at_offset",
	       q != MAP_FAILED && bad_testdata(q, PAGE, TESTDATA_SIZE - PAGE) < 0 &&
		       all_zero(q + TESTDATA_SIZE - PAGE, 3 * PAGE - TESTDATA_SIZE),
	       "mmap %p errno %d", (void *)q, errno);
	if (q != MAP_FAILED) {
		int w = probe(q, PROBE_WRITE);
		CHECKF("file_shared_readonly_write_sigsegv", w == PROBE_SEGV, "writing: %s", probe_name(w));
		munmap(q, 2 * PAGE);
	}

	/* Pages wholly beyond EOF: SIGBUS. 10000 bytes = pages 0..2. */
	p = mmap(NULL, 5 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	if (CHECKF("file_map_past_eof", p != MAP_FAILED, "errno %d", errno)) {
		int last = probe(p + 3 * PAGE - 1, PROBE_READ);
		int past = probe(p + 3 * PAGE, PROBE_READ);
		int past2 = probe(p + 4 * PAGE + 100, PROBE_READ);
		CHECKF("file_past_eof_sigbus", last == PROBE_OK && past == PROBE_BUS && past2 == PROBE_BUS,
		       "last page: %s, page 3: %s, page 4: %s (want SIGBUS)", probe_name(last), probe_name(past),
		       probe_name(past2));
		munmap(p, 5 * PAGE);
	}
	close(fd);

	/* The mapping outlives the descriptor. */
	fd = open(testdata, O_RDONLY);
	p = fd >= 0 ? mmap(NULL, TESTDATA_SIZE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	CHECKF("file_mapping_outlives_close", p != MAP_FAILED && bad_testdata(p + 9000, 9000, 1000) < 0, "mmap %p errno %d",
	       (void *)p, errno);
	if (p != MAP_FAILED)
		munmap(p, TESTDATA_SIZE);
}

int main(void)
{
	check_init("t_mmap");
	report_init();
	testdata = getenv("TESTDATA");
	if (!testdata)
		testdata = "/etc/testdata.txt";
	check_errors();
	check_child("fixed_below_mmap_min_addr_eperm", below_min_addr_child, NULL);
	check_prot_combinations();
	check_munmap_holes();
	check_fixed_replace();
	check_hint();
	check_populate();
	check_noreserve();
	check_growsdown();
	check_file_mappings();
	return check_done();
}
