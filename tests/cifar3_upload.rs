//! The shared CIFAR-3 dataset uploads cleanly, labelled from its folder
//! names, both through the ingestion API and through the page's form.

mod common;

use common::{TestApp, TestFile, cifar3};
use reqwest::StatusCode;
use serde_json::Value;

backend_tests!(cifar3_through_the_ingestion_api_and_the_page);

/// The folder's images, named by their path as a folder upload names them.
fn folder(split: &str, label: &str) -> Vec<TestFile> {
    cifar3(split, label)
        .into_iter()
        .map(|f| TestFile::new(&format!("cifar3/{split}/{label}/{}", f.name), f.bytes))
        .collect()
}

async fn cifar3_through_the_ingestion_api_and_the_page(app: TestApp) {
    let (project, key) = app.create_project("cifar3").await;
    for (split, category) in [("train", "training"), ("test", "testing")] {
        for label in ["airplane", "ship", "horse"] {
            let files = folder(split, label);
            let (status, body) = app
                .ingest(category, Some(&key), &[("x-label", label)], &files)
                .await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                body["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|f| f["success"] == true),
                "{body}"
            );
        }
    }
    let (_, counts) = app
        .get(&format!("/api/projects/{project}/samples/counts"), &key)
        .await;
    assert_eq!(counts["total"], 600);
    for l in counts["labels"].as_array().unwrap() {
        assert_eq!(
            (l["training"].as_i64(), l["testing"].as_i64()),
            (Some(150), Some(50)),
            "{l}"
        );
    }

    // The page's folder upload: labels and categories from the folder names.
    let r = app
        .client
        .post(app.url("/projects"))
        .header("cookie", &app.cookie)
        .form(&[("name", "cifar3 page")])
        .send()
        .await
        .unwrap();
    let page_project = r.headers()["location"]
        .to_str()
        .unwrap()
        .split('/')
        .nth(2)
        .unwrap()
        .to_owned();
    for split in ["train", "test"] {
        for label in ["airplane", "ship", "horse"] {
            for batch in folder(split, label).chunks(25) {
                let form = common::form(batch)
                    .text("labelMode", "folder")
                    .text("category", "folder");
                let r = app
                    .client
                    .post(app.url(&format!("/projects/{page_project}/dataset/upload")))
                    .header("cookie", &app.cookie)
                    .header("accept", "application/json")
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                let body: Value = r.json().await.unwrap();
                assert!(
                    body["files"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|f| f["success"] == true && f["label"] == label),
                    "{body}"
                );
            }
        }
    }
    let r = app
        .client
        .get(app.url(&format!("/api/projects/{page_project}/samples/counts")))
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    let counts: Value = r.json().await.unwrap();
    assert_eq!(counts["total"], 600);
    for l in counts["labels"].as_array().unwrap() {
        assert_eq!(
            (l["training"].as_i64(), l["testing"].as_i64()),
            (Some(150), Some(50)),
            "{l}"
        );
    }
}
