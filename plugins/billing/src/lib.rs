//! The billing plugin (mount `/billing`): the hosting-billing API of a business (an organisation tenant) — its
//! staff and their groups, its clients — through the seed's legacy entry point and as typed operations.

mod api;
pub mod model;
pub mod store;

use tessera_core::events::Change;
use tessera_core::{CoreResult, Manifest, Migrations, Permission, Plugin, PluginApi, PluginContext};

/// The plugin and what it caches: the passwords checked per principal, dropped when another instance changes one.
pub struct BillingPlugin {
    passwords: api::Passwords,
}

impl Default for BillingPlugin {
    fn default() -> Self {
        BillingPlugin { passwords: api::Passwords::default() }
    }
}

pub const NAME: &str = "billing";

#[tessera_core::async_trait]
impl Plugin for BillingPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: NAME,
            version: env!("CARGO_PKG_VERSION"),
            title: "Billing",
            description: "Hosting billing: staff and their groups, clients, the catalogue, orders, invoices, balances.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    /// Staff permissions are the rules of their groups' roles (`billing_group_<id>`), written while the plugin runs;
    /// the one static grant is the setup of a business's first staff member.
    fn permissions(&self) -> Vec<Permission> {
        vec![Permission { role: "billing_admin", object: "billing:setup", action: "create" }]
    }

    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi> {
        let api = api::BillingApi::new(ctx, self.passwords.clone());
        Ok(PluginApi::new::<api::ErrorBody, _>(api, &self.manifest()))
    }

    /// Passwords changed on other instances (the principal is the key), or everything after the listener reconnected.
    async fn on_change(&self, change: &Change) {
        match change {
            Change::Plugin { plugin, key } if plugin == NAME => {
                if let Ok(principal) = key.parse::<i64>() {
                    self.passwords.forget(principal).await;
                }
            }
            Change::All => self.passwords.forget_all(),
            _ => {}
        }
    }
}

#[cfg(feature = "loadable")]
tessera_core::export_plugin!(BillingPlugin::default());
