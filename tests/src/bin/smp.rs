//! The application processors: every CPU the MADT lists comes online with
//! a dense number, runs a function sent by call-function IPI (and answers
//! with its own number, from its own per-CPU area), and counts the TLB
//! flush IPIs it receives. Run with smp=2 and smp=4 (and smp=1: no APs).

#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};

use arch::ipi::{self, Kind};
use bootloader_api::{BootInfo, entry_point};
use kernel::ktest;

entry_point!(main, config = &kernel::BOOT_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    x86_64::instructions::interrupts::enable();
    ktest::run(
        "smp",
        &[
            ktest!(nr_cpus_is_the_madt_count),
            ktest!(every_cpu_is_online_with_its_apic_id),
            ktest!(call_function_runs_on_each_cpu),
            ktest!(call_function_on_others_reaches_every_ap),
            ktest!(each_cpu_has_its_own_gs_area_and_ist_stacks),
            ktest!(tlb_ipi_round_trip_is_counted_on_the_receiver),
            ktest!(reschedule_ipi_reaches_each_ap),
            ktest!(interrupts_lists_a_column_per_cpu),
            ktest!(affinity_covers_every_online_cpu),
            ktest!(every_cpu_takes_timer_ticks),
            ktest!(cpus_sit_on_the_numa_nodes_qemu_gave_them),
            ktest!(per_cpu_slabs_are_flushed_from_another_cpu_and_add_up_in_slabinfo),
            ktest!(slab_fast_paths_race_a_cpu_shrinking_their_slabs),
        ],
    )
}

fn madt_cpus() -> usize {
    kernel::platform::acpi_info().expect("no ACPI tables").cpu_apic_ids.len()
}

fn nr_cpus_is_the_madt_count() {
    assert_eq!(mm::percpu::nr_cpus(), madt_cpus());
    assert_eq!(arch::smp::online(), madt_cpus());
    assert_eq!(mm::percpu::this_cpu(), 0);
}

fn every_cpu_is_online_with_its_apic_id() {
    let ids = &kernel::platform::acpi_info().unwrap().cpu_apic_ids;
    let bsp = arch::apic::id();
    assert_eq!(arch::smp::apic_id_of(0), Some(bsp));
    let aps = ids.iter().filter(|&&id| id != bsp);
    for (cpu, &id) in (1..).zip(aps) {
        assert_eq!(arch::smp::apic_id_of(cpu), Some(id), "CPU {cpu}");
    }
    assert_eq!(arch::smp::apic_id_of(ids.len()), None);
}

/// The CPU number the mm hook reports, and the APIC id, packed.
fn whoami(tag: u64) -> u64 {
    ((arch::apic::id() as u64) << 32) | (mm::percpu::this_cpu() as u64) << 8 | tag
}

fn call_function_runs_on_each_cpu() {
    for cpu in 0..mm::percpu::nr_cpus() {
        let before = ipi::received(cpu, Kind::CallFunction);
        let r = ipi::call_on(cpu, whoami, 0x5a);
        let want = ((arch::smp::apic_id_of(cpu).unwrap() as u64) << 32) | (cpu as u64) << 8 | 0x5a;
        assert_eq!(r, want, "CPU {cpu}");
        // CPU 0 runs the function directly; every AP takes one IPI.
        assert_eq!(ipi::received(cpu, Kind::CallFunction), before + (cpu != 0) as u64, "CPU {cpu}");
    }
}

fn paranoid_id(_: u64) -> u64 {
    arch::percpu::cpu_id_paranoid() as u64
}

fn nmi_stack(_: u64) -> u64 {
    arch::gdt::ist_stack_range(arch::gdt::IST_NMI).1
}

