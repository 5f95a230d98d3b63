/*
 * t_hugetlb1g.c: the 1 GiB hugetlb pool (x86_64 `hugepagesz=1G
 * hugepages=N`; Documentation/admin-guide/mm/hugetlbpage.rst):
 * - the pool has the pages the command line asked for (boot_pool), all
 *   free, none reserved or surplus (counts_at_rest), the nodes' counts add
 *   up to the global one (node_sums), /proc/meminfo's Hugetlb counts them
 *   (meminfo_hugetlb);
 * - nr_overcommit_hugepages of a size without run-time allocation takes
 *   only 0 (overcommit_einval; Linux with CONFIG_CONTIG_ALLOC accepts it);
 * - a MAP_HUGE_1GB mapping (map_1g: 1 GiB aligned, first and last byte
 *   written and read back, smaps KernelPageSize and Private_Hugetlb
 *   1048576 kB, status HugetlbPages at least that much, free_hugepages
 *   one lower while mapped and back after munmap, a private child's write
 *   not seen by the parent (tried when a second page is free for the
 *   child's copy), munmap at a non-1 GiB boundary EINVAL, a mapping of
 *   one page more than is free ENOMEM);
 * - memfd_create(MFD_HUGETLB | MFD_HUGE_1GB) (memfd_1g): st_blksize 1 GiB,
 *   ftruncate to 2 MiB EINVAL, to 1 GiB works; a shared mapping's byte is
 *   seen by pread; the page goes back at the last close and unmap;
 * - a hugetlbfs mounted with pagesize=1G (hugetlbfs_1g): statfs f_bsize
 *   1 GiB, /proc/mounts says pagesize=1024M, a file's 1 GiB shared
 *   mapping is written and read back (skipped where mount(2) is refused);
 * - a larger nr_hugepages leaves the size as it is where gigantic pages
 *   cannot be allocated at run time (grow_unchanged); a smaller one gives
 *   a page back to the page allocator: MemFree grows by about 1 GiB
 *   (shrink_frees, last: the page cannot come back).
 * Every case is skipped, with the reason, when the 1 GiB pool is missing
 * or empty, or the caller is not root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << 26)
#endif

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#ifndef MFD_HUGE_1GB
#define MFD_HUGE_1GB (30U << 26)
#endif

#define GB (1UL << 30)
#define SYS1G "/sys/kernel/mm/hugepages/hugepages-1048576kB/"

static const char *cases[] = {
	"boot_pool", "counts_at_rest", "node_sums", "meminfo_hugetlb", "overcommit_einval",
	"map_1g", "memfd_1g", "hugetlbfs_1g", "grow_unchanged", "shrink_frees",
};

static long g_free(void)
{
	return read_num(SYS1G "free_hugepages");
}

/* The N of "hugepagesz=1G hugepages=N" on the command line, -1 if absent. */
static long cmdline_pages(void)
{
	char cl[1024];
	if (read_small_file("/proc/cmdline", cl, sizeof cl) <= 0)
		return -1;
	char *h = strstr(cl, "hugepagesz=1G hugepages=");
	return h ? atol(h + strlen("hugepagesz=1G hugepages=")) : -1;
}

static int cow_child(void *p)
{
	char *c = p;
	if (c[0] != 0x11)
		return child_fail("the child sees %#x, not the parent's 0x11", c[0]);
	c[0] = 0x22;
	return c[0] == 0x22 ? 0 : child_fail("the child's write did not stick");
}

