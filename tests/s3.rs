//! Blobs in S3-compatible object storage: the scale-out path. Runs the studio
//! with `--blob-store s3://...` against a real S3 protocol server (moto, from
//! `.ci/requirements.txt`), uploads, trains, classifies and deletes, and
//! checks what lands in the bucket at each step.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, cifar3, shared, spawn_app_on, test_web_config};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tinystudio_storage::{BlobStore, S3BlobStore, S3Config};

const BUCKET: &str = "tinystudio-test";

/// A moto S3 server on a free port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 must be installed to run the S3 test");
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = moto.child.try_wait().unwrap() {
            panic!(
                "the S3 server exited ({status}): install it with \
                 `python3 -m pip install -r .ci/requirements.txt` (moto[server])"
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return moto;
        }
        assert!(Instant::now() < deadline, "moto did not start in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_studio_keeps_its_blobs_in_s3() {
    // Credentials come from the environment, as in production; set before
    // any other thread runs.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    }
    let moto = start_moto();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(&moto.endpoint));
}

async fn run(endpoint: &str) {
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{endpoint}/{BUCKET}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let url = format!("s3://{BUCKET}/studio?endpoint={endpoint}&region=us-east-1");
    let bucket = S3BlobStore::new(&S3Config::from_url(&url).unwrap()).unwrap();
    let count = |prefix: &'static str| {
        let bucket = &bucket;
        async move { bucket.list(prefix).await.unwrap().len() }
    };

    let app = spawn_app_on(Backend::Postgres, test_web_config(), Some(url.clone())).await;
    let (project, key) = app.create_project("s3").await;
    for label in ["airplane", "ship"] {
        for (split, category, n) in [("train", "training", 40), ("test", "testing", 10)] {
            let (status, body) = app
                .ingest(
                    category,
                    Some(&key),
                    &[("x-label", label)],
                    &cifar3(split, label)[..n],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    assert_eq!(count("samples/").await, 100);
    // Nothing under the data folder: every original went to the bucket.
    assert!(!app.data_dir.join("blobs").exists());

    // An original comes back byte for byte; its thumbnail is cached in S3.
    let (_, samples) = app
        .get(
            &format!("/api/projects/{project}/samples?label=ship&category=testing"),
            &key,
        )
        .await;
    let sample = &samples["samples"][0];
    let id = sample["id"].as_str().unwrap();
    let original = app
        .get_response(&format!("/api/projects/{project}/samples/{id}/image"), &key)
        .await
        .bytes()
        .await
        .unwrap();
    let name = sample["fileName"].as_str().unwrap();
    assert_eq!(
        original.as_ref(),
        std::fs::read(shared(&format!("datasets/cifar3/test/ship/{name}"))).unwrap()
    );
    let thumbs_before = count("thumbs/").await;
    let r = app
        .get_response(
            &format!("/api/projects/{project}/samples/{id}/thumbnail"),
            &key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(count("thumbs/").await >= thumbs_before.max(1));

    // A training job writes its model to the bucket; classification reads it back.
    let job_id = app
        .start_training(&project, &key, Some(json!({ "learning": { "epochs": 5 } })))
        .await;
    assert_eq!(app.run_pending_jobs().await, 1);
    let job = app.job(&project, &key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let model = job["result"]["modelId"].as_str().unwrap();
    let artifacts: Vec<String> = bucket
        .list(&format!("artifacts/{model}/"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key.path())
        .collect();
    for file in [
        "model.json",
        "model.safetensors",
        "model.tsmb",
        "model.tflite",
    ] {
        assert!(
            artifacts.contains(&format!("artifacts/{model}/{file}")),
            "{file} missing from {artifacts:?}"
        );
    }
    let r = app
        .client
        .post(app.url(&format!("/api/projects/{project}/models/{model}/classify")))
        .header("x-api-key", &key)
        .body(original)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let classified: serde_json::Value = r.json().await.unwrap();
    assert_eq!(classified["scores"].as_object().unwrap().len(), 2);

    // Deleting the project empties the bucket of everything it owned.
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{project}"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count("samples/").await, 0);
    assert_eq!(count("thumbs/").await, 0);
    assert_eq!(count("artifacts/").await, 0);
}
