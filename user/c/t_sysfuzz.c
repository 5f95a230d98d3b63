/*
 * t_sysfuzz.c: a random-system-call fuzzer. Whatever a process asks, the
 * kernel must answer and keep running, and give back every page.
 *
 *   t_sysfuzz [SEED [CALLS [CHILDREN [VERBOSE]]]]
 *
 * Defaults: SEED 1, CALLS 20000, CHILDREN 4, VERBOSE 0. The parent keeps
 * CHILDREN processes fuzzing until CALLS calls have been made in all;
 * even slots run as root, odd ones as uid/gid 65534. Each child makes at
 * most CHILD_CALLS calls, then exits and is replaced by a fresh one (so a
 * child that ruined its own address space or limits does not stay
 * useless); a child that makes no progress for WATCHDOG_MS (it blocked in
 * a read, a sleep, a wait) is killed with SIGKILL and replaced; a child
 * that dies of a signal (it unmapped its own stack, sent itself SIGKILL)
 * is replaced too. Child number i of the run uses seed SEED * 1000003 + i,
 * so its call sequence is reproducible: `t_sysfuzz SEED N 1 1` prints
 * every call of the first child before making it.
 *
 * A call is a system-call number (every number from 0 to 335, a few
 * above, and some absurd ones) with arguments drawn by type from edge
 * sets (see `gen_arg`):
 *   pointers  NULL, a valid buffer and its last bytes before an unmapped
 *             page, an unmapped page, a read-only page, a PROT_NONE page,
 *             the program's text, the last user page, the kernel's direct
 *             map and text, vmalloc, non-canonical addresses
 *   sizes     0, 1, 8, 4095, 4096, 4097, 64 KiB, 1 MiB, 1 GiB, 2^32,
 *             2^47, INT_MAX, LONG_MAX, -1, -4096, random
 *   flags     random bits, and values the calls know (O_*, PROT_*,
 *             MAP_*, MADV_*, CLONE_*)
 *   fds       the child's open files (/dev/null, a data file, pipes,
 *             /proc files), closed ones, -1, AT_FDCWD, 2^20, INT_MAX
 *   paths     real files, /proc and /proc/sys files, missing ones, an
 *             empty string, a string running into an unmapped page
 *   pids      0, itself, its group, missing pids, INT_MIN (1 and -1 only
 *             where they cannot hit the fuzzer's own parent)
 * Memory calls aim mostly at a 64-page window of the child's own, so the
 * child survives long enough to make many calls.
 *
 * Not called: reboot, kexec, module loading, ptrace and process_vm_*:
 * calls that, once implemented, reach outside the child by design.
 *
 * Checked at the end, as pid 1 under this kernel (the `sysfuzz` matrix
 * line): every child is reaped, the /proc/sys/vm values the root children
 * may have changed are put back, the System V shared memory segments they
 * made (which outlive them, as in Linux) are removed, caches are dropped, and MemFree plus
 * Slab must be exactly what they were before the first call (every page
 * of processes, page tables, kernel stacks and vmalloc is back), with at
 * most SLAB_OBJECT_SLACK more slab objects (long-lived kernel lists that
 * grew may keep a partly used slab). That the kernel did not
 * panic or oops is checked by the run itself: QEMU exits with the
 * program's status only if the kernel lives to report it.
 *
 * FUZZ_SKIP=NR,NR,... in the environment leaves those numbers out too
 * (to get past a known bug and look for the next one); FUZZ_ONLY=NR,...
 * calls only those (to find which calls a leak needs).
 *
 * It refuses to run on a kernel whose uname release does not say
 * mmkernel (random system calls as root would damage a real machine)
 * unless FUZZ_ANY_KERNEL=1 is set in the environment.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MAX_CHILDREN 16
#define CHILD_CALLS 2000
#define WATCHDOG_MS 1000
#define PAGE 4096UL
#define WINDOW_PAGES 64
/* Slab objects the kernel may keep after the run: capacity of its
 * long-lived lists (children, sleepers) grown by the run. */
#define SLAB_OBJECT_SLACK 16

/* One slot of the shared page per child: the parent watches `calls` to
 * see progress, and prints the last call when a child hangs. */
struct slot {
	volatile uint64_t calls;
	volatile uint64_t nr;
	volatile uint64_t a[6];
};

static struct slot *slots;

/* ---- random numbers: splitmix64 ------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

#define PICK(arr) ((arr)[below(sizeof(arr) / sizeof((arr)[0]))])

/* ---- raw system calls: no libc, no errno, no TLS in the child loop ---- */

