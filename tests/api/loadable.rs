//! Plugins loaded from libraries: the example plugin (examples/hello-plugin) built as a library together with a
//! server able to load it, in `target/dynamic` (the build the README describes), then served with --plugins-dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::json;
use sqlx::Connection;

use crate::both;
use crate::support::{Backend, Server};

/// `target/dynamic/debug`, built once per test run: the server and the example plugin out of one workspace build.
fn dynamic_build() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target").join("dynamic");
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--workspace", "--features", "tessera-registrar-addons/loadable", "--target-dir"])
            .arg(&target)
            .env("RUSTFLAGS", "-C prefer-dynamic -C rpath")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .current_dir(root)
            .output()
            .expect("run cargo");
        assert!(out.status.success(), "the dynamic build failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("debug")
    })
}

/// A fresh plugins directory holding the example plugin's library (patched by `edit`).
fn plugins_dir(copies: &[&str], edit: impl Fn(Vec<u8>) -> Vec<u8>) -> PathBuf {
    let library = std::fs::read(dynamic_build().join("libhello_plugin.so")).expect("the example plugin's library");
    let dir = std::env::temp_dir().join(format!("tessera-plugins-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("plugins dir");
    for name in copies {
        std::fs::write(dir.join(name), edit(library.clone())).expect("copy library");
    }
    dir
}

/// Runs `tessera … plugins` of the dynamic build: (success, stdout + stderr).
fn list_plugins(dir: &Path) -> (bool, String) {
    let out = Command::new(dynamic_build().join("tessera"))
        .arg("--plugins-dir")
        .arg(dir)
        .arg("plugins")
        .env("NO_COLOR", "1")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run tessera");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn a_loaded_plugin_is_a_plugin_like_any_other(b: Backend) {
    let dir = plugins_dir(&["libhello_plugin.so"], |bytes| bytes);
    let dir_arg = dir.to_str().unwrap();
    let srv = Server::start_program(b, &dynamic_build().join("tessera"), &["--plugins-dir", dir_arg]).await;

    // Listed with its origin, merged into the document.
    let (ok, listed) = list_plugins(&dir);
    assert!(ok, "{listed}");
    let hello_line = listed.lines().find(|l| l.starts_with("hello\t")).unwrap_or_else(|| panic!("{listed}"));
    assert!(hello_line.contains("0.1.0") && hello_line.contains("libhello_plugin.so"), "{hello_line}");
    assert!(listed.lines().any(|l| l.starts_with("reseller\t0.1.0\tlinked")), "{listed}");
    let doc = srv.get_anon("/openapi.json").await;
    assert_eq!(doc.body["paths"]["/hello/v1/greetings"]["post"]["operationId"], "hello_greetings_create");
    assert!(doc.body["components"]["schemas"]["HelloGreeting"].is_object());

    // Refused until enabled for the tenant.
    let isp = srv.isp("acme").await;
    let greet = |name: &str| srv.json("POST", "/hello/v1/greetings", &isp.key, json!({ "name": name }));
    let refused = greet("Ada").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.body["error"].as_str().unwrap().contains("hello service is not available"), "{}", refused.text);
    srv.enable(&srv.admin_key, isp.tenant, "hello", true).await;

    // The database operation: stored, counted per tenant.
    let first = greet("Ada").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["message"], "Hello, Ada!");
    assert_eq!(first.body["times"], 1);
    assert_eq!(greet("Ada").await.body["times"], 2);
    let blank = greet("   ").await;
    assert_eq!(blank.status, 400);
    assert!(blank.body["error"].as_str().unwrap().contains("name"), "{}", blank.text);
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&srv.db_url).await.expect("connect");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hello_greetings WHERE name = 'Ada'")
        .fetch_one(&mut conn)
        .await
        .expect("the plugin's table");
    assert_eq!(stored, 2);

    // The tokio operation: a spawned task sleeping on the server's timer.
    let waited = srv.get("/hello/v1/wait?ms=120", &isp.key).await;
    assert_eq!(waited.status, 200, "{}", waited.text);
    assert!(waited.body["waited_ms"].as_i64().unwrap() >= 120, "{}", waited.text);

    // A panic in the plugin's handler fails that request only.
    let crashed = greet("panic").await;
    assert_eq!(crashed.status, 500, "{}", crashed.text);
    assert_eq!(greet("Ada").await.body["times"], 3, "the server serves on after a plugin panic");
    assert!(srv.log().contains("deliberate fault"), "the panic is in the log");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mismatched_libraries_are_refused_before_serving() {
    // A build description that differs from the server's, as one built against another core version has.
    let version = env!("CARGO_PKG_VERSION");
    let (ours, theirs) = (format!(";core={version};"), format!(";core={};", "9".repeat(version.len())));
    let tampered = plugins_dir(&["libhello_plugin.so"], |bytes| replace_all(bytes, ours.as_bytes(), theirs.as_bytes()));
    let (ok, text) = list_plugins(&tampered);
    assert!(!ok, "a tampered library must be refused: {text}");
    let named = format!("core: {} (server: {version})", "9".repeat(version.len()));
    assert!(text.contains(&named) && text.contains("cargo build"), "{text}");
    let out = Command::new(dynamic_build().join("tessera"))
        .args(["--plugins-dir", tampered.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &format!("sqlite://{}/t.db", tampered.display())])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run tessera");
    assert!(!out.status.success(), "the server does not start half-loaded");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    assert!(!tampered.join("t.db").exists(), "nothing is done before every plugin is loaded");

    // Two libraries declaring the same plugin name.
    let twice = plugins_dir(&["libhello_plugin.so", "libhello_copy.so"], |bytes| bytes);
    let (ok, text) = list_plugins(&twice);
    assert!(!ok && text.contains("plugin name `hello` is already taken"), "{text}");

    // A file that is not a plugin library.
    let junk = plugins_dir(&[], |bytes| bytes);
    std::fs::write(junk.join("libjunk.so"), b"not a library").unwrap();
    let (ok, text) = list_plugins(&junk);
    assert!(!ok && text.contains("libjunk.so: cannot be loaded"), "{text}");

    // A server whose core is linked in statically cannot load plugins at all, and says how to build one that can.
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--plugins-dir", twice.to_str().unwrap(), "plugins"])
        .output()
        .expect("run tessera");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("prefer-dynamic"), "{text}");
    for dir in [tampered, twice, junk] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn replace_all(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut found = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            found += 1;
        }
        i += 1;
    }
    assert!(found > 0, "the library holds its build description");
    bytes
}

/// The real plugins build as loadable libraries too: the registrar's library (built with its `loadable` feature)
/// passes the loader's checks and declares its plugin, which this server refuses only because it links one of the
/// same name.
#[test]
fn a_real_plugin_builds_as_a_loadable_library() {
    let library = std::fs::read(dynamic_build().join("libtessera_registrar_addons.so")).expect("the library");
    let dir = std::env::temp_dir().join(format!("tessera-plugins-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("plugins dir");
    std::fs::write(dir.join("libtessera_registrar_addons.so"), library).expect("copy library");
    let (ok, text) = list_plugins(&dir);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "libtessera_registrar_addons.so: its plugin name `registrar` is already taken by the plugin from linked"
        ),
        "{text}"
    );
}

both!(a_loaded_plugin_is_a_plugin_like_any_other);
