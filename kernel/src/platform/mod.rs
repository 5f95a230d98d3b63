//! The platform: what the firmware says about the machine, and the devices
//! that are not memory.
//!
//! ```text
//!   mod.rs    ACPI facts found at boot (MADT interrupt routing, SRAT/SLIT
//!             NUMA, the tables' own memory), read once, kept for the rest
//!   clock.rs  the wall clock (RTC at boot plus uptime)
//!   pci.rs    PCI functions, their BARs and capabilities, MSI-X
//!   input.rs  the PS/2 keyboard and COM1's receiver, routed through the
//!             I/O APIC, feeding whoever registered as the console
//! ```
//!
//! Layer: above `mem` (input maps the I/O APIC with `mem::kvm`), below
//! `proc`. `init` discovers ACPI first and hands the facts to `mem::boot`,
//! which reserves the tables and builds the NUMA topology from them.

pub mod clock;
pub mod input;
pub mod pci;
pub mod smp;

use log::{Level, warn};
use spin::Once;

use arch::acpi::AcpiInfo;
use arch::logger::LineLogger;

use crate::layout::PAGE_OFFSET;

static ACPI: Once<Option<AcpiInfo>> = Once::new();

/// Read the ACPI tables the RSDP at `rsdp` points to (through the
/// bootloader's map of physical memory at `PAGE_OFFSET`), log them and
/// keep them. Runs once, before memory bring-up; `None` without tables.
pub fn discover_acpi(rsdp: Option<u64>) -> Option<&'static AcpiInfo> {
    ACPI.call_once(|| {
        let acpi = rsdp.and_then(|rsdp| match arch::acpi::discover(rsdp, PAGE_OFFSET) {
            Ok(a) => Some(a),
            Err(e) => {
                warn!("ACPI: cannot read the tables: {:?}", e);
                None
            }
        });
        if let Some(a) = &acpi {
            let _ = a.print(&mut LineLogger::new(Level::Info));
        }
        acpi
    })
    .as_ref()
}

/// The ACPI information found at boot, if the firmware had tables.
pub fn acpi_info() -> Option<&'static AcpiInfo> {
    ACPI.get().and_then(Option::as_ref)
}
