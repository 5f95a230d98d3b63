//! `boot`'s entry point: parse the command line (`cli`) and run the
//! subcommand. See `boot help`.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use boot::cli::{
    self, Cli, ImageArgs, InitrdArgs, InitrdContent, MatrixArgs, RunArgs, ScreendumpArgs, SymbolizeArgs, UsbArgs,
};
use boot::cpio::CpioWriter;
use boot::exit::Outcome;
use boot::ktest_output::Report;
use boot::matrix::{self, Expect, RunSpec};
use boot::qemu::{Firmware, QemuConfig};
use boot::symbolize::Symbolizer;
use boot::{image, runner, usb};

fn main() {
    // Usage errors and --help leave through clap (status 2 and 0).
    let cli = Cli::parse();
    let code = match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("boot: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn dispatch(command: cli::Command) -> Result<i32> {
    use cli::Command as C;
    match command {
        C::Image(a) => cmd_image(&a),
        C::Initrd(a) => cmd_initrd(&a),
        C::Run(a) => cmd_run(&a, false),
        C::Test(a) => cmd_run(&a, true),
        C::Matrix(a) => cmd_matrix(&a),
        C::Symbolize(a) => cmd_symbolize(&a),
        C::Usb(a) => cmd_usb(&a),
        C::Screendump(a) => cmd_screendump(&a),
    }
}

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
    target.join("boot")
}

fn cmd_image(a: &ImageArgs) -> Result<i32> {
    let kernel = &a.kernel;
    let out = a.out.clone().unwrap_or_else(|| work_dir().join("image"));
    let stripped = image::stripped_kernel(kernel, &out)?;
    for fw in [Firmware::Bios, Firmware::Uefi] {
        let path = out.join(format!("{}-{}.img", kernel.file_name().unwrap_or_default().to_string_lossy(), fw.name()));
        image::create(fw, &stripped, a.ramdisk.as_deref(), &path)?;
        println!("{} image: {}", fw.name().to_uppercase(), path.display());
    }
    Ok(0)
}

/// Build the initrd: directories, extra host files (`content`'s, then
/// `more`, in the `--initrd-add` form), and /boot/cmdline.
fn build_initrd(content: &InitrdContent, more: &[String], cmdline: &str) -> Result<Vec<u8>> {
    let mut w = CpioWriter::new();
    for p in content.dirs() {
        if !p.is_dir() {
            bail!("--initrd-dir {}: not a directory", p.display());
        }
        let mut entries: Vec<_> = std::fs::read_dir(p)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            w.add_host_path(&e.path(), &e.file_name().to_string_lossy())?;
        }
    }
    for spec in content.adds().chain(more.iter().map(String::as_str)) {
        let (host, dest) = match spec.split_once(':') {
            Some((h, d)) => (h.to_string(), d.to_string()),
            None => {
                let name = Path::new(spec)
                    .file_name()
                    .context("--initrd-add needs a file name")?
                    .to_string_lossy()
                    .into_owned();
                (spec.to_string(), format!("bin/{name}"))
            }
        };
        w.add_host_path(Path::new(&host), &dest).with_context(|| format!("--initrd-add {spec}"))?;
    }
    w.add_file("boot/cmdline", format!("{cmdline}\n").into_bytes(), 0o644)?;
    Ok(w.finish())
}

fn cmd_initrd(a: &InitrdArgs) -> Result<i32> {
    let out = &a.out;
    let data = build_initrd(&a.content, &[], &a.cmdline)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &data).with_context(|| format!("writing {}", out.display()))?;
    println!("initrd: {} ({} bytes)", out.display(), data.len());
    Ok(0)
}

/// Everything needed to start one QEMU: the machine and its files.
struct Prepared {
    config: QemuConfig,
}

