/*
 * t_caps.c: capget(2) (kernel/capability.c):
 * - version 3 gives 64-bit sets that agree with /proc/self/status's
 *   CapEff and CapPrm, for this process and for a child that dropped
 *   root (which has none) (matches_status, dropped_root_has_none);
 * - version 1 gives their low 32 bits (v1_low_half);
 * - an unknown version writes version 3 back and is EINVAL, or 0 with
 *   NULL data, as libcap probes (unknown_version);
 * - a negative pid is EINVAL, a pid nobody has ESRCH (bad_pids).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mmtest.h"

#define NR_CAPGET 125
#define V1 0x19980330u
#define V3 0x20080522u

struct hdr {
	uint32_t version;
	int pid;
};

struct data {
	uint32_t effective, permitted, inheritable;
};

static int err_of(long r)
{
	return r == -1 ? errno : 0;
}

/* CapEff and CapPrm of /proc/self/status. */
static int status_caps(uint64_t *eff, uint64_t *prm)
{
	static char buf[8192];
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *e = strstr(buf, "\nCapEff:"), *p = strstr(buf, "\nCapPrm:");
	if (!e || !p)
		return -1;
	*eff = strtoull(e + 8, NULL, 16);
	*prm = strtoull(p + 8, NULL, 16);
	return 0;
}

static int get3(int pid, uint64_t *eff, uint64_t *prm)
{
	struct hdr h = {V3, pid};
	struct data d[2];
	memset(d, 0xa5, sizeof d);
	if (syscall(NR_CAPGET, &h, d) != 0)
		return -1;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	return 0;
}

static int dropped(void *arg)
{
	(void)arg;
	if (drop_root() != 0)
		return child_fail("cannot drop root: errno %d", errno);
	uint64_t e, p, se, sp;
	if (get3(0, &e, &p) != 0 || status_caps(&se, &sp) != 0)
		return child_fail("capget or status: errno %d", errno);
	return e == 0 && p == 0 && se == 0 && sp == 0 ? 0 : child_fail("eff %llx prm %llx", (unsigned long long)e,
									(unsigned long long)p);
}

int main(void)
{
	check_init("t_caps");
	report_init();
	uint64_t e = 0, p = 0, se = 1, sp = 1;
	int r = get3(0, &e, &p);
	int s = status_caps(&se, &sp);
	CHECKF("matches_status", r == 0 && s == 0 && e == se && p == sp,
	       "capget %d errno %d: eff %llx prm %llx; status eff %llx prm %llx", r, errno, (unsigned long long)e,
	       (unsigned long long)p, (unsigned long long)se, (unsigned long long)sp);

	struct hdr h1 = {V1, 0};
	struct data d1 = {0, 0, 0};
	long r1 = syscall(NR_CAPGET, &h1, &d1);
	CHECKF("v1_low_half", r1 == 0 && d1.effective == (uint32_t)e && d1.permitted == (uint32_t)p,
	       "capget %ld errno %d: eff %x", r1, errno, d1.effective);

	struct hdr bad = {0x12345678, 0};
	struct data d[2];
	int ebad = err_of(syscall(NR_CAPGET, &bad, d));
	uint32_t written = bad.version;
	struct hdr probe = {0, 0};
	long rp = syscall(NR_CAPGET, &probe, NULL);
	CHECKF("unknown_version", ebad == EINVAL && written == V3 && rp == 0 && probe.version == V3,
	       "errno %d, version written %#x; probe %ld version %#x", ebad, written, rp, probe.version);

	struct hdr neg = {V3, -1}, none = {V3, 0x3fffffff};
	int en = err_of(syscall(NR_CAPGET, &neg, d));
	int es = err_of(syscall(NR_CAPGET, &none, d));
	CHECKF("bad_pids", en == EINVAL && es == ESRCH, "pid -1: %d, unknown pid: %d", en, es);

	if (geteuid() == 0)
		check_child("dropped_root_has_none", dropped, NULL);
	else
		check_skip("dropped_root_has_none", "not root");
	return check_done();
}
