//! The background job runner: periodic jobs (`Schedule::Every`) and one-off runs queued at runtime (`enqueue`, in
//! the caller's transaction), for the core and for plugins.
//!
//! Several instances may share one PostgreSQL; each run is executed by exactly one of them. A periodic job is a row
//! of `core_jobs`, a queued run a row of `core_job_queue`, and an instance runs one only after winning a conditional
//! UPDATE that takes a lease (`… AND next_run_at <= now AND (lease_until IS NULL OR lease_until < now)`,
//! rows_affected == 1). While a run goes on its lease is renewed; a run whose process died is taken again by anyone
//! once the lease has expired. A queued run that fails is retried with exponential backoff up to `MAX_ATTEMPTS`,
//! then marked failed. Every instant is `now_ms()`, so the test clock moves schedules, backoffs and leases too.
//!
//! The SQL of the runner lives at the end of this module (its own tables only).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::{now_ms, Db};
use crate::error::{CoreError, CoreResult};

/// A job: periodic, or run when queued under its name. Plugins name theirs `<plugin>.<job>`.
#[derive(Clone)]
pub struct Job {
    pub name: String,
    pub schedule: Schedule,
    pub handler: JobHandler,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Runs every period (the first time one period after the job is first registered), on one instance.
    Every(Duration),
    /// Runs only when queued with `enqueue`.
    Queued,
}

/// What a run gets: the database, its payload (None for a periodic run) and which attempt this is (1 first).
#[derive(Clone)]
pub struct JobRun {
    pub db: Db,
    pub job: String,
    pub payload: Option<Value>,
    pub attempt: u32,
    /// The instant the run was due (the schedule slot, or the queued run_at), epoch ms.
    pub due_at: i64,
}

pub type JobHandler = Arc<dyn Fn(JobRun) -> BoxFuture<'static, CoreResult<()>> + Send + Sync>;

/// A handler from an async closure: `jobs::handler(|run| async move { … Ok(()) })`.
pub fn handler<F, Fut>(f: F) -> JobHandler
where
    F: Fn(JobRun) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CoreResult<()>> + Send + 'static,
{
    Arc::new(move |run| f(run).boxed())
}

impl Job {
    pub fn every(name: impl Into<String>, period: Duration, handler: JobHandler) -> Job {
        Job { name: name.into(), schedule: Schedule::Every(period), handler }
    }

    pub fn queued(name: impl Into<String>, handler: JobHandler) -> Job {
        Job { name: name.into(), schedule: Schedule::Queued, handler }
    }
}

/// A run holds its lease this long and renews it every third of it; a crashed run is taken again after it expires.
pub const LEASE_MS: i64 = 60_000;
/// A queued run is tried at most this often.
pub const MAX_ATTEMPTS: i64 = 5;
/// Backoff of a failed queued run: 10 s, 20 s, 40 s, … at most an hour.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    (10_000i64 << (attempt - 1).clamp(0, 20)).min(3_600_000)
}
/// Runs in flight per instance.
const MAX_IN_FLIGHT: usize = 16;
const TICK: Duration = Duration::from_millis(250);
/// On shutdown, runs in flight get this long to finish (their leases expire and another instance retries them).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Queues a one-off run of `job` at `run_at_ms` (epoch ms), in the caller's transaction: it exists only if that
/// commits. The handler registered under that name runs it with the payload.
pub async fn enqueue(conn: &mut AnyConnection, job: &str, payload: &Value, run_at_ms: i64) -> CoreResult<i64> {
    if job.is_empty() || job.len() > 200 {
        return Err(CoreError::invalid("job", "must be 1-200 characters"));
    }
    let payload = serde_json::to_string(payload).map_err(CoreError::internal)?;
    sql::enqueue(conn, job, &payload, run_at_ms, now_ms()).await
}

// ---- metrics (this process's runs) ----

#[derive(Default)]
struct JobMetrics {
    ok: u64,
    error: u64,
    last_duration_ms: i64,
}

static METRICS: LazyLock<Mutex<BTreeMap<String, JobMetrics>>> = LazyLock::new(Default::default);

