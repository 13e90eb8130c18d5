//! Puts `memory/<target>.x` on the linker's search path as `memory.x`, where cortex-m-rt's and
//! riscv-rt's `link.x` look for the memory map, and tells the runner its target's name.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = format!("memory/{target}.x");
    println!("cargo:rerun-if-changed={map}");
    if let Err(err) = fs::copy(&map, out_dir.join("memory.x")) {
        panic!("{map}: {err}: add a memory map for {target} (see README.md)");
    }
    println!("cargo:rustc-link-search={}", out_dir.display());
    println!("cargo:rustc-env=EMBEDDED_TARGET={target}");
}
