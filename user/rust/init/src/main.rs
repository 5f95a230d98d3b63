//! init: the demo first process for `make run`.
//!
//! Prints a banner, runs `/bin/hello from init` with fork + execve (passing
//! its own environment on), waits for it with wait4, reports how it ended
//! and exits with its status: the program's exit code, 128 + the signal if
//! it was killed (as a shell reports it), 1 if it could not be waited for.
//! The `init` and `usb-boot` matrix lines fail when the program fails. When BINDIR is set in the environment (the test runners set
//! it; on the host it is not /bin), hello is taken from there instead.
//!
//! As pid 1 of an interactive boot (`make run`: the kernel command line in
//! /boot/cmdline has no `exit_on_init`), it then becomes the shell:
//! execve("/bin/sh"), so the boot ends at the `mm# ` prompt. Anywhere else
//! (the test runners, the host, `exit_on_init`) it just exits.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;
use rt::println;
use rt::syscall::{self, wexitstatus, wifexited, wifsignaled, wtermsig};

fn main(args: &rt::Args) -> i32 {
    println!("init: mmkernel user space, pid {}", syscall::getpid());
    let bindir = args.getenv("BINDIR").unwrap_or("/bin");
    let path = format!("{}/hello\0", bindir);
    let argv: Vec<*const u8> =
        [path.as_ptr(), c"from".as_ptr().cast(), c"init".as_ptr().cast(), core::ptr::null()].into();

    let child = match syscall::fork() {
        Ok(0) => {
            // SAFETY: path and every argv entry are NUL-terminated, argv is
            // NULL-terminated, and args.envp is followed by its NULL.
            let err = unsafe { syscall::execve(path.as_ptr(), argv.as_ptr(), args.envp.as_ptr().cast()) };
            rt::eprintln!("init: execve {} failed: {}", &path[..path.len() - 1], err);
            syscall::exit_group(127);
        }
        Ok(pid) => pid,
        Err(e) => {
            rt::eprintln!("init: fork failed: {}", e);
            return 1;
        }
    };

    let mut status = 0;
    let code = match syscall::wait4(child, &mut status, 0) {
        Ok(_) if wifexited(status) => {
            println!("init: {} exited with status {}", &path[..path.len() - 1], wexitstatus(status));
            wexitstatus(status)
        }
        Ok(_) if wifsignaled(status) => {
            println!("init: {} was killed by signal {}", &path[..path.len() - 1], wtermsig(status));
            128 + wtermsig(status) as i32
        }
        Ok(_) => {
            println!("init: {} changed state: {:#x}", &path[..path.len() - 1], status);
            1
        }
        Err(e) => {
            println!("init: wait4 failed: {}", e);
            1
        }
    };
    if syscall::getpid() == 1 && !cmdline_has("exit_on_init") {
        // SAFETY: both strings are NUL-terminated, argv is NULL-terminated,
        // and args.envp is followed by its NULL.
        let argv: [*const u8; 2] = [c"/bin/sh".as_ptr().cast(), core::ptr::null()];
        let err = unsafe { syscall::execve(argv[0], argv.as_ptr(), args.envp.as_ptr().cast()) };
        rt::eprintln!("init: execve /bin/sh failed: {}", err);
    }
    code
}

/// Whether the kernel command line (`boot` stores it in the initrd as
/// /boot/cmdline) has the word `word`.
fn cmdline_has(word: &str) -> bool {
    let Ok(fd) = syscall::open(c"/boot/cmdline", syscall::O_RDONLY, 0) else { return false };
    let mut buf = [0u8; 1024];
    let n = syscall::read(fd, &mut buf).unwrap_or(0);
    let _ = syscall::close(fd);
    core::str::from_utf8(&buf[..n]).unwrap_or("").split_whitespace().any(|w| w == word)
}

rt::entry!(main);
