//! The job queue.
//!
//! A worker claims a job in one statement (PostgreSQL adds `FOR UPDATE SKIP
//! LOCKED` so workers never wait on each other; SQLite's single writer makes
//! the statement atomic by itself), holds a lease it renews with heartbeats,
//! and records the outcome. A reaper gives jobs whose lease ran out (their
//! worker died) back to the queue with exponential backoff, up to
//! `max_attempts`. No transaction stays open while a job runs.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::{JobId, JobKind, JobSpec, JobStatus, ProjectId, Report};

use crate::projects::parse_id;
use crate::{Db, Dialect, Result, StorageError, now_ms};

/// A job as the queue holds it. The payload and the result are stored as
/// JSON; read them as their job kind's types with [`Job::payload`] and
/// [`Job::output`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: JobId,
    pub project_id: ProjectId,
    pub kind: JobKind,
    payload: Value,
    pub status: JobStatus,
    pub progress: f64,
    pub error: Option<String>,
    result: Option<Value>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub cancel_requested: bool,
    pub worker_id: Option<String>,
    /// The job that queued this one (a search, for its trials).
    pub parent_id: Option<JobId>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Job {
    /// The payload, as job kind `J` defines it.
    pub fn payload<J: JobSpec>(&self) -> Result<J::Payload> {
        self.expect_kind::<J>()?;
        serde_json::from_value(self.payload.clone())
            .map_err(|e| StorageError::Corrupt(format!("{} job payload: {e}", J::KIND)))
    }

    /// The result of a job that succeeded, as job kind `J` defines it.
    pub fn output<J: JobSpec>(&self) -> Result<Option<J::Output>> {
        self.expect_kind::<J>()?;
        self.result
            .as_ref()
            .map(|r| serde_json::from_value(r.clone()))
            .transpose()
            .map_err(|e| StorageError::Corrupt(format!("{} job result: {e}", J::KIND)))
    }

    /// The result as stored, for the API to pass on.
    pub fn raw_result(&self) -> Option<&Value> {
        self.result.as_ref()
    }

    fn expect_kind<J: JobSpec>(&self) -> Result<()> {
        if self.kind == J::KIND {
            Ok(())
        } else {
            Err(StorageError::Corrupt(format!(
                "job {} is a {} job, not {}",
                self.id,
                self.kind,
                J::KIND
            )))
        }
    }
}

/// Something a running job reported, with its place in the job's log.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    pub id: i64,
    pub at: i64,
    pub report: Report,
}

const COLUMNS: &str = "id, project_id, kind, payload, status, progress, error, result, attempts, \
                       max_attempts, cancel_requested, worker_id, parent_id, created_at, started_at, \
                       finished_at";

fn json(raw: &str, what: &str) -> Result<Value> {
    serde_json::from_str(raw).map_err(|e| StorageError::Corrupt(format!("job {what}: {e}")))
}

fn from_row(row: &AnyRow) -> Result<Job> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(Job {
        id: parse_id(&row.try_get::<String, _>("id")?, "job id")?,
        project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
        kind: kind
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("job kind {kind:?}")))?,
        payload: json(&row.try_get::<String, _>("payload")?, "payload")?,
        status: status
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("job status {status:?}")))?,
        progress: row.try_get("progress")?,
        error: row.try_get("error")?,
        result: result.as_deref().map(|r| json(r, "result")).transpose()?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        worker_id: row.try_get("worker_id")?,
        parent_id: row
            .try_get::<Option<String>, _>("parent_id")?
            .map(|id| parse_id(&id, "parent job id"))
            .transpose()?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// The PostgreSQL channel a new job is announced on.
pub const CHANNEL: &str = "tinystudio_jobs";

/// Queues a job of kind `J`, to be tried at most `J::MAX_ATTEMPTS` times.
pub async fn enqueue<J: JobSpec>(
    db: &Db,
    project_id: ProjectId,
    payload: &J::Payload,
) -> Result<Job> {
    enqueue_with_id::<J>(db, JobId::new(), project_id, payload).await
}

/// [`enqueue`] with an id chosen by the caller (who stored the job's input
/// under it first).
pub async fn enqueue_with_id<J: JobSpec>(
    db: &Db,
    id: JobId,
    project_id: ProjectId,
    payload: &J::Payload,
) -> Result<Job> {
    insert::<J>(db, id, project_id, None, now_ms(), payload).await?;
    notify(db, id).await?;
    get_any(db, id).await
}

