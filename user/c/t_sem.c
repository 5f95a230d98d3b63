/*
 * t_sem.c: System V semaphores: semget's key rules and limits, semctl's
 * commands, semop's all-or-nothing operations, blocking (GETNCNT and
 * GETZCNT, wake-ups, timeouts, EINTR, EIDRM), SEM_UNDO at exit,
 * permissions, IPC_STAT/IPC_SET/IPC_INFO and /proc/sysvipc/sem. Runs on
 * the host Linux and in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static int getval(int id, int n)
{
	return semctl(id, n, GETVAL);
}

static int setval(int id, int n, int v)
{
	union semun u = { .val = v };
	return semctl(id, n, SETVAL, u);
}

static int op1(int id, unsigned short n, short op, short flg)
{
	struct sembuf b = { n, op, flg };
	return semop(id, &b, 1);
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
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void on_usr1(int s)
{
	(void)s;
}

/* Wait until GETNCNT (or GETZCNT) of sem 0 is `want`, up to 2 s. */
static int wait_count(int id, int cmd, int want)
{
	for (int i = 0; i < 200; i++) {
		if (semctl(id, 0, cmd) == want)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static void test_get(void)
{
	int id = semget(IPC_PRIVATE, 3, 0600);
	CHECK("private_set_of_zeros", id >= 0 && getval(id, 0) == 0 && getval(id, 2) == 0);
	CHECK_ERRNO("getval_num_out_of_range_einval", semctl(id, 3, GETVAL), EINVAL);
	CHECK_ERRNO("nsems_zero_create_einval", semget(IPC_PRIVATE, 0, 0600), EINVAL);
	CHECK_ERRNO("nsems_negative_einval", semget(IPC_PRIVATE, -1, 0600), EINVAL);
	CHECK_ERRNO("nsems_past_semmsl_einval", semget(IPC_PRIVATE, 32001, 0600), EINVAL);
	semctl(id, 0, IPC_RMID);

	key_t key = 0x5e3a0000 + (getpid() & 0xffff);
	int a = semget(key, 2, IPC_CREAT | 0600);
	CHECK("key_same_set", a >= 0 && semget(key, 2, 0) == a && semget(key, 0, 0) == a);
	CHECK_ERRNO("key_excl_eexist", semget(key, 2, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK_ERRNO("key_more_sems_einval", semget(key, 3, 0), EINVAL);
	semctl(a, 0, IPC_RMID);
	CHECK_ERRNO("key_gone_enoent", semget(key, 2, 0), ENOENT);
	CHECK_ERRNO("removed_id_einval", getval(a, 0), EINVAL);
}

static void test_values(void)
{
	int id = semget(IPC_PRIVATE, 3, 0600);
	CHECK("setval_getval", setval(id, 1, 7) == 0 && getval(id, 1) == 7);
	CHECK_ERRNO("setval_past_semvmx_erange", setval(id, 1, 32768), ERANGE);
	CHECK_ERRNO("setval_negative_erange", setval(id, 1, -1), ERANGE);
	unsigned short in[3] = { 1, 2, 3 }, out[3] = { 0 };
	union semun u = { .array = in };
	int ok = semctl(id, 0, SETALL, u) == 0;
	u.array = out;
	ok = ok && semctl(id, 0, GETALL, u) == 0 && out[0] == 1 && out[1] == 2 && out[2] == 3;
	CHECK("setall_getall", ok);

	struct sembuf two[2] = { { 0, 5, 0 }, { 2, -3, 0 } };
	CHECK("semop_applies_all", semop(id, two, 2) == 0 && getval(id, 0) == 6 && getval(id, 2) == 0);
	CHECK("getpid_is_last_changer", semctl(id, 0, GETPID) == getpid());
	/* All or nothing: sem 2 cannot go below 0, so sem 0 stays. */
	struct sembuf blocked[2] = { { 0, 1, IPC_NOWAIT }, { 2, -1, IPC_NOWAIT } };
	CHECK("nowait_eagain_atomic", semop(id, blocked, 2) == -1 && errno == EAGAIN && getval(id, 0) == 6);
	CHECK_ERRNO("op_past_semvmx_erange", op1(id, 0, 32767, 0), ERANGE);
	CHECK_ERRNO("sem_num_out_of_range_efbig", op1(id, 3, 1, 0), EFBIG);
	CHECK_ERRNO("nsops_zero_einval", semop(id, two, 0), EINVAL);
	static struct sembuf many[501];
	CHECK_ERRNO("nsops_past_semopm_e2big", semop(id, many, 501), E2BIG);
	CHECK("wait_for_zero_when_zero", op1(id, 2, 0, 0) == 0);
	semctl(id, 0, IPC_RMID);
}

static void test_blocking(void)
{
	int id = semget(IPC_PRIVATE, 1, 0600);
	pid_t c = fork();
	if (c == 0)
		_exit(op1(id, 0, -1, 0) == 0 ? 0 : 1);
	CHECK("getncnt_counts_waiter", wait_count(id, GETNCNT, 1));
	op1(id, 0, 1, 0);
	CHECK("decrement_wakes", wait_child(c) == 0 && getval(id, 0) == 0 && semctl(id, 0, GETNCNT) == 0);

	setval(id, 0, 1);
	c = fork();
	if (c == 0)
		_exit(op1(id, 0, 0, 0) == 0 ? 0 : 1);
	CHECK("getzcnt_counts_waiter", wait_count(id, GETZCNT, 1));
	setval(id, 0, 0);
	CHECK("zero_wakes", wait_child(c) == 0);

	struct sembuf b = { 0, -1, 0 };
	struct timespec to = { 0, 100 * 1000000 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = semtimedop(id, &b, 1, &to);
	int e = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECKF("semtimedop_timeout_eagain", r == -1 && e == EAGAIN && ms >= 90, "r %d errno %d after %ld ms", r, e, ms);
	to.tv_nsec = 1000000000;
	CHECK_ERRNO("semtimedop_bad_timeout_einval", semtimedop(id, &b, 1, &to), EINVAL);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	c = fork();
	if (c == 0)
		_exit(op1(id, 0, -1, 0) == -1 && errno == EINTR ? 0 : 1);
	wait_count(id, GETNCNT, 1);
	kill(c, SIGUSR1);
	CHECK("signal_eintr", wait_child(c) == 0);

	c = fork();
	if (c == 0)
		_exit(op1(id, 0, -1, 0) == -1 && errno == EIDRM ? 0 : 1);
	wait_count(id, GETNCNT, 1);
	semctl(id, 0, IPC_RMID);
	CHECK("rmid_wakes_eidrm", wait_child(c) == 0);
}

static void test_undo(void)
{
	int id = semget(IPC_PRIVATE, 2, 0600);
	pid_t c = fork();
	if (c == 0)
		_exit(op1(id, 0, 2, SEM_UNDO) == 0 && op1(id, 0, 1, 0) == 0 ? 0 : 1);
	CHECK("undo_reverts_increment_at_exit", wait_child(c) == 0 && getval(id, 0) == 1);
	setval(id, 1, 1);
	c = fork();
	if (c == 0)
		_exit(op1(id, 1, -1, SEM_UNDO) == 0 && getval(id, 1) == 0 ? 0 : 1);
	CHECK("undo_reverts_decrement_at_exit", wait_child(c) == 0 && getval(id, 1) == 1);
	/* SETVAL clears pending undo: the exit then changes nothing. */
	int up[2], down[2];
	pipe(up);
	pipe(down);
	c = fork();
	if (c == 0) {
		char x;
		op1(id, 1, 3, SEM_UNDO);
		write(up[1], "s", 1);
		read(down[0], &x, 1);
		_exit(0);
	}
	char x;
	read(up[0], &x, 1);
	setval(id, 1, 10);
	write(down[1], "g", 1);
	wait_child(c);
	CHECK("setval_clears_undo", getval(id, 1) == 10);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	semctl(id, 0, IPC_RMID);
}

static void test_ctl(void)
{
	int id = semget(IPC_PRIVATE, 3, 0640);
	struct semid_ds ds;
	union semun u = { .buf = &ds };
	int ok = semctl(id, 0, IPC_STAT, u) == 0 && ds.sem_nsems == 3 && (ds.sem_perm.mode & 0777) == 0640 &&
		 ds.sem_perm.uid == getuid();
	CHECK("ipc_stat", ok);
	ds.sem_perm.mode = 0604;
	ok = semctl(id, 0, IPC_SET, u) == 0;
	memset(&ds, 0, sizeof(ds));
	ok = ok && semctl(id, 0, IPC_STAT, u) == 0 && (ds.sem_perm.mode & 0777) == 0604;
	CHECK("ipc_set_mode", ok);
	struct seminfo si;
	u.__buf = &si;
	int r = semctl(0, 0, IPC_INFO, u);
	CHECKF("ipc_info_limits", r >= 0 && si.semmsl == 32000 && si.semopm == 500 && si.semvmx == 32767 && si.semmni == 32000,
	       "r %d semmsl %d", r, si.semmsl);
	CHECK_ERRNO("bad_cmd_einval", semctl(id, 0, 99), EINVAL);

	char buf[8192] = { 0 };
	int fd = open("/proc/sysvipc/sem", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	char want[64];
	snprintf(want, sizeof(want), " %10d   604          3 ", id);
	CHECKF("proc_sysvipc_sem", n > 0 && strstr(buf, "semid perms      nsems") && strstr(buf, want), "want '%s'", want);

	/* Another user: read denied by 0604? No: others may read; not alter. */
	semctl(id, 0, IPC_SET, (union semun){ .buf = &ds });
	pid_t c = fork();
	if (c == 0) {
		if (setgid(1000) || setuid(1000))
			_exit(9);
		if (getval(id, 0) != 0)
			_exit(1);
		if (!(op1(id, 0, 1, 0) == -1 && errno == EACCES))
			_exit(2);
		if (!(semctl(id, 0, IPC_RMID) == -1 && errno == EPERM))
			_exit(3);
		_exit(0);
	}
	int w = wait_child(c);
	CHECKF("other_user_read_not_alter", w == 0, "child step %d", w);
	semctl(id, 0, IPC_RMID);
}

int main(void)
{
	check_init("t_sem");
	test_get();
	test_values();
	test_blocking();
	test_undo();
	test_ctl();
	return check_done();
}
