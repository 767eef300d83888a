//! PostgreSQL restarted under load: clients upload and browse, and training
//! jobs are queued and running, while the database server restarts
//! (`pg_ctl restart -m fast`, what `pg_ctlcluster ... restart` does). Every
//! request either succeeds or fails cleanly (a 503 that says the database is
//! unreachable, never a panic or a dropped connection), and the studio
//! recovers by itself: requests succeed again, the worker listens for jobs
//! again, and every queued job still runs, once.
//!
//! The database server is one of the test's own (initdb in a temporary
//! folder, on a free port), so no other test's database is disturbed.
//! It needs PostgreSQL's server binaries (Debian's `postgresql` package,
//! which `.ci/test` installs) and root, to run them as the `postgres` user.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::invariants::assert_samples_whole;
use common::process::{Place, Studio, successes};
use common::{TestFile, png};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A PostgreSQL server of this test alone; stopped when dropped.
struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgServer {
    fn start() -> PgServer {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .flatten()
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").exists())
                    .max()
            })
            .expect(
                "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb) are missing: \
                 install Debian's postgresql package (.ci/test does)",
            );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        run(Command::new("chown").arg("postgres:").arg(dir.path()));
        let server = PgServer {
            bin,
            data,
            port,
            _dir: dir,
        };
        server.pg(&[
            "initdb",
            "-D",
            &server.data.display().to_string(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]);
        server.ctl("start");
        server
    }

    /// Runs a PostgreSQL program as the `postgres` user.
    fn pg(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(&args[1..]));
    }

    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        self.pg(&[
            "pg_ctl",
            action,
            "-D",
            &self.data.display().to_string(),
            "-m",
            "fast",
            "-w",
            "-l",
            &self
                .data
                .parent()
                .unwrap()
                .join("log")
                .display()
                .to_string(),
            "-o",
            &options,
        ]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// How many sessions are listening for jobs.
    async fn listeners(&self) -> i64 {
        let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url()).await
        else {
            return 0;
        };
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN %'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .output();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed (this test needs root and PostgreSQL's server binaries): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What one request got.
#[derive(Debug)]
enum Outcome {
    Ok,
    /// A clean failure: this status and message.
    Failed(StatusCode, String),
    /// No HTTP answer at all (connection reset, timeout).
    NoAnswer(String),
}

