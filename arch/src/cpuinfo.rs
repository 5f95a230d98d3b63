//! What /proc/cpuinfo says about a CPU, read from CPUID: vendor, family,
//! model, stepping, brand, APIC id, cache line, address sizes, and the
//! feature flags under Linux's names.
//!
//! Flags that need state the kernel keeps off are left out, as Linux
//! clears them: without CR4.OSXSAVE there is no `xsave`, `avx`, `avx2`,
//! `fma`, `f16c` or AVX-512 for programs.

use core::arch::x86_64::__cpuid_count;

fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    // CPUID exists on every x86_64 CPU and has no side effects.
    let r = __cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// The identity of the running CPU.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub vendor: [u8; 12],
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub cpuid_level: u32,
    pub apic_id: u32,
    pub clflush: u32,
    pub phys_bits: u32,
    pub virt_bits: u32,
    /// Level-2 cache size in KiB (CPUID 0x80000006), 0 if not reported.
    pub l2_kb: u32,
    /// CPUID.1 EDX, ECX; CPUID.7.0 EBX, ECX; CPUID.0x80000001 EDX, ECX.
    words: [u32; 6],
}

impl Identity {
    pub fn vendor(&self) -> &str {
        core::str::from_utf8(&self.vendor).unwrap_or("unknown")
    }

    /// The flags of `/proc/cpuinfo`, in Linux's order of CPUID words.
    pub fn flags(&self, mut each: impl FnMut(&'static str)) {
        for &(word, bit, name) in FLAGS {
            if self.words[word] & (1 << bit) != 0 {
                each(name);
            }
        }
    }
}

/// The running CPU's identity.
pub fn identify() -> Identity {
    let (max_leaf, b0, c0, d0) = cpuid(0, 0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&b0.to_le_bytes());
    vendor[4..8].copy_from_slice(&d0.to_le_bytes());
    vendor[8..].copy_from_slice(&c0.to_le_bytes());
    let (a1, b1, c1, d1) = cpuid(1, 0);
    let base_family = (a1 >> 8) & 0xf;
    let family = if base_family == 0xf { base_family + ((a1 >> 20) & 0xff) } else { base_family };
    let mut model = (a1 >> 4) & 0xf;
    if base_family == 0x6 || base_family == 0xf {
        model |= ((a1 >> 16) & 0xf) << 4;
    }
    let (_, b7, c7, _) = if max_leaf >= 7 { cpuid(7, 0) } else { (0, 0, 0, 0) };
    let (max_ext, ..) = cpuid(0x8000_0000, 0);
    let (_, _, ce, de) = if max_ext >= 0x8000_0001 { cpuid(0x8000_0001, 0) } else { (0, 0, 0, 0) };
    let (a8, ..) = if max_ext >= 0x8000_0008 { cpuid(0x8000_0008, 0) } else { (0x3024, 0, 0, 0) };
    let (_, _, c6, _) = if max_ext >= 0x8000_0006 { cpuid(0x8000_0006, 0) } else { (0, 0, 0, 0) };
    Identity {
        vendor,
        family,
        model,
        stepping: a1 & 0xf,
        cpuid_level: max_leaf,
        apic_id: b1 >> 24,
        clflush: ((b1 >> 8) & 0xff) * 8,
        phys_bits: a8 & 0xff,
        virt_bits: (a8 >> 8) & 0xff,
        l2_kb: c6 >> 16,
        words: [d1, c1, b7, c7, de, ce],
    }
}

const EDX1: usize = 0;
const ECX1: usize = 1;
const EBX7: usize = 2;
const ECX7: usize = 3;
const EDX_EXT: usize = 4;
const ECX_EXT: usize = 5;

/// (word, bit, Linux's name), as arch/x86/include/asm/cpufeatures.h names
/// them.
const FLAGS: &[(usize, u32, &str)] = &[
    (EDX1, 0, "fpu"),
    (EDX1, 1, "vme"),
    (EDX1, 2, "de"),
    (EDX1, 3, "pse"),
    (EDX1, 4, "tsc"),
    (EDX1, 5, "msr"),
    (EDX1, 6, "pae"),
    (EDX1, 7, "mce"),
    (EDX1, 8, "cx8"),
    (EDX1, 9, "apic"),
    (EDX1, 11, "sep"),
    (EDX1, 12, "mtrr"),
    (EDX1, 13, "pge"),
    (EDX1, 14, "mca"),
    (EDX1, 15, "cmov"),
    (EDX1, 16, "pat"),
    (EDX1, 17, "pse36"),
    (EDX1, 19, "clflush"),
    (EDX1, 23, "mmx"),
    (EDX1, 24, "fxsr"),
    (EDX1, 25, "sse"),
    (EDX1, 26, "sse2"),
    (EDX1, 27, "ss"),
    (EDX1, 28, "ht"),
    (EDX_EXT, 11, "syscall"),
    (EDX_EXT, 20, "nx"),
    (EDX_EXT, 22, "mmxext"),
    (EDX_EXT, 25, "fxsr_opt"),
    (EDX_EXT, 26, "pdpe1gb"),
    (EDX_EXT, 27, "rdtscp"),
    (EDX_EXT, 29, "lm"),
    (ECX1, 0, "pni"),
    (ECX1, 1, "pclmulqdq"),
    (ECX1, 9, "ssse3"),
    (ECX1, 13, "cx16"),
    (ECX1, 17, "pcid"),
    (ECX1, 19, "sse4_1"),
    (ECX1, 20, "sse4_2"),
    (ECX1, 21, "x2apic"),
    (ECX1, 22, "movbe"),
    (ECX1, 23, "popcnt"),
    (ECX1, 24, "tsc_deadline_timer"),
    (ECX1, 25, "aes"),
    (ECX1, 30, "rdrand"),
    (ECX1, 31, "hypervisor"),
    (ECX_EXT, 0, "lahf_lm"),
    (ECX_EXT, 5, "abm"),
    (ECX_EXT, 6, "sse4a"),
    (ECX_EXT, 8, "3dnowprefetch"),
    (EBX7, 0, "fsgsbase"),
    (EBX7, 3, "bmi1"),
    (EBX7, 7, "smep"),
    (EBX7, 8, "bmi2"),
    (EBX7, 9, "erms"),
    (EBX7, 10, "invpcid"),
    (EBX7, 18, "rdseed"),
    (EBX7, 19, "adx"),
    (EBX7, 20, "smap"),
    (EBX7, 23, "clflushopt"),
    (EBX7, 29, "sha_ni"),
    (ECX7, 2, "umip"),
    (ECX7, 22, "rdpid"),
];
