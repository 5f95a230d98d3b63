/*
 * t_memcg.c: the cgroup v2 memory controller (issue 18), as a Linux user
 * sees it at /sys/fs/cgroup.
 *
 * Groups live below a fresh /sys/fs/cgroup/t_memcg.PID with the memory
 * controller on (root's and its subtree_control "+memory"); the test
 * process itself stays where it is, only its children move (each writes
 * "0" to a group's cgroup.procs).
 *
 * - the interface files: memory.max reads "max", a written limit reads
 *   back in bytes rounded down to pages, "max" again; Linux's EINVAL for
 *   bad limits, oom.group values, subtree_control tokens, pids;
 * - a child in a group with memory.max 32M touching 64M dies of SIGKILL
 *   (the OOM killer inside the group), the parent outside survives;
 *   memory.events counts oom_kill in the group and its parent,
 *   memory.events.local only in the group; /proc/PID/cgroup names the
 *   group;
 * - memory.oom.group: every member of the group dies with the hog;
 * - writing 32M to a tmpfs file in a group limited to 8M (shmem cannot be
 *   reclaimed without swap): the writer dies of SIGKILL, its pages go;
 * - memory.current follows mmap + touch and munmap (within 1 MiB: page
 *   tables, and Linux's per-CPU charge batches); memory.stat counts the
 *   anonymous pages (on the anon LRU lists too), page tables and faults; the root has memory.stat;
 * - memory.peak covers the high point and a write resets it (read back
 *   through the same descriptor, as Linux 6.12+ keeps it per open file);
 * - memory.high: reading files through the page cache well past the
 *   limit is not killed, counts "high" events and ends near the limit
 *   (clean file pages are what reclaim can take without swap);
 * - kernel memory: 2000 areas (a PROT_NONE reservation split by mprotect)
 *   and 64 pipes made in a group grow its memory.stat "slab" and
 *   memory.current by at least 128 KiB, and most of it goes when they go;
 *   a group limited to 2M whose process splits areas without end (no user
 *   page at all) is stopped by the group: SIGKILL from its OOM killer or
 *   ENOMEM (Linux gives either), with a "max" event;
 * - swap (with a device as the argument, made a swap area and turned on
 *   here): a group with memory.max 8M and memory.swap.max 4M whose child
 *   stamps and re-reads 10 MiB keeps every byte, its memory.swap.current
 *   is above 0 and at most 4M, memory.swap.peak too, and back to 0 once
 *   the child is gone; with memory.swap.max 2M a child touching 24 MiB is
 *   killed inside the group, swap never above 2M;
 * - memory.min (with swap): in a parent limited to 16M, a child group with
 *   memory.min 8M holding 6 MiB of anonymous memory keeps all of it in RAM
 *   (no swap charged to it, VmSwap 0) while a sibling touching 24 MiB is
 *   swapped to fit;
 * - cgroup.events populated, rmdir EBUSY while populated or with a child,
 *   cgroup.procs EBUSY into a group that hands the controller down,
 *   subtree_control EBUSY in a group with processes, cgroup.kill.
 *
 * Without a writable cgroup v2 hierarchy with the memory controller
 * (cgroup v1 hosts, containers) every case is skipped with the reason.
 * Swap would let the 32M group grow instead of being killed: on Linux
 * memory.swap.max is set to 0 where the file exists.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <signal.h>
#include <sys/wait.h>
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)
#define CG "/sys/fs/cgroup"

static char base[128];

/* Path of FILE in group G ("" for the base group). */
static const char *at(const char *g, const char *file)
{
	static char buf[4][256];
	static int i;
	char *b = buf[i++ & 3];
	snprintf(b, sizeof buf[0], "%s%s%s%s%s", base, *g ? "/" : "", g, *file ? "/" : "", file);
	return b;
}

/* Write TEXT to PATH in one write(2): 0 or the errno. */
static int put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = n == (ssize_t)strlen(text) ? 0 : n < 0 ? errno : EIO;
	close(fd);
	return e;
}

static long get_long(const char *path)
{
	char buf[64];
	if (read_small_file(path, buf, sizeof buf) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* KEY's value in a flat-keyed file (memory.events, memory.stat,
 * cgroup.events); -1 if missing. */
static long keyed(const char *path, const char *key)
{
	static char buf[8192];
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	size_t k = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, k) == 0 && line[k] == ' ')
			return strtol(line + k + 1, NULL, 10);
	}
	return -1;
}

