//! The plugins linked into this binary: the one place that lists them, each behind its cargo feature.

use std::sync::Arc;

use tessera_core::Plugin;

pub fn linked() -> Vec<Arc<dyn Plugin>> {
    #[allow(unused_mut)]
    let mut plugins: Vec<Arc<dyn Plugin>> = Vec::new();
    #[cfg(feature = "reseller")]
    plugins.push(Arc::new(tessera_reseller::ResellerPlugin));
    #[cfg(feature = "chat")]
    plugins.push(Arc::new(tessera_chat::ChatPlugin));
    #[cfg(feature = "registrar-addons")]
    plugins.push(Arc::new(tessera_registrar_addons::RegistrarPlugin));
    plugins
}