fn each_cpu_has_its_own_gs_area_and_ist_stacks() {
    let mut tops = alloc::vec::Vec::new();
    for cpu in 0..mm::percpu::nr_cpus() {
        assert_eq!(ipi::call_on(cpu, paranoid_id, 0), cpu as u64);
        let top = ipi::call_on(cpu, nmi_stack, 0);
        assert!(top != 0 && !tops.contains(&top), "CPU {cpu}: NMI stack top {top:#x} in {tops:x?}");
        tops.push(top);
    }
}

static HITS: AtomicU64 = AtomicU64::new(0);

fn hit(cpu_bit_shift: u64) -> u64 {
    HITS.fetch_or(1 << (mm::percpu::this_cpu() as u64 + cpu_bit_shift), Ordering::Relaxed);
    0
}

fn call_function_on_others_reaches_every_ap() {
    HITS.store(0, Ordering::Relaxed);
    ipi::call_on_others(hit, 0);
    let n = mm::percpu::nr_cpus();
    let all_aps = ((1u64 << n) - 1) & !1;
    assert_eq!(HITS.load(Ordering::Relaxed), all_aps);
}

fn tlb_ipi_round_trip_is_counted_on_the_receiver() {
    let n = mm::percpu::nr_cpus();
    let before: alloc::vec::Vec<u64> = (0..n).map(|c| ipi::received(c, Kind::Tlb)).collect();
    for cpu in 1..n {
        ipi::flush_tlb_on(cpu, 0xffff_c900_0000_0000, 0xffff_c900_0000_2000);
    }
    ipi::flush_tlb_all_cpus(0, 0);
    // At least these (the kernel's own vmalloc changes shoot down too).
    for (cpu, b) in before.iter().enumerate().skip(1) {
        assert!(ipi::received(cpu, Kind::Tlb) >= b + 2, "CPU {cpu}");
    }
}

fn reschedule_ipi_reaches_each_ap() {
    for cpu in 1..mm::percpu::nr_cpus() {
        let before = ipi::received(cpu, Kind::Reschedule);
        ipi::send_reschedule(cpu);
        let deadline = arch::time::uptime_ns() + 1_000_000_000;
        while ipi::received(cpu, Kind::Reschedule) == before {
            assert!(arch::time::uptime_ns() < deadline, "CPU {cpu} did not take the reschedule IPI");
            core::hint::spin_loop();
        }
    }
}

fn interrupts_lists_a_column_per_cpu() {
    let mut s = alloc::string::String::new();
    kernel::vfs::procfs_cpu::interrupts(&mut s).unwrap();
    let header = s.lines().next().unwrap();
    assert_eq!(header.split_whitespace().count(), mm::percpu::nr_cpus(), "{header}");
    let tlb = s.lines().find(|l| l.trim_start().starts_with("TLB:")).expect("no TLB line");
    assert_eq!(tlb.split_whitespace().count(), 1 + mm::percpu::nr_cpus() + 2, "{tlb}");
    let mut st = alloc::string::String::new();
    kernel::vfs::procfs_cpu::stat(&mut st).unwrap();
    for cpu in 0..mm::percpu::nr_cpus() {
        assert!(st.contains(&alloc::format!("\ncpu{cpu} ")), "no cpu{cpu} line in /proc/stat");
    }
}

/// `boot` puts CPU c on node c % nodes (`-numa cpu`), APIC id = c.
fn cpus_sit_on_the_numa_nodes_qemu_gave_them() {
    let nodes = kernel::mem::page_alloc().topology.nr_nodes as usize;
    for cpu in 0..mm::percpu::nr_cpus() {
        assert_eq!(kernel::platform::smp::node_of(cpu) as usize, cpu % nodes, "CPU {cpu} of {nodes} nodes");
    }
}

fn affinity_covers_every_online_cpu() {
    let n = mm::percpu::nr_cpus();
    assert_eq!(kernel::proc::all_cpus_mask(), if n == 64 { u64::MAX } else { (1u64 << n) - 1 });
}

