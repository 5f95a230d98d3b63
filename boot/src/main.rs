//! `boot` command line. See `boot help`.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use boot::args::Args;
use boot::cpio::CpioWriter;
use boot::exit::Outcome;
use boot::ktest_output::Report;
use boot::matrix::{self, Expect, RunSpec};
use boot::qemu::{Accel, DiskAttach, Firmware, Numa, QemuConfig, parse_mem_mib};
use boot::symbolize::Symbolizer;
use boot::{image, runner, usb};

const HELP: &str = "\
boot: build, run and test the kernel

USAGE:
  boot image   --kernel ELF [--ramdisk FILE] [--out DIR]
  boot initrd  --out FILE [--initrd-dir DIR]... [--initrd-add HOST[:DEST]]... [--cmdline TEXT]
  boot run     --kernel ELF [QEMU OPTIONS] [--timeout SECS]
  boot test    --kernel ELF [QEMU OPTIONS] [--timeout SECS] [--expect ktest|exit]
  boot matrix  --file tests/matrix.txt --kernels DIR [--jobs N] [--only NAME]... [--initrd-dir DIR]...
  boot symbolize --kernel ELF          (filters stdin to stdout)
  boot usb     --image IMG --device /dev/sdX [--dry-run] [--yes]
  boot screendump --kernel ELF [QEMU OPTIONS] --out FILE.png [--wait SECS] [--wait-for TEXT] [--limit SECS]
               boot, wait SECS (default 20) or until a serial line contains TEXT
               (then SECS more, default 0), save the screen as PNG, stop QEMU

QEMU OPTIONS:
  --uefi | --firmware bios|uefi   firmware (default bios)
  --mem SIZE        memory, e.g. 128M or 5G (default 128M)
  --smp N           CPUs (default 1)
  --cpu MODEL       QEMU CPU model, e.g. qemu64, Nehalem, EPYC (default max)
  --numa N[:DIST]   N NUMA nodes splitting memory evenly, DIST apart (default 20)
  --accel tcg|kvm   accelerator (default tcg)
  --usb-stick       attach the disk as a USB stick on xHCI instead of IDE
  --gdb             wait for GDB on localhost:1234
  --display         open a QEMU window (default: none)
  --qemu-arg ARG    extra QEMU argument (repeatable)
  --cmdline TEXT    kernel command line (stored in the initrd as /boot/cmdline)
  --initrd-dir DIR  copy DIR's contents into the initrd root (repeatable)
  --initrd-add HOST[:DEST]  add a host file or directory (default DEST: /bin/NAME)

EXIT STATUS of run/test: 0 success, 1 kernel-reported failure, 2 reset without
report, 3 QEMU error, 124 timeout; with init=PATH, run exits with init's status.
";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match real_main(&argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("boot: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn real_main(argv: &[String]) -> Result<i32> {
    let Some((cmd, rest)) = argv.split_first() else {
        print!("{HELP}");
        return Ok(2);
    };
    match cmd.as_str() {
        "image" => cmd_image(rest),
        "initrd" => cmd_initrd(rest),
        "run" => cmd_run(rest, false),
        "test" => cmd_run(rest, true),
        "matrix" => cmd_matrix(rest),
        "symbolize" => cmd_symbolize(rest),
        "usb" => cmd_usb(rest),
        "screendump" => cmd_screendump(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(0)
        }
        other => bail!("unknown command '{other}' (try 'boot help')"),
    }
}

const QEMU_FLAGS: &[&str] = &["uefi", "gdb", "display", "usb-stick"];
const QEMU_VALUED: &[&str] = &[
    "kernel",
    "firmware",
    "mem",
    "smp",
    "cpu",
    "numa",
    "accel",
    "qemu-arg",
    "cmdline",
    "initrd-dir",
    "initrd-add",
    "timeout",
    "expect",
];

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
    target.join("boot")
}

fn cmd_image(argv: &[String]) -> Result<i32> {
    let a = Args::parse(argv, &[], &["kernel", "ramdisk", "out"])?;
    let kernel = PathBuf::from(a.require("kernel")?);
    let out = a.get("out").map(PathBuf::from).unwrap_or_else(|| work_dir().join("image"));
    let stripped = image::stripped_kernel(&kernel, &out)?;
    let ramdisk = a.get("ramdisk").map(PathBuf::from);
    for fw in [Firmware::Bios, Firmware::Uefi] {
        let path = out.join(format!("{}-{}.img", kernel.file_name().unwrap_or_default().to_string_lossy(), fw.name()));
        image::create(fw, &stripped, ramdisk.as_deref(), &path)?;
        println!("{} image: {}", fw.name().to_uppercase(), path.display());
    }
    Ok(0)
}

