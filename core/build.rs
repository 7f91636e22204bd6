//! Records what a plugin library must share with the server to be loaded into it: toolchain, core version and
//! sources, lockfile, target, profile and compiler flags. See `loadable.rs`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let rustc = Command::new(env("RUSTC"))
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let lockfile = workspace_lockfile()
        .and_then(|path| {
            println!("cargo:rerun-if-changed={}", path.display());
            std::fs::read(&path).ok()
        })
        .map(|bytes| format!("{:016x}", fnv1a(&bytes)))
        .unwrap_or_else(|| "none".into());
    // The core's own sources: its shared library keeps one file name across builds, so a plugin built against
    // an older core of the same version must still be told apart.
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for dir in [manifest_dir.join("src"), manifest_dir.join("../migrations")] {
        println!("cargo:rerun-if-changed={}", dir.display());
        collect(&dir, &mut sources);
    }
    sources.sort();
    let source = sources.iter().fold(Vec::new(), |mut all, path| {
        all.extend(path.strip_prefix(&manifest_dir).unwrap_or(path).to_string_lossy().as_bytes());
        all.extend(std::fs::read(path).unwrap_or_default());
        all
    });
    let source = format!("{:016x}", fnv1a(&source));
    let flags = env("CARGO_ENCODED_RUSTFLAGS").split('\x1f').filter(|f| !f.is_empty()).collect::<Vec<_>>().join(" ");
    let dynamic = flags.contains("prefer-dynamic");
    let build = format!(
        "toolchain={rustc};core={};source={source};lockfile={lockfile};target={};profile={} opt-level={} debug={};rustflags={flags}",
        env("CARGO_PKG_VERSION"),
        env("TARGET"),
        env("PROFILE"),
        env("OPT_LEVEL"),
        env("DEBUG"),
    );
    println!("cargo:rustc-env=TESSERA_BUILD={build}");
    println!("cargo:rustc-check-cfg=cfg(tessera_dynamic)");
    if dynamic {
        println!("cargo:rustc-cfg=tessera_dynamic");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

fn collect(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The Cargo.lock of the workspace being built.
fn workspace_lockfile() -> Option<PathBuf> {
    let out = Command::new(std::env::var("CARGO").ok()?)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .current_dir(std::env::var("CARGO_MANIFEST_DIR").ok()?)
        .output()
        .ok()?;
    let manifest = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    Some(manifest.parent()?.join("Cargo.lock"))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
