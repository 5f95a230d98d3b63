/*
 * t_hugetlb.c: the hugetlb pool and MAP_HUGETLB mappings as Linux offers
 * them (Documentation/admin-guide/mm/hugetlbpage.rst, mm/hugetlb.c):
 * - boot_pool: with hugepages=N on the kernel command line (/proc/cmdline)
 *   the pool holds N pages when the test starts (skipped without it);
 * - the pool set to 8 pages through /proc/sys/vm/nr_hugepages shows in
 *   /proc/meminfo (meminfo_pool: HugePages_Total/Free, Hugepagesize
 *   2048 kB, Hugetlb), in /sys/kernel/mm/hugepages/hugepages-2048kB
 *   (sysfs_pool) and summed over the nodes' hugepages directories
 *   (node_pool_sums);
 * - a private MAP_HUGETLB mapping of 3 MiB is 2 MiB aligned and 4 MiB long
 *   (mmap_aligned), promises both pages at mmap (reserved_at_mmap:
 *   HugePages_Rsvd 2), a first touch uses a promise (fault_uses_reservation),
 *   every word survives (data_kept), smaps shows KernelPageSize 2048 kB,
 *   Private_Hugetlb 4096 kB and Rss 0 (smaps_hugetlb), status HugetlbPages
 *   4096 kB (status_hugetlb), maps names it anon_hugepage (maps_name),
 *   numa_maps marks it huge with kernelpagesize_kB=2048 and counts two
 *   pages on the nodes (numa_maps_huge; skipped without numa_maps),
 *   mincore sees it resident (mincore_resident);
 * - munmap or mprotect of one 4 KiB page inside a huge page is EINVAL
 *   (cut_inside_einval); munmap gives both pages back (munmap_returns_pages);
 * - more pages than the pool has: ENOMEM at mmap (enomem_beyond_pool);
 *   with MAP_NORESERVE the mapping is made and the fault past the pool is
 *   SIGBUS (noreserve_sigbus);
 * - across fork: MAP_SHARED pages are shared (shared_seen_across_fork),
 *   MAP_PRIVATE ones copied on write (private_cow_across_fork);
 *   mprotect(PROT_READ) of a whole huge page makes writes SIGSEGV
 *   (mprotect_readonly);
 * - MADV_DONTNEED of a whole huge page gives it back and the next read is
 *   zero (dontneed_frees);
 * - with nr_hugepages 0 and nr_overcommit_hugepages 2, a 2-page mapping is
 *   made of surplus pages, which leave with it (overcommit_surplus);
 * - memfd_create(MFD_HUGETLB) makes a hugetlbfs file (memfd_file):
 *   ftruncate to 4 KiB is EINVAL, to 4 MiB works (st_size, st_blksize
 *   2 MiB); a shared mapping promises its two pages, its bytes are seen
 *   by pread and by a second mapping, write(2) is EINVAL, and the pages
 *   go back to the pool at the last close and unmap; a private mapping
 *   reads the file and copies on write, the file unchanged
 *   (memfd_private_cow);
 * - a hugetlbfs mounted with size=4M (hugetlbfs_mount): statfs shows
 *   2 MiB blocks, two of them; a 6 MiB shared mapping of a file there is
 *   ENOMEM (more than the mount may hold), a 4 MiB one works and is
 *   written, then the mount is full (statfs f_bfree 0, another file's
 *   mapping ENOMEM); unmount gives every page back (skipped where
 *   mount(2) is refused);
 * - min_size= (hugetlbfs_min_size): mounting with min_size=4M makes the
 *   pool promise 2 pages at once (HugePages_Rsvd + 2); a file's 4 MiB
 *   shared mapping there takes no further promise, touching it uses the
 *   two, removing the file gives them back to the mount (Rsvd + 2 again)
 *   and unmounting to the pool; min_size above size is EINVAL, above
 *   what the pool can promise ENOMEM;
 * - "abc" written to nr_hugepages (sysctl or sysfs) is EINVAL
 *   (bad_writes_einval); MAP_HUGE_1GB without 1 GiB pages fails
 *   (EINVAL where there is no such size, ENOMEM where its pool is empty:
 *   huge_1gb_refused).
 * The pool sizes are restored at the end. Root only (the pool is root's);
 * every case is skipped, with the reason, when the pool cannot be set.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << 26)
#endif

#define HP (2UL << 20)
#define POOL 8
#define NR "/proc/sys/vm/nr_hugepages"
#define OC "/proc/sys/vm/nr_overcommit_hugepages"
#define SYSHP "/sys/kernel/mm/hugepages/hugepages-2048kB/"

static const char *cases[] = {
	"boot_pool", "meminfo_pool", "sysfs_pool", "node_pool_sums", "mmap_aligned", "reserved_at_mmap",
	"fault_uses_reservation", "data_kept", "smaps_hugetlb", "status_hugetlb", "maps_name", "numa_maps_huge",
	"mincore_resident", "cut_inside_einval", "munmap_returns_pages", "enomem_beyond_pool",
	"noreserve_sigbus", "shared_seen_across_fork", "private_cow_across_fork", "mprotect_readonly",
	"dontneed_frees", "memfd_file", "memfd_private_cow", "hugetlbfs_mount", "overcommit_surplus", "bad_writes_einval", "huge_1gb_refused",
};

static void *hmap(size_t len, int flags)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
}

/* Whether /proc/self/maps' line for P contains WORD. */
static int maps_has(void *p, const char *word)
{
	static char m[1 << 16];
	char head[40];
	if (read_small_file("/proc/self/maps", m, sizeof m) < 0)
		return 0;
	snprintf(head, sizeof head, "%lx-", (unsigned long)p);
	char *l = strstr(m, head);
	if (!l)
		return 0;
	char *end = strchr(l, '\n');
	if (end)
		*end = '\0';
	return strstr(l, word) != NULL;
}