static void no_swap(const char *g)
{
	if (access(at(g, "memory.swap.max"), F_OK) == 0)
		put(at(g, "memory.swap.max"), "0");
}

/* Why the test cannot run here, or NULL. */
static const char *setup(void)
{
	static char why[160];
	char buf[256];
	if (geteuid() != 0)
		return "not root";
	if (read_small_file(CG "/cgroup.controllers", buf, sizeof buf) < 0)
		return "no cgroup v2 hierarchy at " CG " (cgroup v1 host)";
	if (!strstr(buf, "memory"))
		return "the memory controller is not available in " CG " (bound to cgroup v1)";
	snprintf(base, sizeof base, CG "/t_memcg.%d", (int)getpid());
	int e = put(CG "/cgroup.subtree_control", "+memory");
	if (e) {
		snprintf(why, sizeof why, "cannot enable memory in " CG ": %s", strerror(e));
		return why;
	}
	if (mkdir(base, 0755) != 0) {
		snprintf(why, sizeof why, "mkdir %s: %s", base, strerror(errno));
		return why;
	}
	e = put(at("", "cgroup.subtree_control"), "+memory");
	if (e) {
		rmdir(base);
		snprintf(why, sizeof why, "cannot enable memory in %s: %s", base, strerror(e));
		return why;
	}
	return NULL;
}

static int make_group(const char *g)
{
	if (mkdir(at(g, ""), 0755) != 0)
		return errno;
	no_swap(g);
	return 0;
}

/* ---- children ------------------------------------------------------------ */

/* Move the calling process into group G. */
static int join(const char *g)
{
	return put(at(g, "cgroup.procs"), "0");
}

static int touch(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return child_fail("mmap %zu: %s", len, strerror(errno));
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
	return 0;
}

static int hog_child(void *arg)
{
	const char *g = arg;
	int e = join(g);
	if (e)
		return child_fail("join %s: %s", g, strerror(e));
	char buf[256], want[160];
	snprintf(want, sizeof want, "/t_memcg.%d/%s\n", (int)getppid(), g);
	if (read_small_file("/proc/self/cgroup", buf, sizeof buf) < 0 || strncmp(buf, "0::", 3) != 0 ||
	    strlen(buf) < strlen(want) || strcmp(buf + strlen(buf) - strlen(want), want) != 0)
		return child_fail("/proc/self/cgroup reads \"%s\", want 0::...%s", buf, want);
	touch(64 * MiB);
	return child_fail("touched 64 MiB in a group limited to 32 MiB and lived");
}

static void check_oom_kill(void)
{
	const char *g = "oom";
	int e = make_group(g);
	if (e) {
		CHECKF("oom_kill_in_group", 0, "mkdir: %s", strerror(e));
		return;
	}
	e = put(at(g, "memory.max"), "32M");
	CHECKF("max_32M", e == 0, "%s", strerror(e));
	check_child_signal("oom_kill_in_group", hog_child, (void *)g, SIGKILL);
	/* The parent, outside the group, still works. */
	CHECKF("parent_survives", touch(8 * MiB) == 0, "%s", report->why);
	long local = keyed(at(g, "memory.events.local"), "oom_kill");
	long hier = keyed(at(g, "memory.events"), "oom_kill");
	CHECKF("events_oom_kill", local == 1 && hier == 1, "memory.events oom_kill %ld, events.local %ld, want 1 and 1", hier,
	       local);
	long up = keyed(at("", "memory.events"), "oom_kill");
	long up_local = keyed(at("", "memory.events.local"), "oom_kill");
	CHECKF("events_hierarchical", up >= 1 && up_local == 0,
	       "parent's memory.events oom_kill %ld (want >= 1), events.local %ld (want 0)", up, up_local);
	long max = keyed(at(g, "memory.events"), "max");
	long oom = keyed(at(g, "memory.events"), "oom");
	CHECKF("events_max_oom", max >= 1 && oom >= 1, "max %ld oom %ld, want both >= 1", max, oom);
	CHECKF("rmdir_after_oom", rmdir(at(g, "")) == 0, "%s", strerror(errno));
}

static int hog24_child(void *arg)
{
	if (join(arg))
		return child_fail("join: %s", strerror(errno));
	touch(24 * MiB);
	return child_fail("touched 24 MiB with memory.max 8M and memory.swap.max 2M and lived");
}

static int sleeper_child(void *arg)
{
	const char *g = arg;
	if (join(g))
		return 3;
	for (;;)
		pause();
}

