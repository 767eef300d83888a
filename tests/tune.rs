//! "Find the best impulse" through the API and its page: a search on
//! CIFAR-3 for the Nano 33 BLE within a small budget, its trials, and one
//! click making its best trial the project's impulse and model (SQLite: the
//! search is CPU work, and the queue's contract is tested on both databases
//! in `crates/storage/tests/contracts.rs`); and one search shared by two
//! worker processes on PostgreSQL, the scale-out path.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::process::{Place, Studio};
use common::{Backend, TestApp, spawn_app, spawn_web_only};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BUDGET_SECONDS: u64 = 40;

/// A quick starting impulse (48x48, few epochs); returns it as saved.
async fn set_quick_impulse(app: &TestApp, project: &str, key: &str) -> Value {
    let start = json!({"input": {"width": 48, "height": 48}, "learning": {"epochs": 8}});
    let (status, body) = app
        .send_json(
            Method::PUT,
            &format!("/api/projects/{project}/impulse"),
            key,
            start,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn int8(trial: &Value) -> f64 {
    trial["int8Accuracy"].as_f64().unwrap_or(f64::NAN)
}

/// Int8 validation accuracy on the trial's split and the other splits it
/// was checked on.
fn scores(trial: &Value) -> Vec<f64> {
    let checks = trial["checks"].as_array().cloned().unwrap_or_default();
    std::iter::once(int8(trial))
        .chain(checks.iter().map(|c| c.as_f64().unwrap()))
        .collect()
}

fn mean(trial: &Value) -> f64 {
    let s = scores(trial);
    s.iter().sum::<f64>() / s.len() as f64
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_beats_or_keeps_the_starting_impulse_within_the_board_and_applies_its_best() {
    let app = spawn_app(Backend::Sqlite).await;
    let (project, key) = app.create_project("tune").await;
    let tune = format!("/api/projects/{project}/tune");

    // Nothing to search on yet.
    let (status, body) = app.send_json(Method::POST, &tune, &key, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    app.upload_cifar3_training(&key).await;
    let starting_impulse = set_quick_impulse(&app, &project, &key).await;

    // Bad requests are refused and queue nothing.
    for (bad, says) in [
        (json!({"board": "esp32"}), "unknown board"),
        (json!({"budgetSeconds": 3}), "budgetSeconds"),
        (json!({"latencyBudgetMs": -1}), "latencyBudgetMs"),
        (json!({"budget": 60}), "unknown field"),
    ] {
        let (status, body) = app.send_json(Method::POST, &tune, &key, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{body}");
    }
    let (_, jobs) = app
        .get(&format!("/api/projects/{project}/jobs"), &key)
        .await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");

    let (status, queued) = app
        .send_json(
            Method::POST,
            &tune,
            &key,
            json!({"board": "nano33ble", "budgetSeconds": BUDGET_SECONDS}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    let job_id = queued["jobId"].as_str().unwrap().to_owned();
    assert_eq!(app.run_pending_jobs().await, 1);
    let job = app.job(&project, &key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    let trials = result["trials"].as_array().unwrap();
    for (i, t) in trials.iter().enumerate() {
        println!(
            "trial {}: {} {}x{} {} alpha {} dense {} aug {} ft {} lr {}: int8 {:.3} (other splits {}) float {:.3}, {:?} ms on the board, trained in {} ms {}",
            i + 1,
            t["outcome"]["status"],
            t["impulse"]["input"]["width"],
            t["impulse"]["input"]["height"],
            t["impulse"]["image"]["colorDepth"],
            t["impulse"]["learning"]["alpha"],
            t["impulse"]["learning"]["denseNeurons"],
            t["impulse"]["learning"]["augmentation"],
            t["impulse"]["learning"]["fineTuneBlocks"],
            t["impulse"]["learning"]["learningRate"],
            int8(t),
            t["checks"],
            t["floatAccuracy"].as_f64().unwrap_or(f64::NAN),
            t["footprint"]["latency"]["ms"].as_f64(),
            t["ms"],
            t["outcome"]["reason"].as_str().unwrap_or_default()
        );
    }
    assert!(trials.len() >= 3, "a 40 s search tries several impulses");
    assert_eq!(result["baseline"], 0);
    assert_eq!(
        trials[0]["impulse"], starting_impulse,
        "it starts from the impulse"
    );
    assert!(
        trials[1..].iter().all(|t| t["impulse"] != starting_impulse),
        "every later trial is another impulse"
    );

    // The best trial: scored, at least as good as the start, well above
    // chance (3 classes), fits the Nano 33 BLE, and on the Pareto front.
    let best_index = result["best"].as_u64().expect("a best trial") as usize;
    let best = &trials[best_index];
    assert_eq!(best["outcome"]["status"], "scored", "{best}");
    assert!(mean(best) >= mean(&trials[0]), "{best}");
    // The leaders checked on other splits (when the search converged with
    // time left) are scored trials, and the best is the best on average.
    for t in trials.iter().filter(|t| t["checks"].is_array()) {
        assert_eq!(t["outcome"]["status"], "scored", "{t}");
        assert!(scores(t).iter().all(|a| (0.0..=1.0).contains(a)), "{t}");
    }
    for t in trials.iter().filter(|t| t["outcome"]["status"] == "scored") {
        assert!(mean(best) >= mean(t), "{best} against {t}");
    }
    assert!(int8(best) > 0.6, "learned: {}", int8(best));
    let f = &best["footprint"];
    assert_eq!(f["board"], "nano33ble");
    assert!(f["ramBytes"].as_u64() <= f["ramLimit"].as_u64(), "{f}");
    assert!(f["flashBytes"].as_u64() <= f["flashLimit"].as_u64(), "{f}");
    assert!(f["latency"]["ms"].as_f64().unwrap() > 0.0);
    assert_eq!(best["pareto"], true);
    // Every scored trial was trained to the end and estimated on the board.
    for t in trials.iter().filter(|t| t["outcome"]["status"] == "scored") {
        assert!(t["int8Accuracy"].is_number() && t["floatAccuracy"].is_number());
        assert!(t["footprint"]["latency"]["ms"].is_number());
    }

    // The search's page: the table, the plot, one button per trained trial.
    let page = app
        .page(&format!("/projects/{project}/jobs/{job_id}"))
        .await;
    assert!(page.contains("Find the best impulse") && page.contains("trials-plot"));
    let trained = trials
        .iter()
        .filter(|t| t["int8Accuracy"].is_number())
        .count();
    assert_eq!(page.matches("Use this impulse").count(), trained);

    // Applying: trials are counted from 1; a bad number or another job is refused.
    let apply = format!("/api/projects/{project}/tune/{job_id}/apply");
    for bad in [0, trials.len() + 1] {
        let (status, body) = app
            .send_json(Method::POST, &apply, &key, json!({ "trial": bad }))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, applied) = app
        .send_json(
            Method::POST,
            &apply,
            &key,
            json!({ "trial": best_index + 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{applied}");
    let (_, impulse) = app
        .get(&format!("/api/projects/{project}/impulse"), &key)
        .await;
    assert_eq!(impulse, best["impulse"], "the trial's impulse is saved");
    let training = applied["jobId"].as_str().unwrap().to_owned();
    assert_eq!(app.run_pending_jobs().await, 1);
    let trained = app.job(&project, &key, &training).await;
    assert_eq!(trained["status"], "succeeded", "{trained}");
    // The Impulse page lists the search and the training it started.
    let impulse_page = app.page(&format!("/projects/{project}/impulse")).await;
    for job in [&job_id, &training] {
        assert!(
            impulse_page.contains(&format!("/projects/{project}/jobs/{job}")),
            "the Impulse page links job {job}"
        );
    }
    let accuracy = trained["result"]["int8ValidationAccuracy"]
        .as_f64()
        .unwrap();
    println!(
        "best trial int8 {:.3}; trained again after applying: {accuracy:.3}",
        int8(best)
    );
    assert!(
        (accuracy - int8(best)).abs() <= 0.03,
        "the applied impulse trains to the trial's model ({accuracy} against {})",
        int8(best)
    );
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/tune/{training}/apply"),
            &key,
            json!({ "trial": 1 }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a training job is not a search: {body}"
    );
}

/// Two worker processes share one search: its trials are jobs of their
/// own, each worker runs some of them, the search collects every one, and
/// when it ends nothing of it is left queued or running. The trials are not
/// listed among the project's jobs, and each has a page that leads back to
/// its search.
#[tokio::test(flavor = "multi_thread")]
async fn two_workers_share_the_trials_of_one_search() {
    let app = spawn_web_only(Backend::Postgres).await;
    let db = app.app.state.db.clone();
    let (project, key) = app.create_project("tune-shared").await;
    app.upload_cifar3_training(&key).await;
    set_quick_impulse(&app, &project, &key).await;
    let (status, queued) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/tune"),
            &key,
            json!({"board": "nano33ble", "budgetSeconds": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let search = queued["jobId"].as_str().unwrap().to_owned();

    let place = Place {
        data_dir: app.data_dir.clone(),
        database_url: app.database_url.clone(),
    };
    let workers = [Studio::worker(&place, "w1"), Studio::worker(&place, "w2")];
    let deadline = Instant::now() + Duration::from_secs(300);
    let job = loop {
        let job = app.job(&project, &key, &search).await;
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            break job;
        }
        assert!(Instant::now() < deadline, "the search did not end: {job}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    let trials = job["result"]["trials"].as_array().unwrap();
    let ran_on: BTreeSet<&str> = trials.iter().filter_map(|t| t["worker"].as_str()).collect();
    println!("{} trials, run on {ran_on:?}", trials.len());
    assert_eq!(
        ran_on,
        BTreeSet::from(["w1", "w2"]),
        "both workers ran trials"
    );
    for t in trials.iter().filter(|t| t["int8Accuracy"].is_number()) {
        assert!(
            t["worker"].is_string(),
            "a trained trial names its worker: {t}"
        );
    }
    let best = &trials[job["result"]["best"].as_u64().expect("a best trial") as usize];
    assert!(int8(best) > 0.6, "learned: {}", int8(best));

    let children: Vec<(String, String)> =
        sqlx::query_as("SELECT id, status FROM jobs WHERE parent_id = $1 ORDER BY created_at")
            .bind(&search)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        children
            .iter()
            .all(|(_, status)| !matches!(status.as_str(), "queued" | "running")),
        "nothing of the search is left: {children:?}"
    );
    let trained = trials
        .iter()
        .filter(|t| t["outcome"]["status"] != "skipped")
        .count();
    let succeeded = children.iter().filter(|(_, s)| s == "succeeded").count();
    assert!(
        succeeded >= trained,
        "every trained trial was a job: {succeeded} of {trained}"
    );

    let (_, listed) = app
        .get(&format!("/api/projects/{project}/jobs"), &key)
        .await;
    let listed: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [search.as_str()], "trials are not listed");
    let (trial, _) = &children[0];
    let page = app.page(&format!("/projects/{project}/jobs/{trial}")).await;
    assert!(page.contains("Trial of an impulse search"), "{page}");
    assert!(page.contains(&format!("/projects/{project}/jobs/{search}")));
    drop(workers);
}