/// Build the initrd: directories, extra host files, and /boot/cmdline.
fn build_initrd(a: &Args, cmdline: &str) -> Result<Vec<u8>> {
    let mut w = CpioWriter::new();
    for dir in a.all("initrd-dir") {
        let p = Path::new(dir);
        if !p.is_dir() {
            bail!("--initrd-dir {dir}: not a directory");
        }
        let mut entries: Vec<_> = std::fs::read_dir(p)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            w.add_host_path(&e.path(), &e.file_name().to_string_lossy())?;
        }
    }
    for spec in a.all("initrd-add") {
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

fn cmd_initrd(argv: &[String]) -> Result<i32> {
    let a = Args::parse(argv, &[], &["out", "initrd-dir", "initrd-add", "cmdline"])?;
    let out = PathBuf::from(a.require("out")?);
    let data = build_initrd(&a, a.get("cmdline").unwrap_or(""))?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &data).with_context(|| format!("writing {}", out.display()))?;
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

fn apply_qemu_options(a: &Args, c: &mut QemuConfig) -> Result<()> {
    if let Some(m) = a.get("mem") {
        c.mem_mib = parse_mem_mib(m)?;
    }
    if let Some(s) = a.get("smp") {
        c.smp = s.parse().context("--smp")?;
    }
    if let Some(m) = a.get("cpu") {
        c.cpu = Some(m.to_string());
    }
    if let Some(n) = a.get("numa") {
        c.numa = Some(Numa::parse(n)?);
    }
    if let Some(acc) = a.get("accel") {
        c.accel = Accel::parse(acc)?;
    }
    c.gdb = a.flag("gdb");
    c.display = a.flag("display");
    if a.flag("usb-stick") {
        c.disk = DiskAttach::UsbStick;
    }
    c.extra = a.all("qemu-arg").iter().map(|s| s.to_string()).collect();
    Ok(())
}

/// The exit status that init reported, from the kernel's closing line
/// `kernel: init exited with status N`.
fn init_status(lines: &[String]) -> Option<i32> {
    lines.iter().rev().find_map(|l| {
        let at = l.find("init exited with status ")?;
        l[at + 24..].split_whitespace().next()?.parse().ok()
    })
}

fn cmd_run(argv: &[String], is_test: bool) -> Result<i32> {
    let a = Args::parse(argv, QEMU_FLAGS, QEMU_VALUED)?;
    let kernel = PathBuf::from(a.require("kernel")?);
    let firmware = match (a.flag("uefi"), a.get("firmware")) {
        (true, _) => Firmware::Uefi,
        (false, Some(f)) => Firmware::parse(f)?,
        (false, None) => Firmware::Bios,
    };
    let cmdline = a.get("cmdline").unwrap_or("").to_string();
    let initrd = build_initrd(&a, &cmdline)?;
    // One directory per invocation, so two runs never share an image.
    let dir = work_dir().join(if is_test { "test" } else { "run" }).join(std::process::id().to_string());
    let mut p = prepare(&kernel, firmware, &initrd, &dir)?;
    apply_qemu_options(&a, &mut p.config)?;
    p.config.interactive = !is_test;
    let timeout = match a.get("timeout") {
        Some(t) => Some(Duration::from_secs(t.parse().context("--timeout")?)),
        None if is_test => Some(Duration::from_secs(180)),
        None => None,
    };
    let mut sym = Symbolizer::new(&kernel).ok();
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
    let expect = a.get("expect").unwrap_or(if is_test { "ktest" } else { "exit" });
    let verdict = evaluate(if expect == "ktest" { Expect::Ktest } else { Expect::Exit }, result.outcome, &report);
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

fn cmd_symbolize(argv: &[String]) -> Result<i32> {
    use std::io::BufRead;
    let a = Args::parse(argv, &[], &["kernel"])?;
    let mut s = Symbolizer::new(Path::new(a.require("kernel")?))?;
    for line in std::io::stdin().lock().lines() {
        println!("{}", s.annotate(&line?));
    }
    Ok(0)
}

/// `boot screendump`: boot with a QMP socket, wait, save the screen.
fn cmd_screendump(argv: &[String]) -> Result<i32> {
    use boot::screendump::{self, WaitFor};
    let mut valued = QEMU_VALUED.to_vec();
    valued.extend(["out", "wait", "wait-for", "limit"]);
    let a = Args::parse(argv, QEMU_FLAGS, &valued)?;
    let kernel = PathBuf::from(a.require("kernel")?);
    let out = PathBuf::from(a.require("out")?);
    let firmware = if a.flag("uefi") {
        Firmware::Uefi
    } else {
        a.get("firmware").map(Firmware::parse).transpose()?.unwrap_or(Firmware::Bios)
    };
    let secs = |key: &str, default: f64| -> Result<Duration> {
        let v: f64 = a.get(key).map(str::parse).transpose().with_context(|| format!("--{key}"))?.unwrap_or(default);
        Ok(Duration::from_secs_f64(v.max(0.0)))
    };
    let wait = match a.get("wait-for") {
        Some(text) => WaitFor::Text { text: text.to_string(), after: secs("wait", 0.0)? },
        None => WaitFor::Seconds(secs("wait", 20.0)?),
    };
    let limit = secs("limit", 600.0)?;
    let initrd = build_initrd(&a, a.get("cmdline").unwrap_or(""))?;
    let dir = work_dir().join("screendump").join(std::process::id().to_string());
    let mut p = prepare(&kernel, firmware, &initrd, &dir)?;
    apply_qemu_options(&a, &mut p.config)?;
    let socket = dir.join("qmp.sock");
    p.config.qmp_socket = Some(socket.clone());
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(p.config.args()?);
    let ppm = dir.join("screen.ppm");
    let mut sym = Symbolizer::new(&kernel).ok();
    let captured = screendump::capture(cmd, &socket, &wait, limit, &ppm, |line| {
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
    std::fs::write(&out, &png).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("boot: screendump saved to {} ({} bytes)", out.display(), png.len());
    Ok(0)
}

fn cmd_usb(argv: &[String]) -> Result<i32> {
    let a = Args::parse(argv, &["dry-run", "yes"], &["image", "device"])?;
    let mut opts = usb::UsbOptions::new(PathBuf::from(a.require("image")?), PathBuf::from(a.require("device")?));
    opts.dry_run = a.flag("dry-run");
    opts.confirmed = a.flag("yes");
    usb::write_image(&opts, &mut std::io::stdout())?;
    Ok(0)
}

/// The outcome of one matrix run, for the summary.
struct MatrixResult {
    label: String,
    verdict: Result<(), String>,
    secs: f64,
}

fn run_one(spec: &RunSpec, kernels: &Path, a: &Args) -> (Vec<String>, MatrixResult) {
    let mut out = Vec::new();
    let fail =
        |why: String, out: Vec<String>| (out, MatrixResult { label: spec.label.clone(), verdict: Err(why), secs: 0.0 });
    let kernel = kernels.join(&spec.kernel);
    if !kernel.exists() {
        return fail(format!("kernel {} not built", kernel.display()), out);
    }
    let initrd = match build_initrd(a, &spec.cmdline) {
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
    // screendump=: a QMP socket to pause the guest and save its screen.
    let (socket, ppm) = (dir.join("qmp.sock"), dir.join("screen.ppm"));
    for stale in [&socket, &ppm, &dir.join("screen.png")] {
        let _ = std::fs::remove_file(stale);
    }
    if spec.screendump.is_some() {
        p.config.qmp_socket = Some(socket.clone());
    }
    if let Some(acc) = a.get("accel") {
        if let Ok(acc) = Accel::parse(acc) {
            p.config.accel = acc;
        }
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
    let result = runner::run_with_input(cmd, Some(Duration::from_secs(spec.timeout_secs)), input, |line, _| {
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
    (out, MatrixResult { label: spec.label.clone(), verdict, secs: result.elapsed.as_secs_f64() })
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
    match std::fs::write(png, screendump::encode_png(&img)) {
        Ok(()) => out.push(format!("screendump: {}x{} saved to {}", img.width, img.height, png.display())),
        Err(e) => out.push(format!("screendump: cannot write {}: {e}", png.display())),
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

fn cmd_matrix(argv: &[String]) -> Result<i32> {
    let a = Args::parse(argv, &[], &["file", "kernels", "jobs", "only", "initrd-dir", "initrd-add", "accel"])?;
    let file = a.get("file").unwrap_or("tests/matrix.txt");
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let mut specs = matrix::parse(&text)?;
    // input= files are named relative to the matrix file.
    let matrix_dir = Path::new(file).parent().unwrap_or(Path::new("."));
    for s in &mut specs {
        if let Some(p) = s.input.as_mut().filter(|p| p.is_relative()) {
            *p = matrix_dir.join(&*p);
        }
    }
    let only = a.all("only");
    if !only.is_empty() {
        specs.retain(|s| only.iter().any(|o| s.label.starts_with(o) || s.kernel == *o));
    }
    if specs.is_empty() {
        bail!("no matrix entry selected");
    }
    let kernels = PathBuf::from(a.require("kernels")?);
    let jobs: usize = a.get("jobs").map(str::parse).transpose().context("--jobs")?.unwrap_or(2).max(1);
    println!("boot: {} QEMU runs from {file}, {jobs} at a time", specs.len());
    let queue = Arc::new(Mutex::new(specs.clone().into_iter().enumerate().collect::<Vec<_>>()));
    let results: Arc<Mutex<Vec<(usize, MatrixResult)>>> = Arc::new(Mutex::new(Vec::new()));
    let a = Arc::new(a);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            let a = Arc::clone(&a);
            let kernels = kernels.clone();
            scope.spawn(move || {
                loop {
                    let next =
                        queue.lock().map(|mut q| if q.is_empty() { None } else { Some(q.remove(0)) }).ok().flatten();
                    let Some((idx, spec)) = next else { break };
                    let (lines, res) = run_one(&spec, &kernels, &a);
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
    Ok(if failed == 0 { 0 } else { 1 })
}
