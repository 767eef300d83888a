//! The Impulse and Test steps end to end through the API: design the
//! impulse, train on CIFAR-3, follow the job, test the int8 model on the test
//! set, classify one image; cancellation and retry of jobs.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, cifar3, shared};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    cifar3_trains_to_80_percent_and_tests_as_int8,
    training_refuses_bad_datasets_and_impulses,
    a_cancelled_job_stops_quickly
);

/// Uploads CIFAR-3 with labels from its folders.
async fn upload_cifar3(app: &TestApp, key: &str) {
    for (split, category) in [("train", "training"), ("test", "testing")] {
        for label in ["airplane", "ship", "horse"] {
            let files = cifar3(split, label);
            let (status, _) = app
                .ingest(category, Some(key), &[("x-label", label)], &files)
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
}

async fn cifar3_trains_to_80_percent_and_tests_as_int8(app: TestApp) {
    let (project, key) = app.create_project("cifar3").await;
    upload_cifar3(&app, &key).await;

    // The default impulse, saved through the API (every field optional).
    let (status, impulse) = app
        .send_json(
            Method::PUT,
            &format!("/api/projects/{project}/impulse"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{impulse}");
    assert_eq!(impulse["input"]["width"], 96);
    assert_eq!(impulse["learning"]["epochs"], 20);
    let job_id = app.start_training(&project, &key, None).await;
    assert_eq!(app.job(&project, &key, &job_id).await["status"], "queued");

    assert_eq!(app.run_pending_jobs().await, 1);
    let trained = app.job(&project, &key, &job_id).await;
    assert_eq!(trained["status"], "succeeded", "{trained}");
    assert_eq!(trained["progress"], 1.0);
    let result = &trained["result"];
    let model_id = result["modelId"].as_str().unwrap().to_owned();
    let validation_accuracy = result["validationAccuracy"].as_f64().unwrap();
    println!(
        "CIFAR-3 validation accuracy: float {:.1}%, int8 {:.1}%",
        validation_accuracy * 100.0,
        result["int8ValidationAccuracy"]
            .as_f64()
            .unwrap_or(f64::NAN)
            * 100.0
    );
    assert!(validation_accuracy > 0.7, "{result}");
    assert_eq!(result["labels"], json!(["airplane", "horse", "ship"]));
    assert_eq!(result["confusionMatrix"].as_array().unwrap().len(), 3);

    // The events: one per epoch, and the log.
    let r = app
        .get_response(
            &format!("/api/projects/{project}/jobs/{job_id}/events"),
            &key,
        )
        .await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let stream = r.text().await.unwrap();
    assert_eq!(stream.matches("event: epoch").count(), 20, "{stream}");
    assert!(stream.contains("event: log") && stream.contains("\"status\":\"succeeded\""));

    // Test the int8 model on the test set.
    let (status, test) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model_id}/test"),
            &key,
            json!({ "precision": "int8" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!(app.run_pending_jobs().await, 1);
    let tested = app
        .job(&project, &key, test["jobId"].as_str().unwrap())
        .await;
    assert_eq!(tested["status"], "succeeded", "{tested}");
    let result = &tested["result"];
    let accuracy = result["accuracy"].as_f64().unwrap();
    println!("CIFAR-3 test accuracy (int8): {:.1}%", accuracy * 100.0);
    assert!(accuracy >= 0.80, "test accuracy {accuracy}");
    let matrix = result["confusionMatrix"].as_array().unwrap();
    let total: u64 = matrix
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 150, "rows = true label, one count per test sample");
    for (i, row) in matrix.iter().enumerate() {
        let sum: u64 = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(sum, 50, "row {i} holds the 50 samples of its label");
    }
    for class in result["perClass"].as_array().unwrap() {
        for field in ["precision", "recall", "f1"] {
            let v = class[field].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v));
        }
    }

    // The float model scores about the same.
    let (_, test) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model_id}/test"),
            &key,
            json!({ "precision": "float32" }),
        )
        .await;
    app.run_pending_jobs().await;
    let float = app
        .job(&project, &key, test["jobId"].as_str().unwrap())
        .await;
    let float_accuracy = float["result"]["accuracy"].as_f64().unwrap();
    println!(
        "CIFAR-3 test accuracy (float): {:.1}%",
        float_accuracy * 100.0
    );
    assert!(float_accuracy >= 0.80);

    // Live classification of one image.
    let image = std::fs::read(shared("datasets/cifar3/test/ship/0150.jpg")).unwrap();
    let r = app
        .client
        .post(app.url(&format!(
            "/api/projects/{project}/models/{model_id}/classify"
        )))
        .header("x-api-key", &key)
        .body(image)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let classified: Value = r.json().await.unwrap();
    let scores = classified["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 3);
    let sum: f64 = scores.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 0.02, "{classified}");
    assert!(classified["timingMs"].as_f64().unwrap() > 0.0);
    assert!(
        classified["input"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    // A non-image is refused clearly.
    let r = app
        .client
        .post(app.url(&format!(
            "/api/projects/{project}/models/{model_id}/classify"
        )))
        .header("x-api-key", &key)
        .body("not an image")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Models are versioned; the pages render the results.
    let (_, models) = app
        .get(&format!("/api/projects/{project}/models"), &key)
        .await;
    assert_eq!(models["models"].as_array().unwrap().len(), 1);
    for page in ["impulse", "test", &format!("jobs/{job_id}")] {
        let r = app
            .client
            .get(app.url(&format!("/projects/{project}/{page}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{page}");
        let html = r.text().await.unwrap();
        assert!(html.contains("airplane"), "{page} shows the labels");
    }
}

async fn training_refuses_bad_datasets_and_impulses(app: TestApp) {
    let (project, key) = app.create_project("small").await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/train"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("2 labels"),
        "{body}"
    );
    for bad in [
        json!({ "input": { "width": 16 } }),
        json!({ "learning": { "alpha": 0.3 } }),
        json!({ "learning": { "epochs": 0 } }),
        json!({ "image": { "colorDepth": "cmyk" } }),
        json!({ "learning": { "epochz": 3 } }),
    ] {
        let (status, reply) = app
            .send_json(
                Method::PUT,
                &format!("/api/projects/{project}/impulse"),
                &key,
                bad.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {reply}");
    }
    let (_, impulse) = app
        .get(&format!("/api/projects/{project}/impulse"), &key)
        .await;
    assert_eq!(
        impulse["learning"]["alpha"], 0.25,
        "refused impulses change nothing"
    );
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = app
        .get(&format!("/api/projects/{project}/jobs/{unknown}"), &key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{unknown}/test"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A cancelled training job stops within a few seconds and saves no model.
async fn a_cancelled_job_stops_quickly(app: TestApp) {
    let (project, key) = app.create_project("cancel").await;
    upload_cifar3(&app, &key).await;
    // Many epochs of single-sample batches, so the job is still training
    // when the cancel arrives.
    let job_id = app
        .start_training(
            &project,
            &key,
            Some(json!({ "learning": { "epochs": 1000, "batchSize": 1 } })),
        )
        .await;
    let worker = app.app.worker.clone().unwrap();
    let running = tokio::spawn(async move { worker.run_pending_jobs().await });

    // Wait until it trains (an epoch event exists), then cancel.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = app
            .client
            .get(app.url(&format!("/api/projects/{project}/jobs/{job_id}")))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        let j: Value = r.json().await.unwrap();
        if j["progress"].as_f64().unwrap_or(0.0) > 0.41 {
            break;
        }
        assert!(Instant::now() < deadline, "training never started: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cancelled_at = Instant::now();
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/jobs/{job_id}/cancel"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    running.await.unwrap().unwrap();
    let stopped_after = cancelled_at.elapsed();
    let j = app.job(&project, &key, &job_id).await;
    assert_eq!(j["status"], "cancelled", "progress {}", j["progress"]);
    println!(
        "cancelled job stopped {:.2} s after the request",
        stopped_after.as_secs_f64()
    );
    assert!(stopped_after < Duration::from_secs(10), "{stopped_after:?}");
    let (_, models) = app
        .get(&format!("/api/projects/{project}/models"), &key)
        .await;
    assert!(models["models"].as_array().unwrap().is_empty());
}
