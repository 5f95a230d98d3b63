/*
 * t_fuzz.c: a deterministic, seeded fuzz test of the memory system calls
 * against a model of Linux's semantics.
 *
 *   t_fuzz [SEED [CHILDREN [OPS [VERBOSE [PAGE]]]]]
 *
 * The parent runs CHILDREN (default 4) processes with the seeds SEED,
 * SEED+1, ... (default SEED 20250601) and prints one protocol line per
 * child, `test t_fuzz::seed_N ... ok`. To replay one child alone (with
 * every op printed): `t_fuzz N 1 3000 1`; PAGE: also print the model of
 * that window page whenever an op changes it.
 *
 * Each child reserves a window of WPAGES pages (PROT_NONE, MAP_NORESERVE)
 * between two guard pages (MAP_SHARED PROT_NONE pages, which never merge
 * with anything) and runs OPS random operations on it, so that nothing
 * touches libc's memory: every MAP_FIXED, munmap, mprotect, madvise,
 * mlock, msync range and every MREMAP_FIXED target lies inside the window;
 * ranges that reach beyond it are used only where the call must fail
 * before acting (or must ignore the excess). Mappings the kernel places
 * itself (mmap without MAP_FIXED, mremap moves) land in a hole of the
 * window (and are modelled) or outside it (checked, then unmapped).
 *
 * The model keeps, per page: mapped, prot, shared (object and page offset:
 * shared anonymous memory is an object with a size; pages past its size
 * raise SIGBUS, as after an mremap growth), locked (and MLOCK_ONFAULT),
 * MAP_GROWSDOWN, MADV_DONTFORK / WIPEONFORK, and the byte expected at
 * three offsets of the page (for private pages; MADV_FREE makes it "that
 * byte or zero" until the next write). Every call's result is predicted:
 * success, or failure with an errno from the set of conditions that hold
 * (several conditions may hold, and kernels check them in different
 * orders); each errno must also be one the man page lists for that call.
 * Linux facts the model relies on (all checked against Linux 6.18):
 * mprotect, madvise, mlock and munlock work area by area and stop at the
 * first area that refuses (the areas before it keep the change), a hole
 * gives ENOMEM (madvise and msync carry on past it; mlock stops);
 * mlock faults the pages in and so fails with ENOMEM on PROT_NONE pages
 * and pages past a shared object (after locking them); MADV_POPULATE_*
 * wants PROT_READ / PROT_WRITE (EINVAL) and a page inside the object
 * (EFAULT); MADV_DONTNEED, FREE, COLD and PAGEOUT refuse locked memory,
 * FREE and WIPEONFORK shared memory, REMOVE private memory (EINVAL);
 * MADV_REMOVE zeroes the object for every mapping of it; an mremap that
 * shrinks in place (or keeps the size) only unmaps the tail, whatever the
 * old range covers, and needs only its first page mapped; mremap with
 * old_size 0 maps a shared mapping's pages a second time (locked if the
 * source is), EINVAL on private memory; MREMAP_DONTUNMAP (and FIXED)
 * check new_address even when it is only a hint, and a free hint is
 * taken; a range end that wraps is EINVAL for mlock and madvise, ENOMEM
 * for mprotect and msync.
 * Where Linux versions differ, every Linux behaviour is accepted, and the
 * model follows what happened:
 *   - mremap of a range that spans several mappings: EFAULT, or (Linux
 *     6.17+, MREMAP_FIXED without a size change) a move of each mapping;
 *     after an EFAULT, older kernels have already unmapped the target (and
 *     the source tail when shrinking): such pages are re-read with mincore;
 *   - whether a range is one mapping is taken from /proc/self/maps (when
 *     /proc is there), otherwise both outcomes are accepted;
 *   - MREMAP_DONTUNMAP compares old_size and new_size as given (older) or
 *     page-aligned (6.x); it unlocks the old mapping, in Linux all of it
 *     and (6.17+) sometimes the moved pages too: the lock state of those
 *     pages is read back with msync(MS_INVALIDATE) (EBUSY when locked);
 *   - an mremap new_size beyond TASK_SIZE: EINVAL (6.x) or ENOMEM;
 *   - an unaligned mmap hint is rounded down (6.x) or up;
 *   - the stack guard gap below MAP_GROWSDOWN mappings (hints and growth
 *     in place nearby may be refused);
 *   - huge lengths without MAP_FIXED: overcommit may refuse them.
 * Periodically: the expected bytes of every readable page, mincore of
 * every mapped page (pages written since the last MADV_DONTNEED/FREE/
 * COLD/PAGEOUT must be resident when there is no swap), /proc/self/maps
 * against the model (mapped or not, rwx, shared or private; skipped when
 * /proc is missing). Occasionally a grandchild makes an access the model
 * says must fault (SIGSEGV, or SIGBUS past a shared object's end) and
 * checks copy-on-write data and MADV_WIPEONFORK zeros on the way; and
 * "hostile pointer" calls (read, write, getrandom, mincore with NULL,
 * kernel, non-canonical, unmapped, PROT_NONE or read-only buffers) must
 * fail with EFAULT. brk moves by small random steps above its start and is
 * restored at the end.
 *
 * A failing child prints the reason, the model of the pages concerned and
 * its last ops (`# ...` lines) and exits 1.
 */
#include <fcntl.h>
#include <stdint.h>
#include "check.h"
#include "mmtest.h"

#define TASK_SIZE 0x7ffffffff000UL
#define WPAGES 4096 /* 16 MiB window */
#define GAP_PAGES 256 /* Linux's stack_guard_gap */
#define BRKP 66
#define NSLOT 3
#define DEFAULT_SEED 20250601UL
#define DEFAULT_CHILDREN 4
#define DEFAULT_OPS 3000
#define MAXCHILD 16

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef SYS_mlock2
#define SYS_mlock2 325
#endif
#ifndef SYS_getrandom
#define SYS_getrandom 318
#endif
#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#define MADV_FREE_ 8
#define MADV_REMOVE_ 9
#define MADV_DONTFORK_ 10
#define MADV_DOFORK_ 11
#define MADV_WIPEONFORK_ 18
#define MADV_KEEPONFORK_ 19
#define MADV_COLD_ 20
#define MADV_PAGEOUT_ 21
#define MADV_POPULATE_READ_ 22
#define MADV_POPULATE_WRITE_ 23

static const unsigned slot_off[NSLOT] = {0, 2049, 4095};

/* ---- random numbers (splitmix64) ----------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned long below(unsigned long n)
{
	return n ? rnd() % n : 0;
}

static int chance(int pct)
{
	return (int)below(100) < pct;
}

/* ---- the model -------------------------------------------------------------- */

enum {
	F_SHARED = 1,
	F_LOCKED = 2,
	F_ONFAULT = 4,
	F_GROWSDOWN = 8,
	F_DONTFORK = 16,
	F_WIPE = 32,
	F_MAYZERO = 64, /* MADV_FREE: the byte or zero */
	F_RES = 128,    /* written since the last drop: must be resident */
};
#define F_VMA (F_SHARED | F_LOCKED | F_ONFAULT | F_GROWSDOWN | F_DONTFORK | F_WIPE)

struct pg {
	uint8_t mapped, prot, fl, val;
	uint32_t obj, off; /* shared: object and page offset in it */
};

struct obj {
	uint32_t base, size; /* in arena[], pages */
};

#define MAXOBJ 16384
#define ARENA (4u << 20)
static struct pg M[WPAGES], T[WPAGES + 1];
static struct obj objs[MAXOBJ];
static uint32_t nobj = 1, arena_used;
static uint8_t arena[ARENA];

static char *W;              /* the window's first page */
static unsigned long WB, WE; /* its bounds */
static unsigned long brk0, brkcur;
static uint8_t bval[BRKP];
static int no_swap;
static int data_fd = -1, pipe_fd[2] = {-1, -1};
static uint64_t seed;
static long nops, total_ops;
static int verbose;

static struct {
	char why[MAXCHILD][400];
} *shared_report;
static int child_index;

static inline char *pa(long i)
{
	return W + i * (long)PAGE;
}

/* PAGE_ALIGN as the kernel computes it: wraps to 0 near 2^64. */
static unsigned long palign(unsigned long x)
{
	return (x + PAGE - 1) & ~(PAGE - 1);
}

static uint32_t new_obj(uint32_t size)
{
	if (nobj >= MAXOBJ || arena_used + size > ARENA)
		return 0;
	objs[nobj].base = arena_used;
	objs[nobj].size = size;
	memset(arena + arena_used, 0, size);
	arena_used += size;
	return nobj++;
}

static int beyond(const struct pg *p)
{
	return (p->fl & F_SHARED) && p->off >= objs[p->obj].size;
}

static uint8_t *obj_byte(const struct pg *p)
{
	return &arena[objs[p->obj].base + p->off];
}

/* Whether page I is mapped as a (grand)child sees it. */
static int mapped_in(int i, int cv)
{
	return M[i].mapped && !(cv && (M[i].fl & F_DONTFORK));
}

/* An unmapped page with a MAP_GROWSDOWN mapping next above it: an access
 * there may grow that mapping rather than fault. */
static int below_growsdown(int i, int cv)
{
	for (int j = i + 1; j < WPAGES; j++)
		if (mapped_in(j, cv))
			return (M[j].fl & F_GROWSDOWN) != 0;
	return 0;
}

/* What a read (write) of page I does: 0 works, SIGSEGV, SIGBUS, -1 unknown
 * (exec-only pages may or may not be readable; growsdown expansion). */
static int read_sig(int i, int cv)
{
	const struct pg *p = &M[i];
	if (!mapped_in(i, cv))
		return below_growsdown(i, cv) ? -1 : SIGSEGV;
	int pr = p->prot & 7;
	if (pr == 0)
		return SIGSEGV;
	if (pr == PROT_EXEC)
		return -1;
	return beyond(p) ? SIGBUS : 0;
}

