//! QEMU command lines.
//!
//! One [`QemuConfig`] describes a machine: firmware, memory, CPUs, NUMA
//! layout, accelerator, how the disk is attached (IDE disk or USB stick on
//! xHCI), debugging and extra arguments. [`QemuConfig::args`] turns it into
//! the argument list, so the mapping is testable without starting QEMU.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Which firmware boots the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }

    /// Parse `bios` or `uefi` (the names of `--firmware`).
    pub fn parse(s: &str) -> Result<Firmware> {
        match <Firmware as clap::ValueEnum>::from_str(s, false) {
            Ok(fw) => Ok(fw),
            Err(_) => bail!("unknown firmware '{s}' (bios or uefi)"),
        }
    }
}

/// How the boot disk is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskAttach {
    /// A plain IDE/virtio-less raw disk (`-drive format=raw,file=...`).
    Ide,
    /// A USB mass-storage device on an xHCI controller, as a USB stick.
    UsbStick,
}

/// How an extra disk is attached (`--disk FILE,if=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskIface {
    /// `virtio-blk-pci` (the guest's /dev/vda, /dev/vdb, ...).
    Virtio,
    /// `virtio-blk-pci,disable-modern=on`: a legacy-only (virtio 0.9.5)
    /// device, driven through its I/O-port interface.
    VirtioLegacy,
    /// QEMU's NVMe controller with the file as namespace 1.
    Nvme,
}

/// A raw disk image attached besides the boot disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraDisk {
    pub file: PathBuf,
    pub iface: DiskIface,
}

impl ExtraDisk {
    /// `FILE[,if=virtio|virtio-legacy|nvme]` (virtio when not given).
    pub fn parse(s: &str) -> Result<ExtraDisk> {
        let (file, opts) = match s.split_once(',') {
            Some((f, o)) => (f, Some(o)),
            None => (s, None),
        };
        if file.is_empty() {
            bail!("--disk needs a file");
        }
        let iface = match opts {
            None | Some("if=virtio") => DiskIface::Virtio,
            Some("if=virtio-legacy") => DiskIface::VirtioLegacy,
            Some("if=nvme") => DiskIface::Nvme,
            Some(o) => bail!("unknown disk option '{o}' (if=virtio, if=virtio-legacy or if=nvme)"),
        };
        Ok(ExtraDisk { file: file.into(), iface })
    }
}

/// Accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    Tcg,
    Kvm,
}

/// NUMA layout: `nodes` nodes sharing memory and CPUs evenly, and the
/// distance between each pair of different nodes (10 to itself, as ACPI
/// SLIT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numa {
    pub nodes: u32,
    /// Upper triangle, row by row: d(0,1), d(0,2), .., d(1,2), ...
    pub distances: Vec<u32>,
}

impl Numa {
    /// Parse `N`, `N:DIST` (every pair DIST apart, default 20) or
    /// `N:d01,d02,...,d12,...` (each pair of the upper triangle, row by row).
    pub fn parse(s: &str) -> Result<Numa> {
        let (n, d) = s.split_once(':').unwrap_or((s, "20"));
        let nodes: u32 = n.parse().with_context(|| format!("bad NUMA node count '{n}'"))?;
        if !(1..=8).contains(&nodes) {
            bail!("NUMA node count must be 1..=8");
        }
        let pairs = (nodes * (nodes - 1) / 2) as usize;
        let given: Vec<u32> = d
            .split(',')
            .map(|x| x.trim().parse().with_context(|| format!("bad NUMA distance '{x}'")))
            .collect::<Result<_>>()?;
        let distances = match given.len() {
            1 => vec![given[0]; pairs],
            len if len == pairs => given,
            len => bail!("{nodes} NUMA nodes need 1 or {pairs} distances, got {len}"),
        };
        if let Some(bad) = distances.iter().find(|d| !(11..=254).contains(*d)) {
            bail!("NUMA distance {bad} out of range 11..=254 (10 means local)");
        }
        Ok(Numa { nodes, distances })
    }

    /// Distance between two different nodes.
    pub fn distance(&self, a: u32, b: u32) -> u32 {
        let (i, j) = if a < b { (a, b) } else { (b, a) };
        // Index of (i, j) in the row-major upper triangle.
        let idx = (i * (2 * self.nodes - i - 1) / 2 + (j - i - 1)) as usize;
        self.distances[idx]
    }
}

