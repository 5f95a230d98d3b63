/*
 * t_madvise.c: madvise(2), mincore(2) and msync(2).
 *
 * madvise:
 * - MADV_DONTNEED: private anonymous memory reads back zero (and mincore
 *   shows it gone); shared anonymous memory keeps its data; a private
 *   file mapping drops its private copy and reads the file again;
 * - MADV_FREE: pages written again after it keep the new data (the rest
 *   of each page is either the old data or zero, never a mix); EINVAL on
 *   shared memory;
 * - MADV_WILLNEED, NORMAL, RANDOM, SEQUENTIAL succeed and keep the data;
 *   MADV_POPULATE_WRITE makes every page resident;
 * - MADV_REMOVE on shared anonymous memory zeroes the range (also as seen
 *   from a child sharing it, and by the parent when a child removes it:
 *   the parent then shares what the child writes there); EINVAL on
 *   private memory;
 * - EINVAL for unknown advice and an unaligned start; ENOMEM for a range
 *   with unmapped pages; length 0 succeeds.
 * mincore:
 * - anonymous pages are resident exactly where written, one byte per page
 *   holding 0 or 1; after MADV_DONTNEED they are not; a fork child sees
 *   the same residency; shared memory a child wrote is resident for the
 *   parent too (it is in the object); file pages read with read(2) are
 *   resident in a fresh mapping of the file;
 * - EINVAL unaligned, ENOMEM unmapped or partly unmapped or beyond
 *   TASK_SIZE, EFAULT for a bad vector, length 0 succeeds.
 * msync:
 * - MS_SYNC / MS_ASYNC / MS_INVALIDATE succeed on mapped memory (anonymous
 *   and a shared file mapping); EINVAL for MS_SYNC|MS_ASYNC, unknown
 *   flags, an unaligned start; ENOMEM for unmapped memory.
 */
#include "check.h"
#include "mmtest.h"

#define TASK_SIZE 0x7ffffffff000UL
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; musl 1.2.3 does not name it */
#endif

static const char *testdata;

/* mincore of N pages at P as a string of '0'/'1' ('?' for other values);
 * returns mincore's result. */
static int residency(const void *p, size_t n, char *out)
{
	unsigned char vec[64];
	int r = mincore((void *)p, n * PAGE, vec);
	for (size_t i = 0; i < n; i++)
		out[i] = r != 0 ? 'E' : vec[i] == 0 ? '0' : vec[i] == 1 ? '1' : '?';
	out[n] = '\0';
	return r;
}

static void check_dontneed(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("dontneed_setup", p != NULL, "errno %d", errno))
		return;
	memset(p, 0xab, 4 * PAGE);
	char res[70];
	int r = madvise(p, 4 * PAGE, MADV_DONTNEED);
	CHECKF("dontneed_private_reads_zero", r == 0 && all_zero(p, 4 * PAGE), "madvise %d errno %d", r, errno);
	memset(p, 0xab, 4 * PAGE);
	r = madvise(p + PAGE, PAGE, MADV_DONTNEED);
	CHECKF("dontneed_one_page", r == 0 && all_zero(p + PAGE, PAGE) && (unsigned char)p[0] == 0xab &&
					    (unsigned char)p[2 * PAGE] == 0xab,
	       "madvise %d", r);
	munmap(p, 4 * PAGE);

	char *s = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s != MAP_FAILED) {
		memset(s, 0x5e, 2 * PAGE);
		r = madvise(s, 2 * PAGE, MADV_DONTNEED);
		CHECKF("dontneed_shared_keeps_data", r == 0 && (unsigned char)s[0] == 0x5e && (unsigned char)s[2 * PAGE - 1] == 0x5e,
		       "madvise %d, reads %#x", r, (unsigned char)s[0]);
		residency(s, 2, res);
		CHECKF("mincore_shared_after_dontneed_resident", strcmp(res, "11") == 0, "residency %s (the object holds the pages)",
		       res);
		munmap(s, 2 * PAGE);
	}

	int fd = open(testdata, O_RDONLY);
	char *f = fd >= 0 ? mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (CHECKF("dontneed_file_setup", f != MAP_FAILED, "errno %d", errno)) {
		memcpy(f, "XXXX", 4);
		r = madvise(f, PAGE, MADV_DONTNEED);
		CHECKF("dontneed_file_private_rereads_file", r == 0 && memcmp(f, "line 0000\n", 10) == 0, "madvise %d, reads %.10s",
		       r, f);
		munmap(f, PAGE);
	}
	if (fd >= 0)
		close(fd);
}