/// Queues jobs of kind `J` on behalf of `parent` (a search queues its
/// trials), in the order given: any worker claims them in that order, and
/// the parent collects them with [`children`]. They are not listed among
/// the project's jobs.
pub async fn enqueue_children<J: JobSpec>(
    db: &Db,
    parent: &Job,
    payloads: &[J::Payload],
) -> Result<Vec<JobId>> {
    let now = now_ms();
    let mut ids = Vec::with_capacity(payloads.len());
    for (i, payload) in payloads.iter().enumerate() {
        let id = JobId::new();
        // One millisecond apart: the claim order is the creation order.
        insert::<J>(
            db,
            id,
            parent.project_id,
            Some(parent.id),
            now + i as i64,
            payload,
        )
        .await?;
        ids.push(id);
    }
    if let Some(&first) = ids.first() {
        notify(db, first).await?;
    }
    Ok(ids)
}

async fn insert<J: JobSpec>(
    db: &Db,
    id: JobId,
    project_id: ProjectId,
    parent: Option<JobId>,
    created_at: i64,
    payload: &J::Payload,
) -> Result<()> {
    let payload = tinystudio_domain::jobs::to_stored_json(payload)
        .map_err(|e| StorageError::Corrupt(format!("{} job payload: {e}", J::KIND)))?;
    sqlx::query(
        "INSERT INTO jobs (id, project_id, kind, payload, status, max_attempts, run_after, \
                           parent_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $6, $6)",
    )
    .bind(id.to_string())
    .bind(project_id.to_string())
    .bind(J::KIND.as_str())
    .bind(payload.to_string())
    .bind(J::MAX_ATTEMPTS)
    .bind(created_at)
    .bind(parent.map(|p| p.to_string()))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Wakes idle workers on PostgreSQL (SQLite's workers poll).
async fn notify(db: &Db, id: JobId) -> Result<()> {
    if db.dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(id.to_string())
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Lets an idle worker sleep until a job is queued: LISTEN/NOTIFY on
/// PostgreSQL, plain polling on SQLite (and as the fallback whenever the
/// listening connection is down).
///
/// A lost listening connection comes back by itself: `PgListener`
/// reconnects and listens again on the next `recv`, and a listener that
/// could not be made at all (the database was down when the worker started
/// or while it reconnected) is made again at the next wait.
pub struct JobWaker {
    /// The database to listen on; `None` on SQLite.
    url: Option<String>,
    listener: Option<sqlx::postgres::PgListener>,
}

impl JobWaker {
    pub async fn new(db: &Db) -> Self {
        let url = (db.dialect == Dialect::Postgres).then(|| db.url.clone());
        let mut waker = Self {
            url,
            listener: None,
        };
        waker.listener = waker.listen().await;
        waker
    }

    async fn listen(&self) -> Option<sqlx::postgres::PgListener> {
        let url = self.url.as_deref()?;
        // Bounded, so a database that is down delays the polling fallback
        // by seconds, not by the pool's whole acquire timeout.
        let connect = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::postgres::PgListener::connect(url),
        );
        match connect.await.unwrap_or(Err(sqlx::Error::PoolTimedOut)) {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; polling for jobs");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no listening connection; polling for jobs");
                None
            }
        }
    }

    /// Returns when a job may be ready, or after `timeout` at the latest.
    pub async fn wait(&mut self, timeout: std::time::Duration) {
        if self.listener.is_none() && self.url.is_some() {
            self.listener = self.listen().await;
            if self.listener.is_some() {
                tracing::info!("listening for jobs again");
            }
        }
        match &mut self.listener {
            Some(listener) => {
                if let Ok(Err(e)) = tokio::time::timeout(timeout, listener.recv()).await {
                    tracing::warn!(error = %e, "job notifications interrupted");
                    tokio::time::sleep(timeout).await;
                }
            }
            None => tokio::time::sleep(timeout).await,
        }
    }
}

/// A job of this project.
pub async fn get(db: &Db, project_id: ProjectId, id: JobId) -> Result<Job> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND project_id = $2"
    ))
    .bind(id.to_string())
    .bind(project_id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StorageError::NotFound("job"))?;
    from_row(&row)
}

/// A job by id alone, for workers.
pub async fn get_any(db: &Db, id: JobId) -> Result<Job> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(StorageError::NotFound("job"))?;
    from_row(&row)
}

