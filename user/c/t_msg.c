/*
 * t_msg.c: System V message queues: msgget's key rules, msgsnd and
 * msgrcv's type selection (0, a type, MSG_EXCEPT, the lowest type up to
 * -n), E2BIG and MSG_NOERROR, MSG_COPY, IPC_NOWAIT (EAGAIN, ENOMSG),
 * blocking senders and receivers, EIDRM, msgctl's IPC_STAT/IPC_SET/
 * IPC_INFO, permissions and /proc/sysvipc/msg. Runs on the host Linux and
 * in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

struct m {
	long type;
	char text[64];
};

static int snd(int q, long type, const char *s, int flg)
{
	struct m b;
	b.type = type;
	snprintf(b.text, sizeof(b.text), "%s", s);
	return msgsnd(q, &b, strlen(s) + 1, flg);
}

/* Receive into `out` (text) and return the type, or -1 with errno. */
static long rcv(int q, long type, int flg, char *out, size_t size)
{
	struct m b;
	memset(&b, 0, sizeof(b));
	ssize_t n = msgrcv(q, &b, size, type, flg);
	if (n < 0)
		return -1;
	/* `out` holds 80 bytes: the text and its end. */
	memcpy(out, b.text, (size_t)n);
	out[n] = 0;
	return b.type;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

static int wait_child(pid_t p)
{
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

int main(void)
{
	check_init("t_msg");
	key_t key = 0x6d700000 + (getpid() & 0xffff);
	int q = msgget(key, IPC_CREAT | 0600);
	CHECK("msgget_key", q >= 0 && msgget(key, 0) == q);
	CHECK_ERRNO("msgget_excl_eexist", msgget(key, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK_ERRNO("msgget_missing_enoent", msgget(key + 1, 0), ENOENT);

	char t[80];
	snd(q, 3, "three", 0);
	snd(q, 1, "one", 0);
	snd(q, 2, "two", 0);
	snd(q, 1, "uno", 0);
	CHECK("copy_peeks_by_index", rcv(q, 2, MSG_COPY | IPC_NOWAIT, t, 64) == 2 && strcmp(t, "two") == 0);
	CHECK("type_selects_first_of_type", rcv(q, 1, 0, t, 64) == 1 && strcmp(t, "one") == 0);
	CHECK("except_selects_other_type", rcv(q, 1, MSG_EXCEPT, t, 64) == 3 && strcmp(t, "three") == 0);
	CHECK("negative_selects_lowest", rcv(q, -5, 0, t, 64) == 1 && strcmp(t, "uno") == 0);
	CHECK_ERRNO("too_long_e2big", rcv(q, 0, 0, t, 2), E2BIG);
	CHECK("noerror_truncates", rcv(q, 0, MSG_NOERROR, t, 2) == 2 && memcmp(t, "tw", 2) == 0);
	CHECK_ERRNO("empty_nowait_enomsg", rcv(q, 0, IPC_NOWAIT, t, 64), ENOMSG);
	CHECK_ERRNO("copy_without_nowait_einval", rcv(q, 0, MSG_COPY, t, 64), EINVAL);
	CHECK_ERRNO("type_zero_einval", snd(q, 0, "x", 0), EINVAL);
	struct m big;
	big.type = 1;
	CHECK_ERRNO("past_msgmax_einval", msgsnd(q, &big, 8193, 0), EINVAL);

	/* A receiver sleeps until a message of its type comes. */
	pid_t c = fork();
	if (c == 0) {
		char x[80];
		_exit(rcv(q, 7, 0, x, 64) == 7 && strcmp(x, "seven") == 0 ? 0 : 1);
	}
	sleep_ms(100);
	snd(q, 6, "six", 0);
	snd(q, 7, "seven", 0);
	CHECK("blocked_receiver_gets_its_type", wait_child(c) == 0 && rcv(q, 0, IPC_NOWAIT, t, 64) == 6);

	/* A full queue: IPC_NOWAIT is EAGAIN; a sender waits for room. */
	struct msqid_ds ds;
	msgctl(q, IPC_STAT, &ds);
	ds.msg_qbytes = 100;
	CHECK("ipc_set_qbytes", msgctl(q, IPC_SET, &ds) == 0 && msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qbytes == 100);
	struct m fill;
	fill.type = 1;
	memset(fill.text, 'f', sizeof(fill.text));
	int ok = msgsnd(q, &fill, 60, 0) == 0;
	CHECK("full_nowait_eagain", ok && msgsnd(q, &fill, 60, IPC_NOWAIT) == -1 && errno == EAGAIN);
	c = fork();
	if (c == 0)
		_exit(msgsnd(q, &fill, 60, 0) == 0 ? 0 : 1);
	sleep_ms(100);
	msgctl(q, IPC_STAT, &ds);
	int waited = ds.msg_qnum == 1;
	rcv(q, 0, 0, t, 64);
	CHECK("blocked_sender_gets_room", waited && wait_child(c) == 0 && msgctl(q, IPC_STAT, &ds) == 0 &&
						ds.msg_qnum == 1 && ds.msg_cbytes == 60);
	CHECK("stat_pids", ds.msg_lspid > 0 && ds.msg_lrpid == getpid());

	char buf[8192] = { 0 };
	int fd = open("/proc/sysvipc/msg", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	char want[64];
	snprintf(want, sizeof(want), " %10d   600          60          1 ", q);
	CHECKF("proc_sysvipc_msg", n > 0 && strstr(buf, "msqid perms      cbytes       qnum") && strstr(buf, want), "want '%s'",
	       want);
	struct msginfo mi;
	int r = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
	CHECK("ipc_info_limits", r >= 0 && mi.msgmax == 8192 && mi.msgmnb == 16384 && mi.msgmni == 32000);

	c = fork();
	if (c == 0) {
		if (setgid(1000) || setuid(1000))
			_exit(9);
		char x[80];
		if (!(rcv(q, 0, IPC_NOWAIT, x, 64) == -1 && errno == EACCES))
			_exit(1);
		_exit(msgctl(q, IPC_RMID, NULL) == -1 && errno == EPERM ? 0 : 2);
	}
	CHECK("other_user_denied", wait_child(c) == 0);

	c = fork();
	if (c == 0) {
		char x[80];
		_exit(rcv(q, 99, 0, x, 64) == -1 && errno == EIDRM ? 0 : 1);
	}
	sleep_ms(100);
	msgctl(q, IPC_RMID, NULL);
	CHECK("rmid_wakes_eidrm", wait_child(c) == 0);
	CHECK_ERRNO("removed_einval", snd(q, 1, "x", 0), EINVAL);
	return check_done();
}
