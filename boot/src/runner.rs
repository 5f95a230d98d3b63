//! Running a command (QEMU) with a time limit while streaming its output
//! line by line.
//!
//! stdout is read on a thread and handed over a channel, so the main thread
//! can keep the deadline while the guest prints or stays silent. On timeout
//! the child is killed. Every line is passed to a callback (which echoes,
//! symbolises, logs) and kept for the verdict.

use std::io::{BufRead, BufReader, Read};
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

/// Run `cmd` for at most `timeout`, calling `on_line` for each stdout line.
/// stdin is inherited only when `interactive` (so `make run` can type into
/// the serial console).
pub fn run_with_timeout(
    mut cmd: Command,
    timeout: Option<Duration>,
    interactive: bool,
    mut on_line: impl FnMut(&str),
) -> Result<RunResult> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if interactive { Stdio::inherit() } else { Stdio::null() });
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;

    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).replace('\r', "");
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let deadline = timeout.map(|t| start + t);
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => {
                    timed_out = true;
                    break;
                }
            },
            None => Duration::from_secs(3600),
        };
        match rx.recv_timeout(wait.min(Duration::from_millis(500))) {
            Ok(line) => {
                on_line(&line);
                lines.push(line);
            }
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
    for line in rx.try_iter() {
        on_line(&line);
        lines.push(line);
    }
    Ok(RunResult {
        outcome: Outcome::from_status(status.code(), timed_out),
        lines,
        elapsed: start.elapsed(),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn failure_code_35_fails() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 35"]);
        let r = run_with_timeout(cmd, None, false, |_| {}).unwrap();
        assert_eq!(r.outcome, Outcome::Failure);
        assert_eq!(r.outcome.exit_code(), 1);
    }
}
