/*
 * swapon: turn on swapping to disks (swapon(2)), or show the areas.
 *
 *   swapon [-p PRIORITY] DEVICE...
 *   swapon -s          print /proc/swaps
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/swap.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int flags = 0, opt, show = 0;
	while ((opt = getopt(argc, argv, "p:s")) != -1) {
		if (opt == 'p') {
			int prio = atoi(optarg);
			if (prio < 0 || prio > SWAP_FLAG_PRIO_MASK) {
				fprintf(stderr, "swapon: priority must be 0..%d\n", SWAP_FLAG_PRIO_MASK);
				return 2;
			}
			flags = SWAP_FLAG_PREFER | prio;
		} else if (opt == 's') {
			show = 1;
		} else {
			fprintf(stderr, "usage: swapon [-p PRIORITY] DEVICE... | swapon -s\n");
			return 2;
		}
	}
	if (show) {
		int fd = open("/proc/swaps", O_RDONLY);
		char buf[4096];
		ssize_t n;
		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		return fd < 0;
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: swapon [-p PRIORITY] DEVICE... | swapon -s\n");
		return 2;
	}
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		if (swapon(argv[i], flags) < 0) {
			fprintf(stderr, "swapon: %s: swapon failed: %s\n", argv[i], strerror(errno));
			rc = 1;
		}
	}
	return rc;
}