/// Every CPU runs the scheduler: its local timer ticks (LOC grows).
fn every_cpu_takes_timer_ticks() {
    let n = mm::percpu::nr_cpus();
    let before: alloc::vec::Vec<u64> = (0..n).map(|c| arch::trap::count_on(c, arch::apic::TIMER_VECTOR)).collect();
    let deadline = arch::time::uptime_ns() + 2_000_000_000;
    for (cpu, b) in before.iter().enumerate() {
        while arch::trap::count_on(cpu, arch::apic::TIMER_VECTOR) <= *b {
            assert!(arch::time::uptime_ns() < deadline, "CPU {cpu} takes no timer ticks");
            x86_64::instructions::interrupts::enable_and_hlt();
        }
    }
}

/// The per-CPU slab tests' cache (64-byte objects), made once.
static SLAB: spin::Once<&'static mm::kalloc::slab::KmemCache> = spin::Once::new();
/// Objects each CPU allocated in the first slab test, by CPU.
static HELD: [[AtomicU64; 10]; mm::percpu::MAX_CPUS] =
    [const { [const { AtomicU64::new(0) }; 10] }; mm::percpu::MAX_CPUS];

fn slab_cache() -> &'static mm::kalloc::slab::KmemCache {
    SLAB.call_once(|| {
        use mm::kalloc::slab::{KmemCache, SlabFlags};
        let c = KmemCache::create("ktest-percpu", 64, 8, SlabFlags::empty(), None, kernel::mem::page_alloc()).unwrap();
        kernel::mem::slab::registry().register(c);
        c
    })
}

/// Free pages with clean caches and empty slabs given back.
fn settled_free_pages() -> u64 {
    kernel::mem::drop_caches();
    kernel::mem::page_alloc().nr_free_pages()
}

/// On the CPU it runs on: allocate ten objects into `HELD[cpu]`, each
/// stamped with its CPU.
fn alloc_ten(_: u64) -> u64 {
    let cpu = mm::percpu::this_cpu();
    for slot in &HELD[cpu] {
        let p = slab_cache().alloc().expect("slab: out of memory");
        // SAFETY: a live 64-byte object of ours, 8-byte aligned.
        unsafe { p.as_ptr().cast::<u64>().write(cpu as u64) };
        slot.store(p.as_ptr() as u64, Ordering::Relaxed);
    }
    0
}

/// The slabinfo line of the test cache: (active_objs, num_objs,
/// active_slabs, num_slabs).
fn slabinfo_counts() -> (u64, u64, u64, u64) {
    let mut s = alloc::string::String::new();
    mm::procfs::slabinfo::render(kernel::mem::slab::registry(), &mut s).unwrap();
    let line = s.lines().find(|l| l.starts_with("ktest-percpu ")).expect("ktest-percpu listed");
    let f: alloc::vec::Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    // name, active, num, objsize, perslab, pages, tunables 0 0 0, slabdata active num 0
    (f[0], f[1], f[8], f[9])
}

fn per_cpu_slabs_are_flushed_from_another_cpu_and_add_up_in_slabinfo() {
    let c = slab_cache();
    let base = settled_free_pages();
    let n = mm::percpu::nr_cpus();
    for cpu in 0..n {
        ipi::call_on(cpu, alloc_ten, 0);
    }
    let (active, num, active_slabs, num_slabs) = slabinfo_counts();
    assert_eq!(active, 10 * n as u64, "slabinfo active_objs");
    assert_eq!(num, num_slabs * c.objects_per_slab as u64);
    // Each CPU allocated from an active slab of its own.
    assert_eq!((active_slabs, num_slabs), (n as u64, n as u64));
    c.check_invariants();
    // CPU 0 frees everything: its own objects on its fast path, the
    // others' as remote frees onto their slabs (still the APs' slabs).
    for (cpu, objs) in HELD.iter().enumerate().take(n) {
        for slot in objs {
            let p = core::ptr::NonNull::new(slot.swap(0, Ordering::Relaxed) as *mut u8).unwrap();
            // SAFETY: as written by `alloc_ten`.
            assert_eq!(unsafe { p.as_ptr().cast::<u64>().read() }, cpu as u64, "object changed hands");
            c.free(p).unwrap();
        }
    }
    let (active, _, active_slabs, _) = slabinfo_counts();
    assert_eq!((active, active_slabs), (0, 0));
    // Shrink on CPU 0 asks every AP to give its active slab back (an mm
    // call on the call-function vector, served as the APs idle).
    assert_eq!(c.shrink(), n as u64, "one empty slab per CPU given back");
    assert_eq!(slabinfo_counts(), (0, 0, 0, 0));
    c.check_invariants();
    assert_eq!(settled_free_pages(), base);
}

