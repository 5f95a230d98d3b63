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
//!
//! A run can type into the serial console: `input=FILE` (relative to the
//! matrix file) holds lines to type, each sent only once `prompt=TEXT` has
//! appeared in the output since the previous line (default: the shell's
//! `mm# `). `expect_output=TEXT` (repeatable) also wants TEXT somewhere in
//! the serial output. A `#` starts a comment only at the start of a word
//! outside quotes, so `prompt="mm# "` keeps its `#`.
//!
//! ```text
//! kernel=kernel name=shell cmdline="init=/bin/sh exit_on_init" expect=exit input=shell-input.txt expect_output="argv[1] = x"
//! ```
//!
//! `screendump=TEXT` starts QEMU with a QMP socket and, when a serial line
//! contains TEXT, pauses the guest, saves the screen (`screen.png` beside
//! the run's serial log) and quits QEMU; the run then counts as having
//! exited with success, and fails if the screen is blank or TEXT never
//! came. `picture_tolerance=PCT` (needs `screendump=`) also checks the
//! memory picture against the kernel's `mempic: drawn cells` line (see
//! `picture.rs`): every class above 1% must have a pixel share within PCT
//! percentage points of its cell share.
//!
//! ```text
//! kernel=kernel name=mempic-shot cmdline="mempic init=/bin/hello" expect=exit screendump="mempic: drawn cells" picture_tolerance=2
//! ```
//!
//! `initrd_add=HOST[:DEST]` (repeatable) puts a host file or directory
//! into this line's initrd only, on top of the matrix's `--initrd-dir`
//! tree, as `boot run --initrd-add` does (DEST defaults to `/bin/NAME`; a
//! relative HOST is relative to the matrix file, like `input=`): a line can
//! run programs that are not part of the user build.
//!
//! ```text
//! kernel=kernel name=bash cmdline="init=/bin/bash exit_on_init -- /tests/t.sh" initrd_add=../target/bash:/bin/bash
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::qemu::{DiskAttach, ExtraDisk, Firmware, Numa, parse_mem_mib};

/// What counts as a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// The kernel's test protocol: every case passed and the summary says so.
    Ktest,
    /// A successful exit (isa-debug-exit); test lines, if any, must pass too.
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
    /// QEMU CPU model (`cpu=`), `max` when not given.
    pub cpu: Option<String>,
    pub numa: Option<Numa>,
    pub cmdline: String,
    pub timeout_secs: u64,
    pub expect: Expect,
    pub disk: DiskAttach,
    /// Extra disks (`disk=FILE[,if=virtio|virtio-legacy|nvme]`, `disk=new:SIZE[,...]`,
    /// a fresh zeroed image of SIZE, or `disk=swap:SIZE[,...]`, the same
    /// made a swap area), as written in the matrix.
    pub disks: Vec<String>,
    /// Lines to type into the serial console (`input=`), as written in the
    /// matrix (relative paths are relative to the matrix file).
    pub input: Option<PathBuf>,
    /// What must appear before each typed line (`prompt=`).
    pub prompt: String,
    /// Texts the serial output must contain (`expect_output=`).
    pub expect_output: Vec<String>,
    /// Take a screendump, then quit, when a line contains this
    /// (`screendump=`).
    pub screendump: Option<String>,
    /// Check the memory picture in the screendump against the kernel's
    /// counts, within this many percentage points (`picture_tolerance=`).
    pub picture_tolerance: Option<f64>,
    /// Host files for this line's initrd only, `HOST[:DEST]`
    /// (`initrd_add=`), as written in the matrix.
    pub initrd_add: Vec<String>,
}

/// The shell's prompt: the default `prompt=`.
pub const DEFAULT_PROMPT: &str = "mm# ";

/// The line without its comment: from a `#` that starts a word outside
/// double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut prev_blank = true;
    for (i, ch) in line.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '#' if !quoted && prev_blank => return &line[..i],
            _ => {}
        }
        prev_blank = ch.is_whitespace();
    }
    line
}

/// An `initrd_add=` value with a relative HOST made relative to `dir`
/// (the matrix file's directory).
pub fn resolve_initrd_add(spec: &str, dir: &Path) -> String {
    let (host, dest) = match spec.split_once(':') {
        Some((h, d)) => (h, Some(d)),
        None => (spec, None),
    };
    let host = Path::new(host);
    let host = if host.is_relative() { dir.join(host) } else { host.to_path_buf() };
    match dest {
        Some(d) => format!("{}:{d}", host.display()),
        None => host.display().to_string(),
    }
}

