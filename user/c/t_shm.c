/*
 * t_shm.c: System V shared memory (ipc/shm.c) and POSIX shared memory
 * (shm_open/shm_unlink of musl: files under /dev/shm).
 *
 * - shmget: IPC_PRIVATE and keys, IPC_CREAT, IPC_EXCL (EEXIST), ENOENT,
 *   EINVAL for a size of 0, past shmmax or larger than the segment,
 *   ENOSPC past shmmni and shmall (the sysctls set for a moment);
 * - shmat: the kernel's address, a chosen one, SHM_RND, SHM_REMAP,
 *   SHM_RDONLY (a write faults, mprotect gives EACCES), SHM_EXEC, and the
 *   EINVALs; shmdt and its EINVALs; data shared by two attachments and
 *   across fork; shm_nattch through attach, fork, shmdt, exit and exec;
 * - shmctl: IPC_STAT (times, pids, owner, mode), IPC_SET, IPC_RMID (the
 *   key goes private, SHM_DEST shows, attaching still works, the pages go
 *   at the last detach: Shmem in /proc/meminfo back where it was),
 *   IPC_INFO, SHM_INFO, SHM_STAT, SHM_STAT_ANY, SHM_LOCK/SHM_UNLOCK;
 * - permissions as a non-root user (forked child after setuid): the
 *   owner, group and other bits (EACCES), owner/creator-only IPC_SET,
 *   IPC_RMID, SHM_LOCK (EPERM), RLIMIT_MEMLOCK for SHM_LOCK (EPERM, ENOMEM);
 * - /proc/PID/maps names the segment "/SYSV<key> (deleted)" with the id as
 *   inode; /proc/sysvipc/shm has Linux's header and a line per segment;
 *   /proc/sys/kernel/shm* are readable, root-writable and validated;
 *   shm_rmid_forced removes orphans when set, a process's unattached
 *   segments at its exit and every segment at its last detach;
 * - POSIX: shm_open O_CREAT|O_EXCL (EEXIST the second time), ftruncate,
 *   MAP_SHARED data across fork, shm_unlink (ENOENT afterwards, the
 *   mapping keeps the data).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"
#include "mmtest.h"

#define PG 4096L

static char *self_path;

static int stat_of(int id, struct shmid_ds *ds)
{
	memset(ds, 0, sizeof *ds);
	return shmctl(id, IPC_STAT, ds);
}

static long nattch(int id)
{
	struct shmid_ds ds;
	return stat_of(id, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

/* Run fn in a child; the child's exit status (or 128+signal). */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v = -1;
	unsigned long long u;
	if (f && fscanf(f, "%llu", &u) == 1)
		v = (long long)u;
	if (f)
		fclose(f);
	return (long)v;
}