static int write_sig(int i, int cv)
{
	const struct pg *p = &M[i];
	if (!mapped_in(i, cv))
		return below_growsdown(i, cv) ? -1 : SIGSEGV;
	if (!(p->prot & PROT_WRITE))
		return SIGSEGV;
	return beyond(p) ? SIGBUS : 0;
}

/* Pages I-1 and I are certainly in different mappings. */
static int split_between(int i)
{
	const struct pg *a = &M[i - 1], *b = &M[i];
	if (!a->mapped || !b->mapped)
		return 1;
	if ((a->prot & 7) != (b->prot & 7) || (a->fl & F_VMA) != (b->fl & F_VMA))
		return 1;
	if ((a->fl & F_SHARED) && (a->obj != b->obj || b->off != a->off + 1))
		return 1;
	return 0;
}

static int range_free(long lo, long n)
{
	if (lo < 0 || lo + n > WPAGES)
		return 0;
	for (long i = lo; i < lo + n; i++)
		if (M[i].mapped)
			return 0;
	return 1;
}

/* A MAP_GROWSDOWN mapping starts within the stack guard gap above page END. */
static int growsdown_near(long end)
{
	for (long j = end; j < WPAGES && j < end + GAP_PAGES; j++)
		if (M[j].mapped)
			return (M[j].fl & F_GROWSDOWN) != 0;
	return 0;
}

/* ---- trace and failure ------------------------------------------------------ */

#define TRACE_N 40
static char trace[TRACE_N][256];
static long focus_lo = -1, focus_hi = -1;

static const char *fa(unsigned long a, char *buf)
{
	if (a >= WB - PAGE && a < WE + PAGE) {
		if (a >= WB)
			snprintf(buf, 40, "W+%#lx", a - WB);
		else
			snprintf(buf, 40, "W-%#lx", WB - a);
	} else {
		snprintf(buf, 40, "%#lx", a);
	}
	return buf;
}

__attribute__((format(printf, 1, 2))) static void tr(const char *fmt, ...)
{
	char *t = trace[nops % TRACE_N];
	int n = snprintf(t, sizeof trace[0], "op %ld: ", nops);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t + n, sizeof trace[0] - (size_t)n, fmt, ap);
	va_end(ap);
	if (verbose)
		check_note("# %s", t);
}

/* Append to the current op's trace line. */
__attribute__((format(printf, 1, 2))) static void tra(const char *fmt, ...)
{
	char *t = trace[nops % TRACE_N];
	size_t n = strlen(t);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t + n, sizeof trace[0] - n, fmt, ap);
	va_end(ap);
	if (verbose)
		check_note("#   -> %s", t + n);
}

static void focus(long lo, long hi)
{
	focus_lo = lo;
	focus_hi = hi;
}

static void describe_page(long i, char *buf, size_t len)
{
	const struct pg *p = &M[i];
	if (!p->mapped) {
		snprintf(buf, len, "page %ld: unmapped", i);
		return;
	}
	snprintf(buf, len, "page %ld: prot %d%s%s%s%s%s%s%s byte %d obj %u off %u (size %u)", i, p->prot,
		 p->fl & F_SHARED ? " shared" : " private", p->fl & F_LOCKED ? " locked" : "",
		 p->fl & F_ONFAULT ? " onfault" : "", p->fl & F_GROWSDOWN ? " growsdown" : "",
		 p->fl & F_DONTFORK ? " dontfork" : "", p->fl & F_WIPE ? " wipe" : "", p->fl & F_MAYZERO ? " mayzero" : "",
		 (p->fl & F_SHARED) ? (beyond(p) ? -1 : *obj_byte(p)) : p->val, p->obj, p->off, p->obj ? objs[p->obj].size : 0);
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	char why[360];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	check_note("# t_fuzz seed %lu: op %ld: %s", (unsigned long)seed, nops, why);
	if (focus_lo >= 0) {
		long lo = focus_lo, hi = focus_hi;
		if (hi - lo > 8)
			hi = lo + 8;
		for (long i = lo; i < hi && i < WPAGES; i++) {
			char d[200];
			describe_page(i, d, sizeof d);
			check_note("#   model %s", d);
		}
	}
	if (focus_lo >= 0 && focus_lo < WPAGES && M[focus_lo].mapped && (M[focus_lo].fl & F_SHARED))
		for (long j = 0; j < WPAGES; j++)
			if (j != focus_lo && M[j].mapped && (M[j].fl & F_SHARED) && M[j].obj == M[focus_lo].obj &&
			    M[j].off == M[focus_lo].off)
				check_note("#   page %ld maps the same object page", j);
	check_note("# t_fuzz seed %lu: the last ops (window W = %p, replay: t_fuzz %lu 1 %ld 1):", (unsigned long)seed,
		   (void *)W, (unsigned long)seed, nops + 1);
	for (long k = nops - TRACE_N + 1; k <= nops; k++)
		if (k >= 0)
			check_note("#   %s", trace[k % TRACE_N]);
	snprintf(shared_report->why[child_index], sizeof shared_report->why[0], "op %ld: %s", nops, why);
	_exit(1);
}

/* ---- raw calls and outcome checks ----------------------------------------- */

#define B(e) (1ULL << (e))
#define OKB 1ULL /* success is one of the outcomes */

enum { C_MMAP, C_MUNMAP, C_MPROTECT, C_MREMAP, C_MADVISE, C_MLOCK, C_MINCORE, C_MSYNC };
static const char *const call_name[] = {"mmap", "munmap", "mprotect", "mremap", "madvise", "mlock", "mincore", "msync"};
/* The errnos each call's man page lists. */
static const uint64_t call_errnos[] = {
	B(EACCES) | B(EAGAIN) | B(EBADF) | B(EEXIST) | B(EINVAL) | B(ENFILE) | B(ENODEV) | B(ENOMEM) | B(EPERM),
	B(EINVAL) | B(ENOMEM),
	B(EACCES) | B(EINVAL) | B(ENOMEM),
	B(EAGAIN) | B(EFAULT) | B(EINVAL) | B(ENOMEM),
	B(EACCES) | B(EAGAIN) | B(EBADF) | B(EFAULT) | B(EINVAL) | B(EIO) | B(ENOMEM) | B(EPERM),
	B(EAGAIN) | B(EINVAL) | B(ENOMEM) | B(EPERM),
	B(EAGAIN) | B(EFAULT) | B(EINVAL) | B(ENOMEM),
	B(EBUSY) | B(EINVAL) | B(ENOMEM),
};

static const char *ename(int e)
{
	static char other[16];
	switch (e) {
	case EPERM: return "EPERM";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case ENOSYS: return "ENOSYS";
	case EIO: return "EIO";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default:
		snprintf(other, sizeof other, "errno %d", e);
		return other;
	}
}

static const char *emask_str(uint64_t m, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	if (m & OKB)
		n += snprintf(buf + n, len - n, "success ");
	for (int e = 1; e < 64 && n < len; e++)
		if (m & B(e))
			n += snprintf(buf + n, len - n, "%s ", ename(e));
	if (n && buf[n - 1] == ' ')
		buf[n - 1] = '\0';
	return buf;
}

/* Check that a call which returned R (-1 = failure with ERR) matches the
 * model: MASK 0 = must succeed, else OKB and/or the errnos allowed.
 * Returns 1 if it succeeded. */
static int outcome(int call, long r, int err, uint64_t mask)
{
	char b[160];
	if (r != -1) {
		tra(" = ok");
		if (mask && !(mask & OKB))
			fail("%s succeeded, the model expects %s", call_name[call], emask_str(mask, b, sizeof b));
		return 1;
	}
	tra(" = %s", ename(err));
	if (err <= 0 || err >= 64 || !(call_errnos[call] & B(err)))
		fail("%s failed with errno %d (%s), which its man page does not list", call_name[call], err, strerror(err));
	if (!(mask & B(err)))
		fail("%s failed with %s, the model expects %s", call_name[call], ename(err),
		     mask ? emask_str(mask, b, sizeof b) : "success");
	return 0;
}

/* ---- memory contents ------------------------------------------------------- */

static volatile uint8_t *slot(char *page, int k)
{
	return (volatile uint8_t *)(page + slot_off[k]);
}

/* The byte page model P expects, and whether zero is also right. */
static uint8_t expect_byte(const struct pg *p, int *or_zero)
{
	*or_zero = 0;
	if (p->fl & F_SHARED)
		return *obj_byte(p);
	*or_zero = (p->fl & F_MAYZERO) != 0;
	return p->val;
}

/* Compare the page at ADDR (model P, which must be readable). */
static void check_page(char *addr, const struct pg *p, const char *where)
{
	int or_zero;
	uint8_t want = expect_byte(p, &or_zero);
	uint8_t got[NSLOT];
	for (int k = 0; k < NSLOT; k++)
		got[k] = *slot(addr, k);
	int ok = 1;
	for (int k = 0; k < NSLOT; k++)
		if (got[k] != want)
			ok = 0;
	if (!ok && or_zero) {
		ok = 1;
		for (int k = 0; k < NSLOT; k++)
			if (got[k] != 0)
				ok = 0;
	}
	if (!ok) {
		char b[40];
		fail("%s: page at %s reads %d/%d/%d, the model expects %d%s", where, fa((unsigned long)addr, b), got[0],
		     got[1], got[2], want, or_zero ? " (or 0 after MADV_FREE)" : "");
	}
}

static void write_page(long i, uint8_t v)
{
	for (int k = 0; k < NSLOT; k++)
		*slot(pa(i), k) = v;
	struct pg *p = &M[i];
	if (p->fl & F_SHARED) {
		*obj_byte(p) = v;
	} else {
		p->val = v;
		p->fl = (uint8_t)((p->fl & ~F_MAYZERO) | F_RES);
	}
}

