//! Writing a disk image to a USB stick, safely (`boot usb`).
//!
//! This module owns every decision behind `boot usb --image IMG --device
//! /dev/sdX [--yes] [--dry-run]`: which device is meant, whether it is safe to
//! overwrite, what is printed before anything happens, and the copy itself.
//! `main.rs` only fills in [`UsbOptions`] and calls [`write_image`].
//!
//! Overwriting the wrong disk is the one mistake this tool can make that
//! cannot be undone, so each check guards against a specific slip:
//!
//! - **Device name** (no `/`, no `..`): the name is spliced into sysfs paths;
//!   a crafted name must not make us read (and trust) some other directory.
//!   Symlinks such as `/dev/disk/by-id/usb-...` are resolved first, so the
//!   stable names users copy from `ls /dev/disk/by-id` work.
//! - **Whole block device** (`class/block/NAME` exists): a typo such as
//!   `/dev/sbd` or a path to an ordinary file must not be accepted.
//! - **Not a partition** (`class/block/NAME/partition`): the image carries its
//!   own partition table (MBR or GPT), so writing it into `/dev/sdb1` produces
//!   a stick that does not boot. The refusal names the disk to use instead.
//! - **Removable or on USB**: internal SATA/NVMe disks report `removable` 0
//!   and are not below a USB controller; refusing them is what keeps a typo
//!   from wiping the system disk. Some sticks report 0 too, which is why a
//!   `device` link resolving below `/usb` is accepted as well.
//! - **Not mounted** (`/proc/self/mounts`): writing under a mounted file
//!   system corrupts it and the kernel may write stale data back over the
//!   image afterwards; a mounted partition also hints that it is a disk in
//!   use. The user has to unmount first.
//! - **Image exists and fits**: a missing image would otherwise be an
//!   unclear I/O error halfway through, and a too large one a truncated,
//!   unbootable stick.
//! - **Explicit confirmation** (`--yes`): everything above is printed first
//!   (vendor, model, size, removable), and nothing is written until the user
//!   has seen it and re-run with `--yes`. `--dry-run` runs all checks and
//!   prints what would happen without opening the device for writing.
//!
//! All sysfs and mount-table reads go through [`UsbOptions::sysfs_root`] and
//! [`UsbOptions::mounts_file`], so the tests below run against fake trees in a
//! temporary directory and never touch real hardware.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Size of one copy chunk.
const CHUNK: usize = 4 * 1024 * 1024;
/// sysfs reports disk sizes in 512-byte sectors, whatever the real sector size.
const SECTOR: u64 = 512;

/// What `boot usb` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbOptions {
    /// The disk image to write.
    pub image: PathBuf,
    /// The target device, e.g. `/dev/sdb` or a `/dev/disk/by-id/...` link.
    pub device: PathBuf,
    /// `--yes` was given: the user has confirmed the target.
    pub confirmed: bool,
    /// `--dry-run` was given: check and report, never write.
    pub dry_run: bool,
    /// Where sysfs is mounted; normally `/sys`, tests pass a fake tree.
    pub sysfs_root: PathBuf,
    /// The mount table; normally `/proc/self/mounts`, tests pass a fake file.
    pub mounts_file: PathBuf,
}

impl UsbOptions {
    /// Options for the real system: `/sys`, `/proc/self/mounts`, not
    /// confirmed, not a dry run.
    #[must_use]
    pub fn new(image: PathBuf, device: PathBuf) -> Self {
        Self {
            image,
            device,
            confirmed: false,
            dry_run: false,
            sysfs_root: PathBuf::from("/sys"),
            mounts_file: PathBuf::from("/proc/self/mounts"),
        }
    }
}

/// What sysfs says about the target disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Kernel name of the disk, e.g. `sdb`.
    pub name: String,
    /// `device/model`, trimmed; `unknown` if absent.
    pub model: String,
    /// `device/vendor`, trimmed; `unknown` if absent.
    pub vendor: String,
    /// Capacity in bytes.
    pub size_bytes: u64,
    /// `removable` is 1, or the disk hangs below a USB controller.
    pub removable: bool,
}