/// The project's most recent jobs, newest first, optionally of one kind;
/// not the jobs other jobs queued (see [`children`]).
pub async fn list(
    db: &Db,
    project_id: ProjectId,
    kind: Option<JobKind>,
    limit: i64,
) -> Result<Vec<Job>> {
    let rows = match kind {
        Some(kind) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE project_id = $1 AND kind = $2 \
                 AND parent_id IS NULL ORDER BY created_at DESC, id DESC LIMIT $3"
            ))
            .bind(project_id.to_string())
            .bind(kind.as_str())
            .bind(limit)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE project_id = $1 AND parent_id IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ))
            .bind(project_id.to_string())
            .bind(limit)
            .fetch_all(&db.pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Claims the oldest runnable job for `worker_id` with a lease of `lease_ms`.
pub async fn claim(db: &Db, worker_id: &str, lease_ms: i64) -> Result<Option<Job>> {
    claim_where(db, worker_id, lease_ms, None).await
}

/// Claims the oldest runnable job `parent` queued: a search runs its own
/// trials while other workers take the rest.
pub async fn claim_child(
    db: &Db,
    parent: JobId,
    worker_id: &str,
    lease_ms: i64,
) -> Result<Option<Job>> {
    claim_where(db, worker_id, lease_ms, Some(parent)).await
}

async fn claim_where(
    db: &Db,
    worker_id: &str,
    lease_ms: i64,
    parent: Option<JobId>,
) -> Result<Option<Job>> {
    let now = now_ms();
    let lock = match db.dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let of_parent = if parent.is_some() {
        "AND parent_id = $4"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, worker_id = $1, \
                lease_until = $2, started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_after <= $3 {of_parent} \
                     ORDER BY run_after, created_at, id LIMIT 1 {lock}) \
           AND status = 'queued' \
         RETURNING {COLUMNS}"
    );
    let mut query = sqlx::query(&sql)
        .bind(worker_id)
        .bind(now + lease_ms)
        .bind(now);
    if let Some(parent) = parent {
        query = query.bind(parent.to_string());
    }
    let row = query.fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The jobs `parent` queued, in the order it queued them.
pub async fn children(db: &Db, parent: JobId) -> Result<Vec<Job>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE parent_id = $1 ORDER BY created_at, id"
    ))
    .bind(parent.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Cancels what `parent` queued and has not finished: queued jobs at once,
/// running ones at their worker's next heartbeat.
pub async fn cancel_children(db: &Db, parent: JobId) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', error = 'cancelled', finished_at = $1, updated_at = $1 \
         WHERE parent_id = $2 AND status = 'queued'",
    )
    .bind(now)
    .bind(parent.to_string())
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "UPDATE jobs SET cancel_requested = 1, updated_at = $1 \
         WHERE parent_id = $2 AND status = 'running'",
    )
    .bind(now)
    .bind(parent.to_string())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still ours; keep going.
    Held,
    /// Still ours, but someone asked to cancel it.
    CancelRequested,
    /// Not ours any more (the lease expired and the job moved on): stop
    /// without recording anything.
    Lost,
}

/// Renews the lease and reports progress (0..1).
pub async fn heartbeat(
    db: &Db,
    id: JobId,
    worker_id: &str,
    lease_ms: i64,
    progress: Option<f64>,
) -> Result<Lease> {
    let now = now_ms();
    let row = sqlx::query(
        "UPDATE jobs SET lease_until = $1, updated_at = $2, progress = COALESCE($3, progress) \
         WHERE id = $4 AND worker_id = $5 AND status = 'running' \
         RETURNING cancel_requested",
    )
    .bind(now + lease_ms)
    .bind(now)
    .bind(progress)
    .bind(id.to_string())
    .bind(worker_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => Lease::Lost,
        Some(row) if row.try_get::<i64, _>(0)? != 0 => Lease::CancelRequested,
        Some(_) => Lease::Held,
    })
}

