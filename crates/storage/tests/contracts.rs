//! The job contract through the queue on both databases: for every job
//! kind, the payload the web server enqueues is the payload the worker
//! claims, the output the worker stores is the output the pages read, and
//! each kind keeps its own retry budget. Events round-trip too.

mod common;

use tinystudio_domain::footprint::{FirmwareSize, Measurement};
use tinystudio_domain::jobs::deploy::ArtifactFile;
use tinystudio_domain::jobs::run::LabelScore;
use tinystudio_domain::jobs::test::{ClassScores, SampleOutcome, TestTime};
use tinystudio_domain::jobs::*;
use tinystudio_domain::model::{Epoch, ModelMetrics, TrainingTime};
use tinystudio_domain::{JobId, JobSpec, JobStatus, ModelId, ProjectId, Report, SampleId};
use tinystudio_storage::{Db, jobs, projects};

async fn round_trip<J: JobSpec>(db: &Db, project: ProjectId, payload: J::Payload, output: J::Output)
where
    J::Payload: PartialEq,
    J::Output: PartialEq,
{
    let queued = jobs::enqueue::<J>(db, project, &payload).await.unwrap();
    assert_eq!(queued.kind, J::KIND);
    assert_eq!(queued.max_attempts, J::MAX_ATTEMPTS);
    let claimed = jobs::claim(db, "w1", 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, queued.id);
    assert_eq!(claimed.payload::<J>().unwrap(), payload);
    assert_eq!(claimed.output::<J>().unwrap(), None);
    let stored = serde_json::to_value(&output).unwrap();
    assert!(jobs::succeed(db, claimed.id, "w1", &stored).await.unwrap());
    let done = jobs::get(db, project, claimed.id).await.unwrap();
    assert_eq!(done.output::<J>().unwrap(), Some(output));
}

fn epoch(n: u32) -> Epoch {
    Epoch {
        epoch: n,
        loss: 1.0 / n as f32,
        accuracy: 0.5 + 0.01 * n as f32,
        val_loss: Some(0.9 / n as f32),
        val_accuracy: None,
    }
}

