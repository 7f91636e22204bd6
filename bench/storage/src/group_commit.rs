//! What group commit would give SQLite's one writer: wallet moves (the statements of a reseller TopUp: the guarded
//! balance update, the ledger row, the audit row and the outbox event) committed one per transaction, as the server
//! does, against several moves per transaction, each in its own savepoint so that one refused move does not undo the
//! others. Same file settings as the server (WAL, synchronous=FULL), one connection, no HTTP.
//!
//! `tessera-bench-group-commit [seconds] [group sizes…]` (default: 3 seconds, groups 1 4 16 64); prints moves/s and
//! the commit's share of the time per group size.

use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

const SCHEMA: [&str; 4] = [
    "CREATE TABLE wallets (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, credit_limit INTEGER NOT NULL)",
    "CREATE TABLE ledger (id INTEGER PRIMARY KEY, wallet_id INTEGER NOT NULL, amount INTEGER NOT NULL, \
     balance_after INTEGER NOT NULL, txn_key TEXT UNIQUE, created_at INTEGER NOT NULL)",
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, action TEXT NOT NULL, object TEXT NOT NULL, at INTEGER NOT NULL)",
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL)",
];

const WALLETS: i64 = 1000;

/// One move: the statements a TopUp runs inside its transaction. A refused move (the guard) writes nothing.
async fn wallet_move(conn: &mut SqliteConnection, n: i64) -> Result<bool, sqlx::Error> {
    let wallet = n % WALLETS + 1;
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE wallets SET balance = balance + $1 WHERE id = $2 AND balance + $1 >= -credit_limit RETURNING balance",
    )
    .bind(100_i64)
    .bind(wallet)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((balance,)) = row else { return Ok(false) };
    let ledger: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (wallet_id, amount, balance_after, txn_key, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(wallet)
    .bind(100_i64)
    .bind(balance)
    .bind(format!("key-{n}"))
    .bind(n)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO audit (action, object, at) VALUES ('wallet_update', $1, $2)")
        .bind(format!("reseller_ledger:{ledger}"))
        .bind(n)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO outbox (kind, payload, created_at) VALUES ('event', $1, $2)")
        .bind(format!("{{\"ledger_id\":{ledger},\"balance_after\":{balance}}}"))
        .bind(n)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Moves per second with `group` moves per transaction, for `seconds`; and the share of the time spent in COMMIT.
async fn run(conn: &mut SqliteConnection, group: usize, seconds: f64) -> Result<(f64, f64), sqlx::Error> {
    let started = Instant::now();
    let mut moves = 0_i64;
    let mut committing = Duration::ZERO;
    while started.elapsed().as_secs_f64() < seconds {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        for _ in 0..group {
            moves += 1;
            if group == 1 {
                wallet_move(conn, moves).await?;
                continue;
            }
            sqlx::query("SAVEPOINT one_move").execute(&mut *conn).await?;
            match wallet_move(conn, moves).await {
                Ok(_) => sqlx::query("RELEASE one_move").execute(&mut *conn).await?,
                Err(_) => sqlx::query("ROLLBACK TO one_move").execute(&mut *conn).await?,
            };
        }
        let commit = Instant::now();
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        committing += commit.elapsed();
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((moves as f64 / elapsed, committing.as_secs_f64() / elapsed))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let groups: Vec<usize> = if args.len() > 2 {
        args[2..].iter().map(|s| s.parse()).collect::<Result<_, _>>()?
    } else {
        vec![1, 4, 16, 64]
    };
    let dir = std::env::temp_dir().join(format!("tessera-group-commit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("bench.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .disable_statement_logging();
    let mut conn = opts.connect().await?;
    for statement in SCHEMA {
        sqlx::query(statement).execute(&mut conn).await?;
    }
    let mut tx = conn.begin().await?;
    for id in 1..=WALLETS {
        sqlx::query("INSERT INTO wallets (id, balance, credit_limit) VALUES ($1, 0, 0)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    println!("{:>6} {:>10} {:>8} {:>10}", "group", "moves/s", "×1", "commit");
    let mut single = None;
    for group in groups {
        let (rate, commit_share) = run(&mut conn, group, seconds).await?;
        let base = *single.get_or_insert(rate);
        println!("{group:>6} {rate:>10.0} {:>7.1}× {:>9.0}%", rate / base, commit_share * 100.0);
    }
    conn.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
