/*
 * t_sysfs.c: /sys/devices/system/{cpu,node} as Linux's NUMA tools read
 * them, checked for consistency with each other and with /proc:
 * - cpu/online lists as many CPUs as sysconf(_SC_NPROCESSORS_ONLN);
 * - node/online lists node0 and a nodeN directory for every node in it;
 * - nodeN/meminfo: "Node N MemTotal:", MemFree, MemUsed = MemTotal -
 *   MemFree; the nodes' MemTotal add up to /proc/meminfo's (within 1%);
 * - nodeN/distance: one entry per node, 10 to itself, more to others;
 * - the nodes' cpulists together are cpu/online;
 * - nodeN/vmstat has nr_free_pages; nodeN/numastat's numa_hit grows by the
 *   pages of a new 16 MiB region;
 * - 16 MiB of new anonymous memory shows in the nodes' Active(anon) +
 *   Inactive(anon) (7/8 of it at least: Linux batches per CPU);
 * - attribute files are read-only even for root (EACCES);
 * - /proc/mounts lists sysfs on /sys.
 * Runs the same on the host Linux and in the kernel (one node, or the
 * `numa=2` matrix line).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define MAXN 64

static char buf[65536];

/* Parse a range list ("0-3,5") into a bitmap of up to MAXN*64 ids; the
 * count, or -1. */
static int parse_list(const char *s, unsigned long long *set)
{
	memset(set, 0, MAXN * sizeof *set);
	int n = 0;
	while (*s && *s != '\n') {
		char *end;
		long a = strtol(s, &end, 10), b = a;
		if (end == s)
			return -1;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long i = a; i <= b && i < MAXN * 64; i++) {
			set[i / 64] |= 1ULL << (i % 64);
			n++;
		}
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static int read_list(const char *path, unsigned long long *set)
{
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	return parse_list(buf, set);
}

/* A "Node N KEY: V kB" line of nodeN/meminfo, -1 if absent. */
static long node_kb(int nid, const char *key)
{
	char path[128], want[64];
	snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", nid);
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	snprintf(want, sizeof want, "Node %d %s:", nid, key);
	char *l = strstr(buf, want);
	return l ? atol(l + strlen(want)) : -1;
}

static long nodes_lru_anon_kb(const unsigned long long *nodes)
{
	long sum = 0;
	for (int n = 0; n < MAXN * 64; n++)
		if (nodes[n / 64] >> (n % 64) & 1)
			sum += node_kb(n, "Active(anon)") + node_kb(n, "Inactive(anon)");
	return sum;
}

int main(void)
{
	check_init("t_sysfs");
	unsigned long long cpus[MAXN], nodes[MAXN], union_[MAXN] = {0}, one[MAXN];
	int ncpu = read_list("/sys/devices/system/cpu/online", cpus);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	CHECKF("cpu_online", ncpu > 0 && ncpu == online, "cpu/online lists %d, sysconf %ld", ncpu, online);

	int nn = read_list("/sys/devices/system/node/online", nodes);
	int dirs_ok = nn > 0 && (nodes[0] & 1);
	for (int n = 0; dirs_ok && n < MAXN * 64; n++) {
		if (!(nodes[n / 64] >> (n % 64) & 1))
			continue;
		char path[96];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d", n);
		DIR *d = opendir(path);
		dirs_ok = d != NULL;
		if (d)
			closedir(d);
	}
	CHECKF("node_dirs", dirs_ok, "node/online lists %d nodes, a nodeN directory missing", nn);

	long sum_total = 0;
	int meminfo_ok = nn > 0, distance_ok = nn > 0, vmstat_ok = nn > 0;
	for (int n = 0; n < MAXN * 64 && nn > 0; n++) {
		if (!(nodes[n / 64] >> (n % 64) & 1))
			continue;
		long total = node_kb(n, "MemTotal"), free = node_kb(n, "MemFree"), used = node_kb(n, "MemUsed");
		if (total <= 0 || free < 0 || free > total || used != total - free) {
			printf("# node%d: MemTotal %ld MemFree %ld MemUsed %ld kB\n", n, total, free, used);
			meminfo_ok = 0;
		}
		sum_total += total;
		char path[96];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/distance", n);
		if (read_small_file(path, buf, sizeof buf) < 0) {
			distance_ok = 0;
		} else {
			char *p = buf;
			for (int to = 0; to < nn; to++) {
				char *end;
				long d = strtol(p, &end, 10);
				if (end == p || (to == n ? d != 10 : d <= 10))
					distance_ok = 0;
				p = end;
			}
		}
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", n);
		if (read_list(path, one) >= 0)
			for (int i = 0; i < MAXN; i++)
				union_[i] |= one[i];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/vmstat", n);
		if (read_small_file(path, buf, sizeof buf) < 0 || !strstr(buf, "nr_free_pages "))
			vmstat_ok = 0;
	}
	long mem_total = meminfo_kb("MemTotal");
	CHECKF("node_meminfo", meminfo_ok, "see the lines above");
	long diff = sum_total > mem_total ? sum_total - mem_total : mem_total - sum_total;
	CHECKF("node_totals_add_up", diff * 100 <= mem_total, "nodes %ld kB, /proc/meminfo %ld kB", sum_total,
	       mem_total);
	CHECKF("node_distance", distance_ok, "a distance row is not 10 to itself and more to the others");
	CHECKF("cpulists_cover_online", memcmp(union_, cpus, sizeof cpus) == 0, "the nodes' cpulists differ from cpu/online");
	CHECKF("node_vmstat", vmstat_ok, "a nodeN/vmstat without nr_free_pages");

	long hit0 = 0, hit1 = 0;
	for (int n = 0; n < nn; n++) {
		char path[96];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/numastat", n);
		if (read_small_file(path, buf, sizeof buf) >= 0 && strstr(buf, "numa_hit ") && strstr(buf, "local_node "))
			hit0 += atol(strstr(buf, "numa_hit ") + 9);
		else
			hit0 = -(1L << 30);
	}
	long before = nodes_lru_anon_kb(nodes);
	size_t len = 16 << 20;
	char *p = anon(len);
	if (p)
		stamp_pages(p, len, 0x5f5);
	long after = nodes_lru_anon_kb(nodes);
	for (int n = 0; n < nn; n++) {
		char path[96];
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/numastat", n);
		if (read_small_file(path, buf, sizeof buf) >= 0 && strstr(buf, "numa_hit "))
			hit1 += atol(strstr(buf, "numa_hit ") + 9);
	}
	CHECKF("node_numastat", hit0 >= 0 && hit1 - hit0 >= (long)(len / PAGE) * 7 / 8, "numa_hit %ld -> %ld", hit0,
	       hit1);
	CHECKF("node_lru_anon", p && after - before >= (long)(len >> 10) * 7 / 8, "nodes' anon lists %ld -> %ld kB",
	       before, after);
	if (p)
		munmap(p, len);

	int fd = open("/sys/devices/system/node/node0/meminfo", O_WRONLY);
	CHECKF("read_only", fd < 0 && errno == EACCES, "open for writing: fd %d errno %d", fd, errno);
	if (fd >= 0)
		close(fd);

	read_small_file("/proc/mounts", buf, sizeof buf);
	CHECKF("mounted", strstr(buf, " /sys sysfs ") != NULL, "no sysfs on /sys in /proc/mounts");
	return check_done();
}
