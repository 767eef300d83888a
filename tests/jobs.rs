//! The job queue's contract on both databases: a job whose worker died is
//! retried once its lease expires and records one result.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, TestFile, png};
use serde_json::json;
use tinystudio_storage::jobs;

backend_tests!(a_job_whose_worker_died_is_retried);

async fn a_job_whose_worker_died_is_retried(app: TestApp) {
    let (project, key) = app.create_project("retry").await;
    for (label, seed) in [
        ("a", 1u8),
        ("a", 2),
        ("a", 3),
        ("b", 100),
        ("b", 101),
        ("b", 102),
    ] {
        app.ingest(
            "training",
            Some(&key),
            &[("x-label", label)],
            &[TestFile::new("x.png", png(40, 40, seed))],
        )
        .await;
    }
    let job_id = app
        .start_training(&project, &key, Some(json!({ "learning": { "epochs": 2 } })))
        .await;

    // A worker claims it with a short lease and dies without a word.
    let db = &app.app.state.db;
    let claimed = jobs::claim(db, "worker-that-dies", 50)
        .await
        .unwrap()
        .expect("the job is claimable");
    assert_eq!(claimed.id.to_string(), job_id);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A live worker requeues it (after its backoff) and runs it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        app.run_pending_jobs().await;
        let job = app.job(&project, &key, &job_id).await;
        if job["status"] == "succeeded" {
            assert_eq!(job["attempts"], 2, "{job}");
            break;
        }
        assert!(Instant::now() < deadline, "the job was not retried: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The dead worker's late report is discarded: the job is not its any more.
    let late = jobs::succeed(db, claimed.id, "worker-that-dies", &json!({ "late": true }))
        .await
        .unwrap();
    assert!(!late);
    let (_, models) = app
        .get(&format!("/api/projects/{project}/models"), &key)
        .await;
    assert_eq!(models["models"].as_array().unwrap().len(), 1);
}