/// Write the initrd and the disk image for a run into `dir`.
fn prepare(kernel: &Path, firmware: Firmware, initrd: &[u8], dir: &Path) -> Result<Prepared> {
    std::fs::create_dir_all(dir)?;
    let stripped = image::stripped_kernel(kernel, &work_dir().join("stripped"))?;
    let initrd_path = dir.join("initrd.cpio");
    std::fs::write(&initrd_path, initrd)?;
    let img = dir.join(format!("{}.img", firmware.name()));
    image::create(firmware, &stripped, Some(&initrd_path), &img)?;
    let mut config = QemuConfig::new(firmware, &img);
    if firmware == Firmware::Uefi {
        let vars = dir.join("OVMF_VARS.fd");
        std::fs::copy(boot::qemu::ovmf_vars_template(), &vars).with_context(|| {
            format!("copying {} (install the 'ovmf' package)", boot::qemu::ovmf_vars_template().display())
        })?;
        config.ovmf_vars = Some(vars);
    }
    Ok(Prepared { config })
}

/// The exit status that init reported, from the kernel's closing line
/// `kernel: init exited with status N`.
fn init_status(lines: &[String]) -> Option<i32> {
    lines.iter().rev().find_map(|l| {
        let at = l.find("init exited with status ")?;
        l[at + 24..].split_whitespace().next()?.parse().ok()
    })
}

fn cmd_run(a: &RunArgs, is_test: bool) -> Result<i32> {
    let (g, m) = (&a.guest, &a.machine);
    let kernel = &g.kernel;
    let initrd = build_initrd(&g.initrd, &[], &g.cmdline)?;
    // One directory per invocation, so two runs never share an image.
    let dir = work_dir().join(if is_test { "test" } else { "run" }).join(std::process::id().to_string());
    let mut p = prepare(kernel, m.firmware(), &initrd, &dir)?;
    m.apply(&mut p.config);
    p.config.interactive = !is_test;
    let timeout = match a.timeout {
        Some(t) => Some(Duration::from_secs(t)),
        None if is_test => Some(Duration::from_secs(180)),
        None => None,
    };
    let mut sym = Symbolizer::new(kernel).ok();
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(p.config.args()?);
    if p.config.gdb {
        eprintln!(
            "boot: QEMU waits for GDB on localhost:1234 (make gdb, or: gdb {} -ex 'target remote :1234')",
            kernel.display()
        );
    }
    let input = if is_test { runner::Input::Null } else { runner::Input::Inherit };
    let result = runner::run_with_input(cmd, timeout, input, |line, on_screen| {
        let shown = match sym.as_mut() {
            Some(s) => s.annotate(line),
            None => line.to_string(),
        };
        // A line typed at (already on the screen raw) is repeated only if
        // the symboliser added something.
        if !on_screen || shown != line {
            println!("{shown}");
        }
    })?;
    if !result.stderr.trim().is_empty() {
        eprintln!("{}", result.stderr.trim_end());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = Report::default();
    result.lines.iter().for_each(|l| report.feed(l));
    let expect = a.expect.unwrap_or(if is_test { Expect::Ktest } else { Expect::Exit });
    let verdict = evaluate(expect, result.outcome, &report);
    eprintln!(
        "boot: {} ({}) after {:.1}s",
        match &verdict {
            Ok(()) => "PASS".to_string(),
            Err(why) => format!("FAIL: {why}"),
        },
        result.outcome.describe(),
        result.elapsed.as_secs_f64()
    );
    if !is_test {
        if let Some(status) = init_status(&result.lines) {
            return Ok(status);
        }
    }
    Ok(if verdict.is_ok() { 0 } else { result.outcome.exit_code().max(1) })
}

/// Decide a run: QEMU's exit code and, where wanted, the test protocol.
fn evaluate(expect: Expect, outcome: Outcome, report: &Report) -> Result<(), String> {
    if !outcome.is_success() {
        let detail = report
            .cases
            .iter()
            .find(|c| !c.passed)
            .map(|c| format!(" ({} failed {})", c.name, c.detail))
            .unwrap_or_default();
        return Err(format!("{}{detail}", outcome.describe()));
    }
    match expect {
        Expect::Ktest => report.verdict(),
        Expect::Exit if report.cases.is_empty() && report.summaries.is_empty() => Ok(()),
        Expect::Exit => report.verdict(),
    }
}

fn cmd_symbolize(a: &SymbolizeArgs) -> Result<i32> {
    use std::io::BufRead;
    let mut s = Symbolizer::new(&a.kernel)?;
    for line in std::io::stdin().lock().lines() {
        println!("{}", s.annotate(&line?));
    }
    Ok(0)
}

/// `boot screendump`: boot with a QMP socket, wait, save the screen.
fn cmd_screendump(a: &ScreendumpArgs) -> Result<i32> {
    use boot::screendump::{self, WaitFor};
    let (g, m, out) = (&a.guest, &a.machine, &a.out);
    let kernel = &g.kernel;
    let wait = match a.wait_for() {
        Some(text) => WaitFor::Text { text: text.to_string(), after: a.wait() },
        None => WaitFor::Seconds(a.wait()),
    };
    let initrd = build_initrd(&g.initrd, &[], &g.cmdline)?;
    let dir = work_dir().join("screendump").join(std::process::id().to_string());
    let mut p = prepare(kernel, m.firmware(), &initrd, &dir)?;
    m.apply(&mut p.config);
    let socket = dir.join("qmp.sock");
    p.config.qmp_socket = Some(socket.clone());
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(p.config.args()?);
    let ppm = dir.join("screen.ppm");
    let mut sym = Symbolizer::new(kernel).ok();
    let captured = screendump::capture(cmd, &socket, &wait, a.limit, &ppm, |line| {
        println!(
            "{}",
            match sym.as_mut() {
                Some(s) => s.annotate(line),
                None => line.to_string(),
            }
        );
    });
    let png = captured.and_then(|()| {
        let data = std::fs::read(&ppm).with_context(|| format!("reading {}", ppm.display()))?;
        screendump::ppm_to_png(&data)
    });
    let _ = std::fs::remove_dir_all(&dir);
    let png = png?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, &png).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("boot: screendump saved to {} ({} bytes)", out.display(), png.len());
    Ok(0)
}