/* The mapping cases (one case, map_1g). */
static void map_cases(void)
{
	long free0 = g_free();
	char *p = mmap(NULL, GB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB,
		       -1, 0);
	if (p == MAP_FAILED) {
		CHECKF("map_1g", 0, "mmap(MAP_HUGE_1GB): %s", strerror(errno));
		return;
	}
	int ok = (unsigned long)p % GB == 0;
	p[0] = 0x11;
	p[GB - 1] = 0x33;
	ok = ok && p[0] == 0x11 && p[GB - 1] == 0x33;
	long kps = smaps_field(p, "KernelPageSize");
	long priv = smaps_field(p, "Private_Hugetlb");
	long status = status_kb("HugetlbPages");
	long free_mapped = g_free();
	/* The child's write needs a free page for its copy (else SIGBUS). */
	int cow = -1, cow_ok = 1;
	if (free_mapped > 0) {
		cow = run_child(cow_child, p);
		cow_ok = cow == 0;
	}
	errno = 0;
	int cut = munmap(p + (2UL << 20), 2UL << 20);
	int parent_sees = p[0];
	int cut_errno = errno;
	/* One page more than the pool has left: the promise fails. */
	errno = 0;
	void *q = mmap(NULL, (free_mapped + 1) * GB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB, -1, 0);
	int q_errno = errno;
	if (q != MAP_FAILED)
		munmap(q, (free_mapped + 1) * GB);
	munmap(p, GB);
	long free_after = g_free();
	CHECKF("map_1g",
	       ok && kps == 1048576 && priv == 1048576 && status >= 1048576 && free_mapped == free0 - 1 && free_after == free0 && cow_ok && cut == -1 && parent_sees == 0x11 &&
		       cut_errno == EINVAL && q == MAP_FAILED && q_errno == ENOMEM,
	       "aligned+data %d, KernelPageSize %ld kB, Private_Hugetlb %ld kB, HugetlbPages %ld kB, free %ld -> %ld -> %ld, fork cow %d (parent sees %#x), "
	       "munmap inside %d errno %d, beyond the pool %s errno %d",
	       ok, kps, priv, status, free0, free_mapped, free_after, cow, parent_sees, cut, cut_errno, q == MAP_FAILED ? "failed" : "made",
	       q_errno);
	if (cow < 0)
		check_note("map_1g: fork COW not tried: no free 1 GiB page for the child's copy (boot with hugepages=2)");
}

