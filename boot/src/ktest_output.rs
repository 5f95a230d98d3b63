//! Parsing the test protocol the kernel prints on serial (see
//! `kernel::ktest`): one `test NAME ... ok|FAILED (why)` line per case and a
//! closing `N passed, N failed` line. User-level test programs print the
//! same lines, so one parser serves both.

/// One case's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Everything a run printed in the protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    /// Every `N passed, N failed` line seen, in order.
    pub summaries: Vec<(usize, usize)>,
}

/// Parse `test NAME ... ok` / `test NAME ... FAILED (why)` anywhere in a line.
pub fn parse_case(line: &str) -> Option<CaseResult> {
    let at = line.find("test ")?;
    let rest = &line[at + 5..];
    let (name, verdict) = rest.split_once(" ... ")?;
    if name.is_empty() || name.contains(' ') {
        return None;
    }
    let verdict = verdict.trim_end();
    if verdict == "ok" {
        Some(CaseResult { name: name.into(), passed: true, detail: String::new() })
    } else if let Some(why) = verdict.strip_prefix("ok (skipped: ").and_then(|w| w.strip_suffix(')')) {
        // user/c/check.h's check_skip: counted as passed by its summary.
        Some(CaseResult { name: name.into(), passed: true, detail: format!("skipped: {why}") })
    } else if let Some(why) = verdict.strip_prefix("FAILED") {
        Some(CaseResult { name: name.into(), passed: false, detail: why.trim().into() })
    } else {
        None
    }
}

/// Parse a `[word:] N passed, N failed` line.
pub fn parse_summary(line: &str) -> Option<(usize, usize)> {
    let line = line.trim();
    let body = match line.split_once(": ") {
        Some((word, rest)) if !word.contains(' ') => rest,
        _ => line,
    };
    let (p, f) = body.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some((p.trim().parse().ok()?, f.trim().parse().ok()?))
}

impl Report {
    pub fn feed(&mut self, line: &str) {
        if let Some(c) = parse_case(line) {
            self.cases.push(c);
        } else if let Some(s) = parse_summary(line) {
            self.summaries.push(s);
        }
    }

    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed).count()
    }

    /// Whether the run proves success: at least one case, no failed case,
    /// and every summary line agrees that nothing failed. The case count is
    /// checked against the summaries so that a kernel which dies between
    /// cases cannot look green.
    pub fn verdict(&self) -> Result<(), String> {
        if self.cases.is_empty() {
            return Err("no test case ran".into());
        }
        if self.summaries.is_empty() {
            return Err("no 'N passed, N failed' line".into());
        }
        if let Some(c) = self.cases.iter().find(|c| !c.passed) {
            return Err(format!("{} failed {}", c.name, c.detail));
        }
        let (p, f): (usize, usize) = self.summaries.iter().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
        if f != 0 {
            return Err(format!("summary reports {f} failed"));
        }
        if p != self.passed() {
            return Err(format!("summary reports {p} passed but {} case lines said ok", self.passed()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> Report {
        let mut r = Report::default();
        text.lines().for_each(|l| r.feed(l));
        r
    }

    #[test]
    fn parses_cases_and_summary() {
        let r = report(
            "boot noise\ntest basic::a ... ok\ntest basic::b ... FAILED (panicked: boom)\nktest: 1 passed, 1 failed\n",
        );
        assert_eq!(r.cases.len(), 2);
        assert!(r.cases[0].passed);
        assert_eq!(r.cases[1].detail, "(panicked: boom)");
        assert_eq!(r.summaries, vec![(1, 1)]);
        assert!(r.verdict().is_err());
    }

    #[test]
    fn green_run_needs_cases_and_a_matching_summary() {
        assert!(report("test a ... ok\nktest: 1 passed, 0 failed").verdict().is_ok());
        assert!(report("ktest: 0 passed, 0 failed").verdict().is_err());
        assert!(report("test a ... ok").verdict().is_err());
        // Summary claims more passes than case lines: a case line went missing.
        assert!(report("test a ... ok\nktest: 2 passed, 0 failed").verdict().is_err());
    }

    #[test]
    fn summary_accepts_one_word_prefix_only() {
        assert_eq!(parse_summary("3 passed, 0 failed"), Some((3, 0)));
        assert_eq!(parse_summary("utest: 3 passed, 1 failed"), Some((3, 1)));
        assert_eq!(parse_summary("two words: 3 passed, 1 failed"), None);
    }

    #[test]
    fn timestamped_lines_still_parse() {
        let s = parse_case("test t_sh::job_control_on_a_terminal ... ok (skipped: no pseudo-terminals)").unwrap();
        assert!(s.passed, "a skipped case counts as passed, as check.h's summary counts it");
        assert_eq!(s.detail, "skipped: no pseudo-terminals");
        let c = parse_case("[    1.000000] test mm::x ... ok").unwrap();
        assert_eq!(c.name, "mm::x");
    }
}
