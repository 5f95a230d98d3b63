/*
 * t_filemap.c: shared file mappings of tmpfs files and what reaches every
 * mapper (mm/shmem.c, mm/truncate.c, unmap_mapping_range in mm/memory.c).
 * Files live on /dev/shm, which is tmpfs on Linux and in mmkernel.
 *
 * - a store through one process's MAP_SHARED mapping is seen at once by
 *   read(2) and by another process's own mapping of the file;
 * - truncate takes the pages past the new end away from every process that
 *   had them mapped: a later access is SIGBUS, also for a private copy;
 * - a hole punched with fallocate, or with MADV_REMOVE through any mapping,
 *   reads as zeros in every other mapping, which then shares what is
 *   written next; a private mapping keeps the copies it made;
 * - SIGBUS past the end of the file, zeros after the end inside the last
 *   page; msync's checks; EACCES for a writable shared mapping of a file
 *   opened read-only (mmap and mprotect); " (deleted)" in /proc/self/maps
 *   once the file is unlinked.
 *
 * The other process is a forked child that maps the file itself, touches
 * it, and waits on a pipe while the parent changes the file; it checks
 * its own accesses in-process (a SIGBUS handler that jumps back).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "mmtest.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#define FALLOC_FL_PUNCH_HOLE 2
#endif

static int fallocate_(int fd, int mode, off_t off, off_t len)
{
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

/* ---- in-process access checks -------------------------------------------- */

static sigjmp_buf fault_jmp;
static volatile int fault_sig;

static void on_fault(int sig)
{
	fault_sig = sig;
	siglongjmp(fault_jmp, 1);
}

/* Read the byte at P: its value (0..255), or -SIGBUS / -SIGSEGV. */
static int peek(const volatile char *p)
{
	struct sigaction sa = {0}, old_bus, old_segv;
	sa.sa_handler = on_fault;
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	int r;
	if (sigsetjmp(fault_jmp, 1) == 0)
		r = (unsigned char)*p;
	else
		r = -fault_sig;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return r;
}

/* ---- files and a partner process ------------------------------------------ */

static char path[64];

/* A new file of PAGES pages on /dev/shm, page i filled with 'a' + i. */
static int new_file(const char *name, int pages)
{
	snprintf(path, sizeof path, "/dev/shm/t_filemap.%s.%d", name, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	char buf[PAGE];
	for (int i = 0; i < pages; i++) {
		memset(buf, 'a' + i, sizeof buf);
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			return -1;
	}
	return fd;
}

/*
 * A child that maps the file (FLAGS, PAGES pages), reads every page (and
 * with DIRTY writes 'X' into page 0 first), then tells us and waits; after
 * the parent's change it runs CHECK on its mapping and exits with its result.
 */
struct partner {
	pid_t pid;
	int go;  /* parent -> child */
	int rdy; /* child -> parent */
};

static int start_partner(struct partner *pt, int fd, int pages, int flags, int dirty,
			 int (*check)(volatile char *m))
{
	int a[2], b[2];
	if (pipe(a) || pipe(b))
		return -1;
	report_init();
	report->why[0] = '\0';
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		volatile char *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, flags, fd, 0);
		if (m == MAP_FAILED)
			_exit(child_fail("mmap: %s", strerror(errno)));
		if (dirty)
			m[0] = 'X';
		long sum = 0;
		for (int i = 0; i < pages; i++)
			sum += m[i * PAGE];
		(void)sum;
		char c = 1;
		if (write(b[1], &c, 1) != 1 || read(a[0], &c, 1) != 1)
			_exit(child_fail("pipe"));
		_exit(check(m));
	}
	close(a[0]);
	close(b[1]);
	char c;
	if (read(b[0], &c, 1) != 1)
		return -1;
	close(b[0]);
	pt->pid = pid;
	pt->go = a[1];
	return 0;
}

/* Let the partner run its check; 1 if it passed. */
static int finish_partner(const char *name, struct partner *pt)
{
	char c = 1;
	if (write(pt->go, &c, 1) != 1)
		return CHECKF(name, 0, "pipe: %s", strerror(errno));
	close(pt->go);
	int st;
	if (waitpid(pt->pid, &st, 0) != pt->pid)
		return CHECKF(name, 0, "waitpid: %s", strerror(errno));
	char d[96];
	describe_status(d, sizeof d, st);
	return CHECKF(name, WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s%s%s", d, report->why[0] ? ": " : "",
		      report->why);
}

/* ---- the cases ------------------------------------------------------------- */

static int check_store_seen(volatile char *m)
{
	if (m[PAGE + 7] != 'Z')
		return child_fail("the parent's store: saw %d", m[PAGE + 7]);
	m[2 * PAGE + 1] = 'Q';
	return 0;
}

