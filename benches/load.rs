//! A bounded load test on loopback: the studio as `tinystudio serve` runs it
//! (embedded defaults, an in-process worker, a temporary data folder), one
//! project with CIFAR-3's training images, training jobs started one after
//! another for the whole window, and 30 clients uploading photos and browsing
//! pages and the API (dataset list, counts, samples' thumbnails, the job's
//! status) for 60 s. Prints requests, errors, throughput and p50/p99 latency
//! per kind of request; exits non-zero on any error (a non-2xx answer, a
//! refused file, a failed connection or a failed training job).
//!
//! `cargo bench --bench load --profile dev` (SQLite). Settings:
//! `TINYSTUDIO_LOAD_SECONDS` (60), `TINYSTUDIO_LOAD_CLIENTS` (30), and
//! `TINYSTUDIO_BENCH_POSTGRES` (a server URL) to run on a fresh PostgreSQL
//! database instead. Numbers: BENCHMARKS.md. This is not a test with a timed
//! assertion: the only verdict is "no errors".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
mod support;

use support::{create_project, shared, start_studio, upload_labelled};

/// The kinds of request a client makes, with how often (out of 10).
const MIX: [(&str, u32); 8] = [
    ("upload", 2),
    ("samples list", 1),
    ("counts", 1),
    ("job status", 1),
    ("thumbnail", 2),
    ("dataset page", 1),
    ("jobs list", 1),
    ("project page", 1),
];

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// (label, file name, bytes) of every JPEG in `cifar3/<split>/<label>/`.
fn cifar3(split: &str) -> Vec<(String, String, Vec<u8>)> {
    let mut files = Vec::new();
    for label in ["airplane", "ship", "horse"] {
        let dir = shared(&format!("datasets/cifar3/{split}/{label}"));
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name")
                .to_owned();
            files.push((label.to_owned(), name, bytes));
        }
    }
    files
}

/// What every client shares: the studio's address, the project, and what
/// the clients learn as they go (sample ids for thumbnails, the job).
struct Target {
    base: String,
    project: String,
    key: String,
    cookie: String,
    photos: Vec<(String, String, Vec<u8>)>,
    samples: Mutex<Vec<String>>,
    job: Mutex<Option<String>>,
}

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    errors: Vec<String>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = env_number("TINYSTUDIO_LOAD_SECONDS", 60);
    let clients = env_number("TINYSTUDIO_LOAD_CLIENTS", 30) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let (backend, database_url) = match std::env::var("TINYSTUDIO_BENCH_POSTGRES") {
        Ok(admin) => ("postgres", Some(fresh_postgres(&admin).await)),
        Err(_) => ("sqlite", None),
    };
    let app = start_studio(dir.path(), database_url).await;
    let base = format!("http://{}", app.addr);
    let http = reqwest::Client::new();

    // The local user's cookie comes with the first page, as in a browser.
    let page = http.get(format!("{base}/")).send().await.expect("GET /");
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the first page sets the local user's cookie")
        .to_owned();
    let (project, key) = create_project(&http, &base, "load").await;

    // The training set: CIFAR-3's 450 training images, 50 per request.
    let started = Instant::now();
    let train = cifar3("train");
    for batch in train.chunks(50) {
        let label = &batch[0].0;
        upload_labelled(&http, &base, &key, label, batch).await;
    }
    let listed: Value = http
        .get(format!("{base}/api/projects/{project}/samples?limit=1000"))
        .header("x-api-key", &key)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("list samples")
        .json()
        .await
        .expect("samples JSON");
    let samples: Vec<String> = listed["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    println!(
        "load: {backend}; {} training images uploaded in {:.1} s; {clients} clients for {seconds} s",
        samples.len(),
        started.elapsed().as_secs_f64()
    );

    let target = Arc::new(Target {
        base,
        project,
        key,
        cookie,
        photos: cifar3("test"),
        samples: Mutex::new(samples),
        job: Mutex::new(None),
    });
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);

    let trainer = tokio::spawn(train_until(target.clone(), tally.clone(), deadline));
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        tasks.push(tokio::spawn(browse_until(
            target.clone(),
            tally.clone(),
            deadline,
            client as u64,
        )));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let trainings = trainer.await.expect("trainer task");
    let elapsed = seconds as f64;

    let tally = tally.lock().expect("tally");
    let mut all: Vec<Duration> = tally.latencies.values().flatten().copied().collect();
    all.sort();
    let total = all.len();
    println!(
        "\n{:<14} {:>9} {:>10} {:>10} {:>10}",
        "request", "count", "p50 ms", "p99 ms", "max ms"
    );
    for (kind, latencies) in &tally.latencies {
        let mut l = latencies.clone();
        l.sort();
        print_row(kind, &l);
    }
    print_row("all", &all);
    println!(
        "\nrequests: {total}; errors: {}; throughput: {:.1} requests/s",
        tally.errors.len(),
        total as f64 / elapsed
    );
    println!(
        "training jobs finished during the window: {} (durations s: {})",
        trainings.len(),
        trainings
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for e in tally.errors.iter().take(20) {
        println!("error: {e}");
    }
    drop(app);
    if !tally.errors.is_empty() || trainings.is_empty() {
        if trainings.is_empty() {
            println!("error: no training job finished during the window");
        }
        std::process::exit(1);
    }
}