fn record_metrics(job: &str, ok: bool, duration_ms: i64) {
    let mut all = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    let m = all.entry(job.to_string()).or_default();
    if ok {
        m.ok += 1;
    } else {
        m.error += 1;
    }
    m.last_duration_ms = duration_ms;
}

/// Prometheus text of this process's job runs, appended to `/metrics`.
pub fn metrics_text() -> String {
    let all = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::from(
        "# HELP tessera_job_runs_total Job runs finished by this process, by job and outcome.\n\
         # TYPE tessera_job_runs_total counter\n",
    );
    for (job, m) in all.iter() {
        out.push_str(&format!("tessera_job_runs_total{{job=\"{job}\",outcome=\"ok\"}} {}\n", m.ok));
        out.push_str(&format!("tessera_job_runs_total{{job=\"{job}\",outcome=\"error\"}} {}\n", m.error));
    }
    out.push_str(
        "# HELP tessera_job_last_duration_seconds Duration of the last run of a job in this process.\n\
         # TYPE tessera_job_last_duration_seconds gauge\n",
    );
    for (job, m) in all.iter() {
        out.push_str(&format!(
            "tessera_job_last_duration_seconds{{job=\"{job}\"}} {:.3}\n",
            m.last_duration_ms as f64 / 1000.0
        ));
    }
    out
}

/// The cause of an error for the log (an internal error's detail is not in its Display).
fn cause(e: &CoreError) -> String {
    match e {
        CoreError::Internal(c) => c.clone(),
        other => other.to_string(),
    }
}

// ---- the runner ----

/// The running loop of one instance. `shutdown` stops claiming and waits (bounded) for the runs in flight.
pub struct JobRunner {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

enum Claimed {
    Periodic { name: String, due_at: i64 },
    Queued { id: i64, job: String, payload: Value, attempt: u32, due_at: i64 },
}

struct Loop {
    db: Db,
    owner: String,
    jobs: HashMap<String, Job>,
}

impl JobRunner {
    /// Registers the jobs (their rows are created once; a changed period is updated) and starts the loop.
    pub async fn start(db: Db, jobs: Vec<Job>) -> CoreResult<JobRunner> {
        let mut by_name = HashMap::new();
        for job in jobs {
            let every = match job.schedule {
                Schedule::Every(d) => Some((d.as_millis() as i64).max(1)),
                Schedule::Queued => None,
            };
            sql::register(&db.writer, &job.name, every, now_ms()).await?;
            if by_name.insert(job.name.clone(), job).is_some() {
                return Err(CoreError::internal("two jobs have the same name"));
            }
        }
        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(Loop { db, owner: uuid::Uuid::new_v4().simple().to_string(), jobs: by_name });
        let task = tokio::spawn(state.run(stopped));
        Ok(JobRunner { stop, task })
    }