/* A fresh page of a new mapping. */
static struct pg fresh(int prot, int fl, uint32_t obj, uint32_t off)
{
	struct pg p = {1, (uint8_t)(prot & 7), (uint8_t)(fl & F_VMA), 0, obj, off};
	return p;
}

static void unmap_model(long lo, long n)
{
	for (long i = lo; i < lo + n && i < WPAGES; i++)
		memset(&M[i], 0, sizeof M[i]);
}

/* Page I may have been unmapped by a failed call (older kernels unmap the
 * MREMAP_FIXED target before they find the error): ask mincore. */
static void resync(long lo, long n)
{
	for (long i = lo; i < lo + n && i < WPAGES; i++) {
		unsigned char v;
		int r = mincore(pa(i), PAGE, &v);
		if (r == 0 && !M[i].mapped) {
			focus(i, i + 1);
			fail("page %ld is mapped after a failed mremap, the model had it unmapped", i);
		}
		if (r != 0)
			memset(&M[i], 0, sizeof M[i]);
	}
}

/* A mapping the kernel placed at R (LEN bytes, model pages SLICE, NP of
 * them): inside the window it must be in a hole (returns its first page),
 * outside the window it is checked and unmapped (returns -1). */
static long placed(unsigned long r, unsigned long len, const struct pg *slice, long np)
{
	char b[40];
	if (r & (PAGE - 1))
		fail("the kernel placed a mapping at the unaligned address %s", fa(r, b));
	if (r + len <= WB - PAGE || r >= WE + PAGE) {
		/* Outside: check what is readable, then unmap it. */
		if (len <= WPAGES * PAGE) {
			for (long i = 0; i < np; i++) {
				const struct pg *p = &slice[i];
				int pr = p->prot & 7;
				if (pr == 0 || pr == PROT_EXEC || beyond(p))
					continue;
				check_page((char *)r + i * PAGE, p, "mapping placed outside the window");
			}
		}
		if (munmap((void *)r, len) != 0)
			fail("munmap of the mapping the kernel placed at %s failed: %s", fa(r, b), strerror(errno));
		tra(" [outside the window, unmapped]");
		return -1;
	}
	if (r < WB || r + len > WE)
		fail("the kernel placed a mapping over a guard page: %s + %#lx", fa(r, b), len);
	long i = (long)(r - WB) / (long)PAGE;
	if (!range_free(i, (long)(len / PAGE))) {
		focus(i, i + (long)(len / PAGE));
		fail("the kernel placed a mapping at %s + %#lx over pages the model has mapped", fa(r, b), len);
	}
	return i;
}

/* ---- /proc/self/maps --------------------------------------------------------- */

static char maps_buf[1 << 20];
static int vid[WPAGES];
static int maps_state;   /* 0 not tried, 1 works, -1 not available */
static long maps_fresh = -1; /* nops when vid[] was last read */

/* Read /proc/self/maps, check it against the model, fill vid[] (the line
 * of each window page, -1 if none). Returns 0 if it cannot be read. */
