/*
 * t_swapboot.c: swap turned on at boot (the kernel's `swapon=DEV` option,
 * `make run SWAP=`), as init: init is still pid 1 although kswapd0 was
 * started before it, /proc/swaps lists the area, SwapTotal counts it,
 * and kswapd0 is a task of its own (Linux: a kernel thread, pid > 1).
 *
 * Run as init with the device in argv[1]; anywhere else (the host Linux,
 * not pid 1) every case is skipped with the reason.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

static const char *cases[] = { "init_is_pid_1", "proc_swaps_lists_it", "swaptotal_counts_it", "kswapd0_not_init" };

int main(int argc, char **argv)
{
	check_init("t_swapboot");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = !dev ? "no device given" : getpid() != 1 ? "not run as init" : NULL;
	if (why) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_skip(cases[i], why);
		return check_done();
	}
	CHECKF("init_is_pid_1", getpid() == 1, "pid %d", getpid());
	static char buf[4096];
	long n = read_small_file("/proc/swaps", buf, sizeof buf);
	CHECKF("proc_swaps_lists_it", n > 0 && strstr(buf, dev), "/proc/swaps: %s", n > 0 ? buf : "unreadable");
	long total = meminfo_kb("SwapTotal");
	CHECKF("swaptotal_counts_it", total > 0, "SwapTotal %ld kB", total);
	int pid = 0;
	DIR *d = opendir("/proc");
	for (struct dirent *de; d && !pid && (de = readdir(d));) {
		char path[300], comm[32] = { 0 };
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
		if (read_small_file(path, comm, sizeof comm) > 0 && !strcmp(comm, "kswapd0\n"))
			pid = atoi(de->d_name);
	}
	if (d)
		closedir(d);
	CHECKF("kswapd0_not_init", pid > 1, "kswapd0 pid %d", pid);
	return check_done();
}