static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/* Wait until group G has N processes (children join by themselves). */
static int wait_members(const char *g, int n)
{
	for (int i = 0; i < 500; i++) {
		char buf[512];
		int lines = 0;
		if (read_small_file(at(g, "cgroup.procs"), buf, sizeof buf) >= 0)
			for (char *c = buf; *c; c++)
				lines += *c == '\n';
		if (lines >= n)
			return 1;
		usleep(10000);
	}
	return 0;
}

static int dead_by(pid_t pid, int sig)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	return r == pid && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

/* Write 32 MiB to a tmpfs file in a group limited to 8 MiB: shmem pages
 * cannot be reclaimed without swap, so the group's OOM killer takes the
 * writer (Linux runs it from the write, not only from page faults). */
static int shmem_child(void *arg)
{
	const char *g = arg;
	int e = join(g);
	if (e)
		return child_fail("join %s: %s", g, strerror(e));
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/t_memcg.%d", (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return child_fail("open %s: %s", path, strerror(errno));
	unlink(path);
	static char chunk[65536];
	memset(chunk, 'x', sizeof chunk);
	for (long done = 0; done < (long)(32 * MiB); done += (long)sizeof chunk) {
		ssize_t n = write(fd, chunk, sizeof chunk);
		if (n < 0)
			return child_fail("write at %ld: %s (want SIGKILL from the group's OOM killer)", done,
					  strerror(errno));
	}
	return child_fail("wrote 32 MiB of tmpfs in a group limited to 8 MiB and lived");
}

static void check_shmem_oom(void)
{
	const char *g = "shmem";
	int e = make_group(g);
	if (!e)
		e = put(at(g, "memory.max"), "8M");
	if (e) {
		CHECKF("shmem_write_oom", 0, "setup: %s", strerror(e));
		return;
	}
	check_child_signal("shmem_write_oom", shmem_child, (void *)g, SIGKILL);
	long shmem = keyed(at(g, "memory.stat"), "shmem");
	CHECKF("shmem_uncharged", shmem == 0 && get_long(at(g, "memory.current")) < (long)MiB,
	       "after the writer died: memory.stat shmem %ld, memory.current %ld", shmem, get_long(at(g, "memory.current")));
	rmdir(at(g, ""));
}

static void check_oom_group(void)
{
	const char *g = "group";
	if (make_group(g) || put(at(g, "memory.max"), "32M") || put(at(g, "memory.oom.group"), "1")) {
		CHECKF("oom_group_kills_all", 0, "group setup: %s", strerror(errno));
		return;
	}
	CHECKF("oom_group_reads_1", get_long(at(g, "memory.oom.group")) == 1, "memory.oom.group reads %ld",
	       get_long(at(g, "memory.oom.group")));
	pid_t s1 = spawn(sleeper_child, (void *)g), s2 = spawn(sleeper_child, (void *)g);
	wait_members(g, 2);
	report_init();
	pid_t hog = spawn(hog_child, (void *)g);
	int hog_dead = dead_by(hog, SIGKILL), d1 = dead_by(s1, SIGKILL), d2 = dead_by(s2, SIGKILL);
	CHECKF("oom_group_kills_all", hog_dead && d1 && d2, "hog %s, sleepers %s %s", hog_dead ? "killed" : "not killed",
	       d1 ? "killed" : "not killed", d2 ? "killed" : "not killed");
	long gk = keyed(at(g, "memory.events"), "oom_group_kill");
	long k = keyed(at(g, "memory.events"), "oom_kill");
	CHECKF("events_oom_group_kill", gk == 1 && k == 3, "oom_group_kill %ld (want 1), oom_kill %ld (want 3)", gk, k);
	rmdir(at(g, ""));
}

/* memory.current of the group, within SLACK bytes of WANT. */
static int current_near(const char *g, long want, long slack, long *got)
{
	*got = get_long(at(g, "memory.current"));
	return *got >= want - slack && *got <= want + slack;
}

