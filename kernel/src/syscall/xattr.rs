//! Extended attributes, the reading calls (fs/xattr.c): getxattr,
//! lgetxattr, fgetxattr, listxattr, llistxattr, flistxattr. No file here
//! has any, as on Linux's tmpfs without a security module: a get of a
//! well-formed name is ENODATA, a list is empty. (glibc programs ask:
//! `ls -l` reads security.selinux and system.posix_acl_access.)
//!
//! Locks: none of its own; the path walk takes the VFS's.

use abi::errno::*;

use super::SysResult;
use super::fs::{base_dir, file, path_arg};
use crate::usercopy::{read_user_cstr, strnlen_user};
use crate::vfs::namei::resolve;

/// XATTR_NAME_MAX: the longest attribute name, its NUL excluded.
const XATTR_NAME_MAX: usize = 255;

/// The namespaces Linux knows (`xattr_resolve_name`): any other prefix is
/// EOPNOTSUPP.
const PREFIXES: [&str; 4] = ["security.", "system.", "trusted.", "user."];

/// Check the attribute name at `ptr`: empty or longer than XATTR_NAME_MAX
/// is ERANGE, an unknown namespace EOPNOTSUPP.
fn check_name(ptr: u64) -> Result<(), Errno> {
    match strnlen_user(ptr, XATTR_NAME_MAX + 1)? {
        Some(n) if n > 0 && n <= XATTR_NAME_MAX => {}
        _ => return Err(ERANGE),
    }
    let name = read_user_cstr(ptr, XATTR_NAME_MAX + 1)?;
    match PREFIXES.iter().find(|p| name.starts_with(*p)) {
        // "user." alone names nothing (Linux: EINVAL for an empty suffix).
        Some(p) if name.len() == p.len() => Err(EINVAL),
        Some(_) => Ok(()),
        None => Err(EOPNOTSUPP),
    }
}

/// The file a path names must exist (its errors first, as Linux walks it
/// before reading the attribute).
fn walk(path_ptr: u64, follow: bool) -> Result<(), Errno> {
    let path = path_arg(path_ptr)?;
    if path.is_empty() {
        return Err(ENOENT);
    }
    let base = base_dir(abi::fcntl::AT_FDCWD, &path)?;
    resolve(&path, &base, follow).map(|_| ())
}

/// getxattr(2) (`follow`) and lgetxattr(2).
pub fn getxattr(path: u64, name: u64, follow: bool) -> SysResult {
    walk(path, follow)?;
    check_name(name)?;
    Err(ENODATA)
}

/// fgetxattr(2).
pub fn fgetxattr(fd: i32, name: u64) -> SysResult {
    file(fd)?;
    check_name(name)?;
    Err(ENODATA)
}

/// listxattr(2) (`follow`) and llistxattr(2): no names, whatever the size.
pub fn listxattr(path: u64, follow: bool) -> SysResult {
    walk(path, follow)?;
    Ok(0)
}

/// flistxattr(2).
pub fn flistxattr(fd: i32) -> SysResult {
    file(fd)?;
    Ok(0)
}
