/*
 * sh: the mmkernel shell. A small interactive command interpreter for
 * looking at memory management from user space; `make run` ends in it.
 *
 *   mm# free
 *   mm# echo 1 > /proc/sys/vm/overcommit_memory
 *   mm# ps
 *   mm# t_malloc &
 *
 * Input: on a terminal (TCGETS works on fd 0) lines are edited in raw mode
 * (ICANON, ECHO, ISIG, IEXTEN, ICRNL, IXON off; restored before every
 * command and at exit): Left/Right, Home/End, Backspace, Delete, Up/Down
 * (history), Ctrl-A/E (start/end), Ctrl-B/F (left/right), Ctrl-U/K (kill
 * to start/end), Ctrl-W (word), Ctrl-L (redraw), Ctrl-C (drop the line),
 * Ctrl-D (end of input on an empty line, else delete). The line is redrawn
 * with carriage returns and spaces only, so it shows on any terminal.
 * Otherwise (a pipe, a file, `sh FILE`, `sh -c CMD`) lines are read one
 * byte at a time, nothing is prompted or echoed, and at end of input the
 * shell exits with the last command's status.
 *
 * Syntax: words separated by blanks, '...' and "..." quoting, backslash
 * escapes, $? $$ $NAME, NAME=VALUE (sets the environment), # comments,
 * `;` between commands, `|` pipelines, redirections `< file`, `> file`,
 * `>> file`, `2> file`, `2>&1`, and `&` at the end for a background job.
 *
 * Built-ins: help, echo [-n], cat FILE..., ps, kill [-SIG] PID|%N..., free,
 * meminfo buddyinfo zoneinfo pagetypeinfo slabinfo vmallocinfo vmstat
 * (shortcuts for cat /proc/NAME), cd, pwd, exit [N], jobs, fg [%N],
 * bg [%N], wait [PID|%N], history, env, true, false. Anything else runs
 * as a program: a name with a '/' as it is, otherwise from $PATH (default
 * /bin), by fork + execve, waited for with wait4.
 *
 * Jobs (see "jobs" below): on a terminal the shell has job control as
 * bash's: each pipeline is a process group, the foreground one owns the
 * terminal, ^Z stops it ("[1]+  Stopped  CMD"), fg and bg continue it, ^C
 * ends it, and the shell ignores SIGINT, SIGQUIT, SIGTSTP, SIGTTIN and
 * SIGTTOU itself. Over pipes there is no job control: a background job
 * ignores SIGINT and SIGQUIT and reads /dev/null.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define LINE_MAX_LEN 1024
#define MAX_WORDS 128
#define MAX_STAGES 8
#define HIST_MAX 64
#define MAX_JOBS 32

static const char *PROMPT = "mm# ";

static int interactive;
static struct termios saved_tio;
static int last_status;

/* ---- output ------------------------------------------------------------ */

/* Write all of buf to fd; returns 0 or the errno of the failed write. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

__attribute__((format(printf, 2, 3))) static void fdprint(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof buf)
		n = sizeof buf - 1;
	write_all(fd, buf, (size_t)n);
}

#define out(...) fdprint(1, __VA_ARGS__)
#define err(...) fdprint(2, __VA_ARGS__)

/* ---- terminal ---------------------------------------------------------- */

static void tty_raw(void)
{
	struct termios t = saved_tio;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(0, TCSANOW, &t);
}

static void tty_restore(void)
{
	if (interactive)
		tcsetattr(0, TCSANOW, &saved_tio);
}

/* ---- history ----------------------------------------------------------- */

static char *history[HIST_MAX];
static int hist_len;

static void history_add(const char *line)
{
	if (!*line || (hist_len > 0 && strcmp(history[hist_len - 1], line) == 0))
		return;
	if (hist_len == HIST_MAX) {
		free(history[0]);
		memmove(history, history + 1, sizeof history[0] * (HIST_MAX - 1));
		hist_len--;
	}
	history[hist_len++] = strdup(line);
}

/* ---- line editor ------------------------------------------------------- */

struct editor {
	char buf[LINE_MAX_LEN];
	size_t len, pos;
	size_t shown; /* characters of the line on screen after the prompt */
};

/* Redraw: CR, prompt, line, blanks over the old tail, then CR and the
 * prompt and line again up to the cursor (no escape sequences needed). */
static void refresh(struct editor *e)
{
	char out[3 * LINE_MAX_LEN + 64];
	size_t n = 0, plen = strlen(PROMPT);
	out[n++] = '\r';
	memcpy(out + n, PROMPT, plen);
	n += plen;
	memcpy(out + n, e->buf, e->len);
	n += e->len;
	for (size_t i = e->len; i < e->shown; i++)
		out[n++] = ' ';
	out[n++] = '\r';
	memcpy(out + n, PROMPT, plen);
	n += plen;
	memcpy(out + n, e->buf, e->pos);
	n += e->pos;
	write_all(1, out, n);
	e->shown = e->len;
}

static void set_line(struct editor *e, const char *s)
{
	size_t l = strlen(s);
	if (l >= sizeof e->buf)
		l = sizeof e->buf - 1;
	memcpy(e->buf, s, l);
	e->buf[l] = 0;
	e->len = e->pos = l;
}

static int read_byte(unsigned char *c)
{
	for (;;) {
		ssize_t n = read(0, c, 1);
		if (n == 1)
			return 1;
		if (n < 0 && errno == EINTR)
			continue;
		return 0;
	}
}