static int read_maps(void)
{
	if (maps_state < 0)
		return 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		maps_state = -1;
		return 0;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, maps_buf + n, sizeof maps_buf - 1 - n);
		if (r < 0) {
			close(fd);
			maps_state = -1;
			return 0;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n >= sizeof maps_buf - 1) {
			close(fd);
			return 0; /* too big this time */
		}
	}
	close(fd);
	maps_buf[n] = '\0';
	maps_state = 1;
	for (int i = 0; i < WPAGES; i++)
		vid[i] = -1;
	int guards = 0, line = 0;
	for (char *l = maps_buf; *l; line++) {
		char *nl = strchr(l, '\n');
		char *e;
		unsigned long start = strtoul(l, &e, 16), end = 0;
		if (*e == '-')
			end = strtoul(e + 1, &e, 16);
		char perm[5] = "????";
		if (*e == ' ')
			memcpy(perm, e + 1, 4);
		if (end > start && end > WB - PAGE && start < WE + PAGE) {
			if (start <= WB - PAGE && end > WB - PAGE)
				guards += strncmp(perm, "---s", 4) == 0;
			if (start <= WE && end > WE)
				guards += strncmp(perm, "---s", 4) == 0;
			unsigned long lo = start < WB ? WB : start, hi = end > WE ? WE : end;
			for (unsigned long a = lo; a < hi; a += PAGE) {
				long i = (long)(a - WB) / (long)PAGE;
				const struct pg *p = &M[i];
				vid[i] = line;
				char want[5];
				want[0] = p->prot & PROT_READ ? 'r' : '-';
				want[1] = p->prot & PROT_WRITE ? 'w' : '-';
				want[2] = p->prot & PROT_EXEC ? 'x' : '-';
				want[3] = p->fl & F_SHARED ? 's' : 'p';
				want[4] = '\0';
				if (!p->mapped) {
					focus(i, i + 1);
					fail("/proc/self/maps shows page %ld (%.4s) which the model has unmapped", i, perm);
				}
				if (strncmp(perm, want, 4) != 0) {
					focus(i, i + 1);
					fail("/proc/self/maps shows page %ld as %.4s, the model as %s", i, perm, want);
				}
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
	for (int i = 0; i < WPAGES; i++)
		if (M[i].mapped && vid[i] < 0) {
			focus(i, i + 1);
			fail("/proc/self/maps does not show page %d, which the model has mapped", i);
		}
	if (guards != 2)
		fail("/proc/self/maps does not show both guard pages as ---s");
	maps_fresh = nops;
	return 1;
}

/* Whether pages [LO, HI) are inside one mapping: 1 yes, 0 no, -1 unknown
 * (all mapped alike, and /proc/self/maps cannot tell). */
static int one_vma(long lo, long hi)
{
	if (hi > WPAGES || lo >= hi)
		return 0;
	for (long i = lo; i < hi; i++) {
		if (!M[i].mapped)
			return 0;
		if (i > lo && split_between(i))
			return 0;
	}
	if (maps_fresh != nops && !read_maps())
		return -1; /* no /proc: cannot tell */
	for (long i = lo + 1; i < hi; i++)
		if (vid[i] != vid[lo])
			return 0;
	return 1;
}

/* ---- picking ranges -------------------------------------------------------- */

static long pick_page(void)
{
	long p = (long)below(WPAGES);
	if (chance(45)) {
		/* Near a boundary: where the state changes. */
		for (long i = p + 1; i < WPAGES; i++) {
			if (M[i].mapped != M[i - 1].mapped || (M[i].mapped && split_between(i))) {
				long q = i - (long)below(3);
				return q < 0 ? 0 : q;
			}
		}
	}
	return p;
}

static long pick_npages(void)
{
	int r = (int)below(100);
	if (r < 40)
		return 1 + (long)below(4);
	if (r < 68)
		return 1 + (long)below(32);
	if (r < 88)
		return 1 + (long)below(256);
	if (r < 97)
		return 1 + (long)below(1024);
	return 1 + (long)below(WPAGES);
}

/* N pages as a length in bytes, sometimes not a multiple of the page size. */
static unsigned long bytes(long n)
{
	unsigned long len = (unsigned long)n * PAGE;
	if (chance(15))
		len -= 1 + below(PAGE - 1);
	return len;
}

static long clamp_n(long s, long n)
{
	return s + n > WPAGES ? WPAGES - s : n;
}

/* ---- mmap / munmap / mprotect --------------------------------------------- */

/* NP pages at the hint H are free in the window, and not within the stack
 * guard gap below a MAP_GROWSDOWN mapping. */
static int hint_free(unsigned long h, long np)
{
	if (h < WB || h >= WE || h + (unsigned long)np * PAGE > WE)
		return 0;
	long i = (long)(h - WB) / (long)PAGE;
	return range_free(i, np) && !growsdown_near(i + np);
}

static const unsigned long huge_lens[] = {1UL << 40, 1UL << 44, TASK_SIZE + PAGE, ~0UL - 100, 1UL << 47};

static void op_mmap(void)
{
	int mode = (int)below(100);
	int fixed = mode < 45, noreplace = !fixed && mode < 65, hint = !fixed && !noreplace && mode < 85;
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int huge = 0, r = (int)below(100);
	if (r < 3) {
		len = 0;
	} else if (r < 7) {
		huge = 1;
		len = huge_lens[below(5)];
	}
	if (chance(5))
		addr += 1 + below(PAGE - 1);
	int type;
	r = (int)below(100);
	type = r < 48 ? MAP_PRIVATE : r < 88 ? MAP_SHARED : r < 92 ? 0 : r < 96 ? MAP_SHARED | MAP_PRIVATE : 4 + (int)below(4);
	int prot = (int)below(8);
	if (chance(8)) {
		static const int bogus[] = {PROT_SEM, 0x10, 0x20, 0x01000000, 0x02000000, 0x40000000};
		prot |= bogus[below(6)];
	}
	int flags = MAP_ANONYMOUS | type;
	if (fixed)
		flags |= MAP_FIXED;
	if (noreplace)
		flags |= MAP_FIXED_NOREPLACE;
	if (chance(12))
		flags |= MAP_POPULATE;
	if (chance(30))
		flags |= MAP_NORESERVE;
	if (chance(8))
		flags |= MAP_GROWSDOWN;
	if (chance(4))
		flags |= MAP_LOCKED;
	if (chance(8)) {
		static const int bogus[] = {0x800, 0x1000, 0x10000, 0x80000, 0x4000000, MAP_STACK};
		flags |= bogus[below(6)];
	}
	if (!fixed && !noreplace && !hint)
		addr = chance(80) ? 0 : addr;
	if (!fixed && !noreplace && !hint && addr)
		hint = 1;
	/* Never MAP_FIXED beyond the window: a huge length must fail first. */
	if (fixed && huge && !(len > TASK_SIZE || palign(len) == 0))
		len = TASK_SIZE + PAGE;
	if (huge || len > 1024 * PAGE)
		flags &= ~(MAP_POPULATE | MAP_LOCKED); /* memory */
	int shared = (flags & 0xf) == MAP_SHARED;
	unsigned long alen = palign(len);
	uint32_t obj = 0;
	if (shared && !huge && len && alen <= WPAGES * PAGE) {
		obj = new_obj((uint32_t)(alen / PAGE));
		if (!obj) { /* the arena is full: private instead */
			flags = (flags & ~0xf) | MAP_PRIVATE;
			shared = 0;
		}
	}

	char b[40];
	tr("mmap(%s, %#lx, prot %#x, flags %#x)", fa(addr, b), len, prot, flags);
	uint64_t mask = 0;
	if (len == 0)
		mask |= B(EINVAL);
	if (len && (alen == 0 || len > TASK_SIZE))
		mask |= B(ENOMEM);
	int typ = flags & 0xf;
	if (typ != MAP_SHARED && typ != MAP_PRIVATE)
		mask |= B(EINVAL);
	if (typ == MAP_SHARED && (flags & MAP_GROWSDOWN))
		mask |= B(EINVAL);
	int fx = fixed || noreplace;
	if (len && alen && len <= TASK_SIZE && fx) {
		if (addr > TASK_SIZE - alen)
			mask |= B(ENOMEM);
		if (addr & (PAGE - 1))
			mask |= B(EINVAL);
		if (noreplace && !(addr & (PAGE - 1)) && addr <= TASK_SIZE - alen) {
			if (addr + alen > WE || !range_free(s, (long)(alen / PAGE)))
				mask |= B(EEXIST);
		}
	}
	if (!mask && huge)
		mask = OKB | B(ENOMEM); /* overcommit may refuse it */
	focus(s, s + 4);
	errno = 0;
	long ret = syscall(SYS_mmap, addr, len, prot, flags, -1, 0);
	int err = errno;
	if (!outcome(C_MMAP, ret, err, mask))
		return;
	unsigned long res = (unsigned long)ret;
	tra(" %s", fa(res, b));
	long np = (long)(alen / PAGE);
	if (fx && res != addr)
		fail("mmap with MAP_FIXED%s returned %s, not the address asked for", noreplace ? "_NOREPLACE" : "", fa(res, b));
	/* A free hint is taken, rounded down (Linux 6.x) or up (older). */
	unsigned long hd = addr & ~(PAGE - 1), hu = palign(addr);
	if (hint && hint_free(hd, np) && hint_free(hu, np) && res != hd && res != hu) {
		char b2[40];
		fail("mmap ignored the free hint %s (returned %s)", fa(addr, b2), fa(res, b));
	}
	int fl = (shared ? F_SHARED : 0) | (flags & MAP_LOCKED ? F_LOCKED : 0) | (flags & MAP_GROWSDOWN ? F_GROWSDOWN : 0);
	if (!huge)
		for (long i = 0; i < np; i++)
			T[i] = fresh(prot, fl, obj, (uint32_t)i);
	long at;
	if (fx) {
		at = (long)(res - WB) / (long)PAGE;
	} else {
		at = placed(res, alen, T, huge ? 0 : np);
		if (at < 0)
			return;
	}
	memcpy(&M[at], T, (size_t)np * sizeof T[0]);
	focus(at, at + np);
}

static void op_munmap(void)
{
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int r = (int)below(100);
	if (r < 5)
		addr += 1 + below(PAGE - 1);
	else if (r < 8)
		len = 0;
	else if (r < 11)
		len = TASK_SIZE - addr + PAGE * (1 + below(4));
	else if (r < 12)
		len = ~0UL;
	char b[40];
	tr("munmap(%s, %#lx)", fa(addr, b), len);
	uint64_t mask = 0;
	if (addr & (PAGE - 1))
		mask |= B(EINVAL);
	if (len == 0 || len > TASK_SIZE - addr)
		mask |= B(EINVAL);
	focus(s, s + n);
	errno = 0;
	long ret = syscall(SYS_munmap, addr, len);
	if (outcome(C_MUNMAP, ret, errno, mask))
		unmap_model(s, (long)(palign(len) / PAGE));
}

static void op_mprotect(void)
{
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int prot = (int)below(8);
	if (chance(6))
		prot |= PROT_SEM;
	if (chance(4))
		prot |= (int)(chance(50) ? 0x10 : 0x40000000);
	int r = (int)below(100);
	int first = -1;
	for (long i = s; i < s + n; i++)
		if (M[i].mapped) {
			first = (int)i;
			break;
		}
	if (r < 4)
		prot |= PROT_GROWSDOWN | PROT_GROWSUP;
	else if (r < 7)
		prot |= PROT_GROWSUP;
	else if (r < 10 && (first < 0 || !(M[first].fl & F_GROWSDOWN)))
		prot |= PROT_GROWSDOWN;
	r = (int)below(100);
	if (r < 4)
		addr += 1 + below(PAGE - 1);
	else if (r < 7)
		len = 0;
	else if (r < 9)
		len = ~0UL - below(100);
	char b[40];
	tr("mprotect(%s, %#lx, %#x)", fa(addr, b), len, prot);
	focus(s, s + n);
	int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	int p = prot & ~(PROT_GROWSDOWN | PROT_GROWSUP);
	uint64_t mask = 0;
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP) || (addr & (PAGE - 1)))
		mask |= B(EINVAL);
	int noop = !mask && len == 0;
	if (!mask && !noop) {
		if (addr + palign(len) <= addr)
			mask |= B(ENOMEM);
		if (p & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
			mask |= B(EINVAL);
	}
	long stop = s + n; /* pages [s, stop) change */
	int walk = 0;
	if (!mask && !noop) {
		if (grows == PROT_GROWSDOWN) {
			mask |= first < 0 ? B(ENOMEM) : B(EINVAL);
		} else if (grows == PROT_GROWSUP) {
			mask |= M[s].mapped ? B(EINVAL) : B(ENOMEM);
		} else {
			walk = 1; /* area by area until a hole */
			for (long i = s; i < s + n; i++)
				if (!M[i].mapped) {
					mask |= B(ENOMEM);
					stop = i;
					break;
				}
		}
	}
	errno = 0;
	long ret = syscall(SYS_mprotect, addr, len, prot);
	outcome(C_MPROTECT, ret, errno, mask);
	if (walk)
		for (long i = s; i < stop; i++)
			M[i].prot = (uint8_t)(p & 7);
}

/* ---- mremap -------------------------------------------------------------------- */

/* Page K after LAST of the same mapping (growth in place or by a move). */
static struct pg grown(const struct pg *last, long k)
{
	return fresh(last->prot, last->fl, last->obj, (uint32_t)(last->off + (uint32_t)k));
}

/* The old range of a move: gone, or (MREMAP_DONTUNMAP) still mapped but
 * empty if private, and unlocked. */
static void move_source(long i, int dontunmap)
{
	if (!dontunmap) {
		memset(&M[i], 0, sizeof M[i]);
		return;
	}
	M[i].fl &= (uint8_t) ~(F_LOCKED | F_ONFAULT);
	if (!(M[i].fl & F_SHARED)) {
		M[i].val = 0;
		M[i].fl &= (uint8_t) ~(F_MAYZERO | F_RES);
	}
}

/* MREMAP_DONTUNMAP unlocks the old mapping: Linux unlocks all of each
 * mapping the range touches, not only the pages moved, and (6.17+, when
 * the target lies inside the old mapping) the moved pages too. Pages
 * locked in the model around [LO, HI) in the same mapping(s) may or may
 * not be locked now: msync(MS_INVALIDATE) says (EBUSY on locked memory). */
static void resync_locks(long lo, long hi)
{
	while (lo > 0 && M[lo - 1].mapped && !split_between(lo) && (maps_fresh != nops || vid[lo - 1] == vid[lo]))
		lo--;
	while (hi < WPAGES && M[hi].mapped && !split_between(hi) && (maps_fresh != nops || vid[hi] == vid[hi - 1]))
		hi++;
	for (long i = lo; i < hi; i++) {
		if (!M[i].mapped || !(M[i].fl & F_LOCKED))
			continue;
		errno = 0;
		if (msync(pa(i), PAGE, MS_INVALIDATE) == 0)
			M[i].fl &= (uint8_t) ~(F_LOCKED | F_ONFAULT);
		else if (errno != EBUSY) {
			focus(i, i + 1);
			fail("msync(MS_INVALIDATE) of page %ld after mremap(MREMAP_DONTUNMAP): %s", i, ename(errno));
		}
	}
}

static void op_mremap(void)
{
	const int MAY = MREMAP_MAYMOVE, FIX = MREMAP_FIXED, DU = MREMAP_DONTUNMAP;
	long s = pick_page(), on = clamp_n(s, pick_npages());
	int f, r = (int)below(100);
	if (r < 28)
		f = MAY;
	else if (r < 50)
		f = MAY | FIX;
	else if (r < 60)
		f = 0;
	else if (r < 70)
		f = MAY | DU;
	else if (r < 78)
		f = MAY | FIX | DU;
	else if (r < 88)
		f = (int)below(8);
	else if (r < 93)
		f = FIX;
	else {
		static const int bogus[] = {8, 16, 0x40, (int)0x80000000};
		f = (int)below(8) | bogus[below(4)];
	}
	long nn;
	r = (int)below(100);
	if (r < 30)
		nn = on;
	else if (r < 58)
		nn = on + 1 + (long)below(on < 64 ? 64 : (unsigned long)on);
	else if (r < 85)
		nn = 1 + (long)below((unsigned long)on);
	else
		nn = pick_npages();
	unsigned long old_len = bytes(on), new_len = bytes(nn);
	if ((f & DU) && chance(75))
		new_len = old_len;
	if (chance(8))
		old_len = 0;
	if (chance(3))
		new_len = 0;
	r = (int)below(100);
	if (r < 3) {
		new_len = huge_lens[below(5)];
	} else if (r < 5) {
		old_len = 1UL << 40;
		new_len = chance(50) ? old_len : old_len + PAGE;
	}
	/* A locked mapping is populated when it grows: not by a terabyte. */
	if (palign(new_len) > WPAGES * PAGE && palign(new_len) <= TASK_SIZE && (M[s].fl & F_LOCKED))
		new_len = bytes(nn);
	unsigned long addr = (unsigned long)pa(s);
	if (chance(4))
		addr += 1 + below(PAGE - 1);
	unsigned long o = palign(old_len), n = palign(new_len);
	unsigned long new_addr = 0;
	long d = -1, dn = (long)(n / PAGE);
	if (f & (FIX | DU)) {
		d = (long)below(WPAGES);
		if (chance(15))
			d = s - (long)below(dn + 1 > WPAGES ? WPAGES : (unsigned long)dn + 1);
		if (d < 0)
			d = 0;
		if (dn <= WPAGES && d + dn > WPAGES)
			d = WPAGES - dn;
		new_addr = (unsigned long)pa(d);
		if (chance(4))
			new_addr += 1 + below(PAGE - 1);
		if ((f & DU) && !(f & FIX) && chance(30))
			new_addr = 0;
	} else if (chance(30)) {
		new_addr = (unsigned long)pa((long)below(WPAGES)); /* ignored */
	}

	/* Safety: nothing outside the window may be unmapped or moved. */
	int early = (f & ~7) || ((f & FIX) && !(f & MAY)) || ((f & DU) && (!(f & MAY) || o != n)) ||
		    (addr & (PAGE - 1)) || n == 0;
	/* MREMAP_DONTUNMAP wants old_size == new_size: compared as given
	 * (older kernels) or page-aligned (Linux 6.x). */
	uint64_t du_raw = (f & DU) && old_len != new_len ? B(EINVAL) : 0;
	int new_einval = (f & (FIX | DU)) && ((new_addr & (PAGE - 1)) || n > TASK_SIZE || new_addr > TASK_SIZE - n ||
					    (addr + o > new_addr && new_addr + n > addr));
	if (!early) {
		int src_in = o <= WPAGES * PAGE && s + (long)(o / PAGE) <= WPAGES;
		if ((f & FIX) && !new_einval && (new_addr < WB || new_addr + n > WE))
			return;
		if ((f & (FIX | DU)) && !src_in)
			return;
		if (o > n && !src_in)
			return;
	}

	char b[40], b2[40];
	tr("mremap(%s, %#lx, %#lx, %#x, %s)", fa(addr, b), old_len, new_len, f, fa(new_addr, b2));
	focus(s, s + (on < 4 ? on : 4));
	uint64_t mask = 0;
	if (early)
		mask = B(EINVAL);
	else {
		if (new_einval)
			mask |= B(EINVAL);
		if (!M[s].mapped)
			mask |= B(EFAULT);
		/* A new size beyond TASK_SIZE: EINVAL (Linux 6.x) or ENOMEM
		 * (older, no room), after the old range's EFAULT there. */
		if (n > TASK_SIZE) {
			mask |= B(EINVAL) | B(ENOMEM);
			if (o && one_vma(s, s + (long)(o / PAGE)) != 1)
				mask |= B(EFAULT);
		}
		if (mask)
			mask |= du_raw;
	}
	long ret;
	int err;
#define CALL()                                                                                                       \
	do {                                                                                                         \
		errno = 0;                                                                                           \
		ret = syscall(SYS_mremap, addr, old_len, new_len, f, new_addr);                                      \
		err = errno;                                                                                         \
	} while (0)
	if (mask) {
		CALL();
		outcome(C_MREMAP, ret, err, mask);
		return;
	}
	struct pg src = M[s];
	long op = (long)(o / PAGE);

	if (o == 0) {
		/* A second mapping of a shared mapping's pages. */
		if (!(src.fl & F_SHARED)) {
			CALL();
			outcome(C_MREMAP, ret, err, B(EINVAL));
			if (f & FIX)
				resync(d, dn);
			return;
		}
		if (!(f & MAY)) {
			CALL();
			outcome(C_MREMAP, ret, err, B(ENOMEM));
			return;
		}
		int huge = n > WPAGES * PAGE;
		long tn = huge ? 0 : dn;
		for (long i = 0; i < tn; i++)
			T[i] = grown(&src, i);
		uint64_t dm = huge ? OKB | B(ENOMEM) : 0;
		if (f & FIX) {
			/* The target is unmapped first: if that hits the source's
			 * mapping, Linux 6.x then fails with EFAULT. */
			long lo = s, hi = s + 1;
			while (lo > 0 && !split_between(lo))
				lo--;
			while (hi < WPAGES && !split_between(hi))
				hi++;
			if (d < hi && d + dn > lo)
				dm = OKB | B(EFAULT);
		}
		CALL();
		if (!outcome(C_MREMAP, ret, err, dm)) {
			if (f & FIX)
				resync(d, dn);
			return;
		}
		tra(" %s", fa((unsigned long)ret, b));
		if (f & FIX) {
			if ((unsigned long)ret != new_addr)
				fail("mremap(MREMAP_FIXED) returned %s, not new_address", fa((unsigned long)ret, b));
			memcpy(&M[d], T, (size_t)dn * sizeof T[0]);
		} else {
			long at = placed((unsigned long)ret, n, T, tn);
			if (at >= 0)
				memcpy(&M[at], T, (size_t)dn * sizeof T[0]);
		}
		return;
	}

	if (!(f & (FIX | DU))) {
		if (o >= n) {
			CALL();
			outcome(C_MREMAP, ret, err, 0);
			if ((unsigned long)ret != addr)
				fail("mremap shrinking returned %s, not the old address", fa((unsigned long)ret, b));
			unmap_model(s + (long)(n / PAGE), (long)((o - n) / PAGE));
			return;
		}
		/* Growth: in place if there is room, else a move (MAYMOVE). */
		int single = one_vma(s, s + op);
		if (single == 0) {
			CALL();
			outcome(C_MREMAP, ret, err, B(EFAULT));
			return;
		}
		int huge = n > WPAGES * PAGE;
		long np = huge ? 0 : dn;
		int fits = !huge && s + np <= WPAGES && range_free(s + op, np - op);
		int gapu = fits && growsdown_near(s + np);
		int must_inplace = fits && !gapu;
		uint64_t allow = single < 0 ? B(EFAULT) : 0;
		if (!(f & MAY) && !must_inplace)
			allow |= B(ENOMEM);
		if ((f & MAY) && huge)
			allow |= B(ENOMEM);
		if (fits || (f & MAY))
			allow |= allow ? OKB : 0;
		CALL();
		if (!outcome(C_MREMAP, ret, err, allow))
			return;
		tra(" %s", fa((unsigned long)ret, b));
		const struct pg last = M[s + op - 1];
		if ((unsigned long)ret == addr) {
			if (!fits)
				fail("mremap grew in place over pages the model has mapped");
			for (long i = op; i < np; i++)
				M[s + i] = grown(&last, i - op + 1);
			return;
		}
		if (!(f & MAY) || must_inplace)
			fail("mremap moved the mapping to %s, the model expects growth in place", fa((unsigned long)ret, b));
		memcpy(T, &M[s], (size_t)op * sizeof T[0]);
		for (long i = op; i < np; i++)
			T[i] = grown(&last, i - op + 1);
		long at = placed((unsigned long)ret, n, T, huge ? op : np);
		unmap_model(s, op);
		if (at >= 0)
			memcpy(&M[at], T, (size_t)np * sizeof T[0]);
		return;
	}

	/* MREMAP_FIXED and/or MREMAP_DONTUNMAP: mremap_to. */
	long moved = (long)((o < n ? o : n) / PAGE);
	int pure = o == n;
	int single = one_vma(s, s + moved);
	int multi_ok = pure && (f & FIX); /* Linux 6.17+: one move per mapping */
	int dontunmap = (f & DU) != 0;
	if (single == 1)
		mask = 0;
	else if (single == 0)
		mask = B(EFAULT) | (multi_ok ? OKB : 0);
	else
		mask = B(EFAULT) | OKB;
	if (du_raw)
		mask |= du_raw | (mask & B(EFAULT) && !(mask & OKB) ? 0 : OKB);
	CALL();
	if (!outcome(C_MREMAP, ret, err, mask)) {
		/* Older kernels unmapped the target (and the tail of a shrink)
		 * before they found the error. */
		if (f & FIX)
			resync(d, dn);
		if (o > n)
			resync(s + (long)(n / PAGE), (long)((o - n) / PAGE));
		return;
	}
	tra(" %s", fa((unsigned long)ret, b));
	if ((f & FIX) && (unsigned long)ret != new_addr)
		fail("mremap(MREMAP_FIXED) returned %s, not new_address", fa((unsigned long)ret, b));
	if (single == 0) {
		/* Each mapping in the range moved on its own; the target's pages
		 * across holes of the source stay as they were. */
		memcpy(T, &M[s], (size_t)moved * sizeof T[0]);
		if (dontunmap)
			resync_locks(s, s + moved);
		for (long i = 0; i < moved; i++)
			if (T[i].mapped) {
				M[d + i] = T[i];
				move_source(s + i, dontunmap);
			}
		if (dontunmap)
			resync_locks(d, d + moved);
		return;
	}
	memcpy(T, &M[s], (size_t)moved * sizeof T[0]);
	const struct pg last = M[s + moved - 1];
	for (long i = moved; i < dn; i++)
		T[i] = grown(&last, i - moved + 1);
	long at = d;
	if (!(f & FIX)) {
		unsigned long h = new_addr;
		long hp = (long)(h - WB) / (long)PAGE;
		if (h && h >= WB && h + n <= WE && range_free(hp, dn) && !growsdown_near(hp + dn) && (unsigned long)ret != h)
			fail("mremap(MREMAP_DONTUNMAP) ignored the free hint %s", fa(h, b));
		at = placed((unsigned long)ret, n, T, dn);
	}
	if (o > n)
		unmap_model(s + moved, (long)((o - n) / PAGE));
	if (dontunmap)
		resync_locks(s, s + moved);
	for (long i = 0; i < moved; i++)
		move_source(s + i, dontunmap);
	if (f & FIX)
		unmap_model(d, dn);
	if (at >= 0) {
		memcpy(&M[at], T, (size_t)dn * sizeof T[0]);
		if (dontunmap)
			resync_locks(at, at + dn);
	}
#undef CALL
}

/* ---- madvise ----------------------------------------------------------------- */

static const int valid_advice[] = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED,
				   MADV_FREE_, MADV_REMOVE_, MADV_DONTFORK_, MADV_DOFORK_, MADV_HUGEPAGE,
				   MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK_, MADV_KEEPONFORK_,
				   MADV_COLD_, MADV_PAGEOUT_, MADV_POPULATE_READ_, MADV_POPULATE_WRITE_};
