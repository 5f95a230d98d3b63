//! Running a command (QEMU) with a time limit while streaming its output
//! line by line, and optionally typing into its stdin (the guest's serial
//! console).
//!
//! stdout is read on a thread and handed over a channel, so the main thread
//! can keep the deadline while the guest prints or stays silent. On timeout
//! the child is killed. Every line is passed to a callback (which echoes,
//! symbolises, logs) and kept for the verdict.
//!
//! With [`Input::Script`] the reader thread also types: each line goes to
//! stdin only once the prompt has appeared in the output since the line
//! before (prompts end without a newline, so the search runs over raw
//! bytes, not lines). A script line `@wait TEXT` is not typed: the line
//! after it waits for TEXT instead of the prompt (for typing to a program
//! that prints something else, such as a job to stop with ^Z). With
//! [`Input::Inherit`] (someone typing at a
//! terminal) an unfinished line is written to stdout as it comes, so a
//! prompt and the guest's echo show at once; the callback then hears that
//! the line's raw text is already on the screen.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::exit::Outcome;

/// Result of a run.
pub struct RunResult {
    pub outcome: Outcome,
    pub lines: Vec<String>,
    pub elapsed: Duration,
    /// What the process wrote to stderr.
    pub stderr: String,
}

/// What the child's stdin (the guest's serial input) gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing: /dev/null.
    Null,
    /// This process's stdin (so `make run` can type into the console).
    Inherit,
    /// These lines, each followed by a newline and sent once `prompt` has
    /// appeared in the output since the previous one was sent (`@wait
    /// TEXT` lines: the next waits for TEXT instead).
    Script { lines: Vec<String>, prompt: String },
}

/// Run `cmd` for at most `timeout`, calling `on_line` for each stdout line.
/// stdin is inherited only when `interactive` (so `make run` can type into
/// the serial console).
pub fn run_with_timeout(
    cmd: Command,
    timeout: Option<Duration>,
    interactive: bool,
    mut on_line: impl FnMut(&str),
) -> Result<RunResult> {
    run_with_input(cmd, timeout, if interactive { Input::Inherit } else { Input::Null }, |l, shown| {
        if !shown {
            on_line(l)
        }
    })
}

/// What the reader thread hands over.
enum Msg {
    /// A complete line; `rest` holds its raw bytes not yet written to
    /// stdout when its start was (see [`Input::Inherit`]).
    Line { text: String, rest: Option<Vec<u8>> },
    /// The start of an unfinished line, to show now.
    Partial(Vec<u8>),
}

/// Types a script into stdin, a line per prompt.
struct Typist {
    stdin: Option<std::process::ChildStdin>,
    lines: std::collections::VecDeque<String>,
    prompt: Vec<u8>,
    /// Output since the last line was typed.
    seen: Vec<u8>,
}

/// The script line that names what the next line waits for.
const WAIT_DIRECTIVE: &str = "@wait ";

impl Typist {
    /// Take output bytes; type the next line if the prompt came.
    fn feed(&mut self, bytes: &[u8]) {
        if self.lines.is_empty() {
            return;
        }
        self.seen.extend_from_slice(bytes);
        let wait_for = match self.lines.front().and_then(|l| l.strip_prefix(WAIT_DIRECTIVE)) {
            Some(text) => text.as_bytes(),
            None => self.prompt.as_slice(),
        };
        let found = wait_for.is_empty() || self.seen.windows(wait_for.len()).any(|w| w == wait_for);
        if !found {
            // Keep only what could still be the start of what is awaited.
            if self.seen.len() > 4096 {
                let cut = self.seen.len() - (wait_for.len() - 1);
                self.seen.drain(..cut);
            }
            return;
        }
        self.seen.clear();
        if self.lines.front().is_some_and(|l| l.starts_with(WAIT_DIRECTIVE)) {
            self.lines.pop_front();
        }
        if let (Some(line), Some(stdin)) = (self.lines.pop_front(), self.stdin.as_mut()) {
            let ok = stdin.write_all(line.as_bytes()).and_then(|_| stdin.write_all(b"\n")).and_then(|_| stdin.flush());
            if ok.is_err() {
                self.stdin = None;
            }
        }
    }
}

/// A line as kept and matched: without `\r` and the final `\n`.
fn clean_line(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).trim_end_matches(['\n', '\r']).replace('\r', "")
}

/// Split `buf` into complete raw lines (with their `\n`), leaving an
/// unfinished last line in `buf`.
fn take_lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        out.push(buf.drain(..=nl).collect());
    }
    out
}

