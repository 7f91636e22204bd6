//! Plugins loaded at start-up from a directory of shared libraries.
//!
//! A plugin library is an ordinary plugin crate built with `crate-type = ["rlib", "dylib"]` that ends with
//! `tessera_core::export_plugin!(MyPlugin)`. Rust has no stable ABI, and a plugin shares live values with the server
//! (the tokio runtime, the database pool, the tracing dispatcher, panics that unwind into the server's handler), so
//! both must run on one copy of the standard library and of tessera-core with everything beneath it (poem, tokio,
//! sqlx…). That holds when the server and its plugins come out of one `cargo build --workspace` with
//! `RUSTFLAGS="-C prefer-dynamic"`: std and tessera-core are then shared libraries that every plugin links against.
//!
//! The loader refuses any library that could break this: one compiled by another toolchain, against another core
//! version, core source or lockfile, for another target, profile or flags (`BUILD` differs), or linked to another copy of the core (the
//! address of `RUNTIME` differs). Libraries are never unloaded: thread-locals and `'static` data of a plugin live as
//! long as the process.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Plugin;

/// What the library was built with; a plugin must match the server exactly.
pub const BUILD: &str = env!("TESSERA_BUILD");

/// Whether this core is a shared library (built with `-C prefer-dynamic`), which loading plugins requires.
pub const DYNAMIC: bool = cfg!(tessera_dynamic);

/// The command that builds a server able to load plugins together with the plugins of its workspace.
pub const BUILD_COMMAND: &str =
    "RUSTFLAGS=\"-C prefer-dynamic -C rpath\" cargo build --release --workspace --target-dir target/dynamic";

/// One byte whose address identifies the copy of tessera-core a library is linked to.
pub static RUNTIME: u8 = 0;

/// Exported by a plugin library under the symbol `TESSERA_PLUGIN`. Only `build` and `runtime` are read before the
/// library is known to match the server; `create` is a Rust function and is called only after that.
#[repr(C)]
pub struct Declaration {
    pub build: *const u8,
    pub build_len: usize,
    pub runtime: *const c_void,
    pub create: fn() -> Box<dyn Plugin>,
}

// The pointers refer to immutable statics of the library.
unsafe impl Sync for Declaration {}

/// Makes a plugin crate loadable: `tessera_core::export_plugin!(HelloPlugin);` at the end of its lib.rs.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:expr) => {
        #[no_mangle]
        pub static TESSERA_PLUGIN: $crate::loadable::Declaration = $crate::loadable::Declaration {
            build: $crate::loadable::BUILD.as_ptr(),
            build_len: $crate::loadable::BUILD.len(),
            runtime: &$crate::loadable::RUNTIME as *const u8 as *const ::std::ffi::c_void,
            create: {
                fn create() -> ::std::boxed::Box<dyn $crate::Plugin> {
                    ::std::boxed::Box::new($plugin)
                }
                create
            },
        };
    };
}

/// A plugin loaded from a library.
pub struct Loaded {
    pub plugin: Arc<dyn Plugin>,
    pub path: PathBuf,
}

/// Loads every plugin library (`*.so`, `*.dylib`) in `dir`, in name order. Any library that cannot be loaded or does
/// not match this server fails the whole load, so a server never starts with some of its plugins missing.
pub fn load_dir(dir: &Path) -> Result<Vec<Loaded>, String> {
    if !DYNAMIC {
        return Err(format!(
            "this tessera binary has tessera-core linked in statically, so it cannot share it with plugin libraries \
             from {}; build the server and its plugins with: {BUILD_COMMAND}",
            dir.display()
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("plugins directory {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "so" || x == "dylib"))
        .collect();
    paths.sort();
    paths.into_iter().map(|path| load(&path).map(|plugin| Loaded { plugin, path })).collect()
}

fn load(path: &Path) -> Result<Arc<dyn Plugin>, String> {
    let shown = path.display();
    let rebuild = format!("build it in the same workspace and command as this server: {BUILD_COMMAND}");
    // SAFETY: loading runs the library's initialisers; a Rust plugin library has none beyond std's.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| format!("{shown}: cannot be loaded ({e}); {rebuild}"))?;
    // Never unloaded, not even when refused: unloading a Rust library can run into its thread-locals, and the code and
    // statics of an accepted plugin must outlive every request and thread that may touch them.
    let library = std::mem::ManuallyDrop::new(library);
    // SAFETY: the symbol is read as the `#[repr(C)]` head of `Declaration` that `export_plugin!` defines.
    let declaration: &Declaration = unsafe {
        let symbol = library
            .get::<*const Declaration>(b"TESSERA_PLUGIN\0")
            .map_err(|_| format!("{shown}: not a Tessera plugin (no TESSERA_PLUGIN symbol; see export_plugin!)"))?;
        &**symbol
    };
    // SAFETY: `build` and `build_len` describe a `&'static str` of the library (checked as UTF-8 here).
    let build = std::str::from_utf8(unsafe { std::slice::from_raw_parts(declaration.build, declaration.build_len) })
        .map_err(|_| format!("{shown}: its build description is not text; {rebuild}"))?;
    if build != BUILD {
        return Err(format!("{shown}: built differently from this server ({}); {rebuild}", differences(build, BUILD)));
    }
    if declaration.runtime != &RUNTIME as *const u8 as *const c_void {
        return Err(format!("{shown}: linked to another copy of tessera-core than this server's; {rebuild}"));
    }
    Ok(Arc::from((declaration.create)()))
}

/// "toolchain: rustc 1.94.0 … (server: rustc 1.95.0 …)" for each part of the build descriptions that differs.
fn differences(plugin: &str, server: &str) -> String {
    let split = |s: &str| -> Vec<(String, String)> {
        s.splitn(7, ';')
            .map(|part| {
                let (key, value) = part.split_once('=').unwrap_or(("build", part));
                (key.to_string(), value.to_string())
            })
            .collect()
    };
    let (ours, theirs) = (split(server), split(plugin));
    let mut out = Vec::new();
    for (key, value) in &theirs {
        let server_value = ours.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("none");
        if value != server_value {
            out.push(format!("{key}: {value} (server: {server_value})"));
        }
    }
    if out.is_empty() {
        out.push(format!("build: {plugin} (server: {server})"));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_part() {
        let server = "toolchain=rustc 1.95.0;core=0.1.0;lockfile=ab;target=x;profile=release;rustflags=";
        let plugin = "toolchain=rustc 1.94.0;core=0.1.0;lockfile=cd;target=x;profile=release;rustflags=";
        assert_eq!(
            differences(plugin, server),
            "toolchain: rustc 1.94.0 (server: rustc 1.95.0), lockfile: cd (server: ab)"
        );
    }
}
