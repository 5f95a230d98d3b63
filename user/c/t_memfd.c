/*
 * t_memfd.c: memfd_create(2) and file seals (mm/memfd.c, mm/shmem.c).
 *
 * - flags: MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL (mode loses
 *   its x bits, F_SEAL_EXEC set), MFD_EXEC, MFD_HUGETLB (EINVAL without
 *   hugetlb pages, a file otherwise), unknown flags and MFD_EXEC|MFD_NOEXEC_SEAL (EINVAL), the
 *   name limit (249 bytes; EINVAL past it, EFAULT for a bad pointer);
 * - the file: mode 0777, no links, read/write/lseek/ftruncate/fallocate and
 *   shared mappings see the same bytes, across fork too; its pages count
 *   as Shmem and go at the last close; /proc/self/fd/N and /proc/self/maps
 *   name it "/memfd:NAME (deleted)";
 * - seals: F_GET_SEALS/F_ADD_SEALS, F_SEAL_SEAL (EPERM afterwards and
 *   without MFD_ALLOW_SEALING), SHRINK, GROW (short write at the end of
 *   the last whole page), WRITE (EBUSY while a shared mapping may write;
 *   write, pwrite, punch hole, shared writable mmap EPERM; a shared
 *   read-only mapping cannot be mprotected writable; private mappings
 *   still copy), FUTURE_WRITE (earlier mappings keep writing), EXEC
 *   (chmod of the x bits EPERM; on an executable file it implies the write
 *   seals), unknown seals EINVAL, a read-only descriptor EPERM, other
 *   files EINVAL, tmpfs files sealed with F_SEAL_SEAL.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "check.h"
#include "mmtest.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#define MFD_EXEC 0x0010U
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#define FALLOC_FL_PUNCH_HOLE 2
#endif

#define PG 4096L

static int mfd(const char *name, unsigned flags)
{
	return (int)syscall(SYS_memfd_create, name, flags);
}

static int seals(int fd)
{
	return fcntl(fd, F_GET_SEALS);
}

static off_t size_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

static void check_flags(void)
{
	int fd = mfd("plain", 0);
	struct stat st;
	CHECKF("create", fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0777 &&
				 st.st_nlink == 0 && st.st_size == 0 && st.st_uid == geteuid(),
	       "fd %d mode %o nlink %ld", fd, st.st_mode, (long)st.st_nlink);
	CHECKF("no_cloexec", fcntl(fd, F_GETFD) == 0, "%d", fcntl(fd, F_GETFD));
	CHECKF("unsealable_has_seal_seal", seals(fd) == F_SEAL_SEAL, "seals %x", seals(fd));
	CHECK_ERRNO("unsealable_add_eperm", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
	CHECKF("rdwr", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "fl %x", fcntl(fd, F_GETFL));
	close(fd);
	fd = mfd("ce", MFD_CLOEXEC);
	CHECKF("cloexec", fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "fd %d", fd);
	close(fd);
	CHECK_ERRNO("unknown_flag_einval", mfd("x", 0x100), EINVAL);
	CHECK_ERRNO("exec_and_noexec_einval", mfd("x", MFD_EXEC | MFD_NOEXEC_SEAL), EINVAL);
	char name[300];
	memset(name, 'n', sizeof name);
	name[249] = 0;
	fd = mfd(name, 0);
	CHECKF("name_249_ok", fd >= 0, "errno %d", errno);
	close(fd);
	name[249] = 'n';
	name[250] = 0;
	CHECK_ERRNO("name_250_einval", mfd(name, 0), EINVAL);
	CHECK_ERRNO("name_fault_efault", mfd((const char *)8, 0), EFAULT);
	/* MFD_HUGETLB makes a hugetlbfs file where the kernel has hugetlb
	 * pages (no page is needed to make it): EINVAL only without. */
	if (access("/proc/sys/vm/nr_hugepages", F_OK) == 0) {
		fd = mfd("h", MFD_HUGETLB);
		CHECKF("hugetlb_einval", fd >= 0, "errno %d (this kernel has hugetlb pages)", errno);
		close(fd);
	} else {
		CHECK_ERRNO("hugetlb_einval", mfd("h", MFD_HUGETLB), EINVAL);
	}

	fd = mfd("noexec", MFD_NOEXEC_SEAL);
	CHECKF("noexec_seal", fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0666 && seals(fd) == F_SEAL_EXEC,
	       "mode %o seals %x", st.st_mode, seals(fd));
	CHECK_ERRNO("noexec_chmod_x_eperm", fchmod(fd, 0777), EPERM);
	CHECKF("noexec_chmod_other_bits", fchmod(fd, 0644) == 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0644,
	       "errno %d", errno);
	CHECKF("noexec_can_add_seals", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0 &&
					       seals(fd) == (F_SEAL_EXEC | F_SEAL_SHRINK),
	       "seals %x", seals(fd));
	close(fd);
	fd = mfd("exec", MFD_EXEC | MFD_ALLOW_SEALING);
	CHECKF("exec_sealable", fd >= 0 && seals(fd) == 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0777,
	       "seals %x", seals(fd));
	/* F_SEAL_EXEC on an executable file brings every write seal (W^X). */
	CHECKF("seal_exec_implies_write_seals",
	       fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC) == 0 &&
		       seals(fd) == (F_SEAL_EXEC | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE),
	       "seals %x", seals(fd));
	close(fd);
}

