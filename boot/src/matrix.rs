//! The test matrix: which kernel runs under which QEMU set-ups.
//!
//! `tests/matrix.txt` has one line per scenario, `key=value` words (values
//! with spaces in double quotes), `#` comments:
//!
//! ```text
//! kernel=basic firmware=bios,uefi mem=128M
//! kernel=pmm name=pmm-numa mem=256M smp=2 numa=2:20 timeout=180
//! kernel=kernel name=hello cmdline="init=/bin/hello" expect=exit
//! ```
//!
//! Each line expands into one run per firmware. `expect=ktest` (default)
//! wants the ktest protocol with no failure and the success exit code;
//! `expect=exit` wants only the success exit code (user-level tests print
//! their own `N passed, N failed` lines, which are checked when present).

use anyhow::{Context, Result, bail};

use crate::qemu::{DiskAttach, Firmware, Numa, parse_mem_mib};

/// What counts as a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Ktest,
    Exit,
}

/// One QEMU run of the matrix.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// `name/firmware[-usb]`, unique in the matrix.
    pub label: String,
    pub kernel: String,
    pub firmware: Firmware,
    pub mem_mib: u64,
    pub smp: u32,
    pub numa: Option<Numa>,
    pub cmdline: String,
    pub timeout_secs: u64,
    pub expect: Expect,
    pub disk: DiskAttach,
}

/// Split a line into words, honouring double quotes.
fn words(line: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if quoted {
        bail!("unterminated quote");
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

/// Parse a matrix file's text.
pub fn parse(text: &str) -> Result<Vec<RunSpec>> {
    let mut runs: Vec<RunSpec> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ctx = || format!("tests/matrix.txt line {}", n + 1);
        let mut kernel = None;
        let mut name = None;
        let mut firmwares = vec![Firmware::Bios, Firmware::Uefi];
        let mut mem_mib = 128;
        let mut smp = 1;
        let mut numa = None;
        let mut cmdline = String::new();
        let mut timeout_secs = 120;
        let mut expect = Expect::Ktest;
        let mut disk = DiskAttach::Ide;
        for w in words(line).with_context(ctx)? {
            let (k, v) = w.split_once('=').with_context(|| format!("{}: '{w}' is not key=value", ctx()))?;
            match k {
                "kernel" => kernel = Some(v.to_string()),
                "name" => name = Some(v.to_string()),
                "firmware" => firmwares = v.split(',').map(Firmware::parse).collect::<Result<_>>().with_context(ctx)?,
                "mem" => mem_mib = parse_mem_mib(v).with_context(ctx)?,
                "smp" => smp = v.parse().with_context(ctx)?,
                "numa" => numa = Some(Numa::parse(v).with_context(ctx)?),
                "cmdline" => cmdline = v.to_string(),
                "timeout" => timeout_secs = v.parse().with_context(ctx)?,
                "expect" => {
                    expect = match v {
                        "ktest" => Expect::Ktest,
                        "exit" => Expect::Exit,
                        _ => bail!("{}: expect must be ktest or exit", ctx()),
                    }
                }
                "disk" => {
                    disk = match v {
                        "ide" => DiskAttach::Ide,
                        "usb" => DiskAttach::UsbStick,
                        _ => bail!("{}: disk must be ide or usb", ctx()),
                    }
                }
                _ => bail!("{}: unknown key '{k}'", ctx()),
            }
        }
        let kernel = kernel.with_context(|| format!("{}: kernel= is required", ctx()))?;
        let name = name.unwrap_or_else(|| kernel.clone());
        for fw in firmwares {
            let suffix = if disk == DiskAttach::UsbStick { "-usb" } else { "" };
            let label = format!("{name}/{}{suffix}", fw.name());
            if runs.iter().any(|r| r.label == label) {
                bail!("{}: duplicate run '{label}' (give it a name=)", ctx());
            }
            runs.push(RunSpec {
                label,
                kernel: kernel.clone(),
                firmware: fw,
                mem_mib,
                smp,
                numa: numa.clone(),
                cmdline: cmdline.clone(),
                timeout_secs,
                expect,
                disk,
            });
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_expand_per_firmware() {
        let runs = parse("# comment\nkernel=basic\nkernel=pmm name=big mem=5G firmware=uefi timeout=300\n").unwrap();
        let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, vec!["basic/bios", "basic/uefi", "big/uefi"]);
        assert_eq!(runs[2].mem_mib, 5120);
        assert_eq!(runs[2].timeout_secs, 300);
    }

    #[test]
    fn quoted_cmdline_and_numa() {
        let runs = parse(r#"kernel=kernel name=hi cmdline="init=/bin/hello a b" numa=2:21 expect=exit firmware=bios"#).unwrap();
        assert_eq!(runs[0].cmdline, "init=/bin/hello a b");
        assert_eq!(runs[0].numa, Some(Numa { nodes: 2, distances: vec![21] }));
        assert_eq!(runs[0].expect, Expect::Exit);
    }

    #[test]
    fn mistakes_are_reported_with_line_numbers() {
        let e = parse("kernel=a\nkernel=a\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
        assert!(parse("mem=5G").is_err());
        assert!(parse("kernel=a bogus=1").is_err());
        assert!(parse("kernel=a cmdline=\"x").is_err());
    }
}
