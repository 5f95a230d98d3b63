/*
 * t_blk.c: a disk as a block special file (the device named by argv[1]):
 * its size through the block ioctls and lseek, reads and writes at any
 * offset and length (partial sectors keep their neighbours), the end of the
 * disk (short reads and writes, ENOSPC), data surviving close and reopen,
 * random writes checked against a copy in memory, fsync, /proc/partitions,
 * the mode (EACCES for another user) and ENOTTY for an unknown ioctl.
 *
 * It overwrites the first 8 MiB and the last sectors of the disk: give it a
 * scratch disk (make test's matrix line attaches a fresh one and passes
 * /dev/vda). There is no default device, and a device that /proc/mounts
 * lists is refused: without one every case is skipped. It is not in
 * tests.txt for that reason. On the host Linux, run it on a loop device:
 *   truncate -s 16M /tmp/d.img; losetup -f --show /tmp/d.img; t_blk /dev/loopN
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* linux/fs.h (musl's headers do not carry it). */
#define BLKGETSIZE 0x1260
#define BLKSSZGET 0x1268
#define BLKGETSIZE64 0x80081272

#define REGION (4u << 20)

static const char *cases[] = {
	"is_block_device",	   "blkgetsize64",	  "blksszget",	      "blkgetsize_sectors",
	"seek_end_is_size",	   "aligned_write_read",  "partial_sector_keeps_neighbours",
	"write_across_chunks",	   "read_at_end_short",	  "read_past_end_zero", "write_past_end_enospc",
	"write_across_end_short",  "survives_reopen",	  "random_writes_match", "fsync",
	"proc_partitions",	   "other_user_eacces",	  "unknown_ioctl_enotty",
};

static uint32_t rng = 12345;
static uint32_t next(void)
{
	rng = rng * 1103515245 + 12345;
	return rng >> 8;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7 + (i >> 9));
}

int main(int argc, char **argv)
{
	check_init("t_blk");
	const char *dev = argc > 1 ? argv[1] : NULL;
	const char *why = dev ? NULL : "no device given";
	char mounts[8192] = { 0 };
	int mf = open("/proc/mounts", O_RDONLY);
	if (mf >= 0) {
		if (read(mf, mounts, sizeof(mounts) - 1) < 0)
			mounts[0] = 0;
		close(mf);
	}
	char key[128];
	snprintf(key, sizeof(key), "%s ", dev ? dev : "");
	if (!why && strstr(mounts, key))
		why = "the device is mounted";
	int fd = why ? -1 : open(dev, O_RDWR);
	if (!why && fd < 0)
		why = "cannot open the device";
	if (why) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_skip(cases[i], why);
		return check_done();
	}
	struct stat st;
	CHECK("is_block_device", fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev != 0 && st.st_size == 0);
	uint64_t size = 0;
	CHECK("blkgetsize64", ioctl(fd, BLKGETSIZE64, &size) == 0 && size >= 8u << 20 && size % 512 == 0);
	int ssz = 0;
	/* 512, or 4096 on some NVMe namespaces. */
	CHECKF("blksszget", ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 && ssz <= 4096 && !(ssz & (ssz - 1)) && size % ssz == 0,
	       "ssz %d", ssz);
	unsigned long sectors = 0;
	CHECK("blkgetsize_sectors", ioctl(fd, BLKGETSIZE, &sectors) == 0 && sectors == size / 512);
	CHECKF("seek_end_is_size", lseek(fd, 0, SEEK_END) == (off_t)size, "size %llu", (unsigned long long)size);

	static unsigned char a[REGION], b[REGION];
	fill(a, 4096, 1);
	int ok = pwrite(fd, a, 4096, 0) == 4096 && pread(fd, b, 4096, 0) == 4096 && memcmp(a, b, 4096) == 0;
	CHECK("aligned_write_read", ok);

	/* 1000 bytes at 12345: the sectors around keep what was there. */
	memset(a, 0xaa, 8192);
	pwrite(fd, a, 8192, 8192);
	fill(a + 12345 - 8192, 1000, 2);
	ok = pwrite(fd, a + 12345 - 8192, 1000, 12345) == 1000;
	memset(b, 0, 8192);
	ok = ok && pread(fd, b, 8192, 8192) == 8192 && memcmp(a, b, 8192) == 0;
	CHECK("partial_sector_keeps_neighbours", ok);

	/* 200 KiB at an odd offset: several bounce chunks, both ends partial. */
	size_t n = 200 * 1024;
	fill(a, n, 3);
	ok = pwrite(fd, a, n, (1 << 20) + 7) == (ssize_t)n && pread(fd, b, n, (1 << 20) + 7) == (ssize_t)n &&
	     memcmp(a, b, n) == 0;
	CHECK("write_across_chunks", ok);

	ssize_t r = pread(fd, b, 4096, size - 100);
	CHECKF("read_at_end_short", r == 100, "r=%zd", r);
	CHECK("read_past_end_zero", pread(fd, b, 4096, size) == 0);
	CHECK_ERRNO("write_past_end_enospc", pwrite(fd, a, 512, size), ENOSPC);
	r = pwrite(fd, a, 4096, size - 1024);
	CHECKF("write_across_end_short", r == 1024, "r=%zd", r);

	/* Random writes over 4 MiB at 4 MiB, mirrored in memory. */
	const off_t base = 4u << 20;
	memset(a, 0, REGION);
	ok = pwrite(fd, a, REGION, base) == REGION;
	for (int i = 0; i < 200 && ok; i++) {
		size_t off = next() % (REGION - 1);
		size_t len = 1 + next() % 20000;
		if (off + len > REGION)
			len = REGION - off;
		fill(a + off, len, next());
		ok = pwrite(fd, a + off, len, base + off) == (ssize_t)len;
	}
	CHECK("fsync", fsync(fd) == 0);
	close(fd);

	fd = open(dev, O_RDONLY);
	unsigned char first[4096];
	fill(first, 4096, 1);
	CHECK("survives_reopen", fd >= 0 && pread(fd, b, 4096, 0) == 4096 && memcmp(first, b, 4096) == 0);
	ok = ok && fd >= 0 && pread(fd, b, REGION, base) == REGION && memcmp(a, b, REGION) == 0;
	CHECK("random_writes_match", ok);

	char buf[4096] = { 0 };
	int pf = open("/proc/partitions", O_RDONLY);
	ssize_t got = pf >= 0 ? read(pf, buf, sizeof(buf) - 1) : -1;
	if (pf >= 0)
		close(pf);
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	char want[64];
	snprintf(want, sizeof(want), "%llu %s\n", (unsigned long long)(size / 1024), name);
	CHECKF("proc_partitions", got > 0 && strstr(buf, "major minor  #blocks  name") && strstr(buf, want),
	       "want '%s'", want);

	pid_t p = fork();
	if (p == 0) {
		if (setgid(1000) || setuid(1000))
			_exit(2);
		int f = open(dev, O_RDONLY);
		_exit(f < 0 && errno == EACCES ? 0 : 1);
	}
	int status = 0;
	waitpid(p, &status, 0);
	CHECK("other_user_eacces", WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* A driver without that ioctl: ENOTTY (virtio-blk); loop says EINVAL. */
	errno = 0;
	r = ioctl(fd, 0x5401 /* TCGETS */, buf);
	CHECKF("unknown_ioctl_enotty", r == -1 && (errno == ENOTTY || (errno == EINVAL && strstr(dev, "loop"))),
	       "r=%zd errno=%d", r, errno);
	close(fd);
	return check_done();
}
