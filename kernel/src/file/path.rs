//! Path names: normalising a name against a working directory (no file
//! system is consulted: `..` of `/` is `/`, as Linux's walk does at the
//! root).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Normalise `path` relative to `cwd` into absolute components.
pub fn components(path: &str, cwd: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let full = if path.starts_with('/') { String::from(path) } else { alloc::format!("{cwd}/{path}") };
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Absolute, normalised form of `path`.
pub fn absolute(path: &str, cwd: &str) -> String {
    let c = components(path, cwd);
    if c.is_empty() { String::from("/") } else { alloc::format!("/{}", c.join("/")) }
}