#define NVALID (int)(sizeof valid_advice / sizeof valid_advice[0])

/* The error advice ADV gets from the mapping of page P, 0 if none. */
static int advice_error(int adv, const struct pg *p)
{
	int locked = (p->fl & F_LOCKED) != 0, shared = (p->fl & F_SHARED) != 0;
	switch (adv) {
	case MADV_DONTNEED:
	case MADV_COLD_:
	case MADV_PAGEOUT_:
		return locked ? EINVAL : 0;
	case MADV_FREE_:
		return locked || shared ? EINVAL : 0;
	case MADV_REMOVE_:
		return locked || !shared ? EINVAL : 0;
	case MADV_WIPEONFORK_:
		return shared ? EINVAL : 0;
	default:
		return 0;
	}
}

static void advise_page(int adv, long i)
{
	struct pg *p = &M[i];
	switch (adv) {
	case MADV_DONTNEED:
		if (!(p->fl & F_SHARED)) {
			p->val = 0;
			p->fl &= (uint8_t) ~(F_MAYZERO | F_RES);
		}
		break;
	case MADV_FREE_:
		if (p->val)
			p->fl |= F_MAYZERO;
		p->fl &= (uint8_t)~F_RES;
		break;
	case MADV_COLD_:
	case MADV_PAGEOUT_:
		p->fl &= (uint8_t)~F_RES;
		break;
	case MADV_REMOVE_:
		if (!beyond(p))
			*obj_byte(p) = 0;
		break;
	case MADV_DONTFORK_:
		p->fl |= F_DONTFORK;
		break;
	case MADV_DOFORK_:
		p->fl &= (uint8_t)~F_DONTFORK;
		break;
	case MADV_WIPEONFORK_:
		p->fl |= F_WIPE;
		break;
	case MADV_KEEPONFORK_:
		p->fl &= (uint8_t)~F_WIPE;
		break;
	}
}