static unsigned long long read_ull(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned long long u = 0;
	if (f) {
		if (fscanf(f, "%llu", &u) != 1)
			u = 0;
		fclose(f);
	}
	return u;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int write_ull(const char *path, unsigned long long v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%llu\n", v);
	return write_str(path, buf);
}

/* The /proc/self/maps line of the mapping at addr, into line. */
static int maps_line(void *addr, char *line, size_t cap)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;
	while (f && fgets(line, (int)cap, f)) {
		unsigned long s;
		if (sscanf(line, "%lx-", &s) == 1 && s == (unsigned long)addr) {
			found = 1;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void check_basic(void)
{
	time_t t0 = time(NULL);
	int id = shmget(IPC_PRIVATE, 3 * PG, IPC_CREAT | 0600);
	CHECKF("private_get", id >= 0, "errno %d", errno);
	struct shmid_ds ds;
	CHECKF("stat_fresh",
	       stat_of(id, &ds) == 0 && ds.shm_segsz == 3 * PG && (ds.shm_perm.mode & 0777) == 0600 &&
		       ds.shm_perm.__key == IPC_PRIVATE && ds.shm_cpid == getpid() && ds.shm_lpid == 0 &&
		       ds.shm_nattch == 0 && ds.shm_atime == 0 && ds.shm_dtime == 0 && ds.shm_ctime >= t0 &&
		       ds.shm_perm.uid == geteuid() && ds.shm_perm.cuid == geteuid() && ds.shm_perm.gid == getegid() &&
		       ds.shm_perm.cgid == getegid(),
	       "segsz %zu mode %o key %d cpid %d lpid %d nattch %lu", ds.shm_segsz, ds.shm_perm.mode,
	       ds.shm_perm.__key, ds.shm_cpid, ds.shm_lpid, (unsigned long)ds.shm_nattch);
	char *p = shmat(id, NULL, 0);
	CHECKF("attach_kernel_address", p != (void *)-1 && ((uintptr_t)p % SHMLBA) == 0, "errno %d", errno);
	if (p == (void *)-1)
		return;
	CHECKF("fresh_segment_is_zero", p[0] == 0 && p[3 * PG - 1] == 0, "%d", p[0]);
	strcpy(p, "hello");
	p[2 * PG + 5] = 'z';
	CHECKF("stat_after_attach",
	       stat_of(id, &ds) == 0 && ds.shm_nattch == 1 && ds.shm_lpid == getpid() && ds.shm_atime >= t0,
	       "nattch %lu lpid %d", (unsigned long)ds.shm_nattch, ds.shm_lpid);
	char *q = shmat(id, NULL, SHM_RDONLY);
	CHECKF("second_attach_sees_data", q != (void *)-1 && q != p && strcmp(q, "hello") == 0 && q[2 * PG + 5] == 'z',
	       "q %p", (void *)q);
	CHECKF("nattch_two", nattch(id) == 2, "nattch %ld", nattch(id));
	p[1] = 'a';
	CHECK("writes_seen_through_other_attachment", q[1] == 'a');
	char line[256];
	char name[64];
	snprintf(name, sizeof name, "/SYSV%08x (deleted)", 0);
	int in_maps = maps_line(q, line, sizeof line);
	unsigned long ino = 0;
	char perms[8] = "";
	sscanf(line, "%*s %7s %*s %*s %lu", perms, &ino);
	CHECKF("maps_names_segment", in_maps && strstr(line, name) && strcmp(perms, "r--s") == 0 && ino == (unsigned long)id,
	       "%s", line);
	CHECKF("detach_second", shmdt(q) == 0 && nattch(id) == 1, "nattch %ld", nattch(id));
	CHECKF("dtime_set", stat_of(id, &ds) == 0 && ds.shm_dtime >= t0, "dtime %ld", (long)ds.shm_dtime);
	CHECK_ERRNO("detach_again_einval", shmdt(q), EINVAL);
	CHECK_ERRNO("detach_unaligned_einval", shmdt(p + 1), EINVAL);
	void *anon = mmap(NULL, PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK_ERRNO("detach_non_segment_einval", shmdt(anon), EINVAL);
	munmap(anon, PG);
	CHECK_ERRNO("attach_bad_id_einval", shmat(id + 1, NULL, 0), EINVAL);
	CHECK_ERRNO("attach_negative_id_einval", shmat(-1, NULL, 0), EINVAL);
	CHECK_ERRNO("stat_bad_id_einval", shmctl(id + 1, IPC_STAT, &ds), EINVAL);
	CHECK_ERRNO("unknown_cmd_einval", shmctl(id, 99, &ds), EINVAL);
	CHECK_ERRNO("stat_bad_buffer_efault", shmctl(id, IPC_STAT, (struct shmid_ds *)8), EFAULT);
	shmdt(p);
	CHECK("rmid_unattached", shmctl(id, IPC_RMID, NULL) == 0);
	CHECK_ERRNO("gone_after_rmid", shmctl(id, IPC_STAT, &ds), EINVAL);
}

static void check_keys(void)
{
	key_t key = 0x5e000000 | (getpid() & 0xfffff);
	shmctl(shmget(key, 0, 0), IPC_RMID, NULL);
	CHECK_ERRNO("absent_key_enoent", shmget(key, PG, 0600), ENOENT);
	int id = shmget(key, 2 * PG, IPC_CREAT | 0640);
	CHECKF("key_create", id >= 0, "errno %d", errno);
	CHECKF("key_lookup_same_id", shmget(key, 2 * PG, IPC_CREAT | 0600) == id && shmget(key, 0, 0) == id &&
					     shmget(key, 100, 0) == id,
	       "errno %d", errno);
	CHECK_ERRNO("key_excl_eexist", shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK_ERRNO("key_bigger_einval", shmget(key, 2 * PG + 1, 0), EINVAL);
	CHECK_ERRNO("size_zero_einval", shmget(IPC_PRIVATE, 0, 0600), EINVAL);
	CHECK_ERRNO("size_huge_einval", shmget(IPC_PRIVATE, (size_t)-1, 0600), EINVAL);
	FILE *fs = fopen("/proc/filesystems", "r");
	int hugetlbfs = 0;
	char fl[128];
	while (fs && fgets(fl, sizeof fl, fs))
		if (strstr(fl, "hugetlbfs"))
			hugetlbfs = 1;
	if (fs)
		fclose(fs);
	if (hugetlbfs)
		check_skip("hugetlb_einval", "this system has hugetlbfs");
	else
		CHECK_ERRNO("hugetlb_einval", shmget(IPC_PRIVATE, PG, SHM_HUGETLB | 0600), EINVAL);
	struct shmid_ds ds;
	CHECKF("key_in_stat", stat_of(id, &ds) == 0 && ds.shm_perm.__key == key && (ds.shm_perm.mode & 0777) == 0640,
	       "key %x mode %o", ds.shm_perm.__key, ds.shm_perm.mode);
	char *p = shmat(id, NULL, 0);
	char line[256], name[64];
	snprintf(name, sizeof name, "/SYSV%08x (deleted)", (unsigned)key);
	CHECKF("maps_name_has_key", p != (void *)-1 && maps_line(p, line, sizeof line) && strstr(line, name), "%s", line);

	/* /proc/sysvipc/shm: header and our line. */
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	char hdr[256] = "";
	int found = 0;
	long k = 0, sid = 0, perms = 0, size = 0, cpid = 0, lpid = 0, na = 0, uid = -1, gid = -1, cuid = -1, cgid = -1;
	if (f && fgets(hdr, sizeof hdr, f)) {
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "%ld %ld %lo %ld %ld %ld %ld %ld %ld %ld %ld", &k, &sid, &perms, &size, &cpid, &lpid,
				   &na, &uid, &gid, &cuid, &cgid) == 11 &&
			    sid == id) {
				found = 1;
				break;
			}
		}
	}
	if (f)
		fclose(f);
	CHECKF("sysvipc_header",
	       strcmp(hdr, "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid "
			   "     atime      dtime      ctime                   rss                  swap\n") == 0,
	       "%s", hdr);
	CHECKF("sysvipc_line", found && k == key && perms == 0640 && size == 2 * PG && cpid == getpid() &&
				       lpid == getpid() && na == 1 && uid == 0 && gid == 0 && cuid == 0 && cgid == 0,
	       "found %d key %lx perms %lo size %ld cpid %ld lpid %ld nattch %ld", found, k, perms, size, cpid, lpid, na);
	char fmt[256];
	snprintf(fmt, sizeof fmt, "%10d %10d  %4o %21lu %5d %5d  %5lu ", key, id, 0640, 2 * PG, getpid(), getpid(), 1UL);
	f = fopen("/proc/sysvipc/shm", "r");
	found = 0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, fmt, strlen(fmt)) == 0)
			found = 1;
	if (f)
		fclose(f);
	CHECKF("sysvipc_line_widths", found, "want prefix '%s'", fmt);

	/* IPC_RMID while attached: private key, SHM_DEST, still attachable. */
	CHECK("rmid_attached", shmctl(id, IPC_RMID, NULL) == 0);
	CHECKF("rmid_shows_dest_and_private_key",
	       stat_of(id, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST) && ds.shm_perm.__key == IPC_PRIVATE &&
		       ds.shm_nattch == 1,
	       "mode %o key %x", ds.shm_perm.mode, ds.shm_perm.__key);
	CHECK_ERRNO("rmid_key_gone", shmget(key, 0, 0), ENOENT);
	char *q = shmat(id, NULL, 0);
	CHECKF("attach_after_rmid", q != (void *)-1 && nattch(id) == 2, "errno %d", errno);
	shmdt(q);
	shmdt(p);
	CHECK_ERRNO("destroyed_at_last_detach", shmctl(id, IPC_STAT, &ds), EINVAL);
}