/// Parse a memory size like `128M`, `5G`, `512` (MiB) into MiB.
pub fn parse_mem_mib(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('G' | 'g') => (&s[..s.len() - 1], 1024),
        Some('M' | 'm') => (&s[..s.len() - 1], 1),
        _ => (s, 1),
    };
    let n: u64 = num.parse().with_context(|| format!("bad memory size '{s}'"))?;
    if n == 0 {
        bail!("memory size must be positive");
    }
    Ok(n * mult)
}

/// A QEMU machine for one run.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub firmware: Firmware,
    pub image: PathBuf,
    pub mem_mib: u64,
    pub smp: u32,
    /// QEMU's CPU model (`-cpu`): `max` unless given (an older model
    /// checks that every optional CPU feature is used only when present).
    pub cpu: Option<String>,
    pub numa: Option<Numa>,
    pub accel: Accel,
    pub disk: DiskAttach,
    /// Disks besides the boot disk, in order.
    pub disks: Vec<ExtraDisk>,
    /// Wait for a GDB connection on tcp::1234 before starting.
    pub gdb: bool,
    /// Show a window (otherwise `-display none`).
    pub display: bool,
    /// Writable copy of the UEFI variable store (UEFI only).
    pub ovmf_vars: Option<PathBuf>,
    /// QMP socket, for screendumps.
    pub qmp_socket: Option<PathBuf>,
    /// Someone types at the serial console (`make run`): the console and
    /// QEMU's monitor share stdio (Ctrl-A x quits, Ctrl-A c is the
    /// monitor) and Ctrl-C goes to the guest instead of killing QEMU.
    pub interactive: bool,
    pub extra: Vec<String>,
}

/// Where OVMF lives (Debian's `ovmf` package), overridable by environment.
pub fn ovmf_code() -> PathBuf {
    std::env::var_os("OVMF_CODE").map(PathBuf::from).unwrap_or_else(|| "/usr/share/OVMF/OVMF_CODE.fd".into())
}

/// The pristine OVMF variable store that each UEFI run copies.
pub fn ovmf_vars_template() -> PathBuf {
    std::env::var_os("OVMF_VARS").map(PathBuf::from).unwrap_or_else(|| "/usr/share/OVMF/OVMF_VARS.fd".into())
}

impl QemuConfig {
    pub fn new(firmware: Firmware, image: &Path) -> Self {
        QemuConfig {
            firmware,
            image: image.to_path_buf(),
            mem_mib: 128,
            smp: 1,
            cpu: None,
            numa: None,
            accel: Accel::Tcg,
            disk: DiskAttach::Ide,
            disks: Vec::new(),
            gdb: false,
            display: false,
            ovmf_vars: None,
            qmp_socket: None,
            interactive: false,
            extra: Vec::new(),
        }
    }

