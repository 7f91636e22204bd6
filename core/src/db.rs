//! Storage plumbing: the pools over SQLite or PostgreSQL, chosen by the URL (the writer, single-row reads and the
//! listings' `Reader`), and the migration runner that applies the core's and every plugin's migration sets, each in
//! its own migrations table.
//!
//! SQL conventions (one text serves both backends): `$n` placeholders, one statement per query, BIGINT ids and epoch
//! milliseconds, money as BIGINT minor units, booleans as INTEGER 0/1 read as i64, sums cast to BIGINT. A tenant
//! subtree is the path range `path >= $p AND path < $end` (`tenancy::subtree`; paths are `COLLATE "C"` on PostgreSQL), which
//! searches the path index, never `path LIKE $n`: SQLite prepares a statement again on every run when a LIKE pattern
//! is a bound parameter (its LIKE optimisation).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions};

use crate::error::{CoreError, CoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> CoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(CoreError::invalid("database_url", "must start with sqlite:// or postgres://"))
        }
    }
}

/// A migration set for both backends. Plugins build it with `sqlx::migrate!` on their two folders.
pub struct Migrations {
    pub sqlite: Migrator,
    pub postgres: Migrator,
}

/// A pooled connection idle this long is pinged before it is handed out again.
const STALE_AFTER_IDLE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Db {
    /// Single-row reads: one SQL text and one connection type for both backends. On SQLite its connections are
    /// `query_only`, so a write that does not go through `writer` fails in every test instead of racing the writer.
    pub pool: AnyPool,
    /// Every write: transactions (`Db::begin`) and single autocommit statements. On SQLite this is ONE connection,
    /// and waiting for it is a queue served in arrival order (sqlx's pool is fair): SQLite lets one writer in at a
    /// time, and writers queued here take turns without sleeping in SQLite's busy handler, which let a late writer in
    /// before one that had slept longer (bench/RESULTS.md, fourth round). On PostgreSQL it is `pool` itself.
    pub writer: AnyPool,
    /// Listings: see `Reader`.
    pub reader: Reader,
    pub backend: Backend,
    /// SQLite: the task that checkpoints the WAL off the commit path (see `Checkpointer`); it stops with the last
    /// clone of the `Db`.
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> CoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            // WAL for concurrent readers; create the file on first start; wait on a busy writer instead of failing.
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let mut opts =
            AnyConnectOptions::from_str(&url).map_err(|e| CoreError::invalid("database_url", e.to_string()))?;
        opts = opts.log_statements(tracing::log::LevelFilter::Trace);
        // `max_connections` bounds the instance's connections to PostgreSQL, a server's limited resource: half for
        // writes and single-row reads (two at least: start-up holds one for its lock while migrating on another), the
        // rest for listings. SQLite's connections are files of this process: one writer, up to 8 of each reader.
        let mut checkpointer = None;
        let (writer, pool, reads) = match backend {
            Backend::Sqlite => {
                // The writer first: it creates the file the others open.
                let writer = any_pool(opts.clone(), backend, 1, false).await?;
                checkpointer = Some(std::sync::Arc::new(Checkpointer::start(&url).await?));
                (writer, any_pool(opts, backend, 8, true).await?, 8)
            }
            Backend::Postgres => {
                let writes = (max_connections / 2).max(2);
                let pool = any_pool(opts, backend, writes, false).await?;
                (pool.clone(), pool, max_connections.saturating_sub(writes).max(1))
            }
        };
        let reader = Reader::connect(&url, backend, reads).await?;
        Ok(Db { pool, writer, reader, backend, _checkpointer: checkpointer })
    }

    /// Begins a write transaction on the writer. On SQLite it takes the write lock at BEGIN (`BEGIN IMMEDIATE`): a
    /// deferred transaction that reads first and writes later fails at once, without waiting (SQLITE_BUSY_SNAPSHOT),
    /// when another writer — another process on the same file — committed in between. PostgreSQL begins as usual.
    /// Every transaction of the core and the plugins begins here; none may begin another before it ends (on SQLite
    /// the second would wait for the writer the first holds).
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Applies migration sets in order on ONE connection: on PostgreSQL the migrator's advisory lock is per session and
    /// re-entrant, and a failed run keeps it, so every set shares the session and the locks are dropped on error.
    pub async fn migrate(&self, sets: &[(&str, &Migrations)]) -> CoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        for (name, set) in sets {
            let base = match self.backend {
                Backend::Sqlite => &set.sqlite,
                Backend::Postgres => &set.postgres,
            };
            let mut migrator = Migrator::with_migrations(base.iter().cloned().collect());
            migrator.dangerous_set_table_name(format!("_migrations_{}", name.replace('-', "_")));
            if let Err(e) = migrator.run(&mut *conn).await {
                if self.backend == Backend::Postgres {
                    let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *conn).await;
                }
                return Err(CoreError::internal(format!("migrations of {name} failed: {e}")));
            }
        }
        Ok(())
    }

    /// True when every migration of every set is recorded as applied.
    pub async fn migrations_applied(&self, sets: &[(&str, &Migrations)]) -> CoreResult<bool> {
        for (name, set) in sets {
            let expected = match self.backend {
                Backend::Sqlite => set.sqlite.iter().count(),
                Backend::Postgres => set.postgres.iter().count(),
            } as i64;
            let table = format!("_migrations_{}", name.replace('-', "_"));
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE success");
            let applied: Result<i64, _> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await;
            match applied {
                Ok(n) if n >= expected => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// A LIKE pattern matching `s` anywhere, lowercased, with `\` as the escape character (use `ESCAPE '\'`), so a
/// search for "50%" or "a_b" finds exactly that.
pub fn contains_pattern(s: &str) -> String {
    let escaped = s.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Now, as epoch milliseconds (the one representation of instants in storage). Every expiry and timestamp of the
/// core and the plugins reads this one clock, so tests can move it (see `advance_clock`).
pub fn now_ms() -> i64 {
    let wall =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    wall + CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Moves this process's clock forward. Reachable over HTTP only when the server runs with `test_clock` enabled.
pub fn advance_clock(ms: i64) {
    CLOCK_OFFSET_MS.fetch_add(ms.max(0), std::sync::atomic::Ordering::Relaxed);
}

/// The check of a pooled connection before it is handed out. sqlx pings every connection on every acquire by default
/// (`test_before_acquire`): a round trip to SQLite's worker thread or to PostgreSQL before each query, a third of the
/// hand-offs of a one-query request. Only a connection idle long enough to have been dropped by the server (or a
/// proxy) is pinged.
fn ping_if_stale<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if meta.idle_for >= STALE_AFTER_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// An Any pool with Tessera's connection settings; `query_only` refuses writes on SQLite.
async fn any_pool(opts: AnyConnectOptions, backend: Backend, max: u32, query_only: bool) -> CoreResult<AnyPool> {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(ping_if_stale)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    if query_only {
                        sqlx::query("PRAGMA query_only = ON").execute(&mut *conn).await?;
                    } else {
                        // The `Checkpointer` copies the WAL back instead of the committing writer.
                        sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .map_err(|e| CoreError::internal(format!("cannot connect to the database: {e}")))
}

/// SQLite's WAL checkpoints, taken off the commit path. By default the connection whose commit brings the WAL past
/// 1,000 pages copies it back into the database file and syncs it before its commit returns: one write in fifty
/// waited for it, the p99 and the maximum of every write (bench/RESULTS.md, "The mlm genealogy at scale"). The writer
/// runs with automatic checkpoints off, and this task, on a connection of its own, runs a PASSIVE checkpoint every
/// `CHECKPOINT_EVERY`: it copies what no reader still needs and waits for no one, and writers go on appending to the
/// WAL meanwhile. Durability is unchanged: a commit is durable in the WAL (synchronous=FULL) either way.
///
/// Under writes without pause a passive checkpoint never catches the writer, and the WAL is only started over after
/// a checkpoint that copied all of it: it would grow without end (a bulk load took it to 370 MB). So once the WAL
/// holds `RESTART_FRAMES`, the task runs a RESTART checkpoint right after a passive one: it waits for the readers and
/// the writer in flight (up to the busy timeout), holds the next writer while it copies the few frames written since,
/// and the WAL is then written again from its start: the file stays near `RESTART_FRAMES` pages. Measured against
/// checkpoints on commit (bench/RESULTS.md): writes' p99 from 6.1–6.4 ms to 3.8–4.2 ms, their maximum from 7.7 to
/// 20 ms (the restarts), single-row reads' p99 from 0.5 to 1.4 ms.
struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_millis(20);
const RESTART_FRAMES: i64 = 10_000;

impl Checkpointer {
    async fn start(url: &str) -> CoreResult<Self> {
        use sqlx::Connection;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(|e| CoreError::invalid("database_url", e.to_string()))?
            .busy_timeout(Duration::from_secs(10))
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| CoreError::internal(format!("cannot connect the checkpointer: {e}")))?;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // (busy, frames in the WAL, frames copied back)
                let passive: Result<(i64, i64, i64), _> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await;
                let result = match passive {
                    Ok((_, frames, _)) if frames >= RESTART_FRAMES => {
                        sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&mut conn).await.map(|_| ())
                    }
                    other => other.map(|_| ()),
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
                }
            }
        });
        Ok(Checkpointer { task })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The pool every listing reads through: the backend's own sqlx driver over read-only connections. The Any driver
/// copies every value of every row once more into its own row type, a fifth of a listing's storage instructions
/// (bench/RESULTS.md, third round); a listing is a read, so it needs none of what the Any pool gives writes (one
/// transaction type for both backends). Writes stay on `Db::writer`, single-row reads on `Db::pool`. Both pools see every
/// committed write at once (SQLite in WAL mode starts each read at the latest commit; PostgreSQL reads committed).
#[derive(Clone)]
pub enum Reader {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Reader {
    async fn connect(url: &str, backend: Backend, max_connections: u32) -> CoreResult<Self> {
        let invalid = |e: sqlx::Error| CoreError::invalid("database_url", e.to_string());
        let cannot = |e: sqlx::Error| CoreError::internal(format!("cannot connect the read pool: {e}"));
        Ok(match backend {
            Backend::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(invalid)?
                    // Not `read_only`: a read-only connection cannot create the WAL index file when no writer has
                    // the database open. `query_only` refuses writes all the same.
                    .pragma("query_only", "ON")
                    .busy_timeout(Duration::from_secs(10))
                    .log_statements(tracing::log::LevelFilter::Trace);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .test_before_acquire(false)
                    .connect_lazy_with(opts);
                Reader::Sqlite(pool)
            }
            Backend::Postgres => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(url)
                    .map_err(invalid)?
                    .options([("default_transaction_read_only", "on")])
                    .log_statements(tracing::log::LevelFilter::Trace);
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .test_before_acquire(false)
                    .before_acquire(ping_if_stale)
                    .connect_with(opts)
                    .await
                    .map_err(cannot)?;
                Reader::Postgres(pool)
            }
        })
    }
}

/// A value bound to a listing statement, kept until the statement runs on the backend's driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}

impl From<crate::types::Flag> for Value {
    fn from(v: crate::types::Flag) -> Self {
        Value::Int(Some(v.0 as i64))
    }
}

/// A row type a listing can read on either backend's driver (what `#[derive(sqlx::FromRow)]` gives a struct whose
/// fields decode on both).
pub trait ListRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin
{
}

impl<T> ListRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// A listing statement assembled from fixed SQL and bound values, for the queries whose filters depend on the
/// request: SQL enters only as `&'static str` (a fixed condition, a column from a whitelist), every value — filters,
/// LIMIT, OFFSET — as a `$n` parameter. It runs on the `Reader`, the backend's own driver: this is how every listing
/// of the core and the plugins reads its rows.
pub struct Sql {
    text: String,
    args: Vec<Value>,
}

impl Sql {
    pub fn new(text: &'static str) -> Self {
        Sql { text: text.to_string(), args: Vec::new() }
    }

    pub fn push(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds `value` to the next placeholder a fixed text already holds (`$1`, `$2`, … in order).
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub fn push_bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.args.push(value.into());
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    /// ` AND <text>$n` when there is a value; nothing otherwise.
    pub fn and<V: Into<Value>>(&mut self, text: &'static str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.push(" AND ").push(text).push_bind(v);
        }
        self
    }

    /// ` LIMIT $n OFFSET $m`.
    pub fn page(&mut self, page: crate::types::Paging) -> &mut Self {
        self.push(" LIMIT ").push_bind(page.limit).push(" OFFSET ").push_bind(page.offset)
    }

    /// The statement's text (for tests; it holds no values).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many values are bound.
    pub fn bound(&self) -> usize {
        self.args.len()
    }

    pub async fn fetch_all<O: ListRow>(self, reader: &Reader) -> CoreResult<Vec<O>> {
        macro_rules! run {
            ($db:ty, $pool:expr) => {{
                let mut q = sqlx::query_as::<$db, O>(sqlx::AssertSqlSafe(self.text));
                for v in self.args {
                    q = match v {
                        Value::Int(v) => q.bind(v),
                        Value::Text(v) => q.bind(v),
                    };
                }
                q.fetch_all($pool).await?
            }};
        }
        Ok(match reader {
            Reader::Sqlite(pool) => run!(sqlx::Sqlite, pool),
            Reader::Postgres(pool) => run!(sqlx::Postgres, pool),
        })
    }

    /// The one number a `SELECT COUNT(*) …` answers.
    pub async fn fetch_count(self, reader: &Reader) -> CoreResult<i64> {
        let (count,): (i64,) = {
            let mut rows: Vec<(i64,)> = self.fetch_all(reader).await?;
            rows.pop().ok_or_else(|| CoreError::internal("a count answered no row"))?
        };
        Ok(count)
    }
}

#[cfg(test)]
mod sql_tests {
    use super::Sql;
    use crate::types::Paging;

    /// Request text reaches the statement only as bound values; LIMIT and OFFSET are bound too.
    #[test]
    fn values_are_bound_and_placeholders_numbered() {
        let mut q = Sql::new("SELECT id FROM t WHERE tenant_id = ");
        q.push_bind(7_i64).and("name = ", Some("x'; DROP TABLE t; --")).and("kind = ", None::<&str>);
        q.push(" ORDER BY id").page(Paging { limit: 10, offset: 20 });
        assert_eq!(q.text(), "SELECT id FROM t WHERE tenant_id = $1 AND name = $2 ORDER BY id LIMIT $3 OFFSET $4");
        assert_eq!(q.bound(), 4);
    }
}

#[cfg(test)]
mod transaction_tests {
    use super::Db;

    async fn scratch(name: &str) -> (Db, std::path::PathBuf) {
        let file = std::env::temp_dir().join(format!("tessera-{name}-{}-{}.db", std::process::id(), super::now_ms()));
        let db = Db::connect(&format!("sqlite://{}", file.display()), 4).await.expect("connect");
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL)").execute(&db.writer).await.expect("create");
        sqlx::query("INSERT INTO t (v) VALUES (0)").execute(&db.writer).await.expect("insert");
        (db, file)
    }

    async fn remove(db: Db, file: std::path::PathBuf) {
        db.writer.close().await;
        db.pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }

    /// A transaction that reads, then writes, while another writer waits: the second writer's transaction runs after
    /// the first committed and sees its write (a deferred BEGIN on two connections made the first one fail at its
    /// write, SQLITE_BUSY_SNAPSHOT: a 500 for a request racing the outbox or a job).
    #[tokio::test]
    async fn sqlite_writers_wait_for_each_other() {
        let (db, file) = scratch("tx").await;
        let mut first = db.begin().await.expect("begin");
        let v: i64 = sqlx::query_scalar("SELECT v FROM t").fetch_one(&mut *first).await.expect("read");
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin().await?;
                sqlx::query("UPDATE t SET v = v + 10").execute(&mut *tx).await?;
                tx.commit().await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sqlx::query("UPDATE t SET v = $1").bind(v + 1).execute(&mut *first).await.expect("the first writer's write");
        first.commit().await.expect("commit");
        second.await.expect("join").expect("the second writer");
        let v: i64 = sqlx::query_scalar("SELECT v FROM t").fetch_one(&db.pool).await.expect("read");
        assert_eq!(v, 11);
        remove(db, file).await;
    }

    /// Writers queued behind a long transaction take their turns in the order they arrived, each once, and a
    /// single-row read is answered meanwhile. In SQLite's busy handler the waiters slept and retried, and whichever
    /// woke first after the lock was free went next.
    #[tokio::test]
    async fn sqlite_writers_take_turns_in_arrival_order() {
        let (db, file) = scratch("queue").await;
        sqlx::query("CREATE TABLE turns (n INTEGER NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT)")
            .execute(&db.writer)
            .await
            .expect("create");
        let first = db.begin().await.expect("begin");
        let mut waiting = Vec::new();
        for n in 0..12_i64 {
            let db = db.clone();
            waiting.push(tokio::spawn(async move {
                let mut tx = db.begin().await?;
                sqlx::query("INSERT INTO turns (n) VALUES ($1)").bind(n).execute(&mut *tx).await?;
                tx.commit().await
            }));
            // Long enough for the task to reach the queue before the next one starts.
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            sqlx::query_scalar::<_, i64>("SELECT v FROM t").fetch_one(&db.pool),
        )
        .await;
        assert_eq!(read.expect("a read while writers wait").expect("read"), 0);
        first.commit().await.expect("commit");
        for w in waiting {
            w.await.expect("join").expect("a queued writer");
        }
        let order: Vec<i64> =
            sqlx::query_scalar("SELECT n FROM turns ORDER BY seq").fetch_all(&db.pool).await.expect("read");
        assert_eq!(order, (0..12).collect::<Vec<_>>());
        remove(db, file).await;
    }

    /// A write that does not go through the writer is refused on SQLite, so no code path can race the queue.
    #[tokio::test]
    async fn sqlite_writes_outside_the_writer_are_refused() {
        let (db, file) = scratch("ro").await;
        let err = sqlx::query("UPDATE t SET v = 1").execute(&db.pool).await.expect_err("a write on the read pool");
        assert!(err.to_string().contains("readonly"), "{err}");
        remove(db, file).await;
    }
}

#[cfg(test)]
mod sqlite_build_tests {
    /// The bundled SQLite is built with query planner stability (.cargo/config.toml): without it, every execution of
    /// a listing prepared its statement again.
    #[tokio::test]
    async fn statements_are_not_prepared_again_for_new_values() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.expect("connect");
        let options: Vec<String> = sqlx::query_scalar("SELECT compile_options FROM pragma_compile_options")
            .fetch_all(&mut conn)
            .await
            .expect("options");
        assert!(options.iter().any(|o| o == "ENABLE_QPSG"), "{options:?}");
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    }
}