static void check_rmid_frees(void)
{
	long base = meminfo_kb("Shmem");
	int id = shmget(IPC_PRIVATE, 1024 * PG, 0600);
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		CHECKF("big_segment", 0, "errno %d", errno);
		return;
	}
	for (long i = 0; i < 1024; i++)
		p[i * PG] = 1;
	long full = meminfo_kb("Shmem");
	CHECKF("segment_pages_count_as_shmem", full - base >= 3500, "Shmem %ld -> %ld kB", base, full);
	struct shm_info si;
	int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	CHECKF("shm_info", maxidx >= 0 && si.used_ids >= 1 && si.shm_tot >= 1024 && si.shm_rss >= 1024,
	       "r %d used %d tot %lu rss %lu", maxidx, si.used_ids, si.shm_tot, si.shm_rss);
	shmctl(id, IPC_RMID, NULL);
	long kept = meminfo_kb("Shmem");
	CHECKF("pages_kept_while_attached", kept - base >= 3500, "Shmem %ld -> %ld kB", base, kept);
	shmdt(p);
	long after = meminfo_kb("Shmem");
	CHECKF("pages_freed_at_last_detach", after - base < 512, "Shmem %ld -> %ld -> %ld kB", base, full, after);
}

static int fork_child(void *arg)
{
	int id = *(int *)arg;
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return 10;
	p[0] = 'C';
	/* The parent's attachment came across fork too: 3 VMAs now. */
	if (nattch(id) != 3)
		return 11;
	if (shmdt(p) != 0 || nattch(id) != 2)
		return 12;
	/* Leave the inherited one attached: exit drops it. */
	return 0;
}

