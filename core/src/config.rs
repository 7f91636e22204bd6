//! Settings of a Tessera process. Loading (defaults → tessera.toml → TESSERA_* environment) lives in the binary; this
//! is the shape the core starts from. Secrets are wrapped so that Debug and logs never show them.

use std::fmt;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// A database URL with any password hidden in Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        match (s.find("://"), s.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let creds = &s[scheme + 3..at];
                let user = creds.split(':').next().unwrap_or("");
                write!(f, "\"{}{}:<redacted>{}\"", &s[..scheme + 3], user, &s[at..])
            }
            _ => write!(f, "{s:?}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: DatabaseUrl,
    pub max_connections: u32,
    /// Becomes the platform admin's API key on first start (automation, tests); otherwise a random key is printed once.
    pub admin_api_key: Option<Secret>,
    pub max_body_bytes: usize,
    /// Per-plugin settings, `[plugins.<name>]` in tessera.toml.
    pub plugins: serde_json::Map<String, serde_json::Value>,
    /// A directory of plugin libraries to load at start-up (see `loadable`).
    pub plugins_dir: Option<std::path::PathBuf>,
    /// Test only: serve `POST /_test/clock/advance?seconds=N` (platform admin) to move the clock forward, so
    /// expiry can be tested without sleeping. Never enable in production.
    pub test_clock: bool,
    /// Request rates per API key and per tenant, and the failed-login lock-out.
    pub limits: crate::limits::LimitSettings,
    /// Open connections at most, and the header-read and idle timeouts.
    pub connections: crate::conn::ConnectionSettings,
    /// `[smtp]`: where emails are sent; without it they are kept for admins to read.
    pub smtp: Option<crate::outbox::SmtpSettings>,
    /// Which addresses webhook deliveries may reach.
    pub webhook_targets: crate::outbox::WebhookTargets,
    /// Test only: registers probe jobs and serves `POST /_test/jobs/enqueue`. Never enable in production.
    pub test_jobs: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: DatabaseUrl("sqlite://tessera.db".into()),
            max_connections: 16,
            admin_api_key: None,
            max_body_bytes: 1 << 20,
            plugins: Default::default(),
            plugins_dir: None,
            test_clock: false,
            limits: Default::default(),
            connections: Default::default(),
            smtp: None,
            webhook_targets: Default::default(),
            test_jobs: false,
        }
    }
}