    /// Stops claiming new runs and waits for those in flight (at most `SHUTDOWN_GRACE`).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Loop {
    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        // Periodic jobs running here, so this instance never claims one twice at once.
        let running: Arc<Mutex<std::collections::HashSet<String>>> = Default::default();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = tokio::time::sleep(TICK) => {}
            }
            while in_flight.try_join_next().is_some() {}
            let free = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
            if free == 0 {
                continue;
            }
            let claimed = match self.claim(free, &running).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("job runner cannot claim runs: {}", cause(&e));
                    continue;
                }
            };
            for c in claimed {
                let me = self.clone();
                let running = running.clone();
                in_flight.spawn(async move {
                    let name = match &c {
                        Claimed::Periodic { name, .. } => Some(name.clone()),
                        Claimed::Queued { .. } => None,
                    };
                    me.execute(c).await;
                    if let Some(name) = name {
                        running.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
                    }
                });
            }
        }
        let drained = async { while in_flight.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
            tracing::warn!("job runs still in flight at shutdown; their leases expire and they run again");
        }
    }

    async fn claim(
        &self,
        mut free: usize,
        running: &Mutex<std::collections::HashSet<String>>,
    ) -> CoreResult<Vec<Claimed>> {
        let now = now_ms();
        let mut out = Vec::new();
        for (name, next_run_at) in sql::due_periodic(&self.db.pool, now).await? {
            if free == 0 {
                break;
            }
            if !self.jobs.contains_key(&name) || running.lock().unwrap_or_else(|e| e.into_inner()).contains(&name) {
                continue;
            }
            if sql::claim_periodic(&self.db.writer, &name, &self.owner, now).await? {
                running.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone());
                out.push(Claimed::Periodic { name, due_at: next_run_at });
                free -= 1;
            }
        }
        if free == 0 {
            return Ok(out);
        }
        sql::fail_exhausted(&self.db.writer, now).await?;
        for (id, job, run_at) in sql::due_queued(&self.db.pool, now, free as i64 * 2).await? {
            if free == 0 {
                break;
            }
            if !self.jobs.contains_key(&job) {
                continue;
            }
            if let Some((attempts, payload)) = sql::claim_queued(&self.db.writer, id, &self.owner, now).await? {
                let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
                out.push(Claimed::Queued { id, job, payload, attempt: attempts as u32, due_at: run_at });
                free -= 1;
            }
        }
        Ok(out)
    }

    /// Runs one claimed run to its end: renews the lease meanwhile, records the outcome, logs a failure once.
    async fn execute(&self, claimed: Claimed) {
        let (name, run, queued_id) = match claimed {
            Claimed::Periodic { name, due_at } => {
                let run = JobRun { db: self.db.clone(), job: name.clone(), payload: None, attempt: 1, due_at };
                (name, run, None)
            }
            Claimed::Queued { id, job, payload, attempt, due_at } => {
                let run = JobRun { db: self.db.clone(), job: job.clone(), payload: Some(payload), attempt, due_at };
                (job, run, Some(id))
            }
        };
        let Some(job) = self.jobs.get(&name) else { return };
        let attempt = run.attempt;
        let started = now_ms();
        let clock = std::time::Instant::now();
        let work = std::panic::AssertUnwindSafe((job.handler)(run)).catch_unwind();
        tokio::pin!(work);
        let mut renew = tokio::time::interval(Duration::from_millis(LEASE_MS as u64 / 3));
        renew.tick().await;
        let result = loop {
            tokio::select! {
                r = &mut work => break r.unwrap_or_else(|_| Err(CoreError::Internal("the job panicked".into()))),
                _ = renew.tick() => {
                    let until = now_ms() + LEASE_MS;
                    let renewed = match queued_id {
                        None => sql::renew_periodic(&self.db.writer, &name, &self.owner, until).await,
                        Some(id) => sql::renew_queued(&self.db.writer, id, &self.owner, until).await,
                    };
                    if let Err(e) = renewed {
                        tracing::warn!(job = %name, "cannot renew a job lease: {}", cause(&e));
                    }
                }
            }
        };
        let duration_ms = clock.elapsed().as_millis() as i64;
        let finished = now_ms();
        let error = result.as_ref().err().map(cause);
        if let Some(e) = &error {
            tracing::warn!(job = %name, attempt, "job run failed: {e}");
        }
        record_metrics(&name, error.is_none(), duration_ms);
        let stored = async {
            let next_run_at = match job.schedule {
                Schedule::Every(d) => Some(started.max(finished - d.as_millis() as i64) + d.as_millis() as i64),
                Schedule::Queued => None,
            };
            if queued_id.is_none() {
                sql::finish_periodic(&self.db.writer, &name, &self.owner, next_run_at, finished).await?;
            }
            if let Some(id) = queued_id {
                let retry_at = (error.is_some() && (attempt as i64) < MAX_ATTEMPTS)
                    .then(|| finished + retry_delay_ms(attempt as i64));
                sql::finish_queued(&self.db.writer, id, &self.owner, error.as_deref(), retry_at, finished).await?;
            }
            sql::record_outcome(&self.db.writer, &name, started, finished, duration_ms, error.as_deref()).await
        };
        if let Err(e) = stored.await {
            tracing::warn!(job = %name, "cannot record a job run: {}", cause(&e));
        }
    }
}