static void check_fork_exec(void)
{
	int id = shmget(IPC_PRIVATE, PG, 0600);
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		CHECKF("fork_attach", 0, "errno %d", errno);
		return;
	}
	p[0] = 'P';
	int st = in_child(fork_child, &id);
	CHECKF("fork_child_shares_and_counts", st == 0 && p[0] == 'C', "status %d p[0] %c", st, p[0]);
	CHECKF("nattch_after_child_exit", nattch(id) == 1, "nattch %ld", nattch(id));
	pid_t pid = fork();
	if (pid == 0) {
		char ids[16];
		snprintf(ids, sizeof ids, "%d", id);
		/* Before exec: two attachments (ours inherited, the parent's). */
		if (nattch(id) != 2)
			_exit(20);
		execl(self_path, "t_shm", "nattch", ids, "1", (char *)NULL);
		_exit(21);
	}
	st = 0;
	waitpid(pid, &st, 0);
	CHECKF("exec_drops_attachment", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x", st);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

static sigjmp_buf jb;
static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static void check_attach_flags(void)
{
	int id = shmget(IPC_PRIVATE, 2 * PG, 0600);
	char *p = shmat(id, NULL, 0);
	strcpy(p, "data");
	char *ro = shmat(id, NULL, SHM_RDONLY);
	struct sigaction sa = {.sa_handler = on_segv}, old;
	sigaction(SIGSEGV, &sa, &old);
	volatile int faulted = 0;
	if (sigsetjmp(jb, 1) == 0)
		ro[0] = 'x';
	else
		faulted = 1;
	sigaction(SIGSEGV, &old, NULL);
	CHECKF("rdonly_write_faults", faulted && p[0] == 'd', "faulted %d", faulted);
	CHECK_ERRNO("rdonly_mprotect_write_eacces", mprotect(ro, 2 * PG, PROT_READ | PROT_WRITE), EACCES);
	shmdt(ro);

	/* A chosen address: reserve a free range, then release it. */
	char *hole = mmap(NULL, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, 8 * PG);
	char *at = shmat(id, hole, 0);
	CHECKF("attach_at_chosen_address", at == hole && strcmp(at, "data") == 0, "at %p want %p", (void *)at,
	       (void *)hole);
	CHECK_ERRNO("attach_over_mapping_einval", shmat(id, hole, 0), EINVAL);
	CHECK_ERRNO("attach_unaligned_einval", shmat(id, hole + 4 * PG + 100, 0), EINVAL);
	char *rnd = shmat(id, hole + 4 * PG + 100, SHM_RND);
	CHECKF("attach_rnd_rounds_down", rnd == hole + 4 * PG, "rnd %p", (void *)rnd);
	CHECK_ERRNO("remap_needs_address_einval", shmat(id, NULL, SHM_REMAP), EINVAL);
	char *anon = mmap(hole + 2 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	anon[0] = 'A';
	CHECK_ERRNO("attach_over_anon_einval", shmat(id, anon, 0), EINVAL);
	char *re = shmat(id, anon, SHM_REMAP);
	CHECKF("remap_replaces_mapping", re == anon && strcmp(re, "data") == 0, "re %p", (void *)re);
	CHECKF("nattch_four", nattch(id) == 4, "nattch %ld", nattch(id));
	/* shmdt takes the one attachment at that address only. */
	CHECKF("detach_one_of_several", shmdt(rnd) == 0 && nattch(id) == 3 && at[0] == 'd', "nattch %ld",
	       nattch(id));
	char line[256];
	char *x = shmat(id, NULL, SHM_EXEC | SHM_RDONLY);
	int ok = x != (void *)-1 && maps_line(x, line, sizeof line);
	CHECKF("exec_attach", ok && strncmp(strchr(line, ' ') + 1, "r-xs", 4) == 0, "%s", ok ? line : "none");
	/* A partial munmap leaves a fragment shmdt still finds. */
	munmap(re + PG, PG);
	CHECKF("detach_fragment", shmdt(re) == 0 && shmdt(x) == 0 && shmdt(at) == 0 && nattch(id) == 1, "nattch %ld",
	       nattch(id));
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

static void check_ctl(void)
{
	int id = shmget(IPC_PRIVATE, 3 * PG, 0600);
	struct shmid_ds ds;
	stat_of(id, &ds);
	ds.shm_perm.uid = 1000;
	ds.shm_perm.gid = 1001;
	ds.shm_perm.mode = 07640;
	CHECK("set", shmctl(id, IPC_SET, &ds) == 0);
	CHECKF("set_changes_owner_and_low_mode_bits",
	       stat_of(id, &ds) == 0 && ds.shm_perm.uid == 1000 && ds.shm_perm.gid == 1001 &&
		       ds.shm_perm.mode == 0640 && ds.shm_perm.cuid == 0 && ds.shm_perm.cgid == 0,
	       "uid %d gid %d mode %o", ds.shm_perm.uid, ds.shm_perm.gid, ds.shm_perm.mode);
	CHECK_ERRNO("set_bad_buffer_efault", shmctl(id, IPC_SET, (struct shmid_ds *)8), EFAULT);
	ds.shm_perm.uid = (uid_t)-1;
	CHECK_ERRNO("set_invalid_uid_einval", shmctl(id, IPC_SET, &ds), EINVAL);
	CHECKF("set_invalid_changes_nothing", stat_of(id, &ds) == 0 && ds.shm_perm.uid == 1000, "uid %d",
	       ds.shm_perm.uid);

	struct shminfo info;
	int maxidx = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
	CHECKF("ipc_info", maxidx >= 0 && info.shmmin == 1 && info.shmmax == read_ull("/proc/sys/kernel/shmmax") &&
				   info.shmall == read_ull("/proc/sys/kernel/shmall") &&
				   (long)info.shmmni == read_long("/proc/sys/kernel/shmmni") && info.shmseg == info.shmmni,
	       "r %d min %lu max %lu mni %lu", maxidx, info.shmmin, info.shmmax, info.shmmni);
	int found = -1;
	for (int i = 0; i <= maxidx; i++) {
		int r = shmctl(i, SHM_STAT, &ds);
		if (r == id)
			found = i;
	}
	CHECKF("shm_stat_finds_id", found >= 0 && shmctl(found, SHM_STAT_ANY, &ds) == id && ds.shm_segsz == 3 * PG,
	       "found %d", found);
	CHECK_ERRNO("shm_stat_past_max_einval", shmctl(maxidx + 1, SHM_STAT, &ds), EINVAL);
	CHECKF("shm_stat_masks_index", shmctl(found + 32768, SHM_STAT, &ds) == id, "errno %d", errno);

	CHECK("lock", shmctl(id, SHM_LOCK, NULL) == 0 && stat_of(id, &ds) == 0 && (ds.shm_perm.mode & SHM_LOCKED));
	CHECK("unlock", shmctl(id, SHM_UNLOCK, NULL) == 0 && stat_of(id, &ds) == 0 && !(ds.shm_perm.mode & SHM_LOCKED));
	shmctl(id, IPC_RMID, NULL);
}

struct perm_case {
	int id_own, id_grp, id_oth, id_root;
};

static int as_user(void *arg)
{
	struct perm_case *c = arg;
	if (setgid(1000) != 0 || setuid(1000) != 0)
		return 90;
	struct shmid_ds ds;
	int bad = 0;
#define EXPECT(n, cond)                                                                                                \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			check_note("# as uid 1000: case %d failed, errno %d", n, errno);                               \
			bad = n;                                                                                       \
		}                                                                                                      \
	} while (0)
	/* id_root: root's 0604 segment. */
	EXPECT(1, shmat(c->id_root, NULL, 0) == (void *)-1 && errno == EACCES);
	void *p = shmat(c->id_root, NULL, SHM_RDONLY);
	EXPECT(2, p != (void *)-1);
	shmdt(p);
	EXPECT(3, shmctl(c->id_root, IPC_STAT, &ds) == 0);
	EXPECT(4, shmctl(c->id_root, IPC_SET, &ds) == -1 && errno == EPERM);
	EXPECT(5, shmctl(c->id_root, IPC_RMID, NULL) == -1 && errno == EPERM);
	EXPECT(6, shmctl(c->id_root, SHM_LOCK, NULL) == -1 && errno == EPERM);
	EXPECT(7, shmat(c->id_root, NULL, SHM_RDONLY | SHM_EXEC) == (void *)-1 && errno == EACCES);
	/* id_oth: root's 0600 segment: no access, SHM_STAT_ANY still works. */
	EXPECT(8, shmctl(c->id_oth, IPC_STAT, &ds) == -1 && errno == EACCES);
	EXPECT(9, shmat(c->id_oth, NULL, SHM_RDONLY) == (void *)-1 && errno == EACCES);
	int maxidx = shmctl(0, IPC_INFO, &ds);
	int any = 0, stat_eacces = 0;
	for (int i = 0; i <= maxidx; i++) {
		if (shmctl(i, SHM_STAT_ANY, &ds) == c->id_oth)
			any = 1;
		if (shmctl(i, SHM_STAT, &ds) == -1 && errno == EACCES)
			stat_eacces = 1;
	}
	EXPECT(10, any && stat_eacces);
	/* id_grp: root's 0060 segment with group 1000. */
	p = shmat(c->id_grp, NULL, 0);
	EXPECT(11, p != (void *)-1);
	shmdt(p);
	/* id_own: owner set to 1000 by IPC_SET (mode 0600, creator root). */
	p = shmat(c->id_own, NULL, 0);
	EXPECT(12, p != (void *)-1);
	shmdt(p);
	EXPECT(13, shmctl(c->id_own, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode = 0644, shmctl(c->id_own, IPC_SET, &ds) == 0));
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_MEMLOCK, &rl);
	EXPECT(14, shmctl(c->id_own, SHM_LOCK, NULL) == -1 && errno == EPERM);
	EXPECT(15, shmctl(c->id_own, SHM_UNLOCK, NULL) == 0);
	return bad;
}

