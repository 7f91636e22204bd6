//! The reseller plugin (mount `/reseller`): an ISP's resellers and franchisees, their wallets and ledger, served at
//! the paths and with the parameters of the ISP CRM reseller API.

mod api;
mod model;
mod store;

use tessera_core::outbox::EventType;
use tessera_core::{CoreResult, Manifest, Migrations, Permission, Plugin, PluginApi, PluginContext};

pub struct ResellerPlugin;

pub const NAME: &str = "reseller";

/// The event of every wallet move (top-up, settlement, adjustment).
pub const WALLET_MOVED: &str = "reseller.wallet.moved";

impl Plugin for ResellerPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: NAME,
            version: env!("CARGO_PKG_VERSION"),
            title: "Reseller",
            description: "ISP CRM: resellers and franchisees of an ISP, their wallets, ledger and commission.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![
            Permission { role: "reseller_viewer", object: "reseller:reseller", action: "read" },
            Permission { role: "reseller_viewer", object: "reseller:wallet", action: "read" },
            Permission { role: "reseller_cashier", object: "reseller:reseller", action: "read" },
            Permission { role: "reseller_cashier", object: "reseller:wallet", action: "read" },
            Permission { role: "reseller_cashier", object: "reseller:wallet", action: "update" },
        ]
    }

    fn events(&self) -> Vec<EventType> {
        vec![EventType {
            name: WALLET_MOVED,
            description: "A reseller's wallet moved (TopUp, Settlement or Adj): amount and balance after, decimal.",
        }]
    }

    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi> {
        Ok(PluginApi::new::<api::ErrorBody, _>(api::ResellerApi::new(ctx), &self.manifest()))
    }
}

#[cfg(feature = "loadable")]
tessera_core::export_plugin!(ResellerPlugin);
