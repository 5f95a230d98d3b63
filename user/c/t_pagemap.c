/*
 * t_pagemap.c: /proc/PID/pagemap, /proc/kpagecount, /proc/kpageflags and
 * /proc/PID/clear_refs as Linux has them (Documentation/admin-guide/mm/
 * pagemap.rst, soft-dirty.rst).
 *
 * - pagemap: one u64 per virtual page at offset (vaddr / 4096) * 8;
 *   offsets and counts not a multiple of 8 are EINVAL; a hole reads 0; a
 *   page read once maps the zero page (present, not exclusive, not file),
 *   a written one is present and exclusive; untouched pages are not
 *   present; file pages and shared anonymous memory have bit 61; reads
 *   end at TASK_SIZE;
 * - fork: the shared page loses the exclusive bit (map count 2), and gets
 *   it back in each process once the child's write copied it;
 *   /proc/kpagecount says 1, then 2, then 1;
 * - kpageflags: an anonymous page has ANON, MMAP, UPTODATE, SWAPBACKED; a
 *   file page MMAP without ANON; the zero page ZERO_PAGE;
 * - as uid 65534: its own pagemap shows the flags with frame number 0;
 *   kpagecount, kpageflags and root's pagemap and clear_refs are EACCES;
 * - clear_refs: 1..5 accepted, 0, 6 and words EINVAL; 1 clears the
 *   referenced state smaps shows until the page is touched again; 5 drops
 *   VmHWM to VmRSS; 4 clears soft-dirty, after which a write makes exactly
 *   the written pages soft-dirty again, without copying them (the frame
 *   stays), and a new area is soft-dirty as a whole. Soft-dirty cases are
 *   skipped on a Linux built without CONFIG_MEM_SOFT_DIRTY (no bit 55 on a
 *   new area), never on mmkernel.
 */
#include <stdint.h>
#include <sched.h>
#include <sys/prctl.h>
#include "check.h"
#include "mmtest.h"

#define PM_PFN(e) ((e) & ((1ULL << 55) - 1))
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_FILE (1ULL << 61)
#define PM_SWAP (1ULL << 62)
#define PM_PRESENT (1ULL << 63)

#define KPF_UPTODATE 3
#define KPF_MMAP 11
#define KPF_ANON 12
#define KPF_SWAPBACKED 14
#define KPF_NOPAGE 20
#define KPF_ZERO_PAGE 24

static int pm_fd = -1;
static int soft_dirty_ok;

/* The pagemap entry of ADDR through FD; ~0 if it cannot be read. */
static uint64_t entry_of(int fd, const void *addr)
{
	uint64_t e;
	off_t off = (off_t)((uintptr_t)addr / PAGE * 8);
	return pread(fd, &e, 8, off) == 8 ? e : ~0ULL;
}

static uint64_t pm(const void *addr)
{
	return entry_of(pm_fd, addr);
}

/* Entry PFN of /proc/kpagecount or /proc/kpageflags; ~0 if unreadable. */
static uint64_t kpage(const char *path, uint64_t pfn)
{
	uint64_t v = ~0ULL;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return ~0ULL;
	if (pread(fd, &v, 8, (off_t)(pfn * 8)) != 8)
		v = ~0ULL;
	close(fd);
	return v;
}

/* Write S to /proc/PID/clear_refs ("self" for PID 0): 0 or the errno. */
static int clear_refs(pid_t pid, const char *s)
{
	char path[64];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/self/clear_refs");
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, s, strlen(s));
	int e = n < 0 ? errno : (n == (ssize_t)strlen(s) ? 0 : -1);
	close(fd);
	return e;
}

