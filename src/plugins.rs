//! The plugins this binary serves: those linked in (each behind its cargo feature) and those loaded from the plugins
//! directory at start-up.

use std::path::Path;
use std::sync::Arc;

use tessera_core::Plugin;

/// A plugin and where it comes from: `linked`, or the path of its library.
pub struct Served {
    pub plugin: Arc<dyn Plugin>,
    pub origin: String,
}

pub fn linked() -> Vec<Arc<dyn Plugin>> {
    #[allow(unused_mut)]
    let mut plugins: Vec<Arc<dyn Plugin>> = Vec::new();
    #[cfg(feature = "reseller")]
    plugins.push(Arc::new(tessera_reseller::ResellerPlugin));
    #[cfg(feature = "chat")]
    plugins.push(Arc::new(tessera_chat::ChatPlugin::default()));
    #[cfg(feature = "registrar-addons")]
    plugins.push(Arc::new(tessera_registrar_addons::RegistrarPlugin));
    #[cfg(feature = "mlm")]
    plugins.push(Arc::new(tessera_mlm::MlmPlugin));
    #[cfg(feature = "billing")]
    plugins.push(Arc::new(tessera_billing::BillingPlugin::default()));
    plugins
}

/// The linked plugins, then those of `dir`. Fails as a whole, before anything is served, when a library cannot be
/// loaded or a plugin's name is taken.
pub fn all(dir: Option<&Path>) -> Result<Vec<Served>, String> {
    let mut served: Vec<Served> =
        linked().into_iter().map(|plugin| Served { plugin, origin: "linked".into() }).collect();
    let Some(dir) = dir else {
        return Ok(served);
    };
    for loaded in tessera_core::loadable::load_dir(dir)? {
        let origin = loaded.path.display().to_string();
        admit(&served, loaded.plugin.manifest().name, &origin)?;
        served.push(Served { plugin: loaded.plugin, origin });
    }
    Ok(served)
}

/// A plugin name serves one plugin: its mount, tag, tables and roles all derive from it.
fn admit(served: &[Served], name: &str, origin: &str) -> Result<(), String> {
    match served.iter().find(|s| s.plugin.manifest().name == name) {
        Some(taken) => Err(format!(
            "{origin}: its plugin name `{name}` is already taken by the plugin from {}; rename one of them",
            taken.origin
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "reseller")]
    fn a_name_clashing_with_a_linked_plugin_is_refused() {
        let served = all(None).unwrap();
        let err = admit(&served, "reseller", "/srv/plugins/libother.so").unwrap_err();
        assert_eq!(
            err,
            "/srv/plugins/libother.so: its plugin name `reseller` is already taken by the plugin from linked; rename \
             one of them"
        );
        assert!(admit(&served, "unheard-of", "/srv/plugins/libnew.so").is_ok());
    }
}