// ---- the jobs listing (GET /core/v1/jobs) ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub name: String,
    pub every_ms: Option<i64>,
    pub next_run_at: Option<i64>,
    pub last_started_at: Option<i64>,
    pub last_finished_at: Option<i64>,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub runs: i64,
    pub failures: i64,
    pub lease_until: Option<i64>,
}

/// Every registered job with its state, and the number of queued runs per job.
pub async fn list(pool: &AnyPool) -> CoreResult<(Vec<JobRow>, HashMap<String, i64>)> {
    Ok((sql::all(pool).await?, sql::queued_counts(pool).await?.into_iter().collect()))
}

// ---- test probes (the `test_jobs` setting; never in production) ----

/// Jobs that tests observe through the audit log: `core.test.tick` every second (one audit row per schedule slot)
/// and `core.test.probe`, queued with `{"n": N, "fail_first": K, "hang_first": bool, "sleep_ms": T}`: it fails
/// its first K attempts, or hangs in its first attempt (so the process can be killed during it), or takes T ms, and
/// records each start and each success.
pub fn test_probes() -> Vec<Job> {
    let tick =
        handler(
            |run: JobRun| async move { probe_audit(&run.db, "core.test.tick", &format!("slot:{}", run.due_at)).await },
        );
    let probe = handler(|run: JobRun| async move {
        let payload = run.payload.clone().unwrap_or(Value::Null);
        let n = payload["n"].as_i64().unwrap_or(0);
        let attempt = run.attempt;
        probe_audit(&run.db, "core.test.probe.start", &format!("probe:{n}:attempt:{attempt}")).await?;
        if let Some(mail) = payload.get("email") {
            probe_email(&run.db, mail).await?;
        }
        if let Some(ms) = payload["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
        }
        if payload["hang_first"].as_bool() == Some(true) && attempt == 1 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if i64::from(attempt) <= payload["fail_first"].as_i64().unwrap_or(0) {
            return Err(CoreError::invalid("probe", format!("planned failure of probe {n} attempt {attempt}")));
        }
        probe_audit(&run.db, "core.test.probe", &format!("probe:{n}:attempt:{attempt}")).await
    });
    vec![Job::every("core.test.tick", Duration::from_secs(1), tick), Job::queued("core.test.probe", probe)]
}

/// The template of the probe's email (`{"email": {"tenant_id", "to", "vars"}}` in the payload).
pub const TEST_EMAIL: crate::outbox::EmailTemplate = crate::outbox::EmailTemplate {
    name: "core.test",
    subject: "Hello {{name}}",
    text: "Dear {{name}},\n\nyour code is {{code}}.\n",
    secret: false,
};

async fn probe_email(db: &Db, mail: &Value) -> CoreResult<()> {
    let tenant_id = mail["tenant_id"].as_i64().unwrap_or(1);
    let tenant =
        crate::store::tenant(&db.pool, tenant_id).await?.ok_or_else(|| CoreError::not_found("no such tenant"))?;
    let mut tx = db.begin().await?;
    let to = mail["to"].as_str().unwrap_or("");
    crate::outbox::email(&mut tx, &tenant, "core", to, &TEST_EMAIL, &mail["vars"]).await?;
    tx.commit().await?;
    crate::outbox::wake();
    Ok(())
}

async fn probe_audit(db: &Db, action: &str, object: &str) -> CoreResult<()> {
    let platform = crate::store::tenant_by_slug(&db.pool, "platform")
        .await?
        .ok_or_else(|| CoreError::internal("no platform tenant"))?;
    let mut conn = db.writer.acquire().await?;
    crate::audit::record(&mut conn, None, &platform, action, object).await
}

