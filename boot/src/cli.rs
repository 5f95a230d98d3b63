//! The `boot` command line, declared with `clap`'s derive: one struct per
//! subcommand, the option groups they share ([`Machine`], [`InitrdContent`])
//! flattened in, and the help text taken from these doc comments.
//!
//! ```text
//! boot image | initrd | run | test | matrix | symbolize | usb | screendump
//! ```
//!
//! The Makefile, `scripts/` and the README call these names; they are part
//! of the interface. Conventions kept from the tool's first parser:
//! `--key value` and `--key=value` both work, a repeated option's last value
//! wins (`make gdb GDB=1` passes `--gdb` twice), repeatable options keep
//! every value in order, and an empty value of a text option counts as
//! absent (`make run ARGS=` passes `--cmdline ""`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::matrix::Expect;
use crate::qemu::{Accel, DiskAttach, ExtraDisk, Firmware, Numa, QemuConfig, parse_mem_mib};

/// boot: build, run and test the kernel.
#[derive(Debug, Parser)]
#[command(name = "boot", arg_required_else_help = true, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What `run` and `test` return, shown under the help.
const EXIT_STATUS: &str = "\
Exit status of run and test: 0 success, 1 kernel-reported failure, 2 reset without report,
3 QEMU error, 124 timeout; with init=PATH and exit_on_init, run exits with init's status.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build BIOS and UEFI disk images of a kernel.
    Image(ImageArgs),
    /// Pack an initrd (cpio newc) with /boot/cmdline.
    Initrd(InitrdArgs),
    /// Boot a kernel in QEMU, serial on this terminal (no timeout unless given).
    #[command(after_help = EXIT_STATUS)]
    Run(RunArgs),
    /// Boot a test kernel with no input and judge its result (timeout 180s unless given).
    #[command(after_help = EXIT_STATUS)]
    Test(RunArgs),
    /// Run every line of the test matrix file under each firmware, in parallel, with a summary.
    Matrix(MatrixArgs),
    /// Resolve the kernel addresses in the lines of stdin to function names (to stdout).
    Symbolize(SymbolizeArgs),
    /// Write a disk image to a USB stick, after checking the device is a removable disk not in use.
    Usb(UsbArgs),
    /// Boot, wait, save the screen as PNG (QMP screendump) and stop QEMU.
    ///
    /// Waits SECS (default 20) or, with --wait-for, until a serial line
    /// contains TEXT and then SECS more (default 0).
    Screendump(ScreendumpArgs),
}

/// `boot image`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct ImageArgs {
    /// The kernel ELF file.
    #[arg(long, value_name = "ELF")]
    pub kernel: PathBuf,
    /// An initrd to put on the images.
    #[arg(long, value_name = "FILE")]
    pub ramdisk: Option<PathBuf>,
    /// Where the images go [default: boot/image in the target directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `boot initrd`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct InitrdArgs {
    /// The archive to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub content: InitrdContent,
    /// Kernel command line, stored as /boot/cmdline.
    #[arg(long, value_name = "TEXT", default_value = "", hide_default_value = true, allow_hyphen_values = true)]
    pub cmdline: String,
}

/// What goes into an initrd besides /boot/cmdline.
#[derive(Debug, Args)]
pub struct InitrdContent {
    /// Copy DIR's contents into the initrd root (repeatable).
    #[arg(long = "initrd-dir", value_name = "DIR")]
    initrd_dir: Vec<PathBuf>,
    /// Add a host file or directory, DEST defaulting to /bin/NAME (repeatable).
    #[arg(long = "initrd-add", value_name = "HOST[:DEST]")]
    initrd_add: Vec<String>,
}

impl InitrdContent {
    /// The `--initrd-dir` directories, in order (empty values left out).
    pub fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.initrd_dir.iter().filter(|d| !d.as_os_str().is_empty())
    }

    /// The `--initrd-add` specifications, in order (empty values left out).
    pub fn adds(&self) -> impl Iterator<Item = &str> {
        self.initrd_add.iter().map(String::as_str).filter(|s| !s.is_empty())
    }
}