static void stores_are_shared_both_ways(void)
{
	int fd = new_file("share", 3);
	if (!CHECKF("setup_share", fd >= 0, "%s", strerror(errno)))
		return;
	char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct partner pt;
	if (!CHECK("share_mmap", m != MAP_FAILED) || !CHECK("share_partner", start_partner(&pt, fd, 3, MAP_SHARED, 0,
											       check_store_seen) == 0))
		return;
	m[PAGE + 7] = 'Z';
	finish_partner("store_seen_by_another_process_mapping", &pt);
	char c = 0;
	pread(fd, &c, 1, 2 * PAGE + 1);
	CHECKF("other_process_store_seen_by_read", c == 'Q', "read %d", c);
	CHECKF("other_process_store_seen_by_mapping", m[2 * PAGE + 1] == 'Q', "saw %d", m[2 * PAGE + 1]);
	munmap(m, 3 * PAGE);
	close(fd);
	unlink(path);
}

static int check_truncated(volatile char *m)
{
	int r2 = peek(m + 2 * PAGE), r3 = peek(m + 3 * PAGE);
	if (r2 != -SIGBUS || r3 != -SIGBUS)
		return child_fail("pages past the end: %d %d, want SIGBUS (%d)", r2, r3, -SIGBUS);
	int last = peek(m + PAGE + 99), after = peek(m + PAGE + 100);
	if (last != 'b' || after != 0)
		return child_fail("last page: byte 99 %d (want 'b'), byte 100 %d (want 0)", last, after);
	return 0;
}

static void truncate_reaches_every_mapper(void)
{
	int fd = new_file("trunc", 4);
	struct partner pt;
	if (!CHECK("setup_trunc", fd >= 0 && start_partner(&pt, fd, 4, MAP_SHARED, 0, check_truncated) == 0))
		return;
	CHECK("ftruncate_shrink", ftruncate(fd, PAGE + 100) == 0);
	finish_partner("truncate_gives_sigbus_past_the_end_in_another_process", &pt);
	close(fd);
	unlink(path);
}

static int check_private_truncated(volatile char *m)
{
	int r = peek(m);
	if (r != -SIGBUS)
		return child_fail("own copy past the end: %d, want SIGBUS", r);
	return 0;
}

static void truncate_takes_private_copies(void)
{
	int fd = new_file("trpriv", 2);
	struct partner pt;
	if (!CHECK("setup_trpriv", fd >= 0 && start_partner(&pt, fd, 2, MAP_PRIVATE, 1, check_private_truncated) == 0))
		return;
	CHECK("ftruncate_zero", ftruncate(fd, 0) == 0);
	finish_partner("truncate_takes_private_copies_too", &pt);
	close(fd);
	unlink(path);
}

static int check_hole_shared(volatile char *m)
{
	int r0 = peek(m), r1 = peek(m + PAGE), r2 = peek(m + 2 * PAGE);
	if (r0 != 0 || r1 != 0 || r2 != 'c')
		return child_fail("after the hole: %d %d %d, want 0 0 'c'", r0, r1, r2);
	m[PAGE + 5] = 'H';
	return 0;
}

static void punch_hole_reaches_every_mapper(void)
{
	int fd = new_file("hole", 3);
	struct partner pt;
	if (!CHECK("setup_hole", fd >= 0 && start_partner(&pt, fd, 3, MAP_SHARED, 0, check_hole_shared) == 0))
		return;
	CHECK("punch_hole", fallocate_(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 * PAGE) == 0);
	finish_partner("punched_hole_reads_zeros_in_another_process", &pt);
	char c = 0;
	pread(fd, &c, 1, PAGE + 5);
	CHECKF("store_after_hole_lands_in_the_file", c == 'H', "read %d", c);
	close(fd);
	unlink(path);
}

static int check_hole_private(volatile char *m)
{
	int own = peek(m), file = peek(m + PAGE);
	if (own != 'X')
		return child_fail("own copy after the hole: %d, want 'X'", own);
	if (file != 0)
		return child_fail("file page after the hole: %d, want 0", file);
	return 0;
}

static void punch_hole_keeps_private_copies(void)
{
	int fd = new_file("hpriv", 2);
	struct partner pt;
	if (!CHECK("setup_hpriv", fd >= 0 && start_partner(&pt, fd, 2, MAP_PRIVATE, 1, check_hole_private) == 0))
		return;
	CHECK("punch_hole_private", fallocate_(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2 * PAGE) == 0);
	finish_partner("punched_hole_keeps_private_copies", &pt);
	close(fd);
	unlink(path);
}

static int check_removed(volatile char *m)
{
	int r = peek(m + PAGE);
	if (r != 0)
		return child_fail("after MADV_REMOVE elsewhere: %d, want 0", r);
	return 0;
}

static void madv_remove_reaches_every_mapper(void)
{
	int fd = new_file("remove", 2);
	struct partner pt;
	if (!CHECK("setup_remove", fd >= 0 && start_partner(&pt, fd, 2, MAP_SHARED, 0, check_removed) == 0))
		return;
	char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("madv_remove", m != MAP_FAILED && madvise(m + PAGE, PAGE, MADV_REMOVE) == 0);
	finish_partner("madv_remove_reads_zeros_in_another_process", &pt);
	char c = 1;
	pread(fd, &c, 1, PAGE);
	CHECKF("madv_remove_is_a_hole_in_the_file", c == 0, "read %d", c);
	munmap(m, 2 * PAGE);
	close(fd);
	unlink(path);
}

