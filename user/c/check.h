/*
 * check.h: the user-level test protocol, shared by every C test program
 * (the Rust side is rt::test in user/rust/rt/src/test.rs).
 *
 * One line per case and a summary, parsed by the kernel's harness and by
 * the host runner (user/Makefile host-test):
 *
 *   test PROGRAM::CASE ... ok
 *   test PROGRAM::CASE ... ok (skipped: REASON)
 *   test PROGRAM::CASE ... FAILED (REASON)
 *   PROGRAM: N passed, M failed
 *
 * Exit status 0 iff M == 0 (return check_done() from main).
 *
 * Every line is formatted with snprintf and written with a single write(2)
 * on fd 1, not through stdio: nothing sits in a stdio buffer across fork()
 * (which would print it twice), and lines of a parent and its children do
 * not interleave.
 *
 * Usage:
 *   check_init("t_foo");
 *   CHECK("name", cond);                          reason: the condition text
 *   CHECKF("name", cond, "r=%ld errno=%d", r, e); reason: formatted
 *   CHECK_ERRNO("name", close(-1), EBADF);       call must fail with EBADF
 *   check_skip("name", "not root");
 *   return check_done();
 */
#ifndef CHECK_H
#define CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *check_prog = "?";
static int check_passed, check_failed;

/* Write a whole buffer to fd 1, retrying short writes. */
static inline void check_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(1, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Name the program: the one word printed before "::" and in the summary. */
static inline void check_init(const char *prog)
{
	check_prog = prog;
}

/* Print a free-form line (not part of the protocol; parsers ignore it). */
__attribute__((format(printf, 1, 2)))
static inline void check_note(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	check_write(buf, (size_t)n);
}

/* Record case NAME; when !ok the reason is formatted from FMT. Returns ok. */
__attribute__((format(printf, 3, 4)))
static inline int check_result(const char *name, int ok, const char *fmt, ...)
{
	char buf[512];
	size_t cap = sizeof buf - 2; /* room for ")\n" */
	int n = snprintf(buf, cap, "test %s::%s ... %s", check_prog, name, ok ? "ok" : "FAILED (");
	if (n < 0)
		n = 0;
	if ((size_t)n > cap - 1)
		n = (int)cap - 1;
	if (!ok) {
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
		va_end(ap);
		n += m < 0 ? 0 : m;
		if ((size_t)n > cap - 1)
			n = (int)cap - 1;
		buf[n++] = ')';
		check_failed++;
	} else {
		check_passed++;
	}
	buf[n++] = '\n';
	check_write(buf, (size_t)n);
	return ok;
}

/* Record case NAME as passed without running it, saying why. */
static inline void check_skip(const char *name, const char *why)
{
	check_passed++;
	check_note("test %s::%s ... ok (skipped: %s)", check_prog, name, why);
}

/* Print the summary line; return the exit status (0 iff nothing failed). */
static inline int check_done(void)
{
	check_note("%s: %d passed, %d failed", check_prog, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#define CHECK(name, cond) check_result((name), !!(cond), "%s", #cond)
#define CHECKF(name, cond, ...) check_result((name), !!(cond), __VA_ARGS__)

/* Case NAME: EXPR (a libc call) must fail with -1 and errno WANT. */
#define CHECK_ERRNO(name, expr, want)                                                              \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(expr);                                                            \
		int e_ = errno;                                                                    \
		CHECKF((name), r_ == -1 && e_ == (want), "%s returned %ld, errno %d (%s), want %s", \
		       #expr, r_, e_, strerror(e_), #want);                                         \
	} while (0)

#endif /* CHECK_H */