/// Records the end of a run. Returns false when the job was not ours any
/// more, in which case nothing was written.
async fn finish(
    db: &Db,
    id: JobId,
    worker_id: &str,
    status: JobStatus,
    error: Option<&str>,
    result: Option<&Value>,
) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE jobs SET status = $1, error = $2, result = $3, finished_at = $4, updated_at = $4, \
                lease_until = NULL, progress = CASE WHEN $1 = 'succeeded' THEN 1.0 ELSE progress END \
         WHERE id = $5 AND worker_id = $6 AND status = 'running'",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(result.map(Value::to_string))
    .bind(now)
    .bind(id.to_string())
    .bind(worker_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a job's result; the worker serialises its kind's output.
pub async fn succeed(db: &Db, id: JobId, worker_id: &str, result: &Value) -> Result<bool> {
    finish(db, id, worker_id, JobStatus::Succeeded, None, Some(result)).await
}

pub async fn cancelled(db: &Db, id: JobId, worker_id: &str) -> Result<bool> {
    finish(
        db,
        id,
        worker_id,
        JobStatus::Cancelled,
        Some("cancelled"),
        None,
    )
    .await
}

/// A failed run: requeued with backoff while attempts remain and `retry`
/// is true, failed for good otherwise.
pub async fn fail(db: &Db, id: JobId, worker_id: &str, error: &str, retry: bool) -> Result<bool> {
    let job = get_any(db, id).await?;
    if retry && job.attempts < job.max_attempts {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', error = $1, run_after = $2, updated_at = $3, \
                    lease_until = NULL, worker_id = NULL \
             WHERE id = $4 AND worker_id = $5 AND status = 'running'",
        )
        .bind(error)
        .bind(now + backoff_ms(job.attempts))
        .bind(now)
        .bind(id.to_string())
        .bind(worker_id)
        .execute(&db.pool)
        .await?;
        return Ok(done.rows_affected() == 1);
    }
    finish(db, id, worker_id, JobStatus::Failed, Some(error), None).await
}

/// 1 s, 2 s, 4 s, ... capped at 5 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    1000 * (1i64 << attempts.clamp(0, 20).saturating_sub(1)).min(300)
}

/// Requeues running jobs whose lease expired (their worker died), or fails
/// them when they have used all their attempts. Returns how many it touched.
pub async fn reap_expired(db: &Db) -> Result<u64> {
    let now = now_ms();
    let failed = sqlx::query(
        "UPDATE jobs SET status = 'failed', error = 'the worker running this job stopped responding', \
                finished_at = $1, updated_at = $1, lease_until = NULL \
         WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts",
    )
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    let cancelled = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', error = 'cancelled', finished_at = $1, \
                updated_at = $1, lease_until = NULL \
         WHERE status = 'running' AND lease_until < $1 AND cancel_requested <> 0",
    )
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    let requeued = sqlx::query(
        "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_until = NULL, \
                run_after = $1 + 1000 * attempts, updated_at = $1, \
                error = 'the worker running this job stopped responding; retrying' \
         WHERE status = 'running' AND lease_until < $1",
    )
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(failed + cancelled + requeued)
}

/// Asks a job to stop. A queued job is cancelled at once; a running one at
/// its worker's next heartbeat. Finished jobs are left as they are.
pub async fn request_cancel(db: &Db, project_id: ProjectId, id: JobId) -> Result<Job> {
    let now = now_ms();
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', error = 'cancelled', finished_at = $1, updated_at = $1 \
         WHERE id = $2 AND project_id = $3 AND status = 'queued'",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(project_id.to_string())
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "UPDATE jobs SET cancel_requested = 1, updated_at = $1 \
         WHERE id = $2 AND project_id = $3 AND status = 'running'",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(project_id.to_string())
    .execute(&db.pool)
    .await?;
    get(db, project_id, id).await
}

pub async fn add_event(db: &Db, id: JobId, report: &Report) -> Result<()> {
    sqlx::query("INSERT INTO job_events (job_id, at, kind, data) VALUES ($1, $2, $3, $4)")
        .bind(id.to_string())
        .bind(now_ms())
        .bind(report.kind())
        .bind(report.data().to_string())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Events after `after_id`, oldest first.
pub async fn events_since(db: &Db, id: JobId, after_id: i64, limit: i64) -> Result<Vec<JobEvent>> {
    let rows = sqlx::query(
        "SELECT id, at, kind, data FROM job_events WHERE job_id = $1 AND id > $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(id.to_string())
    .bind(after_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            let data = json(&row.try_get::<String, _>("data")?, "event")?;
            let report = Report::from_parts(&kind, data)
                .map_err(|e| StorageError::Corrupt(format!("job {e}")))?;
            Ok(JobEvent {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                report,
            })
        })
        .collect()
}