static void op_madvise(void)
{
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int adv;
	if (chance(86)) {
		adv = valid_advice[below(NVALID)];
	} else {
		static const int bad[] = {5, 6, 7, 26, 50, 99, 104, 200, 1000, -1, 0x7fffffff};
		adv = bad[below(sizeof bad / sizeof bad[0])];
	}
	int r = (int)below(100);
	if (r < 4)
		addr += 1 + below(PAGE - 1);
	else if (r < 7)
		len = 0;
	else if (r < 9)
		len = chance(50) ? ~0UL - below(100) : (0UL - addr) + PAGE * (1 + below(4));
	char b[40];
	tr("madvise(%s, %#lx, %d)", fa(addr, b), len, adv);
	focus(s, s + n);
	int valid = 0;
	for (int k = 0; k < NVALID; k++)
		valid |= adv == valid_advice[k];
	uint64_t mask = 0;
	if (!valid || (addr & (PAGE - 1)))
		mask |= B(EINVAL);
	unsigned long alen = palign(len);
	if (len && (alen == 0 || addr + alen < addr))
		mask |= B(EINVAL);
	int err;
	long ret;
	if (mask || len == 0) {
		errno = 0;
		ret = syscall(SYS_madvise, addr, len, adv);
		outcome(C_MADVISE, ret, errno, mask);
		return;
	}
	/* Walk the range as Linux does, applying the advice as it goes. */
	int want = 0;
	if (adv == MADV_POPULATE_READ_ || adv == MADV_POPULATE_WRITE_) {
		for (long i = s; i < s + n && !want; i++) {
			const struct pg *p = &M[i];
			if (!p->mapped)
				want = ENOMEM;
			else if (!(p->prot & (adv == MADV_POPULATE_READ_ ? PROT_READ : PROT_WRITE)))
				want = EINVAL;
			else if (beyond(p))
				want = EFAULT;
		}
		errno = 0;
		ret = syscall(SYS_madvise, addr, len, adv);
		outcome(C_MADVISE, ret, errno, want ? B(want) : 0);
		return;
	}
	int unmapped = 0;
	long stop = s + n;
	for (long i = s; i < s + n; i++) {
		if (!M[i].mapped) {
			unmapped = 1;
			continue;
		}
		int e = advice_error(adv, &M[i]);
		if (e) {
			want = e;
			stop = i;
			break;
		}
	}
	if (!want && unmapped)
		want = ENOMEM;
	errno = 0;
	ret = syscall(SYS_madvise, addr, len, adv);
	err = errno;
	outcome(C_MADVISE, ret, err, want ? B(want) : 0);
	for (long i = s; i < stop; i++)
		if (M[i].mapped)
			advise_page(adv, i);
}

/* ---- mlock / munlock / mlock2 ------------------------------------------------ */

static void op_mlock(void)
{
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int kind = (int)below(100), mflags = 0;
	if (kind < 40) {
		kind = 0; /* mlock */
	} else if (kind < 65) {
		kind = 1; /* mlock2 */
		int r = (int)below(100);
		mflags = r < 60 ? MLOCK_ONFAULT : r < 85 ? 0 : (int)(2 << below(8));
	} else {
		kind = 2; /* munlock */
	}
	int r = (int)below(100);
	if (r < 8) {
		unsigned long off = 1 + below(PAGE - 1);
		addr += off;
		len = len > PAGE ? len - PAGE : PAGE - off; /* stays inside the window once rounded */
	} else if (r < 12) {
		len = 0;
	} else if (r < 14) {
		len = (0UL - (addr & ~(PAGE - 1))) + PAGE * (1 + below(4)); /* end wraps */
	}
	static const char *const names[] = {"mlock", "mlock2", "munlock"};
	char b[40];
	if (kind == 1)
		tr("mlock2(%s, %#lx, %#x)", fa(addr, b), len, mflags);
	else
		tr("%s(%s, %#lx)", names[kind], fa(addr, b), len);
	focus(s, s + n);
	unsigned long start = addr & ~(PAGE - 1);
	unsigned long alen = palign(len + (addr & (PAGE - 1)));
	long ps = (long)(start - WB) / (long)PAGE, pn = (long)(alen / PAGE);
	uint64_t mask = 0;
	if (kind == 1 && (mflags & ~MLOCK_ONFAULT))
		mask |= B(EINVAL);
	if (start + alen < start)
		mask |= B(EINVAL);
	long ret;
	errno = 0;
	if (mask || alen == 0) {
		if (kind == 0)
			ret = syscall(SYS_mlock, addr, len);
		else if (kind == 1)
			ret = syscall(SYS_mlock2, addr, len, mflags);
		else
			ret = syscall(SYS_munlock, addr, len);
		outcome(C_MLOCK, ret, errno, mask);
		return;
	}
	if (ps + pn > WPAGES)
		fail("internal: mlock range beyond the window");
	/* Area by area until a hole; then mlock faults the pages in, which
	 * fails (ENOMEM) for PROT_NONE pages and pages past a shared object. */
	int want = 0;
	long stop = ps + pn;
	for (long i = ps; i < ps + pn; i++)
		if (!M[i].mapped) {
			want = ENOMEM;
			stop = i;
			break;
		}
	int lock = kind != 2, onfault = kind == 1 && (mflags & MLOCK_ONFAULT);
	/* Exec-only pages: where the CPU has protection keys, Linux makes them
	 * execute-only memory, which cannot be read and so not faulted in
	 * (ENOMEM); elsewhere they are readable and lock. */
	int exec_only = 0;
	if (!want && lock && !onfault)
		for (long i = ps; i < ps + pn; i++) {
			if ((M[i].prot & 7) == 0 || beyond(&M[i]))
				want = ENOMEM;
			exec_only |= (M[i].prot & 7) == PROT_EXEC;
		}
	if (kind == 0)
		ret = syscall(SYS_mlock, addr, len);
	else if (kind == 1)
		ret = syscall(SYS_mlock2, addr, len, mflags);
	else
		ret = syscall(SYS_munlock, addr, len);
	outcome(C_MLOCK, ret, errno, want ? B(want) : exec_only ? OKB | B(ENOMEM) : 0);
	for (long i = ps; i < stop; i++) {
		M[i].fl &= (uint8_t) ~(F_LOCKED | F_ONFAULT);
		if (lock)
			M[i].fl |= (uint8_t)(F_LOCKED | (onfault ? F_ONFAULT : 0));
	}
}

/* ---- mincore / msync ------------------------------------------------------------ */

static uint8_t vecbuf[WPAGES + 64];

/* A window page whose write (WRITE) or read faults for sure, or -1. */
static long faulting_page(int write)
{
	for (int t = 0; t < 32; t++) {
		long i = (long)below(WPAGES);
		int sg = write ? write_sig((int)i, 0) : read_sig((int)i, 0);
		if (sg == SIGSEGV || sg == SIGBUS)
			return i;
	}
	return -1;
}

