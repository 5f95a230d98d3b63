/*
 * t_poll.c: waiting for files as Linux has it: poll(2), ppoll, select(2),
 * pselect6, epoll(7), eventfd(2), timerfd_create(2), pidfd_open(2) and
 * pidfd_send_signal(2), O_NONBLOCK through fcntl(F_SETFL).
 *
 * - pipes: the read end is POLLIN after a write and POLLHUP once the
 *   writers are gone; the write end is POLLOUT while there is room, not
 *   when full, POLLERR once the readers are gone; a closed descriptor is
 *   POLLNVAL, a negative one ignored; select sees the same and says
 *   EBADF for a closed descriptor;
 * - timeouts: 0 returns at once, 30 ms returns 0 after at least that;
 *   ppoll, select and pselect6 write the time left back (0 after a timeout);
 *   a child's write wakes a poller that waits without a timeout;
 * - epoll: level-triggered items report while ready, EPOLLET items once
 *   per write (a partial read does not re-arm them), EPOLLONESHOT items
 *   once until EPOLL_CTL_MOD; the data word comes back; EPOLLHUP without
 *   asking; a closed file leaves the interest list (but not while a dup
 *   holds it); epoll inside epoll; EEXIST, ENOENT, EINVAL, EPERM, ELOOP,
 *   EBADF, EFAULT as Linux;
 * - eventfd: counter and semaphore reads, EAGAIN, EINVAL for short
 *   buffers and 2^64-1, the counter's ceiling, a blocked read woken by a
 *   child;
 * - timerfd: a periodic timer's expiration count, a one-shot read that
 *   waits, absolute CLOCK_REALTIME times, gettime and the old value, the
 *   errors;
 * - pidfd: readable (poll and epoll) once the child exits, not before;
 *   pidfd_send_signal kills; ESRCH after the reap; the errors;
 * - signals: poll, select, epoll_wait and ppoll (with a mask that lets
 *   the signal in) end with EINTR when a handler ran, SA_RESTART or not.
 *   Run last: a kernel without handlers dies of SIGUSR1 there.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include "check.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static short revents1(int fd, short events, int timeout)
{
	struct pollfd p = {fd, events, 0};
	int r = poll(&p, 1, timeout);
	return r < 0 ? -1 : p.revents;
}

static void check_poll_pipes(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	CHECKF("empty_pipe_not_readable", revents1(p[0], POLLIN, 0) == 0, "revents %#x", revents1(p[0], POLLIN, 0));
	short w = revents1(p[1], POLLOUT, 0);
	CHECKF("write_end_pollout", w == (POLLOUT), "revents %#x", w);
	write(p[1], "x", 1);
	short r = revents1(p[0], POLLIN | POLLRDNORM, 0);
	CHECKF("readable_after_write", r == (POLLIN | POLLRDNORM), "revents %#x", r);
	struct pollfd two[3] = {{p[0], POLLIN, 0}, {-1, POLLIN, 0}, {p[1], POLLOUT, 0}};
	int n = poll(two, 3, 0);
	CHECKF("poll_counts_ready_fds", n == 2 && two[0].revents == POLLIN && two[1].revents == 0 &&
	       two[2].revents == POLLOUT, "n %d revents %#x %#x %#x", n, two[0].revents, two[1].revents, two[2].revents);
	char c;
	read(p[0], &c, 1);
	close(p[1]);
	r = revents1(p[0], POLLIN, 0);
	CHECKF("pollhup_after_writer_closes", r == POLLHUP, "revents %#x", r);
	close(p[0]);

	if (pipe(p) < 0)
		return;
	close(p[0]);
	w = revents1(p[1], POLLOUT, 0);
	CHECKF("pollerr_without_reader", w & POLLERR, "revents %#x", w);
	close(p[1]);

	if (pipe2(p, O_NONBLOCK) < 0)
		return;
	static char block[4096];
	while (write(p[1], block, sizeof block) > 0)
		;
	w = revents1(p[1], POLLOUT, 0);
	CHECKF("full_pipe_not_writable", w == 0, "revents %#x", w);
	read(p[0], block, sizeof block);
	w = revents1(p[1], POLLOUT, 0);
	CHECKF("pollout_after_read_makes_room", w == POLLOUT, "revents %#x", w);
	close(p[0]);
	int dead = p[0];
	struct pollfd nv = {dead, POLLIN, 0};
	n = poll(&nv, 1, 0);
	CHECKF("closed_fd_pollnval", n == 1 && nv.revents == POLLNVAL, "n %d revents %#x", n, nv.revents);
	close(p[1]);

	int null = open("/dev/null", O_RDWR);
	r = revents1(null, POLLIN | POLLOUT, 0);
	CHECKF("dev_null_always_ready", r == (POLLIN | POLLOUT), "revents %#x", r);
	close(null);
}

static void check_poll_timeouts(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	long t0 = now_ms();
	int n = poll(NULL, 0, 0);
	CHECKF("zero_timeout_returns_at_once", n == 0 && now_ms() - t0 < 20, "n %d after %ld ms", n, now_ms() - t0);
	struct pollfd pf = {p[0], POLLIN, 0};
	t0 = now_ms();
	n = poll(&pf, 1, 30);
	long dt = now_ms() - t0;
	CHECKF("poll_30ms_timeout", n == 0 && dt >= 29 && dt < 1000, "n %d after %ld ms", n, dt);

	struct timespec ts = {0, 30000000};
	n = syscall(SYS_ppoll, &pf, 1, &ts, NULL, 8);
	CHECKF("ppoll_timeout_leaves_zero", n == 0 && ts.tv_sec == 0 && ts.tv_nsec == 0, "n %d left %ld.%09ld", n,
	       (long)ts.tv_sec, ts.tv_nsec);
	struct timespec bad = {0, 1000000000};
	CHECK_ERRNO("ppoll_bad_timespec_einval", syscall(SYS_ppoll, &pf, 1, &bad, NULL, 8), EINVAL);
	struct timespec neg = {-1, 0};
	CHECK_ERRNO("ppoll_negative_timespec_einval", syscall(SYS_ppoll, &pf, 1, &neg, NULL, 8), EINVAL);
	sigset_t none;
	sigemptyset(&none);
	CHECK_ERRNO("ppoll_bad_sigsetsize_einval", syscall(SYS_ppoll, &pf, 1, &ts, &none, 4), EINVAL);
	CHECK_ERRNO("poll_bad_pointer_efault", poll((struct pollfd *)8, 1, 0), EFAULT);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	CHECK_ERRNO("poll_nfds_over_rlimit_einval", poll(&pf, rl.rlim_cur + 1, 0), EINVAL);

	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		write(p[1], "w", 1);
		_exit(0);
	}
	t0 = now_ms();
	n = poll(&pf, 1, -1);
	CHECKF("poll_woken_by_childs_write", n == 1 && pf.revents == POLLIN, "n %d revents %#x after %ld ms", n,
	       pf.revents, now_ms() - t0);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

static void check_select(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	struct timeval tv = {0, 0};
	int n = select(p[1] + 1, &r, &w, NULL, &tv);
	CHECKF("select_write_end_only", n == 1 && !FD_ISSET(p[0], &r) && FD_ISSET(p[1], &w), "n %d", n);
	write(p[1], "x", 1);
	FD_SET(p[0], &r);
	FD_SET(p[1], &w);
	n = select(p[1] + 1, &r, &w, NULL, &tv);
	CHECKF("select_both_ready", n == 2 && FD_ISSET(p[0], &r) && FD_ISSET(p[1], &w), "n %d", n);

	FD_ZERO(&r);
	FD_SET(p[0], &r);
	char c;
	read(p[0], &c, 1);
	struct timeval tv30 = {0, 30000};
	long t0 = now_ms();
	n = syscall(SYS_select, p[0] + 1, &r, NULL, NULL, &tv30);
	long dt = now_ms() - t0;
	CHECKF("select_timeout_zeroes_set_and_time", n == 0 && !FD_ISSET(p[0], &r) && tv30.tv_sec == 0 &&
	       tv30.tv_usec == 0 && dt >= 29, "n %d left %ld.%06ld after %ld ms", n, (long)tv30.tv_sec,
	       (long)tv30.tv_usec, dt);

	int dead = dup(p[0]);
	close(dead);
	FD_ZERO(&r);
	FD_SET(dead, &r);
	CHECK_ERRNO("select_closed_fd_ebadf", select(dead + 1, &r, NULL, NULL, &tv), EBADF);
	CHECK_ERRNO("select_negative_nfds_einval", syscall(SYS_select, -1, NULL, NULL, NULL, &tv), EINVAL);
	struct timeval neg = {-1, 0};
	CHECK_ERRNO("select_negative_timeout_einval", syscall(SYS_select, 1, NULL, NULL, NULL, &neg), EINVAL);
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	CHECK_ERRNO("select_bad_set_efault", syscall(SYS_select, p[0] + 1, (fd_set *)8, NULL, NULL, &tv), EFAULT);

	write(p[1], "y", 1);
	sigset_t none;
	sigemptyset(&none);
	struct timespec ts = {1, 0};
	struct { const sigset_t *ss; size_t len; } arg = {&none, 8};
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	n = syscall(SYS_pselect6, p[0] + 1, &r, NULL, NULL, &ts, &arg);
	CHECKF("pselect6_ready_and_time_left", n == 1 && FD_ISSET(p[0], &r) && ts.tv_sec <= 1 &&
	       (ts.tv_sec == 1 || ts.tv_nsec > 500000000), "n %d left %ld.%09ld", n, (long)ts.tv_sec, ts.tv_nsec);
	arg.len = 4;
	CHECK_ERRNO("pselect6_bad_sigsetsize_einval", syscall(SYS_pselect6, p[0] + 1, &r, NULL, NULL, &ts, &arg),
		    EINVAL);
	close(p[0]);
	close(p[1]);
}

static int ep_wait1(int ep, struct epoll_event *ev, int timeout)
{
	memset(ev, 0, sizeof *ev);
	return epoll_wait(ep, ev, 1, timeout);
}

static void check_epoll_triggers(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	int lt = epoll_create1(EPOLL_CLOEXEC);
	int et = epoll_create1(0);
	int os = epoll_create(1);
	CHECKF("epoll_create1_cloexec", lt >= 0 && (fcntl(lt, F_GETFD) & FD_CLOEXEC) && !(fcntl(et, F_GETFD) & FD_CLOEXEC),
	       "fds %d %d", lt, et);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234567890abcdefULL};
	CHECK("epoll_ctl_add", epoll_ctl(lt, EPOLL_CTL_ADD, p[0], &ev) == 0);
	ev.events = EPOLLIN | EPOLLET;
	epoll_ctl(et, EPOLL_CTL_ADD, p[0], &ev);
	ev.events = EPOLLIN | EPOLLONESHOT;
	epoll_ctl(os, EPOLL_CTL_ADD, p[0], &ev);
	struct epoll_event out;
	CHECK("epoll_nothing_ready", ep_wait1(lt, &out, 0) == 0);
	write(p[1], "ab", 2);
	int n = ep_wait1(lt, &out, 0);
	CHECKF("epoll_reports_data_word", n == 1 && out.events == EPOLLIN && out.data.u64 == 0x1234567890abcdefULL,
	       "n %d events %#x data %#llx", n, out.events, (unsigned long long)out.data.u64);
	n = ep_wait1(lt, &out, 0);
	CHECKF("level_triggered_reports_again", n == 1, "n %d", n);
	int e1 = ep_wait1(et, &out, 0), e2 = ep_wait1(et, &out, 0);
	CHECKF("edge_triggered_reports_once", e1 == 1 && e2 == 0, "%d then %d", e1, e2);
	char c;
	read(p[0], &c, 1);
	n = ep_wait1(et, &out, 0);
	CHECKF("edge_triggered_partial_read_no_event", n == 0, "n %d", n);
	write(p[1], "c", 1);
	n = ep_wait1(et, &out, 0);
	CHECKF("edge_triggered_new_write_event", n == 1, "n %d", n);
	e1 = ep_wait1(os, &out, 0);
	e2 = ep_wait1(os, &out, 0);
	CHECKF("oneshot_reports_once", e1 == 1 && e2 == 0, "%d then %d", e1, e2);
	ev.events = EPOLLIN | EPOLLONESHOT;
	epoll_ctl(os, EPOLL_CTL_MOD, p[0], &ev);
	n = ep_wait1(os, &out, 0);
	CHECKF("oneshot_rearmed_by_mod", n == 1, "n %d", n);
	char buf[8];
	read(p[0], buf, sizeof buf);
	n = ep_wait1(lt, &out, 0);
	CHECKF("level_triggered_quiet_when_drained", n == 0, "n %d", n);

	ev.events = EPOLLOUT;
	ev.data.u64 = 7;
	epoll_ctl(lt, EPOLL_CTL_ADD, p[1], &ev);
	struct epoll_event two[4];
	n = epoll_wait(lt, two, 4, 0);
	CHECKF("epoll_pollout_write_end", n == 1 && two[0].events == EPOLLOUT && two[0].data.u64 == 7, "n %d events %#x",
	       n, two[0].events);
	epoll_ctl(lt, EPOLL_CTL_DEL, p[1], NULL);
	close(p[1]);
	n = ep_wait1(lt, &out, 0);
	CHECKF("epollhup_unasked", n == 1 && out.events == EPOLLHUP, "n %d events %#x", n, out.events);
	close(p[0]);
	close(lt);
	close(et);
	close(os);
}

static void check_epoll_lifetime(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1}, out;
	int copy = dup(p[0]);
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	write(p[1], "x", 1);
	close(p[0]);
	int n = ep_wait1(ep, &out, 0);
	CHECKF("item_stays_while_dup_open", n == 1 && out.data.u64 == 1, "n %d", n);
	close(copy);
	n = ep_wait1(ep, &out, 0);
	CHECKF("item_gone_with_last_reference", n == 0, "n %d", n);

	int inner = epoll_create1(0);
	int q[2];
	pipe(q);
	epoll_ctl(inner, EPOLL_CTL_ADD, q[0], &ev);
	ev.data.u64 = 2;
	CHECK("epoll_in_epoll_add", epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev) == 0);
	n = ep_wait1(ep, &out, 0);
	CHECKF("nested_epoll_quiet", n == 0, "n %d", n);
	write(q[1], "x", 1);
	n = ep_wait1(ep, &out, 0);
	CHECKF("nested_epoll_readable", n == 1 && out.data.u64 == 2 && out.events == EPOLLIN, "n %d events %#x", n,
	       out.events);
	short r = revents1(inner, POLLIN, 0);
	CHECKF("poll_on_epoll_fd", r == POLLIN, "revents %#x", r);
	CHECK_ERRNO("epoll_loop_eloop", epoll_ctl(inner, EPOLL_CTL_ADD, ep, &ev), ELOOP);
	close(inner);
	close(ep);
	close(q[0]);
	close(q[1]);
	close(p[1]);
}

static void check_epoll_errors(void)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN}, out[2];
	CHECK_ERRNO("epoll_create_zero_einval", syscall(SYS_epoll_create, 0), EINVAL);
	CHECK_ERRNO("epoll_create1_bad_flags_einval", epoll_create1(O_NONBLOCK), EINVAL);
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	CHECK_ERRNO("epoll_add_twice_eexist", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
	CHECK_ERRNO("epoll_mod_unknown_enoent", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT);
	CHECK_ERRNO("epoll_del_unknown_enoent", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &ev), ENOENT);
	CHECK_ERRNO("epoll_watch_itself_einval", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
	CHECK_ERRNO("epoll_ctl_not_epoll_einval", epoll_ctl(p[1], EPOLL_CTL_ADD, p[0], &ev), EINVAL);
	CHECK_ERRNO("epoll_ctl_bad_op_einval", epoll_ctl(ep, 99, p[1], &ev), EINVAL);
	CHECK_ERRNO("epoll_ctl_closed_fd_ebadf", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev), EBADF);
	CHECK_ERRNO("epoll_ctl_bad_event_efault", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (struct epoll_event *)8), EFAULT);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	CHECK_ERRNO("epoll_exclusive_mod_einval", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), EINVAL);
	int file = open(getenv("TESTDATA") ? getenv("TESTDATA") : "/etc/testdata.txt", O_RDONLY);
	ev.events = EPOLLIN;
	CHECK_ERRNO("epoll_regular_file_eperm", epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev), EPERM);
	short r = revents1(file, POLLIN | POLLOUT, 0);
	CHECKF("regular_file_always_ready", r == (POLLIN | POLLOUT), "revents %#x", r);
	close(file);
	CHECK_ERRNO("epoll_wait_zero_maxevents_einval", epoll_wait(ep, out, 0, 0), EINVAL);
	CHECK_ERRNO("epoll_wait_not_epoll_einval", epoll_wait(p[0], out, 2, 0), EINVAL);
	CHECK_ERRNO("epoll_wait_closed_ebadf", epoll_wait(999, out, 2, 0), EBADF);
	/* Checked before waiting, as access_ok: a kernel address. */
	CHECK_ERRNO("epoll_wait_kernel_buffer_efault", epoll_wait(ep, (struct epoll_event *)0xffff800000000000UL, 2, 0),
		    EFAULT);
	struct timespec ts = {0, 30000000};
	long t0 = now_ms();
	long n = syscall(SYS_epoll_pwait2, ep, out, 2, &ts, NULL, 8);
	long dt = now_ms() - t0;
	if (n == -1 && errno == ENOSYS)
		check_skip("epoll_pwait2_timeout", "no epoll_pwait2");
	else
		CHECKF("epoll_pwait2_timeout", n == 0 && dt >= 29 && dt < 1000, "n %ld after %ld ms", n, dt);
	t0 = now_ms();
	n = epoll_wait(ep, out, 2, 30);
	dt = now_ms() - t0;
	CHECKF("epoll_wait_30ms_timeout", n == 0 && dt >= 29 && dt < 1000, "n %ld after %ld ms", n, dt);
	close(ep);
	close(p[0]);
	close(p[1]);
}

