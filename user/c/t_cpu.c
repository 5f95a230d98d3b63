/*
 * t_cpu.c: the CPU views and calls, against each other: /proc/cpuinfo,
 * /proc/stat, /proc/interrupts, sched_getaffinity/sched_setaffinity,
 * getcpu and sysconf's processor counts (musl counts the affinity mask).
 * Runs on the host Linux and in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char buf[1 << 16];

static long slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	long n = 0, r;
	while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	return n;
}

static int count_lines_starting(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0)
			n++;
	return n;
}

static unsigned long long field_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void check_affinity(int *cpus_out)
{
	uint64_t mask[16];
	memset(mask, 0, sizeof mask);
	long n = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
	CHECKF("getaffinity_returns_mask_size", n >= 8 && n % 8 == 0, "returned %ld", n);
	int cpus = 0;
	for (int i = 0; i < 16; i++)
		cpus += __builtin_popcountll(mask[i]);
	*cpus_out = cpus;
	CHECK("getaffinity_has_a_cpu", cpus >= 1);
	CHECK_ERRNO("getaffinity_short_einval", syscall(SYS_sched_getaffinity, 0, 4, mask), EINVAL);
	CHECK_ERRNO("getaffinity_odd_size_einval", syscall(SYS_sched_getaffinity, 0, 12, mask), EINVAL);
	CHECK_ERRNO("getaffinity_no_such_pid_esrch", syscall(SYS_sched_getaffinity, 0x3fffffff, sizeof mask, mask),
		    ESRCH);
	CHECK_ERRNO("getaffinity_negative_pid_esrch", syscall(SYS_sched_getaffinity, -1, sizeof mask, mask), ESRCH);
	CHECK_ERRNO("getaffinity_bad_pointer_efault", syscall(SYS_sched_getaffinity, 0, sizeof mask, (void *)8),
		    EFAULT);
	uint64_t none[16] = {0};
	CHECK_ERRNO("setaffinity_empty_einval", syscall(SYS_sched_setaffinity, 0, sizeof none, none), EINVAL);
	CHECK("setaffinity_same_mask", syscall(SYS_sched_setaffinity, 0, n, mask) == 0);

	/* One CPU of the mask: getcpu then answers it; a child inherits it. */
	int first = 0;
	while (!(mask[first / 64] & (1ULL << (first % 64))))
		first++;
	uint64_t one[16] = {0};
	one[first / 64] = 1ULL << (first % 64);
	long r = syscall(SYS_sched_setaffinity, 0, sizeof one, one);
	unsigned cpu = 99, node = 99;
	long g = syscall(SYS_getcpu, &cpu, &node, NULL);
	CHECKF("pinned_getcpu_answers_the_cpu", r == 0 && g == 0 && (int)cpu == first, "set %ld getcpu %ld cpu %u want %d",
	       r, g, cpu, first);
	pid_t c = fork();
	if (c == 0) {
		uint64_t m[16] = {0};
		syscall(SYS_sched_getaffinity, 0, sizeof m, m);
		_exit(memcmp(m, one, sizeof m) == 0 ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	CHECK("child_inherits_affinity", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	syscall(SYS_sched_setaffinity, 0, n, mask);
}

static void check_cpuinfo(int cpus)
{
	CHECK("cpuinfo_readable", slurp("/proc/cpuinfo") > 0);
	int procs = count_lines_starting(buf, "processor");
	CHECKF("cpuinfo_lists_at_least_the_allowed_cpus", procs >= cpus, "%d processors, %d allowed", procs, cpus);
	CHECKF("cpuinfo_one_block_per_processor", count_lines_starting(buf, "flags") == procs &&
	       count_lines_starting(buf, "model name") == procs, "%d processors", procs);
	CHECK("cpuinfo_has_x86_64_flags", strstr(buf, " lm") && strstr(buf, " sse2") && strstr(buf, " fpu"));
	CHECKF("sysconf_counts_agree", sysconf(_SC_NPROCESSORS_ONLN) == cpus, "sysconf %ld, mask %d",
	       sysconf(_SC_NPROCESSORS_ONLN), cpus);
}

static void check_stat(void)
{
	CHECK("stat_readable", slurp("/proc/stat") > 0);
	unsigned long long v[10];
	int got = sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			 &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	CHECKF("stat_cpu_line_has_ten_columns", got == 10, "got %d", got);
	CHECK("stat_has_cpu0", strstr(buf, "\ncpu0 ") != NULL);
	unsigned long long ctxt = field_after(buf, "\nctxt "), btime = field_after(buf, "\nbtime ");
	unsigned long long procs = field_after(buf, "\nprocesses ");
	struct timespec up;
	clock_gettime(CLOCK_MONOTONIC, &up);
	time_t now = time(NULL);
	long long diff = (long long)now - (long long)up.tv_sec - (long long)btime;
	CHECKF("stat_btime_is_boot", btime > 0 && diff >= -60 && diff <= 60, "btime %llu, now - uptime differs by %lld",
	       btime, diff);
	CHECK("stat_counts_processes", procs >= 1 && field_after(buf, "\nprocs_running ") >= 1);
	for (int i = 0; i < 3; i++)
		sched_yield();
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	slurp("/proc/stat");
	CHECK("stat_ctxt_and_processes_grow", field_after(buf, "\nctxt ") > ctxt && field_after(buf, "\nprocesses ") > procs);
	CHECK("stat_intr_line", strstr(buf, "\nintr ") != NULL);
}

static void check_interrupts(void)
{
	CHECK("interrupts_readable", slurp("/proc/interrupts") > 0);
	CHECK("interrupts_header_names_cpu0", strstr(buf, "CPU0") != NULL);
	CHECK("interrupts_has_local_timer_line", strstr(buf, "LOC:") != NULL && strstr(buf, "Local timer interrupts"));
	CHECK("interrupts_has_tlb_line", strstr(buf, "TLB:") != NULL && strstr(buf, "TLB shootdowns"));
}

/* With several CPUs, runnable threads run on more than one of them. */
static volatile int spread_stop;
static volatile unsigned spread_seen;

static void *spread_spin(void *arg)
{
	(void)arg;
	while (!spread_stop) {
		unsigned cpu = 0;
		if (syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 && cpu < 32)
			__atomic_or_fetch(&spread_seen, 1u << cpu, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void check_threads_spread(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 2) {
		check_skip("threads_run_on_several_cpus", "one CPU online");
		return;
	}
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, spread_spin, NULL);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (__builtin_popcount(spread_seen) < 2 && now.tv_sec - start.tv_sec < 3);
	spread_stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECKF("threads_run_on_several_cpus", __builtin_popcount(spread_seen) >= 2, "%ld CPUs online, seen mask %#x",
	       n, spread_seen);
}

int main(void)
{
	check_init("t_cpu");
	check_threads_spread();
	int cpus = 0;
	check_affinity(&cpus);
	check_cpuinfo(cpus);
	check_stat();
	check_interrupts();
	return check_done();
}
