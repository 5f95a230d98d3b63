/* t_lru: the LRU lists as a program sees them (Linux's behaviour):
 * - New anonymous pages are counted on the anonymous lists
 *   (Active(anon) + Inactive(anon) grow by what was touched).
 * - mlock moves pages to Unevictable (and Mlocked), munlock back.
 * - With a swap device (argument, as t_swapout): under pressure a region
 *   that keeps being used stays in memory while a region marked
 *   MADV_COLD and not used again goes to swap first; every byte of both
 *   reads back; the data of the memory that pushed them out too.
 *
 * Counts are read from /proc/meminfo, which other processes change too
 * (on a development host): the checks allow 1/8 of slack, and Linux
 * keeps up to 15 pages per CPU in per-CPU batches before they reach a
 * list. The pressure cases need a machine whose RAM the test can fill
 * quickly: skipped when MemTotal is over 1 GiB.
 *   truncate -s 256M /tmp/s.img; losetup -f --show /tmp/s.img; t_lru /dev/loopN
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"


#define MIB (1L << 20)

static const char *pressure_cases[] = {"pressure_swapped", "hot_stays_in", "cold_goes_first", "data_intact"};

static long lru_anon_kb(void)
{
	return meminfo_kb("Active(anon)") + meminfo_kb("Inactive(anon)");
}

static long touch_all(volatile char *p, size_t len)
{
	long sum = 0;
	for (size_t off = 0; off < len; off += PAGE)
		sum += p[off];
	return sum;
}

static void pressure(const char *dev)
{
	const char *why = swap_device_unusable(dev, 1);
	if (!why && swapon(dev, 0) != 0)
		why = "swapon failed";
	if (why) {
		for (size_t i = 0; i < sizeof pressure_cases / sizeof pressure_cases[0]; i++)
			check_skip(pressure_cases[i], why);
		return;
	}
	/* The work runs in a child, so that what it leaves (if anything)
	 * goes with it before swapoff. */
	int pfd[2];
	if (pipe(pfd) != 0)
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		size_t region = 8 * MIB;
		char *cold = anon(region), *hot = anon(region);
		stamp_pages(cold, region, 0xc01d);
		stamp_pages(hot, region, 0x4074);
		madvise(cold, region, MADV_COLD);
		long out0 = vmstat_get("pswpout");
		/* Fill what is left and some more, 4 MiB at a time, using the
		 * hot region between chunks. */
		size_t fill = (size_t)meminfo_kb("MemAvailable") * 1024 + 32 * MIB;
		size_t chunk = 4 * MIB, n = fill / chunk;
		char **chunks = calloc(n, sizeof *chunks);
		for (size_t i = 0; i < n; i++) {
			chunks[i] = anon(chunk);
			if (!chunks[i])
				_exit(3);
			stamp_pages(chunks[i], chunk, 0xf111 + i);
			touch_all(hot, region);
		}
		long res[4] = {vmstat_get("pswpout") - out0, resident(cold, region), resident(hot, region), 0};
		long bad = bad_stamp(cold, region, 0xc01d, 0);
		if (bad == -1)
			bad = bad_stamp(hot, region, 0x4074, 0);
		for (size_t i = 0; i < n && bad == -1; i++)
			bad = bad_stamp(chunks[i], chunk, 0xf111 + i, 0);
		res[3] = bad;
		if (write(pfd[1], res, sizeof res) != sizeof res)
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	long res[4] = {0, -1, -1, 0};
	long got = read(pfd[0], res, sizeof res);
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	int ok = got == sizeof res && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	long pages = 8 * MIB / PAGE;
	printf("# pswpout +%ld, resident of %ld pages: cold %ld, hot %ld\n", res[0], pages, res[1], res[2]);
	CHECKF("pressure_swapped", ok && res[0] > 0, "child status %#x, pswpout +%ld", st, res[0]);
	CHECKF("hot_stays_in", ok && res[2] >= pages / 2, "hot region: %ld of %ld pages resident", res[2], pages);
	CHECKF("cold_goes_first", ok && res[1] < res[2], "resident: cold %ld, hot %ld of %ld pages", res[1], res[2],
	       pages);
	CHECKF("data_intact", ok && res[3] == -1, "first bad page %ld", res[3]);
	swapoff(dev);
}

int main(int argc, char **argv)
{
	check_init("t_lru");
	const char *dev = argc > 1 ? argv[1] : NULL;

	/* 1. New anonymous pages are on the anonymous lists. */
	size_t len = 16 * MIB;
	long kb0 = lru_anon_kb();
	char *p = anon(len);
	stamp_pages(p, len, 0x1111);
	long kb1 = lru_anon_kb();
	CHECKF("new_anon_on_lists", kb1 - kb0 >= (long)(len >> 10) * 7 / 8, "Active+Inactive(anon) %ld -> %ld kB", kb0,
	       kb1);

	/* 2. mlock: Unevictable and Mlocked; munlock: back. */
	long u0 = meminfo_kb("Unevictable"), m0 = meminfo_kb("Mlocked");
	int r = mlock(p, 4 * MIB);
	long u1 = meminfo_kb("Unevictable"), m1 = meminfo_kb("Mlocked"), a1 = lru_anon_kb();
	CHECKF("mlock_unevictable", r == 0 && u1 - u0 >= 4096 * 7 / 8 && m1 - m0 >= 4096 * 7 / 8,
	       "mlock %d errno %d, Unevictable %ld -> %ld kB, Mlocked %ld -> %ld kB", r, errno, u0, u1, m0, m1);
	CHECKF("mlock_leaves_anon_lists", kb1 - a1 >= 4096 * 7 / 8, "Active+Inactive(anon) %ld -> %ld kB", kb1, a1);
	r = munlock(p, 4 * MIB);
	long u2 = meminfo_kb("Unevictable"), m2 = meminfo_kb("Mlocked"), a2 = lru_anon_kb();
	CHECKF("munlock_evictable_again", r == 0 && u1 - u2 >= 4096 * 7 / 8 && m1 - m2 >= 4096 * 7 / 8 && a2 - a1 >= 4096 * 7 / 8,
	       "munlock %d, Unevictable %ld -> %ld kB, Mlocked %ld -> %ld kB, anon lists %ld -> %ld kB", r, u1, u2, m1, m2,
	       a1, a2);

	/* 3. Freed pages leave the lists. */
	munmap(p, len);
	long kb3 = lru_anon_kb();
	CHECKF("munmap_leaves_lists", a2 - kb3 >= (long)(len >> 10) * 7 / 8, "Active+Inactive(anon) %ld -> %ld kB", a2,
	       kb3);

	/* 4. Under pressure, with swap. */
	pressure(dev);
	return check_done();
}
