//! The job queue's contract on both databases: a job whose worker died is
//! retried once its lease expires and records one result; a job that would
//! fail the same way again is not retried.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, TestFile, png};
use serde_json::json;
use tinystudio_domain::artifacts::MODEL_BLOB;
use tinystudio_storage::{BlobKey, jobs};

backend_tests!(
    a_job_whose_worker_died_is_retried,
    a_permanent_failure_is_not_retried,
    the_pages_show_tests_and_jobs_in_words
);

/// Three small images of each of two labels in the training set.
async fn six_training_images(app: &TestApp, key: &str) {
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
            Some(key),
            &[("x-label", label)],
            &[TestFile::new("x.png", png(40, 40, seed))],
        )
        .await;
    }
}

/// [`six_training_images`] and a two-epoch training job, run.
async fn trained_model(app: &TestApp, project: &str, key: &str) -> String {
    six_training_images(app, key).await;
    let job_id = app
        .start_training(project, key, Some(json!({ "learning": { "epochs": 2 } })))
        .await;
    app.run_pending_jobs().await;
    let job = app.job(project, key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job["result"]["modelId"].as_str().unwrap().to_owned()
}

/// One testing sample of each of the trained model's labels.
async fn two_test_samples(app: &TestApp, key: &str) {
    for (label, seed) in [("a", 7u8), ("b", 107)] {
        app.ingest(
            "testing",
            Some(key),
            &[("x-label", label)],
            &[TestFile::new("t.png", png(40, 40, seed))],
        )
        .await;
    }
}

async fn a_permanent_failure_is_not_retried(app: TestApp) {
    let (project, key) = app.create_project("permanent").await;
    let model = trained_model(&app, &project, &key).await;
    two_test_samples(&app, &key).await;
    // The int8 model's file is damaged: every run of the test job would
    // fail on it the same way.
    let blob = BlobKey::artifact(&model, MODEL_BLOB).unwrap();
    app.app
        .state
        .blobs
        .put(&blob, bytes::Bytes::from_static(b"not a model"))
        .await
        .unwrap();
    let (status, started) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/projects/{project}/models/{model}/test"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{started}");
    let job_id = started["jobId"].as_str().unwrap();
    app.run_pending_jobs().await;
    let job = app.job(&project, &key, job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["attempts"], 1,
        "retried although it cannot succeed: {job}"
    );
    // Found by the hash recorded with the model, before the engine parses it.
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("model.tsmb is damaged"),
        "{job}"
    );
    // Nothing is waiting to run it again.
    assert_eq!(app.run_pending_jobs().await, 0);
}

async fn a_job_whose_worker_died_is_retried(app: TestApp) {
    let (project, key) = app.create_project("retry").await;
    six_training_images(&app, &key).await;
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

/// `GET path` as the browser with the local cookie.
async fn page(app: &TestApp, path: &str) -> String {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

/// "Classify all" on the Test page, as its form posts it.
async fn classify_all(app: &TestApp, project: &str, model: &str, precision: &str) {
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/test/run")))
        .header("cookie", &app.cookie)
        .form(&[
            ("model", model),
            ("precision", precision),
            ("threshold", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
}

/// The cells of the table row that starts with `first`.
fn row_cells(html: &str, first: &str) -> Vec<String> {
    let start = html
        .find(&format!("<tr><td>{first}</td>"))
        .unwrap_or_else(|| panic!("no row {first}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("<td>")
        .skip(1)
        .map(|c| c[..c.find("</td>").unwrap()].to_owned())
        .collect()
}

async fn the_pages_show_tests_and_jobs_in_words(app: TestApp) {
    let (project, key) = app.create_project("words").await;
    let model = trained_model(&app, &project, &key).await;
    two_test_samples(&app, &key).await;
    let test_page = format!("/projects/{project}/test?model={model}");

    // Queued: without JavaScript the page reloads itself until it ends.
    classify_all(&app, &project, &model, "int8").await;
    let html = page(&app, &test_page).await;
    assert!(html.contains(r#"<meta http-equiv="refresh""#), "{html}");
    app.run_pending_jobs().await;
    let html = page(&app, &test_page).await;
    assert!(!html.contains(r#"<meta http-equiv="refresh""#));

    // With the threshold at 1 every result is uncertain, and shown so.
    assert!(
        html.contains(
            "2 uncertain: for these samples the top score was below the confidence threshold 1.00"
        ),
        "{html}"
    );
    assert!(html.contains(r#"<th class="uncertain" title="top score below 1.00">uncertain</th>"#));
    assert!(
        html.contains("uncertain (top "),
        "the samples' list says uncertain"
    );
    // Precision, recall and F1 are all percentages.
    for label in ["a", "b"] {
        let cells = row_cells(&html, label);
        assert_eq!(cells.len(), 4, "{cells:?}");
        assert!(cells[1..].iter().all(|c| c.ends_with('%')), "{cells:?}");
    }
    assert!(
        !html.contains("precision-comparison"),
        "one precision so far"
    );

    // Float too: the two side by side.
    classify_all(&app, &project, &model, "float32").await;
    app.run_pending_jobs().await;
    let html = page(&app, &test_page).await;
    assert!(html.contains(r#"id="precision-comparison""#), "{html}");
    assert!(html.contains("<th>int8 (as on the board)</th><th>float32</th>"));
    let accuracy = row_cells(&html, "Accuracy");
    assert_eq!(accuracy.len(), 3);
    assert!(accuracy[1].ends_with('%') && accuracy[2].ends_with('%'));

    // The test job's own page has the uncertain column too.
    let (_, list) = app
        .get(&format!("/api/projects/{project}/jobs?kind=test"), &key)
        .await;
    let test_job = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "test")
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .expect("a test job");
    let html = page(&app, &format!("/projects/{project}/jobs/{test_job}")).await;
    assert!(html.contains(">uncertain</th>"), "{html}");
    assert!(html.contains(r#"<progress id="job-progress" value="100""#));

    // A cancelled job is not an error.
    classify_all(&app, &project, &model, "int8").await;
    let (_, list) = app
        .get(&format!("/api/projects/{project}/jobs"), &key)
        .await;
    let queued = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["status"] == "queued")
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .expect("the queued test");
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/jobs/{queued}/cancel")))
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    app.run_pending_jobs().await;
    let html = page(&app, &format!("/projects/{project}/jobs/{queued}")).await;
    assert!(
        html.contains(r#"<p class="flash neutral" role="status">Cancelled"#),
        "{html}"
    );
    assert!(!html.contains("flash error"), "{html}");
    assert!(html.contains(r#"id="job-status">Cancelled</span>"#));
}