static int current_child(void *arg)
{
	const char *g = arg;
	if (join(g))
		return child_fail("join: %s", strerror(errno));
	const long slack = 1 * MiB;
	long c0 = get_long(at(g, "memory.current")), c1, c2;
	size_t len = 16 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return child_fail("mmap: %s", strerror(errno));
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
	if (!current_near(g, c0 + (long)len, slack, &c1))
		return child_fail("after touching 16 MiB memory.current %ld, want %ld +- 1 MiB", c1, c0 + (long)len);
	long anon = keyed(at(g, "memory.stat"), "anon"), pt = keyed(at(g, "memory.stat"), "pagetables");
	long faults = keyed(at(g, "memory.stat"), "pgfault");
	if (anon < (long)len - slack || pt <= 0 || faults <= 0)
		return child_fail("memory.stat anon %ld (want about %zu), pagetables %ld, pgfault %ld (want > 0)", anon, len,
				  pt, faults);
	long lru_anon = keyed(at(g, "memory.stat"), "active_anon") + keyed(at(g, "memory.stat"), "inactive_anon");
	if (lru_anon < (long)len - slack || lru_anon > anon + slack)
		return child_fail("memory.stat active_anon + inactive_anon %ld, anon %ld: want about %zu", lru_anon, anon, len);
	/* This kernel's memory picture by group (/proc/mempic; not on Linux):
	 * the group's line in the legend holds its pages. */
	if (access("/proc/mempic", W_OK) == 0 && put("/proc/mempic", "cgroup") == 0) {
		static char map[65536];
		ssize_t n = read_small_file("/proc/mempic", map, sizeof map);
		put("/proc/mempic", "classes");
		const char *line = n > 0 ? strstr(map, strstr(at(g, ""), "/t_memcg.")) : NULL;
		long pages = line ? strtol(line + strcspn(line, " "), NULL, 10) : -1;
		if (pages < (long)(len / PAGE) - 256)
			return child_fail("/proc/mempic by cgroup: %s has %ld pages, want about %zu", at(g, ""), pages,
					  len / PAGE);
	}
	long peak = get_long(at(g, "memory.peak"));
	if (peak < c1 - slack)
		return child_fail("memory.peak %ld below memory.current %ld", peak, c1);
	munmap(p, len);
	if (!current_near(g, c0, slack, &c2))
		return child_fail("after munmap memory.current %ld, want %ld +- 1 MiB", c2, c0);
	/* memory.peak: a write resets it to the usage now, read through the
	 * same descriptor. */
	int fd = open(at(g, "memory.peak"), O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return child_fail("open memory.peak rw: %s", strerror(errno));
	if (write(fd, "reset\n", 6) != 6) {
		int e = errno;
		close(fd);
		return e == EINVAL || e == EACCES ? 42 : child_fail("write memory.peak: %s", strerror(e));
	}
	char buf[64] = "";
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	long after = n > 0 ? strtol(buf, NULL, 10) : -1;
	if (after < 0 || after > c2 + slack || after >= peak)
		return child_fail("memory.peak after the reset %ld, was %ld, usage %ld", after, peak, c2);
	return 0;
}

static void check_current(void)
{
	const char *g = "current";
	if (make_group(g)) {
		CHECKF("current_follows_mmap", 0, "mkdir: %s", strerror(errno));
		return;
	}
	int st = run_child(current_child, (void *)g);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 42) {
		check_skip("current_and_peak", "memory.peak is not writable (Linux before 6.12)");
	} else {
		char d[96];
		describe_status(d, sizeof d, st);
		CHECKF("current_and_peak", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", d, report->why);
	}
	rmdir(at(g, ""));
}

/* Map every regular file of DIR (BINDIR) and read each page, through
 * the page cache (read(2) of an initrd file copies from the ramdisk
 * here, only a mapping caches pages); returns the bytes touched. */
static long read_dir(const char *dir)
{
	long total = 0;
	volatile long sink = 0;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
			/* Linux: drop clean cached pages, so the faults charge them here. */
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
			if (p != MAP_FAILED) {
				for (off_t o = 0; o < st.st_size; o += PAGE)
					sink += p[o];
				total += st.st_size;
				munmap(p, (size_t)st.st_size);
			}
		}
		close(fd);
	}
	closedir(d);
	(void)sink;
	return total;
}

static int high_child(void *arg)
{
	const char *g = arg;
	if (join(g))
		return child_fail("join: %s", strerror(errno));
	const char *bindir = getenv("BINDIR");
	long total = read_dir(bindir ? bindir : "/bin");
	report->val[0] = total;
	report->val[1] = get_long(at(g, "memory.current"));
	report->val[2] = get_long(at(g, "memory.peak"));
	return 0;
}

