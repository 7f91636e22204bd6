//! Configuration loading: defaults, then `tessera.toml` (or the file given with --config), then `TESSERA_*`
//! environment variables. Unknown keys are reported, not silently ignored.

use std::path::Path;

use tessera_core::config::{Config, DatabaseUrl, Secret};
use tessera_core::outbox::{SmtpSettings, SmtpTls, WebhookTargets};

const KEYS: [&str; 16] = [
    "listen",
    "database_url",
    "max_connections",
    "admin_api_key",
    "max_body_bytes",
    "plugins",
    "plugins_dir",
    "test_clock",
    "rate_limit_per_key",
    "rate_limit_per_tenant",
    "smtp",
    "webhook_targets",
    "test_jobs",
    "connection_limit",
    "header_read_timeout_seconds",
    "idle_timeout_seconds",
];

const SMTP_KEYS: [&str; 6] = ["host", "port", "from", "username", "password", "tls"];

pub struct Loaded {
    pub config: Config,
    /// Problems worth a warning (unknown keys), reported once logging is up.
    pub warnings: Vec<String>,
}

/// A positive number of seconds.
fn seconds(v: Option<i64>) -> Option<std::time::Duration> {
    v.filter(|s| *s > 0).map(|s| std::time::Duration::from_secs(s as u64))
}

/// `[smtp]` before its keys are read: port 587 with STARTTLS.
fn default_smtp() -> SmtpSettings {
    SmtpSettings {
        host: String::new(),
        port: 587,
        from: String::new(),
        username: None,
        password: None,
        tls: SmtpTls::StartTls,
    }
}

/// An `[smtp]` section must name the server and the sender.
fn check_smtp(config: &Config) -> Result<(), String> {
    match &config.smtp {
        Some(s) if s.host.is_empty() => Err("`smtp.host` (TESSERA_SMTP_HOST) is required with [smtp]".into()),
        Some(s) if s.from.is_empty() => Err("`smtp.from` (TESSERA_SMTP_FROM) is required with [smtp]".into()),
        _ => Ok(()),
    }
}

pub fn load(file: Option<&Path>) -> Result<Loaded, String> {
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let (path, required) = match file {
        Some(p) => (p.to_path_buf(), true),
        None => (Path::new("tessera.toml").to_path_buf(), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => apply_toml(&mut config, &text, &mut warnings).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {e}", path.display()))
        }
        Err(_) => {}
    }
    apply_env(&mut config, std::env::vars(), &mut warnings)?;
    check_smtp(&config)?;
    Ok(Loaded { config, warnings })
}

