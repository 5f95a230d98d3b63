//! Disk images: the kernel ELF (stripped of debug info) plus an optional
//! ramdisk, made bootable for BIOS (MBR) and UEFI (GPT + FAT ESP) by the
//! `bootloader` crate.
//!
//! The kernel keeps full debug info for the symboliser and GDB; the copy that
//! goes into the image is stripped, because the BIOS stages load it through
//! real-mode disk calls, which are slow under TCG.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use bootloader::{BiosBoot, BootConfig, UefiBoot};
use bootloader_boot_config::LevelFilter;

use crate::qemu::Firmware;

/// The bootloader's own settings: quiet (warnings only) and no logging to
/// the framebuffer, which the kernel takes over and clears anyway.
pub fn boot_config() -> BootConfig {
    let mut c = BootConfig::default();
    c.log_level = LevelFilter::Warn;
    c.frame_buffer_logging = false;
    c.serial_logging = true;
    c
}

/// Find `llvm-objcopy` in the active toolchain (component llvm-tools).
fn llvm_objcopy() -> Result<PathBuf> {
    let out = Command::new("rustc").args(["--print", "sysroot"]).output().context("running rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let bin = sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy");
    if bin.exists() {
        return Ok(bin);
    }
    // Fall back to binutils' objcopy, which handles x86_64 ELF as well.
    Ok(PathBuf::from("objcopy"))
}

fn newer_than(a: &Path, b: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (m(a), m(b)) {
        (Some(a), Some(b)) => a > b,
        _ => true,
    }
}

/// A debug-info-free copy of `elf` in `out_dir` (reused while up to date).
pub fn stripped_kernel(elf: &Path, out_dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out_dir)?;
    let name = elf.file_name().context("kernel path has no file name")?;
    let out = out_dir.join(format!("{}.stripped", name.to_string_lossy()));
    if out.exists() && !newer_than(elf, &out) {
        return Ok(out);
    }
    let status =
        Command::new(llvm_objcopy()?).arg("--strip-debug").arg(elf).arg(&out).status().context("running objcopy")?;
    if !status.success() {
        bail!("objcopy --strip-debug {} failed", elf.display());
    }
    Ok(out)
}

/// Write a bootable disk image for `firmware` to `out`.
pub fn create(firmware: Firmware, kernel: &Path, ramdisk: Option<&Path>, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let config = boot_config();
    match firmware {
        Firmware::Bios => {
            let mut b = BiosBoot::new(kernel);
            b.set_boot_config(&config);
            if let Some(r) = ramdisk {
                b.set_ramdisk(r);
            }
            b.create_disk_image(out)
        }
        Firmware::Uefi => {
            let mut b = UefiBoot::new(kernel);
            b.set_boot_config(&config);
            if let Some(r) = ramdisk {
                b.set_ramdisk(r);
            }
            b.create_disk_image(out)
        }
    }
    .with_context(|| format!("creating {} image {}", firmware.name(), out.display()))
}
