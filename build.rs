//! `cfg(tessera_dynamic)` when the server is built to share libstd and tessera-core with plugin libraries
//! (`-C prefer-dynamic`, see core/src/loadable.rs): memory is then freed across library boundaries, so the binary
//! keeps the system allocator instead of its own.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(tessera_dynamic)");
    if std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().contains("prefer-dynamic") {
        println!("cargo:rustc-cfg=tessera_dynamic");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