fn cmd_usb(a: &UsbArgs) -> Result<i32> {
    let mut opts = usb::UsbOptions::new(a.image.clone(), a.device.clone());
    opts.dry_run = a.dry_run;
    opts.confirmed = a.yes;
    usb::write_image(&opts, &mut std::io::stdout())?;
    Ok(0)
}

/// The outcome of one matrix run, for the summary.
struct MatrixResult {
    label: String,
    verdict: Result<(), String>,
    secs: f64,
    /// A failed run's last serial lines, repeated after the summary (CI
    /// logs are often read from their end).
    tail: Vec<String>,
}

/// How many serial lines of a failed run follow the summary.
const TAIL_AFTER_SUMMARY: usize = 60;

/// A matrix `disk=` value: `new:SIZE[,if=...]` is a fresh zeroed image of
/// SIZE (sparse) in the run's directory, `swap:SIZE[,if=...]` the same
/// made a swap area (Linux's SWAPSPACE2 header, as `mkswap` writes it),
/// anything else a file.
fn matrix_disk(spec: &str, dir: &Path, index: usize) -> Result<boot::qemu::ExtraDisk> {
    let (rest, swap) = match (spec.strip_prefix("new:"), spec.strip_prefix("swap:")) {
        (Some(r), _) => (r, false),
        (_, Some(r)) => (r, true),
        _ => return boot::qemu::ExtraDisk::parse(spec),
    };
    let (size, opts) = match rest.split_once(',') {
        Some((s, o)) => (s, format!(",{o}")),
        None => (rest, String::new()),
    };
    let mib = boot::qemu::parse_mem_mib(size).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("disk{index}.img"));
    let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    f.set_len(mib << 20)?;
    if swap {
        use std::io::Write;
        (&f).write_all(&swap_header(mib << 20))?;
    }
    boot::qemu::ExtraDisk::parse(&format!("{}{opts}", path.display()))
}

