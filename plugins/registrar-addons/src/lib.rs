//! The registrar-addons plugin (mount `/registrar`): a domain registrar's reseller API for customers, customer login
//! tokens, and CodeGuard / SiteLock orders and plan changes, at the seed's paths with the seed's parameter names.

mod api;
mod model;
mod store;

use tessera_core::outbox::EventType;
use tessera_core::{CoreResult, Manifest, Migrations, Permission, Plugin, PluginApi, PluginContext};

pub struct RegistrarPlugin;

pub const NAME: &str = "registrar";

/// The events of CodeGuard and SiteLock orders.
pub const ORDER_CREATED: &str = "registrar.order.created";
pub const ORDER_MODIFIED: &str = "registrar.order.modified";

impl Plugin for RegistrarPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: NAME,
            version: env!("CARGO_PKG_VERSION"),
            title: "Registrar add-ons",
            description: "Domain-registrar reseller API: customers, login tokens, CodeGuard and SiteLock plan changes.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    fn permissions(&self) -> Vec<Permission> {
        let mut grants = Vec::new();
        for object in ["registrar:customer", "registrar:order", "registrar:plan"] {
            grants.push(Permission { role: "registrar_viewer", object, action: "read" });
        }
        grants
    }

    fn events(&self) -> Vec<EventType> {
        vec![
            EventType { name: ORDER_CREATED, description: "A CodeGuard or SiteLock order was bought for a customer." },
            EventType { name: ORDER_MODIFIED, description: "A CodeGuard or SiteLock order was moved to another plan." },
        ]
    }

    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi> {
        Ok(PluginApi::new::<api::ErrorBody, _>(api::RegistrarApi::new(ctx)?, &self.manifest()))
    }
}

#[cfg(feature = "loadable")]
tessera_core::export_plugin!(RegistrarPlugin);