/* Read a line in raw mode into e->buf. Returns 0 at end of input. */
static int edit_line(struct editor *e)
{
	static char saved_edit[LINE_MAX_LEN]; /* the new line while browsing history */
	int hist_pos = hist_len;
	e->len = e->pos = e->shown = 0;
	e->buf[0] = 0;
	write_all(1, PROMPT, strlen(PROMPT));
	for (;;) {
		unsigned char c;
		if (!read_byte(&c)) {
			e->buf[e->len] = 0;
			return e->len > 0;
		}
		switch (c) {
		case '\r':
		case '\n':
			e->buf[e->len] = 0;
			write_all(1, "\n", 1);
			return 1;
		case 0x03: /* ^C: drop the line */
			write_all(1, "^C\n", 3);
			e->len = e->pos = 0;
			e->buf[0] = 0;
			last_status = 130;
			return 1;
		case 0x04: /* ^D */
			if (e->len == 0) {
				write_all(1, "\n", 1);
				return 0;
			}
			if (e->pos < e->len) {
				memmove(e->buf + e->pos, e->buf + e->pos + 1, e->len - e->pos - 1);
				e->len--;
				refresh(e);
			}
			break;
		case 0x7f:
		case 0x08: /* Backspace */
			if (e->pos > 0) {
				memmove(e->buf + e->pos - 1, e->buf + e->pos, e->len - e->pos);
				e->pos--;
				e->len--;
				refresh(e);
			}
			break;
		case 0x01: /* ^A */
			e->pos = 0;
			refresh(e);
			break;
		case 0x05: /* ^E */
			e->pos = e->len;
			refresh(e);
			break;
		case 0x02: /* ^B */
			if (e->pos > 0)
				e->pos--;
			refresh(e);
			break;
		case 0x06: /* ^F */
			if (e->pos < e->len)
				e->pos++;
			refresh(e);
			break;
		case 0x15: /* ^U: kill to the start */
			memmove(e->buf, e->buf + e->pos, e->len - e->pos);
			e->len -= e->pos;
			e->pos = 0;
			refresh(e);
			break;
		case 0x0b: /* ^K: kill to the end */
			e->len = e->pos;
			refresh(e);
			break;
		case 0x17: { /* ^W: the word before the cursor */
			size_t p = e->pos;
			while (p > 0 && e->buf[p - 1] == ' ')
				p--;
			while (p > 0 && e->buf[p - 1] != ' ')
				p--;
			memmove(e->buf + p, e->buf + e->pos, e->len - e->pos);
			e->len -= e->pos - p;
			e->pos = p;
			refresh(e);
			break;
		}
		case 0x0c: /* ^L */
			write_all(1, "\n", 1);
			e->shown = 0;
			refresh(e);
			break;
		case 0x1b: { /* ESC [ X, ESC [ N ~, ESC O X */
			unsigned char a, b;
			if (!read_byte(&a) || !read_byte(&b))
				return 0;
			int key = 0;
			if (a == '[' && b >= '0' && b <= '9') {
				unsigned char t;
				if (!read_byte(&t))
					return 0;
				if (t == '~')
					key = b == '1' || b == '7' ? 'H' : b == '4' || b == '8' ? 'F' : b == '3' ? 'd' : 0;
			} else if (a == '[' || a == 'O') {
				key = b;
			}
			switch (key) {
			case 'A': /* Up */
			case 'B': /* Down */
				if (key == 'A' && hist_pos > 0) {
					if (hist_pos == hist_len) {
						e->buf[e->len] = 0;
						memcpy(saved_edit, e->buf, e->len + 1);
					}
					set_line(e, history[--hist_pos]);
				} else if (key == 'B' && hist_pos < hist_len) {
					hist_pos++;
					set_line(e, hist_pos == hist_len ? saved_edit : history[hist_pos]);
				}
				refresh(e);
				break;
			case 'C':
				if (e->pos < e->len)
					e->pos++;
				refresh(e);
				break;
			case 'D':
				if (e->pos > 0)
					e->pos--;
				refresh(e);
				break;
			case 'H':
				e->pos = 0;
				refresh(e);
				break;
			case 'F':
				e->pos = e->len;
				refresh(e);
				break;
			case 'd': /* Delete */
				if (e->pos < e->len) {
					memmove(e->buf + e->pos, e->buf + e->pos + 1, e->len - e->pos - 1);
					e->len--;
					refresh(e);
				}
				break;
			}
			break;
		}
		default:
			if (c < 0x20 && c != '\t')
				break;
			if (c == '\t')
				c = ' ';
			if (e->len + 1 >= sizeof e->buf)
				break;
			memmove(e->buf + e->pos + 1, e->buf + e->pos, e->len - e->pos);
			e->buf[e->pos++] = (char)c;
			e->len++;
			if (e->pos == e->len && e->shown == e->len - 1) {
				/* Typing at the end: just echo. */
				write_all(1, (char *)&c, 1);
				e->shown = e->len;
			} else {
				refresh(e);
			}
		}
	}
}

/* Read a line without editing (not a terminal). Returns 0 at end of input
 * with nothing read. Reads byte by byte so that programs the shell starts
 * see the rest of the input. */
static int plain_line(char *buf, size_t cap)
{
	size_t n = 0;
	unsigned char c;
	int any = 0;
	while (read_byte(&c)) {
		any = 1;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = (char)c;
	}
	buf[n] = 0;
	return any;
}

/* ---- jobs -------------------------------------------------------------- */

/*
 * Every pipeline the shell starts is a job, numbered %1, %2, ... (one more
 * than the highest in use). A foreground job leaves the table when it ends
 * or stays in it, stopped; a background one is reported at the next prompt
 * when it ends ("[1]+  Done   CMD") in an interactive shell, while a
 * script keeps it until `wait` or `jobs` collects it (or the table is
 * full), however soon it ends. The current job (%+, %%, the default
 * of fg and bg) is the one most recently started, stopped or resumed; %-
 * the one before.
 *
 * Job control (an interactive shell whose stdin is a terminal it can own):
 * each job is its own process group (setpgid in the child and the parent),
 * a foreground job gets the terminal (tcsetpgrp) and the shell takes it
 * back, with its own terminal modes, when the job ends or stops (waitpid
 * WUNTRACED). The shell ignores SIGINT, SIGQUIT, SIGTSTP, SIGTTIN and
 * SIGTTOU; its children restore them. Without job control a background
 * job ignores SIGINT and SIGQUIT and reads /dev/null.
 */

enum pstate { P_RUNNING, P_STOPPED, P_DONE };

struct job {
	int id;	    /* %N */
	pid_t pgid; /* its process group with job control, else its first process */
	pid_t pids[MAX_STAGES];
	enum pstate pstate[MAX_STAGES];
	int pstatus[MAX_STAGES]; /* wait status of each ended process */
	int npids;
	int status;	    /* wait status of the last process once it ended, or of the stop */
	int background;	    /* started with & (or resumed by bg) */
	int reported_stop;  /* "Stopped" was said since it last ran */
	unsigned long seq;  /* when it last became current */
	struct termios tio; /* its terminal modes when it stopped */
	int has_tio;
	char cmd[64];
};

static struct job jobs[MAX_JOBS];
static int njobs;
/* What waitpid is asked for: stops and continues only with job control
 * (without it a stopped child is waited for until it goes on, as bash
 * does, so a shell inside a stopped job resumes with it). */
#define WAIT_FLAGS (job_control ? WUNTRACED | WCONTINUED : 0)
static unsigned long job_seq;
static int job_control;
static pid_t shell_pgid;

static int job_running(const struct job *j)
{
	for (int i = 0; i < j->npids; i++)
		if (j->pstate[i] == P_RUNNING)
			return 1;
	return 0;
}

static int job_done(const struct job *j)
{
	for (int i = 0; i < j->npids; i++)
		if (j->pstate[i] != P_DONE)
			return 0;
	return 1;
}

static int job_stopped(const struct job *j)
{
	return !job_running(j) && !job_done(j);
}

/* The current (+) and previous (-) jobs, or NULL. */
static struct job *job_current(int which)
{
	struct job *best = NULL, *second = NULL;
	for (int i = 0; i < njobs; i++) {
		if (!best || jobs[i].seq > best->seq) {
			second = best;
			best = &jobs[i];
		} else if (!second || jobs[i].seq > second->seq) {
			second = &jobs[i];
		}
	}
	return which == '+' ? best : second;
}

static char job_mark(const struct job *j)
{
	return j == job_current('+') ? '+' : j == job_current('-') ? '-' : ' ';
}

