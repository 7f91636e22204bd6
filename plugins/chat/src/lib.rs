//! The chat plugin (mount `/chat`): live-chat addon administration for organisations — access tokens, operators,
//! domains and operator assignments — at the paths and with the fields of the chat addon admin API.

mod api;
mod model;
mod store;

use tessera_core::events::Change;
use tessera_core::outbox::EventType;
use tessera_core::{CoreResult, Manifest, Migrations, Permission, Plugin, PluginApi, PluginContext};

/// The plugin and what it caches: the sessions of access tokens, dropped when another instance revokes them.
pub struct ChatPlugin {
    sessions: api::Sessions,
}

impl Default for ChatPlugin {
    fn default() -> Self {
        ChatPlugin { sessions: api::sessions() }
    }
}

pub const NAME: &str = "chat";

/// The event of an addon disabled (its tokens stopped working).
pub const ADDON_DISABLED: &str = "chat.addon.disabled";

#[tessera_core::async_trait]
impl Plugin for ChatPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: NAME,
            version: env!("CARGO_PKG_VERSION"),
            title: "Chat",
            description: "Live-chat addon administration: organisation access tokens, operators, domains, assignments.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    fn permissions(&self) -> Vec<Permission> {
        // chat_admin: an organisation's chat owner, who logs in for tokens and runs operators, domains, assignments.
        let mut grants = vec![Permission { role: "chat_admin", object: "chat:token", action: "create" }];
        for object in ["chat:operator", "chat:domain", "chat:assignment"] {
            for action in ["create", "read", "update"] {
                grants.push(Permission { role: "chat_admin", object, action });
            }
        }
        grants.push(Permission { role: "chat_admin", object: "chat:addon", action: "read" });
        grants
    }

    fn events(&self) -> Vec<EventType> {
        vec![EventType { name: ADDON_DISABLED, description: "A chat addon was disabled; its tokens stopped working." }]
    }

    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi> {
        let api = api::ChatApi::new(ctx, self.sessions.clone())?;
        Ok(PluginApi::new::<api::ErrorBody, _>(api, &self.manifest()))
    }

    /// Tokens revoked by other instances (their hash is the key), or everything after the listener reconnected.
    async fn on_change(&self, change: &Change) {
        match change {
            Change::Plugin { plugin, key } if plugin == NAME => self.sessions.invalidate(key).await,
            Change::All => self.sessions.invalidate_all(),
            _ => {}
        }
    }
}

#[cfg(feature = "loadable")]
tessera_core::export_plugin!(ChatPlugin::default());
