//! The mlm plugin (mount `/mlm`): the network-marketing member API of a business (an organisation tenant) — members
//! in a binary tree, their profiles, e-wallet and e-pins, membership and cart packages — at the seed's paths, and the
//! admin operations the business runs it with.

mod api;
// Public for the benchmark (bench/storage), which runs the plugin's own statements at a scale no test reaches.
pub mod model;
pub mod store;

use std::time::Duration;

use tessera_core::jobs::{handler, Job, JobRun};
use tessera_core::{CoreResult, Manifest, Migrations, Permission, Plugin, PluginApi, PluginContext};

pub struct MlmPlugin;

pub const NAME: &str = "mlm";

#[tessera_core::async_trait]
impl Plugin for MlmPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: NAME,
            version: env!("CARGO_PKG_VERSION"),
            title: "MLM",
            description: "Network marketing: binary-tree members, e-wallet, e-pins, packages, cart and checkout.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![
            // mlm_app: the business's app (its service principal's key is the seed's `api_key`).
            Permission { role: "mlm_app", object: "mlm:app", action: "use" },
            // mlm_admin: runs the business: settings, packages, members, e-wallets, e-pins.
            Permission { role: "mlm_admin", object: "mlm:admin", action: "read" },
            Permission { role: "mlm_admin", object: "mlm:admin", action: "update" },
        ]
    }

    /// Every hour, yesterday's compensation of every business whose plan pays anything, once per period.
    fn jobs(&self, ctx: &PluginContext) -> Vec<Job> {
        let ctx = ctx.clone();
        let run = handler(move |_: JobRun| {
            let ctx = ctx.clone();
            async move { api::compensation_job(&ctx).await }
        });
        vec![Job::every("mlm.compensation", Duration::from_secs(3600), run)]
    }

    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi> {
        Ok(PluginApi::new::<api::ErrorBody, _>(api::MlmApi::new(ctx)?, &self.manifest()))
    }
}

#[cfg(feature = "loadable")]
tessera_core::export_plugin!(MlmPlugin);