static void memfd_case(void)
{
	long free0 = g_free();
	int fd = memfd_create("g", MFD_HUGETLB | MFD_HUGE_1GB);
	if (fd < 0) {
		CHECKF("memfd_1g", 0, "memfd_create(MFD_HUGE_1GB): %s", strerror(errno));
		return;
	}
	struct stat st;
	int blk_ok = fstat(fd, &st) == 0 && st.st_blksize == (long)GB;
	errno = 0;
	int small = ftruncate(fd, 2UL << 20);
	int small_errno = errno;
	int big = ftruncate(fd, GB);
	char *p = mmap(NULL, GB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char c = 0;
	long free_mapped = -1;
	if (p != MAP_FAILED) {
		p[GB - 1] = 0x5a;
		free_mapped = g_free();
		if (pread(fd, &c, 1, GB - 1) != 1)
			c = 0;
		munmap(p, GB);
	}
	close(fd);
	long free_after = g_free();
	CHECKF("memfd_1g",
	       blk_ok && small == -1 && small_errno == EINVAL && big == 0 && p != MAP_FAILED && c == 0x5a &&
		       free_mapped == free0 - 1 && free_after == free0,
	       "st_blksize %ld, ftruncate 2M %d (%s), 1G %d, mmap %s, pread %#x, free %ld -> %ld -> %ld",
	       (long)st.st_blksize, small, strerror(small_errno), big, p == MAP_FAILED ? "failed" : "ok", c, free0,
	       free_mapped, free_after);
}

static void hugetlbfs_case(void)
{
	const char *dir = "/tmp/t_hugetlb1g.mnt";
	mkdir(dir, 0755);
	if (mount("none", dir, "hugetlbfs", 0, "pagesize=1G") != 0) {
		if (errno == EPERM || errno == ENODEV) {
			check_skip("hugetlbfs_1g", "mount(2) of hugetlbfs refused here");
		} else {
			CHECKF("hugetlbfs_1g", 0, "mount pagesize=1G: %s", strerror(errno));
		}
		rmdir(dir);
		return;
	}
	struct statfs sf;
	int bsize_ok = statfs(dir, &sf) == 0 && (unsigned long)sf.f_bsize == GB;
	static char mounts[1 << 14];
	int shown = read_small_file("/proc/mounts", mounts, sizeof mounts) > 0 && strstr(mounts, "pagesize=1024M");
	int fd = open("/tmp/t_hugetlb1g.mnt/f", O_CREAT | O_RDWR, 0600);
	int data_ok = 0;
	if (fd >= 0) {
		char *p = mmap(NULL, GB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			p[0] = 7;
			p[GB - 1] = 9;
			data_ok = p[0] == 7 && p[GB - 1] == 9;
			munmap(p, GB);
		}
		close(fd);
		unlink("/tmp/t_hugetlb1g.mnt/f");
	}
	umount(dir);
	rmdir(dir);
	CHECKF("hugetlbfs_1g", bsize_ok && shown && data_ok, "f_bsize %ld, pagesize=1024M in /proc/mounts %d, data %d",
	       (long)sf.f_bsize, shown, data_ok);
}

int main(void)
{
	check_init("t_hugetlb1g");
	report_init();
	long nr = read_num(SYS1G "nr_hugepages");
	const char *why = NULL;
	if (geteuid() != 0)
		why = "not root: the pool is root's";
	else if (nr < 0)
		why = "no " SYS1G " (no 1 GiB page size: the CPU lacks pdpe1gb, or the kernel has no such hstate)";
	else if (nr == 0)
		why = "the 1 GiB pool is empty (boot with hugepagesz=1G hugepages=1)";
	if (why) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
			check_skip(cases[i], why);
		return check_done();
	}

	long want = cmdline_pages();
	if (want < 0)
		check_skip("boot_pool", "no hugepagesz=1G hugepages=N on the command line");
	else
		CHECKF("boot_pool", nr == want, "nr_hugepages %ld, the command line asked %ld", nr, want);

	long fr = g_free(), rs = read_num(SYS1G "resv_hugepages"), su = read_num(SYS1G "surplus_hugepages");
	CHECKF("counts_at_rest", fr == nr && rs == 0 && su == 0, "nr %ld free %ld resv %ld surplus %ld", nr, fr, rs,
	       su);

	long sum = 0;
	int nodes = 0;
	for (int n = 0; n < 64; n++) {
		char path[128];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/hugepages/hugepages-1048576kB/nr_hugepages",
			 n);
		long v = read_num(path);
		if (v >= 0) {
			sum += v;
			nodes++;
		}
	}
	if (nodes == 0)
		check_skip("node_sums", "no per-node hugepages directories");
	else
		CHECKF("node_sums", sum == nr, "%d nodes hold %ld pages, the pool %ld", nodes, sum, nr);

	long hugetlb = meminfo_kb("Hugetlb");
	long small = meminfo_kb("HugePages_Total") * meminfo_kb("Hugepagesize");
	long size_kb = meminfo_kb("Hugepagesize");
	/* Hugetlb sums every size; HugePages_Total is the default size's. */
	long expect = nr * 1048576 + (size_kb == 1048576 ? 0 : small);
	CHECKF("meminfo_hugetlb", hugetlb >= expect, "Hugetlb %ld kB, want at least %ld kB", hugetlb, expect);

	int e = write_num(SYS1G "nr_overcommit_hugepages", 1);
	if (e == 0) {
		write_num(SYS1G "nr_overcommit_hugepages", 0);
		if (in_mmkernel())
			CHECKF("overcommit_einval", 0, "nr_overcommit_hugepages 1 was accepted");
		else
			check_skip("overcommit_einval", "this kernel allocates gigantic pages at run time");
	} else {
		CHECKF("overcommit_einval", e == EINVAL && read_num(SYS1G "nr_overcommit_hugepages") == 0,
		       "write: %s, now %ld", strerror(e), read_num(SYS1G "nr_overcommit_hugepages"));
	}

	map_cases();
	memfd_case();
	hugetlbfs_case();

	e = write_num(SYS1G "nr_hugepages", nr + 1);
	long grown = read_num(SYS1G "nr_hugepages");
	if (grown > nr) {
		write_num(SYS1G "nr_hugepages", nr);
		if (in_mmkernel())
			CHECKF("grow_unchanged", 0, "the pool grew to %ld at run time", grown);
		else
			check_skip("grow_unchanged", "this kernel allocates gigantic pages at run time");
	} else {
		CHECKF("grow_unchanged", e == 0 && grown == nr, "write: %s, nr %ld -> %ld", strerror(e), nr, grown);
	}

	long before = meminfo_kb("MemFree");
	e = write_num(SYS1G "nr_hugepages", nr - 1);
	long after = meminfo_kb("MemFree");
	long now = read_num(SYS1G "nr_hugepages");
	CHECKF("shrink_frees", e == 0 && now == nr - 1 && after - before > 900 * 1024,
	       "write: %s, nr %ld -> %ld, MemFree %ld -> %ld kB", strerror(e), nr, now, before, after);
	/* Put it back where the kernel can (Linux with run-time allocation). */
	write_num(SYS1G "nr_hugepages", nr);
	return check_done();
}