static void check_eventfd(void)
{
	uint64_t v = 0;
	int fd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECKF("eventfd_cloexec_nonblock", fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) &&
	       (fcntl(fd, F_GETFL) & O_NONBLOCK), "fd %d", fd);
	ssize_t r = read(fd, &v, 8);
	CHECKF("eventfd_initial_value", r == 8 && v == 3, "read %zd value %llu", r, (unsigned long long)v);
	CHECK_ERRNO("eventfd_empty_eagain", read(fd, &v, 8), EAGAIN);
	short pr = revents1(fd, POLLIN | POLLOUT, 0);
	CHECKF("eventfd_zero_writable_only", pr == POLLOUT, "revents %#x", pr);
	v = 2;
	write(fd, &v, 8);
	v = 5;
	write(fd, &v, 8);
	pr = revents1(fd, POLLIN | POLLOUT, 0);
	CHECKF("eventfd_readable", pr == (POLLIN | POLLOUT), "revents %#x", pr);
	r = read(fd, &v, 16);
	CHECKF("eventfd_sums_writes", r == 8 && v == 7, "read %zd value %llu", r, (unsigned long long)v);
	uint32_t small = 1;
	CHECK_ERRNO("eventfd_short_read_einval", read(fd, &small, 4), EINVAL);
	CHECK_ERRNO("eventfd_short_write_einval", write(fd, &small, 4), EINVAL);
	v = UINT64_MAX;
	CHECK_ERRNO("eventfd_write_max_einval", write(fd, &v, 8), EINVAL);
	v = UINT64_MAX - 1;
	CHECK("eventfd_write_ceiling", write(fd, &v, 8) == 8);
	v = 1;
	CHECK_ERRNO("eventfd_overflow_eagain", write(fd, &v, 8), EAGAIN);
	pr = revents1(fd, POLLIN | POLLOUT, 0);
	CHECKF("eventfd_full_not_writable", pr == POLLIN, "revents %#x", pr);
	close(fd);

	fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	uint64_t a = 0, b = 0;
	read(fd, &a, 8);
	read(fd, &b, 8);
	CHECKF("eventfd_semaphore_reads_one", a == 1 && b == 1, "%llu %llu", (unsigned long long)a,
	       (unsigned long long)b);
	CHECK_ERRNO("eventfd_semaphore_empty_eagain", read(fd, &a, 8), EAGAIN);
	close(fd);
	CHECK_ERRNO("eventfd2_bad_flags_einval", eventfd(0, O_APPEND), EINVAL);

	fd = eventfd(0, 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	CHECK_ERRNO("eventfd_setfl_nonblock_eagain", read(fd, &v, 8), EAGAIN);
	fcntl(fd, F_SETFL, 0);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(30);
		uint64_t one = 42;
		write(fd, &one, 8);
		_exit(0);
	}
	r = read(fd, &v, 8);
	CHECKF("eventfd_read_waits_for_write", r == 8 && v == 42, "read %zd value %llu", r, (unsigned long long)v);
	waitpid(pid, NULL, 0);
	close(fd);
}