static void op_mincore(void)
{
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int r = (int)below(100);
	unsigned long vec = (unsigned long)vecbuf;
	int badvec = 0;
	if (r < 8) {
		vec = 0;
		badvec = 1;
	} else if (r < 14) {
		vec = chance(50) ? 0xffff888000000000UL : 0x0000800000000000UL;
		badvec = 1;
	} else if (r < 30) {
		long i = faulting_page(1);
		if (i >= 0) {
			vec = (unsigned long)pa(i);
			badvec = 1;
		}
	}
	r = (int)below(100);
	if (r < 4)
		addr += 1 + below(PAGE - 1);
	else if (r < 7 && (!badvec || vec == 0))
		len = 0;
	else if (r < 9)
		len = 1UL << 47;
	char b[40], b2[40];
	tr("mincore(%s, %#lx, %s)", fa(addr, b), len, fa(vec, b2));
	focus(s, s + n);
	uint64_t mask = 0;
	if (addr & (PAGE - 1))
		mask |= B(EINVAL);
	if (len > TASK_SIZE - (addr & ~(PAGE - 1)))
		mask |= B(ENOMEM);
	int noop = !mask && len == 0;
	if (!mask && !noop) {
		if (badvec)
			mask |= B(EFAULT);
		for (long i = s; i < s + n; i++)
			if (!M[i].mapped)
				mask |= B(ENOMEM);
	}
	memset(vecbuf, 0xee, sizeof vecbuf);
	errno = 0;
	long ret = syscall(SYS_mincore, addr, len, vec);
	if (!outcome(C_MINCORE, ret, errno, mask) || noop)
		return;
	for (long i = 0; i < n; i++) {
		uint8_t v = vecbuf[i];
		if (v > 1) {
			focus(s + i, s + i + 1);
			fail("mincore gave %#x for page %ld, not 0 or 1", v, s + i);
		}
		if (no_swap && (M[s + i].fl & F_RES) && !(M[s + i].fl & F_SHARED) && v != 1) {
			focus(s + i, s + i + 1);
			fail("mincore says page %ld is not resident, it was written and not dropped since", s + i);
		}
	}
	if (vecbuf[n] != 0xee)
		fail("mincore wrote past the %ld bytes of its vector", n);
}

static void op_msync(void)
{
	long s = pick_page(), n = clamp_n(s, pick_npages());
	unsigned long len = bytes(n), addr = (unsigned long)pa(s);
	int fl, r = (int)below(100);
	fl = r < 40 ? MS_ASYNC : r < 65 ? MS_SYNC : r < 75 ? MS_INVALIDATE : r < 85 ? MS_INVALIDATE | (chance(50) ? MS_ASYNC : MS_SYNC) : r < 90 ? 0 : r < 95 ? MS_ASYNC | MS_SYNC : (int)(8 | below(8));
	r = (int)below(100);
	if (r < 4)
		addr += 1 + below(PAGE - 1);
	else if (r < 7)
		len = 0;
	else if (r < 9)
		len = (0UL - addr) + PAGE * (1 + below(4)); /* end wraps */
	char b[40];
	tr("msync(%s, %#lx, %#x)", fa(addr, b), len, fl);
	focus(s, s + n);
	uint64_t mask = 0;
	if ((fl & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) || (addr & (PAGE - 1)) || ((fl & MS_ASYNC) && (fl & MS_SYNC)))
		mask |= B(EINVAL);
	if (addr + palign(len) < addr)
		mask |= B(ENOMEM);
	if (!mask && len) {
		int unm = 0;
		for (long i = s; i < s + n && !mask; i++) {
			if (!M[i].mapped) {
				if (fl == MS_SYNC)
					mask = B(ENOMEM);
				unm = 1;
			} else if ((fl & MS_INVALIDATE) && (M[i].fl & F_LOCKED)) {
				mask = B(EBUSY);
			}
		}
		if (!mask && unm)
			mask = B(ENOMEM);
	}
	errno = 0;
	long ret = syscall(SYS_msync, addr, len, fl);
	outcome(C_MSYNC, ret, errno, mask);
}

/* ---- brk ------------------------------------------------------------------------ */

static long brk_pages(void)
{
	return (long)((palign(brkcur) - palign(brk0)) / PAGE);
}

static char *brk_page(long i)
{
	return (char *)(palign(brk0) + (unsigned long)i * PAGE);
}

static void op_brk(void)
{
	unsigned long target;
	int r = (int)below(100);
	if (r < 8)
		target = 0;
	else if (r < 13)
		target = 1;
	else if (r < 25)
		target = palign(brk0) + below(BRKP - 1) * PAGE;
	else
		target = brk0 + below((BRKP - 2) * PAGE);
	tr("brk(%#lx) [start %#lx, now %#lx]", target, brk0, brkcur);
	unsigned long want = brkcur;
	long oldp = brk_pages();
	if (target >= brk0) {
		unsigned long na = palign(target), oa = palign(brkcur);
		int ok = 1;
		if (na > oa) {
			/* Linux wants the pages and one more above them free. */
			for (unsigned long a = oa; a < na + PAGE; a += PAGE) {
				unsigned char v;
				if (mincore((void *)a, PAGE, &v) == 0)
					ok = 0;
			}
		}
		if (ok)
			want = target;
	}
	long ret = syscall(SYS_brk, target);
	tra(" = %#lx", (unsigned long)ret);
	if ((unsigned long)ret != want)
		fail("brk(%#lx) returned %#lx, the model expects %#lx", target, (unsigned long)ret, want);
	brkcur = want;
	long np = brk_pages();
	for (long i = np; i < oldp; i++)
		bval[i] = 0; /* unmapped; reads zero when it comes back */
}

/* ---- reads and writes ------------------------------------------------------------ */

static void op_write(void)
{
	if (chance(15)) {
		long np = brk_pages();
		tr("write brk pages (%ld)", np);
		for (long i = 0; i < np; i++)
			if (chance(50)) {
				uint8_t v = (uint8_t)(1 + below(255));
				for (int k = 0; k < NSLOT; k++)
					*slot(brk_page(i), k) = v;
				bval[i] = v;
			}
		return;
	}
	long s = pick_page(), n = clamp_n(s, 1 + (long)below(32));
	tr("write pages %ld..%ld", s, s + n - 1);
	for (long i = s; i < s + n; i++)
		if (write_sig((int)i, 0) == 0)
			write_page(i, (uint8_t)(1 + below(255)));
}

static void check_window_page(long i, const char *where)
{
	focus(i, i + 1);
	check_page(pa(i), &M[i], where);
}

static void op_read(void)
{
	long s = pick_page(), n = clamp_n(s, 1 + (long)below(64));
	tr("read pages %ld..%ld", s, s + n - 1);
	for (long i = s; i < s + n; i++)
		if (read_sig((int)i, 0) == 0)
			check_window_page(i, "read");
}

/* Every readable page holds what the model says; mincore agrees on what is
 * mapped and resident; brk pages too. */
static void sweep(void)
{
	tr("sweep");
	for (long i = 0; i < WPAGES; i++)
		if (read_sig((int)i, 0) == 0)
			check_window_page(i, "sweep");
	for (long i = 0; i < WPAGES;) {
		if (!M[i].mapped) {
			unsigned char v;
			if (mincore(pa(i), PAGE, &v) == 0 || errno != ENOMEM) {
				focus(i, i + 1);
				fail("mincore of page %ld, which the model has unmapped, gave %s", i, errno ? ename(errno) : "success");
			}
			i++;
			continue;
		}
		long j = i;
		while (j < WPAGES && M[j].mapped)
			j++;
		memset(vecbuf, 0xee, sizeof vecbuf);
		if (mincore(pa(i), (size_t)(j - i) * PAGE, vecbuf) != 0) {
			focus(i, j);
			fail("mincore of the mapped pages %ld..%ld failed: %s", i, j - 1, ename(errno));
		}
		for (long k = i; k < j; k++) {
			uint8_t v = vecbuf[k - i];
			if (v > 1 || (no_swap && (M[k].fl & F_RES) && !(M[k].fl & F_SHARED) && v != 1)) {
				focus(k, k + 1);
				fail("mincore gives %#x for page %ld (written since the last drop: %s)", v, k, M[k].fl & F_RES ? "yes" : "no");
			}
		}
		i = j;
	}
	for (long i = 0; i < brk_pages(); i++)
		for (int k = 0; k < NSLOT; k++)
			if (*slot(brk_page(i), k) != bval[i])
				fail("brk page %ld reads %d, the model expects %d", i, *slot(brk_page(i), k), bval[i]);
}

/* ---- faults in a grandchild ---------------------------------------------------------- */