static long hp_free(void)
{
	return meminfo_kb("HugePages_Free");
}

static long hp_rsvd(void)
{
	return meminfo_kb("HugePages_Rsvd");
}

static int touch_all(void *p)
{
	char *c = p;
	for (size_t off = 0; off < 10 * HP; off += HP)
		c[off] = 1;
	return 0;
}

static int write_child(void *p)
{
	memset(p, 0x5c, 4096);
	return 0;
}

static int cow_child(void *p)
{
	long *w = p;
	if (w[0] != 0x1111)
		return child_fail("the child sees %#lx, not the parent's 0x1111", w[0]);
	w[0] = 0x2222;
	return w[0] == 0x2222 ? 0 : child_fail("the child's write did not stick");
}

int main(void)
{
	check_init("t_hugetlb");
	report_init();
	/* Before anything changes the pool: what the command line asked. */
	char cl[1024];
	long boot = -1;
	if (read_small_file("/proc/cmdline", cl, sizeof cl) > 0) {
		char *h = strstr(cl, "hugepages=");
		while (h && h != cl && h[-1] != ' ')
			h = strstr(h + 1, "hugepages=");
		if (h)
			boot = atol(h + strlen("hugepages="));
	}
	long boot_total = meminfo_kb("HugePages_Total");
	long old = read_num(NR), old_oc = read_num(OC);
	const char *why = NULL;
	if (geteuid() != 0)
		why = "not root: the pool is root's";
	else if (old < 0)
		why = "no /proc/sys/vm/nr_hugepages (a kernel without hugetlb)";
	else if (write_num(OC, 0) != 0 || write_num(NR, POOL) != 0)
		why = "the pool cannot be set here (read-only /proc/sys?)";
	else if (read_num(NR) != POOL || hp_free() != POOL)
		why = "the pool did not reach 8 free pages (memory too fragmented)";
	if (why) {
		if (old >= 0 && geteuid() == 0) {
			write_num(NR, old);
			write_num(OC, old_oc);
		}
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], why);
		return check_done();
	}

	if (boot < 0)
		check_skip("boot_pool", "no hugepages= on the kernel command line");
	else
		CHECKF("boot_pool", boot_total == boot, "hugepages=%ld, HugePages_Total %ld at start", boot, boot_total);
	CHECKF("meminfo_pool",
	       meminfo_kb("HugePages_Total") == POOL && hp_free() == POOL && meminfo_kb("Hugepagesize") == 2048 &&
		       meminfo_kb("Hugetlb") >= POOL * 2048,
	       "Total %ld Free %ld Hugepagesize %ld Hugetlb %ld", meminfo_kb("HugePages_Total"), hp_free(),
	       meminfo_kb("Hugepagesize"), meminfo_kb("Hugetlb"));
	if (read_num(SYSHP "nr_hugepages") < 0) {
		check_skip("sysfs_pool", "no /sys/kernel/mm/hugepages");
		check_skip("node_pool_sums", "no /sys/kernel/mm/hugepages");
	} else {
		CHECKF("sysfs_pool",
		       read_num(SYSHP "nr_hugepages") == POOL && read_num(SYSHP "free_hugepages") == POOL &&
			       read_num(SYSHP "resv_hugepages") == 0 && read_num(SYSHP "surplus_hugepages") == 0,
		       "nr %ld free %ld resv %ld surplus %ld", read_num(SYSHP "nr_hugepages"),
		       read_num(SYSHP "free_hugepages"), read_num(SYSHP "resv_hugepages"),
		       read_num(SYSHP "surplus_hugepages"));
		long sum = 0, n;
		int nodes = 0;
		for (int nid = 0; nid < 64; nid++) {
			char path[128];
			snprintf(path, sizeof path,
				 "/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", nid);
			if ((n = read_num(path)) < 0)
				continue;
			sum += n;
			nodes++;
		}
		if (nodes == 0)
			check_skip("node_pool_sums", "no /sys/devices/system/node");
		else
			CHECKF("node_pool_sums", sum == POOL, "%d nodes hold %ld pages", nodes, sum);
	}

	/* A private mapping of 3 MiB: two huge pages. */
	char *p = hmap(3UL << 20, MAP_PRIVATE);
	CHECKF("mmap_aligned",
	       p != MAP_FAILED && (uintptr_t)p % HP == 0 && is_mapped(p + 4 * (1 << 20) - 4096, 4096) &&
		       !is_mapped(p + 4 * (1 << 20), 4096),
	       "mmap %p errno %d", (void *)p, errno);
	if (p == MAP_FAILED)
		return check_done();
	CHECKF("reserved_at_mmap", hp_rsvd() == 2 && hp_free() == POOL, "Rsvd %ld Free %ld", hp_rsvd(), hp_free());
	p[0] = 1;
	CHECKF("fault_uses_reservation", hp_rsvd() == 1 && hp_free() == POOL - 1, "Rsvd %ld Free %ld", hp_rsvd(),
	       hp_free());
	stamp_pages(p, 2 * HP, 0x4747);
	long bad = bad_stamp(p, 2 * HP, 0x4747, 0);
	CHECKF("data_kept", bad == -1 && hp_rsvd() == 0 && hp_free() == POOL - 2, "first bad page %ld, Rsvd %ld Free %ld",
	       bad, hp_rsvd(), hp_free());
	long kps = smaps_field(p, "KernelPageSize"), priv = smaps_field(p, "Private_Hugetlb");
	long rss = smaps_field(p, "Rss");
	CHECKF("smaps_hugetlb", kps == 2048 && priv == 4096 && rss == 0,
	       "KernelPageSize %ld Private_Hugetlb %ld Rss %ld", kps, priv, rss);
	CHECKF("status_hugetlb", status_kb("HugetlbPages") == 4096, "HugetlbPages %ld kB", status_kb("HugetlbPages"));
	CHECK("maps_name", maps_has(p, "anon_hugepage"));
	static char nm[1 << 16];
	if (read_small_file("/proc/self/numa_maps", nm, sizeof nm) < 0) {
		check_skip("numa_maps_huge", "no /proc/self/numa_maps");
	} else {
		char head[40];
		snprintf(head, sizeof head, "%lx ", (unsigned long)p);
		char *l = strstr(nm, head);
		char *end = l ? strchr(l, '\n') : NULL;
		if (end)
			*end = '\0';
		long on_nodes = 0;
		for (char *n = l ? strstr(l, " N") : NULL; n; n = strstr(n + 1, " N"))
			on_nodes += atol(strchr(n, '=') + 1);
		CHECKF("numa_maps_huge",
		       l && strstr(l, " huge") && strstr(l, "kernelpagesize_kB=2048") && on_nodes == 2,
		       "line: %s", l ? l : "(none)");
	}
	CHECKF("mincore_resident", resident(p, 2 * HP) == 2 * HP / 4096, "%ld of %lu pages resident",
	       resident(p, 2 * HP), 2 * HP / 4096);
	errno = 0;
	int mu = munmap(p + 4096, 4096);
	int mue = errno;
	int mp = mprotect(p, 4096, PROT_READ);
	CHECKF("cut_inside_einval", mu == -1 && mue == EINVAL && mp == -1 && errno == EINVAL,
	       "munmap %d errno %d, mprotect %d errno %d", mu, mue, mp, errno);
	CHECKF("munmap_returns_pages", munmap(p, 2 * HP) == 0 && hp_free() == POOL && hp_rsvd() == 0,
	       "Free %ld Rsvd %ld", hp_free(), hp_rsvd());

	errno = 0;
	void *big = hmap((POOL + 1) * HP, MAP_PRIVATE);
	CHECKF("enomem_beyond_pool", big == MAP_FAILED && errno == ENOMEM && hp_rsvd() == 0, "mmap %p errno %d Rsvd %ld",
	       big, errno, hp_rsvd());
	if (big != MAP_FAILED)
		munmap(big, (POOL + 1) * HP);

	char *nr = hmap(10 * HP, MAP_PRIVATE | MAP_NORESERVE);
	if (nr == MAP_FAILED) {
		CHECKF("noreserve_sigbus", 0, "MAP_NORESERVE mmap errno %d", errno);
	} else {
		check_child_signal("noreserve_sigbus", touch_all, nr, SIGBUS);
		munmap(nr, 10 * HP);
	}

	char *s = hmap(HP, MAP_SHARED);
	char *q = hmap(HP, MAP_PRIVATE);
	if (s == MAP_FAILED || q == MAP_FAILED) {
		printf("# fork mappings failed: errno %d\n", errno);
		return check_done();
	}
	memset(s, 0, 4096);
	((long *)q)[0] = 0x1111;
	int r = run_child(write_child, s);
	CHECKF("shared_seen_across_fork", r == 0 && s[0] == 0x5c && s[4095] == 0x5c, "child %d, parent reads %#x", r,
	       s[0]);
	r = run_child(cow_child, q);
	CHECKF("private_cow_across_fork", r == 0 && ((long *)q)[0] == 0x1111, "child %d, parent reads %#lx", r,
	       ((long *)q)[0]);
	int mr = mprotect(s, HP, PROT_READ);
	CHECKF("mprotect_readonly", mr == 0 && probe(s, PROBE_WRITE) == PROBE_SEGV && s[0] == 0x5c, "mprotect %d errno %d, probe %s",
	       mr, errno, probe_name(probe(s, PROBE_WRITE)));
	munmap(s, HP);
	munmap(q, HP);

	char *d = hmap(2 * HP, MAP_PRIVATE);
	if (d != MAP_FAILED) {
		d[0] = 7;
		d[HP] = 8;
		long f0 = hp_free();
		int mr2 = madvise(d, HP, MADV_DONTNEED);
		long f1 = hp_free();
		CHECKF("dontneed_frees", mr2 == 0 && f1 == f0 + 1 && d[0] == 0 && d[HP] == 8,
		       "madvise %d errno %d, Free %ld -> %ld, reads %d %d", mr2, errno, f0, f1, d[0], d[HP]);
		munmap(d, 2 * HP);
	} else {
		CHECKF("dontneed_frees", 0, "mmap errno %d", errno);
	}

	int mfd = memfd_create("hp", MFD_HUGETLB);
	if (mfd < 0) {
		CHECKF("memfd_file", 0, "memfd_create errno %d", errno);
		check_skip("memfd_private_cow", "no hugetlb memfd");
	} else {
		errno = 0;
		int t1 = ftruncate(mfd, 4096);
		int t1e = errno;
		int t2 = ftruncate(mfd, 2 * HP);
		struct stat st;
		fstat(mfd, &st);
		long r0 = hp_rsvd();
		char *m1 = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		long r1 = hp_rsvd();
		char *m2 = mmap(NULL, 2 * HP, PROT_READ, MAP_SHARED, mfd, 0);
		int ok = m1 != MAP_FAILED && m2 != MAP_FAILED;
		char got[8] = "";
		ssize_t pr = -1, wr = 0;
		int wre = 0;
		if (ok) {
			memcpy(m1 + HP + 100, "hugefile", 8);
			pr = pread(mfd, got, 8, HP + 100);
			errno = 0;
			wr = write(mfd, "x", 1);
			wre = errno;
		}
		CHECKF("memfd_file",
		       t1 == -1 && t1e == EINVAL && t2 == 0 && st.st_size == (off_t)(2 * HP) && st.st_blksize == (blksize_t)HP &&
			       ok && r1 - r0 == 2 && memcmp(m2 + HP + 100, "hugefile", 8) == 0 && pr == 8 &&
			       memcmp(got, "hugefile", 8) == 0 && wr == -1 && wre == EINVAL,
		       "ftruncate %d/%d %d, size %ld blksize %ld, maps %d, Rsvd +%ld, pread %ld, write %ld errno %d", t1, t1e,
		       t2, (long)st.st_size, (long)st.st_blksize, ok, r1 - r0, (long)pr, (long)wr, wre);
		char *pm = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
		int seen = pm != MAP_FAILED && memcmp(pm + HP + 100, "hugefile", 8) == 0;
		if (pm != MAP_FAILED)
			memcpy(pm + HP + 100, "PRIVATE!", 8);
		pread(mfd, got, 8, HP + 100);
		CHECKF("memfd_private_cow", seen && memcmp(got, "hugefile", 8) == 0 && memcmp(pm + HP + 100, "PRIVATE!", 8) == 0,
		       "private map %p, saw the file %d, the file now reads %.8s", (void *)pm, seen, got);
		if (pm != MAP_FAILED)
			munmap(pm, 2 * HP);
		if (ok) {
			munmap(m1, 2 * HP);
			munmap(m2, 2 * HP);
		}
		close(mfd);
	}

	char mdir[] = "/tmp/t_hugetlbfsXXXXXX";
	if (!mkdtemp(mdir)) {
		check_skip("hugetlbfs_mount", "no /tmp directory to mount on");
	} else if (mount("none", mdir, "hugetlbfs", 0, "pagesize=2M,size=4M") != 0) {
		char why[96];
		snprintf(why, sizeof why, "mount(2) of hugetlbfs refused: errno %d", errno);
		check_skip("hugetlbfs_mount", why);
		rmdir(mdir);
	} else {
		char f1[64], f2[64];
		snprintf(f1, sizeof f1, "%s/one", mdir);
		snprintf(f2, sizeof f2, "%s/two", mdir);
		int a = open(f1, O_CREAT | O_RDWR, 0600), b = open(f2, O_CREAT | O_RDWR, 0600);
		struct statfs sf;
		int sr = fstatfs(a, &sf);
		errno = 0;
		void *big = mmap(NULL, 6 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
		int bige = errno;
		char *fit = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
		if (fit != MAP_FAILED)
			memset(fit, 0x42, 4 << 20);
		struct statfs sf2;
		fstatfs(a, &sf2);
		errno = 0;
		void *more = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
		int moree = errno;
		CHECKF("hugetlbfs_mount",
		       a >= 0 && b >= 0 && sr == 0 && sf.f_bsize == (long)HP && sf.f_blocks == 2 && big == MAP_FAILED &&
			       bige == ENOMEM && fit != MAP_FAILED && sf2.f_bfree == 0 && more == MAP_FAILED && moree == ENOMEM,
		       "fds %d %d, statfs %d bsize %ld blocks %ld, 6 MiB map errno %d, 4 MiB map %p, then bfree %ld, "
		       "another file's map errno %d",
		       a, b, sr, (long)sf.f_bsize, (long)sf.f_blocks, bige, (void *)fit, (long)sf2.f_bfree, moree);
		if (fit != MAP_FAILED)
			munmap(fit, 4 << 20);
		if (big != MAP_FAILED)
			munmap(big, 6 << 20);
		if (more != MAP_FAILED)
			munmap(more, 2 << 20);
		close(a);
		close(b);
		unlink(f1);
		unlink(f2);
		umount(mdir);
		rmdir(mdir);
	}

	char mdir2[] = "/tmp/t_hugemin_XXXXXX";
	if (!mkdtemp(mdir2)) {
		check_skip("hugetlbfs_min_size", "no /tmp directory to mount on");
	} else {
		long r0 = hp_rsvd();
		errno = 0;
		int bad = mount("none", mdir2, "hugetlbfs", 0, "pagesize=2M,size=2M,min_size=4M");
		int bade = errno;
		errno = 0;
		int huge = mount("none", mdir2, "hugetlbfs", 0, "pagesize=2M,min_size=1024M");
		int hugee = errno;
		if (bad == 0)
			umount(mdir2);
		if (huge == 0)
			umount(mdir2);
		if (mount("none", mdir2, "hugetlbfs", 0, "pagesize=2M,min_size=4M") != 0) {
			char why[96];
			snprintf(why, sizeof why, "mount(2) of hugetlbfs refused: errno %d", errno);
			check_skip("hugetlbfs_min_size", why);
		} else {
			long r1 = hp_rsvd(), r2 = -1, r3 = -1, r4 = -1;
			char f[64];
			snprintf(f, sizeof f, "%s/f", mdir2);
			int fd = open(f, O_CREAT | O_RDWR, 0600);
			char *m = fd >= 0 ? mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
			if (m != MAP_FAILED) {
				r2 = hp_rsvd();
				memset(m, 0x5a, 4 << 20);
				r3 = hp_rsvd();
				munmap(m, 4 << 20);
			}
			if (fd >= 0)
				close(fd);
			unlink(f);
			r4 = hp_rsvd();
			umount(mdir2);
			long r5 = hp_rsvd();
			CHECKF("hugetlbfs_min_size",
			       bad != 0 && bade == EINVAL && huge != 0 && hugee == ENOMEM && r1 == r0 + 2 && r2 == r1 &&
				       r3 == r0 && r4 == r0 + 2 && r5 == r0,
			       "min>size: %d errno %d (want EINVAL); min 1G: %d errno %d (want ENOMEM); Rsvd %ld, mounted %ld, "
			       "mapped %ld, touched %ld, file gone %ld, unmounted %ld (want +2 +2 +0 +2 +0)",
			       bad, bade, huge, hugee, r0, r1, r2, r3, r4, r5);
		}
		rmdir(mdir2);
	}

	/* Surplus pages only. */
	write_num(NR, 0);
	write_num(OC, 2);
	char *o = hmap(2 * HP, MAP_PRIVATE);
	long surp = meminfo_kb("HugePages_Surp"), tot = meminfo_kb("HugePages_Total");
	if (o != MAP_FAILED) {
		o[0] = 1;
		o[HP] = 2;
		munmap(o, 2 * HP);
	}
	CHECKF("overcommit_surplus",
	       o != MAP_FAILED && surp == 2 && tot == 2 && meminfo_kb("HugePages_Total") == 0 &&
		       meminfo_kb("HugePages_Surp") == 0,
	       "mmap %p errno %d, Surp %ld Total %ld while mapped, Total %ld after", (void *)o, errno, surp, tot,
	       meminfo_kb("HugePages_Total"));
	write_num(OC, 0);

	int e1 = write_text(NR, "abc\n");
	int e2 = read_num(SYSHP "nr_hugepages") < 0 ? EINVAL : write_text(SYSHP "nr_hugepages", "abc\n");
	CHECKF("bad_writes_einval", e1 == EINVAL && e2 == EINVAL && read_num(NR) == 0, "sysctl %d, sysfs %d, nr %ld",
	       e1, e2, read_num(NR));
	errno = 0;
	void *g = hmap(1UL << 30, MAP_PRIVATE | MAP_HUGE_1GB);
	CHECKF("huge_1gb_refused", g == MAP_FAILED && (errno == EINVAL || errno == ENOMEM), "mmap %p errno %d", g, errno);
	if (g != MAP_FAILED)
		munmap(g, 1UL << 30);

	write_num(NR, old);
	write_num(OC, old_oc);
	return check_done();
}
