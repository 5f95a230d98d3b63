//! The boot sequence, in the order Linux's `start_kernel` would do the
//! equivalent steps for this machine.

use bootloader_api::BootInfo;
use bootloader_api::config::{BootloaderConfig, Mapping};
use log::{LevelFilter, info};
use spin::Once;

use arch::{cpu, fbcon, firmware_map, gdt, idt, logger, serial, time};
use mm::phys::e820::E820Table;

use crate::layout;

/// What the bootloader must set up for this kernel: the whole of physical
/// memory mapped at `PAGE_OFFSET`, the image at `KERNEL_BASE`, and every
/// other mapping inside the bootloader window of the upper half, so the lower
/// half stays free for user space.
pub const BOOT_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::FixedAddress(layout::PAGE_OFFSET));
    config.mappings.kernel_base = Mapping::FixedAddress(layout::KERNEL_BASE);
    config.mappings.dynamic_range_start = Some(layout::BOOTLOADER_WINDOW_START);
    config.mappings.dynamic_range_end = Some(layout::BOOTLOADER_WINDOW_END);
    config.kernel_stack_size = 256 * 1024;
    config
};

/// The firmware map, kept for the rest of boot.
static E820: Once<E820Table> = Once::new();

/// The firmware memory map in E820 form.
pub fn e820() -> &'static E820Table {
    E820.get().expect("init: e820() before init()")
}

/// Bring the machine up: consoles, descriptor tables, traps, CPU features,
/// clock, the firmware memory map, physical and kernel virtual memory.
pub fn init(boot_info: &'static mut BootInfo) {
    init_with_early_hook(boot_info, || {});
}

/// `init`, running `early` just before the heap switches from the bootstrap
/// heap to kmalloc (test kernels use it to leave early objects behind).
pub fn init_with_early_hook(boot_info: &'static mut BootInfo, early: fn()) {
    time::mark_boot();
    crate::mem::heap::init_bootstrap();
    let has_serial = serial::init();
    let snap = snapshot(boot_info);
    let rsdp = boot_info.rsdp_addr.into_option();
    if let Some(fb) = boot_info.framebuffer.take() {
        let info = fb.info();
        fbcon::init(fb.into_buffer(), info);
    }
    logger::init(LevelFilter::Info);
    info!("mmkernel {} (x86_64), a Linux-like memory-management kernel", env!("CARGO_PKG_VERSION"));
    crate::initrd::init(crate::mem::boot::ramdisk(boot_info.ramdisk_addr.into_option(), boot_info.ramdisk_len));
    crate::cmdline::init();
    apply_early_options();
    info!("Command line: {}", crate::cmdline::text());
    info!("kernel: image base {:#x}", boot_info.kernel_image_offset);
    info!(
        "console: serial {}, framebuffer {}",
        if has_serial { "COM1" } else { "absent" },
        if fbcon::is_present() { "yes" } else { "absent" }
    );

    gdt::init();
    idt::init();
    arch::pic::remap_and_mask();
    crate::traps::install();
    arch::backtrace::set_boot_stack(
        boot_info.kernel_stack_bottom,
        boot_info.kernel_stack_bottom + boot_info.kernel_stack_len,
    );

    let prot = cpu::enable_nx_and_wp();
    let mut brand = [0u8; 48];
    info!("CPU: {}", cpu::brand(&mut brand));
    let f = cpu::features();
    info!(
        "CPU: NX {} SMEP {} SMAP {} PGE {} 1G-pages {} RDRAND {} (NX enabled: {}, WP enabled: {})",
        f.nx,
        f.smep,
        f.smap,
        f.pge,
        f.page_1g,
        arch::random::has_rdrand(),
        prot.nx,
        prot.wp
    );
    let hz = time::calibrate();
    info!("tsc: Detected {}.{:03} MHz processor", hz / 1_000_000, (hz / 1000) % 1000);

    let regions = &boot_info.memory_regions[..];
    let table = E820.call_once(|| {
        let mut t = E820Table::new(firmware_map::detect_firmware(regions));
        if let Err(e) = firmware_map::from_bootloader(regions, &mut t) {
            log::warn!("e820: {:?}: firmware map truncated", e);
        }
        t
    });
    let _ = table.print(&mut logger::LineLogger::new(log::Level::Info));

    let acpi = crate::platform::discover_acpi(rsdp);
    crate::mem::boot::init(table, &snap, acpi);
    crate::mem::slab::init();
    early();
    crate::mem::heap::switch_to_kmalloc();
    crate::mem::kvm::init(table, &snap);
    crate::mem::kvm::install_ist_stacks();
    start_processes();
    crate::mempic::init();
    if log::log_enabled!(log::Level::Debug) {
        let mut w = logger::LineLogger::new(log::Level::Debug);
        let _ = core::fmt::Write::write_str(&mut w, "/proc/meminfo:\n");
        let _ = crate::mem::meminfo().render(&mut w);
        let _ = core::fmt::Write::write_str(&mut w, "/proc/slabinfo:\n");
        let _ = mm::procfs::slabinfo::render(crate::mem::slab::registry(), &mut w);
        let _ = core::fmt::Write::write_str(&mut w, "/proc/vmallocinfo:\n");
        let _ = mm::procfs::vmallocinfo::render(crate::mem::kvm::vmalloc_area(), crate::mem::page_alloc(), &mut w);
    }
}