static int lock_user(void *arg)
{
	int id = *(int *)arg;
	struct rlimit rl = {PG, PG};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || setgid(1000) != 0 || setuid(1000) != 0)
		return 90;
	/* Three pages do not fit in one page of RLIMIT_MEMLOCK. */
	if (!(shmctl(id, SHM_LOCK, NULL) == -1 && errno == ENOMEM))
		return 1;
	return 0;
}

static int lock_user_fits(void *arg)
{
	int id = *(int *)arg;
	struct rlimit rl = {64 * PG, 64 * PG};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || setgid(1000) != 0 || setuid(1000) != 0)
		return 90;
	struct shmid_ds ds;
	if (shmctl(id, SHM_LOCK, NULL) != 0 || shmctl(id, IPC_STAT, &ds) != 0 || !(ds.shm_perm.mode & SHM_LOCKED))
		return 1;
	if (shmctl(id, SHM_UNLOCK, NULL) != 0)
		return 2;
	return 0;
}

static int sysctl_user(void *arg)
{
	(void)arg;
	if (setgid(1000) != 0 || setuid(1000) != 0)
		return 90;
	if (read_long("/proc/sys/kernel/shmmni") <= 0)
		return 1;
	if (!(open("/proc/sys/kernel/shmmni", O_WRONLY) == -1 && errno == EACCES))
		return 2;
	return 0;
}

