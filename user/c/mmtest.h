/*
 * mmtest.h: helpers shared by the memory-management test programs
 * (t_mmap, t_brk, t_fork, t_mprotect, t_mremap, t_madvise, t_mlock, t_oom,
 * and the file and shared-memory tests) and the benchmark b_mm. Include
 * after check.h.
 *
 * - run_child(fn, arg): fork, run fn in the child (core dumps off), exit
 *   with its return value; the parent reaps it and gets the wait status.
 *   A child explains a failure with child_fail("..."), which writes the
 *   reason into a page shared with the parent (MAP_SHARED|MAP_ANONYMOUS).
 * - check_child(name, fn, arg): case NAME passes iff the child exits 0.
 * - check_child_signal(name, fn, arg, sig): ... iff it is killed by SIG.
 * - probe(addr, how): read / write / execute ADDR in a child; returns
 *   PROBE_OK, PROBE_SEGV, PROBE_BUS or PROBE_OTHER.
 * - status_kb("VmRSS"): a kB field of /proc/self/status (-1: the file
 *   cannot be opened, -2: no such field); meminfo_kb("Shmem"): one of
 *   /proc/meminfo (-1 if missing).
 * - drop_root(): setgid/setuid 65534 (in a child).
 * - in_mmkernel(): uname -r contains "mmkernel".
 * - vmstat_get("pswpout"): one counter of /proc/vmstat (-1 if missing).
 * - run_mkswap(dev): run this tree's mkswap (next to the running program)
 *   on DEV, without a shell (a Linux initramfs has none); 0 on success.
 */
#ifndef MMTEST_H
#define MMTEST_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define PAGE 4096UL
#define NOBODY 65534

/* What a child tells its parent: a reason and a few numbers. */
struct child_report {
	char why[400];
	long val[32];
};

static struct child_report *report;

static inline void report_init(void)
{
	if (report)
		return;
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		check_note("# mmtest: cannot map the report page: %s", strerror(errno));
		_exit(2);
	}
	report = p;
}

/* In a child: record why it failed; returns 1 (the exit status to use). */
__attribute__((format(printf, 1, 2)))
static inline int child_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(report->why, sizeof report->why, fmt, ap);
	va_end(ap);
	return 1;
}

static inline int run_child(int (*fn)(void *), void *arg)
{
	report_init();
	report->why[0] = '\0';
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		_exit(fn(arg));
	}
	if (pid < 0)
		return -1;
	int st = 0;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	return r == pid ? st : -1;
}

static inline void describe_status(char *buf, size_t len, int st)
{
	if (st == -1)
		snprintf(buf, len, "fork or wait failed: %s", strerror(errno));
	else if (WIFEXITED(st))
		snprintf(buf, len, "child exited with %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "child killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status %#x", st);
}

static inline int check_child(const char *name, int (*fn)(void *), void *arg)
{
	int st = run_child(fn, arg);
	char d[96];
	describe_status(d, sizeof d, st);
	return CHECKF(name, st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s%s%s", d, report->why[0] ? ": " : "",
		      report->why);
}

static inline int check_child_signal(const char *name, int (*fn)(void *), void *arg, int sig)
{
	int st = run_child(fn, arg);
	char d[96];
	describe_status(d, sizeof d, st);
	return CHECKF(name, st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig, "%s%s%s, want signal %d (%s)", d,
		      report->why[0] ? ": " : "", report->why, sig, strsignal(sig));
}

/* ---- access probes ------------------------------------------------------ */

enum { PROBE_READ, PROBE_WRITE, PROBE_EXEC };
enum { PROBE_OK = 1, PROBE_SEGV = 0, PROBE_BUS = 2, PROBE_OTHER = -1 };

static volatile char *probe_addr;
static int probe_how;
static volatile long probe_sink;

static inline int probe_fn(void *unused)
{
	(void)unused;
	if (probe_how == PROBE_READ) {
		probe_sink = *probe_addr;
	} else if (probe_how == PROBE_WRITE) {
		*probe_addr = 0x5a;
	} else {
		void (*volatile f)(void) = (void (*)(void))(uintptr_t)probe_addr;
		f();
	}
	return 0;
}

/* Access ADDR in a child: PROBE_OK, PROBE_SEGV, PROBE_BUS or PROBE_OTHER. */
static inline int probe(const void *addr, int how)
{
	probe_addr = (volatile char *)addr;
	probe_how = how;
	int st = run_child(probe_fn, NULL);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return PROBE_OK;
	if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
		return PROBE_SEGV;
	if (st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS)
		return PROBE_BUS;
	return PROBE_OTHER;
}

static inline const char *probe_name(int r)
{
	switch (r) {
	case PROBE_OK:
		return "works";
	case PROBE_SEGV:
		return "SIGSEGV";
	case PROBE_BUS:
		return "SIGBUS";
	default:
		return "other outcome";
	}
}

/* ---- /proc and friends --------------------------------------------------- */

/* Read a whole (small) file into BUF; returns its length or -1. */
static inline long read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, len - 1 - n);
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	return (long)n;
}

