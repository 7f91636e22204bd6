//! The storage floor of `bench/run.py`: the statement of `reseller/list` (10 rows of one ISP, sorted by id) run
//! directly against the benchmark's database, with no HTTP, auth or envelope, in each of the ways a listing can
//! read rows. It prints one line of figures per way, so the listing's cost above storage is measured, not guessed.
//!
//! `tessera-bench-storage <database-url> [seconds] [tasks]`
//!
//! With `TESSERA_BENCH_PAGES=N` each way instead reads exactly N pages on one task (for `valgrind --tool=callgrind`,
//! whose instruction counts do not move with the machine's load); `TESSERA_BENCH_WAY=<way>` runs one way only.
//!
//! Ways:
//! - `any`: sqlx's Any driver, typed rows (how every listing read before the native read pools);
//! - `native`: sqlx's SQLite or PostgreSQL driver, typed rows;
//! - `any-json` / `native-json`: the database builds the page as one JSON text (`json_group_array`/`json_agg`),
//!   one row crosses.
//!
//! Each typed way also serialises its rows to JSON, as a handler does, so every way ends with the same bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{AnyPool, PgPool, SqlitePool};

/// The statement `reseller/list` runs for an ISP admin (plugins/reseller/src/store.rs: `account_select!`, the ISP
/// and subtree filters, the default sort and a page of 10).
const LIST: &str = "SELECT r.tenant_id, r.isp_id, t.path, r.type, t.name, r.code, r.invoice_by, r.payment_by, \
     r.address, r.mobile, r.email, r.state, r.commission_bp, r.credit_limit, r.balance, r.created_at \
     FROM reseller_accounts r JOIN tenants t ON t.id = r.tenant_id \
     WHERE r.deleted = 0 AND r.isp_id = $1 AND t.path >= $2 AND t.path < $3 \
     ORDER BY r.tenant_id ASC, r.tenant_id ASC LIMIT $4 OFFSET $5";

const COLUMNS: [&str; 16] = [
    "tenant_id",
    "isp_id",
    "path",
    "type",
    "name",
    "code",
    "invoice_by",
    "payment_by",
    "address",
    "mobile",
    "email",
    "state",
    "commission_bp",
    "credit_limit",
    "balance",
    "created_at",
];

#[derive(Debug, sqlx::FromRow, serde::Serialize)]
struct Row {
    tenant_id: i64,
    isp_id: i64,
    path: String,
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    code: String,
    invoice_by: String,
    payment_by: String,
    address: String,
    mobile: String,
    email: String,
    state: String,
    commission_bp: i64,
    credit_limit: i64,
    balance: i64,
    created_at: i64,
}

fn json_statement(postgres: bool) -> String {
    if postgres {
        format!("SELECT COALESCE(json_agg(x), '[]')::text FROM ({LIST}) x")
    } else {
        let pairs: Vec<String> = COLUMNS.iter().map(|c| format!("'{c}', x.{c}")).collect();
        format!("SELECT json_group_array(json_object({})) FROM ({LIST}) x", pairs.join(", "))
    }
}

#[derive(Clone)]
struct Target {
    isp: i64,
    start: String,
    end: String,
}

#[derive(Clone)]
enum Way {
    Any(AnyPool),
    AnyJson(AnyPool, Arc<str>),
    Sqlite(SqlitePool),
    SqliteJson(SqlitePool, Arc<str>),
    Pg(PgPool),
    PgJson(PgPool, Arc<str>),
}