static void check_timerfd(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	CHECKF("timerfd_create", fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "fd %d", fd);
	uint64_t n = 0;
	CHECK_ERRNO("timerfd_disarmed_eagain", read(fd, &n, 8), EAGAIN);
	struct itimerspec its = {{0, 20000000}, {0, 20000000}}, old;
	long armed = now_ms();
	CHECK("timerfd_settime_periodic", timerfd_settime(fd, 0, &its, NULL) == 0);
	struct itimerspec cur;
	timerfd_gettime(fd, &cur);
	CHECKF("timerfd_gettime_interval", cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 20000000 &&
	       cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 20000000, "interval %ld value %ld",
	       cur.it_interval.tv_nsec, cur.it_value.tv_nsec);
	sleep_ms(110);
	ssize_t r = read(fd, &n, 8);
	/* At most one expiration per 20 ms since arming (a loaded machine may
	 * have slept longer than asked), at least 3 in 110 ms. */
	long most = (now_ms() - armed) / 20 + 1;
	CHECKF("timerfd_counts_expirations", r == 8 && n >= 3 && (long)n <= most, "read %zd count %llu (at most %ld)", r,
	       (unsigned long long)n, most);
	struct itimerspec off = {{0, 0}, {0, 0}};
	timerfd_settime(fd, 0, &off, &old);
	CHECKF("timerfd_old_value", old.it_interval.tv_nsec == 20000000 && old.it_value.tv_nsec <= 20000000,
	       "old interval %ld value %ld", old.it_interval.tv_nsec, old.it_value.tv_nsec);
	timerfd_gettime(fd, &cur);
	CHECKF("timerfd_disarmed_gettime_zero", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0,
	       "value %ld.%09ld", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	uint32_t small;
	CHECK_ERRNO("timerfd_short_read_einval", read(fd, &small, 4), EINVAL);
	close(fd);

	fd = timerfd_create(CLOCK_REALTIME, 0);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	rt.tv_nsec += 30000000;
	if (rt.tv_nsec >= 1000000000) {
		rt.tv_sec++;
		rt.tv_nsec -= 1000000000;
	}
	struct itimerspec abs = {{0, 0}, rt};
	long t0 = now_ms();
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &abs, NULL);
	short pr = revents1(fd, POLLIN, 0);
	CHECKF("timerfd_not_readable_before_expiry", pr == 0, "revents %#x", pr);
	r = read(fd, &n, 8);
	long dt = now_ms() - t0;
	CHECKF("timerfd_abstime_read_waits", r == 8 && n == 1 && dt >= 20 && dt < 1000, "read %zd count %llu after %ld ms",
	       r, (unsigned long long)n, dt);
	struct itimerspec once = {{0, 0}, {0, 30000000}};
	timerfd_settime(fd, 0, &once, NULL);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 5}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	int k = epoll_wait(ep, &out, 1, 2000);
	CHECKF("timerfd_epoll_wakes", k == 1 && out.data.u64 == 5, "n %d", k);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	r = read(fd, &n, 8);
	CHECKF("timerfd_one_shot_counts_one", r == 8 && n == 1, "read %zd count %llu", r, (unsigned long long)n);
	CHECK_ERRNO("timerfd_read_resets_count_eagain", read(fd, &n, 8), EAGAIN);
	close(ep);

	struct itimerspec badts = {{0, 0}, {0, 1000000000}};
	CHECK_ERRNO("timerfd_settime_bad_nsec_einval", timerfd_settime(fd, 0, &badts, NULL), EINVAL);
	CHECK_ERRNO("timerfd_settime_bad_flags_einval", timerfd_settime(fd, 8, &once, NULL), EINVAL);
	CHECK_ERRNO("timerfd_settime_bad_pointer_efault", timerfd_settime(fd, 0, (struct itimerspec *)8, NULL), EFAULT);
	int p[2];
	pipe(p);
	CHECK_ERRNO("timerfd_settime_not_timerfd_einval", timerfd_settime(p[0], 0, &once, NULL), EINVAL);
	CHECK_ERRNO("timerfd_gettime_closed_ebadf", timerfd_gettime(999, &cur), EBADF);
	CHECK_ERRNO("timerfd_create_bad_clock_einval", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
	CHECK_ERRNO("timerfd_create_bad_flags_einval", timerfd_create(CLOCK_MONOTONIC, O_APPEND), EINVAL);
	close(p[0]);
	close(p[1]);
	close(fd);
}