async fn every_kind_round_trips(db: Db) {
    let project = projects::create(&db, "contracts").await.unwrap().id;
    let model_id = ModelId::new();
    let deployment_id = JobId::new();

    let metrics = ModelMetrics {
        labels: vec!["airplane".into(), "ship".into()],
        validation_accuracy: Some(0.875),
        int8_validation_accuracy: Some(0.86),
        confusion_matrix: vec![vec![7, 1], vec![1, 7]],
        history: vec![epoch(1), epoch(2)],
        training_samples: 64,
        validation_samples: 16,
        macs: 7_489_664,
        arena_bytes: 37_632,
        blob_bytes: 244_296,
        backbone: "MobileNetV1 0.25, ImageNet".into(),
        imagenet_pretrained: true,
        warning: Some("the int8 model lost 3.5 points".into()),
        timing_ms: TrainingTime {
            decode_ms: 10,
            features_ms: 1000,
            train_ms: 200,
            quantize_ms: 1500,
            save_ms: 5,
        },
    };
    round_trip::<Train>(
        &db,
        project,
        TrainPayload { impulse_version: 3 },
        TrainOutput {
            model_id,
            model_version: 2,
            metrics,
        },
    )
    .await;

    round_trip::<Test>(
        &db,
        project,
        TestPayload {
            model_id,
            precision: Precision::Float32,
            threshold: 0.6,
        },
        TestOutput {
            model_id,
            model_version: 2,
            precision: Precision::Float32,
            threshold: 0.6,
            accuracy: 0.5,
            labels: vec!["airplane".into(), "ship".into()],
            confusion_matrix: vec![vec![1, 0], vec![1, 0]],
            per_class: vec![ClassScores {
                label: "airplane".into(),
                precision: 0.5,
                recall: 1.0,
                f1: 2.0 / 3.0,
                support: 1,
                uncertain: 0,
            }],
            uncertain: 1,
            samples: vec![SampleOutcome {
                sample_id: SampleId::new(),
                file_name: "ship.1.jpg".into(),
                label: "ship".into(),
                predicted: "airplane".into(),
                score: 0.55,
                correct: false,
                uncertain: true,
            }],
            timing_ms: TestTime { inference: 12 },
        },
    )
    .await;

    round_trip::<Deploy>(
        &db,
        project,
        DeployPayload {
            model_id,
            board: "nano33ble".into(),
        },
        DeployOutput {
            deployment_id,
            board: "nano33ble".into(),
            board_title: "Arduino Nano 33 BLE".into(),
            model_id,
            model_version: 2,
            toolchain: "rustup".into(),
            build_seconds: 12.5,
            artifacts: vec![ArtifactFile {
                name: "firmware.elf".into(),
                kind: "elf".into(),
                bytes: 400_000,
                sha256: Some("ab".repeat(32)),
            }],
            flashing: "probe-rs download".into(),
            emulated: false,
            size: FirmwareSize {
                flash_used: 315_000,
                flash_limit: 1 << 20,
                model_bytes: 244_296,
                code_bytes: 70_704,
                ram_static: 37_700,
                ram_limit: 256 << 10,
                arena_bytes: 37_632,
                stack_available: 224_444,
                fits: true,
            },
            measured: Some(Measurement {
                instructions: 10_995_880,
                stack_used: Some(21_576),
            }),
        },
    )
    .await;

    round_trip::<Run>(
        &db,
        project,
        RunPayload {
            deployment_id,
            input_name: Some("ship.1.jpg".into()),
            true_label: Some("ship".into()),
        },
        RunOutput {
            deployment_id,
            input_name: Some("ship.1.jpg".into()),
            true_label: Some("ship".into()),
            lines: vec![
                "Predictions (DSP: 4 ms., Classification: 600 ms., Anomaly: 0 ms.):".into(),
            ],
            scores: vec![LabelScore {
                label: "ship".into(),
                score: 0.99609,
            }],
            predicted: Some("ship".into()),
            raw: vec![-128, 127],
            host_raw: vec![-128, 127],
            matches_host: true,
            instructions: Some(15_000_000),
            classification_ms: 600,
        },
    )
    .await;

    let trial = |outcome: TrialOutcome, int8: Option<f64>| Trial {
        impulse: tinystudio_domain::ImpulseConfig::default(),
        outcome,
        float_accuracy: int8.map(|a| a + 0.01),
        int8_accuracy: int8,
        checks: int8.into_iter().collect(),
        footprint: None,
        ms: 4_200,
        worker: int8.map(|_| "w2".into()),
        pareto: int8.is_some(),
    };
    round_trip::<Tune>(
        &db,
        project,
        TunePayload {
            board: "nano33ble".into(),
            impulse_version: 3,
            budget_seconds: 300,
            latency_budget_ms: Some(250.0),
        },
        TuneOutput {
            board: "nano33ble".into(),
            trials: vec![
                trial(TrialOutcome::Scored, Some(0.81)),
                trial(
                    TrialOutcome::OutOfBudget("needs 300 KB of RAM".into()),
                    Some(0.9),
                ),
                trial(TrialOutcome::Stopped("far below the best".into()), None),
                trial(TrialOutcome::Skipped("did not fit".into()), None),
                trial(TrialOutcome::Failed("diverged".into()), None),
            ],
            best: Some(0),
            baseline: Some(0),
            elapsed_ms: 299_000,
            budget_seconds: 300,
        },
    )
    .await;

    let search = JobId::new();
    round_trip::<TuneTrial>(
        &db,
        project,
        TrialPayload {
            search,
            impulse: tinystudio_domain::ImpulseConfig::default(),
            board: "nano33ble".into(),
            latency_budget_ms: None,
            best_so_far: Some(0.8),
            deadline_ms: 1_800_000_000_000,
            training_set: "ab12".into(),
        },
        trial(TrialOutcome::Scored, Some(0.83)),
    )
    .await;

    round_trip::<Explore>(
        &db,
        project,
        ExplorePayload { impulse_version: 2 },
        ExploreOutput {
            method: "PCA".into(),
            impulse_version: 2,
            explained: [0.41, 0.17],
            labels: vec!["airplane".into(), "ship".into()],
            points: vec![
                MapPoint {
                    sample: SampleId::new(),
                    x: 1.5,
                    y: -0.25,
                    label: Some(0),
                    testing: false,
                    nearer: Some(1),
                    margin: Some(0.125),
                },
                MapPoint {
                    sample: SampleId::new(),
                    x: -3.0,
                    y: 2.0,
                    label: None,
                    testing: true,
                    nearer: None,
                    margin: None,
                },
            ],
        },
    )
    .await;

    let library_id = JobId::new();
    round_trip::<Library>(
        &db,
        project,
        LibraryPayload {
            model_id,
            kind: "arduino".into(),
        },
        LibraryOutput {
            library_id,
            kind: "arduino".into(),
            title: "Arduino library".into(),
            model_id,
            model_version: 3,
            file: ArtifactFile {
                name: "TinyStudio_cups_v3-arduino.zip".into(),
                kind: "zip".into(),
                bytes: 812_345,
                sha256: Some("ab".repeat(32)),
            },
            folder: "TinyStudio_cups_v3".into(),
            files: vec!["library.properties".into(), "src/tinystudio.h".into()],
            toolchain: Some("/usr/bin/cargo with /usr/bin/rustc".into()),
            build_seconds: 61.5,
        },
    )
    .await;

    // A job read as another kind is refused, not misread.
    let listed = jobs::list(&db, project, None, 10).await.unwrap();
    assert_eq!(listed.len(), 8);
    for job in &listed {
        let as_train = job.payload::<Train>();
        assert_eq!(as_train.is_ok(), job.kind == Train::KIND, "{job:?}");
    }

    // Events: a log line and an epoch come back as they went in.
    let job = listed[0].id;
    let reports = [
        Report::Log("decoding 600 images".into()),
        Report::Epoch(epoch(1)),
    ];
    for r in &reports {
        jobs::add_event(&db, job, r).await.unwrap();
    }
    let events = jobs::events_since(&db, job, 0, 10).await.unwrap();
    let back: Vec<Report> = events.into_iter().map(|e| e.report).collect();
    assert_eq!(back, reports);
}

