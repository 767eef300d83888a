//! Faults of the disk under a running studio, injected for real: the blob
//! folder is a small tmpfs that fills up or is remounted read-only in the
//! middle of a batch upload, and a stored original whose bytes were changed
//! behind the studio's back. Each time the client gets an error that says
//! what is wrong, no row points to a missing or torn file, no partial file
//! stays behind, and the next request after the fault works.
//!
//! Mounting a tmpfs needs root (CI runs as root); anywhere else these tests
//! fail saying so rather than pass without having injected anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::process::{Studio, place};

use common::invariants::{assert_samples_whole, temporaries};
use common::{TestApp, TestFile, noise_png, png};
use reqwest::StatusCode;
use serde_json::Value;

backend_tests!(
    a_full_disk_fails_the_upload_clearly_and_the_next_one_works,
    a_read_only_blob_folder_fails_the_upload_clearly_and_the_next_one_works,
    a_damaged_original_is_reported_not_served,
    a_damaged_model_file_is_reported_not_run
);

/// A tmpfs mounted over the studio's blob folder for the length of a test.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn over_blobs(app: &TestApp, size: &str) -> Self {
        let dir = app.data_dir.join("blobs");
        mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &dir,
        );
        // The store writes through its `tmp` folder, which the mount hid.
        std::fs::create_dir_all(dir.join("tmp")).expect("tmp folder on the tmpfs");
        Tmpfs { dir }
    }

    fn remount(&self, mode: &str) {
        mount(&["-o", &format!("remount,{mode}")], &self.dir);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn mount(args: &[&str], dir: &Path) {
    let out = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .expect("run mount(8)");
    assert!(
        out.status.success(),
        "mount {args:?} {} failed ({}): these tests inject disk faults with a tmpfs and need \
         root, as CI has",
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The invariants after any fault, and no temporary file left behind.
async fn assert_blobs_consistent(app: &TestApp, project: &str, key: &str) -> Vec<Value> {
    let (status, listed) = app
        .get(&format!("/api/projects/{project}/samples?limit=1000"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let samples = listed["samples"].as_array().cloned().unwrap_or_default();
    assert_samples_whole(&app.data_dir, &samples);
    let leftovers = temporaries(&app.data_dir);
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    samples
}

fn sample_names(samples: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = samples
        .iter()
        .map(|s| s["fileName"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

async fn a_full_disk_fails_the_upload_clearly_and_the_next_one_works(app: TestApp) {
    let (project, key) = app.create_project("disk-full").await;
    let tmpfs = Tmpfs::over_blobs(&app, "1m");
    let blobs = app.data_dir.join("blobs");

    // Fill the disk, then free 48 KiB: room for a small photo, not a big one.
    std::fs::write(blobs.join("spacer"), vec![0u8; 48 * 1024]).unwrap();
    let filler = blobs.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
    }
    std::fs::remove_file(blobs.join("spacer")).unwrap();

    let small = TestFile::new("small.png", png(32, 32, 1));
    let big = TestFile::new("big.png", noise_png(160, 2));
    assert!(big.bytes.len() > 64 * 1024, "{}", big.bytes.len());
    let (status, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "a")],
            &[small.clone(), big.clone()],
        )
        .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("storage is full") && error.contains("big.png"),
        "{error}"
    );
    let samples = assert_blobs_consistent(&app, &project, &key).await;
    assert_eq!(sample_names(&samples), ["small.png"], "what was stored");

    // Space again: the same file now goes in, and browsing works.
    std::fs::remove_file(&filler).unwrap();
    let (status, body) = app
        .ingest("training", Some(&key), &[("x-label", "a")], &[big])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let samples = assert_blobs_consistent(&app, &project, &key).await;
    assert_eq!(sample_names(&samples), ["big.png", "small.png"]);
    let id = samples[0]["id"].as_str().unwrap();
    let r = app
        .get_response(&format!("/api/projects/{project}/samples/{id}/image"), &key)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    drop(tmpfs);
}

async fn a_read_only_blob_folder_fails_the_upload_clearly_and_the_next_one_works(app: TestApp) {
    let (project, key) = app.create_project("read-only").await;
    let tmpfs = Tmpfs::over_blobs(&app, "8m");
    let (status, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "a")],
            &[TestFile::new("first.png", png(32, 32, 1))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    tmpfs.remount("ro");
    let (status, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "a")],
            &[
                TestFile::new("second.png", png(32, 32, 2)),
                TestFile::new("third.png", png(32, 32, 3)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot write to its data folder") && error.contains("second.png"),
        "{error}"
    );
    // Reading still works while writing does not.
    let samples = assert_blobs_consistent(&app, &project, &key).await;
    assert_eq!(sample_names(&samples), ["first.png"]);
    // A client is told when to try again.
    let r = app
        .client
        .post(app.url("/api/training/files"))
        .header("x-api-key", &key)
        .header("x-label", "a")
        .multipart(common::form(&[TestFile::new("again.png", png(32, 32, 4))]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );

    tmpfs.remount("rw");
    let (status, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "a")],
            &[TestFile::new("second.png", png(32, 32, 2))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let samples = assert_blobs_consistent(&app, &project, &key).await;
    assert_eq!(sample_names(&samples), ["first.png", "second.png"]);
    drop(tmpfs);
}

/// Two labels of two small PNGs each, in training: enough to train on.
async fn four_training_samples(app: &TestApp, key: &str) {
    for (label, seed) in [("a", 1u8), ("a", 2), ("b", 101), ("b", 102)] {
        let (status, body) = app
            .ingest(
                "training",
                Some(key),
                &[("x-label", label)],
                &[TestFile::new(
                    &format!("{label}{seed}.png"),
                    png(48, 48, seed),
                )],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn a_damaged_original_is_reported_not_served(app: TestApp) {
    let (project, key) = app.create_project("damaged").await;
    four_training_samples(&app, &key).await;
    let (_, listed) = app
        .get(&format!("/api/projects/{project}/samples?limit=10"), &key)
        .await;
    let victim = &listed["samples"][0];
    let id = victim["id"].as_str().unwrap().to_owned();
    let sha = victim["sha256"].as_str().unwrap().to_owned();

    // One bit flips on disk.
    let path = app
        .data_dir
        .join(format!("blobs/samples/{}/{sha}", &sha[..2]));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();

    for _ in 0..2 {
        let r = app
            .get_response(&format!("/api/projects/{project}/samples/{id}/image"), &key)
            .await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: Value = r.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("is damaged") && error.contains(&sha),
            "{error}"
        );
    }
    // The other samples are served as before.
    let other = listed["samples"][1]["id"].as_str().unwrap();
    let r = app
        .get_response(
            &format!("/api/projects/{project}/samples/{other}/image"),
            &key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Training does not learn from wrong bytes: the job fails, naming the sample.
    let job_id = app.start_training(&project, &key, None).await;
    app.run_pending_jobs().await;
    let job = app.job(&project, &key, &job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is damaged") && error.contains(&id),
        "{error}"
    );
    assert_eq!(job["attempts"], 1, "a damaged file is not retried: {job}");
}

async fn a_damaged_model_file_is_reported_not_run(app: TestApp) {
    let (project, key) = app.create_project("damaged-model").await;
    four_training_samples(&app, &key).await;
    let job_id = app.start_training(&project, &key, None).await;
    app.run_pending_jobs().await;
    let job = app.job(&project, &key, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let model = job["result"]["modelId"].as_str().unwrap().to_owned();
    let classify = || async {
        app.client
            .post(app.url(&format!("/api/projects/{project}/models/{model}/classify")))
            .header("x-api-key", &key)
            .body(png(48, 48, 7))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(classify().await.status(), StatusCode::OK);

    // The int8 model file changes on disk: its size stays, one byte differs.
    let path = app
        .data_dir
        .join(format!("blobs/artifacts/{model}/model.tsmb"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let r = classify().await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is damaged") && error.contains("model.tsmb"),
        "{error}"
    );
    // Nor is it built into firmware.
    let (status, body) = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/projects/{project}/models/{model}/deploy"),
            &key,
            serde_json::json!({ "board": "mps2-an386" }),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is damaged"),
        "{body}"
    );
}

/// `prlimit` on a running process: `RLIMIT_FSIZE` (bytes, or "unlimited").
fn limit_file_size(pid: u32, soft: &str) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--fsize={soft}:unlimited"))
        .output()
        .expect("run prlimit(1) (util-linux)");
    assert!(
        out.status.success(),
        "prlimit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A file-size limit on the server process (as systemd's `LimitFSIZE=`
/// sets one) makes a write fail with EFBIG: the upload that hit it gets a
/// 507, and the server lives on instead of dying of SIGXFSZ. On PostgreSQL,
/// so that the limit falls on blob writes alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_size_limit_fails_the_upload_and_the_server_lives() {
    let dir = tempfile::tempdir().unwrap();
    let place = place(common::Backend::Postgres, dir.path()).await;
    let server = Studio::serve(&place, true);
    let http = reqwest::Client::new();
    let r = http
        .post(server.url("/api/projects"))
        .json(&serde_json::json!({ "name": "fsize" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let key = body["apiKey"].as_str().unwrap().to_owned();
    let project = body["id"].as_str().unwrap().to_owned();
    let upload = |files: Vec<TestFile>| {
        http.post(server.url("/api/training/files"))
            .header("x-api-key", &key)
            .header("x-label", "a")
            .multipart(common::form(&files))
            .send()
    };

    limit_file_size(server.pid(), "65536");
    let small = TestFile::new("small.png", png(32, 32, 1));
    let big = TestFile::new("big.png", noise_png(160, 2));
    let r = upload(vec![small, big.clone()]).await.unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("storage is full") && error.contains("big.png"),
        "{error}"
    );
    // Alive, and serving under the limit.
    let r = upload(vec![TestFile::new("small2.png", png(32, 32, 3))])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    limit_file_size(server.pid(), "unlimited");
    let r = upload(vec![big]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(server.url(&format!("/api/projects/{project}/samples?limit=100")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let listed: Value = r.json().await.unwrap();
    let samples = listed["samples"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        sample_names(&samples),
        ["big.png", "small.png", "small2.png"]
    );
    assert_samples_whole(&place.data_dir, &samples);
    assert!(temporaries(&place.data_dir).is_empty());
    assert!(
        !server.log_lines().iter().any(|l| l.contains("panicked")),
        "{:?}",
        server.log_lines()
    );
}

/// A damaged original read again and again is reported to every client and
/// logged once, by the process that found it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_original_is_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let place = place(common::Backend::Sqlite, dir.path()).await;
    let server = Studio::serve(&place, true);
    let http = reqwest::Client::new();
    let r = http
        .post(server.url("/api/projects"))
        .json(&serde_json::json!({ "name": "logged-once" }))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let key = body["apiKey"].as_str().unwrap().to_owned();
    let project = body["id"].as_str().unwrap().to_owned();
    let r = http
        .post(server.url("/api/training/files"))
        .header("x-api-key", &key)
        .header("x-label", "a")
        .multipart(common::form(&[TestFile::new("a.png", png(48, 48, 1))]))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let id = body["files"][0]["sampleId"]
        .as_str()
        .expect("stored")
        .to_owned();
    let r = http
        .get(server.url(&format!("/api/projects/{project}/samples/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let sample: Value = r.json().await.unwrap();
    let sha = sample["sha256"].as_str().unwrap().to_owned();
    let path = place
        .data_dir
        .join(format!("blobs/samples/{}/{sha}", &sha[..2]));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    // The thumbnail is made again from the original, which is refused too.
    std::fs::remove_file(
        place
            .data_dir
            .join(format!("blobs/thumbs/{}/{sha}.jpg", &sha[..2])),
    )
    .unwrap();

    for route in ["image", "thumbnail", "image"] {
        let r = http
            .get(server.url(&format!("/api/projects/{project}/samples/{id}/{route}")))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{route}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("is damaged"),
            "{route}: {body}"
        );
    }
    let log = server.log_lines();
    let reports: Vec<&String> = log.iter().filter(|l| l.contains(&sha)).collect();
    assert_eq!(reports.len(), 1, "{log:#?}");
    assert!(reports[0].contains("damaged blob"), "{reports:?}");
}