static struct job *job_of_pid(pid_t pid, int *slot)
{
	for (int i = 0; i < njobs; i++)
		for (int k = 0; k < jobs[i].npids; k++)
			if (jobs[i].pids[k] == pid) {
				*slot = k;
				return &jobs[i];
			}
	return NULL;
}

static void job_remove(struct job *j);

static struct job *job_add(const pid_t *pids, int n, pid_t pgid, int background, const char *text)
{
	/* A full table first forgets an ended job nobody waited for. */
	for (int i = 0; i < njobs && njobs == MAX_JOBS; i++)
		if (job_done(&jobs[i]))
			job_remove(&jobs[i]);
	if (njobs == MAX_JOBS)
		return NULL;
	int id = 0;
	for (int i = 0; i < njobs; i++)
		if (jobs[i].id > id)
			id = jobs[i].id;
	struct job *j = &jobs[njobs++];
	memset(j, 0, sizeof *j);
	j->id = id + 1;
	j->pgid = pgid;
	j->npids = n;
	memcpy(j->pids, pids, sizeof pids[0] * (size_t)n);
	j->background = background;
	j->seq = ++job_seq;
	snprintf(j->cmd, sizeof j->cmd, "%s", text);
	return j;
}

static void job_remove(struct job *j)
{
	*j = jobs[--njobs];
}

/* Record what waitpid said about pid. */
static void job_note(pid_t pid, int st)
{
	int k;
	struct job *j = job_of_pid(pid, &k);
	if (!j)
		return;
	if (WIFSTOPPED(st)) {
		j->pstate[k] = P_STOPPED;
		j->status = st;
	} else if (WIFCONTINUED(st)) {
		j->pstate[k] = P_RUNNING;
	} else {
		j->pstate[k] = P_DONE;
		j->pstatus[k] = st;
		if (k == j->npids - 1)
			j->status = st;
	}
}

/* "Done", "Exit 3", "Terminated", "Stopped", "Running". */
static void describe_job(char *buf, size_t cap, const struct job *j)
{
	int st = j->status;
	if (job_running(j))
		snprintf(buf, cap, "Running");
	else if (!job_done(j))
		snprintf(buf, cap, "Stopped");
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		snprintf(buf, cap, "Done");
	else if (WIFEXITED(st))
		snprintf(buf, cap, "Exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, cap, "%s%s", strsignal(WTERMSIG(st)), WCOREDUMP(st) ? " (core dumped)" : "");
	else
		snprintf(buf, cap, "status %#x", st);
}

/* "[1]+  Stopped                 CMD" (bash's layout; " &" after a
 * running background job). */
static void print_job(const struct job *j)
{
	char what[64];
	describe_job(what, sizeof what, j);
	out("[%d]%c  %-24s%s%s\n", j->id, job_mark(j), what, j->cmd, job_running(j) && j->background ? " &" : "");
}

/* Collect every child that changed state, without blocking. */
static void reap_children(void)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG | WAIT_FLAGS);
		if (p <= 0)
			return;
		job_note(p, st);
	}
}

/* Before a prompt: say which jobs ended or stopped since, and forget the
 * ended ones. */
static void notify_jobs(void)
{
	reap_children();
	for (int i = 0; i < njobs;) {
		struct job *j = &jobs[i];
		if (job_done(j)) {
			print_job(j);
			job_remove(j);
			continue;
		}
		if (job_stopped(j) && !j->reported_stop) {
			print_job(j);
			j->reported_stop = 1;
		}
		i++;
	}
}

/* The status a job leaves in $?: its last process's, 128+N after a
 * signal, 128+N for a stop. */
static int job_status(const struct job *j)
{
	int st = j->status;
	if (WIFSTOPPED(st))
		return 128 + WSTOPSIG(st);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* Give the terminal to pgid (with job control). */
static void give_terminal(pid_t pgid)
{
	if (job_control)
		tcsetpgrp(0, pgid);
}

/* Wait for the foreground job j until it ends or stops; take the terminal
 * back; return its status. A job that ends leaves the table; one killed
 * by a signal other than SIGINT and SIGPIPE is named on stderr. */
static int wait_foreground(struct job *j)
{
	while (job_running(j)) {
		int st;
		pid_t p = waitpid(job_control ? -j->pgid : -1, &st, WAIT_FLAGS);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0) {
			/* Nothing left to wait for: count its processes as gone. */
			for (int k = 0; k < j->npids; k++)
				if (j->pstate[k] != P_DONE)
					j->pstate[k] = P_DONE;
			break;
		}
		job_note(p, st);
	}
	if (job_control) {
		give_terminal(shell_pgid);
		if (job_stopped(j)) {
			j->has_tio = tcgetattr(0, &j->tio) == 0;
		}
		tty_restore();
	}
	int rc = job_status(j);
	if (job_stopped(j)) {
		j->background = 0;
		j->reported_stop = 1;
		j->seq = ++job_seq;
		out("\n");
		print_job(j);
		return rc;
	}
	int st = j->status;
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGINT)
			out("\n");
		else if (WTERMSIG(st) != SIGPIPE)
			err("%s\n", strsignal(WTERMSIG(st)));
	}
	job_remove(j);
	return rc;
}

/* Continue job j (SIGCONT to its group, or to each process without job
 * control), in the foreground or in the background. */
static int resume_job(struct job *j, int foreground)
{
	j->seq = ++job_seq;
	j->reported_stop = 0;
	j->background = !foreground;
	if (foreground) {
		give_terminal(j->pgid);
		if (j->has_tio)
			tcsetattr(0, TCSADRAIN, &j->tio);
	}
	if (job_control) {
		kill(-j->pgid, SIGCONT);
	} else {
		for (int k = 0; k < j->npids; k++)
			if (j->pstate[k] != P_DONE)
				kill(j->pids[k], SIGCONT);
	}
	for (int k = 0; k < j->npids; k++)
		if (j->pstate[k] == P_STOPPED)
			j->pstate[k] = P_RUNNING;
	return foreground ? wait_foreground(j) : 0;
}

/* The job a word names: %N, %+, %%, %-, %PREFIX (of its command), or NULL
 * for the current job; a message is printed when there is none. */
static struct job *job_arg(const char *who, const char *spec)
{
	struct job *j = NULL;
	if (!spec || !strcmp(spec, "%") || !strcmp(spec, "%%") || !strcmp(spec, "%+")) {
		j = job_current('+');
	} else if (!strcmp(spec, "%-")) {
		j = job_current('-');
	} else if (spec[0] == '%' && isdigit((unsigned char)spec[1])) {
		int id = atoi(spec + 1);
		for (int i = 0; i < njobs; i++)
			if (jobs[i].id == id)
				j = &jobs[i];
	} else if (spec[0] == '%') {
		for (int i = 0; i < njobs; i++)
			if (!strncmp(jobs[i].cmd, spec + 1, strlen(spec + 1)))
				j = &jobs[i];
	}
	if (!j)
		err("%s: %s: no such job\n", who, spec ? spec : "current");
	return j;
}