    /// The full argument list (without the program name).
    pub fn args(&self) -> Result<Vec<String>> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["-machine", "q35"]);
        // `-cpu host` fails on these nested-KVM machines; `max` is host
        // passthrough under KVM anyway.
        let cpu = self.cpu.as_deref().unwrap_or("max");
        match self.accel {
            Accel::Tcg => push(&["-accel", "tcg", "-cpu", cpu]),
            Accel::Kvm => push(&["-accel", "kvm", "-cpu", cpu]),
        }
        let mem = format!("{}M", self.mem_mib);
        push(&["-m", &mem]);
        let smp = self.smp.to_string();
        push(&["-smp", &smp]);
        if let Some(numa) = &self.numa {
            if self.mem_mib % numa.nodes as u64 != 0 {
                bail!("memory {} MiB does not split evenly over {} NUMA nodes", self.mem_mib, numa.nodes);
            }
            let per_node = self.mem_mib / numa.nodes as u64;
            for n in 0..numa.nodes {
                let obj = format!("memory-backend-ram,id=mem{n},size={per_node}M");
                push(&["-object", &obj]);
                let mut node = format!("node,nodeid={n},memdev=mem{n}");
                let cpus: Vec<u32> = (0..self.smp).filter(|c| c % numa.nodes == n).collect();
                if let (Some(first), Some(last)) = (cpus.first(), cpus.last()) {
                    if cpus.len() == (last - first + 1) as usize {
                        node.push_str(&format!(",cpus={first}-{last}"));
                    } else {
                        for c in &cpus {
                            node.push_str(&format!(",cpus={c}"));
                        }
                    }
                }
                push(&["-numa", &node]);
            }
            for src in 0..numa.nodes {
                for dst in 0..numa.nodes {
                    if src < dst {
                        let d = format!("dist,src={src},dst={dst},val={}", numa.distance(src, dst));
                        push(&["-numa", &d]);
                    }
                }
            }
        }
        if self.firmware == Firmware::Uefi {
            let code = format!("if=pflash,format=raw,unit=0,readonly=on,file={}", ovmf_code().display());
            push(&["-drive", &code]);
            let vars = self.ovmf_vars.as_ref().context("UEFI run needs a writable OVMF_VARS copy")?;
            let vars = format!("if=pflash,format=raw,unit=1,file={}", vars.display());
            push(&["-drive", &vars]);
        }
        match self.disk {
            DiskAttach::Ide => {
                let d = format!("format=raw,file={}", self.image.display());
                push(&["-drive", &d]);
            }
            DiskAttach::UsbStick => {
                let d = format!("if=none,id=stick,format=raw,file={}", self.image.display());
                push(&[
                    "-device",
                    "qemu-xhci,id=xhci",
                    "-drive",
                    &d,
                    "-device",
                    "usb-storage,bus=xhci.0,drive=stick,bootindex=0",
                ]);
            }
        }
        for (i, d) in self.disks.iter().enumerate() {
            let drive = format!("if=none,id=xd{i},format=raw,file={}", d.file.display());
            let dev = match d.iface {
                DiskIface::Virtio => format!("virtio-blk-pci,drive=xd{i}"),
                DiskIface::VirtioLegacy => format!("virtio-blk-pci,disable-modern=on,drive=xd{i}"),
                DiskIface::Nvme => format!("nvme,drive=xd{i},serial=mmk{i}"),
            };
            push(&["-drive", &drive, "-device", &dev]);
        }
        if self.interactive {
            push(&[
                "-chardev",
                "stdio,id=con0,mux=on,signal=off",
                "-serial",
                "chardev:con0",
                "-mon",
                "chardev=con0,mode=readline",
            ]);
        } else {
            push(&["-serial", "stdio"]);
        }
        push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot"]);
        if !self.display {
            push(&["-display", "none"]);
        }
        if let Some(sock) = &self.qmp_socket {
            let q = format!("unix:{},server=on,wait=off", sock.display());
            push(&["-qmp", &q]);
        }
        if self.gdb {
            push(&["-s", "-S"]);
        }
        a.extend(self.extra.iter().cloned());
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(c: &QemuConfig) -> String {
        c.args().unwrap().join(" ")
    }

    #[test]
    fn interactive_run_shares_stdio_with_the_monitor_and_keeps_ctrl_c() {
        let mut c = QemuConfig::new(Firmware::Bios, Path::new("/tmp/k.img"));
        c.interactive = true;
        let s = joined(&c);
        assert!(s.contains("-chardev stdio,id=con0,mux=on,signal=off -serial chardev:con0 -mon chardev=con0"), "{s}");
        assert!(!s.contains("-serial stdio"));
    }

    #[test]
    fn extra_disks_are_virtio_nvme_or_legacy_virtio_in_order() {
        let mut c = QemuConfig::new(Firmware::Bios, Path::new("/tmp/x.img"));
        c.disks.push(ExtraDisk::parse("/tmp/a.img").unwrap());
        c.disks.push(ExtraDisk::parse("/tmp/b.img,if=nvme").unwrap());
        c.disks.push(ExtraDisk::parse("/tmp/c.img,if=virtio-legacy").unwrap());
        let s = joined(&c);
        assert!(
            s.contains(
                "-drive if=none,id=xd2,format=raw,file=/tmp/c.img -device virtio-blk-pci,disable-modern=on,drive=xd2"
            ),
            "{s}"
        );
        assert!(s.contains("-drive if=none,id=xd0,format=raw,file=/tmp/a.img -device virtio-blk-pci,drive=xd0"), "{s}");
        assert!(
            s.contains("-drive if=none,id=xd1,format=raw,file=/tmp/b.img -device nvme,drive=xd1,serial=mmk1"),
            "{s}"
        );
        assert_eq!(ExtraDisk::parse("/tmp/a.img,if=virtio").unwrap().iface, DiskIface::Virtio);
        assert_eq!(ExtraDisk::parse("/tmp/a.img,if=virtio-legacy").unwrap().iface, DiskIface::VirtioLegacy);
        assert!(ExtraDisk::parse("/tmp/a.img,if=scsi").is_err());
        assert!(ExtraDisk::parse("/tmp/a.img,if=virtio-modern").is_err());
        assert!(ExtraDisk::parse(",if=nvme").is_err());
    }

    #[test]
    fn bios_run_has_debug_exit_serial_and_tcg() {
        let c = QemuConfig::new(Firmware::Bios, Path::new("/tmp/x.img"));
        let s = joined(&c);
        assert!(s.contains("-device isa-debug-exit,iobase=0xf4,iosize=0x04"), "{s}");
        assert!(s.contains("-serial stdio"));
        assert!(s.contains("-accel tcg -cpu max"), "{s}");
        assert!(s.contains("-drive format=raw,file=/tmp/x.img"));
        assert!(!s.contains("pflash"));
    }

    #[test]
    fn cpu_model_replaces_max() {
        let mut c = QemuConfig::new(Firmware::Bios, Path::new("/tmp/x.img"));
        c.cpu = Some("qemu64".into());
        let s = joined(&c);
        assert!(s.contains("-cpu qemu64") && !s.contains("-cpu max"), "{s}");
    }

    #[test]
    fn uefi_run_needs_vars_copy_and_uses_pflash() {
        let mut c = QemuConfig::new(Firmware::Uefi, Path::new("/tmp/x.img"));
        assert!(c.args().is_err());
        c.ovmf_vars = Some("/tmp/vars.fd".into());
        let s = joined(&c);
        assert!(s.contains("readonly=on"), "{s}");
        assert!(s.contains("unit=1,file=/tmp/vars.fd"));
    }

    #[test]
    fn numa_splits_memory_and_sets_distances() {
        let mut c = QemuConfig::new(Firmware::Bios, Path::new("/tmp/x.img"));
        c.mem_mib = 256;
        c.smp = 2;
        c.numa = Some(Numa::parse("2:21").unwrap());
        let s = joined(&c);
        assert!(s.contains("memory-backend-ram,id=mem0,size=128M"), "{s}");
        assert!(s.contains("node,nodeid=1,memdev=mem1,cpus=1-1"), "{s}");
        assert!(s.contains("dist,src=0,dst=1,val=21"), "{s}");
        c.mem_mib = 255;
        assert!(c.args().is_err());
    }

    #[test]
    fn usb_stick_attaches_to_xhci() {
        let mut c = QemuConfig::new(Firmware::Bios, Path::new("/tmp/x.img"));
        c.disk = DiskAttach::UsbStick;
        let s = joined(&c);
        assert!(s.contains("qemu-xhci"));
        assert!(s.contains("usb-storage,bus=xhci.0,drive=stick"));
    }

    #[test]
    fn sizes_and_specs_parse_or_fail_clearly() {
        assert_eq!(parse_mem_mib("128M").unwrap(), 128);
        assert_eq!(parse_mem_mib("5G").unwrap(), 5120);
        assert_eq!(parse_mem_mib("64").unwrap(), 64);
        assert!(parse_mem_mib("0").is_err());
        assert!(parse_mem_mib("lots").is_err());
        assert!(Numa::parse("0").is_err());
        assert!(Numa::parse("2:10").is_err());
        assert_eq!(Numa::parse("3").unwrap(), Numa { nodes: 3, distances: vec![20, 20, 20] });
        let n = Numa::parse("3:20,30,21").unwrap();
        assert_eq!((n.distance(0, 1), n.distance(0, 2), n.distance(1, 2), n.distance(2, 1)), (20, 30, 21, 21));
        assert!(Numa::parse("3:20,30").is_err());
    }
}
