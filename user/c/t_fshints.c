/*
 * t_fshints.c: the advisory and flushing calls as Linux answers them:
 * posix_fadvise (fadvise64), readahead, sync, syncfs, on a tmpfs file,
 * a directory and a pipe, with their errnos.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

int main(void)
{
	check_init("t_fshints");
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/t_fshints.%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (!CHECK("setup", fd >= 0 && write(fd, "data", 4) == 4))
		return check_done();
	int bad = 0;
	for (int adv = POSIX_FADV_NORMAL; adv <= POSIX_FADV_NOREUSE; adv++)
		bad += posix_fadvise(fd, 0, 4096, adv) != 0;
	CHECKF("fadvise_every_advice", bad == 0, "%d refused", bad);
	CHECK("fadvise_whole_file", posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	CHECKF("fadvise_unknown_advice_einval", posix_fadvise(fd, 0, 0, 99) == EINVAL, "%d",
	       posix_fadvise(fd, 0, 0, 99));
	CHECKF("fadvise_negative_length_einval", posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL) == EINVAL, "%d",
	       posix_fadvise(fd, 0, -1, POSIX_FADV_NORMAL));
	CHECKF("fadvise_bad_fd_ebadf", posix_fadvise(-1, 0, 0, POSIX_FADV_NORMAL) == EBADF, "%d",
	       posix_fadvise(-1, 0, 0, POSIX_FADV_NORMAL));
	int p[2];
	if (pipe(p) == 0) {
		CHECKF("fadvise_pipe_espipe", posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL) == ESPIPE, "%d",
		       posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL));
		CHECK_ERRNO("readahead_pipe_einval", readahead(p[0], 0, 4096), EINVAL);
	}
	CHECK("readahead_file", readahead(fd, 0, 1 << 20) == 0);
	int wo = open(path, O_WRONLY);
	CHECK_ERRNO("readahead_write_only_ebadf", readahead(wo, 0, 4096), EBADF);
	int dir = open("/dev/shm", O_RDONLY | O_DIRECTORY);
	CHECK_ERRNO("readahead_directory_einval", readahead(dir, 0, 4096), EINVAL);
	CHECK_ERRNO("readahead_bad_fd_ebadf", readahead(-1, 0, 4096), EBADF);
	sync();
	CHECK("syncfs", syncfs(fd) == 0 && syncfs(dir) == 0);
	CHECK_ERRNO("syncfs_bad_fd_ebadf", syncfs(-1), EBADF);
	char back[4];
	CHECK("data_kept", pread(fd, back, 4, 0) == 4 && back[0] == 'd' && back[3] == 'a');
	unlink(path);
	return check_done();
}