/* An interactive shell takes the terminal: waits to be in the foreground
 * (stopping itself with SIGTTIN meanwhile, as bash does), ignores the job
 * control signals, becomes its own process group and makes that the
 * terminal's foreground group. If the terminal will not have it, the shell
 * runs without job control. */
static void init_job_control(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	for (int tries = 0;; tries++) {
		pid_t fg = tcgetpgrp(0);
		if (fg < 0)
			return;
		if (fg == getpgrp())
			break;
		if (tries == 100) {
			err("sh: not in the terminal's foreground; no job control\n");
			return;
		}
		kill(-getpgrp(), SIGTTIN);
	}
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	pid_t me = getpid();
	if (getpgrp() != me && setpgid(0, 0) < 0) {
		err("sh: setpgid: %s; no job control\n", strerror(errno));
		return;
	}
	shell_pgid = me;
	if (tcsetpgrp(0, shell_pgid) < 0) {
		err("sh: tcsetpgrp: %s; no job control\n", strerror(errno));
		return;
	}
	job_control = 1;
}

/* ---- words ------------------------------------------------------------- */

enum tok { T_WORD, T_PIPE, T_AMP, T_SEMI, T_IN, T_OUT, T_APPEND, T_ERR, T_ERR2OUT };

struct token {
	enum tok type;
	char *text;
	int start, end; /* its bytes in the line: [start, end) */
};

static void append_str(char *w, size_t *n, size_t cap, const char *s)
{
	while (*s && *n + 1 < cap)
		w[(*n)++] = *s++;
}

/* Expand $? $$ $NAME at *p (just after '$') into w. */
static void expand_var(const char **p, char *w, size_t *n, size_t cap)
{
	char tmp[32];
	const char *s = *p;
	if (*s == '?') {
		snprintf(tmp, sizeof tmp, "%d", last_status);
		append_str(w, n, cap, tmp);
		*p = s + 1;
	} else if (*s == '$') {
		snprintf(tmp, sizeof tmp, "%d", (int)getpid());
		append_str(w, n, cap, tmp);
		*p = s + 1;
	} else if (isalpha((unsigned char)*s) || *s == '_') {
		char name[64];
		size_t k = 0;
		while ((isalnum((unsigned char)*s) || *s == '_') && k + 1 < sizeof name)
			name[k++] = *s++;
		name[k] = 0;
		const char *v = getenv(name);
		if (v)
			append_str(w, n, cap, v);
		*p = s;
	} else {
		append_str(w, n, cap, "$");
	}
}

/* Split a line into tokens. Returns the count, or -1 on a syntax error. */
static int tokenize(const char *line, struct token *toks, int max, char *store, size_t store_cap)
{
	int nt = 0;
	size_t used = 0;
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		if (nt >= max) {
			err("sh: too many words\n");
			return -1;
		}
		struct token *t = &toks[nt];
		t->start = (int)(p - line);
		if (*p == '|' || *p == '&' || *p == ';' || *p == '<' || *p == '>' ||
		    (p[0] == '2' && p[1] == '>')) {
			t->text = NULL;
			if (*p == '|')
				t->type = T_PIPE, p++;
			else if (*p == '&')
				t->type = T_AMP, p++;
			else if (*p == ';')
				t->type = T_SEMI, p++;
			else if (*p == '<')
				t->type = T_IN, p++;
			else if (p[0] == '>' && p[1] == '>')
				t->type = T_APPEND, p += 2;
			else if (*p == '>')
				t->type = T_OUT, p++;
			else if (p[2] == '&' && p[3] == '1')
				t->type = T_ERR2OUT, p += 4;
			else
				t->type = T_ERR, p += 2;
			t->end = (int)(p - line);
			nt++;
			continue;
		}
		char *w = store + used;
		size_t n = 0, cap = store_cap - used;
		while (*p && *p != ' ' && *p != '\t' && *p != '|' && *p != '&' && *p != ';' && *p != '<' &&
		       *p != '>') {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');
				if (!end) {
					err("sh: unterminated '\n");
					return -1;
				}
				for (p++; p < end; p++)
					if (n + 1 < cap)
						w[n++] = *p;
				p++;
			} else if (*p == '"') {
				for (p++; *p && *p != '"';) {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$')) {
						if (n + 1 < cap)
							w[n++] = p[1];
						p += 2;
					} else if (*p == '$') {
						p++;
						expand_var(&p, w, &n, cap);
					} else if (n + 1 < cap) {
						w[n++] = *p++;
					} else {
						p++;
					}
				}
				if (*p != '"') {
					err("sh: unterminated \"\n");
					return -1;
				}
				p++;
			} else if (*p == '\\' && p[1]) {
				if (n + 1 < cap)
					w[n++] = p[1];
				p += 2;
			} else if (*p == '$') {
				p++;
				expand_var(&p, w, &n, cap);
			} else {
				if (n + 1 < cap)
					w[n++] = *p;
				p++;
			}
		}
		w[n] = 0;
		used += n + 1;
		t->type = T_WORD;
		t->text = w;
		t->end = (int)(p - line);
		nt++;
	}
	return nt;
}

/* ---- one stage of a pipeline ------------------------------------------- */

struct redir {
	const char *in, *out, *err;
	int out_append, err_to_out;
};

struct stage {
	char *argv[MAX_WORDS + 1];
	int argc;
	struct redir r;
};

/* Apply redirections in the current process. Returns 0, or -1 with a
 * message printed. */
static int apply_redirs(const struct redir *r)
{
	if (r->in) {
		int fd = open(r->in, O_RDONLY);
		if (fd < 0) {
			err("sh: %s: %s\n", r->in, strerror(errno));
			return -1;
		}
		dup2(fd, 0);
		close(fd);
	}
	if (r->out) {
		int fd = open(r->out, O_WRONLY | O_CREAT | (r->out_append ? O_APPEND : O_TRUNC), 0644);
		if (fd < 0) {
			err("sh: %s: %s\n", r->out, strerror(errno));
			return -1;
		}
		dup2(fd, 1);
		close(fd);
	}
	if (r->err) {
		int fd = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			err("sh: %s: %s\n", r->err, strerror(errno));
			return -1;
		}
		dup2(fd, 2);
		close(fd);
	}
	if (r->err_to_out)
		dup2(1, 2);
	return 0;
}

/* ---- built-ins --------------------------------------------------------- */

/* Copy fd to stdout. Returns 0 or 1 (message printed). */
static int copy_fd(const char *name, const char *path, int fd)
{
	char buf[4096];
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err("%s: %s: %s\n", name, path, strerror(errno));
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		int e = write_all(1, buf, (size_t)n);
		if (e) {
			err("%s: write error: %s\n", name, strerror(e));
			rc = 1;
			break;
		}
	}
	return rc;
}

/* Copy a file to stdout. Returns 0 or 1 (message printed). */
static int cat_file(const char *name, const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		err("%s: %s: %s\n", name, path, strerror(errno));
		return 1;
	}
	int rc = copy_fd(name, path, fd);
	close(fd);
	return rc;
}