/// The kernel to boot and what its initrd holds, shared by run, test and screendump.
#[derive(Debug, Args)]
pub struct Guest {
    /// The kernel ELF file.
    #[arg(long, value_name = "ELF")]
    pub kernel: PathBuf,
    /// Kernel command line (stored in the initrd as /boot/cmdline).
    #[arg(long, value_name = "TEXT", default_value = "", hide_default_value = true, allow_hyphen_values = true)]
    pub cmdline: String,
    #[command(flatten)]
    pub initrd: InitrdContent,
}

/// The QEMU machine, shared by run, test and screendump (flattened last:
/// its help heading holds for the options after it).
#[derive(Debug, Args)]
#[command(next_help_heading = "QEMU options")]
pub struct Machine {
    /// Boot with UEFI (OVMF); the same as --firmware uefi.
    #[arg(long)]
    pub uefi: bool,
    /// Firmware.
    #[arg(long, value_enum, default_value = "bios")]
    firmware: Firmware,
    /// Guest memory, in MiB or with an M or G suffix.
    #[arg(long = "mem", value_name = "SIZE", default_value = "128M", value_parser = parse_mem_mib)]
    pub mem_mib: u64,
    /// CPUs.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub smp: u32,
    /// QEMU CPU model, e.g. qemu64, Nehalem, EPYC [default: max].
    #[arg(long, value_name = "MODEL")]
    cpu: Option<String>,
    /// N NUMA nodes splitting memory evenly, DIST apart (default 20).
    #[arg(long, value_name = "N[:DIST]", value_parser = Numa::parse)]
    pub numa: Option<Numa>,
    /// Accelerator.
    #[arg(long, value_enum, default_value = "tcg")]
    pub accel: Accel,
    /// Attach the disk as a USB stick on xHCI instead of IDE.
    #[arg(long = "usb-stick")]
    pub usb_stick: bool,
    /// Attach a raw disk image besides the boot disk (repeatable; virtio-blk
    /// unless `,if=nvme`; `,if=virtio-legacy` makes it a legacy-only
    /// virtio-blk device).
    #[arg(long = "disk", value_name = "FILE[,if=virtio|virtio-legacy|nvme]", value_parser = ExtraDisk::parse)]
    pub disks: Vec<ExtraDisk>,
    /// Wait for GDB on localhost:1234.
    #[arg(long)]
    pub gdb: bool,
    /// Open a QEMU window (otherwise the screen is not shown).
    #[arg(long)]
    pub display: bool,
    /// Extra QEMU argument (repeatable).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    qemu_arg: Vec<String>,
}

impl Machine {
    /// The firmware: `--uefi`, else `--firmware`.
    pub fn firmware(&self) -> Firmware {
        if self.uefi { Firmware::Uefi } else { self.firmware }
    }

    /// Set the machine options on a configuration made for this firmware.
    pub fn apply(&self, c: &mut QemuConfig) {
        c.mem_mib = self.mem_mib;
        c.smp = self.smp;
        c.cpu = self.cpu.clone().filter(|m| !m.is_empty());
        c.numa = self.numa.clone();
        c.accel = self.accel;
        c.gdb = self.gdb;
        c.display = self.display;
        if self.usb_stick {
            c.disk = DiskAttach::UsbStick;
        }
        c.disks = self.disks.clone();
        c.extra = self.qemu_arg.iter().filter(|a| !a.is_empty()).cloned().collect();
    }
}

/// `boot run` and `boot test`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub guest: Guest,
    /// Kill QEMU after SECS seconds [default: none for run, 180 for test].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// What counts as a pass [default: exit for run, ktest for test].
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
    #[command(flatten)]
    pub machine: Machine,
}