static void check_io_rules(void)
{
	uint64_t e[2];
	char *p = anon(PAGE);
	off_t at = (off_t)((uintptr_t)p / PAGE * 8);
	errno = 0;
	ssize_t r = pread(pm_fd, e, 8, at + 4);
	CHECKF("unaligned_offset_einval", r == -1 && errno == EINVAL, "pread at +4: %zd (%s)", r, strerror(errno));
	errno = 0;
	r = pread(pm_fd, e, 12, at);
	CHECKF("unaligned_count_einval", r == -1 && errno == EINVAL, "pread of 12 bytes: %zd (%s)", r, strerror(errno));
	r = pread(pm_fd, e, 16, at);
	CHECKF("two_entries", r == 16, "pread of 16 bytes: %zd (%s)", r, strerror(errno));
	/* The last page below TASK_SIZE (0x7ffffffff000) is the last entry. */
	off_t last = (off_t)(0x7ffffffff000ULL / PAGE - 1) * 8;
	r = pread(pm_fd, e, 16, last);
	ssize_t r2 = pread(pm_fd, e, 8, last + 8);
	CHECKF("reads_end_at_task_size", r == 8 && r2 == 0, "16 bytes at the last entry: %zd; past it: %zd", r, r2);
	/* lseek + read works like pread. */
	off_t s = lseek(pm_fd, at, SEEK_SET);
	r = read(pm_fd, e, 8);
	CHECKF("lseek_then_read", s == at && r == 8 && e[0] == pm(p), "lseek %lld, read %zd", (long long)s, r);
	munmap(p, PAGE);
}

static void check_bits(void)
{
	char *p = anon(4 * PAGE);
	if (!p) {
		CHECK("anon_bits", 0);
		return;
	}
	uint64_t before = pm(p);
	soft_dirty_ok = (before & PM_SOFT_DIRTY) != 0;
	if (in_mmkernel())
		CHECKF("new_area_soft_dirty", soft_dirty_ok, "entry %#llx", (unsigned long long)before);
	CHECKF("untouched_not_present", (before & ~PM_SOFT_DIRTY) == 0, "entry %#llx", (unsigned long long)before);
	volatile char sink = p[0];
	(void)sink;
	p[PAGE] = 1;
	uint64_t zero = pm(p), written = pm(p + PAGE), untouched = pm(p + 3 * PAGE);
	CHECKF("read_maps_zero_page",
	       (zero & PM_PRESENT) && !(zero & (PM_EXCLUSIVE | PM_FILE | PM_SWAP)) && PM_PFN(zero) != 0,
	       "entry %#llx", (unsigned long long)zero);
	CHECKF("write_maps_exclusive_anon",
	       (written & PM_PRESENT) && (written & PM_EXCLUSIVE) && !(written & (PM_FILE | PM_SWAP)) &&
		       PM_PFN(written) != 0 && PM_PFN(written) != PM_PFN(zero),
	       "entry %#llx", (unsigned long long)written);
	CHECKF("untouched_page_still_absent", !(untouched & PM_PRESENT), "entry %#llx", (unsigned long long)untouched);
	if (soft_dirty_ok)
		CHECKF("written_soft_dirty", written & PM_SOFT_DIRTY, "entry %#llx", (unsigned long long)written);

	/* A hole between two areas reads 0. */
	munmap(p + 2 * PAGE, PAGE);
	uint64_t hole = pm(p + 2 * PAGE);
	CHECKF("hole_reads_zero", hole == 0, "entry %#llx", (unsigned long long)hole);

	uint64_t zf = kpage("/proc/kpageflags", PM_PFN(zero));
	CHECKF("kpageflags_zero_page", zf != ~0ULL && (zf & (1ULL << KPF_ZERO_PAGE)) && !(zf & (1ULL << KPF_ANON)),
	       "flags %#llx", (unsigned long long)zf);
	uint64_t af = kpage("/proc/kpageflags", PM_PFN(written));
	uint64_t want = 1ULL << KPF_ANON | 1ULL << KPF_MMAP | 1ULL << KPF_UPTODATE | 1ULL << KPF_SWAPBACKED;
	CHECKF("kpageflags_anon_mmap", af != ~0ULL && (af & want) == want && !(af & (1ULL << KPF_NOPAGE)),
	       "flags %#llx, want %#llx set", (unsigned long long)af, (unsigned long long)want);
	uint64_t c = kpage("/proc/kpagecount", PM_PFN(written));
	CHECKF("kpagecount_one", c == 1, "count %llu", (unsigned long long)c);
	munmap(p, 4 * PAGE);
}

