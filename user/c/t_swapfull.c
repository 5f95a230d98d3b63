/*
 * t_swapfull.c: the OOM killer runs only once swap is full (a small swap
 * device named by argv[1], made with this tree's mkswap).
 *
 * A child touches far more anonymous memory than RAM and swap together
 * hold. It must be killed (SIGKILL), but only after reclaim has filled
 * the swap area: pswpout grew by at least nine tenths of the area, and
 * vmstat's oom_kill counted the kill. Afterwards the dead child's slots
 * are free again (/proc/swaps Used back where it was).
 *
 * Needs a machine whose RAM the test can fill quickly: skipped (with the
 * reason) when MemTotal is over 1 GiB, as on a development host. Like
 * t_swap it overwrites the device: there is no default.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

static const char *cases[] = { "swapon", "child_oom_killed", "swap_filled_first", "oom_kill_counted", "direct_reclaim_counted", "slots_freed" };

/* Direct reclaims so far, every zone (vmstat allocstall_*). */
static long allocstalls(void)
{
	return vmstat_get("allocstall_dma") + vmstat_get("allocstall_dma32") + vmstat_get("allocstall_normal") +
	       vmstat_get("allocstall_movable");
}

static char buf[16384];

static long field(const char *path, const char *key, int col)
{
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	size_t k = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && (l[k] == ' ' || l[k] == '\t')) {
			char *p = l + k;
			long v = -1;
			for (int c = 0; c < col; c++) {
				while (*p == ' ' || *p == '\t')
					p++;
				char *end;
				v = strtol(p, &end, 10);
				if (end == p) {
					/* A word column (the type): skip it. */
					while (*p && *p != ' ' && *p != '\t' && *p != '\n')
						p++;
				} else {
					p = end;
				}
			}
			return v;
		}
	return -1;
}

int main(int argc, char **argv)
{
	check_init("t_swapfull");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = swap_device_unusable(dev, 1);
	if (why) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_skip(cases[i], why);
		return check_done();
	}
	CHECKF("swapon", swapon(dev, 0) == 0, "errno %d", errno);
	/* /proc/swaps: Filename Type Size Used Priority. */
	long size_kb = field("/proc/swaps", dev, 2), used0 = field("/proc/swaps", dev, 3);
	long out0 = vmstat_get("pswpout"), oom0 = vmstat_get("oom_kill"), stall0 = allocstalls();
	size_t len = ((size_t)(meminfo_kb("MemTotal") + size_kb) * 1024 * 3 / 2) & ~(size_t)(PAGE - 1);
	pid_t pid = fork();
	if (pid == 0) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		stamp_pages(p, len, 1);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	long out1 = vmstat_get("pswpout"), oom1 = vmstat_get("oom_kill");
	CHECKF("child_oom_killed", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x (%zu MiB touched)", st,
	       len >> 20);
	CHECKF("swap_filled_first", (out1 - out0) * 4 >= size_kb * 9 / 10, "pswpout +%ld pages, area %ld kB",
	       out1 - out0, size_kb);
	CHECKF("oom_kill_counted", oom1 > oom0, "oom_kill %ld -> %ld", oom0, oom1);
	/* The OOM killer only runs after the allocating task reclaimed itself. */
	long stall1 = allocstalls();
	CHECKF("direct_reclaim_counted", stall1 > stall0, "allocstall_* %ld -> %ld", stall0, stall1);
	long used1 = field("/proc/swaps", dev, 3);
	CHECKF("slots_freed", used1 <= used0 + 64, "Used %ld -> %ld kB", used0, used1);
	swapoff(dev);
	return check_done();
}