fn apply_toml(config: &mut Config, text: &str, warnings: &mut Vec<String>) -> Result<(), String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    for (key, value) in table {
        let bad = |what: &str| format!("`{key}` must be {what}");
        match key.as_str() {
            "listen" => config.listen = value.as_str().ok_or_else(|| bad("a string"))?.to_string(),
            "database_url" => config.database_url = DatabaseUrl(value.as_str().ok_or_else(|| bad("a string"))?.into()),
            "admin_api_key" => {
                config.admin_api_key = Some(Secret(value.as_str().ok_or_else(|| bad("a string"))?.into()))
            }
            "max_connections" => {
                config.max_connections =
                    value.as_integer().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad("a positive integer"))?
            }
            "max_body_bytes" => {
                config.max_body_bytes =
                    value.as_integer().and_then(|v| usize::try_from(v).ok()).ok_or_else(|| bad("a positive integer"))?
            }
            "rate_limit_per_key" => {
                config.limits.per_key =
                    value.as_integer().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad("a whole number ≥ 0"))?
            }
            "rate_limit_per_tenant" => {
                config.limits.per_tenant =
                    value.as_integer().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad("a whole number ≥ 0"))?
            }
            "connection_limit" => {
                config.connections.limit = value
                    .as_integer()
                    .and_then(|v| usize::try_from(v).ok())
                    .filter(|v| *v > 0)
                    .ok_or_else(|| bad("a positive integer"))?
            }
            "header_read_timeout_seconds" => {
                config.connections.header_read_timeout =
                    seconds(value.as_integer()).ok_or_else(|| bad("a positive integer"))?
            }
            "idle_timeout_seconds" => {
                config.connections.idle_timeout =
                    seconds(value.as_integer()).ok_or_else(|| bad("a positive integer"))?
            }
            "plugins_dir" => config.plugins_dir = Some(value.as_str().ok_or_else(|| bad("a string"))?.into()),
            "test_clock" => config.test_clock = value.as_bool().ok_or_else(|| bad("true or false"))?,
            "test_jobs" => config.test_jobs = value.as_bool().ok_or_else(|| bad("true or false"))?,
            "webhook_targets" => {
                config.webhook_targets = value
                    .as_str()
                    .and_then(WebhookTargets::parse)
                    .ok_or_else(|| bad("\"public\", \"loopback\" or \"any\""))?
            }
            "smtp" => {
                let table = value.as_table().ok_or_else(|| bad("a table"))?;
                let smtp = config.smtp.get_or_insert_with(default_smtp);
                for (k, v) in table {
                    let bad = |what: &str| format!("`smtp.{k}` must be {what}");
                    let text = || v.as_str().map(str::to_string).ok_or_else(|| bad("a string"));
                    match k.as_str() {
                        "host" => smtp.host = text()?,
                        "port" => {
                            smtp.port = v
                                .as_integer()
                                .and_then(|p| u16::try_from(p).ok())
                                .ok_or_else(|| bad("a port number"))?
                        }
                        "from" => smtp.from = text()?,
                        "username" => smtp.username = Some(text()?),
                        "password" => smtp.password = Some(Secret(text()?)),
                        "tls" => {
                            smtp.tls = v
                                .as_str()
                                .and_then(SmtpTls::parse)
                                .ok_or_else(|| bad("\"none\", \"starttls\" or \"tls\""))?
                        }
                        other => warnings.push(format!(
                            "unknown configuration key `smtp.{other}` (known: {})",
                            SMTP_KEYS.join(", ")
                        )),
                    }
                }
            }
            "plugins" => {
                let json = serde_json::to_value(&value).map_err(|e| e.to_string())?;
                config.plugins = json.as_object().cloned().ok_or_else(|| bad("a table of plugin tables"))?;
            }
            other => warnings.push(format!("unknown configuration key `{other}` (known: {})", KEYS.join(", "))),
        }
    }
    Ok(())
}