static void check_free(void)
{
	const size_t n = 8;
	char *p = anon(n * PAGE);
	if (!CHECKF("free_setup", p != NULL, "errno %d", errno))
		return;
	memset(p, 0x11, n * PAGE);
	int r = madvise(p, n * PAGE, MADV_FREE);
	if (!CHECKF("madv_free", r == 0, "errno %d", errno)) {
		munmap(p, n * PAGE);
		return;
	}
	for (size_t i = 0; i < n; i++)
		p[i * PAGE + 7] = 0x22;
	int bad = -1;
	for (size_t i = 0; i < n && bad < 0; i++) {
		char *pg = p + i * PAGE;
		if (pg[7] != 0x22)
			bad = (int)i;
		char old = pg[0];
		if (old != 0x11 && old != 0)
			bad = (int)i;
		for (size_t k = 0; k < PAGE; k++)
			if (k != 7 && pg[k] != old)
				bad = (int)i;
	}
	CHECKF("free_rewritten_keeps_data", bad < 0, "page %d: byte 7 = %#x, byte 0 = %#x", bad, bad < 0 ? 0 : p[bad * PAGE + 7],
	       bad < 0 ? 0 : p[bad * PAGE]);
	munmap(p, n * PAGE);

	char *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s != MAP_FAILED) {
		CHECK_ERRNO("free_shared_einval", madvise(s, PAGE, MADV_FREE), EINVAL);
		munmap(s, PAGE);
	}
}

static void check_hints(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("hints_setup", p != NULL, "errno %d", errno))
		return;
	memset(p, 0x42, 2 * PAGE);
	int r1 = madvise(p, 4 * PAGE, MADV_WILLNEED);
	int r2 = madvise(p, 4 * PAGE, MADV_RANDOM);
	int r3 = madvise(p, 4 * PAGE, MADV_SEQUENTIAL);
	int r4 = madvise(p, 4 * PAGE, MADV_NORMAL);
	CHECKF("willneed_random_sequential_normal", r1 == 0 && r2 == 0 && r3 == 0 && r4 == 0 && p[0] == 0x42 &&
							    p[2 * PAGE - 1] == 0x42 && p[3 * PAGE] == 0,
	       "results %d %d %d %d", r1, r2, r3, r4);
	munmap(p, 4 * PAGE);

	p = anon(8 * PAGE);
	if (p) {
		char res[16];
		int r = madvise(p, 8 * PAGE, MADV_POPULATE_WRITE);
		residency(p, 8, res);
		CHECKF("populate_write_resident", r == 0 && strcmp(res, "11111111") == 0 && all_zero(p, 8 * PAGE),
		       "madvise %d errno %d, residency %s", r, errno, res);
		munmap(p, 8 * PAGE);
	}

	int fd = open(testdata, O_RDONLY);
	char *f = fd >= 0 ? mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (f != MAP_FAILED) {
		int r = madvise(f, 3 * PAGE, MADV_WILLNEED);
		CHECKF("willneed_file", r == 0 && memcmp(f + 20, "line 0002\n", 10) == 0, "madvise %d errno %d", r, errno);
		munmap(f, 3 * PAGE);
	}
	if (fd >= 0)
		close(fd);
}

static char *rm;

static int remove_child(void *unused)
{
	(void)unused;
	if (!all_zero(rm + PAGE, 2 * PAGE))
		return child_fail("the child still sees data in the removed range");
	if ((unsigned char)rm[0] != 0x99 || (unsigned char)rm[3 * PAGE] != 0x99)
		return child_fail("the child lost data outside the removed range");
	return 0;
}

/* In a child: punch a hole through memory the parent has mapped (and
 * touched) since before the fork, then write into the hole. */
static int remove_in_child(void *unused)
{
	(void)unused;
	if (madvise(rm, 2 * PAGE, MADV_REMOVE) != 0)
		return child_fail("madvise(MADV_REMOVE) failed: %s", strerror(errno));
	if (!all_zero(rm, 2 * PAGE))
		return child_fail("the child still sees data in the removed range");
	rm[0] = 0x55;
	return 0;
}