static void check_file_and_shared(void)
{
	const char *path = getenv("TESTDATA") ? getenv("TESTDATA") : "/etc/testdata.txt";
	int fd = path ? open(path, O_RDONLY) : -1;
	char *f = fd >= 0 ? mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (f == MAP_FAILED) {
		CHECKF("file_page", 0, "cannot map TESTDATA: %s", strerror(errno));
		return;
	}
	volatile char sink = f[0];
	(void)sink;
	uint64_t e = pm(f);
	CHECKF("file_page_bit_61", (e & PM_PRESENT) && (e & PM_FILE) && PM_PFN(e) != 0, "entry %#llx",
	       (unsigned long long)e);
	uint64_t ff = kpage("/proc/kpageflags", PM_PFN(e));
	CHECKF("kpageflags_file_mmap_not_anon",
	       ff != ~0ULL && (ff & (1ULL << KPF_MMAP)) && !(ff & (1ULL << KPF_ANON)) && (ff & (1ULL << KPF_UPTODATE)),
	       "flags %#llx", (unsigned long long)ff);
	munmap(f, PAGE);
	close(fd);

	char *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s[0] = 1;
	e = pm(s);
	CHECKF("shared_anon_bit_61", (e & PM_PRESENT) && (e & PM_FILE) && (e & PM_EXCLUSIVE), "entry %#llx",
	       (unsigned long long)e);
	munmap(s, PAGE);
}