fn print_row(kind: &str, sorted: &[Duration]) {
    let at = |q: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{kind:<14} {:>9} {:>10.1} {:>10.1} {:>10.1}",
        sorted.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// Keeps one training job running for the whole window: starts one, follows
/// it to its end, starts the next. Returns how long each one took.
async fn train_until(
    target: Arc<Target>,
    tally: Arc<Mutex<Tally>>,
    deadline: Instant,
) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut durations = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let reply = http
            .post(format!(
                "{}/api/projects/{}/train",
                target.base, target.project
            ))
            .header("x-api-key", &target.key)
            .json(&serde_json::json!({}))
            .send()
            .await;
        let job = match reply {
            Ok(r) if r.status().is_success() => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["jobId"].as_str().map(str::to_owned)),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                record_error(&tally, format!("start training: {status} {body}"));
                return durations;
            }
            Err(e) => {
                record_error(&tally, format!("start training: {e}"));
                return durations;
            }
        };
        let Some(job) = job else {
            record_error(&tally, "start training: no jobId in the reply".into());
            return durations;
        };
        *target.job.lock().expect("job") = Some(job.clone());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let status = http
                .get(format!(
                    "{}/api/projects/{}/jobs/{job}",
                    target.base, target.project
                ))
                .header("x-api-key", &target.key)
                .send()
                .await;
            let body: Value = match status {
                Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
                Ok(r) => {
                    record_error(&tally, format!("training job status: {}", r.status()));
                    return durations;
                }
                Err(e) => {
                    record_error(&tally, format!("training job status: {e}"));
                    return durations;
                }
            };
            match body["status"].as_str() {
                Some("succeeded") => {
                    durations.push(started.elapsed());
                    break;
                }
                Some("queued" | "running") => {}
                _ => {
                    record_error(&tally, format!("training job {job} ended: {body}"));
                    return durations;
                }
            }
        }
    }
    durations
}

fn record_error(tally: &Mutex<Tally>, message: String) {
    tally.lock().expect("tally").errors.push(message);
}

/// One client: requests one after another, chosen by [`MIX`], until the deadline.
async fn browse_until(target: Arc<Target>, tally: Arc<Mutex<Tally>>, deadline: Instant, seed: u64) {
    let http = reqwest::Client::new();
    // xorshift: the clients' choices need no quality, only variety.
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (seed + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let total_weight: u32 = MIX.iter().map(|(_, w)| w).sum();
    while Instant::now() < deadline {
        let mut pick = (next() % u64::from(total_weight)) as u32;
        let kind = MIX
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or(MIX[0].0, |(k, _)| *k);
        let base = &target.base;
        let project = &target.project;
        let request = match kind {
            "upload" => {
                let (label, name, bytes) =
                    &target.photos[(next() % target.photos.len() as u64) as usize];
                let form = reqwest::multipart::Form::new().part(
                    "data",
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
                );
                http.post(format!("{base}/api/testing/files"))
                    .header("x-api-key", &target.key)
                    .header("x-label", label)
                    .multipart(form)
            }
            "samples list" => http
                .get(format!("{base}/api/projects/{project}/samples?limit=100"))
                .header("x-api-key", &target.key),
            "counts" => http
                .get(format!("{base}/api/projects/{project}/samples/counts"))
                .header("x-api-key", &target.key),
            "job status" => {
                let Some(job) = target.job.lock().expect("job").clone() else {
                    continue;
                };
                http.get(format!("{base}/api/projects/{project}/jobs/{job}"))
                    .header("x-api-key", &target.key)
            }
            "thumbnail" => {
                let sample = {
                    let samples = target.samples.lock().expect("samples");
                    samples[(next() % samples.len() as u64) as usize].clone()
                };
                http.get(format!(
                    "{base}/api/projects/{project}/samples/{sample}/thumbnail"
                ))
                .header("x-api-key", &target.key)
            }
            "dataset page" => http
                .get(format!("{base}/projects/{project}/dataset"))
                .header("cookie", &target.cookie),
            "jobs list" => http
                .get(format!("{base}/api/projects/{project}/jobs?limit=50"))
                .header("x-api-key", &target.key),
            _ => http
                .get(format!("{base}/projects/{project}"))
                .header("cookie", &target.cookie),
        };
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(r) => {
                let status = r.status();
                match r.bytes().await {
                    Ok(body) if status.is_success() => Ok(body),
                    Ok(body) => Err(format!(
                        "{kind}: {status} {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    )),
                    Err(e) => Err(format!("{kind}: reading the body: {e}")),
                }
            }
            Err(e) => Err(format!("{kind}: {e}")),
        };
        let latency = started.elapsed();
        let outcome = outcome.and_then(|body| {
            if kind != "upload" {
                return Ok(());
            }
            // An upload answers 200 with each file's outcome; a refused file is an error too.
            let reply: Value =
                serde_json::from_slice(&body).map_err(|e| format!("upload reply: {e}"))?;
            if reply["success"] != true || reply["files"][0]["success"] != true {
                return Err(format!("upload refused: {reply}"));
            }
            if let Some(id) = reply["files"][0]["sampleId"].as_str() {
                target.samples.lock().expect("samples").push(id.to_owned());
            }
            Ok(())
        });
        let mut tally = tally.lock().expect("tally");
        tally.latencies.entry(kind).or_default().push(latency);
        if let Err(e) = outcome {
            tally.errors.push(e);
        }
    }
}

async fn fresh_postgres(admin: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach TINYSTUDIO_BENCH_POSTGRES={admin}: {e}"));
    let name = format!("tinystudio_load_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the load test's database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}
