//! The mlm plugin's genealogy at scale, through the plugin's own statements (no HTTP): a binary tree of `members`
//! (balanced, depth about 20 for a million) plus one leg `deep` members deep, then the cost of what a registration
//! does with it, a full pairing run, and a check of the stored leg counts, volumes and pairing credits against a
//! naive recomputation from the raw paths on a sample of 10,000 members.
//!
//! `tessera-bench-mlm sqlite|postgres [members] [deep]` (default 1,000,000 and 10,000). PostgreSQL: a database of its
//! own on TESSERA_BENCH_DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/test), dropped after.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use sqlx::{AnyConnection, Connection};
use tessera_core::{Db, Plugin};
use tessera_mlm::{model, store};

const BUSINESS: i64 = 1;
const PV: i64 = 50;
const SAMPLES: usize = 2000;

/// The path of member `i` of a heap-numbered binary tree: the bits of `i` after its leading one, 0 left, 1 right.
fn heap_path(i: i64) -> String {
    let bits = 63 - i.leading_zeros() as i64;
    (0..bits).rev().map(|b| if (i >> b) & 1 == 0 { 'L' } else { 'R' }).collect()
}

struct Member {
    id: i64,
    parent: Option<i64>,
    path: String,
    left_count: i64,
    right_count: i64,
}

/// Every member with its leg counts: subtree sizes of the heap, the deep leg hanging left below the last member.
fn tree(n: i64, deep: i64) -> Vec<Member> {
    let mut size = vec![0_i64; (n + 2) as usize * 2 + 2];
    for i in (1..=n).rev() {
        let child = |c: i64| if c <= n { size[c as usize] } else { 0 };
        size[i as usize] = 1 + child(2 * i) + child(2 * i + 1);
    }
    let count = |c: i64| if c <= n { size[c as usize] } else { 0 };
    let mut members: Vec<Member> = (1..=n)
        .map(|i| Member {
            id: i,
            parent: (i > 1).then_some(i / 2),
            path: heap_path(i),
            left_count: count(2 * i),
            right_count: count(2 * i + 1),
        })
        .collect();
    // The deep leg below member n (a leaf): every upline of n counts it on n's side.
    let leaf_path = heap_path(n);
    let mut at = n;
    let mut lineage = Vec::new();
    while at >= 1 {
        lineage.push(at);
        at /= 2;
    }
    for w in lineage.windows(2) {
        let (child, parent) = (w[0], w[1]);
        let m = &mut members[(parent - 1) as usize];
        if child % 2 == 0 {
            m.left_count += deep;
        } else {
            m.right_count += deep;
        }
    }
    members[(n - 1) as usize].left_count += deep;
    let mut path = leaf_path;
    for k in 1..=deep {
        path.push('L');
        members.push(Member {
            id: n + k,
            parent: Some(n + k - 1),
            path: path.clone(),
            left_count: deep - k,
            right_count: 0,
        });
    }
    members
}

async fn load(db: &Db, members: &[Member]) -> Result<(), Box<dyn std::error::Error>> {
    const COLS: &str =
        "id, tenant_id, principal_id, username, sponsor_id, parent_id, position, path, depth, package_id, \
                        firstname, lastname, date_of_birth, email, mobile, txn_password_hash, personal_pv, left_pv, \
                        right_pv, left_count, right_count, created_at";
    const PER_ROW: usize = 22;
    for chunk in members.chunks(400) {
        let mut text = format!("INSERT INTO mlm_members ({COLS}) VALUES ");
        for (r, _) in chunk.iter().enumerate() {
            if r > 0 {
                text.push(',');
            }
            text.push('(');
            for c in 0..PER_ROW {
                if c > 0 {
                    text.push(',');
                }
                text.push_str(&format!("${}", r * PER_ROW + c + 1));
            }
            text.push(')');
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
        for m in chunk {
            q = q
                .bind(m.id)
                .bind(BUSINESS)
                .bind(m.id)
                .bind(format!("u{}", m.id))
                .bind(m.parent)
                .bind(m.parent)
                .bind(m.path.chars().last().map(|c| c.to_string()))
                .bind(m.path.clone())
                .bind(m.path.len() as i64)
                .bind(1_i64)
                .bind("F")
                .bind("L")
                .bind("1990-01-01")
                .bind(format!("u{}@bench.example", m.id))
                .bind("1")
                .bind("-")
                .bind(PV)
                .bind(PV * m.left_count)
                .bind(PV * m.right_count)
                .bind(m.left_count)
                .bind(m.right_count)
                .bind(0_i64);
        }
        let mut tx = db.begin().await?;
        q.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.99), ms[ms.len() - 1])
}