/// Why a device (or image) is refused. The text of each says what is wrong
/// and what to do about it; the offending path is attached as anyhow context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The device name is empty or contains `/` or `..`.
    BadDeviceName { name: String },
    /// There is no such disk in `class/block`.
    NotABlockDevice,
    /// The device is a partition of the disk `parent`.
    IsAPartition { parent: String },
    /// Neither removable nor on USB: probably an internal disk.
    NotRemovable,
    /// The disk or one of its partitions is mounted (`what`: the mount lines).
    Mounted { what: String },
    /// The image (bytes) is larger than the device (bytes).
    ImageTooLarge { image: u64, device: u64 },
    /// `--yes` was not given.
    NotConfirmed,
    /// The image does not exist or is not a regular file.
    ImageMissing,
}

const LSBLK_HINT: &str = "`lsblk -d -o NAME,TRAN,RM,SIZE,VENDOR,MODEL` lists the disks";

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadDeviceName { name } => write!(
                f,
                "`{name}` is not a usable device name; pass the whole-disk path of the USB stick, \
                 e.g. /dev/sdb ({LSBLK_HINT})"
            ),
            Refusal::NotABlockDevice => write!(
                f,
                "this is not a disk the kernel knows (nothing of that name in /sys/class/block); \
                 check for a typo and pass the whole-disk path of the USB stick, e.g. /dev/sdb \
                 ({LSBLK_HINT})"
            ),
            Refusal::IsAPartition { parent } => write!(
                f,
                "this is a partition, not a whole disk; the image has its own partition table and \
                 must be written to the whole disk: use /dev/{parent} instead"
            ),
            Refusal::NotRemovable => write!(
                f,
                "the disk is neither marked removable nor attached over USB, so it is most likely \
                 an internal drive; refusing to overwrite it. Pass the USB stick instead \
                 ({LSBLK_HINT}; the stick shows TRAN usb or RM 1)"
            ),
            Refusal::Mounted { what } => write!(
                f,
                "the disk or one of its partitions is mounted:\n{what}\nunmount all of them first \
                 (e.g. `udisksctl unmount -b /dev/sdX1` or `sudo umount /dev/sdX1`), then try again"
            ),
            Refusal::ImageTooLarge { image, device } => {
                write!(
                    f,
                    "the image is {} but the device only holds {}; use a larger stick",
                    size_with_bytes(*image),
                    size_with_bytes(*device)
                )?;
                if *device == 0 {
                    write!(f, " (a size of 0 usually means no medium is inserted in the reader)")?;
                }
                Ok(())
            }
            Refusal::NotConfirmed => write!(
                f,
                "not confirmed: writing destroys all data on the device. Check the device details \
                 printed above, then re-run with --yes (make usb DEV=/dev/sdX YES=1); --dry-run \
                 runs every check without writing"
            ),
            Refusal::ImageMissing => write!(
                f,
                "the disk image does not exist or is not a regular file; build the image first or \
                 pass the right path with --image"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A refusal with the path it is about as context, so that `{:#}` / `{:?}`
/// reads "refusing to write to /dev/sda: the disk is neither ...", while
/// `downcast_ref::<Refusal>()` still finds the reason.
fn refuse(reason: Refusal, about: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(reason).context(about.to_string())
}

/// The kernel name of the target disk: the file name of `device`, after
/// resolving symlinks (`/dev/disk/by-id/...`) if the path exists.
fn device_name(device: &Path) -> Result<String> {
    let resolved = if device.exists() {
        fs::canonicalize(device).with_context(|| format!("resolving {}", device.display()))?
    } else {
        device.to_path_buf()
    };
    let name = resolved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.is_empty() || name.contains('/') || name.contains("..") || name == "." {
        return Err(refuse(
            Refusal::BadDeviceName { name: device.display().to_string() },
            format!("refusing to write to {}", device.display()),
        ));
    }
    Ok(name)
}

/// The parent disk of a partition directory `class/block/{name}`.
///
/// In real sysfs the entry is a symlink to `.../block/sdb/sdb1`, so the
/// parent is the name of the resolved parent directory. A plain directory
/// (fake sysfs) falls back to the kernel's naming rule: strip the partition
/// number, and a `p` separator if the disk name ends in a digit
/// (`nvme0n1p1` -> `nvme0n1`, `mmcblk0p2` -> `mmcblk0`, `sdb1` -> `sdb`).
fn partition_parent(entry: &Path, name: &str) -> String {
    let is_link = fs::symlink_metadata(entry).is_ok_and(|m| m.file_type().is_symlink());
    if is_link
        && let Ok(resolved) = fs::canonicalize(entry)
        && let Some(parent) = resolved.parent().and_then(Path::file_name)
    {
        return parent.to_string_lossy().into_owned();
    }
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    match base.strip_suffix('p') {
        Some(disk) if disk.ends_with(|c: char| c.is_ascii_digit()) => disk.to_string(),
        _ => base.to_string(),
    }
}

/// Contents of a sysfs attribute, trimmed, or `None` if it cannot be read.
fn read_attr(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Inspect the device through sysfs (read only). Fails with a [`Refusal`]
/// unless it is a whole disk that is removable or attached over USB.
///
/// # Errors
///
/// A [`Refusal`] (`BadDeviceName`, `NotABlockDevice`, `IsAPartition`,
/// `NotRemovable`) with the device path as context, or an I/O error if the
/// disk's `size` attribute cannot be read.
pub fn inspect(opts: &UsbOptions) -> Result<DeviceInfo> {
    let name = device_name(&opts.device)?;
    let about = format!("refusing to write to {} (kernel name `{name}`)", opts.device.display());
    let entry = opts.sysfs_root.join("class/block").join(&name);
    if !entry.exists() {
        return Err(refuse(Refusal::NotABlockDevice, about));
    }
    if entry.join("partition").exists() {
        let parent = partition_parent(&entry, &name);
        return Err(refuse(Refusal::IsAPartition { parent }, about));
    }

    let removable_flag = read_attr(&entry.join("removable")).is_some_and(|v| v == "1");
    let device_link = entry.join("device");
    let on_usb = fs::symlink_metadata(&device_link).is_ok_and(|m| m.file_type().is_symlink())
        && fs::canonicalize(&device_link).is_ok_and(|p| p.to_string_lossy().contains("/usb"));
    let removable = removable_flag || on_usb;
    if !removable {
        return Err(refuse(Refusal::NotRemovable, about));
    }

    let size_path = entry.join("size");
    let sectors_text = fs::read_to_string(&size_path).with_context(|| format!("reading {}", size_path.display()))?;
    let sectors: u64 = sectors_text
        .trim()
        .parse()
        .with_context(|| format!("{}: `{}` is not a sector count", size_path.display(), sectors_text.trim()))?;
    let size_bytes = sectors
        .checked_mul(SECTOR)
        .with_context(|| format!("{}: {sectors} sectors overflow a byte count", size_path.display()))?;

    let attr_or_unknown = |file: &str| {
        read_attr(&device_link.join(file)).filter(|s| !s.is_empty()).unwrap_or_else(|| "unknown".to_string())
    };
    Ok(DeviceInfo { model: attr_or_unknown("model"), vendor: attr_or_unknown("vendor"), size_bytes, removable, name })
}

/// Undo the octal escapes (`\040` for a space etc.) of `/proc/self/mounts`.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let v = bytes[i + 1..i + 4].iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Is `candidate` the disk `disk` itself or one of its partitions?
///
/// Partitions follow the kernel's naming: a disk whose name ends in a digit
/// gets `p` and a number (`nvme0n1p2`, `mmcblk0p1`), any other disk just a
/// number (`sdb1`). So `sdb` matches `sdb` and `sdb1` but neither `sdbb1`
/// nor `sdbp1` (partition 1 of the disk `sdbp`).
fn is_disk_or_partition(candidate: &str, disk: &str) -> bool {
    let Some(rest) = candidate.strip_prefix(disk) else { return false };
    if rest.is_empty() {
        return true;
    }
    let number = if disk.ends_with(|c: char| c.is_ascii_digit()) {
        match rest.strip_prefix('p') {
            Some(n) => n,
            None => return false,
        }
    } else {
        rest
    };
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
}

/// Does the mount source `source` refer to the disk `name` or a partition of it?
fn source_is_on_disk(source: &str, name: &str) -> bool {
    if let Some(dev) = source.strip_prefix("/dev/")
        && is_disk_or_partition(dev, name)
    {
        return true;
    }
    // Mounted through a stable link (/dev/disk/by-uuid/..., by-label, ...):
    // best effort, only if the link resolves on this machine.
    if source.starts_with("/dev/disk/")
        && let Ok(resolved) = fs::canonicalize(source)
        && resolved.starts_with("/dev")
        && let Some(dev) = resolved.file_name()
    {
        return is_disk_or_partition(&dev.to_string_lossy(), name);
    }
    false
}

/// The lines of the mount table whose source is the disk `name` or one of
/// its partitions.
fn mounts_of(mounts_file: &Path, name: &str) -> Result<Vec<String>> {
    let table = fs::read_to_string(mounts_file)
        .with_context(|| format!("reading the mount table {}", mounts_file.display()))?;
    Ok(table
        .lines()
        .filter(|line| {
            line.split_whitespace().next().is_some_and(|source| source_is_on_disk(&unescape_mount_field(source), name))
        })
        .map(|line| line.trim().to_string())
        .collect())
}

/// A size for people: `14.9 GiB`, `512.0 MiB`, `4.0 KiB` or `17 bytes`.
fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, scale) in UNITS {
        if bytes >= scale {
            // Precision is irrelevant here: one decimal for display.
            #[allow(clippy::cast_precision_loss)]
            let value = bytes as f64 / scale as f64;
            return format!("{value:.1} {unit}");
        }
    }
    format!("{bytes} bytes")
}

