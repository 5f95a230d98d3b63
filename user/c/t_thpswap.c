/*
 * t_thpswap.c: transparent huge pages under memory pressure with swap on
 * (Linux's reclaim splits a huge page before it swaps it):
 * - swapon: the device given as argv[1] (fresh swap area) is turned on;
 * - thp_mapped: 32 MiB marked MADV_HUGEPAGE and filled is mapped by huge
 *   pages (smaps AnonHugePages 32768 kB);
 * - pressure_survived: a child (which unmaps its copy of the area first)
 *   touching MemAvailable + 48 MiB of its own exits normally (nothing is
 *   OOM-killed);
 * - split_for_reclaim: vmstat thp_split_page grew and the area's
 *   AnonHugePages fell: reclaim split huge pages so their pages could go
 *   to swap (how many of them went is noted, not checked: which pages
 *   reclaim takes depends on their age);
 * - data_intact: every word of the 32 MiB reads back;
 * - swapoff: the device goes off again.
 * Needs a device and root (skipped otherwise, as in t_shmswap).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define HP (2UL << 20)
#define LEN (32UL << 20)

static const char *cases[] = {
	"swapon", "thp_mapped", "pressure_survived", "split_for_reclaim", "data_intact", "swapoff",
};

static int pressure(char *area)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* The huge pages are the parent's alone: fork shares them whole
		 * (Linux too), and this kernel's reclaim splits only a huge page
		 * one process maps. */
		munmap(area, LEN);
		size_t fill = (size_t)meminfo_kb("MemAvailable") * 1024 + (48UL << 20);
		for (size_t done = 0; done < fill; done += 4UL << 20) {
			char *c = anon(4UL << 20);
			if (!c)
				_exit(3);
			stamp_pages(c, 4UL << 20, 0xf00d);
		}
		_exit(0);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
	check_init("t_thpswap");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = geteuid() != 0 ? "not root" : swap_device_unusable(dev, 1);
	if (why) {
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], why);
		return check_done();
	}
	CHECKF("swapon", swapon(dev, 0) == 0, "errno %d", errno);
	char *raw = mmap(NULL, LEN + HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return check_done();
	char *p = (char *)(((uintptr_t)raw + HP - 1) & ~(HP - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	munmap(p + LEN, (size_t)(raw + LEN + HP - (p + LEN)));
	madvise(p, LEN, MADV_HUGEPAGE);
	stamp_pages(p, LEN, 0x7e7e);
	long huge0 = smaps_field(p, "AnonHugePages");
	CHECKF("thp_mapped", huge0 == (long)(LEN >> 10), "AnonHugePages %ld kB", huge0);
	long split0 = vmstat_get("thp_split_page"), out0 = vmstat_get("pswpout");
	int ok = pressure(p);
	long split1 = vmstat_get("thp_split_page"), out1 = vmstat_get("pswpout");
	long huge1 = smaps_field(p, "AnonHugePages"), swapped = smaps_field(p, "Swap");
	printf("# thp_split_page %ld -> %ld, pswpout %ld -> %ld, the area: AnonHugePages %ld -> %ld kB, Swap %ld kB\n",
	       split0, split1, out0, out1, huge0, huge1, swapped);
	CHECKF("pressure_survived", ok, "the pressing child did not exit cleanly");
	CHECKF("split_for_reclaim", split1 > split0 && huge1 < huge0, "thp_split_page %ld -> %ld, AnonHugePages %ld -> %ld",
	       split0, split1, huge0, huge1);
	long bad = bad_stamp(p, LEN, 0x7e7e, 0);
	CHECKF("data_intact", bad == -1, "first bad page %ld", bad);
	munmap(p, LEN);
	CHECKF("swapoff", swapoff(dev) == 0, "errno %d", errno);
	return check_done();
}