fn report(what: &str, ms: Vec<f64>) {
    let n = ms.len();
    let (p50, p99, max) = percentiles(ms);
    println!("{what:58} {n:>6} {p50:>9.3} {p99:>9.3} {max:>9.3}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite").to_string();
    let n: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let deep: i64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    sqlx::any::install_default_drivers();
    let dir = std::env::temp_dir().join(format!("tessera-bench-mlm-{}", std::process::id()));
    let admin = std::env::var("TESSERA_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pg_name = format!("tessera_bench_mlm_{}", std::process::id());
    let url = if backend == "postgres" {
        let mut c = AnyConnection::connect(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {pg_name}"))).execute(&mut c).await?;
        format!("{}/{pg_name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin))
    } else {
        std::fs::create_dir_all(&dir)?;
        format!("sqlite://{}?mode=rwc", dir.join("mlm.db").display())
    };
    let result = run(&backend, &url, n, deep).await;
    if backend == "postgres" {
        let mut c = AnyConnection::connect(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")))
            .execute(&mut c)
            .await?;
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run(backend: &str, url: &str, n: i64, deep: i64) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::connect(url, 8).await?;
    if backend == "sqlite" && std::env::var_os("TESSERA_BENCH_COMMIT_CHECKPOINTS").is_some() {
        // The A of the checkpoint A/B: the writer checkpoints on commit again, SQLite's default (the one writer
        // connection keeps the setting for the run).
        sqlx::query("PRAGMA wal_autocheckpoint = 1000").execute(&db.writer).await?;
        println!("checkpoints: on commit (SQLite's default)");
    }
    db.migrate(&[("mlm", &tessera_mlm::MlmPlugin.migrations())]).await?;
    let package = store::NewPackage {
        tenant_id: BUSINESS,
        kind: "membership",
        package_code: "GOLD",
        name: "Gold",
        amount: 10_000,
        pv: PV,
        category: "",
        image: "",
        description: "",
    };
    let mut tx = db.begin().await?;
    store::insert_package(&mut tx, &package, 0).await?;
    tx.commit().await?;

    let started = Instant::now();
    let members = tree(n, deep);
    load(&db, &members).await?;
    if backend == "postgres" {
        let mut tx = db.begin().await?;
        sqlx::query("SELECT setval(pg_get_serial_sequence('mlm_members', 'id'), (SELECT MAX(id) FROM mlm_members))")
            .execute(&mut *tx)
            .await?;
        sqlx::query("ANALYZE mlm_members").execute(&mut *tx).await?;
        tx.commit().await?;
    }
    let depth = heap_path(n).len();
    println!(
        "{backend}: {} members (balanced to depth {depth}, plus a leg {deep} deep) loaded in {:.1} s",
        members.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:58} {:>6} {:>9} {:>9} {:>9}",
        "operation (balanced tree unless said)", "n", "p50 ms", "p99 ms", "max ms"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let pool = &db.pool;

    // The placement check: the sponsor and the placement by username, the prefix test, the position.
    let mut times = Vec::new();
    for _ in 0..SAMPLES {
        let sponsor = rng.random_range(1..n / 1024);
        let placement = (sponsor << 8) + rng.random_range(0..256);
        let t = Instant::now();
        let s = store::member_by_username(pool, BUSINESS, &format!("u{sponsor}")).await?.ok_or("sponsor")?;
        let p = store::member_by_username(pool, BUSINESS, &format!("u{placement}")).await?.ok_or("placement")?;
        assert!(model::inside_downline(&s.path, &p.path));
        store::position_taken(pool, BUSINESS, p.id, "L").await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    report("placement check (2 lookups, prefix test, position)", times);

    // Downline counts per leg: one row.
    let mut times = Vec::new();
    for _ in 0..SAMPLES {
        let id = rng.random_range(1..=n);
        let t = Instant::now();
        let m = store::member(pool, BUSINESS, id).await?.ok_or("member")?;
        std::hint::black_box((m.left_count, m.right_count, m.left_pv, m.right_pv));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    report("downline counts and volumes per leg (one row)", times);

    // A registration's writes: the member, every upline's leg count and volume, the member's PV; one transaction.
    let first_leaf = n / 2 + 1;
    let mut times = Vec::new();
    let mut next = 0;
    let leaves: Vec<i64> = (first_leaf..=n).collect();
    for k in 0..SAMPLES {
        let parent = &members[(leaves[rng.random_range(0..leaves.len())] - 1) as usize];
        let position = if k % 2 == 0 { "L" } else { "R" };
        let path = format!("{}{position}", parent.path);
        next += 1;
        let username = format!("new{next}");
        let t = Instant::now();
        let mut tx = db.begin().await?;
        let member = store::NewMember {
            tenant_id: BUSINESS,
            principal_id: 10_000_000 + next,
            username: &username,
            sponsor_id: Some(parent.id),
            parent_id: Some(parent.id),
            position: Some(position),
            path: &path,
            package_id: Some(1),
            firstname: "N",
            lastname: "N",
            date_of_birth: "1990-01-01",
            email: "n@bench.example",
            mobile: "1",
            txn_password_hash: "-",
        };
        match store::insert_member(&mut tx, &member, 0).await {
            Ok(id) => {
                store::add_to_uplines(&mut tx, BUSINESS, &path, PV, 1).await?;
                store::add_personal_pv(&mut tx, BUSINESS, id, PV).await?;
                tx.commit().await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            // The position was taken by an earlier sample: not a registration.
            Err(_) => drop(tx),
        }
    }
    report(&format!("registration (insert + {depth} uplines' counts and PV)"), times);

    // PV propagation alone (an order's PV): every upline's leg volume.
    let mut times = Vec::new();
    for _ in 0..SAMPLES {
        let m = &members[(rng.random_range(first_leaf..=n) - 1) as usize];
        let t = Instant::now();
        let mut tx = db.begin().await?;
        store::add_to_uplines(&mut tx, BUSINESS, &m.path, 10, 0).await?;
        store::add_personal_pv(&mut tx, BUSINESS, m.id, 10).await?;
        tx.commit().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    report(&format!("PV propagation to all {depth} uplines (one transaction)"), times);

    // The deep leg: a registration and an order at the bottom of the leg, O(depth).
    let bottom = &members[members.len() - 1];
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut tx = db.begin().await?;
        store::add_to_uplines(&mut tx, BUSINESS, &bottom.path, 1, 0).await?;
        store::add_personal_pv(&mut tx, BUSINESS, bottom.id, 1).await?;
        tx.commit().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    report(&format!("PV propagation at the deep leg's bottom ({} uplines)", bottom.path.len()), times);

    // The naive recomputation, from the raw paths: every member's leg counts and volumes as sums over the members
    // whose path extends its path by L or R (sorted paths, a range per prefix, prefix sums of PV).
    let started = Instant::now();
    let mut rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = Vec::new();
    {
        let mut conn = pool.acquire().await?;
        let all: Vec<(i64, String, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, path, personal_pv, left_count, right_count, left_pv, right_pv FROM mlm_members \
             WHERE tenant_id = $1",
        )
        .bind(BUSINESS)
        .fetch_all(&mut *conn)
        .await?;
        for (id, path, pv, lc, rc, lp, rp) in all {
            rows.push((path, id, pv, lc, rc, lp, rp));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sums = vec![0_i64; rows.len() + 1];
    for (i, r) in rows.iter().enumerate() {
        sums[i + 1] = sums[i] + r.2;
    }
    let range = |prefix: &str| {
        let lo = rows.partition_point(|r| r.0.as_str() < prefix);
        let hi = rows.partition_point(|r| r.0.as_str() < prefix || r.0.starts_with(prefix));
        (hi - lo, sums[hi] - sums[lo])
    };
    let mut sample: Vec<usize> = (0..10_000).map(|_| rng.random_range(0..rows.len())).collect();
    sample.push(rows.iter().position(|r| r.0.is_empty()).unwrap_or(0));
    let mut naive = std::collections::HashMap::new();
    let mut mismatches = 0;
    for &i in &sample {
        let (path, id, _, lc, rc, lp, rp) = &rows[i];
        let (nlc, nlp) = range(&format!("{path}L"));
        let (nrc, nrp) = range(&format!("{path}R"));
        if (nlc as i64, nrc as i64, nlp, nrp) != (*lc, *rc, *lp, *rp) {
            mismatches += 1;
        }
        naive.insert(*id, (nlp, nrp));
    }
    println!(
        "naive recomputation of {} sampled members' leg counts and volumes: {mismatches} mismatches ({:.1} s)",
        sample.len(),
        started.elapsed().as_secs_f64()
    );

    // A full pairing run: 100 PV a pair, 5.00 a pair, 10 pairs a day at most, credited in one transaction.
    let settings = store::SettingsRow { pair_pv: 100, pair_bonus: 500, daily_pair_cap: 10, ..Default::default() };
    let started = Instant::now();
    let mut tx = db.begin().await?;
    let credits = store::plan_credits(&mut tx, &settings, BUSINESS, "2026-01-01", (0, 1)).await?;
    let planned = started.elapsed().as_secs_f64();
    store::apply_credits(&mut tx, BUSINESS, &credits, 1).await?;
    tx.commit().await?;
    let total: i64 = credits.iter().map(|c| c.amount).sum();
    println!(
        "pairing run over {} members: {} members paired, {:.2} paid, planned in {planned:.1} s, credited and committed \
         in {:.1} s more ({:.1} s in all)",
        rows.len(),
        credits.len(),
        total as f64 / 100.0,
        started.elapsed().as_secs_f64() - planned,
        started.elapsed().as_secs_f64()
    );
    let by_member: std::collections::HashMap<i64, i64> = credits.iter().map(|c| (c.member_id, c.amount)).collect();
    let (mut run_total, mut naive_total, mut differ) = (0_i64, 0_i64, 0);
    for (id, (l, r)) in &naive {
        let (paid, _) = model::pairing(*l, *r, settings.pair_pv, settings.daily_pair_cap);
        let expected = paid * settings.pair_bonus;
        let got = by_member.get(id).copied().unwrap_or(0);
        run_total += got;
        naive_total += expected;
        if got != expected {
            differ += 1;
        }
    }
    println!(
        "pairing on the sample: run {:.2}, naive {:.2}, {differ} members differ",
        run_total as f64 / 100.0,
        naive_total as f64 / 100.0
    );
    if mismatches > 0 || differ > 0 {
        return Err("the stored genealogy or the run differs from the naive recomputation".into());
    }
    Ok(())
}