static void check_perms(void)
{
	if (geteuid() != 0) {
		check_skip("permissions", "not root");
		return;
	}
	struct perm_case c;
	struct shmid_ds ds;
	c.id_root = shmget(IPC_PRIVATE, PG, 0604);
	c.id_oth = shmget(IPC_PRIVATE, PG, 0600);
	c.id_grp = shmget(IPC_PRIVATE, PG, 0060);
	stat_of(c.id_grp, &ds);
	ds.shm_perm.gid = 1000;
	shmctl(c.id_grp, IPC_SET, &ds);
	c.id_own = shmget(IPC_PRIVATE, 3 * PG, 0600);
	stat_of(c.id_own, &ds);
	ds.shm_perm.uid = 1000;
	shmctl(c.id_own, IPC_SET, &ds);
	int st = in_child(as_user, &c);
	CHECKF("permissions_as_user", st == 0, "case %d", st);
	CHECKF("owner_set_mode", stat_of(c.id_own, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0644, "mode %o",
	       ds.shm_perm.mode);
	st = in_child(lock_user, &c.id_own);
	CHECKF("lock_over_memlock_enomem", st == 0, "status %d", st);
	st = in_child(lock_user_fits, &c.id_own);
	CHECKF("lock_within_memlock", st == 0, "status %d", st);
	st = in_child(sysctl_user, NULL);
	CHECKF("sysctl_root_only", st == 0, "status %d", st);
	shmctl(c.id_root, IPC_RMID, NULL);
	shmctl(c.id_oth, IPC_RMID, NULL);
	shmctl(c.id_grp, IPC_RMID, NULL);
	shmctl(c.id_own, IPC_RMID, NULL);
}

static void check_sysctls(void)
{
	if (geteuid() != 0) {
		check_skip("sysctls", "not root");
		return;
	}
	const char *max = "/proc/sys/kernel/shmmax", *all = "/proc/sys/kernel/shmall", *mni = "/proc/sys/kernel/shmmni";
	unsigned long long omax = read_ull(max), oall = read_ull(all);
	long omni = read_long(mni);
	CHECKF("sysctls_readable", omax > 0 && oall > 0 && omni > 0 && read_long("/proc/sys/kernel/shm_rmid_forced") >= 0,
	       "max %llu all %llu mni %ld", omax, oall, omni);
	int r = write_ull(max, 3 * PG);
	int e1 = shmget(IPC_PRIVATE, 3 * PG + 1, 0600) == -1 && errno == EINVAL;
	int id = shmget(IPC_PRIVATE, 3 * PG, 0600);
	write_ull(max, omax);
	CHECKF("shmmax_limits_size", r == 0 && e1 && id >= 0 && read_ull(max) == omax, "r %d e1 %d id %d", r, e1, id);
	shmctl(id, IPC_RMID, NULL);

	struct shm_info si;
	shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	r = write_ull(all, si.shm_tot + 1);
	int e2 = shmget(IPC_PRIVATE, 2 * PG, 0600) == -1 && errno == ENOSPC;
	id = shmget(IPC_PRIVATE, PG, 0600);
	write_ull(all, oall);
	CHECKF("shmall_limits_total", r == 0 && e2 && id >= 0, "r %d e2 %d id %d", r, e2, id);

	shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	r = write_ull(mni, (unsigned long long)si.used_ids);
	int e3 = shmget(IPC_PRIVATE, PG, 0600) == -1 && errno == ENOSPC;
	write_ull(mni, (unsigned long long)omni);
	CHECKF("shmmni_limits_count", r == 0 && e3 && read_long(mni) == omni, "r %d e3 %d used %d", r, e3, si.used_ids);
	shmctl(id, IPC_RMID, NULL);
	errno = 0;
	CHECKF("shmmni_range_einval", write_str(mni, "40000") == -1 && errno == EINVAL && read_long(mni) == omni,
	       "errno %d", errno);
	errno = 0;
	CHECKF("rmid_forced_range_einval",
	       write_str("/proc/sys/kernel/shm_rmid_forced", "2") == -1 && errno == EINVAL, "errno %d", errno);
}

static int make_unattached(void *arg)
{
	key_t key = *(key_t *)arg;
	return shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600) >= 0 ? 0 : 1;
}

