//! The `tessera` binary: command line, configuration, and the plugins it serves.

/// mimalloc: the request path allocates many small, short-lived objects (rows, JSON, futures), and glibc's malloc
/// cost a fifth of the CPU of a listing (bench/RESULTS.md). Not in the dynamic build, where plugin libraries and the
/// core free each other's memory with the system allocator.
#[cfg(not(tessera_dynamic))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod plugins;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tessera_core::{server, Db};

#[derive(Parser)]
#[command(name = "tessera", version, about = "Multi-tenant SaaS server with per-tenant plugins")]
struct Cli {
    /// Configuration file (default: ./tessera.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Load every plugin library in this directory (overrides the configuration's `plugins_dir`).
    #[arg(long, global = true)]
    plugins_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve HTTP (the default).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (overrides the configuration).
        #[arg(long)]
        listen: Option<String>,
        /// Database URL: sqlite://FILE or postgres://… (overrides the configuration).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply the core's and every plugin's migrations, then exit.
    Migrate,
    /// Print the merged OpenAPI document.
    Openapi,
    /// List the plugins this binary serves.
    Plugins,
    /// Benchmark floor: a bare poem hello-world on the given address, no middleware, no database.
    #[command(hide = true)]
    Floor {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let loaded = match config::load(cli.config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tessera: configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut config = loaded.config;
    if cli.plugins_dir.is_some() {
        config.plugins_dir = cli.plugins_dir;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve { listen: None, database_url: None }), config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("tessera: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: tessera_core::Config) -> Result<(), String> {
    let served = plugins::all(config.plugins_dir.as_deref())?;
    let origins: Vec<String> = served.iter().map(|s| s.origin.clone()).collect();
    let plugins: Vec<_> = served.into_iter().map(|s| s.plugin).collect();
    match command {
        Command::Serve { listen, database_url } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            if let Some(u) = database_url {
                config.database_url = tessera_core::config::DatabaseUrl(u);
            }
            let tessera = server::start(&config, plugins).await.map_err(|e| detail(&e))?;
            if let Some(key) = &tessera.bootstrap_key {
                // Shown once, on the terminal only (never in the log): store it now.
                println!("platform admin API key (shown once): {key}");
            }
            server::serve(tessera, &config.listen, |addr| {
                println!("listening on http://{addr}");
                let _ = std::io::stdout().flush();
            })
            .await
            .map_err(|e| format!("cannot serve on {}: {e}", config.listen))
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url.0, 2).await.map_err(|e| detail(&e))?;
            server::migrate(&db, &plugins).await.map_err(|e| detail(&e))?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            // Built on a throw-away database, so the document never depends on local state.
            let dir = std::env::temp_dir().join(format!("tessera-openapi-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            config.database_url = tessera_core::config::DatabaseUrl(format!("sqlite://{}/doc.db", dir.display()));
            config.admin_api_key = None;
            let started = server::start(&config, plugins).await.map_err(|e| detail(&e));
            let _ = std::fs::remove_dir_all(&dir);
            let doc = serde_json::to_string_pretty(&started?.document).map_err(|e| e.to_string())?;
            println!("{doc}");
            Ok(())
        }
        Command::Floor { listen } => {
            let app = poem::Route::new().at("/", poem::endpoint::make_sync(|_| "hello"));
            println!("listening on http://{listen}");
            poem::Server::new(poem::listener::TcpListener::bind(listen)).run(app).await.map_err(|e| e.to_string())
        }
        Command::Plugins => {
            for (p, origin) in plugins.iter().zip(&origins) {
                let m = p.manifest();
                println!("{}\t{}\t{origin}\t{}", m.name, m.version, m.title);
            }
            Ok(())
        }
    }
}

/// The full message of a start-up error (the internal ones included: this is the operator's terminal).
fn detail(e: &tessera_core::CoreError) -> String {
    match e {
        tessera_core::CoreError::Internal(cause) => cause.clone(),
        other => other.to_string(),
    }
}
