//! The interrupt descriptor table: every vector points at its trap stub.
//!
//! Double faults, NMIs and machine checks run on their own IST stacks (see
//! `gdt`), so a blown kernel stack still reaches the double-fault handler.
//! `int3` is callable from ring 3 (user breakpoints become SIGTRAP); every
//! other gate is kernel-only, so a user `int N` raises #GP instead.

use spin::Once;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::{PrivilegeLevel, VirtAddr};

use crate::gdt;
use crate::trap::stub_address;

static IDT: Once<InterruptDescriptorTable> = Once::new();

fn build() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY: the stubs in `trap` are valid interrupt entry points for
    // exactly the vector they are given (every set_handler_addr below).
    unsafe {
        idt.divide_error.set_handler_addr(VirtAddr::new(stub_address(0)));
        idt.debug.set_handler_addr(VirtAddr::new(stub_address(1)));
        idt.non_maskable_interrupt.set_handler_addr(VirtAddr::new(stub_address(2))).set_stack_index(gdt::IST_NMI - 1);
        idt.breakpoint.set_handler_addr(VirtAddr::new(stub_address(3))).set_privilege_level(PrivilegeLevel::Ring3);
        idt.overflow.set_handler_addr(VirtAddr::new(stub_address(4)));
        idt.bound_range_exceeded.set_handler_addr(VirtAddr::new(stub_address(5)));
        idt.invalid_opcode.set_handler_addr(VirtAddr::new(stub_address(6)));
        idt.device_not_available.set_handler_addr(VirtAddr::new(stub_address(7)));
        idt.double_fault.set_handler_addr(VirtAddr::new(stub_address(8))).set_stack_index(gdt::IST_DOUBLE_FAULT - 1);
        idt.invalid_tss.set_handler_addr(VirtAddr::new(stub_address(10)));
        idt.segment_not_present.set_handler_addr(VirtAddr::new(stub_address(11)));
        idt.stack_segment_fault.set_handler_addr(VirtAddr::new(stub_address(12)));
        idt.general_protection_fault.set_handler_addr(VirtAddr::new(stub_address(13)));
        idt.page_fault.set_handler_addr(VirtAddr::new(stub_address(14)));
        idt.x87_floating_point.set_handler_addr(VirtAddr::new(stub_address(16)));
        idt.alignment_check.set_handler_addr(VirtAddr::new(stub_address(17)));
        idt.machine_check.set_handler_addr(VirtAddr::new(stub_address(18))).set_stack_index(gdt::IST_MACHINE_CHECK - 1);
        idt.simd_floating_point.set_handler_addr(VirtAddr::new(stub_address(19)));
        idt.virtualization.set_handler_addr(VirtAddr::new(stub_address(20)));
        idt.cp_protection_exception.set_handler_addr(VirtAddr::new(stub_address(21)));
        idt.hv_injection_exception.set_handler_addr(VirtAddr::new(stub_address(28)));
        idt.vmm_communication_exception.set_handler_addr(VirtAddr::new(stub_address(29)));
        idt.security_exception.set_handler_addr(VirtAddr::new(stub_address(30)));
        for vector in 32..=255u8 {
            idt[vector].set_handler_addr(VirtAddr::new(stub_address(vector)));
        }
    }
    idt
}

/// Build and load the IDT.
pub fn init() {
    IDT.call_once(build).load();
}
