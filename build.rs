//! `cfg(tessera_sqlite_only)` when the tests are built with `TESSERA_TEST_BACKENDS=sqlite` outside CI: the
//! PostgreSQL variant of every integration test is then marked ignored, so the summary says it did not run instead
//! of counting it as passed.
//!
//! `cfg(tessera_dynamic)` when the server is built to share libstd and tessera-core with plugin libraries
//! (`-C prefer-dynamic`, see core/src/loadable.rs): memory is then freed across library boundaries, so the binary
//! keeps the system allocator instead of its own.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(tessera_dynamic)");
    if std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().contains("prefer-dynamic") {
        println!("cargo:rustc-cfg=tessera_dynamic");
    }
    println!("cargo:rustc-check-cfg=cfg(tessera_sqlite_only)");
    let sqlite_only = std::env::var("TESSERA_TEST_BACKENDS").is_ok_and(|v| v.trim() == "sqlite");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if sqlite_only && !ci {
        println!("cargo:rustc-cfg=tessera_sqlite_only");
    }
    println!("cargo:rerun-if-env-changed=TESSERA_TEST_BACKENDS");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-changed=build.rs");
}
