//! kill -9 at the worst moments, on `tinystudio` processes started as an
//! operator would: the server in the middle of a batch upload, a worker in
//! the middle of training, the server in the middle of a firmware build.
//! After a restart on the same data folder and database, every sample is
//! whole or absent, every job finishes exactly once, and no model or
//! deployment is missing a file.

mod common;

use std::time::{Duration, Instant};

use common::invariants::{assert_model_whole, assert_samples_whole, temporaries};
use common::process::{Place, Studio, place, successes};
use common::{Backend, TestFile, noise_png, png};
use reqwest::StatusCode;
use serde_json::{Value, json};

macro_rules! process_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

process_tests!(
    server_killed_mid_batch_upload,
    worker_killed_mid_training,
    server_killed_mid_firmware_build
);

/// A client of one studio process.
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    /// Creates a project on `studio`.
    async fn new_project(studio: &Studio, name: &str) -> (Client, String) {
        let http = reqwest::Client::new();
        let r = http
            .post(studio.url("/api/projects"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        let client = Client {
            http,
            base: studio.base.clone(),
            key: body["apiKey"].as_str().unwrap().to_owned(),
        };
        (client, body["id"].as_str().unwrap().to_owned())
    }

    /// The same project's client on a restarted studio.
    fn on(&self, studio: &Studio) -> Client {
        Client {
            http: self.http.clone(),
            base: studio.base.clone(),
            key: self.key.clone(),
        }
    }

    fn upload(&self, label: &str, files: &[TestFile]) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/training/files", self.base))
            .header("x-api-key", &self.key)
            .header("x-label", label)
            .multipart(common::form(files))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn samples(&self, project: &str) -> Vec<Value> {
        let (status, listed) = self
            .get(&format!("/api/projects/{project}/samples?limit=1000"))
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        listed["samples"].as_array().cloned().unwrap_or_default()
    }

    async fn job(&self, project: &str, id: &str) -> Value {
        let (status, job) = self
            .get(&format!("/api/projects/{project}/jobs/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    /// Polls the job until `done` says so.
    async fn wait_job(
        &self,
        project: &str,
        id: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let job = self.job(project, id).await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} after {limit:?}: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Eight small labelled samples, enough to train on.
    async fn upload_training_set(&self) {
        for (label, seeds) in [("a", [1u8, 2, 3, 4]), ("b", [101, 102, 103, 104])] {
            let files: Vec<TestFile> = seeds
                .iter()
                .map(|s| TestFile::new(&format!("{label}{s}.png"), png(48, 48, *s)))
                .collect();
            let r = self.upload(label, &files).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
}

fn finished(job: &Value) -> bool {
    !matches!(job["status"].as_str(), Some("queued" | "running"))
}

async fn server_killed_mid_batch_upload(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let place: Place = place(backend, dir.path()).await;
    let server = Studio::serve(&place, true);
    let (client, project) = Client::new_project(&server, "crash-upload").await;

    // 120 photos of 12 KB: each is decoded, thumbnailed and synced twice
    // before its row commits, so the batch takes long enough to be cut.
    let files: Vec<TestFile> = (0..120)
        .map(|i| TestFile::new(&format!("p{i:03}.png"), noise_png(64, i)))
        .collect();
    let upload = tokio::spawn(client.upload("a", &files).send());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, counts) = client
            .get(&format!("/api/projects/{project}/samples/counts"))
            .await;
        if counts["total"].as_i64().unwrap_or(0) >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline && !upload.is_finished(),
            "the batch never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let log_before = server.log_lines();
    server.kill();
    let cut = upload.await.unwrap();
    assert!(
        cut.is_err(),
        "the batch finished before the kill: {:?}\n{}",
        cut.map(|r| r.status()),
        log_before.join("\n")
    );

    let server = Studio::serve(&place, true);
    let client = client.on(&server);
    let samples = client.samples(&project).await;
    assert!(
        (5..files.len()).contains(&samples.len()),
        "{} of {} stored",
        samples.len(),
        files.len()
    );
    assert_samples_whole(&place.data_dir, &samples);
    // A write cut short leaves at most its temporary file (removed at a
    // start once it is clearly abandoned), never a file under its name.
    assert!(temporaries(&place.data_dir).len() <= 1);
    for sample in &samples {
        let id = sample["id"].as_str().unwrap();
        let r = client
            .http
            .get(format!(
                "{}/api/projects/{project}/samples/{id}/image",
                client.base
            ))
            .header("x-api-key", &client.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    // Sending the batch again completes it, without duplicates.
    let r = client
        .upload("a", &files)
        .header("x-disallow-duplicates", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let samples = client.samples(&project).await;
    assert_eq!(samples.len(), files.len());
    assert_samples_whole(&place.data_dir, &samples);
}

async fn worker_killed_mid_training(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let place = place(backend, dir.path()).await;
    let server = Studio::serve(&place, true);
    let (client, project) = Client::new_project(&server, "crash-training").await;
    client.upload_training_set().await;
    // Long enough to be killed in the middle: the backbone's last two blocks are
    // trained too, on augmented photos, for about 4 s here (at 150 epochs it
    // took 0.45 s, and a faster CI machine finished it between two polls).
    let r = client
        .http
        .put(format!("{}/api/projects/{project}/impulse", client.base))
        .header("x-api-key", &client.key)
        .json(&json!({ "learning": { "epochs": 1000, "fineTuneBlocks": 2, "augmentation": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The server has no worker: nothing runs the job until w1 starts.
    let (status, train) = client
        .post(&format!("/api/projects/{project}/train"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{train}");
    let job_id = train["jobId"].as_str().unwrap().to_owned();

    let w1 = Studio::worker(&place, "w1");
    // In the middle of training: past loading, epochs under way.
    client
        .wait_job(&project, &job_id, Duration::from_secs(120), |j| {
            assert!(!finished(j), "the job ended before it could be killed: {j}");
            j["status"] == "running" && j["progress"].as_f64().unwrap_or(0.0) > 0.0
        })
        .await;
    let mut logs = vec![w1.log_lines()];
    w1.kill();

    let w2 = Studio::worker(&place, "w2");
    let job = client
        .wait_job(&project, &job_id, Duration::from_secs(300), finished)
        .await;
    logs.push(w2.log_when(|l| successes(l, &job_id) > 0));
    logs.push(server.log_lines());
    assert_eq!(job["status"], "succeeded", "{job}");
    println!("training after the kill: {:?}", job["result"]["timingMs"]);
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(successes(logs.iter().flatten(), &job_id), 1, "{logs:#?}");
    let model_id = job["result"]["modelId"].as_str().unwrap();
    let (status, models) = client.get(&format!("/api/projects/{project}/models")).await;
    assert_eq!(status, StatusCode::OK, "{models}");
    let models = models["models"].as_array().cloned().unwrap_or_default();
    assert_eq!(models.len(), 1, "one model for one job: {models:?}");
    assert_eq!(models[0]["id"], model_id);
    assert_model_whole(&place.data_dir, model_id);
}

/// The processes whose parent is `pid`, with their command names.
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head
            .split_once('(')
            .map(|(_, c)| c)
            .unwrap_or("")
            .to_owned();
        let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            out.push((child, comm));
        }
    }
    out
}

/// Whether the process is gone (or a zombie nobody reaped yet).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, tail)| tail.trim_start().starts_with(['Z', 'X'])),
    }
}

async fn server_killed_mid_firmware_build(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let place = place(backend, dir.path()).await;
    let server = Studio::serve(&place, false);
    let (client, project) = Client::new_project(&server, "crash-deploy").await;
    client.upload_training_set().await;
    let (status, train) = client
        .post(&format!("/api/projects/{project}/train"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{train}");
    let trained = client
        .wait_job(
            &project,
            train["jobId"].as_str().unwrap(),
            Duration::from_secs(300),
            finished,
        )
        .await;
    assert_eq!(trained["status"], "succeeded", "{trained}");
    let model = trained["result"]["modelId"].as_str().unwrap().to_owned();

    let (status, deploy) = client
        .post(
            &format!("/api/projects/{project}/models/{model}/deploy"),
            json!({ "board": "mps2-an386" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deploy}");
    let job_id = deploy["deploymentId"].as_str().unwrap().to_owned();

    // Wait for cargo to be building, then kill the server under it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let cargo = loop {
        if let Some((pid, _)) = children(server.pid())
            .into_iter()
            .find(|(_, comm)| comm == "cargo")
        {
            break pid;
        }
        let job = client.job(&project, &job_id).await;
        assert!(
            !finished(&job) && Instant::now() < deadline,
            "no firmware build seen: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut logs = vec![server.log_lines()];
    server.kill();
    // The build dies with its worker rather than running on unowned.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_dead(cargo) {
        assert!(
            Instant::now() < deadline,
            "cargo {cargo} outlived its worker"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let server = Studio::serve(&place, false);
    let client = client.on(&server);
    let job = client
        .wait_job(&project, &job_id, Duration::from_secs(600), finished)
        .await;
    logs.push(server.log_when(|l| successes(l, &job_id) > 0));
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(successes(logs.iter().flatten(), &job_id), 1, "{logs:#?}");
    let artifacts = job["result"]["artifacts"].as_array().unwrap();
    assert!(!artifacts.is_empty());
    for artifact in artifacts {
        let name = artifact["name"].as_str().unwrap();
        let r = client
            .http
            .get(format!(
                "{}/api/projects/{project}/deployments/{job_id}/artifacts/{name}",
                client.base
            ))
            .header("x-api-key", &client.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let bytes = r.bytes().await.unwrap();
        assert!(!bytes.is_empty(), "{name} is empty");
        assert_eq!(
            Some(bytes.len() as u64),
            artifact["bytes"].as_u64(),
            "{name} is whole"
        );
    }
    assert_model_whole(&place.data_dir, &model);
}