/// Every line the serial output must contain that it does not.
pub fn missing_output<'a>(spec: &'a RunSpec, lines: &[String]) -> Vec<&'a str> {
    spec.expect_output.iter().filter(|t| !lines.iter().any(|l| l.contains(t.as_str()))).map(String::as_str).collect()
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
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let ctx = || format!("tests/matrix.txt line {}", n + 1);
        let mut kernel = None;
        let mut name = None;
        let mut firmwares = vec![Firmware::Bios, Firmware::Uefi];
        let mut mem_mib = 128;
        let mut smp = 1;
        let mut cpu = None;
        let mut numa = None;
        let mut cmdline = String::new();
        let mut timeout_secs = 120;
        let mut expect = Expect::Ktest;
        let mut disk = DiskAttach::Ide;
        let mut input = None;
        let mut prompt = None;
        let mut expect_output = Vec::new();
        let mut screendump = None;
        let mut picture_tolerance = None;
        let mut initrd_add = Vec::new();
        let mut disks = Vec::new();
        for w in words(line).with_context(ctx)? {
            let (k, v) = w.split_once('=').with_context(|| format!("{}: '{w}' is not key=value", ctx()))?;
            match k {
                "kernel" => kernel = Some(v.to_string()),
                "name" => name = Some(v.to_string()),
                "firmware" => firmwares = v.split(',').map(Firmware::parse).collect::<Result<_>>().with_context(ctx)?,
                "mem" => mem_mib = parse_mem_mib(v).with_context(ctx)?,
                "smp" => smp = v.parse().with_context(ctx)?,
                "cpu" if v.is_empty() => bail!("{}: cpu= must not be empty", ctx()),
                "cpu" => cpu = Some(v.to_string()),
                "numa" => numa = Some(Numa::parse(v).with_context(ctx)?),
                "cmdline" => cmdline = v.to_string(),
                "timeout" => timeout_secs = v.parse().with_context(ctx)?,
                "expect" => {
                    expect = match <Expect as clap::ValueEnum>::from_str(v, false) {
                        Ok(e) => e,
                        Err(_) => bail!("{}: expect must be ktest or exit", ctx()),
                    }
                }
                "input" => input = Some(PathBuf::from(v)),
                "prompt" if v.is_empty() => bail!("{}: prompt= must not be empty", ctx()),
                "prompt" => prompt = Some(v.to_string()),
                "expect_output" if v.is_empty() => bail!("{}: expect_output= must not be empty", ctx()),
                "expect_output" => expect_output.push(v.to_string()),
                "initrd_add" if v.is_empty() || v.starts_with(':') => {
                    bail!("{}: initrd_add= needs HOST[:DEST]", ctx())
                }
                "initrd_add" => initrd_add.push(v.to_string()),
                "screendump" if v.is_empty() => bail!("{}: screendump= must not be empty", ctx()),
                "screendump" => screendump = Some(v.to_string()),
                "picture_tolerance" => {
                    let pct: f64 = v.parse().with_context(ctx)?;
                    if !(0.0..=100.0).contains(&pct) {
                        bail!("{}: picture_tolerance must be 0..100 percentage points", ctx());
                    }
                    picture_tolerance = Some(pct);
                }
                "disk" => match v {
                    "ide" => disk = DiskAttach::Ide,
                    "usb" => disk = DiskAttach::UsbStick,
                    _ => {
                        ExtraDisk::parse(v).with_context(ctx)?;
                        disks.push(v.to_string());
                    }
                },
                _ => bail!("{}: unknown key '{k}'", ctx()),
            }
        }
        let kernel = kernel.with_context(|| format!("{}: kernel= is required", ctx()))?;
        if prompt.is_some() && input.is_none() {
            bail!("{}: prompt= needs input=", ctx());
        }
        if picture_tolerance.is_some() && screendump.is_none() {
            bail!("{}: picture_tolerance= needs screendump=", ctx());
        }
        let prompt = prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_string());
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
                cpu: cpu.clone(),
                numa: numa.clone(),
                cmdline: cmdline.clone(),
                timeout_secs,
                expect,
                disk,
                disks: disks.clone(),
                input: input.clone(),
                prompt: prompt.clone(),
                expect_output: expect_output.clone(),
                screendump: screendump.clone(),
                picture_tolerance,
                initrd_add: initrd_add.clone(),
            });
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_disks_are_kept_in_order_and_checked() {
        let runs = parse("kernel=kernel firmware=bios disk=new:16M disk=/x.img,if=nvme disk=new:8M,if=virtio-legacy\n")
            .unwrap();
        assert_eq!(
            runs[0].disks,
            vec!["new:16M".to_string(), "/x.img,if=nvme".to_string(), "new:8M,if=virtio-legacy".to_string()]
        );
        assert_eq!(runs[0].disk, DiskAttach::Ide);
        assert!(parse("kernel=kernel disk=/x.img,if=scsi\n").is_err());
    }

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
        let runs = parse(r#"kernel=kernel name=hi cmdline="init=/bin/hello a b" numa=2:21 expect=exit firmware=bios"#)
            .unwrap();
        assert_eq!(runs[0].cmdline, "init=/bin/hello a b");
        assert_eq!(runs[0].numa, Some(Numa { nodes: 2, distances: vec![21] }));
        assert_eq!(runs[0].expect, Expect::Exit);
    }

    #[test]
    fn cpu_model_is_kept_and_defaults_to_none() {
        let runs = parse("kernel=utest name=old cpu=Nehalem firmware=bios\nkernel=utest firmware=bios\n").unwrap();
        assert_eq!(runs[0].cpu.as_deref(), Some("Nehalem"));
        assert_eq!(runs[1].cpu, None);
        assert!(parse("kernel=utest cpu=").is_err(), "an empty model is refused");
    }

    #[test]
    fn input_prompt_and_expected_output() {
        let runs = parse(concat!(
            "kernel=kernel name=sh firmware=bios input=shell-input.txt prompt=\"mm# \" ",
            "expect_output=\"argv[1] = x\" expect_output=MemTotal: # a comment\n",
            "kernel=kernel name=plain firmware=bios\n",
        ))
        .unwrap();
        assert_eq!(runs[0].input, Some(PathBuf::from("shell-input.txt")));
        assert_eq!(runs[0].prompt, "mm# ");
        assert_eq!(runs[0].expect_output, vec!["argv[1] = x", "MemTotal:"]);
        assert_eq!(runs[1].input, None);
        assert_eq!(runs[1].prompt, DEFAULT_PROMPT);
        assert!(runs[1].expect_output.is_empty());
        let lines = vec!["boot".to_string(), "argv[1] = x".to_string()];
        assert_eq!(missing_output(&runs[0], &lines), vec!["MemTotal:"]);
        assert!(missing_output(&runs[1], &lines).is_empty());
    }

    #[test]
    fn screendump_and_picture_tolerance() {
        let runs = parse(concat!(
            "kernel=kernel name=shot firmware=bios screendump=\"mempic: drawn cells\" picture_tolerance=2.5\n",
            "kernel=kernel name=plain firmware=bios screendump=ready\n",
        ))
        .unwrap();
        assert_eq!(runs[0].screendump.as_deref(), Some("mempic: drawn cells"));
        assert_eq!(runs[0].picture_tolerance, Some(2.5));
        assert_eq!(runs[1].screendump.as_deref(), Some("ready"));
        assert_eq!(runs[1].picture_tolerance, None);
        assert!(parse("kernel=a picture_tolerance=2").is_err(), "tolerance without screendump");
        assert!(parse("kernel=a screendump=x picture_tolerance=-1").is_err());
        assert!(parse("kernel=a screendump=x picture_tolerance=two").is_err());
        assert!(parse("kernel=a screendump=").is_err());
    }

    #[test]
    fn initrd_add_is_kept_per_line_and_resolved_against_the_matrix_dir() {
        let runs = parse(concat!(
            "kernel=kernel name=sh firmware=bios initrd_add=../target/x/bash:/bin/bash initrd_add=shells:tests ",
            "initrd_add=/abs/busybox\n",
            "kernel=kernel name=plain firmware=bios\n",
        ))
        .unwrap();
        assert_eq!(runs[0].initrd_add, vec!["../target/x/bash:/bin/bash", "shells:tests", "/abs/busybox"]);
        assert!(runs[1].initrd_add.is_empty());
        let dir = Path::new("tests");
        assert_eq!(resolve_initrd_add(&runs[0].initrd_add[0], dir), "tests/../target/x/bash:/bin/bash");
        assert_eq!(resolve_initrd_add(&runs[0].initrd_add[1], dir), "tests/shells:tests");
        assert_eq!(resolve_initrd_add(&runs[0].initrd_add[2], dir), "/abs/busybox");
        assert!(parse("kernel=a initrd_add=").is_err());
        assert!(parse("kernel=a initrd_add=:/bin/x").is_err());
    }

    #[test]
    fn hash_starts_a_comment_only_outside_quotes_at_a_word_start() {
        assert_eq!(strip_comment("kernel=a # note"), "kernel=a ");
        assert_eq!(strip_comment("# all comment"), "");
        assert_eq!(strip_comment(r#"kernel=a prompt="mm# " # c"#), r#"kernel=a prompt="mm# " "#);
        assert_eq!(strip_comment("kernel=a prompt=x#y"), "kernel=a prompt=x#y");
        assert!(parse("kernel=a prompt=x").is_err(), "prompt without input");
        assert!(parse("kernel=a input=f expect_output=").is_err());
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