static int bi_cat(int argc, char **argv)
{
	if (argc < 2)
		return copy_fd("cat", "stdin", 0);
	int rc = 0;
	for (int i = 1; i < argc; i++)
		rc |= cat_file("cat", argv[i]);
	return rc;
}

/* mkdir DIR... and rmdir DIR... (cgroups: mkdir /sys/fs/cgroup/g). */
static int bi_mkdir(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (mkdir(argv[i], 0755) != 0) {
			err("mkdir: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		}
	}
	return rc;
}

static int bi_rmdir(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		if (rmdir(argv[i]) != 0) {
			err("rmdir: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		}
	}
	return rc;
}

static int bi_echo(int argc, char **argv)
{
	char buf[LINE_MAX_LEN + 2];
	size_t n = 0;
	int i = 1, newline = 1;
	if (i < argc && strcmp(argv[i], "-n") == 0) {
		newline = 0;
		i++;
	}
	for (; i < argc; i++) {
		size_t l = strlen(argv[i]);
		if (n + l + 2 > sizeof buf)
			l = sizeof buf - n - 2;
		memcpy(buf + n, argv[i], l);
		n += l;
		if (i + 1 < argc)
			buf[n++] = ' ';
	}
	if (newline)
		buf[n++] = '\n';
	/* One write: a /proc file takes its value from a single write. */
	int e = write_all(1, buf, n);
	if (e) {
		err("sh: echo: write error: %s\n", strerror(e));
		return 1;
	}
	return 0;
}

/* Read a small file into buf (NUL-terminated). Returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	return (ssize_t)n;
}

/* The number after "KEY:" in a /proc status-style text, or -1. */
static long field_kb(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':')
			return strtol(p + kl + 1, NULL, 10);
	}
	return -1;
}

struct psrow {
	int pid;
	char stat;
	long rss_kb, vsz_kb;
	char cgroup[64];
	char cmd[96];
};

static int psrow_cmp(const void *a, const void *b)
{
	return ((const struct psrow *)a)->pid - ((const struct psrow *)b)->pid;
}

/* One process from /proc/PID/stat, status and cmdline. Returns 0 if it
 * vanished meanwhile. */
static int ps_read(int pid, struct psrow *row)
{
	char path[64], stat[1024], status[4096], cmdline[256];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (read_small(path, stat, sizeof stat) <= 0)
		return 0;
	/* pid (comm) S ppid ...: comm may hold spaces and parentheses, so take
	 * the last ')'. Fields after it: 3 state ... 23 vsize (bytes), 24 rss
	 * (pages). */
	char *open_p = strchr(stat, '('), *close_p = strrchr(stat, ')');
	if (!open_p || !close_p || close_p < open_p)
		return 0;
	char comm[64];
	size_t cl = (size_t)(close_p - open_p - 1);
	if (cl >= sizeof comm)
		cl = sizeof comm - 1;
	memcpy(comm, open_p + 1, cl);
	comm[cl] = 0;
	char *fields[64];
	int nf = 0;
	for (char *tok = strtok(close_p + 1, " \n"); tok && nf < 64; tok = strtok(NULL, " \n"))
		fields[nf++] = tok;
	row->pid = pid;
	row->stat = nf > 0 ? fields[0][0] : '?';
	long page_kb = sysconf(_SC_PAGESIZE) / 1024;
	row->vsz_kb = nf > 20 ? strtol(fields[20], NULL, 10) / 1024 : 0;
	row->rss_kb = nf > 21 ? strtol(fields[21], NULL, 10) * page_kb : 0;
	/* status has the same in kB (VmSize, VmRSS) for processes with memory. */
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (read_small(path, status, sizeof status) > 0) {
		long v = field_kb(status, "VmSize"), r = field_kb(status, "VmRSS");
		if (v >= 0)
			row->vsz_kb = v;
		if (r >= 0)
			row->rss_kb = r;
	}
	/* The cgroup v2 path after "0::" (procps's CGROUP column). */
	snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
	strcpy(row->cgroup, "-");
	if (read_small(path, status, sizeof status) > 0) {
		char *v2 = strstr(status, "0::");
		if (v2) {
			v2 += 3;
			v2[strcspn(v2, "\n")] = 0;
			snprintf(row->cgroup, sizeof row->cgroup, "%.63s", v2);
		}
	}
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	ssize_t n = read_small(path, cmdline, sizeof cmdline);
	if (n > 0) {
		for (ssize_t i = 0; i < n - 1; i++)
			if (cmdline[i] == 0)
				cmdline[i] = ' ';
		snprintf(row->cmd, sizeof row->cmd, "%.95s", cmdline);
	} else {
		snprintf(row->cmd, sizeof row->cmd, "[%s]", comm);
	}
	return 1;
}

static int bi_ps(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	DIR *d = opendir("/proc");
	if (!d) {
		err("ps: /proc: %s\n", strerror(errno));
		return 1;
	}
	static struct psrow rows[1024];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 1024) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		n += ps_read((int)pid, &rows[n]);
	}
	closedir(d);
	qsort(rows, (size_t)n, sizeof rows[0], psrow_cmp);
	out("%7s %-4s %8s %8s %-12s %s\n", "PID", "STAT", "RSS", "VSZ", "CGROUP", "COMMAND");
	for (int i = 0; i < n; i++)
		out("%7d %-4c %8ld %8ld %-12s %s\n", rows[i].pid, rows[i].stat, rows[i].rss_kb, rows[i].vsz_kb,
		    rows[i].cgroup, rows[i].cmd);
	return 0;
}

/* free -k, as procps-ng 4 computes it: used = MemTotal - MemAvailable
 * (total - free - buff/cache without MemAvailable), buff/cache = Buffers +
 * Cached + SReclaimable, shared = Shmem. */