/* The number a file (a sysctl, a sysfs knob) holds; -1 if unreadable. */
static inline long read_num(const char *path)
{
	char buf[64];
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* Write TEXT to PATH in one write: 0, or the errno. */
static inline int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = n < 0 ? errno : 0;
	close(fd);
	return e;
}

/* Write V and a newline to PATH: 0, or the errno. */
static inline int write_num(const char *path, long v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%ld\n", v);
	return write_text(path, buf);
}

/* FIELD ("VmRSS") of /proc/self/status in kB; -1 if the file cannot be
 * opened, -2 if the field is missing. */
static inline long status_kb(const char *field)
{
	static char buf[8192];
	if (read_small_file("/proc/self/status", buf, sizeof buf) < 0)
		return -1;
	size_t fl = strlen(field);
	for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			return strtol(line + fl + 1, NULL, 10);
	}
	return -2;
}

/* KEY ("Shmem") of /proc/meminfo in kB; -1 if missing or unreadable. */
static inline long meminfo_kb(const char *key)
{
	static char buf[8192];
	if (read_small_file("/proc/meminfo", buf, sizeof buf) < 0)
		return -1;
	size_t k = strlen(key);
	for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, k) == 0 && line[k] == ':')
			return strtol(line + k + 1, NULL, 10);
	}
	return -1;
}

static inline int have_proc_status(void)
{
	return status_kb("VmRSS") != -1;
}

static inline int in_mmkernel(void)
{
	struct utsname u;
	return uname(&u) == 0 && strstr(u.release, "mmkernel") != NULL;
}

/* Become uid/gid 65534 (nobody): root's exemptions no longer apply. */
static inline int drop_root(void)
{
	if (setgid(NOBODY) != 0)
		return -1;
	if (setuid(NOBODY) != 0)
		return -1;
	return getuid() == NOBODY && geteuid() == NOBODY ? 0 : -1;
}

/* The raw system calls, for the errno tables: musl's wrappers check or
 * round some arguments themselves (mmap: offset and huge lengths;
 * mprotect: rounds the start down), so the kernel would never see them. */
#include <sys/syscall.h>
static inline void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static inline int sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

static inline void *sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

/* Anonymous private read-write memory, or NULL. */
static inline void *anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Stamp every page of [p, p+len) with its index and a tag; check it back. */
static inline void stamp_pages(void *p, size_t len, long tag)
{
	for (size_t i = 0; i < len / PAGE; i++) {
		long *w = (long *)((char *)p + i * PAGE);
		w[0] = tag;
		w[1] = (long)i;
		w[PAGE / sizeof(long) - 1] = tag ^ (long)i;
	}
}

/* Index of the first page of [p, p+len) that is not stamped (FIRST is the
 * index of p's first page in the stamping), or -1 if all are. */