/// Page 0 of a swap area of `bytes` in Linux's format (version 1,
/// `last_page`, no bad pages, label "matrix", the SWAPSPACE2 signature
/// in the page's last 10 bytes).
fn swap_header(bytes: u64) -> Vec<u8> {
    let mut page = vec![0u8; 4096];
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    page[1028..1032].copy_from_slice(&((bytes / 4096 - 1) as u32).to_le_bytes());
    page[1052..1058].copy_from_slice(b"matrix");
    page[4086..].copy_from_slice(b"SWAPSPACE2");
    page
}

fn run_one(spec: &RunSpec, kernels: &Path, a: &MatrixArgs) -> (Vec<String>, MatrixResult) {
    let mut out = Vec::new();
    let fail = |why: String, out: Vec<String>| {
        (out, MatrixResult { label: spec.label.clone(), verdict: Err(why), secs: 0.0, tail: Vec::new() })
    };
    let kernel = kernels.join(&spec.kernel);
    if !kernel.exists() {
        return fail(format!("kernel {} not built", kernel.display()), out);
    }
    let initrd = match build_initrd(&a.initrd, &spec.initrd_add, &spec.cmdline) {
        Ok(i) => i,
        Err(e) => return fail(format!("initrd: {e:#}"), out),
    };
    let dir = work_dir().join("matrix").join(spec.label.replace('/', "-"));
    let mut p = match prepare(&kernel, spec.firmware, &initrd, &dir) {
        Ok(p) => p,
        Err(e) => return fail(format!("{e:#}"), out),
    };
    p.config.mem_mib = spec.mem_mib;
    p.config.smp = spec.smp;
    p.config.cpu = spec.cpu.clone();
    p.config.numa = spec.numa.clone();
    p.config.disk = spec.disk;
    for (i, d) in spec.disks.iter().enumerate() {
        match matrix_disk(d, &dir, i) {
            Ok(x) => p.config.disks.push(x),
            Err(e) => return fail(format!("disk={d}: {e:#}"), out),
        }
    }
    // screendump=: a QMP socket to pause the guest and save its screen.
    let (socket, ppm) = (dir.join("qmp.sock"), dir.join("screen.ppm"));
    for stale in [&socket, &ppm, &dir.join("screen.png")] {
        let _ = std::fs::remove_file(stale);
    }
    // Every run has one: a run that passes its timeout gets an NMI on
    // each CPU first, and the kernel's report of where they were goes to
    // the log (`nmi_report.rs`).
    p.config.qmp_socket = Some(socket.clone());
    if let Some(acc) = a.accel {
        p.config.accel = acc;
    }
    let args = match p.config.args() {
        Ok(x) => x,
        Err(e) => return fail(format!("{e:#}"), out),
    };
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(&args);
    let mut sym = Symbolizer::new(&kernel).ok();
    let mut log = Vec::new();
    let input = match &spec.input {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => {
                runner::Input::Script { lines: text.lines().map(String::from).collect(), prompt: spec.prompt.clone() }
            }
            Err(e) => return fail(format!("input {}: {e}", path.display()), out),
        },
        None => runner::Input::Null,
    };
    // None until the screendump is taken (it ends the run).
    let mut shot: Option<Result<(), String>> = None;
    let mut nmi_log = None;
    let mut ask_for_report = || nmi_log = Some(boot::screendump::inject_nmi(&socket));
    let timeout = Some(Duration::from_secs(spec.timeout_secs));
    let result = runner::run_with_last_words(cmd, timeout, input, Some(&mut ask_for_report), |line, _| {
        log.push(match sym.as_mut() {
            Some(s) => s.annotate(line),
            None => line.to_string(),
        });
        if let Some(text) = spec.screendump.as_deref() {
            if shot.is_none() && line.contains(text) {
                shot = Some(boot::screendump::dump_and_quit(&socket, &ppm).map_err(|e| format!("screendump: {e:#}")));
            }
        }
    });
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(format!("{e:#}"), out),
    };
    if let Some(Err(e)) = nmi_log {
        log.push(format!("boot: no NMI report from the guest: {e:#}"));
    }
    let mut report = Report::default();
    result.lines.iter().for_each(|l| report.feed(l));
    // A run ended by its screendump: QEMU left through `quit` (status 0).
    let outcome = match (&shot, result.outcome) {
        (Some(Ok(())), Outcome::Reset) => Outcome::Success,
        (_, o) => o,
    };
    let mut verdict = evaluate(spec.expect, outcome, &report);
    let mut picture_lines = Vec::new();
    if let Some(text) = spec.screendump.as_deref() {
        let checked = match shot {
            None => Err(format!("no screendump: '{text}' never appeared on serial")),
            Some(Err(e)) => Err(e),
            Some(Ok(())) => check_screendump(spec, &ppm, &dir.join("screen.png"), &result.lines, &mut picture_lines),
        };
        if let Err(e) = checked {
            verdict = Err(match verdict {
                Ok(()) => e,
                Err(v) => format!("{v}; {e}"),
            });
        }
    }
    let missing = matrix::missing_output(spec, &result.lines);
    if verdict.is_ok() && !missing.is_empty() {
        verdict = Err(format!(
            "serial output lacks {}",
            missing.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
        ));
    }
    let log_path = dir.join("serial.log");
    let _ = std::fs::write(&log_path, log.join("\n") + "\n" + &result.stderr);
    out.push(format!(
        "=== {} ({} MiB, {} cpu{}{}{}) ===",
        spec.label,
        spec.mem_mib,
        spec.smp,
        spec.cpu.as_ref().map(|c| format!(" ({c})")).unwrap_or_default(),
        spec.numa.as_ref().map(|n| format!(", {} NUMA nodes", n.nodes)).unwrap_or_default(),
        if spec.cmdline.is_empty() { String::new() } else { format!(", cmdline \"{}\"", spec.cmdline) },
    ));
    out.append(&mut picture_lines);
    if verdict.is_ok() {
        out.extend(
            log.iter()
                .filter(|l| {
                    boot::ktest_output::parse_case(l).is_some() || boot::ktest_output::parse_summary(l).is_some()
                })
                .cloned(),
        );
    } else {
        out.push(format!("--- serial output ({}): ---", log_path.display()));
        let tail = log.len().saturating_sub(150);
        out.extend(log[tail..].iter().cloned());
        if !result.stderr.trim().is_empty() {
            out.push(format!("--- QEMU stderr: {}", result.stderr.trim()));
        }
    }
    out.push(format!(
        "--- {}: {} in {:.1}s",
        spec.label,
        match &verdict {
            Ok(()) => "PASS".to_string(),
            Err(w) => format!("FAIL ({w})"),
        },
        result.elapsed.as_secs_f64()
    ));
    let tail = if verdict.is_err() { log[log.len().saturating_sub(TAIL_AFTER_SUMMARY)..].to_vec() } else { Vec::new() };
    (out, MatrixResult { label: spec.label.clone(), verdict, secs: result.elapsed.as_secs_f64(), tail })
}

