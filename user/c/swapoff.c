/*
 * swapoff: turn off swapping to disks (swapoff(2)).
 *
 *   swapoff DEVICE...
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/swap.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: swapoff DEVICE...\n");
		return 2;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (swapoff(argv[i]) < 0) {
			fprintf(stderr, "swapoff: %s: swapoff failed: %s\n", argv[i], strerror(errno));
			rc = 1;
		}
	}
	return rc;
}
