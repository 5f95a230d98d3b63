/*
 * t_malloc.c: musl's malloc (mallocng) on top of the kernel's brk and mmap.
 *
 * - 10000 small allocations of assorted sizes, each filled with its own
 *   pattern, all verified after all were made (no overlap), then freed:
 *   the resident set (/proc/self/statm) gives back at least half of what
 *   they added (mallocng unmaps emptied groups);
 * - a 1 MiB and a 64 MiB allocation (mmap'ed by musl), every page touched
 *   and checked, then freed (munmap);
 * - realloc growing a block step by step keeps its contents (musl may use
 *   mremap for large blocks);
 * - calloc returns zeroed memory, also when reusing freed dirty memory.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define PAGE 4096
#define NSMALL 10000

static size_t small_size(int i)
{
	return 1 + (size_t)((i * 7919) % 1500);
}

/* Resident pages (/proc/self/statm, second field); -1 if unreadable. */
static long rss_pages(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strchr(buf, ' ');
	return p ? strtol(p + 1, NULL, 10) : -1;
}

static void check_small(void)
{
	static unsigned char *blocks[NSMALL];
	int failed_alloc = -1, bad = -1;
	long rss0 = rss_pages();
	for (int i = 0; i < NSMALL; i++) {
		blocks[i] = malloc(small_size(i));
		if (!blocks[i]) {
			failed_alloc = i;
			break;
		}
		memset(blocks[i], (unsigned char)(i * 31 + 7), small_size(i));
	}
	CHECKF("small_allocs", failed_alloc < 0, "malloc #%d returned NULL", failed_alloc);
	for (int i = 0; i < NSMALL && bad < 0 && failed_alloc < 0; i++) {
		if ((uintptr_t)blocks[i] % 16 != 0)
			bad = i;
		for (size_t j = 0; j < small_size(i) && bad < 0; j++)
			if (blocks[i][j] != (unsigned char)(i * 31 + 7))
				bad = i;
	}
	CHECKF("small_allocs_distinct_and_aligned", bad < 0, "block %d corrupted or not 16-byte aligned", bad);
	long rss1 = rss_pages();
	for (int i = 0; i < NSMALL; i++)
		free(blocks[i]);
	long rss2 = rss_pages();
	check_note("# small allocations: rss %ld -> %ld -> %ld pages", rss0, rss1, rss2);
	/* About 7.5 MB were allocated: at least 1000 pages came, and at least
	 * half of them went back when freed. */
	CHECKF("small_allocs_freed", rss0 > 0 && rss1 - rss0 >= 1000 && rss1 - rss2 >= (rss1 - rss0) / 2,
	       "resident pages %ld before, %ld with the blocks, %ld after free", rss0, rss1, rss2);
}

/* Allocate LEN bytes, write every page, check them all, free. */
static void check_big(const char *name, size_t len)
{
	unsigned char *p = malloc(len);
	if (!CHECKF(name, p != NULL, "malloc(%zu) returned NULL", len))
		return;
	for (size_t off = 0; off < len; off += PAGE)
		p[off] = (unsigned char)(off / PAGE * 13 + 1);
	p[len - 1] = 0x5a;
	size_t bad = len;
	for (size_t off = 0; off < len && bad == len; off += PAGE)
		if (p[off] != (unsigned char)(off / PAGE * 13 + 1))
			bad = off;
	char touched[64];
	snprintf(touched, sizeof touched, "%s_every_page", name);
	CHECKF(touched, bad == len && p[len - 1] == 0x5a, "byte at offset %zu wrong", bad);
	free(p);
}

static void check_realloc(void)
{
	size_t size = 16;
	unsigned char *p = malloc(size);
	for (size_t i = 0; i < size; i++)
		p[i] = (unsigned char)(i * 7);
	int ok = p != NULL;
	while (ok && size < (4u << 20)) {
		size_t bigger = size * 2 + 3;
		unsigned char *q = realloc(p, bigger);
		if (!q) {
			ok = 0;
			break;
		}
		p = q;
		for (size_t i = 0; i < size; i++)
			if (p[i] != (unsigned char)(i * 7))
				ok = 0;
		for (size_t i = size; i < bigger; i++)
			p[i] = (unsigned char)(i * 7);
		size = bigger;
	}
	CHECKF("realloc_grow_keeps_contents", ok, "failed at size %zu", size);
	unsigned char *q = ok ? realloc(p, 100) : NULL;
	int shrunk_ok = q != NULL;
	for (size_t i = 0; shrunk_ok && i < 100; i++)
		shrunk_ok = q[i] == (unsigned char)(i * 7);
	CHECK("realloc_shrink_keeps_contents", shrunk_ok);
	free(q ? q : p);
}

static void check_calloc(void)
{
	/* Dirty some memory and free it, so calloc may get it back. */
	for (int round = 0; round < 2; round++) {
		size_t sizes[] = {24, 1000, 5000, 100000, 300000};
		void *dirty[5];
		for (int i = 0; i < 5; i++) {
			dirty[i] = malloc(sizes[i]);
			if (dirty[i])
				memset(dirty[i], 0xff, sizes[i]);
		}
		for (int i = 0; i < 5; i++)
			free(dirty[i]);
		int bad = -1;
		for (int i = 0; i < 5 && bad < 0; i++) {
			unsigned char *c = calloc(sizes[i], 1);
			if (!c) {
				bad = i;
				break;
			}
			for (size_t j = 0; j < sizes[i]; j++)
				if (c[j]) {
					bad = i;
					break;
				}
			free(c);
		}
		CHECKF(round ? "calloc_zeroed_after_reuse" : "calloc_zeroed", bad < 0, "calloc(%d-th size) not zeroed",
		       bad);
	}
}

int main(void)
{
	check_init("t_malloc");
	check_small();
	check_big("malloc_1mib", 1u << 20);
	check_big("malloc_64mib", 64u << 20);
	check_realloc();
	check_calloc();
	return check_done();
}
