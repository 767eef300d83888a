//! The scale-out topology on PostgreSQL: one web server and three worker
//! processes. 20 training jobs each run once; a worker killed with SIGKILL in
//! the middle of a job loses nothing: its job finishes on another worker once
//! the lease expires, with one result.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestFile, png, shared, spawn_web_only};
use reqwest::StatusCode;

/// Kills the worker processes when the test ends, however it ends.
struct Workers(Vec<(String, Child)>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_run_every_job_once_and_survive_a_kill() {
    let app = spawn_web_only(Backend::Postgres).await;
    let db = app.app.state.db.clone();
    let (project, key) = app.create_project("scale-out").await;
    for (label, seed) in [
        ("a", 1u8),
        ("a", 2),
        ("a", 3),
        ("a", 4),
        ("b", 101),
        ("b", 102),
        ("b", 103),
        ("b", 104),
    ] {
        let (status, body) = app
            .ingest(
                "training",
                Some(&key),
                &[("x-label", label)],
                &[TestFile::new("x.png", png(48, 48, seed))],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut job_ids = Vec::new();
    for _ in 0..20 {
        job_ids.push(app.start_training(&project, &key, None).await);
    }

    let spawn = |id: &str| {
        Command::new(env!("CARGO_BIN_EXE_tinystudio"))
            .args(["worker", "--worker-id", id])
            .env("DATABASE_URL", &app.database_url)
            // The web server's data folder stands for a shared volume: one
            // blob store for all.
            .env("TINYSTUDIO_DATA_DIR", &app.data_dir)
            .env("TINYSTUDIO_BACKBONES_DIR", shared("backbones"))
            .env("TINYSTUDIO_WORKER_LEASE_SECS", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker process")
    };
    let mut workers = Workers(
        ["w1", "w2", "w3"]
            .iter()
            .map(|id| (id.to_string(), spawn(id)))
            .collect(),
    );

    // Wait for w1 to be in the middle of a job, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(300);
    let killed_job = loop {
        let rows = sqlx::query_as::<_, (String,)>(
            "SELECT id FROM jobs WHERE status = 'running' AND worker_id = 'w1'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        if let Some((id,)) = rows.into_iter().next() {
            break id;
        }
        assert!(Instant::now() < deadline, "w1 never ran a job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, w1) = &mut workers.0[0];
    w1.kill().unwrap(); // SIGKILL
    w1.wait().unwrap();

    // Everything finishes on the two others.
    loop {
        let pending: i64 = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} jobs still pending");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut runs_by_worker = std::collections::BTreeMap::<String, usize>::new();
    for id in &job_ids {
        let job = app.job(&project, &key, id).await;
        assert_eq!(job["status"], "succeeded", "{id}: {}", job["error"]);
        let expected_attempts = if *id == killed_job { 2 } else { 1 };
        assert_eq!(
            job["attempts"], expected_attempts,
            "job {id} ran {} times",
            job["attempts"]
        );
        let models: i64 =
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM models WHERE job_id = $1")
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(models, 1, "job {id} has exactly one result");
        let worker: String =
            sqlx::query_scalar::<_, String>("SELECT worker_id FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        *runs_by_worker.entry(worker).or_default() += 1;
    }
    assert_ne!(
        sqlx::query_scalar::<_, String>("SELECT worker_id FROM jobs WHERE id = $1")
            .bind(&killed_job)
            .fetch_one(&db.pool)
            .await
            .unwrap(),
        "w1",
        "the killed job was finished by another worker"
    );
    println!("jobs finished per worker: {runs_by_worker:?}");
    assert!(
        runs_by_worker.len() >= 2,
        "the work was spread: {runs_by_worker:?}"
    );
    drop(workers);
    drop(app);
}
