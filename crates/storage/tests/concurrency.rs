//! Version numbers under concurrent writers: workers on several machines
//! save models, and people save impulses, at the same moment. Each save gets
//! its own number. On PostgreSQL two `MAX + 1` inserts can pick the same
//! number; the loser of the unique constraint must take the next one rather
//! than fail the job (this failed before `models::insert` retried).

mod common;

use futures::future::join_all;
use tinystudio_domain::jobs::{Train, TrainPayload};
use tinystudio_domain::model::ModelMetrics;
use tinystudio_domain::{ImpulseConfig, ModelId};
use tinystudio_storage::{Db, impulses, jobs, models, projects};

const WRITERS: u32 = 12;

async fn concurrent_saves_get_distinct_versions(db: Db) {
    let project = projects::create(&db, "race").await.unwrap();

    let mut job_ids = Vec::new();
    for _ in 0..WRITERS {
        let payload = TrainPayload { impulse_version: 1 };
        let job = jobs::enqueue::<Train>(&db, project.id, &payload)
            .await
            .unwrap();
        job_ids.push(job.id);
    }
    let saved = join_all(job_ids.iter().map(|&job| {
        let db = db.clone();
        async move {
            let labels = ["a".to_owned(), "b".to_owned()];
            let new = models::NewModel {
                impulse_version: 1,
                job_id: job,
                labels: &labels,
                metrics: &ModelMetrics::default(),
                artifact_hashes: &Default::default(),
                imported: None,
            };
            models::insert(&db, ModelId::new(), project.id, new).await
        }
    }))
    .await;
    let mut versions: Vec<i64> = saved.into_iter().map(|m| m.unwrap().version).collect();
    versions.sort();
    assert_eq!(versions, (1..=i64::from(WRITERS)).collect::<Vec<_>>());

    let saved = join_all((1..=WRITERS).map(|epochs| {
        let db = db.clone();
        async move {
            let mut config = ImpulseConfig::default();
            config.learning.epochs = epochs;
            impulses::save(&db, project.id, &config).await
        }
    }))
    .await;
    let mut versions: Vec<i64> = saved.into_iter().map(|i| i.unwrap().version).collect();
    versions.sort();
    assert_eq!(versions, (1..=i64::from(WRITERS)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let (_dir, db) = common::sqlite().await;
    concurrent_saves_get_distinct_versions(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    concurrent_saves_get_distinct_versions(common::postgres().await).await;
}
