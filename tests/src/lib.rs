//! Shared helpers for the test kernels in `src/bin/`.
//!
//! Each binary is one test kernel: it boots through `kernel::init`, lists its
//! cases and hands them to `kernel::ktest::run`. `boot` runs each under the
//! QEMU configurations listed in `tests/matrix.txt`.

#![no_std]
