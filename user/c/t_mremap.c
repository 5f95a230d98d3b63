/*
 * t_mremap.c: mremap(2), through the raw system call.
 *
 * - shrink in place: the tail is unmapped, the head keeps its data;
 * - grow in place when the space after the area is free (new pages zero);
 *   without MREMAP_MAYMOVE growth that does not fit gives ENOMEM (a
 *   neighbour after the area, or a range that does not end the area);
 * - MREMAP_MAYMOVE moves when it must: data intact (16 MiB of stamped
 *   pages), the old range unmapped, the grown part zero;
 * - MREMAP_FIXED moves to exactly new_address, replacing what was there,
 *   also while shrinking;
 * - MREMAP_DONTUNMAP: the data moves, the old private anonymous range
 *   stays mapped and reads zero;
 * - old_size 0 on a shared mapping makes a second mapping of the same
 *   pages; on a private one it is EINVAL;
 * - a private file mapping grown in place shows the file's next bytes;
 * - EINVAL: unaligned old address, unknown flags, FIXED without MAYMOVE,
 *   DONTUNMAP without MAYMOVE or with a size change, new size 0,
 *   unaligned new address, overlapping old and new ranges;
 *   EFAULT: old range unmapped or spanning two mappings.
 */
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)

static const char *testdata;

/* A 2*n-page reservation; returns its start with the upper n pages
 * unmapped again, so that the lower n can grow in place. */
static char *with_room(size_t n)
{
	char *p = anon(2 * n * PAGE);
	if (p)
		munmap(p + n * PAGE, n * PAGE);
	return p;
}

static void check_shrink_grow(void)
{
	char *p = with_room(8);
	if (!CHECKF("setup", p != NULL, "errno %d", errno))
		return;
	stamp_pages(p, 8 * PAGE, 0x5151);
	char *q = sys_mremap(p, 8 * PAGE, 3 * PAGE, 0, NULL);
	CHECKF("shrink_in_place", q == p && bad_stamp(p, 3 * PAGE, 0x5151, 0) < 0, "mremap returned %p (errno %d)",
	       (void *)q, errno);
	int t = probe(p + 3 * PAGE, PROBE_READ), t2 = probe(p + 8 * PAGE - 1, PROBE_READ);
	CHECKF("shrink_tail_unmapped", t == PROBE_SEGV && t2 == PROBE_SEGV, "old tail: %s / %s", probe_name(t), probe_name(t2));

	q = sys_mremap(p, 3 * PAGE, 16 * PAGE, 0, NULL);
	CHECKF("grow_in_place", q == p, "mremap returned %p (errno %d), want %p", (void *)q, errno, (void *)p);
	if (q == p) {
		CHECKF("grow_keeps_data_new_zero", bad_stamp(p, 3 * PAGE, 0x5151, 0) < 0 && all_zero(p + 3 * PAGE, 13 * PAGE),
		       "data lost or new pages not zero");
		p[16 * PAGE - 1] = 1;
	}
	munmap(p, 16 * PAGE);

	/* No room after the area and no MAYMOVE: ENOMEM, nothing changes. */
	p = anon(5 * PAGE);
	char *next = p ? mmap(p + 4 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) : MAP_FAILED;
	if (!CHECKF("blocked_setup", p && next == p + 4 * PAGE, "mmap %p / %p errno %d", (void *)p, (void *)next, errno)) {
		if (p)
			munmap(p, 4 * PAGE);
		if (next != MAP_FAILED)
			munmap(next, PAGE);
		return;
	}
	stamp_pages(p, 4 * PAGE, 0x5252);
	errno = 0;
	q = sys_mremap(p, 4 * PAGE, 8 * PAGE, 0, NULL);
	CHECKF("grow_blocked_enomem", q == MAP_FAILED && errno == ENOMEM && bad_stamp(p, 4 * PAGE, 0x5252, 0) < 0,
	       "mremap returned %p errno %d", (void *)q, errno);
	/* Growing a range that does not end its area cannot happen in place. */
	errno = 0;
	q = sys_mremap(p, 2 * PAGE, 3 * PAGE, 0, NULL);
	CHECKF("grow_inside_area_enomem", q == MAP_FAILED && errno == ENOMEM, "mremap returned %p errno %d", (void *)q,
	       errno);
	munmap(next, PAGE);
	munmap(p, 4 * PAGE);
}

