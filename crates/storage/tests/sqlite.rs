//! The storage layer against a real SQLite file. (The HTTP integration tests
//! in the repository's tests/ folder cover the same queries on PostgreSQL.)

mod common;

use tinystudio_domain::jobs::{Train, TrainPayload};
use tinystudio_domain::{Category, Label, Metadata, ProjectId};
use tinystudio_storage::samples::{LabelFilter, NewSample, SampleChange, SampleFilter};
use tinystudio_storage::{jobs, keys, projects, samples};

use common::sqlite as db;

fn new_sample(project: ProjectId, label: &str, sha_byte: u8) -> NewSample {
    NewSample {
        project_id: project,
        file_name: format!("{label}.jpg"),
        label: Some(Label::parse(label).unwrap()),
        category: Category::Training,
        sha256: hex::encode([sha_byte; 32]),
        size_bytes: 10,
        width: 32,
        height: 32,
        content_type: "image/jpeg".into(),
        metadata: Metadata::new(),
    }
}

#[tokio::test]
async fn samples_keys_and_jobs_round_trip() {
    let (_dir, db) = db().await;
    let p = projects::create(&db, "cars").await.unwrap();
    let other = projects::create(&db, "boats").await.unwrap();

    let (key, secret) = keys::create(&db, p.id, "default").await.unwrap();
    assert!(secret.starts_with("ei_") && secret.len() == 67);
    assert_eq!(
        keys::authenticate(&db, &secret)
            .await
            .unwrap()
            .unwrap()
            .project_id,
        p.id
    );
    keys::revoke(&db, p.id, key.id).await.unwrap();
    assert!(keys::authenticate(&db, &secret).await.unwrap().is_none());
    assert!(keys::revoke(&db, other.id, key.id).await.is_err());

    let mut ids = Vec::new();
    for i in 0..10u8 {
        let label = if i % 2 == 0 { "car" } else { "truck" };
        ids.push(
            samples::insert(&db, new_sample(p.id, label, i))
                .await
                .unwrap()
                .id,
        );
    }
    samples::insert(&db, new_sample(other.id, "boat", 99))
        .await
        .unwrap();
    let filter = SampleFilter {
        label: Some(LabelFilter::Is("car".into())),
        ..Default::default()
    };
    let (total, page) = samples::list(&db, p.id, &filter, 3, 0).await.unwrap();
    assert_eq!((total, page.len()), (5, 3));

    // A bulk change with a foreign id changes nothing.
    let foreign = samples::list(&db, other.id, &SampleFilter::default(), 1, 0)
        .await
        .unwrap()
        .1[0]
        .id;
    let change = SampleChange {
        category: Some(Category::Testing),
        ..Default::default()
    };
    assert!(
        samples::update(&db, p.id, &[ids[0], foreign], &change)
            .await
            .is_err()
    );
    assert_eq!(samples::counts(&db, p.id).await.unwrap().testing, 0);
    assert_eq!(
        samples::update(&db, p.id, &ids[..2], &change)
            .await
            .unwrap(),
        2
    );
    assert_eq!(samples::counts(&db, p.id).await.unwrap().testing, 2);

    let moved = samples::rebalance(&db, p.id).await.unwrap();
    let counts = samples::counts(&db, p.id).await.unwrap();
    assert_eq!((counts.training, counts.testing), (8, 2), "moved {moved}");
    for l in &counts.labels {
        assert_eq!((l.training, l.testing), (4, 1));
    }

    let payload = TrainPayload { impulse_version: 1 };
    let job = jobs::enqueue::<Train>(&db, p.id, &payload).await.unwrap();
    let claimed = jobs::claim(&db, "w1", 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    assert!(jobs::claim(&db, "w2", 60_000).await.unwrap().is_none());
    assert!(
        jobs::succeed(&db, job.id, "w1", &serde_json::json!({"ok": 1}))
            .await
            .unwrap()
    );
    assert!(
        !jobs::succeed(&db, job.id, "w1", &serde_json::json!({"ok": 2}))
            .await
            .unwrap()
    );

    projects::delete(&db, p.id).await.unwrap();
    assert!(projects::get(&db, p.id).await.is_err());
    assert_eq!(samples::counts(&db, other.id).await.unwrap().total, 1);
}
