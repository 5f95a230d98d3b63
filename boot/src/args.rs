//! A small command-line parser: `--key value`, `--key=value`, boolean
//! `--flag`s named by the caller, repeated keys kept in order.

use std::collections::HashMap;

use anyhow::{Result, bail};

/// Parsed options of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, Vec<String>>,
    flags: Vec<String>,
    pub positional: Vec<String>,
}

impl Args {
    /// Parse `argv` (without the subcommand). `boolean` lists the flags that
    /// take no value; `valued` the options that take one. Anything else is
    /// an error, so typos do not pass silently.
    pub fn parse(argv: &[String], boolean: &[&str], valued: &[&str]) -> Result<Args> {
        let mut a = Args::default();
        let mut i = 0;
        while i < argv.len() {
            let arg = &argv[i];
            if let Some(body) = arg.strip_prefix("--") {
                let (key, inline) = match body.split_once('=') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (body, None),
                };
                if boolean.contains(&key) {
                    if inline.is_some() {
                        bail!("--{key} takes no value");
                    }
                    a.flags.push(key.to_string());
                } else if valued.contains(&key) {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            match argv.get(i) {
                                Some(v) => v.clone(),
                                None => bail!("--{key} needs a value"),
                            }
                        }
                    };
                    a.values.entry(key.to_string()).or_default().push(v);
                } else {
                    bail!("unknown option --{key}");
                }
            } else {
                a.positional.push(arg.clone());
            }
            i += 1;
        }
        Ok(a)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.flags.iter().any(|f| f == key)
    }

    /// Last value given for `key`; empty values count as absent, so that
    /// `make run ARGS=` passes nothing.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(|v| v.last()).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.values
            .get(key)
            .map(|v| v.iter().map(String::as_str).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    pub fn require(&self, key: &str) -> Result<&str> {
        match self.get(key) {
            Some(v) => Ok(v),
            None => bail!("--{key} is required"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn values_flags_and_repeats() {
        let a = Args::parse(
            &argv(&["--mem", "5G", "--uefi", "--qemu-arg=-s", "--qemu-arg", "-S", "pos"]),
            &["uefi"],
            &["mem", "qemu-arg"],
        )
        .unwrap();
        assert_eq!(a.get("mem"), Some("5G"));
        assert!(a.flag("uefi"));
        assert_eq!(a.all("qemu-arg"), vec!["-s", "-S"]);
        assert_eq!(a.positional, vec!["pos"]);
    }

    #[test]
    fn unknown_and_incomplete_options_fail() {
        assert!(Args::parse(&argv(&["--nope"]), &[], &[]).is_err());
        assert!(Args::parse(&argv(&["--mem"]), &[], &["mem"]).is_err());
        assert!(Args::parse(&argv(&["--uefi=1"]), &["uefi"], &[]).is_err());
    }

    #[test]
    fn empty_values_count_as_absent() {
        let a = Args::parse(&argv(&["--cmdline="]), &[], &["cmdline"]).unwrap();
        assert_eq!(a.get("cmdline"), None);
    }
}