static void check_maymove(void)
{
	const size_t len = 16 * MiB;
	char *p = anon(len);
	if (!CHECKF("maymove_setup", p != NULL, "errno %d", errno))
		return;
	stamp_pages(p, len, 0x6161);
	/* Block growth in place. */
	char *next = mmap(p + len, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char *q = sys_mremap(p, len, len + 4 * MiB, MREMAP_MAYMOVE, NULL);
	if (!CHECKF("maymove_moves", q != MAP_FAILED && q != p, "mremap returned %p errno %d (old %p)", (void *)q, errno,
		    (void *)p)) {
		munmap(p, len);
		if (next != MAP_FAILED)
			munmap(next, PAGE);
		return;
	}
	long bad = bad_stamp(q, len, 0x6161, 0);
	CHECKF("maymove_data_intact", bad < 0, "page %ld of the moved area is wrong", bad);
	CHECKF("maymove_grown_part_zero", all_zero(q + len, 4 * MiB), "the new 4 MiB are not zero");
	int o1 = probe(p, PROBE_READ), o2 = probe(p + len - 1, PROBE_READ);
	CHECKF("maymove_old_unmapped", o1 == PROBE_SEGV && o2 == PROBE_SEGV && !is_mapped(p, PAGE), "old range: %s / %s",
	       probe_name(o1), probe_name(o2));
	/* The moved pages are ordinary memory: write them all. */
	memset(q, 0x3c, len + 4 * MiB);
	CHECKF("maymove_writable", (unsigned char)q[len + 4 * MiB - 1] == 0x3c, "reads %d", q[len + 4 * MiB - 1]);
	munmap(q, len + 4 * MiB);
	if (next != MAP_FAILED)
		munmap(next, PAGE);

	/* MAYMOVE but room in place: it stays. */
	p = with_room(4);
	q = p ? sys_mremap(p, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE, NULL) : MAP_FAILED;
	CHECKF("maymove_in_place_when_room", p && q == p, "mremap returned %p, old %p", (void *)q, (void *)p);
	if (p)
		munmap(p, 8 * PAGE);
}

static void check_fixed(void)
{
	char *p = anon(4 * PAGE);
	char *t = anon(8 * PAGE);
	if (!CHECKF("fixed_setup", p && t, "errno %d", errno))
		return;
	stamp_pages(p, 4 * PAGE, 0x7171);
	memset(t, 0xee, 8 * PAGE);
	char *q = sys_mremap(p, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, t + 2 * PAGE);
	CHECKF("fixed_moves_there", q == t + 2 * PAGE, "mremap returned %p, want %p (errno %d)", (void *)q,
	       (void *)(t + 2 * PAGE), errno);
	if (q == t + 2 * PAGE) {
		CHECKF("fixed_data_intact", bad_stamp(q, 4 * PAGE, 0x7171, 0) < 0, "moved data is wrong");
		CHECKF("fixed_neighbours_untouched",
		       (unsigned char)t[0] == 0xee && (unsigned char)t[2 * PAGE - 1] == 0xee && (unsigned char)t[6 * PAGE] == 0xee,
		       "the rest of the target changed");
		CHECKF("fixed_old_unmapped", !is_mapped(p, 4 * PAGE), "old range still mapped");
	}
	/* Shrink while moving: only the head comes along. */
	p = anon(4 * PAGE);
	if (p) {
		stamp_pages(p, 4 * PAGE, 0x7272);
		q = sys_mremap(p, 4 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, t);
		CHECKF("fixed_shrink_move", q == t && bad_stamp(t, 2 * PAGE, 0x7272, 0) < 0 && !is_mapped(p, PAGE) &&
						    !is_mapped(p + 3 * PAGE, PAGE),
		       "mremap returned %p (errno %d)", (void *)q, errno);
	}
	munmap(t, 8 * PAGE);
}

static void check_dontunmap(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("dontunmap_setup", p != NULL, "errno %d", errno))
		return;
	stamp_pages(p, 4 * PAGE, 0x8181);
	char *q = sys_mremap(p, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	if (CHECKF("dontunmap_moves", q != MAP_FAILED && q != p, "mremap returned %p errno %d", (void *)q, errno)) {
		CHECKF("dontunmap_data_at_new", bad_stamp(q, 4 * PAGE, 0x8181, 0) < 0, "moved data is wrong");
		int r = probe(p, PROBE_WRITE);
		CHECKF("dontunmap_old_still_mapped", is_mapped(p, 4 * PAGE) && r == PROBE_OK, "mapped %d, write %s",
		       is_mapped(p, 4 * PAGE), probe_name(r));
		CHECKF("dontunmap_old_reads_zero", all_zero(p, 4 * PAGE), "the old range still holds data");
		munmap(q, 4 * PAGE);
	}
	munmap(p, 4 * PAGE);
	p = anon(2 * PAGE);
	if (p) {
		CHECK_ERRNO("dontunmap_size_change_einval", sys_mremap(p, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL),
			    EINVAL);
		CHECK_ERRNO("dontunmap_without_maymove_einval", sys_mremap(p, 2 * PAGE, 2 * PAGE, MREMAP_DONTUNMAP, NULL), EINVAL);
		munmap(p, 2 * PAGE);
	}
}

static void check_old_size_zero(void)
{
	char *s = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!CHECKF("dup_setup", s != MAP_FAILED, "errno %d", errno))
		return;
	strcpy(s, "shared");
	char *d = sys_mremap(s, 0, 2 * PAGE, MREMAP_MAYMOVE, NULL);
	if (CHECKF("old_size_zero_shared_duplicates", d != MAP_FAILED && d != s, "mremap returned %p errno %d", (void *)d,
		   errno)) {
		int same = strcmp(d, "shared") == 0;
		strcpy(s + PAGE, "through s");
		int both = strcmp(d + PAGE, "through s") == 0;
		CHECKF("old_size_zero_same_pages", same && both, "duplicate reads \"%.8s\" / \"%.10s\"", d, d + PAGE);
		CHECKF("old_size_zero_original_stays", is_mapped(s, 2 * PAGE), "the original mapping is gone");
		munmap(d, 2 * PAGE);
	}
	munmap(s, 2 * PAGE);
	char *p = anon(PAGE);
	if (p) {
		CHECK_ERRNO("old_size_zero_private_einval", sys_mremap(p, 0, PAGE, MREMAP_MAYMOVE, NULL), EINVAL);
		munmap(p, PAGE);
	}
}