/// After a matrix run's screendump: keep it as PNG, check that the screen
/// is not blank and, with `picture_tolerance=`, compare the memory picture
/// with the kernel's last `mempic: drawn cells` line. The comparison's
/// table goes to `out`.
fn check_screendump(
    spec: &RunSpec,
    ppm: &Path,
    png: &Path,
    lines: &[String],
    out: &mut Vec<String>,
) -> Result<(), String> {
    use boot::{picture, screendump};
    let data = std::fs::read(ppm).map_err(|e| format!("reading {}: {e}", ppm.display()))?;
    let img = screendump::parse_ppm(&data).map_err(|e| format!("{e:#}"))?;
    let _ = std::fs::remove_file(ppm);
    let written = screendump::encode_png(&img)
        .and_then(|bytes| std::fs::write(png, bytes).with_context(|| format!("writing {}", png.display())));
    match written {
        Ok(()) => out.push(format!("screendump: {}x{} saved to {}", img.width, img.height, png.display())),
        Err(e) => out.push(format!("screendump: cannot save {}: {e:#}", png.display())),
    }
    picture::check_not_blank(&img)?;
    let Some(tolerance) = spec.picture_tolerance else { return Ok(()) };
    let line = picture::find_drawn(lines)
        .ok_or_else(|| format!("no '{}' line on serial to check the picture against", picture::DRAWN_TAG))?;
    let drawn = picture::parse_drawn(line).map_err(|e| format!("{e:#}"))?;
    let check = picture::check(&img, &drawn, tolerance);
    out.extend(check.lines);
    check.verdict
}

