//! The kernel command line, parsed the way Linux parses it
//! (Documentation/admin-guide/kernel-parameters.rst):
//!
//! - words are separated by spaces; double quotes group a value with spaces
//!   (`key="a b"`);
//! - `key=value` or a bare `flag`;
//! - everything after a lone `--` belongs to init (its argv);
//! - a word the kernel does not recognise and that has no `.` in its key is
//!   handed to init too: `key=value` as an environment variable, a bare word
//!   as an argument.
//!
//! Example: `loglevel=7 memblock=debug init=/bin/sh HOME=/ -- -c "echo hi"`.

use alloc::vec::Vec;

/// One `key[=value]` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
    /// The whole word as written (quotes removed around the value).
    pub word: &'a str,
}

/// Split into words, honouring double quotes. Quotes that wrap a whole word
/// or a value are dropped from the returned slices.
fn words(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let mut quoted = false;
        while i < bytes.len() && (quoted || !bytes[i].is_ascii_whitespace()) {
            if bytes[i] == b'"' {
                quoted = !quoted;
            }
            i += 1;
        }
        out.push(&s[start..i]);
    }
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').map(|t| t.strip_suffix('"').unwrap_or(t)).unwrap_or(s)
}

fn param(word: &str) -> Param<'_> {
    match word.split_once('=') {
        Some((k, v)) => Param { key: k, value: Some(unquote(v)), word },
        None => Param { key: unquote(word), value: None, word: unquote(word) },
    }
}

/// A parsed command line (borrowing the text).
#[derive(Clone, Debug, Default)]
pub struct Cmdline<'a> {
    kernel: Vec<Param<'a>>,
    after_dashes: Vec<&'a str>,
}

impl<'a> Cmdline<'a> {
    pub fn parse(text: &'a str) -> Self {
        let mut c = Cmdline::default();
        let mut seen_dashes = false;
        for w in words(text.trim_end_matches(['\n', '\0'])) {
            if seen_dashes {
                c.after_dashes.push(unquote(w));
            } else if w == "--" {
                seen_dashes = true;
            } else {
                c.kernel.push(param(w));
            }
        }
        c
    }

    /// Parameters before `--`, in order.
    pub fn params(&self) -> &[Param<'a>] {
        &self.kernel
    }

    /// Value of the last `key=value` (Linux: the last one wins); `Some("")`
    /// for a bare `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.kernel.iter().rev().find(|p| p.key == key).map(|p| p.value.unwrap_or(""))
    }

    pub fn has(&self, key: &str) -> bool {
        self.kernel.iter().any(|p| p.key == key)
    }

    /// init's extra arguments and environment: words after `--`, plus every
    /// parameter whose key is not in `known` and contains no `.`.
    pub fn init_args_env(&self, known: &[&str]) -> (Vec<&'a str>, Vec<&'a str>) {
        let mut args = Vec::new();
        let mut env = Vec::new();
        for p in &self.kernel {
            if known.contains(&p.key) || p.key.contains('.') {
                continue;
            }
            match p.value {
                Some(_) => env.push(p.word),
                None => args.push(p.word),
            }
        }
        args.extend(self.after_dashes.iter().copied());
        (args, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_flags_and_last_wins() {
        let c = Cmdline::parse("loglevel=4 memblock=debug quiet loglevel=7\n");
        assert_eq!(c.get("loglevel"), Some("7"));
        assert_eq!(c.get("memblock"), Some("debug"));
        assert_eq!(c.get("quiet"), Some(""));
        assert!(c.has("quiet"));
        assert_eq!(c.get("nope"), None);
    }

    #[test]
    fn quotes_group_values() {
        let c = Cmdline::parse(r#"init=/bin/sh msg="hello world" -- -c "echo hi""#);
        assert_eq!(c.get("msg"), Some("hello world"));
        let (args, env) = c.init_args_env(&["init"]);
        assert_eq!(args, vec!["-c", "echo hi"]);
        assert_eq!(env, vec![r#"msg="hello world""#]);
    }

    #[test]
    fn unknown_words_go_to_init_like_linux() {
        let c = Cmdline::parse("loglevel=7 HOME=/ single mm.debug=1 init=/bin/x -- a b");
        let (args, env) = c.init_args_env(&["loglevel", "init"]);
        assert_eq!(args, vec!["single", "a", "b"]);
        assert_eq!(env, vec!["HOME=/"]);
    }

    #[test]
    fn empty_and_odd_input() {
        assert!(Cmdline::parse("").params().is_empty());
        assert!(Cmdline::parse("   \n").params().is_empty());
        let c = Cmdline::parse("\"unterminated value");
        assert_eq!(c.params().len(), 1);
        let c = Cmdline::parse("=x");
        assert_eq!(c.get(""), Some("x"));
    }
}