/// `POST /_test/jobs/enqueue` (test_jobs only, platform admin): queues `{"count": N, "payload": {…}}` probe runs,
/// numbering them from payload.n.
pub async fn test_enqueue_endpoint(core: &crate::Core, req: poem::Request, body: Vec<u8>) -> poem::Response {
    use poem::http::StatusCode;
    use poem::IntoResponse;
    if !crate::server::platform_admin(core, &req).await {
        return (StatusCode::FORBIDDEN, "platform admin only").into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let count = body["count"].as_i64().unwrap_or(1).clamp(1, 1000);
    let base = body["payload"].clone();
    let first = base["n"].as_i64().unwrap_or(1);
    let result = async {
        let mut tx = core.db.begin().await?;
        let mut ids = Vec::new();
        for i in 0..count {
            let mut payload = if base.is_object() { base.clone() } else { serde_json::json!({}) };
            payload["n"] = Value::from(first + i);
            ids.push(enqueue(&mut tx, "core.test.probe", &payload, now_ms()).await?);
        }
        tx.commit().await?;
        CoreResult::Ok(ids)
    }
    .await;
    match result {
        Ok(ids) => (StatusCode::OK, serde_json::to_string(&ids).unwrap_or_default()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

// ---- SQL ----

mod sql {
    use sqlx::{AnyConnection, AnyPool};
    use tracing::instrument;

    use super::{JobRow, LEASE_MS, MAX_ATTEMPTS};
    use crate::error::CoreResult;

    #[instrument(skip_all)]
    pub async fn register(pool: &AnyPool, name: &str, every_ms: Option<i64>, now: i64) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO core_jobs (name, every_ms, next_run_at, runs, failures) VALUES ($1, $2, $3, 0, 0) \
             ON CONFLICT (name) DO UPDATE SET every_ms = $2, \
             next_run_at = CASE WHEN $2 IS NULL THEN NULL ELSE COALESCE(core_jobs.next_run_at, $3) END",
        )
        .bind(name)
        .bind(every_ms)
        .bind(every_ms.map(|e| now + e))
        .execute(pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn due_periodic(pool: &AnyPool, now: i64) -> CoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT name, next_run_at FROM core_jobs WHERE next_run_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_run_at",
        )
        .bind(now)
        .fetch_all(pool)
        .await?)
    }

    /// The one statement that decides which instance runs a periodic job's slot.
    #[instrument(skip_all)]
    pub async fn claim_periodic(pool: &AnyPool, name: &str, owner: &str, now: i64) -> CoreResult<bool> {
        let done = sqlx::query(
            "UPDATE core_jobs SET lease_owner = $1, lease_until = $2 \
             WHERE name = $3 AND next_run_at <= $4 AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(owner)
        .bind(now + LEASE_MS)
        .bind(name)
        .bind(now)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[instrument(skip_all)]
    pub async fn renew_periodic(pool: &AnyPool, name: &str, owner: &str, until: i64) -> CoreResult<()> {
        sqlx::query("UPDATE core_jobs SET lease_until = $1 WHERE name = $2 AND lease_owner = $3")
            .bind(until)
            .bind(name)
            .bind(owner)
            .execute(pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn finish_periodic(
        pool: &AnyPool,
        name: &str,
        owner: &str,
        next_run_at: Option<i64>,
        _now: i64,
    ) -> CoreResult<()> {
        sqlx::query(
            "UPDATE core_jobs SET lease_owner = NULL, lease_until = NULL, next_run_at = $1 \
             WHERE name = $2 AND lease_owner = $3",
        )
        .bind(next_run_at)
        .bind(name)
        .bind(owner)
        .execute(pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn record_outcome(
        pool: &AnyPool,
        name: &str,
        started: i64,
        finished: i64,
        duration_ms: i64,
        error: Option<&str>,
    ) -> CoreResult<()> {
        sqlx::query(
            "UPDATE core_jobs SET last_started_at = $1, last_finished_at = $2, last_duration_ms = $3, \
             last_outcome = $4, last_error = $5, runs = runs + 1, failures = failures + $6 WHERE name = $7",
        )
        .bind(started)
        .bind(finished)
        .bind(duration_ms)
        .bind(if error.is_some() { "error" } else { "ok" })
        .bind(error.map(|e| e.chars().take(1000).collect::<String>()))
        .bind(error.is_some() as i64)
        .bind(name)
        .execute(pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn enqueue(conn: &mut AnyConnection, job: &str, payload: &str, run_at: i64, now: i64) -> CoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO core_job_queue (job, payload, run_at, status, attempts, created_at) \
             VALUES ($1, $2, $3, 'queued', 0, $4) RETURNING id",
        )
        .bind(job)
        .bind(payload)
        .bind(run_at)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?)
    }

    #[instrument(skip_all)]
    pub async fn due_queued(pool: &AnyPool, now: i64, limit: i64) -> CoreResult<Vec<(i64, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT id, job, run_at FROM core_job_queue WHERE status = 'queued' AND run_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) AND attempts < $2 ORDER BY run_at, id LIMIT $3",
        )
        .bind(now)
        .bind(MAX_ATTEMPTS)
        .bind(limit)
        .fetch_all(pool)
        .await?)
    }

    /// Claims one queued run: returns its attempt number and payload when this instance won it.
    #[instrument(skip_all)]
    pub async fn claim_queued(pool: &AnyPool, id: i64, owner: &str, now: i64) -> CoreResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(
            "UPDATE core_job_queue SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = $3 AND status = 'queued' AND run_at <= $4 AND (lease_until IS NULL OR lease_until < $4) \
             AND attempts < $5 RETURNING attempts, payload",
        )
        .bind(owner)
        .bind(now + LEASE_MS)
        .bind(id)
        .bind(now)
        .bind(MAX_ATTEMPTS)
        .fetch_optional(pool)
        .await?)
    }

    /// Runs whose last allowed attempt died with its process: failed, once the lease shows nobody runs them.
    #[instrument(skip_all)]
    pub async fn fail_exhausted(pool: &AnyPool, now: i64) -> CoreResult<()> {
        sqlx::query(
            "UPDATE core_job_queue SET status = 'failed', finished_at = $1, \
             last_error = COALESCE(last_error, 'the last attempt did not finish (process stopped)') \
             WHERE status = 'queued' AND attempts >= $2 AND lease_until < $1",
        )
        .bind(now)
        .bind(MAX_ATTEMPTS)
        .execute(pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn renew_queued(pool: &AnyPool, id: i64, owner: &str, until: i64) -> CoreResult<()> {
        sqlx::query("UPDATE core_job_queue SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
            .bind(until)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Done, failed for good, or back in the queue at `retry_at`.
    #[instrument(skip_all)]
    pub async fn finish_queued(
        pool: &AnyPool,
        id: i64,
        owner: &str,
        error: Option<&str>,
        retry_at: Option<i64>,
        now: i64,
    ) -> CoreResult<()> {
        let (status, run_at) = match (error, retry_at) {
            (None, _) => ("done", None),
            (Some(_), Some(at)) => ("queued", Some(at)),
            (Some(_), None) => ("failed", None),
        };
        sqlx::query(
            "UPDATE core_job_queue SET status = $1, run_at = COALESCE($2, run_at), lease_owner = NULL, \
             lease_until = NULL, last_error = $3, finished_at = CASE WHEN $1 = 'queued' THEN NULL ELSE $4 END \
             WHERE id = $5 AND lease_owner = $6",
        )
        .bind(status)
        .bind(run_at)
        .bind(error.map(|e| e.chars().take(1000).collect::<String>()))
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn all(pool: &AnyPool) -> CoreResult<Vec<JobRow>> {
        Ok(sqlx::query_as(
            "SELECT name, every_ms, next_run_at, last_started_at, last_finished_at, last_outcome, last_error, \
             last_duration_ms, runs, failures, lease_until FROM core_jobs ORDER BY name",
        )
        .fetch_all(pool)
        .await?)
    }

    #[instrument(skip_all)]
    pub async fn queued_counts(pool: &AnyPool) -> CoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT job, COUNT(*) FROM core_job_queue WHERE status = 'queued' GROUP BY job")
            .fetch_all(pool)
            .await?)
    }
}