static void check_remove(void)
{
	rm = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("remove_setup", rm != MAP_FAILED, "errno %d", errno))
		return;
	memset(rm, 0x99, 4 * PAGE);
	int r = madvise(rm + PAGE, 2 * PAGE, MADV_REMOVE);
	CHECKF("remove_shared_zeroes", r == 0 && all_zero(rm + PAGE, 2 * PAGE), "madvise %d errno %d", r, errno);
	CHECKF("remove_shared_keeps_rest", (unsigned char)rm[0] == 0x99 && (unsigned char)rm[4 * PAGE - 1] == 0x99,
	       "reads %#x / %#x", (unsigned char)rm[0], (unsigned char)rm[4 * PAGE - 1]);
	check_child("remove_seen_by_child", remove_child, NULL);
	munmap(rm, 4 * PAGE);

	/* The other way round: the parent's own mapping of the pages (present
	 * before the child punched the hole) sees the zeros and the child's
	 * later write (unmap_mapping_range reaches every mapper). */
	rm = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (CHECKF("remove_by_child_setup", rm != MAP_FAILED, "errno %d", errno)) {
		memset(rm, 0x77, 3 * PAGE);
		check_child("remove_by_child", remove_in_child, NULL);
		CHECKF("remove_by_child_seen_by_parent",
		       (unsigned char)rm[0] == 0x55 && all_zero(rm + 1, 2 * PAGE - 1) && (unsigned char)rm[2 * PAGE] == 0x77,
		       "the parent reads %#x / %#x / %#x", (unsigned char)rm[0], (unsigned char)rm[PAGE],
		       (unsigned char)rm[2 * PAGE]);
		munmap(rm, 3 * PAGE);
	}

	char *p = anon(PAGE);
	if (p) {
		CHECK_ERRNO("remove_private_einval", madvise(p, PAGE, MADV_REMOVE), EINVAL);
		munmap(p, PAGE);
	}
}

static void check_madvise_errors(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("madvise_errors_setup", p != NULL, "errno %d", errno))
		return;
	CHECK_ERRNO("madvise_unknown_advice_einval", madvise(p, PAGE, 999), EINVAL);
	CHECK_ERRNO("madvise_unaligned_einval", madvise(p + 1, PAGE, MADV_NORMAL), EINVAL);
	CHECKF("madvise_zero_length_ok", madvise(p, 0, MADV_DONTNEED) == 0, "errno %d", errno);
	munmap(p + PAGE, PAGE);
	CHECK_ERRNO("madvise_hole_enomem", madvise(p, 4 * PAGE, MADV_NORMAL), ENOMEM);
	CHECK_ERRNO("madvise_unmapped_enomem", madvise(p + PAGE, PAGE, MADV_WILLNEED), ENOMEM);
	munmap(p, 4 * PAGE);
}

/* ---- mincore ---- */

static char *mc;

static int mincore_fork_child(void *unused)
{
	(void)unused;
	char res[16];
	int r = residency(mc, 8, res);
	if (r != 0 || strcmp(res, "10100100") != 0)
		return child_fail("child's residency %s, want 10100100", res);
	return 0;
}

static int *shm;

static int shared_writer(void *unused)
{
	(void)unused;
	shm[PAGE / sizeof(int)] = 5; /* page 1 only */
	return 0;
}