/// [`run_with_timeout`] with a choice of what stdin gets. `on_line(line,
/// shown)`: `shown` says the line's raw text is already on stdout (an
/// interactive run showed it while it was unfinished).
pub fn run_with_input(
    cmd: Command,
    timeout: Option<Duration>,
    input: Input,
    on_line: impl FnMut(&str, bool),
) -> Result<RunResult> {
    run_with_last_words(cmd, timeout, input, None, on_line)
}

/// How long a timed-out child may go on printing after `last_words`.
pub const LAST_WORDS_GRACE: Duration = Duration::from_secs(4);

/// [`run_with_input`], and at the deadline, before the kill, call
/// `last_words` (the matrix asks the guest for its NMI report there) and
/// keep reading for [`LAST_WORDS_GRACE`]. The run still counts as timed out.
pub fn run_with_last_words(
    mut cmd: Command,
    timeout: Option<Duration>,
    input: Input,
    mut last_words: Option<&mut dyn FnMut()>,
    mut on_line: impl FnMut(&str, bool),
) -> Result<RunResult> {
    let echo_partial = input == Input::Inherit;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(match input {
        Input::Null => Stdio::null(),
        Input::Inherit => Stdio::inherit(),
        Input::Script { .. } => Stdio::piped(),
    });
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let mut typist = match input {
        Input::Script { lines, prompt } => Some(Typist {
            stdin: child.stdin.take(),
            lines: lines.into(),
            prompt: prompt.into_bytes(),
            seen: Vec::new(),
        }),
        _ => None,
    };

    let (tx, rx) = mpsc::channel::<Msg>();
    let reader = std::thread::spawn(move || {
        let mut pending = Vec::new();
        // Bytes of the unfinished line already sent as `Partial`.
        let mut shown = 0;
        let mut chunk = [0u8; 4096];
        loop {
            let n = match stdout.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            for raw in take_lines(&mut pending) {
                let rest = (shown > 0).then(|| raw[shown.min(raw.len())..].to_vec());
                shown = 0;
                if tx.send(Msg::Line { text: clean_line(&raw), rest }).is_err() {
                    return;
                }
            }
            if echo_partial && pending.len() > shown {
                if tx.send(Msg::Partial(pending[shown..].to_vec())).is_err() {
                    return;
                }
                shown = pending.len();
            }
            if let Some(t) = typist.as_mut() {
                t.feed(&chunk[..n]);
            }
        }
        if !pending.is_empty() {
            let rest = (shown > 0).then(|| pending[shown.min(pending.len())..].to_vec());
            let _ = tx.send(Msg::Line { text: clean_line(&pending), rest });
        }
        // stdin (in the typist) stays open until the output ends.
        drop(typist);
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let mut deadline = timeout.map(|t| start + t);
    let mut lines = Vec::new();
    let mut take = |msg: Msg, lines: &mut Vec<String>| match msg {
        Msg::Partial(bytes) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes).and_then(|_| out.flush());
        }
        Msg::Line { text, rest } => {
            if let Some(rest) = &rest {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(rest).and_then(|_| out.flush());
            }
            on_line(&text, rest.is_some());
            lines.push(text);
        }
    };
    let mut timed_out = false;
    loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => {
                    timed_out = true;
                    match last_words.take() {
                        Some(f) => {
                            f();
                            deadline = Some(Instant::now() + LAST_WORDS_GRACE);
                            continue;
                        }
                        None => break,
                    }
                }
            },
            None => Duration::from_secs(3600),
        };
        match rx.recv_timeout(wait.min(Duration::from_millis(500))) {
            Ok(msg) => take(msg, &mut lines),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if timed_out {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for child")?;
    // Drain what was printed before the exit or the kill. After a timeout a
    // grandchild may still hold the pipes open, so the readers are not
    // waited for then.
    let stderr = if timed_out {
        String::new()
    } else {
        let _ = reader.join();
        err_reader.join().unwrap_or_default()
    };
    for msg in rx.try_iter() {
        take(msg, &mut lines);
    }
    Ok(RunResult { outcome: Outcome::from_status(status.code(), timed_out), lines, elapsed: start.elapsed(), stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_words_are_asked_for_and_read_before_the_kill() {
        let dir = std::env::temp_dir().join(format!("boot-last-words-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let flag = dir.join("asked");
        let _ = std::fs::remove_file(&flag);
        let mut cmd = Command::new("sh");
        let script = format!(
            "echo started; while [ ! -e {0} ]; do sleep 0.05; done; echo report; exec sleep 30",
            flag.display()
        );
        cmd.args(["-c", &script]);
        let mut asked = 0;
        let mut ask = || {
            asked += 1;
            std::fs::write(&flag, b"").unwrap();
        };
        let r =
            run_with_last_words(cmd, Some(Duration::from_millis(300)), Input::Null, Some(&mut ask), |_, _| {}).unwrap();
        assert_eq!(asked, 1);
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!(r.lines, vec!["started".to_string(), "report".to_string()]);
        assert!(r.elapsed < LAST_WORDS_GRACE + Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hung_child_is_killed_at_the_deadline() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let r = run_with_timeout(cmd, Some(Duration::from_millis(500)), false, |_| {}).unwrap();
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!(r.lines, vec!["started".to_string()]);
        assert!(r.elapsed < Duration::from_secs(10));
        assert_ne!(r.outcome.exit_code(), 0);
    }

    #[test]
    fn exit_status_33_is_success_and_lines_are_kept() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'a\\r\\nb\\n'; exit 33"]);
        let mut seen = Vec::new();
        let r = run_with_timeout(cmd, Some(Duration::from_secs(10)), false, |l| seen.push(l.to_string())).unwrap();
        assert_eq!(r.outcome, Outcome::Success);
        assert_eq!(seen, vec!["a", "b"]);
    }

    #[test]
    fn script_lines_wait_for_their_prompt() {
        // A tiny "shell": prompt, read a line, echo it back, three times.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in 1 2 3; do printf 'p> '; read l || exit 1; echo \"got $l\"; done; exit 33"]);
        let input = Input::Script { lines: vec!["a".into(), "b c".into(), "d".into()], prompt: "p> ".into() };
        let r = run_with_input(cmd, Some(Duration::from_secs(10)), input, |_, _| {}).unwrap();
        assert_eq!(r.outcome, Outcome::Success, "{:?}", r.lines);
        assert_eq!(r.lines, vec!["p> got a", "p> got b c", "p> got d"]);
    }

    #[test]
    fn a_wait_line_makes_the_next_line_wait_for_its_text() {
        // The second read waits for "ready", which has no prompt after it.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'p> '; read a; sleep 0.3; echo ready; read b; echo \"got $a $b\"; exit 33"]);
        let input = Input::Script { lines: vec!["x".into(), "@wait ready".into(), "y".into()], prompt: "p> ".into() };
        let r = run_with_input(cmd, Some(Duration::from_secs(10)), input, |_, _| {}).unwrap();
        assert_eq!(r.outcome, Outcome::Success, "{:?}", r.lines);
        assert_eq!(r.lines, vec!["p> ready", "got x y"]);
    }

    #[test]
    fn a_prompt_that_never_comes_types_nothing() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'ready'; read l; echo \"got $l\""]);
        let input = Input::Script { lines: vec!["x".into()], prompt: "p> ".into() };
        let r = run_with_input(cmd, Some(Duration::from_millis(700)), input, |_, _| {}).unwrap();
        assert_eq!(r.outcome, Outcome::Timeout);
    }

    #[test]
    fn lines_are_split_across_reads() {
        let mut buf = b"ab\r\ncd".to_vec();
        assert_eq!(take_lines(&mut buf), vec![b"ab\r\n".to_vec()]);
        assert_eq!(buf, b"cd");
        buf.extend_from_slice(b"e\nf\n");
        let lines: Vec<String> = take_lines(&mut buf).iter().map(|l| clean_line(l)).collect();
        assert_eq!(lines, vec!["cde", "f"]);
        assert!(buf.is_empty());
        assert_eq!(clean_line(b"\rmm# ls\rmm# ls /\r\n"), "mm# lsmm# ls /");
    }

    #[test]
    fn script_runs_report_lines_as_not_shown() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'p> '; read l; echo \"got $l\"; exit 33"]);
        let input = Input::Script { lines: vec!["a".into()], prompt: "p> ".into() };
        let mut seen = Vec::new();
        let r = run_with_input(cmd, Some(Duration::from_secs(10)), input, |l, shown| seen.push((l.to_string(), shown)))
            .unwrap();
        assert_eq!(r.outcome, Outcome::Success);
        assert_eq!(seen, vec![("p> got a".to_string(), false)]);
    }

    #[test]
    fn failure_code_35_fails() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 35"]);
        let r = run_with_timeout(cmd, None, false, |_| {}).unwrap();
        assert_eq!(r.outcome, Outcome::Failure);
        assert_eq!(r.outcome.exit_code(), 1);
    }
}