static void check_rmid_forced(void)
{
	if (geteuid() != 0) {
		check_skip("rmid_forced", "not root");
		return;
	}
	const char *knob = "/proc/sys/kernel/shm_rmid_forced";
	long old = read_long(knob);
	key_t k1 = 0x5f000000 | (getpid() & 0xfffff), k2 = 0x5f100000 | (getpid() & 0xfffff);
	write_str(knob, "0");
	/* Off: a segment a child made outlives it; turning it on removes it. */
	int st = in_child(make_unattached, &k1);
	int id1 = shmget(k1, 0, 0);
	int kept = st == 0 && id1 >= 0;
	int on = write_str(knob, "1") == 0 && read_long(knob) == 1;
	CHECKF("rmid_forced_removes_orphans", kept && on && shmget(k1, 0, 0) == -1 && errno == ENOENT, "kept %d on %d",
	       kept, on);
	/* On: a child's unattached segment goes when it exits ... */
	st = in_child(make_unattached, &k2);
	CHECKF("rmid_forced_exit_removes", st == 0 && shmget(k2, 0, 0) == -1 && errno == ENOENT, "status %d errno %d",
	       st, errno);
	/* ... ours stays while we live, and dies at its last detach. */
	int id = shmget(k2, PG, IPC_CREAT | 0600);
	char *p = shmat(id, NULL, 0);
	struct shmid_ds ds;
	int alive = p != (void *)-1 && shmget(k2, 0, 0) == id && stat_of(id, &ds) == 0 && !(ds.shm_perm.mode & SHM_DEST);
	shmdt(p);
	CHECKF("rmid_forced_last_detach_destroys", alive && shmctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL,
	       "alive %d errno %d", alive, errno);
	char buf[32];
	snprintf(buf, sizeof buf, "%ld", old);
	write_str(knob, buf);
	/* Off again: an attached segment survives its last detach. */
	id = shmget(IPC_PRIVATE, PG, 0600);
	p = shmat(id, NULL, 0);
	shmdt(p);
	CHECKF("rmid_forced_off_keeps", old == 1 || stat_of(id, &ds) == 0, "errno %d", errno);
	shmctl(id, IPC_RMID, NULL);
}