/// A search's trials: queued as its children, claimed in the order queued
/// (by any worker, or by the search itself), listed with it and not among
/// the project's jobs, and cancelled with what is left when it is done.
async fn children_are_claimed_in_order_and_cancelled_with_their_parent(db: Db) {
    let project = projects::create(&db, "children").await.unwrap().id;
    let payload = |i: u8| TrialPayload {
        search: JobId::new(),
        impulse: tinystudio_domain::ImpulseConfig::default(),
        board: "nano33ble".into(),
        latency_budget_ms: None,
        best_so_far: None,
        deadline_ms: i64::from(i),
        training_set: String::new(),
    };
    jobs::enqueue::<Tune>(
        &db,
        project,
        &TunePayload {
            board: "nano33ble".into(),
            impulse_version: 1,
            budget_seconds: 60,
            latency_budget_ms: None,
        },
    )
    .await
    .unwrap();
    let parent = jobs::claim(&db, "search", 60_000).await.unwrap().unwrap();
    let ids = jobs::enqueue_children::<TuneTrial>(
        &db,
        &parent,
        &[payload(1), payload(2), payload(3), payload(4)],
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 4);
    let listed = jobs::list(&db, project, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "only the search is listed");
    // Another worker takes the first, the search the second.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let other = jobs::claim(&db, "other", 60_000).await.unwrap().unwrap();
    assert_eq!(other.id, ids[0]);
    assert_eq!(other.parent_id, Some(parent.id));
    let own = jobs::claim_child(&db, parent.id, "search", 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.id, ids[1]);
    assert!(
        jobs::succeed(&db, own.id, "search", &serde_json::json!({}))
            .await
            .unwrap()
    );
    // A child of another parent is not this parent's.
    assert!(
        jobs::claim_child(&db, JobId::new(), "search", 60_000)
            .await
            .unwrap()
            .is_none()
    );

    jobs::cancel_children(&db, parent.id).await.unwrap();
    let children = jobs::children(&db, parent.id).await.unwrap();
    let seen: Vec<(JobId, JobStatus, bool)> = children
        .iter()
        .map(|c| (c.id, c.status, c.cancel_requested))
        .collect();
    assert_eq!(
        seen,
        vec![
            (ids[0], JobStatus::Running, true),
            (ids[1], JobStatus::Succeeded, false),
            (ids[2], JobStatus::Cancelled, false),
            (ids[3], JobStatus::Cancelled, false),
        ]
    );
    assert!(jobs::claim(&db, "other", 60_000).await.unwrap().is_none());
}

#[tokio::test]
async fn sqlite() {
    let (_dir, db) = common::sqlite().await;
    every_kind_round_trips(db).await;
}

#[tokio::test]
async fn sqlite_children() {
    let (_dir, db) = common::sqlite().await;
    children_are_claimed_in_order_and_cancelled_with_their_parent(db).await;
}

#[tokio::test]
async fn postgres_children() {
    children_are_claimed_in_order_and_cancelled_with_their_parent(common::postgres().await).await;
}

#[tokio::test]
async fn postgres() {
    every_kind_round_trips(common::postgres().await).await;
}
