/*
 * mkswap: write a swap area header in Linux's format (version 1,
 * "SWAPSPACE2") on a disk or file, like util-linux's mkswap.
 *
 *   mkswap [-L LABEL] [-U UUID] DEVICE [SIZE_KIB]
 *
 * The area covers the whole device (BLKGETSIZE64 for a disk, the size for
 * a file) or SIZE_KIB; at least 10 pages. The first 1024 bytes (a boot
 * sector's place) are kept. The UUID is random (version 4) unless given.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define BLKGETSIZE64 0x80081272

static int parse_uuid(const char *s, unsigned char *out)
{
	int n = 0;
	for (const char *p = s; *p && n < 32; p++) {
		if (*p == '-')
			continue;
		char c = *p;
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -1;
		out[n / 2] = (unsigned char)(n % 2 ? out[n / 2] | v : v << 4);
		n++;
	}
	return n == 32 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *label = NULL, *uuid_arg = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "L:U:")) != -1) {
		if (opt == 'L')
			label = optarg;
		else if (opt == 'U')
			uuid_arg = optarg;
		else
			goto usage;
	}
	if (optind >= argc || argc - optind > 2)
		goto usage;
	const char *dev = argv[optind];
	int fd = open(dev, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "mkswap: cannot open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	struct stat st;
	uint64_t bytes = 0;
	if (fstat(fd, &st) < 0) {
		perror("mkswap: stat");
		return 1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			perror("mkswap: BLKGETSIZE64");
			return 1;
		}
	} else {
		bytes = (uint64_t)st.st_size;
	}
	if (argc - optind == 2) {
		uint64_t want = strtoull(argv[optind + 1], NULL, 10) * 1024;
		if (want > bytes && S_ISBLK(st.st_mode)) {
			fprintf(stderr, "mkswap: %s: size %llu KiB is larger than the device\n", dev,
				(unsigned long long)want / 1024);
			return 1;
		}
		bytes = want;
	}
	uint64_t pages = bytes / PAGE;
	if (pages < 10) {
		fprintf(stderr, "mkswap: error: swap area needs to be at least 40 KiB\n");
		return 1;
	}
	if (pages - 1 > 0xffffffffu)
		pages = 0x100000000ull;
	unsigned char page[PAGE];
	memset(page, 0, sizeof(page));
	if (pread(fd, page, 1024, 0) < 0)
		memset(page, 0, 1024);
	memset(page + 1024, 0, PAGE - 1024);
	uint32_t version = 1, last = (uint32_t)(pages - 1), nbad = 0;
	memcpy(page + 1024, &version, 4);
	memcpy(page + 1028, &last, 4);
	memcpy(page + 1032, &nbad, 4);
	unsigned char uuid[16];
	if (uuid_arg) {
		if (parse_uuid(uuid_arg, uuid) < 0) {
			fprintf(stderr, "mkswap: error: parsing UUID failed\n");
			return 1;
		}
	} else {
		if (getrandom(uuid, sizeof(uuid), 0) != sizeof(uuid)) {
			perror("mkswap: getrandom");
			return 1;
		}
		uuid[6] = (uuid[6] & 0x0f) | 0x40;
		uuid[8] = (uuid[8] & 0x3f) | 0x80;
	}
	memcpy(page + 1036, uuid, 16);
	if (label)
		strncpy((char *)page + 1052, label, 16);
	memcpy(page + PAGE - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, PAGE, 0) != PAGE || fsync(fd) < 0) {
		fprintf(stderr, "mkswap: writing %s: %s\n", dev, strerror(errno));
		return 1;
	}
	close(fd);
	uint64_t size = (pages - 1) * PAGE;
	printf("Setting up swapspace version 1, size = %llu KiB (%llu bytes)\n", (unsigned long long)size / 1024,
	       (unsigned long long)size);
	printf("%s%s%s, UUID=", label ? "LABEL=" : "no label", label ? label : "", "");
	for (int i = 0; i < 16; i++)
		printf("%02x%s", uuid[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
	printf("\n");
	return 0;
usage:
	fprintf(stderr, "usage: mkswap [-L LABEL] [-U UUID] DEVICE [SIZE_KIB]\n");
	return 2;
}
