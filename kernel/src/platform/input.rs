//! Console input devices: the PS/2 keyboard (ISA IRQ1) and COM1's
//! receiver (ISA IRQ4), routed through the I/O APIC; their bytes go to
//! the sink the console registered (`set_sink`: the line discipline's
//! `vfs::console::push_input`, so this layer does not know about files).
//!
//! ```text
//!   8042 --IRQ1--> I/O APIC --vector 0x41--> keyboard_irq -> ps2::Keyboard -> push_input
//!   UART --IRQ4--> I/O APIC --vector 0x44--> serial_irq   -> (bytes)        -> push_input
//!   timer tick, every POLL_TICKS: poll both (a backup, like Linux's 8250
//!   backup timer, and the only path when there is no I/O APIC)
//! ```
//!
//! The I/O APIC's address comes from the MADT (else 0xfec00000), mapped
//! uncached like the local APIC. A machine without an 8042 or a UART
//! costs a bounded probe at boot and nothing after.

use core::sync::atomic::{AtomicBool, Ordering};

use arch::ioapic::{self, LineMode};
use arch::trap::TrapFrame;
use log::info;
use mm::sync::IrqLock;
use spin::Once;

const IRQ_KEYBOARD: u8 = 1;
const IRQ_COM1: u8 = 4;
/// Timer ticks between backup polls.
const POLL_TICKS: u64 = 10;

static KEYBOARD: IrqLock<arch::ps2::Keyboard> = IrqLock::new(arch::ps2::Keyboard::new());
static HAS_KEYBOARD: AtomicBool = AtomicBool::new(false);
/// Both present devices deliver interrupts (no need to poll per tick).
static INTERRUPT_DRIVEN: AtomicBool = AtomicBool::new(false);

/// Where input bytes go (the console registers at boot); bytes that
/// arrive before are dropped.
static SINK: Once<fn(&[u8])> = Once::new();

/// Send every input byte to `sink` (once, at boot).
pub fn set_sink(sink: fn(&[u8])) {
    SINK.call_once(|| sink);
}

/// Whether input arrives by interrupt; otherwise readers poll each tick.
pub fn is_interrupt_driven() -> bool {
    INTERRUPT_DRIVEN.load(Ordering::Acquire)
}

/// Read what the keyboard and the UART hold, into the console.
pub fn poll() {
    let mut buf = [0u8; 64];
    let mut n = 0;
    if HAS_KEYBOARD.load(Ordering::Acquire) {
        let mut kbd = KEYBOARD.lock();
        while n + 8 <= buf.len() {
            let Some(sc) = arch::ps2::read_scancode() else { break };
            for &b in kbd.feed(sc).as_bytes() {
                buf[n] = b;
                n += 1;
            }
        }
    }
    while n < buf.len() {
        let Some(b) = arch::serial::try_read_byte() else { break };
        buf[n] = b;
        n += 1;
    }
    if let Some(sink) = SINK.get() {
        sink(&buf[..n]);
    }
}

fn input_irq(_frame: &mut TrapFrame) {
    poll();
    arch::apic::eoi();
}

/// From the timer interrupt: the backup poll.
pub fn tick(now: u64) {
    if now % POLL_TICKS == 0 {
        poll();
    }
}

/// The GSI and line mode of ISA `irq`, from the MADT's overrides.
fn isa_gsi(irq: u8) -> (u32, LineMode) {
    let over = super::acpi_info().and_then(|a| a.irq_overrides.iter().find(|o| o.isa_irq == irq).copied());
    match over {
        Some(o) => (o.gsi, LineMode::from_mps_flags(o.flags)),
        None => (irq as u32, LineMode::ISA),
    }
}

/// Probe the keyboard, map the I/O APIC and route IRQ1 and IRQ4. Runs
/// once the local APIC is up, with interrupts still off.
pub fn init() {
    use x86_64::structures::paging::PageTableFlags as F;
    let kbd = match arch::ps2::init() {
        Ok(()) => true,
        Err(e) => {
            info!("input: no PS/2 keyboard ({:?})", e);
            false
        }
    };
    HAS_KEYBOARD.store(kbd, Ordering::Release);
    let serial = arch::serial::is_present();
    // The chip that serves the ISA lines: the one whose GSIs start at 0.
    let chip = super::acpi_info().and_then(|a| a.io_apics.iter().min_by_key(|c| c.gsi_base).copied());
    let (phys, gsi_base) = chip.map(|c| (c.address as u64, c.gsi_base)).unwrap_or((ioapic::DEFAULT_PHYS_BASE, 0));
    let flags = F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH;
    let va =
        match crate::mem::kvm::vmalloc_area().ioremap(&crate::mem::kvm::kernel_space(), phys, 4096, flags, "ioapic") {
            Ok(va) => va,
            Err(e) => {
                log::warn!("input: cannot map the I/O APIC at {:#x}: {:?}; polling for input", phys, e);
                return;
            }
        };
    let pins = ioapic::init(va);
    let dest = arch::apic::id();
    let mut routed = 0;
    let mut wanted = 0;
    for (irq, present) in [(IRQ_KEYBOARD, kbd), (IRQ_COM1, serial)] {
        if !present {
            continue;
        }
        wanted += 1;
        let (gsi, mode) = isa_gsi(irq);
        let Some(pin) = gsi.checked_sub(gsi_base).filter(|&p| p < pins) else {
            log::warn!("input: IRQ{} (GSI {}) is not on the I/O APIC; polling it", irq, gsi);
            continue;
        };
        let vector = ioapic::ISA_VECTOR_BASE + irq;
        arch::trap::set_handler(vector, input_irq);
        ioapic::route(pin, vector, dest, mode);
        routed += 1;
    }
    if serial {
        arch::serial::enable_rx_interrupt();
    }
    INTERRUPT_DRIVEN.store(routed == wanted, Ordering::Release);
    info!(
        "input: I/O APIC at {:#x} ({} pins), keyboard {}, serial {}",
        phys,
        pins,
        if kbd { "IRQ1" } else { "absent" },
        if serial { "IRQ4" } else { "absent" }
    );
}