/// `boot matrix`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct MatrixArgs {
    /// The matrix file (input= files are named relative to it).
    #[arg(long, value_name = "FILE", default_value = "tests/matrix.txt")]
    pub file: PathBuf,
    /// Directory holding the built kernels named by kernel=.
    #[arg(long, value_name = "DIR")]
    pub kernels: PathBuf,
    /// QEMU runs at a time (at least 1).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub jobs: usize,
    /// Run only the entries whose label starts with NAME or whose kernel is NAME (repeatable).
    #[arg(long, value_name = "NAME")]
    only: Vec<String>,
    #[command(flatten)]
    pub initrd: InitrdContent,
    /// Accelerator for every run [default: tcg].
    #[arg(long, value_enum)]
    pub accel: Option<Accel>,
}

impl MatrixArgs {
    /// The `--only` names, in order (empty values left out).
    pub fn only(&self) -> Vec<&str> {
        self.only.iter().map(String::as_str).filter(|o| !o.is_empty()).collect()
    }
}

/// `boot symbolize`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct SymbolizeArgs {
    /// The kernel ELF file whose symbols name the addresses.
    #[arg(long, value_name = "ELF")]
    pub kernel: PathBuf,
}

/// `boot usb`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct UsbArgs {
    /// The disk image to write.
    #[arg(long, value_name = "IMG")]
    pub image: PathBuf,
    /// The target device, e.g. /dev/sdX or a /dev/disk/by-id/ link.
    #[arg(long, value_name = "DEV")]
    pub device: PathBuf,
    /// Check and report, never write.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Confirm the target: write without asking.
    #[arg(long)]
    pub yes: bool,
}

/// `boot screendump`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct ScreendumpArgs {
    #[command(flatten)]
    pub guest: Guest,
    /// Where the PNG goes.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
    /// Seconds to wait before the screendump (after --wait-for's text, if given) [default: 20, 0 after TEXT].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_negative_numbers = true)]
    wait: Option<Duration>,
    /// Take the screendump once a serial line contains TEXT.
    #[arg(long = "wait-for", value_name = "TEXT", allow_hyphen_values = true)]
    wait_for: Option<String>,
    /// Give up (and stop QEMU) after SECS seconds without a screendump.
    #[arg(
        long,
        alias = "timeout",
        value_name = "SECS",
        default_value = "600",
        value_parser = parse_seconds,
        allow_negative_numbers = true
    )]
    pub limit: Duration,
    #[command(flatten)]
    pub machine: Machine,
}

impl ScreendumpArgs {
    /// The text to wait for, if any (an empty one counts as none).
    pub fn wait_for(&self) -> Option<&str> {
        self.wait_for.as_deref().filter(|t| !t.is_empty())
    }

    /// The wait before the screendump: `--wait`, else 20 seconds after the
    /// start or none after the text of `--wait-for`.
    pub fn wait(&self) -> Duration {
        let default = if self.wait_for().is_some() { 0 } else { 20 };
        self.wait.unwrap_or(Duration::from_secs(default))
    }
}

