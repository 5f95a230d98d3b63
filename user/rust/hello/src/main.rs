//! hello: the smallest Rust user program. Prints its pid, then every
//! argument and every environment entry on its own line, and exits 0.
//! Exercises rt's entry path (argv/envp decoding), getpid and write.

#![no_std]
#![no_main]

use rt::println;

fn main(args: &rt::Args) -> i32 {
    println!("hello from user space (pid {})", rt::syscall::getpid());
    for (i, arg) in args.args().enumerate() {
        println!("argv[{}] = {}", i, arg);
    }
    for var in args.env() {
        println!("env {}", var);
    }
    0
}

rt::entry!(main);
