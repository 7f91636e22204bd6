//! An example Tessera plugin, written as a third party would write one. The same source builds an rlib (link it
//! into a server by adding it to the server's `src/plugins.rs`) and a dylib (drop it into the directory given to
//! `tessera serve --plugins-dir`). It has its own migrations, one permission and two operations under `/hello`:
//!
//! - `POST /hello/v1/greetings` reads and writes its table: it records a greeting and says how often that name was
//!   greeted in the caller's tenant.
//! - `GET /hello/v1/wait?ms=` uses tokio: a spawned task sleeps on the server's timer and reports back.
//!
//! Greeting the name `panic` panics on purpose, so that the server's handling of a faulty plugin can be seen: that
//! one request answers 500 and the server goes on serving.

//! The files read like those of every plugin: `lib.rs` (this: what the plugin declares), `api.rs` (operations and
//! wire types), `store.rs` (all of its SQL).

mod api;
mod store;

use tessera_core::{CoreResult, Manifest, Migrations, Permission, Plugin, PluginApi, PluginContext};

pub struct HelloPlugin;

impl Plugin for HelloPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: "hello",
            version: env!("CARGO_PKG_VERSION"),
            title: "Hello",
            description: "An example plugin: greetings stored per tenant, and a wait on the server's timer.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission { role: "hello_user", object: "hello:greeting", action: "*" }]
    }

    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi> {
        Ok(PluginApi::new::<api::HelloError, _>(api::HelloApi::new(ctx), &self.manifest()))
    }
}

tessera_core::export_plugin!(HelloPlugin);