static void check_high(void)
{
	const char *g = "high";
	const long high = 1 * MiB;
	if (make_group(g) || put(at(g, "memory.high"), "1M")) {
		CHECKF("high_reclaims_without_kill", 0, "setup: %s", strerror(errno));
		return;
	}
	report_init();
	int st = run_child(high_child, (void *)g);
	char d[96];
	describe_status(d, sizeof d, st);
	long total = report->val[0], cur = report->val[1], events = keyed(at(g, "memory.events"), "high");
	check_note("# memory.high 1M: touched %ld bytes of files, memory.current %ld, peak %ld, high events %ld", total, cur,
		   report->val[2], events);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && (total < 3 * high || events == 0) &&
	    keyed(at(g, "memory.stat"), "file") < high) {
		check_skip("high_reclaims_without_kill",
			   "the files read were already in the page cache (nothing was charged to the group)");
	} else {
		CHECKF("high_reclaims_without_kill",
		       WIFEXITED(st) && WEXITSTATUS(st) == 0 && events >= 1 && cur <= high + 1 * (long)MiB &&
			       keyed(at(g, "memory.events"), "oom_kill") == 0,
		       "%s%s%s; read %ld bytes, memory.current %ld, high events %ld (limit %ld)", d,
		       report->why[0] ? ": " : "", report->why, total, cur, events, high);
	}
	rmdir(at(g, ""));
}

static void check_files_and_errors(void)
{
	const char *g = "files";
	if (make_group(g)) {
		CHECKF("files", 0, "mkdir: %s", strerror(errno));
		return;
	}
	char buf[256];
	read_small_file(at(g, "memory.max"), buf, sizeof buf);
	CHECKF("max_reads_max", strcmp(buf, "max\n") == 0, "memory.max reads \"%s\"", buf);
	CHECKF("controllers", read_small_file(at(g, "cgroup.controllers"), buf, sizeof buf) >= 0 && strstr(buf, "memory"),
	       "cgroup.controllers \"%s\"", buf);
	put(at(g, "memory.max"), "32M");
	CHECKF("max_bytes", get_long(at(g, "memory.max")) == 32 * (long)MiB, "memory.max %ld after 32M",
	       get_long(at(g, "memory.max")));
	put(at(g, "memory.max"), "1000001");
	CHECKF("max_rounds_down", get_long(at(g, "memory.max")) == 999424, "memory.max %ld after 1000001, want 999424",
	       get_long(at(g, "memory.max")));
	put(at(g, "memory.max"), "max");
	read_small_file(at(g, "memory.max"), buf, sizeof buf);
	CHECKF("max_again", strcmp(buf, "max\n") == 0, "memory.max reads \"%s\"", buf);
	static const char *bad_limits[] = {"abc", "12Q", "-1", "1 2", "max1", "0x10"};
	for (unsigned i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
		int e = put(at(g, "memory.max"), bad_limits[i]);
		CHECKF("max_einval", e == EINVAL, "memory.max \"%s\": %s, want EINVAL", bad_limits[i], strerror(e));
	}
	int e = put(at(g, "memory.high"), "lots");
	CHECKF("high_einval", e == EINVAL, "%s", strerror(e));
	e = put(at(g, "memory.oom.group"), "2");
	CHECKF("oom_group_einval", e == EINVAL, "%s", strerror(e));
	e = put(at(g, "cgroup.subtree_control"), "memory");
	CHECKF("subtree_control_einval", e == EINVAL, "\"memory\": %s", strerror(e));
	e = put(at(g, "cgroup.subtree_control"), "+nosuchcontroller");
	CHECKF("subtree_control_unknown", e == EINVAL, "%s", strerror(e));
	e = put(at(g, "cgroup.procs"), "abc");
	CHECKF("procs_einval", e == EINVAL, "%s", strerror(e));
	e = put(at(g, "cgroup.procs"), "99999999");
	CHECKF("procs_esrch", e == ESRCH, "%s", strerror(e));
	CHECKF("events_unpopulated", keyed(at(g, "cgroup.events"), "populated") == 0, "populated %ld",
	       keyed(at(g, "cgroup.events"), "populated"));
	rmdir(at(g, ""));
}