/// `14.9 GiB (16008609792 bytes)`, or just `17 bytes` when that says it all.
fn size_with_bytes(bytes: u64) -> String {
    if bytes < 1024 { format!("{bytes} bytes") } else { format!("{} ({bytes} bytes)", human_size(bytes)) }
}

/// Size of the image, or [`Refusal::ImageMissing`] if it is not a regular file.
fn image_size(image: &Path) -> Result<u64> {
    match fs::metadata(image) {
        Ok(m) if m.is_file() => Ok(m.len()),
        _ => Err(refuse(Refusal::ImageMissing, format!("cannot use image {}", image.display()))),
    }
}

/// Run every check and, unless refused or a dry run, write the image.
/// Everything it decides and does is reported to `out`.
///
/// # Errors
///
/// Any [`Refusal`] (see [`inspect`], plus `Mounted`, `ImageMissing`,
/// `ImageTooLarge` and `NotConfirmed`), or an I/O error while reading the
/// mount table, opening, writing or syncing the device.
pub fn write_image(opts: &UsbOptions, out: &mut dyn Write) -> Result<()> {
    let info = inspect(opts)?;
    let dev = opts.device.display();

    let mounted = mounts_of(&opts.mounts_file, &info.name)?;
    if !mounted.is_empty() {
        return Err(refuse(
            Refusal::Mounted { what: mounted.join("\n") },
            format!("refusing to write to {dev} (kernel name `{}`)", info.name),
        ));
    }

    let image_bytes = image_size(&opts.image)?;
    if image_bytes > info.size_bytes {
        return Err(refuse(
            Refusal::ImageTooLarge { image: image_bytes, device: info.size_bytes },
            format!("{} does not fit on {dev}", opts.image.display()),
        ));
    }

    let resolved = if info.name == opts.device.file_name().map(|n| n.to_string_lossy()).unwrap_or_default() {
        String::new()
    } else {
        format!(" (kernel name {})", info.name)
    };
    writeln!(out, "device:    {dev}{resolved}")?;
    writeln!(out, "model:     {} {}", info.vendor, info.model)?;
    writeln!(out, "size:      {}", size_with_bytes(info.size_bytes))?;
    writeln!(out, "removable: {}", if info.removable { "yes" } else { "no" })?;
    writeln!(out, "image:     {}, {}", opts.image.display(), size_with_bytes(image_bytes))?;
    writeln!(out, "all data on {dev} will be destroyed")?;

    if opts.dry_run {
        writeln!(out, "dry run: would write {image_bytes} bytes from {} to {dev}", opts.image.display())?;
        return Ok(());
    }
    if !opts.confirmed {
        return Err(Refusal::NotConfirmed.into());
    }

    copy_to_device(opts, image_bytes, out)
}

