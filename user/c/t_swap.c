/*
 * t_swap.c: swap areas on a disk (the device named by argv[1]): mkswap
 * (this tree's, next to this program) writes Linux's header, swapon and
 * swapoff with their errors, /proc/swaps, SwapTotal/SwapFree in
 * /proc/meminfo and sysinfo(2), priorities.
 *
 * Like t_blk it overwrites the device: there is no default, a mounted
 * device is refused, and without one every case is skipped. On the host
 * Linux (root), a loop device shows that Linux accepts this mkswap's
 * areas and that the errors match:
 *   truncate -s 16M /tmp/s.img; losetup -f --show /tmp/s.img; t_swap /dev/loopN
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define BLKGETSIZE64 0x80081272

static const char *cases[] = {
	"mkswap_runs",		 "header_format",	  "swapon_bad_flags_einval", "swapon_nonroot_eperm",
	"swapon_enoent",	 "swapon_directory_eisdir", "swapon_chardev_einval", "swapon_tmpfs_file_einval", "swapon_no_signature_einval",
	"swapon",		 "proc_swaps_line",	  "meminfo_swap_total",	     "sysinfo_swap",
	"swapon_twice_ebusy",	 "swapoff",		  "swapoff_again_einval",    "meminfo_swap_back",
	"swapoff_nonroot_eperm", "prefer_priority",
};

static char *slurp(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* The /proc/swaps line of `dev`: size, used, priority; 0 if found. */
static int swaps_line(const char *dev, long *size, long *used, int *prio, char *type)
{
	char *text = slurp("/proc/swaps");
	size_t n = strlen(dev);
	for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, dev, n) == 0 && l[n] == ' ')
			return sscanf(l + n, "%31s %ld %ld %d", type, size, used, prio) == 4 ? 0 : -1;
	}
	return -1;
}