static int bi_free(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static char mi[8192];
	if (read_small("/proc/meminfo", mi, sizeof mi) <= 0) {
		err("free: /proc/meminfo: %s\n", strerror(errno));
		return 1;
	}
	long total = field_kb(mi, "MemTotal"), mfree = field_kb(mi, "MemFree");
	long buffers = field_kb(mi, "Buffers"), cached = field_kb(mi, "Cached");
	long srecl = field_kb(mi, "SReclaimable"), shmem = field_kb(mi, "Shmem");
	long avail = field_kb(mi, "MemAvailable");
	long stotal = field_kb(mi, "SwapTotal"), sfree = field_kb(mi, "SwapFree");
	if (total < 0 || mfree < 0) {
		err("free: /proc/meminfo has no MemTotal/MemFree\n");
		return 1;
	}
#define Z(x) ((x) < 0 ? 0 : (x))
	long bc = Z(buffers) + Z(cached) + Z(srecl);
	long used = avail >= 0 ? total - avail : total - mfree - bc;
	if (used < 0)
		used = total - mfree;
	if (avail < 0)
		avail = mfree;
	out("               total        used        free      shared  buff/cache   available\n");
	out("%-9s%11ld %11ld %11ld %11ld %11ld %11ld\n", "Mem:", total, used, mfree, Z(shmem), bc, avail);
	out("%-9s%11ld %11ld %11ld\n", "Swap:", Z(stotal), Z(stotal) - Z(sfree), Z(sfree));
#undef Z
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signames[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP},
	{"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1},
	{"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
	{"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
};

static int parse_signal(const char *s)
{
	if (isdigit((unsigned char)*s)) {
		char *end;
		long v = strtol(s, &end, 10);
		return *end || v < 0 || v > 64 ? -1 : (int)v;
	}
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
		if (strcasecmp(s, signames[i].name) == 0)
			return signames[i].sig;
	return -1;
}

static int bi_kill(int argc, char **argv)
{
	int sig = SIGTERM, i = 1;
	if (i < argc && strcmp(argv[i], "-l") == 0) {
		for (size_t k = 0; k < sizeof signames / sizeof signames[0]; k++)
			out("%2d %s\n", signames[k].sig, signames[k].name);
		return 0;
	}
	if (i < argc && strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
		sig = parse_signal(argv[i + 1]);
		i += 2;
	} else if (i < argc && argv[i][0] == '-' && argv[i][1]) {
		sig = parse_signal(argv[i] + 1);
		i++;
	}
	if (sig < 0) {
		err("kill: %s: invalid signal\n", argv[i - 1]);
		return 1;
	}
	if (i >= argc) {
		err("usage: kill [-SIG] PID|%%N...\n");
		return 2;
	}
	int rc = 0;
	for (; i < argc; i++) {
		if (argv[i][0] == '%') {
			struct job *j = job_arg("kill", argv[i]);
			if (!j) {
				rc = 1;
				continue;
			}
			/* The job's group with job control, else each of its processes. */
			for (int k = 0; k < j->npids; k++) {
				pid_t target = job_control ? -j->pgid : j->pids[k];
				if (!job_control && j->pstate[k] == P_DONE)
					continue;
				if (kill(target, sig) < 0) {
					err("kill: %s: %s\n", argv[i], strerror(errno));
					rc = 1;
				}
				if (job_control)
					break;
			}
			/* A stopped job acts on the signal only once continued (as bash). */
			if (job_stopped(j) && sig != SIGCONT && sig != SIGKILL && sig != SIGSTOP && sig != SIGTSTP &&
			    sig != SIGTTIN && sig != SIGTTOU)
				resume_job(j, 0);
			continue;
		}
		char *end;
		long pid = strtol(argv[i], &end, 10);
		if (*end || !*argv[i]) {
			err("kill: %s: not a pid\n", argv[i]);
			rc = 1;
			continue;
		}
		if (kill((pid_t)pid, sig) < 0) {
			err("kill: (%ld) - %s\n", pid, strerror(errno));
			rc = 1;
		}
	}
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ls [DIR...]: names in columns, directories with a '/'. */
static int bi_ls(int argc, char **argv)
{
	int rc = 0;
	for (int a = argc > 1 ? 1 : 0; a < argc || (argc <= 1 && a == 0); a++) {
		const char *dir = argc > 1 ? argv[a] : ".";
		DIR *d = opendir(dir);
		if (!d) {
			err("ls: %s: %s\n", dir, strerror(errno));
			rc = 1;
			if (argc <= 1)
				break;
			continue;
		}
		static char names[512][64];
		static char *sorted[512];
		int n = 0;
		size_t width = 1;
		struct dirent *de;
		while ((de = readdir(d)) && n < 512) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(names[n], sizeof names[n], "%.62s%s", de->d_name, de->d_type == DT_DIR ? "/" : "");
			sorted[n] = names[n];
			if (strlen(names[n]) + 2 > width)
				width = strlen(names[n]) + 2;
			n++;
		}
		closedir(d);
		qsort(sorted, (size_t)n, sizeof sorted[0], name_cmp);
		if (argc > 2)
			out("%s%s:\n", a > 1 ? "\n" : "", dir);
		int cols = (int)(80 / width);
		if (cols < 1)
			cols = 1;
		int rows = (n + cols - 1) / cols;
		for (int r = 0; r < rows; r++) {
			char row[256];
			size_t len = 0;
			for (int c = 0; c < cols; c++) {
				int i = c * rows + r;
				if (i >= n)
					break;
				int last = c + 1 == cols || (c + 1) * rows + r >= n;
				int w = last ? 0 : (int)width;
				len += (size_t)snprintf(row + len, sizeof row - len, "%-*s", w, sorted[i]);
				if (len >= sizeof row)
					len = sizeof row - 1;
			}
			out("%s\n", row);
		}
		if (argc <= 1)
			break;
	}
	return rc;
}

static int bi_cd(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("HOME");
	if (!dir)
		dir = "/";
	if (chdir(dir) < 0) {
		err("cd: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	return 0;
}

static int bi_pwd(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	char buf[4096];
	if (!getcwd(buf, sizeof buf)) {
		err("pwd: %s\n", strerror(errno));
		return 1;
	}
	out("%s\n", buf);
	return 0;
}

static int bi_jobs(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	reap_children();
	for (int i = 0; i < njobs; i++) {
		print_job(&jobs[i]);
		if (job_stopped(&jobs[i]))
			jobs[i].reported_stop = 1;
	}
	/* Ended jobs were just reported. */
	for (int i = 0; i < njobs;) {
		if (job_done(&jobs[i]))
			job_remove(&jobs[i]);
		else
			i++;
	}
	return 0;
}

/* Block until `until(j, k)` is false, noting every child's change. */
static void wait_while(struct job *j, int k, int (*until)(const struct job *, int))
{
	while (until(j, k)) {
		int st;
		pid_t p = waitpid(-1, &st, WAIT_FLAGS);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			return;
		job_note(p, st);
	}
}

static int proc_runs(const struct job *j, int k)
{
	return j->pstate[k] == P_RUNNING;
}

static int job_runs(const struct job *j, int k)
{
	(void)k;
	return job_running(j);
}

static int any_job_runs(const struct job *j, int k)
{
	(void)j;
	(void)k;
	for (int i = 0; i < njobs; i++)
		if (job_running(&jobs[i]))
			return 1;
	return 0;
}

/* wait [PID|%N ...]: wait for each, giving the status of the last one (a
 * process's own, a job's last process's; 128+N if it stopped); without
 * arguments for every running job, then say which ended. */
static int bi_wait(int argc, char **argv)
{
	if (argc == 1) {
		wait_while(NULL, 0, any_job_runs);
		notify_jobs();
		return 0;
	}
	int rc = 0;
	for (int a = 1; a < argc; a++) {
		struct job *j;
		int k = -1;
		if (argv[a][0] == '%') {
			j = job_arg("wait", argv[a]);
		} else {
			char *end;
			long pid = strtol(argv[a], &end, 10);
			j = *end || pid <= 0 ? NULL : job_of_pid((pid_t)pid, &k);
			if (!j)
				err("wait: pid %s is not a child of this shell\n", argv[a]);
		}
		if (!j) {
			rc = 127;
			continue;
		}
		if (k >= 0)
			wait_while(j, k, proc_runs);
		else
			wait_while(j, 0, job_runs);
		int st = k >= 0 && j->pstate[k] == P_DONE ? j->pstatus[k] : j->status;
		rc = WIFSTOPPED(st) ? 128 + WSTOPSIG(st) : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (job_done(j))
			job_remove(j);
	}
	return rc;
}

/* fg [%N]: continue the job in the foreground and wait for it. */
static int bi_fg(int argc, char **argv)
{
	if (!job_control) {
		err("fg: no job control\n");
		return 1;
	}
	struct job *j = job_arg("fg", argc > 1 ? argv[1] : NULL);
	if (!j)
		return 1;
	out("%s\n", j->cmd);
	return resume_job(j, 1);
}

/* bg [%N]: continue a stopped job in the background. */
static int bi_bg(int argc, char **argv)
{
	if (!job_control) {
		err("bg: no job control\n");
		return 1;
	}
	struct job *j = job_arg("bg", argc > 1 ? argv[1] : NULL);
	if (!j)
		return 1;
	if (job_running(j)) {
		err("bg: job %d already in background\n", j->id);
		return 0;
	}
	resume_job(j, 0);
	out("[%d]%c %s &\n", j->id, job_mark(j), j->cmd);
	return 0;
}

static int bi_history(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (int i = 0; i < hist_len; i++)
		out("%5d  %s\n", i + 1, history[i]);
	return 0;
}

static int bi_env(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (char **e = environ; *e; e++)
		out("%s\n", *e);
	return 0;
}

static int bi_true(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int bi_false(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 1;
}

static int bi_exit(int argc, char **argv);
static int bi_help(int argc, char **argv);

static const char *proc_shortcuts[] = {"meminfo",     "buddyinfo", "zoneinfo", "pagetypeinfo",
				       "vmallocinfo", "slabinfo",  "vmstat"};

static const struct builtin {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} builtins[] = {
	{"help", bi_help, "this list"},
	{"echo", bi_echo, "[-n] WORD...   print words (echo V > /proc/sys/vm/FILE sets a sysctl)"},
	{"cat", bi_cat, "FILE...        print files"},
	{"mkdir", bi_mkdir, "DIR...         make directories (a cgroup in /sys/fs/cgroup)"},
	{"rmdir", bi_rmdir, "DIR...         remove empty directories"},
	{"ps", bi_ps, "               processes: PID, STAT, RSS and VSZ in kB, CGROUP, COMMAND"},
	{"kill", bi_kill, "[-SIG] PID|%N... send a signal (default TERM; kill -l lists them)"},
	{"free", bi_free, "               memory in kB, from /proc/meminfo (like free -k)"},
	{"ls", bi_ls, "[DIR]          list a directory"},
	{"cd", bi_cd, "[DIR]          change directory"},
	{"pwd", bi_pwd, "               print the directory"},
	{"jobs", bi_jobs, "               jobs: running, stopped, and ended since the last report"},
	{"fg", bi_fg, "[%N]           continue a job in the foreground (^Z stops it again)"},
	{"bg", bi_bg, "[%N]           continue a stopped job in the background"},
	{"wait", bi_wait, "[PID|%N]       wait for background jobs"},
	{"history", bi_history, "               lines typed so far"},
	{"env", bi_env, "               the environment"},
	{"true", bi_true, "               status 0"},
	{"false", bi_false, "               status 1"},
	{"exit", bi_exit, "[N]            leave the shell"},
};

static int bi_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	out("mmkernel sh: built-in commands\n");
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		out("  %-8s %s\n", builtins[i].name, builtins[i].help);
	out("  meminfo buddyinfo zoneinfo pagetypeinfo vmallocinfo slabinfo vmstat: cat /proc/NAME\n");
	out("Anything else runs a program from $PATH (default /bin; see ls /bin), & in the background.\n");
	out("Syntax: CMD ARGS [< IN] [> OUT | >> OUT] [2> ERR | 2>&1] [| CMD ...] [&] [; ...]\n");
	out("Keys: Left/Right ^B/^F, Home/End ^A/^E, Up/Down history, ^U ^K ^W kill, ^C drop line, ^D end.\n");
	return 0;
}

static int exiting = -1;

static int bi_exit(int argc, char **argv)
{
	exiting = argc > 1 ? atoi(argv[1]) & 0xff : last_status;
	return exiting;
}

static const struct builtin *find_builtin(const char *name)
{
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	return NULL;
}

static int is_proc_shortcut(const char *name)
{
	for (size_t i = 0; i < sizeof proc_shortcuts / sizeof proc_shortcuts[0]; i++)
		if (strcmp(proc_shortcuts[i], name) == 0)
			return 1;
	return 0;
}

/* Run a built-in (or /proc shortcut) in this process. -1: not one. */
static int run_builtin(struct stage *s)
{
	const char *name = s->argv[0];
	if (is_proc_shortcut(name)) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%s", name);
		return cat_file(name, path);
	}
	const struct builtin *b = find_builtin(name);
	return b ? b->fn(s->argc, s->argv) : -1;
}

/* ---- programs ---------------------------------------------------------- */

/* Find NAME: as given if it holds a '/', else in $PATH (default /bin). */
static const char *find_program(const char *name, char *buf, size_t cap)
{
	if (strchr(name, '/'))
		return name;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t)(colon - path) : strlen(path);
		snprintf(buf, cap, "%.*s/%s", (int)dl, path, name);
		if (access(buf, X_OK) == 0)
			return buf;
		path += dl + (colon ? 1 : 0);
	}
	return NULL;
}

/* In a forked child: set up and run stage s; never returns. */
static void child_exec(struct stage *s, int background)
{
	if (job_control) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGTSTP, SIG_DFL);
		signal(SIGTTIN, SIG_DFL);
		signal(SIGTTOU, SIG_DFL);
	} else {
		signal(SIGINT, background ? SIG_IGN : SIG_DFL);
		signal(SIGQUIT, background ? SIG_IGN : SIG_DFL);
	}
	signal(SIGPIPE, SIG_DFL);
	if (apply_redirs(&s->r) < 0)
		_exit(1);
	int rc = run_builtin(s);
	if (rc >= 0)
		_exit(rc);
	char buf[512];
	const char *path = find_program(s->argv[0], buf, sizeof buf);
	if (!path) {
		err("sh: %s: command not found\n", s->argv[0]);
		_exit(127);
	}
	execve(path, s->argv, environ);
	int e = errno;
	err("sh: %s: %s\n", path, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* Run a pipeline of n stages as a job; wait unless background. Returns
 * the status of the last stage (128+N if the job stopped). */
static int run_pipeline(struct stage *st, int n, int background, const char *text)
{
	/* A lone built-in in the foreground runs in the shell itself (cd and
	 * exit must), with its redirections undone afterwards; but cat may
	 * wait on the terminal, so it runs in a child that ^C can end. */
	if (n == 1 && !background && (find_builtin(st[0].argv[0]) || is_proc_shortcut(st[0].argv[0])) &&
	    strcmp(st[0].argv[0], "cat") != 0) {
		int save[3] = {dup(0), dup(1), dup(2)};
		int rc = apply_redirs(&st[0].r) < 0 ? 1 : run_builtin(&st[0]);
		for (int fd = 0; fd < 3; fd++) {
			if (save[fd] >= 0) {
				dup2(save[fd], fd);
				close(save[fd]);
			}
		}
		return rc;
	}
	if (njobs == MAX_JOBS) {
		err("sh: too many jobs\n");
		return 1;
	}
	pid_t pids[MAX_STAGES];
	pid_t pgid = 0;
	int prev_read = -1;
	for (int i = 0; i < n; i++) {
		int p[2] = {-1, -1};
		if (i + 1 < n && pipe(p) < 0) {
			err("sh: pipe: %s\n", strerror(errno));
			n = i;
			break;
		}
		pid_t pid = fork();
		if (pid < 0) {
			err("sh: fork: %s\n", strerror(errno));
			if (p[0] >= 0) {
				close(p[0]);
				close(p[1]);
			}
			n = i;
			break;
		}
		if (pid == 0) {
			if (job_control) {
				setpgid(0, pgid);
				if (!background)
					tcsetpgrp(0, getpgrp());
			}
			if (prev_read >= 0) {
				dup2(prev_read, 0);
				close(prev_read);
			} else if (background && !job_control) {
				int null = open("/dev/null", O_RDONLY);
				if (null >= 0) {
					dup2(null, 0);
					close(null);
				}
			}
			if (p[1] >= 0) {
				dup2(p[1], 1);
				close(p[1]);
				close(p[0]);
			}
			child_exec(&st[i], background);
		}
		pids[i] = pid;
		if (!pgid)
			pgid = pid;
		if (job_control) {
			/* Also here, so the group exists whichever runs first. */
			setpgid(pid, pgid);
			if (!background && i == 0)
				tcsetpgrp(0, pgid);
		}
		if (prev_read >= 0)
			close(prev_read);
		if (p[1] >= 0)
			close(p[1]);
		prev_read = p[0];
	}
	if (prev_read >= 0)
		close(prev_read);
	if (n == 0)
		return 1;
	struct job *j = job_add(pids, n, pgid, background, text);
	if (background) {
		out("[%d] %d\n", j->id, (int)pids[n - 1]);
		return 0;
	}
	return wait_foreground(j);
}

/* Run one command list (tokens up to ';' or the end). */
static int run_command(struct token *t, int nt, const char *text)
{
	struct stage stages[MAX_STAGES];
	int ns = 0, background = 0;
	memset(stages, 0, sizeof stages);
	struct stage *s = &stages[0];
	for (int i = 0; i < nt; i++) {
		switch (t[i].type) {
		case T_WORD:
			if (s->argc < MAX_WORDS)
				s->argv[s->argc++] = t[i].text;
			break;
		case T_PIPE:
			if (s->argc == 0 || ns + 1 >= MAX_STAGES) {
				err("sh: syntax error near '|'\n");
				return 2;
			}
			s = &stages[++ns];
			break;
		case T_AMP:
			if (i != nt - 1) {
				err("sh: '&' must end the command\n");
				return 2;
			}
			background = 1;
			break;
		case T_IN:
		case T_OUT:
		case T_APPEND:
		case T_ERR:
			if (i + 1 >= nt || t[i + 1].type != T_WORD) {
				err("sh: syntax error: redirection without a file\n");
				return 2;
			}
			if (t[i].type == T_IN)
				s->r.in = t[i + 1].text;
			else if (t[i].type == T_ERR)
				s->r.err = t[i + 1].text;
			else {
				s->r.out = t[i + 1].text;
				s->r.out_append = t[i].type == T_APPEND;
			}
			i++;
			break;
		case T_ERR2OUT:
			s->r.err_to_out = 1;
			break;
		case T_SEMI:
			break;
		}
	}
	if (s->argc == 0) {
		if (ns > 0) {
			err("sh: syntax error near '|'\n");
			return 2;
		}
		return last_status;
	}
	ns++;
	/* NAME=VALUE alone sets the environment. */
	if (ns == 1 && stages[0].argc == 1 && !background && strchr(stages[0].argv[0], '=') &&
	    stages[0].argv[0][0] != '=') {
		char *eq = strchr(stages[0].argv[0], '=');
		*eq = 0;
		setenv(stages[0].argv[0], eq + 1, 1);
		return 0;
	}
	for (int i = 0; i < ns; i++)
		stages[i].argv[stages[i].argc] = NULL;
	return run_pipeline(stages, ns, background, text);
}

static void run_line(const char *line)
{
	static struct token toks[MAX_WORDS * 2];
	static char store[LINE_MAX_LEN * 4];
	int nt = tokenize(line, toks, MAX_WORDS * 2, store, sizeof store);
	if (nt < 0) {
		last_status = 2;
		return;
	}
	int start = 0;
	for (int i = 0; i <= nt && exiting < 0; i++) {
		if (i == nt || toks[i].type == T_SEMI) {
			if (i > start) {
				/* The command's own text, without a final '&', names its job. */
				int last = i - 1;
				if (toks[last].type == T_AMP && last > start)
					last--;
				char text[64];
				snprintf(text, sizeof text, "%.*s", toks[last].end - toks[start].start, line + toks[start].start);
				last_status = run_command(toks + start, i - start, text);
			}
			start = i + 1;
		}
	}
}

int main(int argc, char **argv)
{
	static char line[LINE_MAX_LEN];
	int script_fd = -1;
	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		run_line(argv[2]);
		return exiting >= 0 ? exiting : last_status;
	}
	if (argc > 1) {
		script_fd = open(argv[1], O_RDONLY);
		if (script_fd < 0) {
			err("sh: %s: %s\n", argv[1], strerror(errno));
			return 127;
		}
		dup2(script_fd, 0);
		close(script_fd);
	}
	interactive = tcgetattr(0, &saved_tio) == 0;
	if (interactive) {
		init_job_control();
		out("mmkernel shell: 'help' lists the commands.\n");
	}
	while (exiting < 0) {
		/* Only an interactive shell reports ended jobs before each
		 * command (and forgets them); a script keeps them for `wait %N`
		 * and `jobs`, as bash does, however soon they end. */
		if (interactive)
			notify_jobs();
		else
			reap_children();
		int got;
		if (interactive) {
			static struct editor ed;
			tty_raw();
			got = edit_line(&ed);
			tty_restore();
			if (got) {
				memcpy(line, ed.buf, ed.len + 1);
				history_add(line);
			}
		} else {
			got = plain_line(line, sizeof line);
		}
		if (!got)
			break;
		run_line(line);
	}
	tty_restore();
	return exiting >= 0 ? exiting : last_status;
}