static inline long bad_stamp(const void *p, size_t len, long tag, long first)
{
	for (size_t i = 0; i < len / PAGE; i++) {
		const long *w = (const long *)((const char *)p + i * PAGE);
		long want = first + (long)i;
		if (w[0] != tag || w[1] != want || w[PAGE / sizeof(long) - 1] != (tag ^ want))
			return (long)i;
	}
	return -1;
}

/* Whether every byte of [p, p+len) is zero. */
static inline int all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < len; i++)
		if (c[i])
			return 0;
	return 1;
}

/* Whether [p, p+len) is mapped at all (mincore succeeds). */
static inline int is_mapped(const void *p, size_t len)
{
	unsigned char vec[64];
	if (len / PAGE > sizeof vec)
		len = sizeof vec * PAGE;
	return mincore((void *)p, len, vec) == 0;
}

static inline long vmstat_get(const char *key)
{
	static char vbuf[16384];
	if (read_small_file("/proc/vmstat", vbuf, sizeof vbuf) < 0)
		return -1;
	size_t k = strlen(key);
	for (char *l = vbuf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && l[k] == ' ')
			return atol(l + k + 1);
	return -1;
}

static inline int run_mkswap(const char *dev)
{
	char self[512] = { 0 }, path[600];
	if (readlink("/proc/self/exe", self, sizeof(self) - 1) < 0 || !strrchr(self, '/'))
		strcpy(self, "/bin/x");
	*strrchr(self, '/') = 0;
	snprintf(path, sizeof path, "%s/mkswap", self);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execl(path, "mkswap", dev, (char *)NULL);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Why DEV cannot be a test's swap device, or NULL once it is a fresh swap
 * area (this tree's mkswap). FILL_RAM: the test fills RAM, too slow above
 * 1 GiB (a development host). */
static inline const char *swap_device_unusable(const char *dev, int fill_ram)
{
	static char sw[4096];
	if (!dev)
		return "no device given";
	if (fill_ram && meminfo_kb("MemTotal") > (1L << 20))
		return "more than 1 GiB of RAM: filling it would take too long";
	if (read_small_file("/proc/swaps", sw, sizeof sw) >= 0 && strstr(sw, dev))
		return "the device is swap already";
	if (run_mkswap(dev) != 0)
		return "mkswap failed";
	return NULL;
}

/* Used kB of swap device DEV in /proc/swaps, -1 if it is not there. */
static inline long swap_used(const char *dev)
{
	static char sw[4096];
	if (read_small_file("/proc/swaps", sw, sizeof sw) < 0)
		return -1;
	size_t k = strlen(dev);
	for (char *l = sw; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, dev, k) && (l[k] == ' ' || l[k] == '\t')) {
			long size, used;
			char type[32];
			if (sscanf(l + k, "%31s %ld %ld", type, &size, &used) == 3)
				return used;
		}
	return -1;
}

/* The smaps field FIELD ("Rss", "AnonHugePages", ...: kB, or the number
 * of THPeligible) of the area starting at P; -1 if not found. */
static inline long smaps_field(void *p, const char *field)
{
	static char sm[1 << 18];
	char head[40];
	if (read_small_file("/proc/self/smaps", sm, sizeof sm) < 0)
		return -1;
	snprintf(head, sizeof head, "%lx-", (unsigned long)p);
	char *e = strstr(sm, head);
	if (!e)
		return -1;
	char key[48];
	snprintf(key, sizeof key, "\n%s:", field);
	char *f = strstr(e, key);
	return f ? atol(f + strlen(key)) : -1;
}

/* Pages of [p, p+len) in memory (mincore), -1 on error. */
static inline long resident(void *p, size_t len)
{
	static unsigned char vec[1 << 16];
	size_t pages = len / PAGE;
	if (pages > sizeof vec || mincore(p, len, vec) != 0)
		return -1;
	long n = 0;
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

#endif /* MMTEST_H */
