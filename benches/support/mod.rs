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

/// Uploads the photos of `photos` (label, file name, bytes) that carry
/// `label`, in one request with that label; checks every file was stored.
/// Nothing is sent when none carries it.
pub async fn upload_labelled(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    label: &str,
    photos: &[(String, String, Vec<u8>)],
) {
    let mut form = reqwest::multipart::Form::new();
    let mut any = false;
    for (_, name, bytes) in photos.iter().filter(|(l, _, _)| l == label) {
        form = form.part(
            "data",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
        );
        any = true;
    }
    if !any {
        return;
    }
    let reply: Value = http
        .post(format!("{base}/api/training/files"))
        .header("x-api-key", key)
        .header("x-label", label)
        .multipart(form)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("upload")
        .json()
        .await
        .expect("upload reply");
    let files = reply["files"].as_array().expect("files in the reply");
    assert!(
        reply["success"] == true && files.iter().all(|f| f["success"] == true),
        "{reply}"
    );
}