const CHURN_ROUNDS: u64 = 20_000;
static CHURN_DONE: AtomicU64 = AtomicU64::new(0);
static CHURN_FLUSHES: AtomicU64 = AtomicU64::new(0);

/// On CPU 1, shrink the test cache over and over until the others are
/// done (each shrink asks every CPU to flush its own active slab); on
/// every other AP, allocate and free batches of stamped objects,
/// checking no object is handed out twice. Returns the operations done.
fn churn(aps: u64) -> u64 {
    let c = slab_cache();
    let cpu = mm::percpu::this_cpu() as u64;
    if cpu == 1 {
        let mut flushes = 0;
        while CHURN_DONE.load(Ordering::Acquire) < aps - 1 {
            c.shrink();
            let s = c.stats();
            assert_eq!(s.num_objs, s.num_slabs * c.objects_per_slab as u64);
            flushes += 1;
        }
        CHURN_FLUSHES.store(flushes, Ordering::Relaxed);
        return flushes;
    }
    let mut batch = [core::ptr::null_mut::<u64>(); 8];
    for i in 0..CHURN_ROUNDS {
        for (j, p) in batch.iter_mut().enumerate() {
            *p = c.alloc().expect("slab: out of memory").as_ptr().cast();
            // SAFETY: a live 64-byte object of ours, 8-byte aligned.
            unsafe { p.write(cpu << 48 | i << 8 | j as u64) };
        }
        for (j, &p) in batch.iter().enumerate().rev() {
            // SAFETY: as written above; still ours.
            assert_eq!(unsafe { p.read() }, cpu << 48 | i << 8 | j as u64, "object handed out twice");
            c.free(core::ptr::NonNull::new(p.cast()).unwrap()).unwrap();
        }
        // This loop runs in a call-function IPI, interrupts off: between
        // batches it takes CPU 1's flush requests as an interrupt would
        // (inside a batch it takes them only while it spins on a lock).
        ipi::serve_polled();
    }
    CHURN_DONE.fetch_add(1, Ordering::Release);
    CHURN_ROUNDS * 8
}

fn slab_fast_paths_race_a_cpu_shrinking_their_slabs() {
    let n = mm::percpu::nr_cpus() as u64;
    if n < 3 {
        log::info!("slab race: needs 3 CPUs, {n} online");
        return;
    }
    let c = slab_cache();
    let base = settled_free_pages();
    let before = c.stats();
    CHURN_DONE.store(0, Ordering::Relaxed);
    ipi::call_on_others(churn, n - 1);
    let flushes = CHURN_FLUSHES.load(Ordering::Relaxed);
    log::info!("slab race: {} CPUs did {} pairs each while CPU 1 shrank {flushes} times", n - 2, CHURN_ROUNDS * 8);
    assert!(flushes > 0, "CPU 1 never shrank while the others ran");
    let s = c.stats();
    let ops = (n - 2) * CHURN_ROUNDS * 8;
    assert_eq!((s.allocs - before.allocs, s.frees - before.frees, s.active_objs), (ops, ops, 0));
    assert_eq!(s.debug_errors, 0);
    c.check_invariants();
    c.shrink();
    assert_eq!(slabinfo_counts(), (0, 0, 0, 0));
    assert_eq!(settled_free_pages(), base);
}