static void check_busy(void)
{
	const char *g = "busy";
	if (make_group(g)) {
		CHECKF("busy", 0, "mkdir: %s", strerror(errno));
		return;
	}
	pid_t s = spawn(sleeper_child, (void *)g);
	int in = wait_members(g, 1);
	CHECKF("events_populated", in && keyed(at(g, "cgroup.events"), "populated") == 1, "joined %d, populated %ld", in,
	       keyed(at(g, "cgroup.events"), "populated"));
	CHECK_ERRNO("rmdir_populated", rmdir(at(g, "")), EBUSY);
	/* No internal processes: a group with members cannot hand down. */
	int e = put(at(g, "cgroup.subtree_control"), "+memory");
	CHECKF("subtree_control_with_procs", e == EBUSY, "%s, want EBUSY", strerror(e));
	/* cgroup.kill takes every member. */
	e = put(at(g, "cgroup.kill"), "1");
	int dead = dead_by(s, SIGKILL);
	CHECKF("cgroup_kill", e == 0 && dead, "write: %s, child %s", strerror(e), dead ? "killed" : "alive");
	int gone = 0;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = keyed(at(g, "cgroup.events"), "populated") == 0;
		if (!gone)
			usleep(10000);
	}
	CHECK("unpopulated_after_exit", gone);
	/* A group with a child directory: rmdir is EBUSY; the parent of a
	 * group that enables memory for it takes no process (EBUSY). */
	mkdir(at(g, "sub"), 0755);
	CHECK_ERRNO("rmdir_with_child", rmdir(at(g, "")), EBUSY);
	e = put(at(g, "cgroup.subtree_control"), "+memory");
	CHECKF("subtree_control_empty", e == 0, "%s", strerror(e));
	e = put(at(g, "cgroup.procs"), "0");
	CHECKF("procs_into_inner_node", e == EBUSY, "%s, want EBUSY", strerror(e));
	put(at(g, "cgroup.subtree_control"), "-memory");
	CHECKF("rmdir_child", rmdir(at(g, "sub")) == 0, "%s", strerror(errno));
	CHECKF("rmdir_empty", rmdir(at(g, "")) == 0, "%s", strerror(errno));
}

/* Split a PROT_NONE reservation of 2 * N pages into N + 1 areas or more
 * (every other page readable): N areas' worth of kernel objects and no
 * user page. Returns the reservation (its length through LEN) or NULL
 * with errno set by the failing call. */
