//! What the studio-level benches share: the shared data folder, the studio
//! started as `tinystudio serve` starts it, and a project to work in.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tinystudio::app::{App, Storage};
use tinystudio::config::{StorageOptions, WorkerOptions};

/// A file or folder of the shared data folder beside the repository.
pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    assert!(
        p.exists(),
        "missing fixture {}: the shared data folder must sit beside the repository",
        p.display()
    );
    p
}

/// The studio on a free loopback port with an in-process worker, its data
/// in `data_dir`, on SQLite unless `database_url` names another database.
pub async fn start_studio(data_dir: &Path, database_url: Option<String>) -> App {
    let options = StorageOptions {
        data_dir: data_dir.to_path_buf(),
        database_url,
        backbones_dir: Some(shared("backbones")),
        blob_store: None,
    };
    let storage = Storage::open(&options).await.expect("open storage");
    let worker = storage.worker_config(&options, &WorkerOptions::default());
    App::start(
        storage,
        "127.0.0.1:0".parse().expect("address"),
        tinystudio_web::WebConfig::default(),
        Some(worker),
        true,
    )
    .await
    .expect("start the studio")
}

/// A new project: its id and API key.
pub async fn create_project(http: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let created: Value = http
        .post(format!("{base}/api/projects"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("create project")
        .json()
        .await
        .expect("project JSON");
    (
        created["id"].as_str().expect("project id").to_owned(),
        created["apiKey"].as_str().expect("API key").to_owned(),
    )
}