static void madv_remove_on_shared_anonymous_memory_reaches_the_parent(void)
{
	volatile char *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!CHECK("anon_shared_mmap", m != MAP_FAILED))
		return;
	m[10] = 'k';
	pid_t pid = fork();
	if (pid == 0)
		_exit(madvise((void *)m, PAGE, MADV_REMOVE) == 0 ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("anon_madv_remove_in_child_zeroes_the_parent", WIFEXITED(st) && WEXITSTATUS(st) == 0 && m[10] == 0,
	       "status %#x, parent reads %d", st, m[10]);
	munmap((void *)m, PAGE);
}

static void eof_and_access_rules(void)
{
	int fd = new_file("eof", 0);
	if (!CHECK("setup_eof", fd >= 0 && write(fd, "0123456789", 10) == 10))
		return;
	char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!CHECK("eof_mmap", m != MAP_FAILED))
		return;
	CHECKF("bytes_of_the_file", m[9] == '9', "%d", m[9]);
	CHECKF("zeros_after_the_end_in_the_last_page", peek(m + 10) == 0 && peek(m + PAGE - 1) == 0, "%d %d",
	       peek(m + 10), peek(m + PAGE - 1));
	CHECKF("sigbus_past_the_last_page", peek(m + PAGE) == -SIGBUS, "%d", peek(m + PAGE));
	CHECK("grow_by_ftruncate", ftruncate(fd, 2 * PAGE) == 0);
	CHECKF("grown_file_maps_zeros", peek(m + PAGE) == 0, "%d", peek(m + PAGE));

	/* msync: Linux's checks (mm/msync.c). */
	CHECK("msync_sync", msync(m, 2 * PAGE, MS_SYNC) == 0);
	CHECK("msync_async_invalidate", msync(m, PAGE, MS_ASYNC | MS_INVALIDATE) == 0);
	CHECK_ERRNO("msync_sync_and_async_einval", msync(m, PAGE, MS_SYNC | MS_ASYNC), EINVAL);
	CHECK_ERRNO("msync_unknown_flag_einval", msync(m, PAGE, 8), EINVAL);
	CHECK_ERRNO("msync_unaligned_einval", msync(m + 1, PAGE, MS_SYNC), EINVAL);
	char *hole = mmap(NULL, 3 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole + PAGE, PAGE);
	CHECK_ERRNO("msync_over_a_hole_enomem", msync(hole, 3 * PAGE, MS_SYNC), ENOMEM);
	if (mlock(hole, PAGE) == 0)
		CHECK_ERRNO("msync_invalidate_locked_ebusy", msync(hole, PAGE, MS_INVALIDATE), EBUSY);
	munmap(hole, 3 * PAGE);

	/* A file opened read-only: no writable shared mapping, now or later. */
	int ro = open(path, O_RDONLY);
	CHECK_ERRNO("mmap_shared_write_readonly_file_eacces", mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0),
		    EACCES);
	char *r = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	CHECK("mmap_shared_read_readonly_file", r != MAP_FAILED);
	CHECK_ERRNO("mprotect_write_shared_readonly_file_eacces", mprotect(r, PAGE, PROT_READ | PROT_WRITE), EACCES);
	char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, ro, 0);
	CHECK("mprotect_write_private_readonly_file", p != MAP_FAILED && mprotect(p, PAGE, PROT_READ | PROT_WRITE) == 0);
	int wo = open(path, O_WRONLY);
	CHECK_ERRNO("mmap_writeonly_file_eacces", mmap(NULL, PAGE, PROT_WRITE, MAP_SHARED, wo, 0), EACCES);
	close(wo);
	close(ro);

	/* The mapping outlives the name: maps says so. */
	unlink(path);
	char maps[8192];
	long n = read_small_file("/proc/self/maps", maps, sizeof maps);
	char want[96];
	snprintf(want, sizeof want, "%s (deleted)", path);
	CHECKF("maps_names_an_unlinked_file_deleted", n > 0 && strstr(maps, want), "no \"%s\" in /proc/self/maps", want);
	m[5] = 'y';
	char c = 0;
	pread(fd, &c, 1, 5);
	CHECKF("unlinked_file_still_shared", c == 'y', "read %d", c);
	munmap(m, 2 * PAGE);
	munmap(r, PAGE);
	munmap(p, PAGE);
	close(fd);
}

int main(void)
{
	check_init("t_filemap");
	stores_are_shared_both_ways();
	truncate_reaches_every_mapper();
	truncate_takes_private_copies();
	punch_hole_reaches_every_mapper();
	punch_hole_keeps_private_copies();
	madv_remove_reaches_every_mapper();
	madv_remove_on_shared_anonymous_memory_reaches_the_parent();
	eof_and_access_rules();
	return check_done();
}