/// Seconds, fractions allowed; a negative number means zero.
fn parse_seconds(s: &str) -> Result<Duration> {
    let secs: f64 = s.parse().with_context(|| format!("'{s}' is not a number of seconds"))?;
    if secs.is_nan() {
        bail!("'{s}' is not a number of seconds");
    }
    Duration::try_from_secs_f64(secs.max(0.0)).with_context(|| format!("{s} seconds is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::DiskIface;
    use clap::CommandFactory;

    fn parse(argv: &[&str]) -> Command {
        match Cli::try_parse_from(std::iter::once("boot").chain(argv.iter().copied())) {
            Ok(cli) => cli.command,
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    fn fails(argv: &[&str]) -> String {
        match Cli::try_parse_from(std::iter::once("boot").chain(argv.iter().copied())) {
            Ok(cli) => panic!("{argv:?} parsed as {cli:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn run(argv: &[&str]) -> RunArgs {
        match parse(argv) {
            Command::Run(r) | Command::Test(r) => r,
            other => panic!("not run/test: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_defaults_match_the_documented_ones() {
        let r = run(&["run", "--kernel", "k"]);
        let m = &r.machine;
        assert_eq!(m.firmware(), Firmware::Bios);
        assert_eq!((m.mem_mib, m.smp, m.accel), (128, 1, Accel::Tcg));
        assert!(!m.gdb && !m.display && !m.usb_stick && m.numa.is_none());
        assert_eq!(r.guest.cmdline, "");
        assert_eq!((r.timeout, r.expect), (None, None));
    }

    #[test]
    fn the_makefiles_qemu_options_parse() {
        // make run UEFI=1 MEM=5G SMP=2 NUMA=2:30 CPU=EPYC GDB=1 USB_STICK=1 QEMU_ARGS="-s -S" TIMEOUT=60
        let r = run(&[
            "run",
            "--kernel",
            "target/k",
            "--mem",
            "5G",
            "--smp",
            "2",
            "--accel",
            "kvm",
            "--cpu",
            "EPYC",
            "--uefi",
            "--numa",
            "2:30",
            "--gdb",
            "--display",
            "--usb-stick",
            "--qemu-arg=-s",
            "--qemu-arg",
            "-S",
            "--initrd-add",
            "a.out",
            "--timeout",
            "60",
            "--initrd-dir",
            "user/build/rootfs",
            "--cmdline",
            "mempic",
        ]);
        let (g, m) = (&r.guest, &r.machine);
        assert_eq!(g.kernel, PathBuf::from("target/k"));
        assert_eq!(m.firmware(), Firmware::Uefi);
        assert_eq!((m.mem_mib, m.smp, m.accel), (5 * 1024, 2, Accel::Kvm));
        assert_eq!(m.numa, Some(Numa { nodes: 2, distances: vec![30] }));
        assert_eq!(g.cmdline, "mempic");
        assert_eq!(g.initrd.dirs().collect::<Vec<_>>(), vec![&PathBuf::from("user/build/rootfs")]);
        assert_eq!(g.initrd.adds().collect::<Vec<_>>(), vec!["a.out"]);
        assert_eq!(r.timeout, Some(60));
        let mut c = QemuConfig::new(m.firmware(), std::path::Path::new("x.img"));
        m.apply(&mut c);
        assert_eq!(c.cpu.as_deref(), Some("EPYC"));
        assert_eq!(c.extra, vec!["-s", "-S"]);
        assert!(c.gdb && c.display && c.disk == DiskAttach::UsbStick);
    }

    #[test]
    fn repeated_options_keep_the_last_value_and_repeatable_ones_all() {
        // make gdb GDB=1 passes --gdb twice.
        let r = run(&["test", "--kernel", "k", "--gdb", "--gdb", "--mem", "1G", "--mem=256M", "--expect", "exit"]);
        assert!(r.machine.gdb);
        assert_eq!(r.machine.mem_mib, 256);
        assert_eq!(r.expect, Some(Expect::Exit));
        let Command::Matrix(m) = parse(&["matrix", "--kernels", "d", "--only", "a", "--only=b", "--jobs", "3"]) else {
            panic!("not matrix")
        };
        assert_eq!(m.only(), vec!["a", "b"]);
        assert_eq!((m.jobs, m.file.as_path(), m.accel), (3, std::path::Path::new("tests/matrix.txt"), None));
    }

    #[test]
    fn disks_keep_their_order_and_interface() {
        let r = run(&[
            "run",
            "--kernel",
            "k",
            "--disk",
            "a.img",
            "--disk=b.img,if=virtio-legacy",
            "--disk",
            "c.img,if=nvme",
        ]);
        let ifaces: Vec<DiskIface> = r.machine.disks.iter().map(|d| d.iface).collect();
        assert_eq!(ifaces, vec![DiskIface::Virtio, DiskIface::VirtioLegacy, DiskIface::Nvme]);
        assert_eq!(r.machine.disks[1].file, PathBuf::from("b.img"));
        assert!(fails(&["run", "--kernel", "k", "--disk", "b.img,if=legacy"]).contains("virtio-legacy"));
    }

    #[test]
    fn empty_text_values_count_as_absent() {
        let r = run(&["run", "--kernel", "k", "--cmdline", "", "--cpu=", "--qemu-arg=", "--initrd-add="]);
        let mut c = QemuConfig::new(Firmware::Bios, std::path::Path::new("x.img"));
        r.machine.apply(&mut c);
        assert_eq!((r.guest.cmdline.as_str(), c.cpu, c.extra.len()), ("", None, 0));
        assert_eq!(r.guest.initrd.adds().count(), 0);
    }

    #[test]
    fn unknown_missing_and_malformed_options_fail() {
        assert!(fails(&["run", "--kernel", "k", "--nope"]).contains("--nope"));
        assert!(fails(&["run"]).contains("--kernel"));
        assert!(fails(&["run", "--kernel"]).contains("--kernel"));
        assert!(fails(&["run", "--kernel", "k", "--uefi=1"]).contains("--uefi"));
        assert!(fails(&["run", "--kernel", "k", "--mem", "lots"]).contains("bad memory size"));
        assert!(fails(&["run", "--kernel", "k", "--numa", "9"]).contains("1..=8"));
        assert!(fails(&["run", "--kernel", "k", "--firmware", "coreboot"]).contains("coreboot"));
        assert!(fails(&["test", "--kernel", "k", "--expect", "maybe"]).contains("maybe"));
        assert!(fails(&["usb", "--image", "i"]).contains("--device"));
        assert!(fails(&["frobnicate"]).contains("frobnicate"));
    }

    #[test]
    fn screendump_waits_and_limits() {
        let shot = |argv: &[&str]| match parse(argv) {
            Command::Screendump(s) => s,
            other => panic!("not screendump: {other:?}"),
        };
        let s = shot(&["screendump", "--kernel", "k", "--out", "s.png"]);
        assert_eq!((s.wait_for(), s.wait(), s.limit), (None, Duration::from_secs(20), Duration::from_secs(600)));
        let s = shot(&["screendump", "--kernel", "k", "--out", "s.png", "--wait-for", "mm# ", "--wait", "-1"]);
        assert_eq!((s.wait_for(), s.wait()), (Some("mm# "), Duration::ZERO));
        let s = shot(&["screendump", "--kernel", "k", "--out", "s.png", "--wait-for", "x", "--wait", "1.5"]);
        assert_eq!(s.wait(), Duration::from_millis(1500));
        // make screenshot TIMEOUT=30 passes --timeout 30 (QEMU options) and --limit 30.
        let s = shot(&["screendump", "--kernel", "k", "--out", "s.png", "--timeout", "30", "--limit", "30"]);
        assert_eq!(s.limit, Duration::from_secs(30));
        assert!(fails(&["screendump", "--kernel", "k", "--out", "s.png", "--wait", "soon"]).contains("soon"));
        assert!(fails(&["screendump", "--kernel", "k", "--out", "s.png", "--limit", "inf"]).contains("too long"));
    }

    #[test]
    fn usb_image_and_initrd_options_parse() {
        let Command::Usb(u) = parse(&["usb", "--image", "i.img", "--device", "/dev/sdz", "--dry-run"]) else {
            panic!("not usb")
        };
        assert_eq!((u.image, u.device, u.dry_run, u.yes), ("i.img".into(), "/dev/sdz".into(), true, false));
        let Command::Image(i) = parse(&["image", "--kernel", "k", "--ramdisk", "r.cpio"]) else { panic!("not image") };
        assert_eq!((i.ramdisk, i.out), (Some("r.cpio".into()), None));
        let Command::Initrd(i) = parse(&["initrd", "--out", "o.cpio", "--initrd-add", "p:/init"]) else {
            panic!("not initrd")
        };
        assert_eq!((i.out, i.cmdline.as_str()), ("o.cpio".into(), ""));
        assert_eq!(i.content.adds().collect::<Vec<_>>(), vec!["p:/init"]);
    }
}
