//! The data explorer: every sample of CIFAR-3 mapped by its backbone
//! features, labels that fall apart on the map, and ten horses labelled
//! "airplane" among the training photos standing out as samples to check.

#[macro_use]
mod common;

use common::{TestApp, cifar3};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

backend_tests!(the_map_separates_labels_and_flags_mislabelled_samples);

/// Horses uploaded as airplanes.
const MISLABELLED: usize = 10;

async fn the_map_separates_labels_and_flags_mislabelled_samples(app: TestApp) {
    let (project, key) = app.create_project("explore").await;
    let explore = format!("/api/projects/{project}/explore");

    // Nothing to map yet.
    let (status, body) = app.get(&explore, &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.send_json(Method::POST, &explore, &key, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no samples"),
        "{body}"
    );

    for split in ["train", "test"] {
        for label in ["airplane", "ship", "horse"] {
            let mut files = cifar3(split, label);
            if split == "train" && label == "horse" {
                let wrong: Vec<_> = files.drain(..MISLABELLED).collect();
                let (status, _) = app
                    .ingest("training", Some(&key), &[("x-label", "airplane")], &wrong)
                    .await;
                assert_eq!(status, StatusCode::OK);
            }
            let category = if split == "train" {
                "training"
            } else {
                "testing"
            };
            let (status, _) = app
                .ingest(category, Some(&key), &[("x-label", label)], &files)
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }

    let (status, queued) = app.send_json(Method::POST, &explore, &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(app.run_pending_jobs().await, 1);
    let (status, job) = app.get(&explore, &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["id"], queued["jobId"]);
    assert_eq!(job["status"], "succeeded", "{job}");
    let map = &job["result"];
    assert_eq!(map["method"], "PCA");
    assert_eq!(map["labels"], json!(["airplane", "horse", "ship"]));
    let points = map["points"].as_array().unwrap();
    assert_eq!(points.len(), 600, "every sample, training and testing");
    assert_eq!(points.iter().filter(|p| p["testing"] == true).count(), 150);
    let explained: Vec<f64> = map["explained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        explained[0] >= explained[1] && explained[1] > 0.0,
        "{explained:?}"
    );
    assert!(explained[0] + explained[1] <= 1.0 + 1e-9, "{explained:?}");

    // Labels fall apart on the map: each sample's 5 nearest neighbours on
    // it mostly share its label (chance: a third).
    let xy: Vec<(f64, f64, i64)> = points
        .iter()
        .map(|p| {
            (
                p["x"].as_f64().unwrap(),
                p["y"].as_f64().unwrap(),
                p["label"].as_i64().unwrap(),
            )
        })
        .collect();
    let agree = xy
        .iter()
        .enumerate()
        .filter(|&(i, &(x, y, label))| {
            let mut near: Vec<(f64, i64)> = xy
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &(a, b, l))| ((a - x).powi(2) + (b - y).powi(2), l))
                .collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0));
            near[..5].iter().filter(|n| n.1 == label).count() >= 3
        })
        .count();
    let agreement = agree as f64 / xy.len() as f64;
    println!("on the map, {agreement:.2} of the samples are among their own label");
    assert!(agreement > 0.6, "{agreement}");

    // The horses labelled "airplane" stand out; few others do.
    let airplane = 0;
    let horse = 1;
    let (_, samples) = app
        .get(&format!("/api/projects/{project}/samples?limit=1000"), &key)
        .await;
    let wrong_ids: Vec<&str> = samples["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            cifar3("train", "horse")[..MISLABELLED]
                .iter()
                .any(|f| hex::encode(Sha256::digest(&f.bytes)) == s["sha256"])
        })
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(wrong_ids.len(), MISLABELLED);
    let flagged = |p: &&Value| p["nearer"].is_number();
    let caught = points
        .iter()
        .filter(|p| wrong_ids.contains(&p["sample"].as_str().unwrap()))
        .filter(|p| {
            assert_eq!(p["label"], airplane);
            p["nearer"] == horse
        })
        .count();
    let others = points.iter().filter(flagged).count() - caught;
    println!(
        "flagged: {caught} of {MISLABELLED} mislabelled horses, {others} of {} others",
        points.len() - MISLABELLED
    );
    assert!(caught >= 7, "{caught} of {MISLABELLED}");
    assert!(
        (others as f64) < 0.25 * (points.len() - MISLABELLED) as f64,
        "{others}"
    );

    // The page: the canvas, the map for the script, the samples to check.
    let page = app.page(&format!("/projects/{project}/explore")).await;
    assert!(page.contains("id=\"map-canvas\"") && page.contains("/static/explorer.js"));
    let data = page
        .split_once("<script type=\"application/json\" id=\"map-data\">")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(json, _)| json)
        .expect("the map's data");
    let data: Value = serde_json::from_str(data).expect("the map's data is JSON");
    assert_eq!(data["points"].as_array().unwrap().len(), 600);
    assert!(page.contains(&format!("Samples to check ({})", caught + others)));
    // The clearest cases come first: most of the horses are at the top.
    let listed_first: Vec<&str> = page
        .split("<ul class=\"flagged\">")
        .nth(1)
        .expect("a list of samples to check")
        .split(&format!("href=\"/projects/{project}/samples/"))
        .skip(1)
        .take(MISLABELLED)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    let horses_first = listed_first
        .iter()
        .filter(|id| wrong_ids.contains(id))
        .count();
    println!("{horses_first} of the {MISLABELLED} first listed are the mislabelled horses");
    assert!(horses_first >= 6, "{listed_first:?}");
    // The explorer is in the project's menu; its script is served.
    assert!(page.contains(&format!("href=\"/projects/{project}/explore\"")));
    let script = app
        .client
        .get(app.url("/static/explorer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
}