impl Way {
    /// One page, ending as JSON bytes; returns their length.
    async fn page(&self, t: &Target) -> usize {
        macro_rules! typed {
            ($pool:expr) => {{
                let rows: Vec<Row> = sqlx::query_as(LIST)
                    .bind(t.isp)
                    .bind(&t.start)
                    .bind(&t.end)
                    .bind(10_i64)
                    .bind(0_i64)
                    .fetch_all($pool)
                    .await
                    .expect("typed page");
                serde_json::to_vec(&rows).expect("json").len()
            }};
        }
        macro_rules! json {
            ($pool:expr, $text:expr) => {{
                let text: String = sqlx::query_scalar(sqlx::AssertSqlSafe(&**$text))
                    .bind(t.isp)
                    .bind(&t.start)
                    .bind(&t.end)
                    .bind(10_i64)
                    .bind(0_i64)
                    .fetch_one($pool)
                    .await
                    .expect("json page");
                text.len()
            }};
        }
        match self {
            Way::Any(p) => typed!(p),
            Way::AnyJson(p, s) => json!(p, s),
            Way::Sqlite(p) => typed!(p),
            Way::SqliteJson(p, s) => json!(p, s),
            Way::Pg(p) => typed!(p),
            Way::PgJson(p, s) => json!(p, s),
        }
    }
}

/// User + system CPU time of this process.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of /proc/self/stat (utime, stime) are the 12th and 13th after the command name.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

async fn run(name: &str, way: Way, target: &Target, seconds: u64, tasks: usize) {
    if std::env::var("TESSERA_BENCH_WAY").is_ok_and(|w| w != name) {
        return;
    }
    let bytes = way.page(target).await;
    // A fixed number of pages on one task: for an instruction count (valgrind), which the machine's load leaves alone.
    if let Some(pages) = std::env::var("TESSERA_BENCH_PAGES").ok().and_then(|p| p.parse::<u64>().ok()) {
        for _ in 0..pages {
            way.page(target).await;
        }
        println!("{name:12} {pages} pages ({bytes} bytes of JSON per page)");
        return;
    }
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let (cpu0, t0) = (cpu(), Instant::now());
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (way, target, done) = (way.clone(), target.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    way.page(&target).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let (wall, used) = (t0.elapsed(), cpu() - cpu0);
    let n = done.load(Ordering::Relaxed).max(1);
    println!(
        "{name:12} {:>9.0} pages/s {:>8.1} cpu µs/page  ({bytes} bytes of JSON per page)",
        n as f64 / wall.as_secs_f64(),
        used.as_secs_f64() * 1e6 / n as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("usage: tessera-bench-storage <database-url> [seconds] [tasks]").clone();
    let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let tasks = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let postgres = url.starts_with("postgres");
    sqlx::any::install_default_drivers();
    // The server's pools: no ping before each query (core/src/db.rs).
    let any = AnyPoolOptions::new().max_connections(8).test_before_acquire(false).connect(&url).await.expect("connect");
    // The ISP with the most resellers, or TESSERA_BENCH_ISP's (the run's listing ISP, once the others have grown).
    let chosen: i64 = std::env::var("TESSERA_BENCH_ISP").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let (isp, path): (i64, String) = sqlx::query_as(
        "SELECT r.isp_id, t.path FROM reseller_accounts r JOIN tenants t ON t.id = r.isp_id \
         WHERE $1 = 0 OR r.isp_id = $1 GROUP BY r.isp_id, t.path ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .bind(chosen)
    .fetch_one(&any)
    .await
    .expect("an ISP with resellers: seed the database with bench/run.py first");
    let end = format!("{}0", path.trim_end_matches('/'));
    let target = Target { isp, start: path, end };
    let json: Arc<str> = json_statement(postgres).into();
    run("any", Way::Any(any.clone()), &target, seconds, tasks).await;
    run("any-json", Way::AnyJson(any, json.clone()), &target, seconds, tasks).await;
    if postgres {
        let pool =
            PgPoolOptions::new().max_connections(8).test_before_acquire(false).connect(&url).await.expect("connect");
        run("native", Way::Pg(pool.clone()), &target, seconds, tasks).await;
        run("native-json", Way::PgJson(pool, json), &target, seconds, tasks).await;
    } else {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect(&url)
            .await
            .expect("connect");
        run("native", Way::Sqlite(pool.clone()), &target, seconds, tasks).await;
        run("native-json", Way::SqliteJson(pool, json), &target, seconds, tasks).await;
    }
}
