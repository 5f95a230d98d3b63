/*
 * t_remap.c: remap_file_pages(2), deprecated and emulated as Linux 4.0+
 * does (mm/mmap.c): a new shared mapping of the same file over the range
 * at the page offset asked.
 * - pages of a shared file mapping show the offsets asked, and writes
 *   through them reach the file there (remapped_pages, writes_reach_file);
 * - /proc/self/maps shows the new offset (maps_offset);
 * - start and size are rounded down to pages; MAP_NONBLOCK is taken
 *   (rounding_and_nonblock);
 * - a shared anonymous mapping remaps within its segment (shared_anon);
 * - EINVAL: prot not 0, a private mapping, no mapping, a hole in the
 *   range, pgoff wrapping (einval_cases).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"

#define NR_REMAP_FILE_PAGES 216
#define NR_MEMFD_CREATE 319
#ifndef MAP_NONBLOCK
#define MAP_NONBLOCK 0x10000
#endif

static const long PG = 4096;

static long rfp(void *start, unsigned long size, unsigned long prot, unsigned long pgoff, unsigned long flags)
{
	return syscall(NR_REMAP_FILE_PAGES, start, size, prot, pgoff, flags);
}

static int err_of(long r)
{
	return r == -1 ? errno : 0;
}

/* The offset /proc/self/maps gives the mapping that contains `p`. */
static long maps_offset(void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[512];
	long found = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off;
		if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && lo <= (unsigned long)p &&
		    (unsigned long)p < hi)
			found = (long)off;
	}
	fclose(f);
	return found;
}

int main(void)
{
	check_init("t_remap");
	int fd = (int)syscall(NR_MEMFD_CREATE, "remap", 0);
	if (fd < 0 || ftruncate(fd, 8 * PG) != 0) {
		CHECKF("setup", 0, "memfd: errno %d", errno);
		return check_done();
	}
	for (int i = 0; i < 8; i++) {
		char b = (char)(i + 1);
		pwrite(fd, &b, 1, i * PG);
	}
	char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	long r = rfp(m + PG, 2 * PG, 0, 6, 0);
	CHECKF("remapped_pages", r == 0 && m[0] == 1 && m[PG] == 7 && m[2 * PG] == 8 && m[3 * PG] == 4,
	       "remap_file_pages %ld errno %d: %d %d %d %d", r, errno, m[0], m[PG], m[2 * PG], m[3 * PG]);

	m[2 * PG + 1] = 0x5e;
	char back[2] = {0, 0};
	pread(fd, back, 2, 7 * PG);
	CHECKF("writes_reach_file", back[0] == 8 && back[1] == 0x5e, "file page 7 starts %d %d", back[0], back[1]);

	long off = maps_offset(m + PG), first = maps_offset(m);
	CHECKF("maps_offset", off == 6 * PG && first == 0, "offsets %#lx and %#lx", first, off);

	/* Start and size round down; back to the linear layout. */
	r = rfp(m + PG + 123, 2 * PG + 77, 0, 1, MAP_NONBLOCK);
	CHECKF("rounding_and_nonblock", r == 0 && m[PG] == 2 && m[2 * PG] == 3 && m[3 * PG] == 4,
	       "remap_file_pages %ld errno %d: %d %d %d", r, errno, m[PG], m[2 * PG], m[3 * PG]);

	char *s = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 4; i++)
		s[i * PG] = (char)(0x20 + i);
	r = rfp(s, PG, 0, 3, 0);
	CHECKF("shared_anon", r == 0 && s[0] == 0x23 && s[PG] == 0x21, "remap_file_pages %ld errno %d: %d %d", r,
	       errno, s[0], s[PG]);

	char *priv = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	char *gap = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	munmap(gap + PG, PG);
	int e_prot = err_of(rfp(m, PG, PROT_READ, 1, 0));
	int e_priv = err_of(rfp(priv, PG, 0, 1, 0));
	int e_none = err_of(rfp(gap + PG, PG, 0, 1, 0));
	int e_hole = err_of(rfp(gap, 3 * PG, 0, 1, 0));
	int e_wrap = err_of(rfp(m, 2 * PG, 0, ~0UL, 0));
	int e_zero = err_of(rfp(m, 100, 0, 1, 0));
	CHECKF("einval_cases",
	       e_prot == EINVAL && e_priv == EINVAL && e_none == EINVAL && e_hole == EINVAL && e_wrap == EINVAL &&
		       e_zero == EINVAL && m[0] == 1,
	       "prot %d, private %d, unmapped %d, hole %d, pgoff wraps %d, size rounds to 0 %d", e_prot, e_priv,
	       e_none, e_hole, e_wrap, e_zero);
	return check_done();
}