async fn request(req: reqwest::RequestBuilder) -> Outcome {
    match req.timeout(Duration::from_secs(60)).send().await {
        Err(e) => Outcome::NoAnswer(e.to_string()),
        Ok(r) if r.status().is_success() => Outcome::Ok,
        Ok(r) => {
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Outcome::Failed(status, body["error"].as_str().unwrap_or("").to_owned())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_survives_a_postgres_restart_under_load() {
    let pg = PgServer::start();
    let data = tempfile::tempdir().unwrap();
    let place = Place {
        data_dir: data.path().to_path_buf(),
        database_url: pg.url(),
    };
    let server = Studio::serve(&place, false);
    let http = reqwest::Client::new();
    let r = http
        .post(server.url("/api/projects"))
        .json(&json!({ "name": "pg-restart" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let project = body["id"].as_str().unwrap().to_owned();
    let key = body["apiKey"].as_str().unwrap().to_owned();
    for (label, seed) in [
        ("a", 1u8),
        ("a", 2),
        ("a", 3),
        ("b", 101),
        ("b", 102),
        ("b", 103),
    ] {
        let r = http
            .post(server.url("/api/training/files"))
            .header("x-api-key", &key)
            .header("x-label", label)
            .multipart(common::form(&[TestFile::new(
                &format!("{label}{seed}.png"),
                png(48, 48, seed),
            )]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.listeners().await < 1 {
        assert!(Instant::now() < deadline, "the worker never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let train = |http: reqwest::Client| {
        let (url, key) = (
            server.url(&format!("/api/projects/{project}/train")),
            key.clone(),
        );
        async move {
            let r = http
                .post(url)
                .header("x-api-key", key)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let body: Value = r.json().await.unwrap();
            body["jobId"].as_str().unwrap().to_owned()
        }
    };
    let mut job_ids = vec![train(http.clone()).await, train(http.clone()).await];

    // Six clients upload and browse until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..6u32 {
        let (http, stop) = (http.clone(), stop.clone());
        let (base, project, key) = (server.base.clone(), project.clone(), key.clone());
        clients.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let req = if c % 2 == 0 {
                    let seed = (c * 1000 + i) as u8;
                    http.post(format!("{base}/api/training/files"))
                        .header("x-api-key", &key)
                        .header("x-label", "a")
                        .multipart(common::form(&[TestFile::new(
                            &format!("c{c}-{i}.png"),
                            png(32, 32 + (i % 64), seed),
                        )]))
                } else {
                    http.get(format!("{base}/api/projects/{project}/samples?limit=50"))
                        .header("x-api-key", &key)
                };
                outcomes.push((Instant::now(), request(req).await));
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarted_at = Instant::now();
    pg.ctl("restart");
    let back_at = Instant::now();
    println!(
        "PostgreSQL restarted in {} ms",
        (back_at - restarted_at).as_millis()
    );
    // A job queued right after the restart is picked up too.
    let deadline = Instant::now() + Duration::from_secs(60);
    let late_job = loop {
        let r = http
            .post(server.url(&format!("/api/projects/{project}/train")))
            .header("x-api-key", &key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            let body: Value = r.json().await.unwrap();
            break body["jobId"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "training cannot be queued again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    job_ids.push(late_job);
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.unwrap());
    }

    // During the restart: clean failures only. Afterwards: no failures.
    let recovered_by = back_at + Duration::from_secs(3);
    let mut failed = 0;
    for (at, outcome) in &outcomes {
        match outcome {
            Outcome::Ok => {}
            Outcome::Failed(status, message) => {
                failed += 1;
                assert!(
                    *status == StatusCode::SERVICE_UNAVAILABLE
                        && message.contains("database is unreachable"),
                    "an unclear failure: {status} {message:?}"
                );
                assert!(
                    *at < recovered_by,
                    "still failing after the restart: {message}"
                );
            }
            Outcome::NoAnswer(e) => panic!("a request got no answer: {e}"),
        }
    }
    let ok = outcomes.len() - failed;
    println!(
        "{} requests: {ok} succeeded, {failed} failed cleanly during the restart",
        outcomes.len()
    );
    assert!(
        ok > 0
            && outcomes
                .iter()
                .any(|(at, o)| *at > recovered_by && matches!(o, Outcome::Ok))
    );

    // The worker listens again, and every job runs to one result.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.listeners().await < 1 {
        assert!(
            Instant::now() < deadline,
            "the worker did not listen again:\n{}",
            server.log_lines().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    for id in &job_ids {
        loop {
            let r = http
                .get(server.url(&format!("/api/projects/{project}/jobs/{id}")))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let job: Value = r.json().await.unwrap();
            if job["status"] == "succeeded" {
                break;
            }
            assert!(
                matches!(job["status"].as_str(), Some("queued" | "running"))
                    && Instant::now() < deadline,
                "job {id}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let log = server.log_when(|l| job_ids.iter().all(|id| successes(l, id) > 0));
    for id in &job_ids {
        let runs = successes(&log, id);
        assert_eq!(runs, 1, "job {id} succeeded {runs} times");
    }
    assert!(
        !log.iter().any(|l| l.contains("panicked")),
        "{}",
        log.join("\n")
    );

    let r = http
        .get(server.url(&format!("/api/projects/{project}/samples?limit=1000")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed: Value = r.json().await.unwrap();
    assert_samples_whole(
        Path::new(&place.data_dir),
        listed["samples"].as_array().unwrap(),
    );
}