/// Open the target for writing: no create, no truncate. On Linux a block
/// device is opened with `O_EXCL`, which the kernel refuses while anything
/// (a mount, a device-mapper holder) has the disk claimed: a last guard
/// against a mount that appeared after the check.
fn open_target(device: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        /// `O_EXCL` on Linux (x86 and arm alike); only meaningful for block
        /// devices when given without `O_CREAT`.
        const O_EXCL: i32 = 0o200;
        if fs::metadata(device).is_ok_and(|m| m.file_type().is_block_device()) {
            options.custom_flags(O_EXCL);
        }
    }
    options.open(device)
}

/// Copy the image to the device in [`CHUNK`]-sized pieces, with progress
/// lines, and flush it to the medium before reporting success.
fn copy_to_device(opts: &UsbOptions, image_bytes: u64, out: &mut dyn Write) -> Result<()> {
    let dev = opts.device.display();
    let image = File::open(&opts.image).with_context(|| format!("opening {}", opts.image.display()))?;
    let mut target = open_target(&opts.device).with_context(|| {
        format!("opening {dev} for writing (busy? permission denied? try sudo or add yourself to group disk)")
    })?;

    // Never write more than was checked against the device size, even if
    // the image grows meanwhile.
    let mut reader = image.take(image_bytes);
    let mut buf = vec![0u8; CHUNK];
    let mut written: u64 = 0;
    let mut next_report: u64 = 10;
    writeln!(out, "writing {} to {dev} ...", human_size(image_bytes))?;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = match reader.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", opts.image.display())),
            };
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        target
            .write_all(&buf[..filled])
            .with_context(|| format!("writing to {dev} at byte {written} (the stick may be damaged or was removed)"))?;
        written += filled as u64;
        let percent = written.saturating_mul(100).checked_div(image_bytes).unwrap_or(100);
        if percent >= next_report || written == image_bytes {
            writeln!(out, "  {percent:3}%  {} of {}", human_size(written), human_size(image_bytes))?;
            next_report = (percent / 10 + 1) * 10;
        }
    }
    writeln!(out, "syncing {dev} ...")?;
    target.sync_all().with_context(|| format!("flushing {dev} (do not remove the stick yet)"))?;
    writeln!(out, "done: wrote {written} bytes to {dev}; the stick can be removed")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs + mount table + image under one temporary directory.
    struct Fake {
        dir: tempfile::TempDir,
    }

    impl Fake {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("sys/class/block")).unwrap();
            fs::write(dir.path().join("mounts"), "proc /proc proc rw 0 0\n/dev/sda2 / ext4 rw 0 0\n").unwrap();
            Fake { dir }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        fn block(&self, name: &str) -> PathBuf {
            self.path("sys/class/block").join(name)
        }

        /// A whole disk with the given `removable` flag and size in sectors.
        fn disk(&self, name: &str, removable: &str, sectors: u64) {
            let d = self.block(name);
            fs::create_dir_all(d.join("device")).unwrap();
            fs::write(d.join("removable"), format!("{removable}\n")).unwrap();
            fs::write(d.join("size"), format!("{sectors}\n")).unwrap();
            fs::write(d.join("device/model"), "Cruzer Blade    \n").unwrap();
            fs::write(d.join("device/vendor"), "SanDisk \n").unwrap();
        }

        fn partition(&self, name: &str) {
            let d = self.block(name);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("partition"), "1\n").unwrap();
        }

        fn image(&self, bytes: &[u8]) -> PathBuf {
            let p = self.path("disk.img");
            fs::write(&p, bytes).unwrap();
            p
        }

        fn mounts(&self, text: &str) {
            fs::write(self.path("mounts"), text).unwrap();
        }

        /// Options for `dev/{name}` (a path that does not exist unless a
        /// test creates it as a regular file).
        fn opts(&self, name: &str) -> UsbOptions {
            let mut o = UsbOptions::new(self.path("disk.img"), self.path("dev").join(name));
            o.sysfs_root = self.path("sys");
            o.mounts_file = self.path("mounts");
            o
        }
    }

    fn refusal(err: &anyhow::Error) -> &Refusal {
        err.downcast_ref::<Refusal>().unwrap_or_else(|| panic!("not a refusal: {err:#}"))
    }

    fn run(opts: &UsbOptions) -> (Result<()>, String) {
        let mut out = Vec::new();
        let r = write_image(opts, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn usb_options_defaults() {
        let o = UsbOptions::new("a.img".into(), "/dev/sdb".into());
        assert_eq!(o.sysfs_root, Path::new("/sys"));
        assert_eq!(o.mounts_file, Path::new("/proc/self/mounts"));
        assert!(!o.confirmed && !o.dry_run);
    }

    #[test]
    fn inspect_reads_a_removable_disk() {
        let f = Fake::new();
        f.disk("sdb", "1", 2_097_152);
        let info = inspect(&f.opts("sdb")).unwrap();
        assert_eq!(
            info,
            DeviceInfo {
                name: "sdb".into(),
                model: "Cruzer Blade".into(),
                vendor: "SanDisk".into(),
                size_bytes: 1 << 30,
                removable: true
            }
        );
    }

    #[test]
    fn inspect_missing_model_and_vendor_are_unknown() {
        let f = Fake::new();
        f.disk("sdc", "1", 8);
        fs::remove_file(f.block("sdc/device/model")).unwrap();
        fs::remove_file(f.block("sdc/device/vendor")).unwrap();
        let info = inspect(&f.opts("sdc")).unwrap();
        assert_eq!((info.model.as_str(), info.vendor.as_str()), ("unknown", "unknown"));
    }

    #[test]
    fn refuses_bad_device_names() {
        let f = Fake::new();
        for dev in ["/dev/..", "/dev/..sdb", "/"] {
            let mut o = f.opts("x");
            o.device = dev.into();
            let err = inspect(&o).unwrap_err();
            assert!(matches!(refusal(&err), Refusal::BadDeviceName { .. }), "{dev}: {err:#}");
        }
    }

    #[test]
    fn refuses_not_a_block_device() {
        let f = Fake::new();
        f.disk("sdb", "1", 2048);
        let err = inspect(&f.opts("sbd")).unwrap_err();
        assert_eq!(refusal(&err), &Refusal::NotABlockDevice);
        let text = format!("{err:#}");
        assert!(text.contains("sbd") && text.contains("/dev/sdb"), "{text}");
    }

    #[test]
    fn refuses_a_partition_and_names_the_disk() {
        let f = Fake::new();
        f.disk("sdb", "1", 2048);
        f.partition("sdb1");
        let err = inspect(&f.opts("sdb1")).unwrap_err();
        assert_eq!(refusal(&err), &Refusal::IsAPartition { parent: "sdb".into() });
        assert!(format!("{err:#}").contains("/dev/sdb instead"), "{err:#}");
    }

    #[test]
    fn partition_parent_of_nvme_and_mmc_names() {
        let f = Fake::new();
        for (part, disk) in [("nvme0n1p1", "nvme0n1"), ("mmcblk0p12", "mmcblk0"), ("sdp3", "sdp"), ("sdb15", "sdb")] {
            f.partition(part);
            let err = inspect(&f.opts(part)).unwrap_err();
            assert_eq!(refusal(&err), &Refusal::IsAPartition { parent: disk.into() }, "{part}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn partition_parent_follows_sysfs_symlinks() {
        let f = Fake::new();
        let real = f.path("sys/devices/pci0000:00/usb1/1-1/block/sdx/sdx7");
        fs::create_dir_all(&real).unwrap();
        fs::write(real.join("partition"), "7\n").unwrap();
        std::os::unix::fs::symlink(&real, f.block("weird7")).unwrap();
        let err = inspect(&f.opts("weird7")).unwrap_err();
        assert_eq!(refusal(&err), &Refusal::IsAPartition { parent: "sdx".into() });
    }

    #[test]
    fn refuses_a_non_removable_disk() {
        let f = Fake::new();
        f.disk("sda", "0", 1 << 30);
        let err = inspect(&f.opts("sda")).unwrap_err();
        assert_eq!(refusal(&err), &Refusal::NotRemovable);
        // A missing removable attribute counts as not removable.
        fs::remove_file(f.block("sda/removable")).unwrap();
        assert_eq!(refusal(&inspect(&f.opts("sda")).unwrap_err()), &Refusal::NotRemovable);
    }

    #[cfg(unix)]
    #[test]
    fn accepts_a_non_removable_disk_on_usb() {
        let f = Fake::new();
        let d = f.block("sdd");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("removable"), "0\n").unwrap();
        fs::write(d.join("size"), "2048\n").unwrap();
        let usb = f.path("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0");
        fs::create_dir_all(&usb).unwrap();
        fs::write(usb.join("model"), "Flash Disk\n").unwrap();
        std::os::unix::fs::symlink(&usb, d.join("device")).unwrap();
        let info = inspect(&f.opts("sdd")).unwrap();
        assert!(info.removable);
        assert_eq!(info.model, "Flash Disk");
        assert_eq!(info.size_bytes, 2048 * 512);
    }

    #[test]
    fn refuses_when_the_whole_disk_is_mounted() {
        let f = Fake::new();
        f.disk("sdb", "1", 1 << 21);
        f.image(&[1; 4096]);
        f.mounts("/dev/sda2 / ext4 rw 0 0\n/dev/sdb /mnt/stick vfat rw 0 0\n");
        let (r, out) = run(&{
            let mut o = f.opts("sdb");
            o.dry_run = true;
            o
        });
        let err = r.unwrap_err();
        assert_eq!(refusal(&err), &Refusal::Mounted { what: "/dev/sdb /mnt/stick vfat rw 0 0".into() });
        assert!(format!("{err:#}").contains("unmount"), "{err:#}");
        assert!(out.is_empty(), "nothing is reported as planned when refused: {out}");
    }

    #[test]
    fn refuses_when_a_partition_is_mounted() {
        let f = Fake::new();
        f.disk("sdb", "1", 1 << 21);
        f.image(&[1; 4096]);
        f.mounts("/dev/sdb1 /media/a vfat rw 0 0\n/dev/sdb2 /media/b ext4 rw 0 0\n");
        let (r, _) = run(&f.opts("sdb"));
        let err = r.unwrap_err();
        let Refusal::Mounted { what } = refusal(&err) else { panic!("{err:#}") };
        assert!(what.contains("/dev/sdb1") && what.contains("/dev/sdb2"), "{what}");
    }

    #[test]
    fn refuses_when_an_nvme_style_partition_is_mounted() {
        let f = Fake::new();
        f.disk("mmcblk0", "1", 1 << 21);
        f.image(&[1; 4096]);
        f.mounts("/dev/mmcblk0p1 /boot vfat rw 0 0\n");
        let (r, _) = run(&f.opts("mmcblk0"));
        assert!(matches!(refusal(&r.unwrap_err()), Refusal::Mounted { .. }));
    }

    #[test]
    fn near_miss_mounts_do_not_refuse() {
        let f = Fake::new();
        f.disk("sdb", "1", 1 << 21);
        f.image(&[1; 4096]);
        f.mounts("/dev/sdbb1 /media/x vfat rw 0 0\n/dev/sdbp1 /media/y vfat rw 0 0\n/dev/sda1 / ext4 rw 0 0\n");
        let mut o = f.opts("sdb");
        o.dry_run = true;
        let (r, out) = run(&o);
        r.unwrap();
        assert!(out.contains("dry run"), "{out}");
    }

    #[test]
    fn disk_and_partition_name_matching() {
        assert!(is_disk_or_partition("sdb", "sdb"));
        assert!(is_disk_or_partition("sdb1", "sdb"));
        assert!(is_disk_or_partition("sdb12", "sdb"));
        assert!(!is_disk_or_partition("sdbb1", "sdb"));
        assert!(!is_disk_or_partition("sdbp1", "sdb"));
        assert!(!is_disk_or_partition("sda1", "sdb"));
        assert!(is_disk_or_partition("nvme0n1p2", "nvme0n1"));
        assert!(!is_disk_or_partition("nvme0n12", "nvme0n1"));
        assert!(!is_disk_or_partition("nvme0n1p", "nvme0n1"));
        assert!(!is_disk_or_partition("loop10", "loop1"));
    }

    #[test]
    fn mount_sources_are_unescaped() {
        assert_eq!(unescape_mount_field(r"/dev/disk/by-label/MY\040STICK"), "/dev/disk/by-label/MY STICK");
        assert_eq!(unescape_mount_field(r"a\\b\04"), r"a\\b\04");
    }

    #[test]
    fn refuses_an_image_larger_than_the_device() {
        let f = Fake::new();
        f.disk("sdb", "1", 4); // 2048 bytes
        f.image(&[0; 2049]);
        let (r, _) = run(&f.opts("sdb"));
        let err = r.unwrap_err();
        assert_eq!(refusal(&err), &Refusal::ImageTooLarge { image: 2049, device: 2048 });
        assert!(format!("{err:#}").contains("larger stick"), "{err:#}");
    }

    #[test]
    fn refuses_a_missing_image() {
        let f = Fake::new();
        f.disk("sdb", "1", 1 << 21);
        let (r, _) = run(&f.opts("sdb"));
        let err = r.unwrap_err();
        assert_eq!(refusal(&err), &Refusal::ImageMissing);
        assert!(format!("{err:#}").contains("disk.img"), "{err:#}");
        // A directory is not an image either.
        fs::create_dir(f.path("disk.img")).unwrap();
        let (r, _) = run(&f.opts("sdb"));
        assert_eq!(refusal(&r.unwrap_err()), &Refusal::ImageMissing);
    }

    #[test]
    fn refuses_without_yes() {
        let f = Fake::new();
        f.disk("sdb", "1", 1 << 21);
        f.image(&[7; 1000]);
        let (r, out) = run(&f.opts("sdb"));
        let err = r.unwrap_err();
        assert_eq!(refusal(&err), &Refusal::NotConfirmed);
        let text = err.to_string();
        assert!(text.contains("--yes") && text.contains("YES=1"), "{text}");
        assert!(out.contains("will be destroyed"), "details are shown before refusing: {out}");
    }

    #[test]
    fn dry_run_reports_and_does_not_write() {
        let f = Fake::new();
        f.disk("sdb", "1", 31_266_816); // 14.9 GiB
        let img = f.image(&[9; 5000]);
        let mut o = f.opts("sdb");
        o.dry_run = true;
        let (r, out) = run(&o);
        r.unwrap();
        for want in ["Cruzer Blade", "SanDisk", "14.9 GiB", "removable: yes", "will be destroyed", "5000 bytes"] {
            assert!(out.contains(want), "missing {want:?} in:\n{out}");
        }
        let dev = o.device.display();
        assert!(out.contains(&format!("dry run: would write 5000 bytes from {} to {dev}", img.display())), "{out}");
        assert!(!o.device.exists(), "dry run must not create or open the device");
    }

    #[test]
    fn confirmed_write_copies_the_image() {
        let f = Fake::new();
        f.disk("sdb", "1", 1 << 21);
        // Larger than one chunk, not a multiple of it.
        let image: Vec<u8> = (0..CHUNK + 12_345).map(|i| u8::try_from(i % 251).unwrap()).collect();
        f.image(&image);
        // The "device" is a regular file named like the fake disk, with old
        // data past the end of the image that must survive (no truncation).
        let mut o = f.opts("sdb");
        fs::create_dir_all(o.device.parent().unwrap()).unwrap();
        fs::write(&o.device, vec![0xee; image.len() + 100]).unwrap();
        o.confirmed = true;
        let (r, out) = run(&o);
        r.unwrap();
        let written = fs::read(&o.device).unwrap();
        assert_eq!(&written[..image.len()], &image[..]);
        assert_eq!(&written[image.len()..], &[0xee; 100][..]);
        assert!(out.contains("100%") && out.contains("done"), "{out}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(17), "17 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(512 << 20), "512.0 MiB");
        assert_eq!(human_size(16_008_609_792), "14.9 GiB");
    }
}