static char *split_areas(long n, size_t *len)
{
	*len = (size_t)(2 * n + 1) * PAGE;
	char *p = mmap(NULL, *len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	for (long i = 0; i < n; i++) {
		if (mprotect(p + (2 * i + 1) * PAGE, PAGE, PROT_READ) != 0) {
			int e = errno;
			munmap(p, *len);
			errno = e;
			return NULL;
		}
	}
	return p;
}

static int kmem_child(void *arg)
{
	const char *g = arg;
	if (join(g))
		return child_fail("join: %s", strerror(errno));
	long s0 = keyed(at(g, "memory.stat"), "slab"), c0 = get_long(at(g, "memory.current"));
	size_t len;
	char *p = split_areas(2000, &len);
	if (!p)
		return child_fail("2000 areas: %s", strerror(errno));
	int fds[64][2];
	for (int i = 0; i < 64; i++)
		if (pipe(fds[i]) != 0)
			return child_fail("pipe %d: %s", i, strerror(errno));
	long s1 = keyed(at(g, "memory.stat"), "slab"), c1 = get_long(at(g, "memory.current"));
	long k1 = keyed(at(g, "memory.stat"), "kernel");
	if (s1 - s0 < 128 * 1024 || c1 - c0 < 128 * 1024 || k1 < s1)
		return child_fail("after 2000 areas and 64 pipes: slab %ld -> %ld, memory.current %ld -> %ld, kernel %ld "
				  "(want both up by >= 128 KiB, kernel >= slab)",
				  s0, s1, c0, c1, k1);
	munmap(p, len);
	for (int i = 0; i < 64; i++)
		close(fds[i][0]), close(fds[i][1]);
	/* Freed objects leave slabs partly used and some empty ones cached
	 * (Linux: per-CPU stocks and partial slabs): most, not all, goes. */
	long s2 = keyed(at(g, "memory.stat"), "slab");
	if (s2 > s0 + (s1 - s0) / 2)
		return child_fail("after munmap and close: slab %ld (was %ld, then %ld): want most of it back", s2, s0, s1);
	return 0;
}

static int kmem_hog_child(void *arg)
{
	const char *g = arg;
	if (join(g))
		return child_fail("join: %s", strerror(errno));
	size_t len;
	/* Under vm.max_map_count (65530); far more than 2M of kernel objects
	 * on Linux (vm_area_struct and maple nodes) and here. */
	if (split_areas(60000, &len))
		return child_fail("60000 areas in a group limited to 2M and no ENOMEM, no kill");
	return errno == ENOMEM ? 43 : child_fail("splitting areas: %s (want ENOMEM or SIGKILL)", strerror(errno));
}

static void check_kmem(void)
{
	const char *g = "kmem";
	if (make_group(g)) {
		CHECKF("kmem_charged", 0, "mkdir: %s", strerror(errno));
		return;
	}
	int st = run_child(kmem_child, (void *)g);
	char d[96];
	describe_status(d, sizeof d, st);
	CHECKF("kmem_charged", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", d, report->why);
	rmdir(at(g, ""));

	g = "kmemmax";
	if (make_group(g) || put(at(g, "memory.max"), "2M")) {
		CHECKF("kmem_limited", 0, "setup: %s", strerror(errno));
		return;
	}
	report_init();
	st = run_child(kmem_hog_child, (void *)g);
	describe_status(d, sizeof d, st);
	int stopped = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 43);
	CHECKF("kmem_limited", stopped, "%s: %s", d, report->why);
	long max = keyed(at(g, "memory.events"), "max");
	CHECKF("kmem_max_event", max >= 1, "memory.events max %ld, want >= 1", max);
	CHECKF("kmem_parent_survives", touch(4 * MiB) == 0, "%s", report->why);
	/* The group goes once its objects are freed (the dead child's). */
	CHECKF("rmdir_after_kmem", rmdir(at(g, "")) == 0, "%s", strerror(errno));
}

static int swap_child(void *arg)
{
	const char *g = arg;
	if (join(g))
		return child_fail("join: %s", strerror(errno));
	size_t len = 10 * MiB;
	char *p = anon(len);
	stamp_pages(p, len, 0x5a9);
	long cur = get_long(at(g, "memory.swap.current"));
	long bad = bad_stamp(p, len, 0x5a9, 0);
	if (bad >= 0)
		return child_fail("page %ld of 10 MiB wrong after swapping in the group", bad);
	if (cur <= 0 || cur > (long)(4 * MiB))
		return child_fail("memory.swap.current %ld with 10 MiB touched, memory.max 8M, swap.max 4M: want 0 < it <= 4M",
				  cur);
	return 0;
}

/* Hold 6 MiB touched, then wait for the parent's byte on fd 0 of ARG. */
static int holder_child(void *arg)
{
	int *fds = arg;
	if (join("par/prot"))
		return child_fail("join: %s", strerror(errno));
	char *p = anon(6 * MiB);
	stamp_pages(p, 6 * MiB, 0x31);
	char c = 1;
	if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1)
		return child_fail("pipe: %s", strerror(errno));
	return bad_stamp(p, 6 * MiB, 0x31, 0) >= 0 ? child_fail("protected pages changed") : 0;
}

static int pusher_child(void *arg)
{
	(void)arg;
	if (join("par/other"))
		return child_fail("join: %s", strerror(errno));
	char *p = anon(24 * MiB);
	stamp_pages(p, 24 * MiB, 0x77);
	return bad_stamp(p, 24 * MiB, 0x77, 0) >= 0 ? child_fail("pushed pages wrong after swap") : 0;
}

/* memory.min keeps a sibling's reclaim off a protected group. */
static void check_min(void)
{
	if (make_group("par") || put(at("par", "memory.max"), "16M") || put(at("par", "memory.swap.max"), "max") ||
	    put(at("par", "cgroup.subtree_control"), "+memory") || make_group("par/prot") ||
	    make_group("par/other") || put(at("par/prot", "memory.min"), "8M") ||
	    put(at("par/prot", "memory.swap.max"), "max") || put(at("par/other", "memory.swap.max"), "max")) {
		CHECKF("min_protects", 0, "setup: %s", strerror(errno));
		return;
	}
	int up[2], down[2];
	if (pipe(up) || pipe(down)) {
		CHECKF("min_protects", 0, "pipe: %s", strerror(errno));
		return;
	}
	int hfds[2] = {down[0], up[1]};
	pid_t holder = spawn(holder_child, hfds);
	char c;
	int ready = read(up[0], &c, 1) == 1;
	report_init();
	int st = run_child(pusher_child, NULL);
	char d[96];
	describe_status(d, sizeof d, st);
	char path[64], status[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)holder);
	long vmswap = read_small_file(path, status, sizeof status) > 0 && strstr(status, "VmSwap:")
			      ? strtol(strstr(status, "VmSwap:") + 7, NULL, 10)
			      : -1;
	long prot_swap = get_long(at("par/prot", "memory.swap.current"));
	long other_peak = get_long(at("par/other", "memory.swap.peak"));
	CHECKF("min_sibling_swapped", ready && WIFEXITED(st) && WEXITSTATUS(st) == 0 && other_peak > 0,
	       "pusher %s (%s), its memory.swap.peak %ld", d, report->why, other_peak);
	CHECKF("min_protects", vmswap == 0 && prot_swap == 0,
	       "the protected group: VmSwap %ld kB, memory.swap.current %ld (want 0 and 0)", vmswap, prot_swap);
	write(down[1], "x", 1);
	int hst;
	waitpid(holder, &hst, 0);
	CHECKF("min_data_intact", WIFEXITED(hst) && WEXITSTATUS(hst) == 0, "holder status %d", hst);
	close(up[0]), close(up[1]), close(down[0]), close(down[1]);
	rmdir(at("par/prot", "")), rmdir(at("par/other", "")), rmdir(at("par", ""));
}

