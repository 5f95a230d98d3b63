/*
 * t_oom.c: OOM scores and running out of memory, bounded in time and
 * memory.
 *
 * - /proc/self/oom_score is in 0..1000 with oom_score_adj 0; writing 1000
 *   to /proc/self/oom_score_adj raises it (Linux scales it up to 2000),
 *   -1000 makes it 0 ("never kill") given CAP_SYS_RESOURCE (without it,
 *   as for a container's root, lowering below the minimum is EACCES); the
 *   values read back; 1001 and text are EINVAL; a fork child inherits the
 *   adjustment; an unprivileged process (uid 65534) cannot lower it;
 * - RLIMIT_AS 64 MiB (in a child): mmap fails with ENOMEM before 64 MiB,
 *   malloc(128 MiB) returns NULL with ENOMEM, memory obtained so far works;
 * - the OOM killer, only under mmkernel (uname -r contains "mmkernel"; on
 *   a real Linux host this would hurt the machine): a child with
 *   oom_score_adj 1000 allocates and touches memory until it is killed; it
 *   must die of SIGKILL, while the parent (oom_score_adj -1000) survives
 *   with its memory intact and can allocate again.
 */
#include <sys/sysinfo.h>
#include "check.h"
#include "mmtest.h"

#define MiB (1024UL * 1024)

/* Integer in a /proc file; -100000 if it cannot be read. */
static long read_proc_long(const char *path)
{
	char buf[64];
	if (read_small_file(path, buf, sizeof buf) <= 0)
		return -100000;
	return strtol(buf, NULL, 10);
}

/* Write VAL to /proc/self/oom_score_adj; 0 or the errno. */
static int write_adj(const char *val)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, val, strlen(val));
	int e = n == (ssize_t)strlen(val) ? 0 : n < 0 ? errno : EIO;
	close(fd);
	return e;
}

/* Whether CapEff in /proc/self/status has CAP_SYS_RESOURCE (24); root
 * is assumed to have it when the field is missing. */
static int has_cap_sys_resource(void)
{
	static char buf[8192];
	if (read_small_file("/proc/self/status", buf, sizeof buf) >= 0) {
		char *c = strstr(buf, "\nCapEff:");
		if (c)
			return (strtoull(c + 8, NULL, 16) >> 24) & 1;
	}
	return geteuid() == 0;
}

static int unprivileged_child(void *unused)
{
	(void)unused;
	if (drop_root() != 0)
		return child_fail("cannot drop root: %s", strerror(errno));
	/* Linux: the file is no longer ours after setuid (not dumpable), or
	 * the write is refused: EACCES either way. */
	int e = write_adj("-500");
	if (e != EACCES)
		return child_fail("an unprivileged process lowered its oom_score_adj to -500: %s, want EACCES", strerror(e));
	return 0;
}

static int inherit_child(void *unused)
{
	(void)unused;
	long adj = read_proc_long("/proc/self/oom_score_adj");
	return adj == 500 ? 0 : child_fail("child's oom_score_adj %ld, want the parent's 500", adj);
}

static void check_scores(void)
{
	long adj = read_proc_long("/proc/self/oom_score_adj");
	long score = read_proc_long("/proc/self/oom_score");
	if (!CHECKF("read_oom_score", score != -100000 && adj != -100000, "/proc/self/oom_score %ld, oom_score_adj %ld%s",
		    score, adj, score == -100000 ? " (cannot read)" : "")) {
		return;
	}
	check_note("# oom_score %ld with oom_score_adj %ld", score, adj);
	CHECKF("oom_score_in_range", adj != 0 || (score >= 0 && score <= 1000), "oom_score %ld with adj 0", score);

	int e = write_adj("1000");
	long adj2 = read_proc_long("/proc/self/oom_score_adj");
	long high = read_proc_long("/proc/self/oom_score");
	CHECKF("adj_1000_reads_back", e == 0 && adj2 == 1000, "write: %s, reads %ld", strerror(e), adj2);
	CHECKF("adj_1000_raises_score", high > score && high <= 2000, "oom_score %ld -> %ld", score, high);

	/* Going below the minimum (0 unless a privileged write set it) needs
	 * CAP_SYS_RESOURCE: a container's root may lack it. */
	long last = 1000;
	e = write_adj("-1000\n");
	adj2 = read_proc_long("/proc/self/oom_score_adj");
	if (has_cap_sys_resource()) {
		long never = read_proc_long("/proc/self/oom_score");
		CHECKF("adj_minus_1000_reads_back", e == 0 && adj2 == -1000, "write: %s, reads %ld", strerror(e), adj2);
		CHECKF("adj_minus_1000_score_0", never == 0, "oom_score %ld", never);
		last = -1000;
	} else {
		CHECKF("adj_minus_1000_without_cap_sys_resource_eacces", e == EACCES && adj2 == 1000,
		       "write: %s, reads %ld", strerror(e), adj2);
	}

	e = write_adj("1001");
	CHECKF("adj_1001_einval", e == EINVAL, "write: %s", strerror(e));
	e = write_adj("abc");
	CHECKF("adj_text_einval", e == EINVAL, "write: %s", strerror(e));
	CHECKF("adj_unchanged_after_errors", read_proc_long("/proc/self/oom_score_adj") == last, "reads %ld, want %ld",
	       read_proc_long("/proc/self/oom_score_adj"), last);

	e = write_adj("500");
	if (CHECKF("adj_500", e == 0, "write: %s", strerror(e)))
		check_child("fork_inherits_adj", inherit_child, NULL);
	check_child("unprivileged_lower_eacces", unprivileged_child, NULL);
	e = write_adj("0");
	CHECKF("adj_restored", e == 0 && read_proc_long("/proc/self/oom_score_adj") == 0, "write: %s", strerror(e));
}

