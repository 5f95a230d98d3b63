//! rt: the runtime of mmkernel's Rust user programs (`no_std`).
//!
//! It owns everything between the kernel and a program's `main`, using only
//! the Linux x86_64 syscall ABI, so the same static binary runs on this
//! kernel and on Linux:
//!
//! - [`start`]: `_start`, the initial stack (argv, envp, auxv), [`getauxval`];
//! - [`syscall`]: raw `syscall` instructions and typed wrappers;
//! - [`errno`], [`Errno`]: the `abi` crate's, re-exported (as are the
//!   ABI's numbers, flags and structures in [`syscall`] and [`start`]);
//! - [`heap`]: `malloc` / `free` (brk heap, mmap above 128 KiB) and the
//!   global allocator, so `alloc` (Vec, String, format!) works;
//! - [`print`]: `print!` / `println!` / `eprintln!`;
//! - [`test`]: the `test PROG::CASE ... ok` protocol the test programs print;
//! - the panic handler: message on stderr, exit status 101.
//!
//! A program is a `#![no_std] #![no_main]` binary that ends with
//! `rt::entry!(main);` where `fn main(args: &rt::Args) -> i32`.

#![no_std]

extern crate alloc;

pub mod heap;
pub mod print;
pub mod start;
pub mod syscall;
pub mod test;

pub use abi::Errno;
pub use abi::errno;
pub use start::{Args, AuxEntry, args, getauxval, getenv, initial_brk};

/// Register `main` (`fn(&rt::Args) -> i32`) as the program's entry; its
/// return value becomes the exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        pub fn __rt_main(args: &$crate::Args) -> i32 {
            $main(args)
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    eprintln!("{}", info);
    syscall::exit_group(101)
}