static void check_file(void)
{
	int fd = mfd("data:file", MFD_ALLOW_SEALING);
	CHECK("write", write(fd, "hello memfd", 11) == 11);
	char buf[32] = {0};
	CHECK("pread", pread(fd, buf, sizeof buf, 0) == 11 && strcmp(buf, "hello memfd") == 0);
	CHECK("lseek", lseek(fd, 0, SEEK_END) == 11);
	CHECK("ftruncate", ftruncate(fd, 3 * PG) == 0 && size_of(fd) == 3 * PG);
	char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("mmap_shared", p != MAP_FAILED && memcmp(p, "hello", 5) == 0);
	if (p == MAP_FAILED)
		return;
	strcpy(p + 2 * PG, "through map");
	CHECK("read_sees_map_store", pread(fd, buf, 11, 2 * PG) == 11 && memcmp(buf, "through map", 11) == 0);
	char link[128] = {0}, path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof link - 1);
	CHECKF("fd_link_name", n > 0 && strcmp(link, "/memfd:data:file (deleted)") == 0, "'%s' errno %d", link, errno);
	FILE *f = fopen("/proc/self/maps", "r");
	char line[256];
	int found = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s;
		if (sscanf(line, "%lx-", &s) == 1 && s == (unsigned long)p && strstr(line, "/memfd:data:file (deleted)"))
			found = 1;
	}
	if (f)
		fclose(f);
	CHECK("maps_name", found);
	pid_t pid = fork();
	if (pid == 0) {
		char b[8] = {0};
		p[0] = 'H';
		_exit(pread(fd, b, 5, 0) == 5 && strcmp(b, "Hello") == 0 ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("shared_across_fork", st == 0 && p[0] == 'H', "status %x", st);
	munmap(p, 3 * PG);
	close(fd);

	long base = meminfo_kb("Shmem");
	fd = mfd("big", 0);
	static char chunk[64 * 1024];
	memset(chunk, 7, sizeof chunk);
	for (int i = 0; i < 64; i++)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			break;
	long full = meminfo_kb("Shmem");
	close(fd);
	long after = meminfo_kb("Shmem");
	CHECKF("pages_are_shmem_and_go_at_close", full - base >= 3500 && after - base < 512, "Shmem %ld -> %ld -> %ld kB",
	       base, full, after);
}

static void check_size_seals(void)
{
	int fd = mfd("size", MFD_ALLOW_SEALING);
	ftruncate(fd, 2 * PG);
	CHECK("add_shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0 && seals(fd) == F_SEAL_SHRINK);
	CHECK_ERRNO("shrink_truncate_eperm", ftruncate(fd, PG), EPERM);
	CHECK("shrink_grow_ok", ftruncate(fd, 3 * PG) == 0 && size_of(fd) == 3 * PG);
	CHECK("shrink_same_size_ok", ftruncate(fd, 3 * PG) == 0);
	CHECK("add_grow", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) == 0 && seals(fd) == (F_SEAL_SHRINK | F_SEAL_GROW));
	CHECK_ERRNO("grow_truncate_eperm", ftruncate(fd, 4 * PG), EPERM);
	CHECK_ERRNO("grow_write_at_end_eperm", pwrite(fd, "x", 1, 3 * PG), EPERM);
	CHECK("grow_write_inside_ok", pwrite(fd, "inside", 6, 100) == 6);
	CHECK_ERRNO("grow_fallocate_eperm", fallocate(fd, 0, 2 * PG, 2 * PG), EPERM);
	CHECK_ERRNO("grow_fallocate_keep_size_eperm", fallocate(fd, FALLOC_FL_KEEP_SIZE, 3 * PG, PG), EPERM);
	CHECK("grow_fallocate_inside_ok", fallocate(fd, 0, 0, PG) == 0 && size_of(fd) == 3 * PG);
	close(fd);
	/* GROW alone: a write crossing the end stops at the last whole page. */
	fd = mfd("grow", MFD_ALLOW_SEALING);
	ftruncate(fd, PG + 904);
	fcntl(fd, F_ADD_SEALS, F_SEAL_GROW);
	static char big[3 * PG];
	ssize_t n = pwrite(fd, big, sizeof big, 0);
	CHECKF("grow_write_short", n == PG && size_of(fd) == PG + 904, "n %zd size %ld", n, (long)size_of(fd));
	CHECK("grow_shrink_ok", ftruncate(fd, 100) == 0 && size_of(fd) == 100);
	close(fd);
}

static void check_write_seals(void)
{
	int fd = mfd("write", MFD_ALLOW_SEALING);
	ftruncate(fd, 2 * PG);
	char *w = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK_ERRNO("write_seal_busy_with_writable_map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
	CHECKF("busy_leaves_no_seal", seals(fd) == 0, "seals %x", seals(fd));
	munmap(w, 2 * PG);
	/* A shared read-only mapping of a writable fd may become writable. */
	char *r = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
	CHECK_ERRNO("write_seal_busy_with_mprotectable_map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY);
	munmap(r, 2 * PG);
	char *priv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK("write_seal_ignores_private_map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0 && seals(fd) == F_SEAL_WRITE);
	CHECK_ERRNO("sealed_write_eperm", write(fd, "x", 1), EPERM);
	CHECK_ERRNO("sealed_pwrite_eperm", pwrite(fd, "x", 1, 10), EPERM);
	CHECK("sealed_empty_write_ok", write(fd, "", 0) == 0);
	CHECK_ERRNO("sealed_punch_hole_eperm", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PG), EPERM);
	CHECK_ERRNO("sealed_shared_writable_mmap_eperm", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0, EPERM);
	r = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
	CHECK("sealed_shared_readonly_mmap_ok", r != MAP_FAILED);
	CHECK_ERRNO("sealed_mprotect_write_eacces", mprotect(r, 2 * PG, PROT_READ | PROT_WRITE), EACCES);
	priv[0] = 'p';
	char c = 1;
	CHECK("private_copy_not_in_file", pread(fd, &c, 1, 0) == 1 && c == 0 && r[0] == 0);
	CHECK("sealed_truncate_still_ok", ftruncate(fd, 4 * PG) == 0);
	CHECK("add_seal_seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) == 0 && seals(fd) == (F_SEAL_WRITE | F_SEAL_SEAL));
	CHECK_ERRNO("after_seal_seal_eperm", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), EPERM);
	CHECK_ERRNO("after_seal_seal_zero_eperm", fcntl(fd, F_ADD_SEALS, 0), EPERM);
	munmap(r, 2 * PG);
	munmap(priv, 2 * PG);
	close(fd);

	fd = mfd("future", MFD_ALLOW_SEALING);
	ftruncate(fd, PG);
	w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("future_write_with_writable_map", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0);
	strcpy(w, "old map");
	char buf[8] = {0};
	CHECK("future_old_map_still_writes", pread(fd, buf, 7, 0) == 7 && strcmp(buf, "old map") == 0);
	CHECK_ERRNO("future_write_eperm", write(fd, "x", 1), EPERM);
	CHECK_ERRNO("future_new_writable_map_eperm", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0, EPERM);
	r = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
	CHECK_ERRNO("future_mprotect_write_eacces", mprotect(r, PG, PROT_READ | PROT_WRITE), EACCES);
	CHECK_ERRNO("unknown_seal_einval", fcntl(fd, F_ADD_SEALS, 0x40), EINVAL);
	munmap(r, PG);
	munmap(w, PG);
	close(fd);
}

static void check_other_files(void)
{
	const char *data = getenv("TESTDATA");
	int fd = open(data ? data : "/etc/testdata.txt", O_RDONLY);
	CHECK_ERRNO("readonly_fd_add_eperm", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
	CHECK_ERRNO("non_tmpfs_get_einval", fcntl(fd, F_GET_SEALS), EINVAL);
	close(fd);
	int p[2];
	pipe(p);
	CHECK_ERRNO("pipe_get_einval", fcntl(p[1], F_GET_SEALS), EINVAL);
	CHECK_ERRNO("pipe_add_einval", fcntl(p[1], F_ADD_SEALS, F_SEAL_WRITE), EINVAL);
	close(p[0]);
	close(p[1]);
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/t_memfd_%d", getpid());
	fd = open(path, O_CREAT | O_RDWR | O_EXCL, 0600);
	unlink(path);
	CHECKF("tmpfs_file_seal_seal", seals(fd) == F_SEAL_SEAL, "seals %d errno %d", seals(fd), errno);
	CHECK_ERRNO("tmpfs_file_add_eperm", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
	close(fd);
}

int main(void)
{
	check_init("t_memfd");
	check_flags();
	check_file();
	check_size_seals();
	check_write_seals();
	check_other_files();
	return check_done();
}