fn cmd_matrix(a: &MatrixArgs) -> Result<i32> {
    let file = a.file.display();
    let text = std::fs::read_to_string(&a.file).with_context(|| format!("reading {file}"))?;
    let mut specs = matrix::parse(&text)?;
    // input= files and initrd_add= host paths are named relative to the
    // matrix file.
    let matrix_dir = a.file.parent().unwrap_or(Path::new("."));
    for s in &mut specs {
        if let Some(p) = s.input.as_mut().filter(|p| p.is_relative()) {
            *p = matrix_dir.join(&*p);
        }
        for add in &mut s.initrd_add {
            *add = matrix::resolve_initrd_add(add, matrix_dir);
        }
        for d in s.disks.iter_mut().filter(|d| !d.starts_with("new:") && !d.starts_with("swap:") && !d.starts_with('/'))
        {
            *d = matrix_dir.join(&*d).display().to_string();
        }
    }
    let only = a.only();
    if !only.is_empty() {
        specs.retain(|s| only.iter().any(|o| s.label.starts_with(o) || s.kernel == *o));
    }
    if specs.is_empty() {
        bail!("no matrix entry selected");
    }
    let kernels = &a.kernels;
    let jobs = a.jobs.max(1);
    println!("boot: {} QEMU runs from {file}, {jobs} at a time", specs.len());
    let queue = Arc::new(Mutex::new(specs.clone().into_iter().enumerate().collect::<Vec<_>>()));
    let results: Arc<Mutex<Vec<(usize, MatrixResult)>>> = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            scope.spawn(move || {
                loop {
                    let next =
                        queue.lock().map(|mut q| if q.is_empty() { None } else { Some(q.remove(0)) }).ok().flatten();
                    let Some((idx, spec)) = next else { break };
                    let (lines, res) = run_one(&spec, kernels, a);
                    // Print a finished run as one block so parallel runs do not interleave.
                    let mut text = lines.join("\n");
                    text.push('\n');
                    print!("{text}");
                    if let Ok(mut r) = results.lock() {
                        r.push((idx, res));
                    }
                }
            });
        }
    });
    let mut results = Arc::try_unwrap(results)
        .map_err(|_| anyhow::anyhow!("results still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    results.sort_by_key(|r| r.0);
    println!("\n=== QEMU test matrix summary ===");
    let mut failed = 0;
    for (_, r) in &results {
        match &r.verdict {
            Ok(()) => println!("  PASS  {:<28} {:6.1}s", r.label, r.secs),
            Err(w) => {
                failed += 1;
                println!("  FAIL  {:<28} {:6.1}s  {w}", r.label, r.secs);
            }
        }
    }
    println!("boot: {} passed, {} failed", results.len() - failed, failed);
    for (_, r) in results.iter().filter(|(_, r)| !r.tail.is_empty()) {
        println!("\n--- {}: the last {} serial lines (all in its serial.log) ---", r.label, r.tail.len());
        r.tail.iter().for_each(|l| println!("{l}"));
    }
    if failed > 0 {
        println!("boot: {} passed, {} failed", results.len() - failed, failed);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
