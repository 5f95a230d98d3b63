/*
 * t_cachestat.c: cachestat(2), a file's page cache in a range
 * (mm/filemap.c):
 * - a memfd written with write(2) has those pages cached, none evicted,
 *   and none dirty or under writeback: shmem never tags its page cache
 *   (written_pages);
 * - a range counts the pages it touches, both ends included; a hole and a
 *   range past the end count nothing; len 0 means to the end; a range
 *   whose end wraps past 2^64 counts nothing (ranges);
 * - a page written through a shared mapping is cached (mapped_page);
 * - truncation takes pages out of the cache (truncated);
 * - a pipe has no page cache: zeros (pipe_zeros);
 * - the program's own file, which runs, has pages in the cache
 *   (own_binary);
 * - errors in Linux's order: EBADF, EFAULT for the range and the result,
 *   EINVAL for flags, EOPNOTSUPP for a hugetlbfs file (errors, hugetlb);
 * - a reader that may not write another user's file gets EPERM; its
 *   owner, opening it read-only, may (permission).
 * Skipped where the call is missing (ENOSYS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define NR_CACHESTAT 451
#define NR_MEMFD_CREATE 319
#define MFD_HUGETLB_FLAG 0x0004U

struct cs_range {
	uint64_t off, len;
};

struct cs {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static long cachestat(int fd, uint64_t off, uint64_t len, struct cs *out)
{
	struct cs_range r = {off, len};
	memset(out, 0xff, sizeof *out);
	return syscall(NR_CACHESTAT, fd, &r, out, 0);
}

static int err_of(long r)
{
	return r == -1 ? errno : 0;
}

static const long PG = 4096;
static char path[64];

static int stranger_refused(void *arg)
{
	(void)arg;
	if (drop_root() != 0)
		return child_fail("cannot drop root: errno %d", errno);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return child_fail("open %s: errno %d", path, errno);
	struct cs c;
	long r = cachestat(fd, 0, 0, &c);
	return r == -1 && errno == EPERM ? 0 : child_fail("cachestat answered %ld errno %d", r, errno);
}

int main(void)
{
	check_init("t_cachestat");
	report_init();
	int fd = (int)syscall(NR_MEMFD_CREATE, "cachestat", 0);
	struct cs c;
	if (fd < 0 || (cachestat(fd, 0, 0, &c) != 0 && errno == ENOSYS)) {
		const char *cases[] = {"written_pages", "ranges",  "mapped_page", "truncated", "pipe_zeros",
				       "own_binary",    "errors",  "hugetlb",     "permission"};
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], fd < 0 ? "no memfd_create" : "no cachestat (ENOSYS)");
		return check_done();
	}

	static char buf[3 * 4096];
	memset(buf, 'c', sizeof buf);
	long w = write(fd, buf, sizeof buf);
	long r = cachestat(fd, 0, 0, &c);
	CHECKF("written_pages",
	       w == (long)sizeof buf && r == 0 && c.nr_cache == 3 && c.nr_dirty == 0 && c.nr_writeback == 0 &&
		       c.nr_evicted == 0 && c.nr_recently_evicted == 0,
	       "write %ld, cachestat %ld: cache %llu dirty %llu writeback %llu evicted %llu recent %llu", w, r,
	       (unsigned long long)c.nr_cache, (unsigned long long)c.nr_dirty, (unsigned long long)c.nr_writeback,
	       (unsigned long long)c.nr_evicted, (unsigned long long)c.nr_recently_evicted);

	/* Size 10 pages, pages 0..2 written. */
	ftruncate(fd, 10 * PG);
	struct cs one, ends, hole, past, wrap, to_end;
	cachestat(fd, PG, PG, &one);
	cachestat(fd, PG - 1, 2, &ends);
	cachestat(fd, 4 * PG, 3 * PG, &hole);
	cachestat(fd, 20 * PG, PG, &past);
	cachestat(fd, PG, UINT64_MAX, &wrap);
	cachestat(fd, 2 * PG, 0, &to_end);
	CHECKF("ranges",
	       one.nr_cache == 1 && ends.nr_cache == 2 && hole.nr_cache == 0 && past.nr_cache == 0 &&
		       wrap.nr_cache == 0 && to_end.nr_cache == 1,
	       "one page %llu, two ends %llu, hole %llu, past the end %llu, wrapping %llu, to the end %llu",
	       (unsigned long long)one.nr_cache, (unsigned long long)ends.nr_cache, (unsigned long long)hole.nr_cache,
	       (unsigned long long)past.nr_cache, (unsigned long long)wrap.nr_cache,
	       (unsigned long long)to_end.nr_cache);

	char *m = mmap(NULL, 10 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED) {
		m[6 * PG] = 1;
		munmap(m, 10 * PG);
	}
	cachestat(fd, 0, 0, &c);
	struct cs six;
	cachestat(fd, 6 * PG, PG, &six);
	CHECKF("mapped_page", m != MAP_FAILED && c.nr_cache == 4 && six.nr_cache == 1, "mmap %p, cache %llu, page 6 %llu",
	       (void *)m, (unsigned long long)c.nr_cache, (unsigned long long)six.nr_cache);

	ftruncate(fd, PG);
	cachestat(fd, 0, 0, &c);
	CHECKF("truncated", c.nr_cache == 1, "cache %llu after truncating to one page", (unsigned long long)c.nr_cache);

	int p[2];
	int piped = pipe(p) == 0;
	if (piped)
		write(p[1], "x", 1);
	r = piped ? cachestat(p[0], 0, 0, &c) : -1;
	CHECKF("pipe_zeros", r == 0 && c.nr_cache == 0 && c.nr_dirty == 0 && c.nr_evicted == 0,
	       "cachestat %ld errno %d, cache %llu", r, errno, (unsigned long long)c.nr_cache);
	if (piped) {
		close(p[0]);
		close(p[1]);
	}

	int self = open("/proc/self/exe", O_RDONLY);
	r = self >= 0 ? cachestat(self, 0, 0, &c) : -1;
	CHECKF("own_binary", r == 0 && c.nr_cache > 0 && c.nr_cache < (1u << 20),
	       "cachestat %ld errno %d, cache %llu", r, errno, (unsigned long long)c.nr_cache);
	if (self >= 0)
		close(self);

	struct cs_range rg = {0, 0};
	int ebadf = err_of(syscall(NR_CACHESTAT, 9999, &rg, &c, 0));
	int efault_range = err_of(syscall(NR_CACHESTAT, fd, (void *)8, &c, 0));
	int efault_out = err_of(syscall(NR_CACHESTAT, fd, &rg, (void *)8, 0));
	int einval = err_of(syscall(NR_CACHESTAT, fd, &rg, &c, 1));
	CHECKF("errors", ebadf == EBADF && efault_range == EFAULT && efault_out == EFAULT && einval == EINVAL,
	       "bad fd %d, bad range %d, bad result %d, flags %d", ebadf, efault_range, efault_out, einval);
	close(fd);

	int hfd = (int)syscall(NR_MEMFD_CREATE, "huge", MFD_HUGETLB_FLAG);
	if (hfd < 0) {
		check_skip("hugetlb", "no MFD_HUGETLB memfd");
	} else {
		int e = err_of(cachestat(hfd, 0, 0, &c));
		CHECKF("hugetlb", e == EOPNOTSUPP, "errno %d", e);
		close(hfd);
	}

	if (geteuid() != 0) {
		check_skip("permission", "not root: needs a file of another user");
	} else {
		snprintf(path, sizeof path, "/tmp/t_cachestat.%d", (int)getpid());
		int f = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		int made = f >= 0 && write(f, buf, PG) == PG;
		if (f >= 0)
			close(f);
		int ro = open(path, O_RDONLY);
		long own = ro >= 0 ? cachestat(ro, 0, 0, &c) : -1;
		if (ro >= 0)
			close(ro);
		if (made && own == 0)
			check_child("permission", stranger_refused, NULL);
		else
			CHECKF("permission", 0, "file %d, owner's read-only cachestat %ld errno %d", made, own, errno);
		unlink(path);
	}
	return check_done();
}
