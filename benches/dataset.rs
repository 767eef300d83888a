//! Dataset paging at scale: 50,000 samples in one project, then the times of
//! the JSON listing (first, middle and last page, filtered), the counts and
//! the Dataset page, measured over HTTP against the real server.
//!
//! `cargo bench --bench dataset` (SQLite); with `TINYSTUDIO_BENCH_POSTGRES`
//! set to a server URL it runs on a fresh PostgreSQL database too.

use std::time::{Duration, Instant};

use tinystudio::app::{App, Storage};
use tinystudio::config::StorageOptions;
use tinystudio_domain::{Category, Label, Metadata};
use tinystudio_storage::samples::{self, NewSample};
use tinystudio_storage::{keys, projects};

const SAMPLES: usize = 50_000;

#[tokio::main]
async fn main() {
    bench("sqlite", None).await;
    if let Ok(admin) = std::env::var("TINYSTUDIO_BENCH_POSTGRES") {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("postgres");
        let name = format!("tinystudio_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create db");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        bench("postgres", Some(format!("{base}/{name}"))).await;
    }
}

async fn bench(backend: &str, database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let options = StorageOptions {
        data_dir: dir.path().to_path_buf(),
        database_url,
        backbones_dir: None,
        blob_store: None,
    };
    let storage = Storage::open(&options).await.unwrap();
    let db = storage.db.clone();
    let project = projects::create(&db, "bench").await.unwrap();
    let (_, key) = keys::create(&db, project.id, "bench").await.unwrap();
    let labels = ["airplane", "ship", "horse", "car", "truck"];
    let started = Instant::now();
    for i in 0..SAMPLES {
        let sha = format!("{:064x}", i as u128 * 0x9E37_79B9_7F4A_7C15);
        samples::insert(
            &db,
            NewSample {
                project_id: project.id,
                file_name: format!("{i}.jpg"),
                label: Some(Label::parse(labels[i % labels.len()]).unwrap()),
                category: if i % 5 == 0 {
                    Category::Testing
                } else {
                    Category::Training
                },
                sha256: sha,
                size_bytes: 1000,
                width: 96,
                height: 96,
                content_type: "image/jpeg".into(),
                metadata: Metadata::new(),
            },
        )
        .await
        .unwrap();
    }
    println!(
        "[{backend}] inserted {SAMPLES} sample rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let app = App::start(
        storage,
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
        None,
        false,
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{}", app.addr);
    let pid = project.id;
    let cases = [
        (
            "API list, first page (100)",
            format!("/api/projects/{pid}/samples?limit=100"),
        ),
        (
            "API list, offset 25,000",
            format!("/api/projects/{pid}/samples?limit=100&offset=25000"),
        ),
        (
            "API list, last page",
            format!("/api/projects/{pid}/samples?limit=100&offset=49900"),
        ),
        (
            "API list, label + category filter, deep",
            format!(
                "/api/projects/{pid}/samples?label=horse&category=training&limit=100&offset=7900"
            ),
        ),
        ("API counts", format!("/api/projects/{pid}/samples/counts")),
        ("Dataset page 1 (HTML)", format!("/projects/{pid}/dataset")),
        (
            "Dataset page 834 (HTML, last)",
            format!("/projects/{pid}/dataset?page=834"),
        ),
    ];
    println!("[{backend}] median of 20 requests over HTTP:");
    for (name, path) in cases {
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.bytes().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let median: Duration = times[times.len() / 2];
        println!("  {name:<45} {:>7.2} ms", median.as_secs_f64() * 1000.0);
    }
}