static void check_file_grow(void)
{
	int fd = open(testdata, O_RDONLY);
	if (!CHECKF("file_open", fd >= 0, "open(%s): %s", testdata, strerror(errno)))
		return;
	/* Reserve room for 3 pages, map the first page of the file. */
	char *r = anon(3 * PAGE);
	char *p = r ? mmap(r, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) : MAP_FAILED;
	if (r)
		munmap(r + PAGE, 2 * PAGE);
	if (CHECKF("file_map", p != MAP_FAILED && p == r, "mmap %p errno %d", (void *)p, errno)) {
		char *q = sys_mremap(p, PAGE, 2 * PAGE, 0, NULL);
		static char want[PAGE];
		long n = pread(fd, want, PAGE, PAGE);
		CHECKF("file_grow_shows_next_bytes", q == p && n == (long)PAGE && memcmp(p + PAGE, want, PAGE) == 0,
		       "mremap returned %p errno %d; pread %ld", (void *)q, errno, n);
		munmap(p, 2 * PAGE);
	}
	close(fd);
}

static void check_errors(void)
{
	char *p = anon(4 * PAGE);
	if (!CHECKF("errors_setup", p != NULL, "errno %d", errno))
		return;
	CHECK_ERRNO("unaligned_old_einval", sys_mremap(p + 1, PAGE, PAGE, 0, NULL), EINVAL);
	CHECK_ERRNO("unknown_flags_einval", sys_mremap(p, PAGE, PAGE, 0x80, NULL), EINVAL);
	CHECK_ERRNO("fixed_without_maymove_einval", sys_mremap(p, PAGE, PAGE, MREMAP_FIXED, p + 8 * PAGE), EINVAL);
	CHECK_ERRNO("new_size_zero_einval", sys_mremap(p, PAGE, 0, MREMAP_MAYMOVE, NULL), EINVAL);
	CHECK_ERRNO("fixed_unaligned_new_einval", sys_mremap(p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, p + 8 * PAGE + 1),
		    EINVAL);
	CHECK_ERRNO("fixed_overlapping_einval", sys_mremap(p, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, p + PAGE),
		    EINVAL);
	CHECK_ERRNO("fixed_overlapping_below_einval",
		    sys_mremap(p + 2 * PAGE, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, p + PAGE), EINVAL);
	munmap(p + 2 * PAGE, 2 * PAGE);
	CHECK_ERRNO("old_unmapped_efault", sys_mremap(p + 2 * PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE, NULL), EFAULT);
	CHECK_ERRNO("old_spans_past_area_efault", sys_mremap(p, 3 * PAGE, 4 * PAGE, MREMAP_MAYMOVE, NULL), EFAULT);
	/* Two adjacent mappings of different kinds are two areas. */
	char *s = mmap(p + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s == p + 2 * PAGE) {
		CHECK_ERRNO("old_spans_two_areas_efault", sys_mremap(p, 3 * PAGE, 4 * PAGE, MREMAP_MAYMOVE, NULL), EFAULT);
		munmap(s, PAGE);
	}
	CHECKF("errors_left_data_alone", is_mapped(p, 2 * PAGE), "the area is gone");
	munmap(p, 2 * PAGE);
}

int main(void)
{
	check_init("t_mremap");
	report_init();
	testdata = getenv("TESTDATA");
	if (!testdata)
		testdata = "/etc/testdata.txt";
	check_shrink_grow();
	check_maymove();
	check_fixed();
	check_dontunmap();
	check_old_size_zero();
	check_file_grow();
	check_errors();
	return check_done();
}