static int rlimit_as_child(void *unused)
{
	(void)unused;
	struct rlimit rl = {64 * MiB, 64 * MiB};
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return child_fail("setrlimit(RLIMIT_AS): %s", strerror(errno));
	unsigned long got = 0;
	int e = 0;
	char *chunks[128];
	int n = 0;
	while (n < 128) {
		char *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			e = errno;
			break;
		}
		p[0] = (char)n;
		p[MiB - 1] = (char)n;
		chunks[n++] = p;
		got += MiB;
	}
	report->val[0] = (long)(got / MiB);
	if (e != ENOMEM)
		return child_fail("mmap stopped after %lu MiB with errno %d (%s), want ENOMEM before 64 MiB", got / MiB, e,
				  strerror(e));
	if (got < 32 * MiB || got >= 64 * MiB)
		return child_fail("got %lu MiB under a 64 MiB RLIMIT_AS", got / MiB);
	for (int i = 0; i < n; i++)
		if (chunks[i][0] != (char)i || chunks[i][MiB - 1] != (char)i)
			return child_fail("chunk %d lost its data", i);
	for (int i = 0; i < 8 && i < n; i++)
		munmap(chunks[i], MiB);
	errno = 0;
	void *m = malloc(128 * MiB);
	if (m != NULL || errno != ENOMEM)
		return child_fail("malloc(128 MiB) under RLIMIT_AS returned %p errno %d, want NULL/ENOMEM", m, errno);
	m = malloc(4 * MiB);
	if (!m)
		return child_fail("malloc(4 MiB) after freeing 8 MiB failed: %s", strerror(errno));
	memset(m, 1, 4 * MiB);
	free(m);
	return 0;
}

/* The child that runs the machine out of memory. */
static int hog_child(void *arg)
{
	unsigned long limit = *(unsigned long *)arg;
	report->val[1] = write_adj("1000");
	unsigned long got = 0;
	while (got < limit) {
		char *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return child_fail("mmap failed with %s after %lu MiB, before the OOM killer acted", strerror(errno),
					  got / MiB);
		for (unsigned long i = 0; i < MiB; i += PAGE)
			p[i] = 1;
		got += MiB;
		report->val[0] = (long)(got / MiB);
	}
	return child_fail("allocated and touched %lu MiB (twice RAM) without being killed", got / MiB);
}

static void check_oom_kill(void)
{
	if (!in_mmkernel()) {
		check_skip("oom_kill_child_sigkill", "not mmkernel: the real OOM killer would hurt this host");
		return;
	}
	struct sysinfo si;
	if (!CHECKF("sysinfo", sysinfo(&si) == 0, "errno %d", errno))
		return;
	unsigned long ram = si.totalram * (si.mem_unit ? si.mem_unit : 1);
	unsigned long limit = 2 * ram;
	int e = write_adj("-1000");
	if (e != 0)
		check_note("# cannot protect the parent with oom_score_adj -1000: %s", strerror(e));
	char *mine = anon(64 * PAGE);
	if (mine)
		stamp_pages(mine, 64 * PAGE, 0x00f1);
	report->val[0] = report->val[1] = 0;
	int st = run_child(hog_child, &limit);
	char d[96];
	describe_status(d, sizeof d, st);
	CHECKF("oom_kill_child_sigkill", st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	       "%s after %ld MiB%s%s (RAM %lu MiB)", d, report->val[0], report->why[0] ? ": " : "", report->why, ram / MiB);
	check_note("# OOM: the child was at %ld MiB; its oom_score_adj write: %s", report->val[0],
		   strerror((int)report->val[1]));
	CHECKF("oom_parent_memory_intact", mine && bad_stamp(mine, 64 * PAGE, 0x00f1, 0) < 0, "parent's pages changed");
	char *again = anon(8 * MiB);
	if (again)
		memset(again, 3, 8 * MiB);
	CHECKF("oom_parent_allocates_again", again != NULL, "errno %d", errno);
	if (again)
		munmap(again, 8 * MiB);
	if (mine)
		munmap(mine, 64 * PAGE);
	if (e == 0)
		write_adj("0");
}

int main(void)
{
	check_init("t_oom");
	report_init();
	if (getuid() == 0) {
		check_scores();
	} else {
		check_skip("oom_score_adj", "not root: lowering oom_score_adj needs CAP_SYS_RESOURCE");
	}
	check_child("rlimit_as_enomem", rlimit_as_child, NULL);
	check_note("# RLIMIT_AS 64 MiB: %ld MiB mapped before ENOMEM", report->val[0]);
	check_oom_kill();
	return check_done();
}