static void op_probe(void)
{
	int write = chance(50);
	long i = -1;
	int sig = 0;
	/* Pick among the pages that must fault, SIGBUS ones (past the end of
	 * a shared object) first when there are any. */
	static int16_t cand[WPAGES];
	long nc = 0, nbus = 0;
	int gd = 0; /* the next mapping above, as the child sees it, grows down */
	for (long c = WPAGES - 1; c >= 0; c--) {
		int sg;
		if (!mapped_in((int)c, 1)) {
			sg = gd ? -1 : SIGSEGV;
		} else {
			gd = (M[c].fl & F_GROWSDOWN) != 0;
			sg = write ? write_sig((int)c, 1) : read_sig((int)c, 1);
		}
		if (sg == SIGBUS)
			cand[nbus++] = (int16_t)c;
	}
	if (nbus && chance(60)) {
		i = cand[below((unsigned long)nbus)];
	} else {
		gd = 0;
		for (long c = WPAGES - 1; c >= 0; c--) {
			int sg;
			if (!mapped_in((int)c, 1)) {
				sg = gd ? -1 : SIGSEGV;
			} else {
				gd = (M[c].fl & F_GROWSDOWN) != 0;
				sg = write ? write_sig((int)c, 1) : read_sig((int)c, 1);
			}
			if (sg == SIGSEGV || sg == SIGBUS)
				cand[nc++] = (int16_t)c;
		}
		if (!nc)
			return;
		i = cand[below((unsigned long)nc)];
	}
	sig = write ? write_sig((int)i, 1) : read_sig((int)i, 1);
	if (sig != SIGSEGV && sig != SIGBUS)
		fail("internal: probe page %ld has signal %d", i, sig);
	/* On the way: a private page's data (copy-on-write) and a
	 * MADV_WIPEONFORK page's zeros, as the grandchild sees them. */
	long cow = -1, wipe = -1;
	for (int t = 0; t < 16; t++) {
		long c = (long)below(WPAGES);
		if (read_sig((int)c, 1) != 0)
			continue;
		if (M[c].fl & F_WIPE)
			wipe = c;
		else
			cow = c;
	}
	tr("probe: %s page %ld in a child, want %s (check page %ld, wiped page %ld)", write ? "write" : "read", i,
	   sig == SIGBUS ? "SIGBUS" : "SIGSEGV", cow, wipe);
	focus(i, i + 1);
	int or_zero = 0;
	uint8_t cow_want = cow >= 0 ? expect_byte(&M[cow], &or_zero) : 0;
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		if (wipe >= 0)
			for (int k = 0; k < NSLOT; k++)
				if (*slot(pa(wipe), k) != 0)
					_exit(3);
		if (cow >= 0) {
			uint8_t v = *slot(pa(cow), 0);
			if (v != cow_want && !(or_zero && v == 0))
				_exit(4);
		}
		if (write)
			*slot(pa(i), 0) = 0x77;
		else
			(void)*slot(pa(i), 0);
		_exit(0);
	}
	int st;
	pid_t w;
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w != pid)
		fail("waitpid: %s", strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		fail("a MADV_WIPEONFORK page (%ld) is not zero in a child", wipe);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 4)
		fail("page %ld does not hold its data (%d) in a child", cow, cow_want);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig) {
		char d[96];
		describe_status(d, sizeof d, st);
		fail("%s of page %ld in a child: %s, want %s", write ? "write" : "read", i, d, strsignal(sig));
	}
	tra(" ok");
}

/* ---- hostile pointers -------------------------------------------------------------- */

static void op_hostile(void)
{
	int call = (int)below(4); /* pread, write, getrandom, mincore */
	int into = call != 1;     /* the kernel writes the buffer */
	unsigned long p;
	int r = (int)below(100);
	long page = -1;
	if (r < 12)
		p = 0;
	else if (r < 22)
		p = 0xffff888000000000UL;
	else if (r < 30)
		p = 0xffffffff81000000UL;
	else if (r < 36)
		p = 0x0000800000000000UL; /* not canonical */
	else if (r < 40)
		p = 0x8000000000000000UL;
	else {
		page = faulting_page(into);
		p = page >= 0 ? (unsigned long)pa(page) + below(PAGE - 64) : 0;
	}
	static const char *const names[] = {"pread", "write", "getrandom", "mincore"};
	char b[40];
	tr("%s with the buffer %s (page %ld)", names[call], fa(p, b), page);
	if (page >= 0)
		focus(page, page + 1);
	long ret;
	uint64_t mask = B(EFAULT);
	errno = 0;
	switch (call) {
	case 0:
		if (data_fd < 0)
			return;
		ret = pread(data_fd, (void *)p, 64, 0);
		break;
	case 1:
		ret = write(pipe_fd[1], (void *)p, 64);
		break;
	case 2:
		ret = syscall(SYS_getrandom, p, 64, 0);
		break;
	default: {
		long m = (long)below(WPAGES);
		if (!M[m].mapped)
			mask |= B(ENOMEM);
		ret = syscall(SYS_mincore, pa(m), PAGE, p);
		break;
	}
	}
	int err = errno;
	if (ret != -1) {
		char junk[128];
		if (call == 1)
			(void)!read(pipe_fd[0], junk, sizeof junk);
		fail("%s with the buffer %s succeeded (%ld), want EFAULT", names[call], fa(p, b), ret);
	}
	if (!(mask & B(err)))
		fail("%s with the buffer %s failed with %s, want EFAULT", names[call], fa(p, b), ename(err));
	tra(" = %s", ename(err));
}

/* ---- one child: one seed ------------------------------------------------------------ */

static int have_no_swap(void)
{
	static char buf[8192];
	if (read_small_file("/proc/meminfo", buf, sizeof buf) < 0)
		return 1; /* no /proc: assume no swap (there is none in mmkernel) */
	char *l = strstr(buf, "SwapTotal:");
	return l && strtol(l + 10, NULL, 10) == 0;
}

/* A fault in the child itself: the model said the access works. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char b[40];
	fail("unexpected %s at %s (an access the model says works)", sig == SIGBUS ? "SIGBUS" : "SIGSEGV",
	     fa((unsigned long)si->si_addr, b));
}

static long watch = -1;
static char watched[200];

static int fuzz_child(void)
{
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	rng_state = seed * 0x2545f4914f6cdd1dULL + 1;
	no_swap = have_no_swap();
	const char *td = getenv("TESTDATA");
	data_fd = open(td ? td : "/etc/testdata.txt", O_RDONLY | O_CLOEXEC);
	if (pipe(pipe_fd) != 0)
		fail("pipe: %s", strerror(errno));
	fcntl(pipe_fd[0], F_SETFL, O_NONBLOCK);

	char *res = mmap(NULL, (WPAGES + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		fail("cannot reserve the window: %s", strerror(errno));
	W = res + PAGE;
	WB = (unsigned long)W;
	WE = WB + WPAGES * PAGE;
	if (mmap(res, PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
	    mmap(W + WPAGES * PAGE, PAGE, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		fail("cannot map the guard pages: %s", strerror(errno));
	for (long i = 0; i < WPAGES; i++)
		M[i] = fresh(PROT_NONE, 0, 0, 0);
	brk0 = brkcur = (unsigned long)syscall(SYS_brk, 0);
	if (verbose)
		check_note("# seed %lu: window %p..%p, brk %#lx", (unsigned long)seed, (void *)W, (void *)(W + WPAGES * PAGE), brk0);

	for (nops = 0; nops < total_ops; nops++) {
		focus_lo = -1;
		int r = (int)below(100);
		if (r < 17)
			op_mmap();
		else if (r < 25)
			op_munmap();
		else if (r < 36)
			op_mprotect();
		else if (r < 50)
			op_mremap();
		else if (r < 63)
			op_madvise();
		else if (r < 70)
			op_mlock();
		else if (r < 76)
			op_mincore();
		else if (r < 80)
			op_msync();
		else if (r < 84)
			op_brk();
		else if (r < 94)
			op_write();
		else
			op_read();
		if (watch >= 0 && watch < WPAGES) {
			char d[200];
			describe_page(watch, d, sizeof d);
			if (strcmp(d, watched) != 0)
				check_note("# watch: after op %ld: %s", nops, d);
			memcpy(watched, d, sizeof watched);
		}
		if (nops % 20 == 10)
			op_hostile();
		if (nops % 60 == 30)
			op_probe();
		if (nops % 100 == 99)
			sweep();
		if (nops % 128 == 100) {
			tr("check /proc/self/maps");
			read_maps();
		}
	}
	focus_lo = -1;
	if (verbose >= 2) { /* the model, run by run */
		for (long i = 0, j; i < WPAGES; i = j) {
			for (j = i + 1; j < WPAGES && M[j].mapped == M[i].mapped && (!M[i].mapped || !split_between(j)); j++)
				;
			char d[200];
			describe_page(i, d, sizeof d);
			check_note("# model: %ld..%ld: %s", i, j - 1, d);
		}
	}
	sweep();
	tr("check /proc/self/maps");
	if (!read_maps() && maps_state < 0)
		check_note("# t_fuzz seed %lu: /proc/self/maps cannot be read: its checks were skipped", (unsigned long)seed);
	tr("restore brk(%#lx)", brk0);
	if ((unsigned long)syscall(SYS_brk, brk0) != brk0)
		fail("brk(%#lx) to restore the start did not work", brk0);
	tr("munmap the window");
	if (munmap(res, (WPAGES + 2) * PAGE) != 0)
		fail("munmap of the window: %s", strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	check_init("t_fuzz");
	unsigned long base = argc > 1 ? strtoul(argv[1], NULL, 0) : DEFAULT_SEED;
	int children = argc > 2 ? atoi(argv[2]) : DEFAULT_CHILDREN;
	total_ops = argc > 3 ? atol(argv[3]) : DEFAULT_OPS;
	verbose = argc > 4 ? atoi(argv[4]) : 0;
	watch = argc > 5 ? atol(argv[5]) : -1; /* print this page's model when it changes */
	if (children < 1 || children > MAXCHILD)
		children = DEFAULT_CHILDREN;
	check_note("# t_fuzz: seeds %lu..%lu, %d children of %ld ops (replay one: t_fuzz SEED 1 OPS 1)", base,
		   base + (unsigned long)children - 1, children, total_ops);
	shared_report = mmap(NULL, sizeof *shared_report, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared_report == MAP_FAILED) {
		check_note("# t_fuzz: cannot map the report page: %s", strerror(errno));
		return 2;
	}
	pid_t pids[MAXCHILD];
	for (int c = 0; c < children; c++) {
		pids[c] = fork();
		if (pids[c] == 0) {
			child_index = c;
			seed = base + (unsigned long)c;
			_exit(fuzz_child());
		}
	}
	for (int c = 0; c < children; c++) {
		char name[48], d[96];
		snprintf(name, sizeof name, "seed_%lu", base + (unsigned long)c);
		if (pids[c] < 0) {
			CHECKF(name, 0, "fork: %s", strerror(errno));
			continue;
		}
		int st = 0;
		pid_t w;
		do
			w = waitpid(pids[c], &st, 0);
		while (w < 0 && errno == EINTR);
		describe_status(d, sizeof d, w == pids[c] ? st : -1);
		CHECKF(name, w == pids[c] && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s%s%s", d,
		       shared_report->why[c][0] ? ": " : "", shared_report->why[c]);
	}
	return check_done();
}