fn apply_env(
    config: &mut Config,
    vars: impl Iterator<Item = (String, String)>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    for (name, value) in vars {
        let Some(key) = name.strip_prefix("TESSERA_") else {
            continue;
        };
        let bad = |what: &str| format!("{name} must be {what}");
        match key {
            "LISTEN" => config.listen = value,
            "DATABASE_URL" => config.database_url = DatabaseUrl(value),
            "ADMIN_API_KEY" => config.admin_api_key = Some(Secret(value)),
            "MAX_CONNECTIONS" => config.max_connections = value.parse().map_err(|_| bad("a positive integer"))?,
            "MAX_BODY_BYTES" => config.max_body_bytes = value.parse().map_err(|_| bad("a positive integer"))?,
            "RATE_LIMIT_PER_KEY" => config.limits.per_key = value.parse().map_err(|_| bad("a whole number ≥ 0"))?,
            "RATE_LIMIT_PER_TENANT" => {
                config.limits.per_tenant = value.parse().map_err(|_| bad("a whole number ≥ 0"))?
            }
            "CONNECTION_LIMIT" => {
                config.connections.limit =
                    value.parse().ok().filter(|v| *v > 0).ok_or_else(|| bad("a positive integer"))?
            }
            "HEADER_READ_TIMEOUT_SECONDS" => {
                config.connections.header_read_timeout =
                    seconds(value.parse().ok()).ok_or_else(|| bad("a positive integer"))?
            }
            "IDLE_TIMEOUT_SECONDS" => {
                config.connections.idle_timeout =
                    seconds(value.parse().ok()).ok_or_else(|| bad("a positive integer"))?
            }
            "PLUGINS_DIR" => config.plugins_dir = Some(value.into()),
            "TEST_CLOCK" => config.test_clock = matches!(value.as_str(), "1" | "true"),
            "TEST_JOBS" => config.test_jobs = matches!(value.as_str(), "1" | "true"),
            "WEBHOOK_TARGETS" => {
                config.webhook_targets = WebhookTargets::parse(&value).ok_or_else(|| bad("public, loopback or any"))?
            }
            "SMTP_HOST" => config.smtp.get_or_insert_with(default_smtp).host = value,
            "SMTP_PORT" => {
                config.smtp.get_or_insert_with(default_smtp).port = value.parse().map_err(|_| bad("a port number"))?
            }
            "SMTP_FROM" => config.smtp.get_or_insert_with(default_smtp).from = value,
            "SMTP_USERNAME" => config.smtp.get_or_insert_with(default_smtp).username = Some(value),
            "SMTP_PASSWORD" => config.smtp.get_or_insert_with(default_smtp).password = Some(Secret(value)),
            "SMTP_TLS" => {
                config.smtp.get_or_insert_with(default_smtp).tls =
                    SmtpTls::parse(&value).ok_or_else(|| bad("none, starttls or tls"))?
            }
            // Read by the log set-up and by the test suite, not configuration keys.
            "LOG" | "TEST_DATABASE_URL" | "TEST_BACKENDS" => {}
            other => warnings.push(format!("unknown environment variable TESSERA_{other}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_unknown_keys_are_reported() {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        apply_toml(&mut config, "listen = \"0.0.0.0:9000\"\nmax_connections = 4\ncolour = 1\n", &mut warnings).unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000");
        assert_eq!(config.max_connections, 4);
        let env = vec![("TESSERA_LISTEN".to_string(), "127.0.0.1:1".to_string()), ("TESSERA_BOGUS".into(), "x".into())];
        apply_env(&mut config, env.into_iter(), &mut warnings).unwrap();
        assert_eq!(config.listen, "127.0.0.1:1");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("colour") && warnings[1].contains("TESSERA_BOGUS"));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut config = Config::default();
        config.admin_api_key = Some(Secret("tsk_supersecret".into()));
        config.database_url = DatabaseUrl("postgres://app:hunter2@db:5432/tessera".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("supersecret") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:<redacted>@db:5432/tessera"), "{shown}");
    }

    #[test]
    fn smtp_settings_from_file_and_environment() {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        let text =
            "webhook_targets = \"loopback\"\n[smtp]\nhost = \"mail.example\"\nfrom = \"Tessera <n@example.com>\"\n\
                    tls = \"tls\"\nport = 465\npassword = \"hunter2\"\ncolour = 1\n";
        apply_toml(&mut config, text, &mut warnings).unwrap();
        let env = vec![("TESSERA_SMTP_USERNAME".to_string(), "mailer".to_string())];
        apply_env(&mut config, env.into_iter(), &mut warnings).unwrap();
        let smtp = config.smtp.clone().unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port, smtp.tls), ("mail.example", 465, SmtpTls::Tls));
        assert_eq!(smtp.username.as_deref(), Some("mailer"));
        assert_eq!(config.webhook_targets, WebhookTargets::Loopback);
        assert!(warnings.len() == 1 && warnings[0].contains("smtp.colour"), "{warnings:?}");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(check_smtp(&config).is_ok());
        let err = apply_toml(&mut config, "[smtp]\ntls = \"ssl\"", &mut warnings).unwrap_err();
        assert!(err.contains("smtp.tls"), "{err}");
        let mut half = Config::default();
        apply_env(&mut half, vec![("TESSERA_SMTP_HOST".to_string(), "h".to_string())].into_iter(), &mut warnings)
            .unwrap();
        assert!(check_smtp(&half).unwrap_err().contains("smtp.from"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut config = Config::default();
        let err = apply_toml(&mut config, "max_connections = \"many\"", &mut Vec::new()).unwrap_err();
        assert!(err.contains("max_connections"), "{err}");
    }
}