static void check_posix(void)
{
	char name[64], path[80];
	snprintf(name, sizeof name, "/t_shm_%d", getpid());
	snprintf(path, sizeof path, "/dev/shm%s", name);
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
	CHECKF("posix_open", fd >= 0, "errno %d", errno);
	struct stat st;
	CHECKF("posix_file_in_dev_shm", stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
	       "errno %d", errno);
	CHECK_ERRNO("posix_excl_eexist", shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600), EEXIST);
	CHECK("posix_ftruncate", ftruncate(fd, 2 * PG) == 0);
	char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("posix_mmap", p != MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		int fd2 = shm_open(name, O_RDWR, 0);
		char *q = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
		if (q == MAP_FAILED)
			_exit(1);
		strcpy(q + PG, "from child");
		p[0] = 'c';
		_exit(0);
	}
	int s = 0;
	waitpid(pid, &s, 0);
	CHECKF("posix_shared_across_fork", s == 0 && strcmp(p + PG, "from child") == 0 && p[0] == 'c', "status %d", s);
	CHECK("posix_unlink", shm_unlink(name) == 0);
	CHECK_ERRNO("posix_open_after_unlink_enoent", shm_open(name, O_RDWR, 0), ENOENT);
	CHECK_ERRNO("posix_unlink_again_enoent", shm_unlink(name), ENOENT);
	CHECK("posix_mapping_keeps_data", strcmp(p + PG, "from child") == 0);
	munmap(p, 2 * PG);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "nattch") == 0) {
		/* Exec'd by check_fork_exec: our attachment went with the old image. */
		long n = nattch(atoi(argv[2]));
		return n == atol(argv[3]) ? 0 : 1;
	}
	self_path = argv[0];
	check_init("t_shm");
	check_basic();
	check_keys();
	check_rmid_frees();
	check_fork_exec();
	check_attach_flags();
	check_ctl();
	check_perms();
	check_sysctls();
	check_rmid_forced();
	check_posix();
	return check_done();
}