static void check_swap(const char *dev)
{
	static const char *cases[] = {"swap_charged",	 "swap_peak_limited",	"swap_uncharged", "swap_max_oom",
				      "swap_max_holds", "min_sibling_swapped", "min_protects",	"min_data_intact",
				      "swapoff"};
	const char *why = swap_device_unusable(dev, 0);
	if (!why && swapon(dev, 0) != 0)
		why = "swapon failed";
	if (!why && access(at("", "memory.swap.max"), F_OK) != 0)
		why = "no memory.swap.max (swap accounting off)";
	if (why) {
		for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], why);
		return;
	}
	const char *g = "swap";
	if (make_group(g) || put(at(g, "memory.max"), "8M") || put(at(g, "memory.swap.max"), "4M")) {
		CHECKF("swap_charged", 0, "setup: %s", strerror(errno));
		swapoff(dev);
		return;
	}
	report_init();
	int st = run_child(swap_child, (void *)g);
	char d[96];
	describe_status(d, sizeof d, st);
	CHECKF("swap_charged", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", d, report->why);
	long peak = get_long(at(g, "memory.swap.peak"));
	CHECKF("swap_peak_limited", peak > 0 && peak <= (long)(4 * MiB), "memory.swap.peak %ld, want 0 < it <= 4M", peak);
	long cur = -1;
	for (int i = 0; i < 100 && cur != 0; i++, usleep(10000))
		cur = get_long(at(g, "memory.swap.current"));
	CHECKF("swap_uncharged", cur == 0, "memory.swap.current %ld after the child is gone", cur);
	rmdir(at(g, ""));

	g = "swapoom";
	if (make_group(g) || put(at(g, "memory.max"), "8M") || put(at(g, "memory.swap.max"), "2M")) {
		CHECKF("swap_max_oom", 0, "setup: %s", strerror(errno));
		swapoff(dev);
		return;
	}
	report_init();
	check_child_signal("swap_max_oom", hog24_child, (void *)g, SIGKILL);
	peak = get_long(at(g, "memory.swap.peak"));
	CHECKF("swap_max_holds", peak <= (long)(2 * MiB), "memory.swap.peak %ld over memory.swap.max 2M", peak);
	rmdir(at(g, ""));
	check_min();
	CHECKF("swapoff", swapoff(dev) == 0, "%s", strerror(errno));
}

int main(int argc, char **argv)
{
	check_init("t_memcg");
	report_init();
	const char *why = setup();
	if (why) {
		static const char *cases[] = {"files", "oom_kill_in_group", "oom_group_kills_all", "shmem_write_oom", "current_and_peak",
					      "high_reclaims_without_kill", "kmem", "busy"};
		for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++)
			check_skip(cases[i], why);
		return check_done();
	}
	char stat[4096];
	CHECKF("root_memory_stat", read_small_file(CG "/memory.stat", stat, sizeof stat) > 0 && strstr(stat, "anon ") &&
		   strstr(stat, "\nfile "), "%s/memory.stat: %s", CG, strerror(errno));
	check_files_and_errors();
	check_oom_kill();
	check_oom_group();
	check_shmem_oom();
	check_current();
	check_high();
	check_kmem();
	if (argc > 1)
		check_swap(argv[1]);
	check_busy();
	CHECKF("rmdir_base", rmdir(base) == 0, "%s: %s", base, strerror(errno));
	return check_done();
}