/* Fork: the written page is mapped twice until the child writes it. */
static void check_fork(void)
{
	char *p = anon(2 * PAGE);
	p[0] = 1;
	p[PAGE] = 1;
	uint64_t pfn = PM_PFN(pm(p));
	int go[2], done[2];
	if (pipe(go) || pipe(done)) {
		CHECK("fork_pipes", 0);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		p[0] = 2; /* copy-on-write: the child's own page */
		/* The inherited descriptor shows the parent (the address space
		 * is the opener's): open the child's own. */
		int fd = open("/proc/self/pagemap", O_RDONLY);
		uint64_t e = entry_of(fd, p);
		c = (e & PM_EXCLUSIVE) && PM_PFN(e) != pfn ? 'y' : 'n';
		if (write(done[1], &c, 1) != 1)
			_exit(3);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(0);
	}
	uint64_t shared = pm(p);
	uint64_t c2 = kpage("/proc/kpagecount", pfn);
	CHECKF("fork_clears_exclusive", (shared & PM_PRESENT) && !(shared & PM_EXCLUSIVE) && PM_PFN(shared) == pfn,
	       "parent entry %#llx", (unsigned long long)shared);
	CHECKF("kpagecount_two_after_fork", c2 == 2, "count %llu", (unsigned long long)c2);
	char c = 'g', ans = '?';
	if (write(go[1], &c, 1) != 1 || read(done[0], &ans, 1) != 1)
		ans = '?';
	CHECKF("child_copy_exclusive", ans == 'y', "child answered %c", ans);
	uint64_t mine = pm(p), other = pm(p + PAGE);
	uint64_t c1 = kpage("/proc/kpagecount", pfn);
	CHECKF("parent_exclusive_again", (mine & PM_EXCLUSIVE) && PM_PFN(mine) == pfn && !(other & PM_EXCLUSIVE),
	       "page 0 %#llx, page 1 (still shared) %#llx", (unsigned long long)mine, (unsigned long long)other);
	CHECKF("kpagecount_one_after_copy", c1 == 1, "count %llu", (unsigned long long)c1);
	if (write(go[1], &c, 1) != 1)
		c = 0;
	int st;
	waitpid(pid, &st, 0);
	CHECKF("fork_child_ok", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	close(go[0]), close(go[1]), close(done[0]), close(done[1]);
	munmap(p, 2 * PAGE);
}

static pid_t parent_pid;

static int nobody_child(void *unused)
{
	(void)unused;
	if (drop_root())
		return child_fail("cannot drop root: %s", strerror(errno));
	/* setuid made the process non-dumpable: its /proc files are root's. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return child_fail("own pagemap as uid 65534: %s", strerror(errno));
	char *p = anon(PAGE);
	p[0] = 1;
	uint64_t e = entry_of(fd, p);
	close(fd);
	if (!(e & PM_PRESENT) || !(e & PM_EXCLUSIVE) || PM_PFN(e) != 0)
		return child_fail("own entry %#llx: want present, exclusive, frame 0", (unsigned long long)e);
	if (open("/proc/kpagecount", O_RDONLY) >= 0 || errno != EACCES)
		return child_fail("kpagecount as uid 65534: %s, want EACCES", strerror(errno));
	if (open("/proc/kpageflags", O_RDONLY) >= 0 || errno != EACCES)
		return child_fail("kpageflags as uid 65534: %s, want EACCES", strerror(errno));
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)parent_pid);
	if (open(path, O_RDONLY) >= 0 || errno != EACCES)
		return child_fail("root's pagemap as uid 65534: %s, want EACCES", strerror(errno));
	int r = clear_refs(parent_pid, "1");
	if (r != EACCES)
		return child_fail("root's clear_refs as uid 65534: %s, want EACCES", r > 0 ? strerror(r) : "written");
	r = clear_refs(0, "1");
	if (r != 0)
		return child_fail("own clear_refs as uid 65534: %s", r > 0 ? strerror(r) : "short");
	return 0;
}

/* Referenced: of the smaps area at ADDR in kB; -1 if not found. */
static long referenced_kb(const void *addr)
{
	static char buf[1 << 16];
	if (read_small_file("/proc/self/smaps", buf, sizeof buf) < 0)
		return -1;
	char head[32];
	snprintf(head, sizeof head, "%lx-", (unsigned long)addr);
	char *a = strstr(buf, head);
	if (!a)
		return -1;
	char *r = strstr(a, "\nReferenced:");
	return r ? strtol(r + 12, NULL, 10) : -1;
}

static void check_clear_refs(void)
{
	const char *bad[] = {"0", "6", "-1", "x", "44"};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = clear_refs(0, bad[i]);
		char name[40];
		snprintf(name, sizeof name, "clear_refs_%s_einval", bad[i][0] == 'x' ? "word" : bad[i]);
		CHECKF(name, r == EINVAL, "write \"%s\": %s", bad[i], r > 0 ? strerror(r) : "accepted");
	}
	int r = clear_refs(0, "1\n");
	CHECKF("clear_refs_1_newline_ok", r == 0, "%s", r > 0 ? strerror(r) : "short");

	/* Four pages between two PROT_NONE pages: an area of their own. */
	char *g = mmap(NULL, 6 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = g + PAGE;
	mprotect(p, 4 * PAGE, PROT_READ | PROT_WRITE);
	memset(p, 1, 4 * PAGE);
	/* (Touching the pages again need not show: x86 Linux leaves the TLB
	 * entries, whose accessed bit is already set, in place.) */
	long ref0 = referenced_kb(p);
	clear_refs(0, "3");
	long ref1 = referenced_kb(p);
	clear_refs(0, "2");
	long ref2 = referenced_kb(p);
	CHECKF("clear_refs_2_3_referenced_by_kind", ref0 == 16 && ref1 == 16 && ref2 == 0,
	       "Referenced: %ld kB, after clear_refs 3 (file): %ld kB, after 2 (anon): %ld kB", ref0, ref1, ref2);
	munmap(p, 4 * PAGE);
	p = mmap(p, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	memset(p, 1, 4 * PAGE);
	ref0 = referenced_kb(p);
	clear_refs(0, "1");
	ref1 = referenced_kb(p);
	CHECKF("clear_refs_1_clears_referenced", ref0 == 16 && ref1 == 0, "Referenced: %ld kB, after clear_refs 1: %ld kB",
	       ref0, ref1);
	munmap(g, 6 * PAGE);

	size_t big = 1024 * PAGE;
	char *b = anon(big);
	memset(b, 1, big);
	long hwm0 = status_kb("VmHWM");
	munmap(b, big);
	long rss = status_kb("VmRSS"), hwm1 = status_kb("VmHWM");
	r = clear_refs(0, "5");
	long hwm2 = status_kb("VmHWM"), rss2 = status_kb("VmRSS");
	CHECKF("clear_refs_5_resets_vmhwm", r == 0 && hwm1 >= rss + 4000 && hwm2 <= rss2 + 64 && hwm2 >= rss2,
	       "VmHWM %ld, after munmap %ld (VmRSS %ld), after clear_refs 5: %ld (VmRSS %ld)", hwm0, hwm1, rss, hwm2,
	       rss2);
}

static void check_soft_dirty(void)
{
	if (!soft_dirty_ok) {
		check_skip("soft_dirty_after_clear", "kernel without CONFIG_MEM_SOFT_DIRTY");
		return;
	}
	char *p = anon(8 * PAGE);
	memset(p, 1, 8 * PAGE);
	uint64_t pfn3 = PM_PFN(pm(p + 3 * PAGE));
	int r = clear_refs(0, "4");
	int clean = 0;
	for (int i = 0; i < 8; i++)
		clean += !(pm(p + i * PAGE) & PM_SOFT_DIRTY);
	CHECKF("clear_refs_4_clears_soft_dirty", r == 0 && clean == 8, "write: %d, %d of 8 pages clean", r, clean);
	p[3 * PAGE + 7] = 2;
	p[6 * PAGE] = 2;
	volatile char sink = p[5 * PAGE];
	(void)sink;
	char got[9];
	for (int i = 0; i < 8; i++)
		got[i] = pm(p + i * PAGE) & PM_SOFT_DIRTY ? 'd' : '.';
	got[8] = 0;
	CHECKF("write_sets_soft_dirty_on_written_pages_only", !strcmp(got, "...d..d."), "soft-dirty map %s, want ...d..d.",
	       got);
	uint64_t e3 = pm(p + 3 * PAGE);
	CHECKF("soft_dirty_fault_keeps_the_page", PM_PFN(e3) == pfn3 && (e3 & PM_EXCLUSIVE) && p[3 * PAGE] == 1,
	       "frame %#llx, was %#llx", (unsigned long long)PM_PFN(e3), (unsigned long long)pfn3);
	/* Shared memory: a page first read after the clear is not
	 * soft-dirty; its first write makes it so. */
	char *sh = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	sh[PAGE] = 1;
	clear_refs(0, "4");
	volatile char sink2 = sh[0];
	(void)sink2;
	uint64_t s_read = pm(sh), s_other = pm(sh + PAGE);
	sh[0] = 1;
	uint64_t s_written = pm(sh);
	CHECKF("shared_first_write_after_clear_soft_dirty",
	       (s_read & PM_PRESENT) && !(s_read & PM_SOFT_DIRTY) && !(s_other & PM_SOFT_DIRTY) &&
		       (s_written & PM_SOFT_DIRTY),
	       "read %#llx, untouched %#llx, written %#llx", (unsigned long long)s_read, (unsigned long long)s_other,
	       (unsigned long long)s_written);
	munmap(sh, 2 * PAGE);
	/* A new area is soft-dirty before any write. */
	char *q = anon(PAGE);
	CHECKF("new_area_after_clear_soft_dirty", pm(q) & PM_SOFT_DIRTY, "entry %#llx", (unsigned long long)pm(q));
	munmap(q, PAGE);
	munmap(p, 8 * PAGE);
}

/* clear_refs 4 written by the parent while the child keeps writing one
 * page (on another CPU if there is one): the child's next writes must
 * fault, so its page becomes soft-dirty again in its pagemap, read by
 * the parent; a page the child does not write stays clean. */
static void check_soft_dirty_remote(void)
{
	if (!soft_dirty_ok) {
		check_skip("soft_dirty_of_running_child", "kernel without CONFIG_MEM_SOFT_DIRTY");
		return;
	}
	volatile long *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *p = anon(2 * PAGE);
	memset(p, 1, 2 * PAGE);
	shared[0] = 0;
	pid_t pid = fork();
	if (pid == 0) {
		volatile long *hot = (volatile long *)p;
		shared[0] = 1;
		while (!shared[1])
			(*hot)++;
		_exit(0);
	}
	while (!shared[0])
		sched_yield();
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY);
	int r = clear_refs(pid, "4");
	uint64_t hot = 0, cold = 0;
	int tries = 0;
	for (; tries < 500; tries++) {
		hot = entry_of(fd, p);
		cold = entry_of(fd, p + PAGE);
		if (hot & PM_SOFT_DIRTY)
			break;
		usleep(1000);
	}
	shared[1] = 1;
	int st;
	waitpid(pid, &st, 0);
	close(fd);
	CHECKF("soft_dirty_of_running_child",
	       r == 0 && (hot & PM_SOFT_DIRTY) && (hot & PM_PRESENT) && !(cold & PM_SOFT_DIRTY) && WIFEXITED(st),
	       "clear_refs %d; after %d ms: written page %#llx, other %#llx", r, tries, (unsigned long long)hot,
	       (unsigned long long)cold);
	munmap(p, 2 * PAGE);
	munmap((void *)shared, PAGE);
}

int main(void)
{
	check_init("t_pagemap");
	pm_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pm_fd < 0) {
		CHECKF("open_pagemap", 0, "%s", strerror(errno));
		return check_done();
	}
	parent_pid = getpid();
	check_io_rules();
	check_bits();
	check_file_and_shared();
	check_fork();
	check_child("nobody_sees_flags_without_frames", nobody_child, NULL);
	check_clear_refs();
	check_soft_dirty();
	check_soft_dirty_remote();
	return check_done();
}