static int pidfd_open(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

static void check_pidfd(void)
{
	int p[2];
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1);
		_exit(7);
	}
	close(p[0]);
	int fd = pidfd_open(pid, 0);
	CHECKF("pidfd_open_cloexec", fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "fd %d errno %d", fd, errno);
	short r = revents1(fd, POLLIN, 0);
	CHECKF("pidfd_not_readable_while_running", r == 0, "revents %#x", r);
	CHECK("pidfd_send_signal_zero", syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) == 0);
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 9}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	close(p[1]);
	r = revents1(fd, POLLIN, 5000);
	CHECKF("pidfd_readable_after_exit", r == POLLIN, "revents %#x", r);
	int n = epoll_wait(ep, &out, 1, 2000);
	CHECKF("pidfd_epoll_after_exit", n == 1 && out.data.u64 == 9, "n %d", n);
	char c;
	CHECK_ERRNO("pidfd_read_einval", read(fd, &c, 1), EINVAL);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECKF("pidfd_child_status", WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
	CHECK_ERRNO("pidfd_send_signal_reaped_esrch", syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0), ESRCH);
	CHECK_ERRNO("pidfd_open_reaped_esrch", pidfd_open(pid, 0), ESRCH);
	close(ep);
	close(fd);

	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	fd = pidfd_open(pid, 0);
	CHECK_ERRNO("pidfd_send_signal_bad_flags_einval", syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 8), EINVAL);
	CHECK_ERRNO("pidfd_send_signal_bad_signal_einval", syscall(SYS_pidfd_send_signal, fd, 65, NULL, 0), EINVAL);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR2;
	si.si_code = SI_USER;
	CHECK_ERRNO("pidfd_send_signal_signo_mismatch_einval", syscall(SYS_pidfd_send_signal, fd, SIGKILL, &si, 0),
		    EINVAL);
	si.si_signo = SIGKILL;
	CHECK_ERRNO("pidfd_send_signal_forged_code_eperm", syscall(SYS_pidfd_send_signal, fd, SIGKILL, &si, 0), EPERM);
	CHECK("pidfd_send_signal_kill", syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0);
	waitpid(pid, &st, 0);
	CHECKF("pidfd_killed_child", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
	close(fd);
	int q[2];
	pipe(q);
	CHECK_ERRNO("pidfd_send_signal_not_pidfd_ebadf", syscall(SYS_pidfd_send_signal, q[0], SIGKILL, NULL, 0), EBADF);
	close(q[0]);
	close(q[1]);
	CHECK_ERRNO("pidfd_open_bad_flags_einval", pidfd_open(getpid(), 1), EINVAL);
	CHECK_ERRNO("pidfd_open_zero_einval", pidfd_open(0, 0), EINVAL);
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

/* A child that sends SIGUSR1 to its parent after 50 ms. */
static pid_t signal_later(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	return pid;
}

static void check_eintr(void)
{
	int p[2];
	pipe(p);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	pid_t pid = signal_later();
	struct pollfd pf = {p[0], POLLIN, 0};
	errno = 0;
	int n = poll(&pf, 1, -1);
	CHECKF("poll_eintr", n == -1 && errno == EINTR && got_usr1 == 1, "n %d errno %d handled %d", n, errno,
	       (int)got_usr1);
	waitpid(pid, NULL, 0);

	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	pid = signal_later();
	fd_set r;
	FD_ZERO(&r);
	FD_SET(p[0], &r);
	errno = 0;
	n = select(p[0] + 1, &r, NULL, NULL, NULL);
	CHECKF("select_eintr_despite_sa_restart", n == -1 && errno == EINTR && got_usr1 == 2, "n %d errno %d", n, errno);
	waitpid(pid, NULL, 0);

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	pid = signal_later();
	errno = 0;
	n = epoll_wait(ep, &out, 1, -1);
	CHECKF("epoll_wait_eintr", n == -1 && errno == EINTR && got_usr1 == 3, "n %d errno %d", n, errno);
	waitpid(pid, NULL, 0);
	close(ep);

	sigset_t block, none;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pid = signal_later();
	sleep_ms(100);
	CHECK("signal_held_while_blocked", got_usr1 == 3);
	struct timespec ts = {5, 0};
	errno = 0;
	n = ppoll(&pf, 1, &ts, &none);
	CHECKF("ppoll_mask_lets_signal_in", n == -1 && errno == EINTR && got_usr1 == 4, "n %d errno %d handled %d", n,
	       errno, (int)got_usr1);
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	CHECK("ppoll_restores_mask", sigismember(&now, SIGUSR1));
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	check_init("t_poll");
	check_poll_pipes();
	check_poll_timeouts();
	check_select();
	check_epoll_triggers();
	check_epoll_lifetime();
	check_epoll_errors();
	check_eventfd();
	check_timerfd();
	check_pidfd();
	check_eintr();
	return check_done();
}
