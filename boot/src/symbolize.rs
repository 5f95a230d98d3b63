//! Turning kernel addresses in the serial log into names and source lines.
//!
//! The kernel prints backtrace frames as ` [<ffffffff8001a2b3>]` and the
//! faulting instruction as `RIP: 0008:ffffffff8001a2b3`. The kernel ELF is
//! position independent and linked at 0; the kernel announces where it runs
//! with a line `kernel: image base 0x...`, so ELF address = runtime address -
//! base. Return addresses point after the call, so frames are looked up one
//! byte earlier to land on the calling line.

use std::path::Path;

use anyhow::Result;

/// Default image base (`kernel::layout::KERNEL_BASE`).
pub const DEFAULT_BASE: u64 = 0xffff_ffff_8000_0000;

/// Find every `[<hex>]` frame address in a line.
pub fn frame_addresses(line: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("[<") {
        let tail = &rest[at + 2..];
        if let Some(end) = tail.find(">]") {
            if let Ok(v) = u64::from_str_radix(&tail[..end], 16) {
                out.push(v);
            }
            rest = &tail[end..];
        } else {
            break;
        }
    }
    out
}

/// The address in a `RIP: cs:addr` line.
pub fn rip_address(line: &str) -> Option<u64> {
    let at = line.find("RIP: ")?;
    let rest = &line[at + 5..];
    let (_, addr) = rest.split_once(':')?;
    let hex: String = addr.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&hex, 16).ok()
}

/// The base in a `kernel: image base 0x...` line.
pub fn image_base(line: &str) -> Option<u64> {
    let at = line.find("image base 0x")?;
    let hex: String = line[at + 13..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&hex, 16).ok()
}

/// Resolves kernel addresses against one ELF.
pub struct Symbolizer {
    loader: addr2line::Loader,
    base: u64,
}

impl Symbolizer {
    pub fn new(elf: &Path) -> Result<Symbolizer> {
        let loader = addr2line::Loader::new(elf).map_err(|e| anyhow::anyhow!("reading {}: {e}", elf.display()))?;
        Ok(Symbolizer { loader, base: DEFAULT_BASE })
    }

    /// `function+0xoff at file:line` for a runtime address.
    pub fn describe(&self, runtime: u64, is_return_address: bool) -> Option<String> {
        let addr = runtime.checked_sub(self.base)?;
        let probe = if is_return_address { addr.saturating_sub(1) } else { addr };
        let mut name = None;
        let mut loc = None;
        if let Ok(mut frames) = self.loader.find_frames(probe) {
            // The innermost frame (inlined callee) first; name the outermost
            // real function but keep the innermost source line.
            while let Ok(Some(f)) = frames.next() {
                if loc.is_none() {
                    if let Some(l) = f.location {
                        loc = Some(format!("{}:{}", l.file.unwrap_or("?"), l.line.unwrap_or(0)));
                    }
                }
                if let Some(func) = f.function {
                    if let Ok(n) = func.demangle() {
                        name = Some(n.into_owned());
                    }
                }
            }
        }
        let sym = self.loader.find_symbol_info(probe);
        let func = match (&name, &sym) {
            (Some(n), Some(s)) => format!("{}+{:#x}", n, addr - s.address()),
            (Some(n), None) => n.clone(),
            (None, Some(s)) => format!("{}+{:#x}", addr2line::demangle_auto(s.name().into(), None), addr - s.address()),
            (None, None) => return None,
        };
        Some(match loc {
            Some(l) => format!("{func} at {l}"),
            None => func,
        })
    }

    /// Return `line` with names appended to every kernel address in it.
    pub fn annotate(&mut self, line: &str) -> String {
        if let Some(b) = image_base(line) {
            self.base = b;
            return line.to_string();
        }
        let mut out = line.to_string();
        for a in frame_addresses(line) {
            if let Some(d) = self.describe(a, !line.contains("faulting instruction")) {
                out.push_str(&format!(" {d}"));
            }
        }
        if let Some(a) = rip_address(line) {
            if let Some(d) = self.describe(a, false) {
                out.push_str(&format!("  <- {d}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_frame_addresses_and_rip() {
        assert_eq!(frame_addresses(" [<ffffffff8001a2b3>]"), vec![0xffff_ffff_8001_a2b3]);
        assert_eq!(frame_addresses("x [<10>] y [<20>]"), vec![0x10, 0x20]);
        assert!(frame_addresses("no frames [<zz>]").is_empty());
        assert_eq!(rip_address("RIP: 0008:ffffffff80001234 RSP: 0010:0"), Some(0xffff_ffff_8000_1234));
        assert_eq!(image_base("[ 0.0] kernel: image base 0xffffffff80000000"), Some(DEFAULT_BASE));
    }

    #[test]
    fn resolves_addresses_in_this_test_binary() {
        // Symbolise a function of this very test executable (linked at its
        // own addresses, so base 0 after adjusting for PIE load offset).
        let exe = std::env::current_exe().unwrap();
        let Ok(mut s) = Symbolizer::new(&exe) else { return };
        // Runtime address of a known function minus the PIE load bias gives
        // its ELF address; find the bias through /proc/self/maps' first line.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let first = maps.lines().next().unwrap();
        let bias = u64::from_str_radix(first.split('-').next().unwrap(), 16).unwrap();
        s.base = bias;
        let f = frame_addresses as *const () as u64;
        let d = s.describe(f, false).expect("symbol for frame_addresses");
        assert!(d.contains("frame_addresses"), "{d}");
        assert!(d.contains("symbolize.rs"), "{d}");
    }
}
