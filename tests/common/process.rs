//! `tinystudio` as separate processes (`serve`, `worker`), for tests that
//! kill them with SIGKILL and start them again on the same data folder and
//! database, as an operator's service manager would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::shared;

/// A running `tinystudio` process; killed (SIGKILL) when dropped.
pub struct Studio {
    child: Child,
    /// `http://127.0.0.1:PORT` for `serve`; empty for `worker`.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// Where the studio keeps its state: the same for every process of a test.
#[derive(Clone)]
pub struct Place {
    pub data_dir: PathBuf,
    pub database_url: String,
}

fn command(place: &Place, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tinystudio"));
    cmd.args(args)
        .env("TINYSTUDIO_DATA_DIR", &place.data_dir)
        .env("DATABASE_URL", &place.database_url)
        .env("TINYSTUDIO_BACKBONES_DIR", shared("backbones"))
        // The firmware build folder every test of the run shares.
        .env(
            "TINYSTUDIO_FIRMWARE_TARGET_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("studio-firmware"),
        )
        // A killed process's job is taken over soon after.
        .env("TINYSTUDIO_WORKER_LEASE_SECS", "2")
        .env("TINYSTUDIO_LOG", "info,sqlx=warn,tower_http=warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl Studio {
    /// `tinystudio serve` on a free port, with its in-process worker unless
    /// `no_worker`; returns once it answers.
    pub fn serve(place: &Place, no_worker: bool) -> Studio {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        if no_worker {
            args.push("--no-worker");
        }
        let mut studio = Studio::start(command(place, &args));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(base) = studio.log_lines().iter().find_map(|l| {
                l.split_once("TinyStudio is ready at ")
                    .map(|(_, rest)| rest.split_whitespace().next().unwrap_or("").to_owned())
            }) {
                studio.base = base;
                return studio;
            }
            if let Ok(Some(status)) = studio.child.try_wait() {
                panic!(
                    "tinystudio serve exited ({status}) before it was ready:\n{}",
                    studio.log_lines().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "tinystudio serve not ready after 60 s:\n{}",
                studio.log_lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `tinystudio worker --worker-id ID`.
    pub fn worker(place: &Place, id: &str) -> Studio {
        Studio::start(command(place, &["worker", "--worker-id", id]))
    }

    fn start(mut cmd: Command) -> Studio {
        let mut child = cmd.spawn().expect("start tinystudio");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Studio {
            child,
            base: String::new(),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process has logged so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// What the process has logged once `done` holds for it, or after 10 s:
    /// a line logged just after something the API already reports (a
    /// worker logs a job's success just after recording it) may still be on
    /// its way.
    pub fn log_when(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.log_lines();
            if done(&lines) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no clean-up code of the studio runs.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The data folder and database of a process test: a fresh temporary folder
/// and a fresh SQLite file in it, or a fresh PostgreSQL database.
pub async fn place(backend: super::Backend, dir: &Path) -> Place {
    let database_url = match backend {
        super::Backend::Sqlite => tinystudio_storage::Db::default_url(dir),
        super::Backend::Postgres => super::fresh_postgres_url().await,
    };
    Place {
        data_dir: dir.to_path_buf(),
        database_url,
    }
}

/// How many times `lines` say job `id` succeeded.
pub fn successes<'a>(lines: impl IntoIterator<Item = &'a String>, id: &str) -> usize {
    lines
        .into_iter()
        .filter(|l| l.contains("job succeeded") && l.contains(id))
        .count()
}