static int run(char *const argv[])
{
	pid_t p = fork();
	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run `call` as user 1000 in a child; its errno (0 on success). */
static int as_user(int off, const char *dev)
{
	pid_t p = fork();
	if (p == 0) {
		if (setgid(1000) || setuid(1000))
			_exit(99);
		int r = off ? swapoff(dev) : swapon(dev, 0);
		_exit(r == 0 ? 0 : errno);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
	check_init("t_swap");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = dev ? NULL : "no device given";
	char key[128];
	snprintf(key, sizeof(key), "%s ", dev ? dev : "");
	if (!why && strstr(slurp("/proc/mounts"), key))
		why = "the device is mounted";
	if (!why && strstr(slurp("/proc/swaps"), key))
		why = "the device is swap already";
	int fd = why ? -1 : open(dev, O_RDWR);
	if (!why && fd < 0)
		why = "cannot open the device";
	if (why) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_skip(cases[i], why);
		return check_done();
	}
	uint64_t bytes = 0;
	ioctl(fd, BLKGETSIZE64, &bytes);
	long pages = (long)(bytes / 4096);

	/* mkswap from this tree, next to this program. */
	char self[512] = { 0 }, mkswap[600];
	if (readlink("/proc/self/exe", self, sizeof(self) - 1) < 0)
		strcpy(self, "/bin/t_swap");
	char *slash = strrchr(self, '/');
	*slash = 0;
	snprintf(mkswap, sizeof(mkswap), "%s/mkswap", self);
	char *mk[] = { mkswap, "-L", "tswap", (char *)dev, NULL };
	CHECK("mkswap_runs", run(mk) == 0);

	unsigned char page[4096];
	uint32_t version = 0, last = 0;
	int ok = pread(fd, page, 4096, 0) == 4096;
	memcpy(&version, page + 1024, 4);
	memcpy(&last, page + 1028, 4);
	CHECKF("header_format",
	       ok && memcmp(page + 4086, "SWAPSPACE2", 10) == 0 && version == 1 && last == (uint32_t)(pages - 1) &&
		       strcmp((char *)page + 1052, "tswap") == 0,
	       "version %u last_page %u of %ld pages", version, last, pages);

	CHECK_ERRNO("swapon_bad_flags_einval", swapon(dev, 0x80000), EINVAL);
	int e = as_user(0, dev);
	CHECKF("swapon_nonroot_eperm", e == EPERM, "errno %d", e);
	CHECK_ERRNO("swapon_enoent", swapon("/nonexistent-swap", 0), ENOENT);
	CHECK_ERRNO("swapon_directory_eisdir", swapon("/", 0), EISDIR);
	CHECK_ERRNO("swapon_chardev_einval", swapon("/dev/null", 0), EINVAL);

	/* A file on tmpfs, with a valid header: tmpfs cannot hold swap. */
	int tf = open("/dev/shm/t_swap.img", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ok = tf >= 0 && ftruncate(tf, 1 << 20) == 0 && pwrite(tf, page, 4096, 0) == 4096;
	if (tf >= 0)
		close(tf);
	CHECKF("swapon_tmpfs_file_einval", ok && swapon("/dev/shm/t_swap.img", 0) == -1 && errno == EINVAL,
	       "errno %d", errno);
	unlink("/dev/shm/t_swap.img");

	/* The signature wiped: EINVAL; written back: a valid area. */
	unsigned char saved[10];
	memcpy(saved, page + 4086, 10);
	memset(page + 4086, 0, 10);
	pwrite(fd, page, 4096, 0);
	fsync(fd);
	CHECK_ERRNO("swapon_no_signature_einval", swapon(dev, 0), EINVAL);
	memcpy(page + 4086, saved, 10);
	pwrite(fd, page, 4096, 0);
	fsync(fd);
	close(fd);

	long total0 = meminfo_kb("SwapTotal"), free0 = meminfo_kb("SwapFree");
	struct sysinfo si0;
	sysinfo(&si0);
	CHECKF("swapon", swapon(dev, 0) == 0, "errno %d", errno);
	long size = 0, used = -1;
	int prio = 0;
	char type[32] = { 0 };
	long want = (pages - 1) * 4;
	ok = swaps_line(dev, &size, &used, &prio, type) == 0;
	CHECKF("proc_swaps_line", ok && strcmp(type, "partition") == 0 && size == want && used == 0 && prio < 0,
	       "type %s size %ld (want %ld) used %ld prio %d", type, size, want, used, prio);
	long total1 = meminfo_kb("SwapTotal"), free1 = meminfo_kb("SwapFree");
	CHECKF("meminfo_swap_total", total1 - total0 == want && free1 - free0 == want, "SwapTotal %ld -> %ld",
	       total0, total1);
	struct sysinfo si;
	sysinfo(&si);
	CHECKF("sysinfo_swap",
	       (si.totalswap - si0.totalswap) * si.mem_unit == (unsigned long)want * 1024 &&
		       (si.freeswap - si0.freeswap) * si.mem_unit == (unsigned long)want * 1024,
	       "totalswap %lu", si.totalswap);
	CHECK_ERRNO("swapon_twice_ebusy", swapon(dev, 0), EBUSY);
	e = as_user(1, dev);
	CHECKF("swapoff_nonroot_eperm", e == EPERM, "errno %d", e);
	CHECKF("swapoff", swapoff(dev) == 0 && swaps_line(dev, &size, &used, &prio, type) != 0, "errno %d", errno);
	CHECK_ERRNO("swapoff_again_einval", swapoff(dev), EINVAL);
	CHECK("meminfo_swap_back", meminfo_kb("SwapTotal") == total0 && meminfo_kb("SwapFree") == free0);

	ok = swapon(dev, SWAP_FLAG_PREFER | 7) == 0;
	ok = ok && swaps_line(dev, &size, &used, &prio, type) == 0 && prio == 7;
	CHECKF("prefer_priority", ok && swapoff(dev) == 0, "prio %d errno %d", prio, errno);
	return check_done();
}
