/*
 * t_brk.c: the program break, through the raw brk system call (musl's
 * brk()/sbrk() refuse to move it).
 *
 * - brk(0) and any address below the start of the heap return the current
 *   break, which lies at or above the end of .bss;
 * - grow, touch every page, shrink (the freed pages fault), regrow: the
 *   regrown pages read zero; an unaligned break maps its whole last page;
 * - brk up to one page below an existing mapping works, one byte further
 *   fails (Linux keeps a guard page), and the break stays where it was;
 *   far past the mapping fails too and the mapping keeps its data;
 * - a break beyond TASK_SIZE fails;
 * - RLIMIT_DATA (in a child): the heap may not grow past it, nor may
 *   private writable mmap (Linux counts data_vm), while read-only and
 *   shared mappings still work;
 * - after fork the child has the parent's break and heap contents, and
 *   moving its break does not move the parent's.
 *
 * The program never calls malloc: musl's allocator would move the break
 * under the test's feet.
 */
#include <sys/syscall.h>
#include "check.h"
#include "mmtest.h"

#define TASK_SIZE 0x7ffffffff000UL
#define KiB 1024UL
#define MiB (1024UL * 1024)

extern char end; /* the linker's end of .bss */
static int data_word = 42;

static uintptr_t do_brk(uintptr_t a)
{
	return (uintptr_t)syscall(SYS_brk, a);
}

static uintptr_t page_up(uintptr_t a)
{
	return (a + PAGE - 1) & ~(PAGE - 1);
}

static uintptr_t brk0;

static int data_limit_child(void *unused)
{
	(void)unused;
	struct rlimit rl = {4 * MiB, 4 * MiB};
	if (setrlimit(RLIMIT_DATA, &rl) != 0)
		return child_fail("setrlimit(RLIMIT_DATA, 4 MiB): %s", strerror(errno));
	uintptr_t b = do_brk(0);
	if (do_brk(b + 1 * MiB) != b + 1 * MiB)
		return child_fail("brk +1 MiB under a 4 MiB RLIMIT_DATA failed");
	uintptr_t r = do_brk(b + 8 * MiB);
	if (r != b + 1 * MiB)
		return child_fail("brk +8 MiB under a 4 MiB RLIMIT_DATA returned %#lx, want the old break %#lx",
				  (unsigned long)r, (unsigned long)(b + 1 * MiB));
	errno = 0;
	void *p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED || errno != ENOMEM)
		return child_fail("private writable mmap of 8 MiB over RLIMIT_DATA returned %p errno %d, want ENOMEM", p,
				  errno);
	p = mmap(NULL, 8 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return child_fail("read-only mmap of 8 MiB (not data) failed: %s", strerror(errno));
	munmap(p, 8 * MiB);
	p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return child_fail("shared mmap of 8 MiB (not data) failed: %s", strerror(errno));
	munmap(p, 8 * MiB);
	if (do_brk(b) != b)
		return child_fail("shrinking under RLIMIT_DATA failed");
	return 0;
}

static int fork_child(void *unused)
{
	(void)unused;
	uintptr_t b = do_brk(0);
	if (b != brk0 + 64 * KiB)
		return child_fail("child's break %#lx, parent's %#lx", (unsigned long)b, (unsigned long)(brk0 + 64 * KiB));
	if (bad_stamp((void *)page_up(brk0), 8 * PAGE, 0xb4b4, 0) >= 0)
		return child_fail("child does not see the parent's heap");
	if (do_brk(b + 1 * MiB) != b + 1 * MiB)
		return child_fail("child cannot grow its heap");
	memset((void *)b, 0x77, 1 * MiB);
	return 0;
}