static void check_mincore(void)
{
	mc = anon(8 * PAGE);
	if (!CHECKF("mincore_setup", mc != NULL, "errno %d", errno))
		return;
	char res[16];
	int r = residency(mc, 8, res);
	CHECKF("mincore_fresh_not_resident", r == 0 && strcmp(res, "00000000") == 0, "residency %s", res);
	mc[0] = mc[2 * PAGE + 5] = mc[6 * PAGE - 1] = 1;
	r = residency(mc, 8, res);
	CHECKF("mincore_after_touch", r == 0 && strcmp(res, "10100100") == 0, "residency %s, want 10100100", res);
	check_child("mincore_across_fork", mincore_fork_child, NULL);
	r = madvise(mc, 8 * PAGE, MADV_DONTNEED);
	residency(mc, 8, res);
	CHECKF("mincore_after_dontneed", r == 0 && strcmp(res, "00000000") == 0, "residency %s", res);

	CHECK_ERRNO("mincore_unaligned_einval", mincore(mc + 1, PAGE, (unsigned char *)res), EINVAL);
	CHECK_ERRNO("mincore_bad_vector_efault", mincore(mc, 8 * PAGE, (unsigned char *)0xffff888000000000UL), EFAULT);
	CHECK_ERRNO("mincore_null_vector_efault", mincore(mc, PAGE, NULL), EFAULT);
	CHECKF("mincore_zero_length_ok", mincore(mc, 0, (unsigned char *)res) == 0, "errno %d", errno);
	munmap(mc + 4 * PAGE, PAGE);
	CHECK_ERRNO("mincore_unmapped_enomem", mincore(mc + 4 * PAGE, PAGE, (unsigned char *)res), ENOMEM);
	CHECK_ERRNO("mincore_partly_unmapped_enomem", mincore(mc, 8 * PAGE, (unsigned char *)res), ENOMEM);
	CHECK_ERRNO("mincore_beyond_task_size_enomem", mincore((void *)(TASK_SIZE - PAGE), 4 * PAGE, (unsigned char *)res),
		    ENOMEM);
	munmap(mc, 8 * PAGE);

	shm = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm != MAP_FAILED) {
		check_child("mincore_shared_child_writes", shared_writer, NULL);
		r = residency(shm, 2, res);
		CHECKF("mincore_shared_written_by_child_resident", r == 0 && strcmp(res, "01") == 0, "residency %s, want 01",
		       res);
		munmap(shm, 2 * PAGE);
	}

	/* File pages in the page cache are resident in a mapping never touched. */
	int fd = open(testdata, O_RDONLY);
	if (fd >= 0) {
		static char sink[3 * PAGE];
		long n = read(fd, sink, sizeof sink);
		char *f = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
		r = f != MAP_FAILED ? residency(f, 3, res) : -1;
		CHECKF("mincore_file_in_page_cache", n == 10000 && r == 0 && strcmp(res, "111") == 0,
		       "read %ld, mmap %p, residency %s", n, (void *)f, r == 0 ? res : "?");
		if (f != MAP_FAILED)
			munmap(f, 3 * PAGE);
		close(fd);
	}
}

/* ---- msync ---- */

static void check_msync(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("msync_setup", p != NULL, "errno %d", errno))
		return;
	p[0] = 1;
	int r1 = msync(p, 4 * PAGE, MS_SYNC), r2 = msync(p, 4 * PAGE, MS_ASYNC), r3 = msync(p, 4 * PAGE, MS_INVALIDATE);
	CHECKF("msync_anon_ok", r1 == 0 && r2 == 0 && r3 == 0 && p[0] == 1, "results %d %d %d errno %d", r1, r2, r3, errno);
	CHECK_ERRNO("msync_sync_and_async_einval", msync(p, PAGE, MS_SYNC | MS_ASYNC), EINVAL);
	CHECK_ERRNO("msync_unknown_flag_einval", msync(p, PAGE, 0x10), EINVAL);
	CHECK_ERRNO("msync_unaligned_einval", msync(p + 1, PAGE, MS_SYNC), EINVAL);
	CHECKF("msync_zero_length_ok", msync(p, 0, MS_SYNC) == 0, "errno %d", errno);
	munmap(p + 2 * PAGE, PAGE);
	CHECK_ERRNO("msync_unmapped_enomem", msync(p + 2 * PAGE, PAGE, MS_SYNC), ENOMEM);
	CHECK_ERRNO("msync_partly_unmapped_enomem", msync(p, 4 * PAGE, MS_ASYNC), ENOMEM);
	munmap(p, 4 * PAGE);

	int fd = open(testdata, O_RDONLY);
	char *f = fd >= 0 ? mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (f != MAP_FAILED) {
		int r = msync(f, 2 * PAGE, MS_SYNC);
		CHECKF("msync_shared_file_ok", r == 0 && f[0] == 'l', "msync %d errno %d", r, errno);
		munmap(f, 2 * PAGE);
	}
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	check_init("t_madvise");
	report_init();
	testdata = getenv("TESTDATA");
	if (!testdata)
		testdata = "/etc/testdata.txt";
	check_dontneed();
	check_free();
	check_hints();
	check_remove();
	check_madvise_errors();
	check_mincore();
	check_msync();
	return check_done();
}