static inline long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* fork, vfork and clone: the new process exits at once, inside the asm,
 * touching no memory (clone may have given it any stack, and a vfork
 * child shares the parent's). */
static inline long raw_fork_like(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov $60, %%eax\n\t"
			 "xor %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "1:"
			 : "=a"(ret), "+D"(a)
			 : "a"(nr), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline __attribute__((noreturn)) void raw_exit(int code)
{
	for (;;)
		raw6(60, code, 0, 0, 0, 0, 0);
}

/* ---- the child's world ----------------------------------------------- */

/* Argument types of the calls the kernel knows (others get X for all). */
enum { X = 0, F, P, S, L, A, W, K, G, I };

struct sig {
	int nr;
	unsigned char t[6];
};

static const struct sig sigs[] = {
	{0, {F, P, S}},          {1, {F, P, S}},          {2, {A, L, L}},       {3, {F}},
	{4, {A, P}},             {5, {F, P}},             {6, {A, P}},          {7, {P, S, I}},
	{8, {F, S, I}},          {9, {W, S, L, L, F, S}}, {10, {W, S, L}},      {11, {W, S}},
	{12, {W}},               {13, {G, P, P, S}},      {14, {I, P, P, S}},   {16, {F, L, P}},
	{17, {F, P, S, S}},      {18, {F, P, S, S}},      {19, {F, P, S}},      {20, {F, P, S}},
	{21, {A, L}},            {22, {P}},               {23, {S, P, P, P, P}}, {25, {W, S, S, L, W}},
	{26, {W, S, L}},         {27, {W, S, P}},         {28, {W, S, I}},      {32, {F}},
	{33, {F, F}},            {35, {P, P}},            {40, {F, F, P, S}},   {56, {L, P, P, P, S}},
	{59, {A, P, P}},         {61, {K, P, L, P}},      {62, {K, G}},         {63, {P}},
	{72, {F, L, X}},         {79, {P, S}},            {80, {A}},            {89, {A, P, S}},
	{96, {P, P}},            {97, {I, P}},            {98, {I, P}},         {99, {P}},
	{105, {I}},              {106, {I}},              {109, {K, K}},        {113, {I, I}},
	{114, {I, I}},           {117, {I, I, I}},        {118, {P, P, P}},     {119, {I, I, I}},
	{120, {P, P, P}},        {121, {K}},              {124, {K}},           {131, {P, P}},
	{149, {W, S}},           {150, {W, S}},           {151, {L}},           {157, {I, P, S, S, S}},
	{158, {L, P}},           {160, {I, P}},           {200, {K, G}},        {201, {P}},
	{217, {F, P, S}},        {218, {P}},              {228, {I, P}},        {229, {I, P}},
	{230, {I, L, P, P}},     {234, {K, K, G}},        {257, {F, A, L, L}},  {262, {F, A, P, L}},
	{267, {F, A, P, S}},     {269, {F, A, L}},        {273, {P, S}},        {274, {K, P, P}},
	{293, {P, L}},           {302, {K, I, P, P}},     {318, {P, S, L}},     {325, {W, S, L}},
	/* Signals, timers, waiting and polling (issue 12). */
	{15, {X}},               {34, {X}},               {36, {I, P}},         {37, {I}},
	{38, {I, P, P}},         {127, {P, S}},           {128, {P, P, P, S}},  {129, {K, G, P}},
	{130, {P, S}},           {213, {I}},              {222, {I, P, P}},     {223, {I, I, P, P}},
	{224, {I, P}},           {225, {I}},              {226, {I}},           {219, {X}},
	{232, {F, P, I, I}},     {233, {F, I, F, P}},     {247, {I, K, P, L, P}}, {270, {I, P, P, P, P, P}},
	{271, {P, I, P, P, S}},  {281, {F, P, I, I, P, S}}, {283, {I, L}},      {284, {I}},
	{286, {F, L, P, P}},     {287, {F, P}},           {290, {I, L}},        {291, {L}},
	{297, {K, K, G, P}},     {424, {F, G, P, L}},     {434, {K, L}},        {441, {F, P, I, P, P, S}},
	{282, {F, P, S}},        {289, {F, P, S, L}},
	/* Supplementary groups, cachestat, remap_file_pages. */
	{115, {I, P}},           {116, {I, P}},           {451, {F, P, P, I}},  {216, {W, S, L, L, L}},
	{202, {W, I, I, P, W, L}},  {203, {K, S, P}},        {204, {K, S, P}},     {309, {P, P, P}},
};

/* Numbers the user asked to leave out (FUZZ_SKIP=NR,NR,...), to get
 * past one known bug and look for the next. */
static long skip[32], only[32];
static int nskip, nonly;

static int parse_list(const char *s, long *out)
{
	int n = 0;
	while (s && *s && n < 32) {
		char *end;
		long v = strtol(s, &end, 0);
		if (end == s)
			break;
		out[n++] = v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Numbers never called (see the header). */
static int excluded(long nr)
{
	for (int i = 0; i < nskip; i++)
		if (skip[i] == nr)
			return 1;
	switch (nr) {
	case 101: /* ptrace */
	case 169: /* reboot */
	case 175: /* init_module */
	case 176: /* delete_module */
	case 246: /* kexec_load */
	case 310: /* process_vm_readv */
	case 311: /* process_vm_writev */
	case 313: /* finit_module */
	case 320: /* kexec_file_load */
		return 1;
	}
	return 0;
}

static uint64_t ptrs[24], nptrs;
static uint64_t paths[24], npaths;
static long fds[16], nfds;
static long pids[10], npids;
static uint64_t window;
static int my_pid;

static const uint64_t sizes[] = {
	0, 1, 7, 8, 16, 24, 64, 4095, 4096, 4097, 8192, 65536, 1UL << 20, 1UL << 30,
	1UL << 31, 1UL << 32, 1UL << 47, 0x7fffffffUL, 0xffffffffUL, 0x7fffffffffffffffUL,
	(uint64_t)-1, (uint64_t)-4096, 0x8000000000000000UL,
};

static const uint64_t flag_values[] = {
	0, 1, 2, 3, 4, 0x40, 0x80, 0x200, 0x400, 0x800, 0x10000, 0x80000, 0x101000, 0x410000,
	/* PROT_* */ 5, 6, 7, 0x1000000, 0x2000000,
	/* MAP_* */ 0x22, 0x21, 0x32, 0x31, 0x122, 0x2022, 0x4022, 0x8022, 0x10022, 0x40022,
	0x100022, 0x200022, 0x40000,
	/* MREMAP_* */ 1 | 2, 4, 2 | 4,
	/* CLONE_* */ 0x11, 0x4111, 0x1200011, 0x100, 0x10000, 0x10900, 0x3d0f00, 0x20000000,
	/* MCL_* */ 1 | 2 | 4,
	/* F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ */ 1030, 1031, 1032,
	0x7fffffff, 0x80000000, 0xffffffff, (uint64_t)-1,
};

static uint64_t gen_arg(int type)
{
	if (type == X)
		type = 1 + below(I);
	switch (type) {
	case F:
		return (uint64_t)fds[below(nfds)];
	case P:
		return below(8) ? ptrs[below(nptrs)] + (below(4) ? 0 : below(64)) : rnd();
	case S:
		return below(4) ? PICK(sizes) : below(8) ? below(1 << 16) : rnd();
	case L:
		switch (below(4)) {
		case 0:
			return rnd();
		case 1:
			return (1UL << below(32)) | (below(2) ? 1UL << below(32) : 0);
		default:
			return PICK(flag_values);
		}
	case A:
		return below(16) ? paths[below(npaths)] : ptrs[below(nptrs)];
	case W: {
		if (below(8) == 0)
			return ptrs[below(nptrs)];
		uint64_t a = window + below(WINDOW_PAGES) * PAGE;
		return below(8) ? a : a + below(PAGE);
	}
	case K:
		return (uint64_t)pids[below(npids)];
	case G:
		return below(16) ? below(66) : rnd();
	case I:
		return below(4) ? below(72) - 5 : PICK(sizes);
	}
	return rnd();
}

static const struct sig *sig_of(long nr)
{
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigs[i].nr == nr)
			return &sigs[i];
	return NULL;
}

static long pick_nr(void)
{
	for (;;) {
		long nr;
		if (nonly)
			return only[below(nonly)];
		switch (below(16)) {
		case 0:
			nr = 336 + below(200); /* above the table */
			break;
		case 1:
			nr = (long)PICK(sizes); /* absurd numbers */
			break;
		case 2:
		case 3:
		case 4:
		case 5:
			nr = below(336);
			break;
		default:
			nr = sigs[below(sizeof sigs / sizeof sigs[0])].nr;
		}
		if (excluded(nr))
			continue;
		/* Calls that end the child: rarely. Signals end it often (most
		 * go to itself or its group), so they are made less often too:
		 * longer lives build up more state for the other calls. */
		if ((nr == 60 || nr == 231 || nr == 59) && below(20))
			continue;
		if ((nr == 62 || nr == 200 || nr == 234) && below(4))
			continue;
		/* rt_sigreturn outside a handler reads a frame of garbage: SIGSEGV.
		 * pause and sigsuspend wait for a signal, which may never come
		 * once the child's own alarm(2) replaced its timer. */
		if ((nr == 15 || nr == 219 || nr == 34 || nr == 130) && below(20))
			continue;
		return nr;
	}
}

/* Buffers, paths and the memory window the arguments point into. */
static void setup_world(void)
{
	char *m = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		raw_exit(3);
	/* m: 3 pages buffer | unmapped | read-only | PROT_NONE | strings | unmapped */
	memset(m, 'a', 3 * PAGE);
	munmap(m + 3 * PAGE, PAGE);
	mprotect(m + 4 * PAGE, PAGE, PROT_READ);
	mprotect(m + 5 * PAGE, PAGE, PROT_NONE);
	munmap(m + 7 * PAGE, PAGE);
	char *s = m + 6 * PAGE;
	static const char *names[] = {
		"/etc/testdata.txt", "/dev/null", "/proc/self/maps", "/proc/meminfo", "/", "/proc",
		"/nonexistent/x", "", "/bin/hello", "/etc/not-elf", "/proc/sys/vm/overcommit_memory",
		"/proc/self/oom_score_adj", "/dev/zero", "/proc/1/maps", "/proc/sys/fs/pipe-max-size",
		"/proc/self/smaps",
	};
	char *p = s;
	npaths = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t n = strlen(names[i]) + 1;
		memcpy(p, names[i], n);
		paths[npaths++] = (uint64_t)p;
		p += n;
	}
	memset(p, 'b', (size_t)(m + 7 * PAGE - p)); /* no NUL before the hole */
	paths[npaths++] = (uint64_t)(m + 7 * PAGE - 100);

	uint64_t text = (uint64_t)&setup_world;
	uint64_t ptr_values[] = {
		0,
		(uint64_t)m,
		(uint64_t)m + PAGE + 123,
		(uint64_t)m + 3 * PAGE - 8,
		(uint64_t)m + 3 * PAGE - 1,
		(uint64_t)m + 3 * PAGE,
		(uint64_t)m + 4 * PAGE,
		(uint64_t)m + 5 * PAGE,
		text,
		(uint64_t)&rng,
		0x7ffffffff000UL,
		0x7ffffffffff8UL,
		0x800000000000UL,
		0xffff800000000000UL,
		0xffff888000000000UL,
		0xffff888000100000UL,
		0xffffc90000000000UL,
		0xffffffff80000000UL,
		0xffffffff81000000UL,
		0xdeadbeefdeadbeefUL,
		(uint64_t)-4096,
		4096,
	};
	nptrs = 0;
	for (size_t i = 0; i < sizeof ptr_values / sizeof ptr_values[0]; i++)
		ptrs[nptrs++] = ptr_values[i];

	/* The window: reserved, partly mapped, for the memory calls. */
	char *w = mmap(NULL, WINDOW_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w == MAP_FAILED)
		raw_exit(3);
	for (int i = 0; i < WINDOW_PAGES; i += 4)
		mprotect(w + i * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
	window = (uint64_t)w;
}

/* Files: 0-2 /dev/null, then a data file, two pipes (blocking with data,
 * non-blocking), /proc files, /dev/zero; plus bad numbers. */
static void setup_files(int keep_fd)
{
	for (int fd = 0; fd < 64; fd++)
		if (fd != keep_fd)
			close(fd);
	open("/dev/null", O_RDWR);
	open("/dev/null", O_RDWR);
	open("/dev/null", O_RDWR);
	int data = open("/etc/testdata.txt", O_RDONLY);
	int p[2], q[2];
	pipe(p);
	pipe2(q, O_NONBLOCK);
	char buf[512];
	memset(buf, 'p', sizeof buf);
	for (int i = 0; i < 16; i++)
		write(p[1], buf, sizeof buf);
	int maps = open("/proc/self/maps", O_RDONLY);
	int meminfo = open("/proc/meminfo", O_RDONLY);
	int zero = open("/dev/zero", O_RDONLY);
	int dir = open("/proc", O_RDONLY | O_DIRECTORY);
	long v[] = {0, 1, 2, data, p[0], p[1], q[0], q[1], maps, meminfo, zero, dir, -1, -100, 1 << 20, 0x7fffffff};
	nfds = 0;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		fds[nfds++] = v[i];
}

static void setup_pids(int as_root, int parent_is_init)
{
	npids = 0;
	pids[npids++] = 0;
	pids[npids++] = my_pid;
	pids[npids++] = -my_pid;
	pids[npids++] = 99999;
	pids[npids++] = -99999;
	pids[npids++] = (long)(int)0x80000000;
	pids[npids++] = 0x7fffffff;
	/* Other users' processes, or everyone else: only where the fuzzer's
	 * own parent is safe (it is root; or it is init, which kill(-1)
	 * skips and whose default-action signals are dropped). */
	if (!as_root || parent_is_init) {
		pids[npids++] = 1;
		pids[npids++] = -1;
	}
}

static int fmt_call(char *buf, size_t cap, long nr, const uint64_t *a)
{
	int n = snprintf(buf, cap, "# call %ld(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx)\n", nr, (unsigned long)a[0],
			 (unsigned long)a[1], (unsigned long)a[2], (unsigned long)a[3], (unsigned long)a[4],
			 (unsigned long)a[5]);
	return n < (int)cap ? n : (int)cap - 1;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static __attribute__((noreturn)) void child_main(int idx, uint64_t seed, int as_root, long budget, int verbose,
						  int parent_is_init)
{
	int vfd = -1;
	if (verbose) {
		vfd = 100;
		dup2(1, vfd);
	}
	setpgid(0, 0);
	if (!as_root) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			raw_exit(4);
	}
	my_pid = getpid();
	/* A SIGALRM every 50 ms (a handler without SA_RESTART) ends the calls
	 * that would block (pause, sigsuspend, poll without a timeout, a read
	 * of an empty pipe) with EINTR, so the child goes on; unless its own
	 * calls blocked SIGALRM or changed its action or timer, then the
	 * watchdog ends it. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 50000}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	setup_files(vfd);
	setup_world();
	setup_pids(as_root, parent_is_init);
	rng = seed;
	struct slot *me = &slots[idx];
	for (long i = 0; i < budget; i++) {
		long nr = pick_nr();
		const struct sig *s = sig_of(nr);
		uint64_t a[6];
		for (int j = 0; j < 6; j++)
			a[j] = gen_arg(s ? s->t[j] : X);
		me->nr = (uint64_t)nr;
		for (int j = 0; j < 6; j++)
			me->a[j] = a[j];
		if (verbose) {
			char line[200];
			raw6(1, vfd, (long)line, fmt_call(line, sizeof line, nr, a), 0, 0, 0);
		}
		if (nr == 56 || nr == 57 || nr == 58)
			raw_fork_like(nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4], (long)a[5]);
		else
			raw6(nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4], (long)a[5]);
		me->calls++;
	}
	raw_exit(0);
}

/* ---- the parent --------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The sysctls a root child may change, saved and put back. */
static const char *sysctls[] = {
	"/proc/sys/vm/overcommit_memory", "/proc/sys/vm/overcommit_ratio", "/proc/sys/vm/max_map_count",
	"/proc/sys/vm/min_free_kbytes",   "/proc/sys/fs/nr_open",          "/proc/sys/fs/pipe-max-size",
	"/proc/sys/fs/pipe-user-pages-soft", "/proc/sys/fs/pipe-user-pages-hard",
};
#define NR_SYSCTLS (sizeof sysctls / sizeof sysctls[0])
static char sysctl_saved[NR_SYSCTLS][32];

/* System V segments outlive the children that made them (as in Linux):
 * remove every one, as the sysctls are put back, before memory is
 * compared. SHM_STAT walks the table by index up to SHM_INFO's highest. */
static void remove_shm_segments(void)
{
	struct shm_info info;
	int highest = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
	for (int i = 0; i <= highest; i++) {
		struct shmid_ds ds;
		int id = shmctl(i, SHM_STAT, &ds);
		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	}
}

/* Semaphore sets too (SEM_STAT by index up to SEM_INFO's highest). */
static void remove_sem_sets(void)
{
	struct seminfo info;
	int highest = semctl(0, 0, SEM_INFO, &info);
	for (int i = 0; i <= highest; i++) {
		struct semid_ds ds;
		int id = semctl(i, 0, SEM_STAT, &ds);
		if (id >= 0)
			semctl(id, 0, IPC_RMID);
	}
}

/* And message queues (MSG_STAT up to MSG_INFO's highest). */
static void remove_msg_queues(void)
{
	struct msginfo info;
	int highest = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
	for (int i = 0; i <= highest; i++) {
		struct msqid_ds ds;
		int id = msgctl(i, MSG_STAT, &ds);
		if (id >= 0)
			msgctl(id, IPC_RMID, NULL);
	}
}

static void sysctl_io(int save)
{
	for (size_t i = 0; i < NR_SYSCTLS; i++) {
		int fd = open(sysctls[i], save ? O_RDONLY : O_WRONLY);
		if (fd < 0)
			continue;
		if (save) {
			ssize_t n = read(fd, sysctl_saved[i], sizeof sysctl_saved[i] - 1);
			sysctl_saved[i][n > 0 ? n : 0] = 0;
		} else if (sysctl_saved[i][0]) {
			write(fd, sysctl_saved[i], strlen(sysctl_saved[i]));
		}
		close(fd);
	}
}

/* /proc/meminfo after dropping caches, into `buf`; its MemFree in kB,
 * or -1 where caches cannot be dropped (not root, no such file). */
static long settled_meminfo(char *buf, size_t cap)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3", 1) != 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	fd = open("/proc/meminfo", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, "MemFree:");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

/* Print the meminfo lines that changed, to say where the pages went. */
static void print_meminfo_diff(const char *before, const char *after)
{
	const char *a = after;
	while (*a) {
		const char *end = strchr(a, '\n');
		size_t len = end ? (size_t)(end - a) : strlen(a);
		const char *colon = memchr(a, ':', len);
		if (colon) {
			char key[64];
			size_t klen = (size_t)(colon - a) + 1;
			if (klen < sizeof key) {
				memcpy(key, a, klen);
				key[klen] = 0;
				const char *b = strstr(before, key);
				long vb = b ? strtol(b + klen, NULL, 10) : 0, va = strtol(colon + 1, NULL, 10);
				if (vb != va)
					check_note("# %s %ld -> %ld kB", key, vb, va);
			}
		}
		a += len + (end ? 1 : 0);
	}
}

/* Read a whole /proc file into `buf` (NUL-terminated); its length. */
static long read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	long n = 0, r;
	if (fd < 0)
		return -1;
	while ((size_t)n < cap - 1 && (r = read(fd, buf + n, cap - 1 - (size_t)n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	return n;
}

/* A meminfo field in kB (0 if missing). */
static long meminfo_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? strtol(p + strlen(key), NULL, 10) : 0;
}

/* Active objects in every slab cache (the second column of slabinfo). */
static long slab_objects(const char *text)
{
	long n = 0;
	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		if (*l != '#' && strncmp(l, "slabinfo", 8) != 0) {
			const char *p = l + strcspn(l, " ");
			n += strtol(p, NULL, 10);
		}
		if (!end)
			break;
		l = end + 1;
	}
	return n;
}

/* Print the lines of `after` that differ from the line of `before` with
 * the same first word (slabinfo: one line per cache). */
static void print_changed_lines(const char *what, const char *before, const char *after)
{
	const char *a = after;
	while (*a) {
		const char *end = strchr(a, '\n');
		size_t len = end ? (size_t)(end - a) : strlen(a);
		size_t w = strcspn(a, " \n");
		const char *b = before, *match = NULL;
		size_t mlen = 0;
		while (*b) {
			const char *bend = strchr(b, '\n');
			size_t blen = bend ? (size_t)(bend - b) : strlen(b);
			if (blen >= w && strncmp(a, b, w) == 0 && (b[w] == ' ' || b[w] == '\n' || b[w] == 0)) {
				match = b;
				mlen = blen;
				break;
			}
			b += blen + (bend ? 1 : 0);
		}
		if (!match || mlen != len || strncmp(a, match, len) != 0) {
			if (match)
				check_note("# %s was: %.*s", what, (int)mlen, match);
			check_note("# %s now: %.*s", what, (int)len, a);
		}
		a += len + (end ? 1 : 0);
	}
}

/* Print /proc/PID/stat of every process but this one: whatever is still
 * there after the children were reaped holds memory. */
static void print_other_processes(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[64], line[256];
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%.40s/stat", e->d_name);
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			line[n] = 0;
			check_note("# still there: %.*s", (int)strcspn(line, "\n"), line);
		}
	}
	if (d)
		closedir(d);
}

struct run {
	uint64_t seed;
	long calls_wanted, children, verbose;
	int parent_is_init;
	pid_t pid[MAX_CHILDREN];
	uint64_t last_calls[MAX_CHILDREN], last_progress[MAX_CHILDREN];
	int killed[MAX_CHILDREN];
	long budget[MAX_CHILDREN];
	long started, done_calls, by_signal, by_watchdog, exited;
};

static void spawn(struct run *r, int i, long budget)
{
	slots[i].calls = 0;
	uint64_t seed = r->seed * 1000003ULL + (uint64_t)r->started++;
	pid_t pid = fork();
	if (pid == 0)
		child_main(i, seed, i % 2 == 0, budget, (int)r->verbose, r->parent_is_init);
	r->pid[i] = pid;
	r->last_calls[i] = 0;
	r->last_progress[i] = now_ms();
	r->killed[i] = 0;
	r->budget[i] = budget;
}

/* Reap whatever ended; returns the number of slot children reaped. */
static int reap(struct run *r, int block)
{
	int n = 0, status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
		for (int i = 0; i < r->children; i++) {
			if (r->pid[i] != pid)
				continue;
			r->done_calls += (long)slots[i].calls;
			if (r->killed[i])
				r->by_watchdog++;
			else if (WIFSIGNALED(status))
				r->by_signal++;
			else
				r->exited++;
			if (r->verbose && WIFSIGNALED(status)) {
				char line[200];
				uint64_t a[6];
				for (int j = 0; j < 6; j++)
					a[j] = slots[i].a[j];
				check_note("# child %d (pid %d) ended by signal %d after %lu calls, last:", i, pid,
					   WTERMSIG(status), (unsigned long)slots[i].calls);
				int len = fmt_call(line, sizeof line, (long)slots[i].nr, a);
				check_write(line, (size_t)len);
			}
			r->pid[i] = 0;
			n++;
		}
		block = 0;
	}
	return n;
}

static int live(struct run *r)
{
	int n = 0;
	for (int i = 0; i < r->children; i++)
		n += r->pid[i] != 0;
	return n;
}

/* Calls made, plus the budgets of the children still running. */
static long planned_calls(struct run *r)
{
	long n = r->done_calls;
	for (int i = 0; i < r->children; i++)
		if (r->pid[i])
			n += r->budget[i];
	return n;
}

int main(int argc, char **argv)
{
	check_init("t_sysfuzz");
	struct run r = {0};
	r.seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	r.calls_wanted = argc > 2 ? strtol(argv[2], NULL, 0) : 20000;
	r.children = argc > 3 ? strtol(argv[3], NULL, 0) : 4;
	r.verbose = argc > 4 ? strtol(argv[4], NULL, 0) : 0;
	if (r.children < 1 || r.children > MAX_CHILDREN)
		r.children = 4;
	r.parent_is_init = getpid() == 1;
	nskip = parse_list(getenv("FUZZ_SKIP"), skip);
	nonly = parse_list(getenv("FUZZ_ONLY"), only);

	struct utsname u;
	const char *any = getenv("FUZZ_ANY_KERNEL");
	if (uname(&u) != 0 || (!strstr(u.release, "mmkernel") && !(any && strcmp(any, "1") == 0))) {
		check_skip("fuzz", "not mmkernel (set FUZZ_ANY_KERNEL=1 to fuzz this kernel anyway)");
		return check_done();
	}

	slots = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		CHECK("shared_slots", 0);
		return check_done();
	}
	sysctl_io(1);

	/* Warm up: one round of children that make no call, so that what
	 * the kernel keeps after the first processes (task table capacity,
	 * slab caches' first slabs) is in the baseline. */
	for (int i = 0; i < r.children; i++)
		spawn(&r, i, 0);
	while (live(&r))
		reap(&r, 1);
	r.started = 0;
	r.exited = 0;
	/* Everything of ours resident before the baseline: the code that
	 * runs only at the end, both buffers (memory locks are not
	 * inherited by the children). */
	static char meminfo_before[4096], meminfo_after[4096];
	static char slabinfo_before[16384], slabinfo_after[16384];
	memset(meminfo_before, 0, sizeof meminfo_before);
	memset(meminfo_after, 0, sizeof meminfo_after);
	memset(slabinfo_before, 0, sizeof slabinfo_before);
	memset(slabinfo_after, 0, sizeof slabinfo_after);
	mlockall(MCL_CURRENT);
	long before_kb = settled_meminfo(meminfo_before, sizeof meminfo_before);
	read_file("/proc/slabinfo", slabinfo_before, sizeof slabinfo_before);

	uint64_t t0 = now_ms();
	check_note("# t_sysfuzz: seed %lu, %ld calls, %ld children", (unsigned long)r.seed, r.calls_wanted, r.children);
	for (;;) {
		for (int i = 0; i < r.children; i++) {
			long left = r.calls_wanted - planned_calls(&r);
			if (r.pid[i] == 0 && left > 0)
				spawn(&r, i, left < CHILD_CALLS ? left : CHILD_CALLS);
		}
		if (!live(&r))
			break;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		reap(&r, 0);
		uint64_t t = now_ms();
		for (int i = 0; i < r.children; i++) {
			if (!r.pid[i] || r.killed[i])
				continue;
			if (slots[i].calls != r.last_calls[i]) {
				r.last_calls[i] = slots[i].calls;
				r.last_progress[i] = t;
			} else if (t - r.last_progress[i] > WATCHDOG_MS) {
				if (r.verbose) {
					uint64_t a[6];
					char line[200];
					for (int j = 0; j < 6; j++)
						a[j] = slots[i].a[j];
					check_note("# child %d (pid %d) stuck, killed; last call:", i, r.pid[i]);
					check_write(line, (size_t)fmt_call(line, sizeof line, (long)slots[i].nr, a));
				}
				kill(r.pid[i], SIGKILL);
				r.killed[i] = 1;
			}
		}
		/* A root child's setsid/kill may not reach here; but a child's
		 * sysctl writes must not outlive it. */
		sysctl_io(0);
	}
	uint64_t ms = now_ms() - t0;
	/* Grandchildren a child left behind were handed to init: as init,
	 * end them (kill(-1) spares the caller) and reap everything, as a
	 * shutdown would. Elsewhere they are not ours to wait for. */
	if (r.parent_is_init) {
		kill(-1, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
	}
	sysctl_io(0);
	remove_shm_segments();
	remove_sem_sets();
	remove_msg_queues();
	long after_kb = settled_meminfo(meminfo_after, sizeof meminfo_after);
	read_file("/proc/slabinfo", slabinfo_after, sizeof slabinfo_after);

	check_note("t_sysfuzz: seed %lu: %ld calls by %ld processes in %lu ms (%lu calls/s): %ld exited, %ld ended by a "
		   "signal, %ld killed by the watchdog",
		   (unsigned long)r.seed, r.done_calls, r.started, (unsigned long)ms,
		   (unsigned long)(ms ? (uint64_t)r.done_calls * 1000 / ms : 0), r.exited, r.by_signal, r.by_watchdog);
	CHECKF("calls_made", r.done_calls >= r.calls_wanted, "%ld of %ld", r.done_calls, r.calls_wanted);
	if (!r.parent_is_init)
		check_skip("free_pages_at_baseline", "not init (orphans may still hold memory)");
	else if (before_kb < 0 || after_kb < 0)
		check_skip("free_pages_at_baseline", "no /proc/sys/vm/drop_caches");
	else {
		/* What changed, even on success (counters that drift while
		 * MemFree holds are bugs too). */
		print_meminfo_diff(meminfo_before, meminfo_after);
		/* Every page is back: free, or in a slab (long-lived kernel
		 * objects reallocated during the run, such as a list that
		 * grew, may leave a partly used slab behind; dropping caches
		 * frees only empty ones). Slab objects are checked apart. */
		long slab_before = meminfo_kb(meminfo_before, "Slab:"), slab_after = meminfo_kb(meminfo_after, "Slab:");
		long objs_before = slab_objects(slabinfo_before), objs_after = slab_objects(slabinfo_after);
		int pages_ok = CHECKF("free_pages_at_baseline", after_kb + slab_after == before_kb + slab_before,
				      "MemFree %ld kB before, %ld kB after (%+ld kB); Slab %+ld kB", before_kb, after_kb,
				      after_kb - before_kb, slab_after - slab_before);
		/* Some growth of long-lived containers, never a leak per call. */
		int objs_ok = CHECKF("slab_objects_at_baseline", objs_after <= objs_before + SLAB_OBJECT_SLACK,
				     "%ld active slab objects before, %ld after", objs_before, objs_after);
		if (!pages_ok || !objs_ok) {
			print_changed_lines("slabinfo", slabinfo_before, slabinfo_after);
			print_other_processes();
		}
	}
	return check_done();
}