/// Copy what memory bring-up needs out of the boot info.
fn snapshot(bi: &BootInfo) -> crate::mem::boot::BootSnapshot {
    let regions = &bi.memory_regions[..];
    let fb = bi.framebuffer.as_ref();
    crate::mem::boot::BootSnapshot {
        boot_info_va: bi as *const BootInfo as u64,
        memory_regions_va: regions.as_ptr() as u64,
        memory_regions_len: core::mem::size_of_val(regions) as u64,
        kernel_elf_phys: bi.kernel_addr,
        kernel_elf_len: bi.kernel_len,
        kernel_image_va: bi.kernel_image_offset,
        ramdisk_va: bi.ramdisk_addr.into_option(),
        ramdisk_len: bi.ramdisk_len,
        stack_bottom: bi.kernel_stack_bottom,
        stack_len: bi.kernel_stack_len,
        framebuffer_va: fb.map(|f| f.buffer().as_ptr() as u64),
        framebuffer_len: fb.map(|f| f.info().byte_len as u64).unwrap_or(0),
    }
}

/// Options that must act before anything else logs.
fn apply_early_options() {
    let level = crate::cmdline::value("log").or_else(|| crate::cmdline::value("loglevel"));
    if let Some(l) = level {
        match logger::parse_level(l) {
            Some(f) => logger::set_level(f),
            None => log::warn!("cmdline: unknown log level '{}'", l),
        }
    }
    if crate::cmdline::value("panic") == Some("exit") {
        crate::panic::set_exit_on_panic(true);
    }
}

/// Bring up what processes need: per-CPU data and FPU, the syscall entry,
/// the file tree, the idle task, and the timer that drives the scheduler.
fn start_processes() {
    use x86_64::structures::paging::PageTableFlags as F;
    crate::mem::user::init();
    arch::percpu::init(0);
    arch::fpu::init();
    arch::syscall::init();
    crate::syscall::init();
    crate::ipc::shm::init();
    // Disks before the file tree: /dev lists them.
    crate::platform::pci::scan();
    crate::block::probe();
    crate::vfs::init(alloc::vec![(alloc::string::String::from("proc"), crate::vfs::procfs::proc_root())]);
    crate::proc::init_idle();
    let lapic = arch::apic::phys_base();
    let flags = F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH;
    match crate::mem::kvm::vmalloc_area().ioremap(&crate::mem::kvm::kernel_space(), lapic, 4096, flags, "lapic") {
        Ok(va) => {
            let hz = arch::apic::init(va, crate::proc::sched::HZ);
            info!("APIC: local APIC at {:#x}, timer {} MHz, {} Hz tick", lapic, hz / 1_000_000, crate::proc::sched::HZ);
        }
        Err(e) => log::error!("APIC: cannot map the local APIC: {:?}; no preemption", e),
    }
    crate::platform::smp::init_boot_cpu();
    crate::platform::smp::start_aps(e820());
    crate::mem::page_alloc().update_pcp_sizes();
    crate::platform::smp::set_ap_main(crate::proc::sched::ap_main);
    crate::proc::sched::wait_for_aps(arch::smp::online().saturating_sub(1));
    crate::platform::input::init();
    crate::mem::enable_reclaim();
    crate::mem::hugetlb_from_cmdline();
}

/// `swapon=/dev/vda[,/dev/vdb...]`: turn those disks on as swap before
/// init runs (what `swapon -a` does from /etc/fstab on a Linux system;
/// `make run SWAP=SIZE` passes it).
pub fn swapon_from_cmdline() {
    let Some(list) = crate::cmdline::value("swapon") else { return };
    for path in list.split(',').filter(|p| !p.is_empty()) {
        let name = path.strip_prefix("/dev/").unwrap_or(path);
        let Some(dev) = crate::block::devices().into_iter().find(|d| d.name() == name) else {
            log::warn!("swapon: no disk {}", path);
            continue;
        };
        if let Err(e) = crate::block::swap::swapon(path, dev, 0) {
            log::warn!("swapon: {}: errno {}", path, e.0);
        }
    }
}

/// Start init (`init=PATH`, default /bin/init) as pid 1 with the
/// command line's extra words as its arguments and environment.
pub fn start_init() {
    crate::proc::compact::start_kcompactd();
    crate::proc::khugepaged::start();
    swapon_from_cmdline();
    let cmd = crate::cmdline::get();
    let path = cmd.get("init").unwrap_or("/bin/init");
    if crate::vfs::lookup(path, "/").is_err() {
        log::warn!("init: {} not found in the initrd; nothing to run", path);
        return;
    }
    let (args, env) = cmd.init_args_env(crate::cmdline::KNOWN);
    let mut argv = alloc::vec![alloc::string::String::from(path)];
    argv.extend(args.iter().map(|s| alloc::string::String::from(*s)));
    let mut envp = alloc::vec![alloc::string::String::from("HOME=/"), alloc::string::String::from("TERM=linux")];
    envp.extend(env.iter().map(|s| alloc::string::String::from(*s)));
    if cmd.has("exit_on_init") {
        crate::proc::exit::on_init_exit(|code| {
            arch::qemu::exit(if code == 0 { arch::qemu::ExitCode::Success } else { arch::qemu::ExitCode::Failed });
        });
    }
    match spawn(path, &argv, &envp, 0) {
        Ok(pid) => info!("Run {} as init process (pid {})", path, pid),
        Err(e) => log::error!("init: cannot start {}: errno {}", path, e.0),
    }
}

/// Start the program at `path` (absolute) as a child of `parent` (0: of
/// the kernel), with the console as its standard input, output and error.
pub fn spawn(
    path: &str,
    argv: &[alloc::string::String],
    envp: &[alloc::string::String],
    parent: crate::proc::Pid,
) -> Result<crate::proc::Pid, abi::errno::Errno> {
    let inode = crate::vfs::lookup(path, "/")?;
    let stdio = crate::file::FdTable::with_stdio(crate::vfs::console::open());
    crate::proc::exec::spawn(path, inode, &|p| crate::vfs::lookup(p, "/"), stdio, argv, envp, parent)
}