int main(void)
{
	check_init("t_brk");
	report_init();
	brk0 = do_brk(0);
	CHECKF("brk0_after_bss", brk0 >= (uintptr_t)&end && brk0 < TASK_SIZE, "brk(0) = %#lx, end of bss %p",
	       (unsigned long)brk0, (void *)&end);
	uintptr_t r1 = do_brk(1), r2 = do_brk((uintptr_t)&data_word), r3 = do_brk(0);
	CHECKF("below_heap_returns_current", r1 == brk0 && r2 == brk0 && r3 == brk0,
	       "brk(1) = %#lx, brk(&data) = %#lx, brk(0) = %#lx, want %#lx", (unsigned long)r1, (unsigned long)r2,
	       (unsigned long)r3, (unsigned long)brk0);

	/* Grow and touch. */
	uintptr_t top = brk0 + 64 * KiB;
	uintptr_t r = do_brk(top);
	if (!CHECKF("grow_64k", r == top, "brk(%#lx) = %#lx", (unsigned long)top, (unsigned long)r))
		return check_done();
	memset((void *)brk0, 0x5c, top - brk0);
	int ok = 1;
	for (uintptr_t a = brk0; a < top; a++)
		if (*(unsigned char *)a != 0x5c)
			ok = 0;
	CHECK("grow_touch_every_page", ok);
	uintptr_t odd = top + 100;
	r = do_brk(odd);
	CHECKF("grow_unaligned", r == odd && do_brk(0) == odd, "brk(%#lx) = %#lx", (unsigned long)odd, (unsigned long)r);
	int w = probe((void *)(page_up(odd) - 1), PROBE_WRITE);
	int w2 = probe((void *)page_up(odd), PROBE_WRITE);
	CHECKF("unaligned_break_maps_whole_page", w == PROBE_OK && w2 == PROBE_SEGV,
	       "last byte of the break's page: %s; the page after: %s", probe_name(w), probe_name(w2));

	/* Shrink: the freed pages fault. */
	r = do_brk(brk0);
	CHECKF("shrink", r == brk0, "brk(%#lx) = %#lx", (unsigned long)brk0, (unsigned long)r);
	int f1 = probe((void *)page_up(brk0), PROBE_READ), f2 = probe((void *)(top - 1), PROBE_WRITE);
	CHECKF("shrunk_pages_fault", f1 == PROBE_SEGV && f2 == PROBE_SEGV, "first freed page: %s, last: %s",
	       probe_name(f1), probe_name(f2));

	/* Regrow: zeros. */
	r = do_brk(top);
	CHECKF("regrow", r == top, "brk = %#lx", (unsigned long)r);
	CHECKF("regrow_reads_zero", r == top && all_zero((void *)page_up(brk0), top - page_up(brk0)),
	       "regrown heap is not zero");

	/* Fork: the child has the same break and heap, its changes stay its own. */
	stamp_pages((void *)page_up(brk0), 8 * PAGE, 0xb4b4);
	check_child("fork_child_has_parents_heap", fork_child, NULL);
	CHECKF("fork_parent_break_unchanged", do_brk(0) == top && bad_stamp((void *)page_up(brk0), 8 * PAGE, 0xb4b4, 0) < 0,
	       "parent's break %#lx (want %#lx) or heap changed", (unsigned long)do_brk(0), (unsigned long)top);

	/* A mapping above the heap: the break may come up to one page below it. */
	uintptr_t m = page_up(top) + 1 * MiB;
	char *mp = mmap((void *)m, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (CHECKF("map_above_heap", mp == (char *)m, "mmap(%#lx) = %p errno %d", (unsigned long)m, (void *)mp, errno)) {
		mp[0] = 'm';
		r = do_brk(m + 1 * MiB);
		CHECKF("brk_over_mapping_fails", r == top && do_brk(0) == top, "brk(%#lx) = %#lx, want the old %#lx",
		       (unsigned long)(m + MiB), (unsigned long)r, (unsigned long)top);
		r = do_brk(m - PAGE + 1);
		CHECKF("brk_into_guard_page_fails", r == top, "brk(%#lx) = %#lx, want %#lx", (unsigned long)(m - PAGE + 1),
		       (unsigned long)r, (unsigned long)top);
		r = do_brk(m - PAGE);
		CHECKF("brk_up_to_guard_page", r == m - PAGE, "brk(%#lx) = %#lx", (unsigned long)(m - PAGE), (unsigned long)r);
		CHECKF("mapping_above_heap_intact", mp[0] == 'm', "mapping reads %d", mp[0]);
		munmap(mp, PAGE);
	}
	r = do_brk(TASK_SIZE + PAGE);
	CHECKF("beyond_task_size_fails", r == do_brk(0) && r != TASK_SIZE + PAGE, "brk = %#lx", (unsigned long)r);
	r = do_brk(brk0);
	CHECKF("back_to_start", r == brk0, "brk = %#lx", (unsigned long)r);

	check_child("rlimit_data_enforced", data_limit_child, NULL);
	return check_done();
}
