//! The test harness: `spawn_app()` starts the real studio on 127.0.0.1:0
//! with a fresh database (a SQLite file in a temporary folder, or a new
//! database on the PostgreSQL server named by `TINYSTUDIO_TEST_POSTGRES`)
//! and returns a client that talks HTTP to it.
//!
//! `backend_tests!` turns each test function into two tests, one per
//! database, so the whole suite runs on both.

#![allow(dead_code)]

pub mod browser;
pub mod invariants;
pub mod process;

use std::path::PathBuf;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tinystudio::app::{App, Storage};
use tinystudio::config::StorageOptions;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod name { sqlite(), postgres() }` for each async test fn
/// taking a `TestApp`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::spawn_app($crate::common::Backend::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::spawn_app($crate::common::Backend::Postgres).await).await
                }
            }
        )*
    };
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub app: App,
    /// The local user's cookie, as a browser would hold it.
    pub cookie: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    _dir: tempfile::TempDir,
}

/// Limits small enough to test: 2 MB per file, 6 MB per request, 4096 px.
pub fn test_web_config() -> tinystudio_web::WebConfig {
    let mut config = tinystudio_web::WebConfig {
        max_body_bytes: 6 * 1024 * 1024,
        max_file_bytes: 2 * 1024 * 1024,
        gc_grace_ms: 0,
        ..Default::default()
    };
    config.decode.max_width = 4096;
    config.decode.max_height = 4096;
    config
}

/// The workspace's `../shared` folder; panics naming the file if it is missing.
pub fn shared(path: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path);
    assert!(
        p.exists(),
        "missing test fixture {}: the shared data folder must sit beside the repository",
        p.display()
    );
    p
}

async fn fresh_postgres_url() -> String {
    let admin = std::env::var("TINYSTUDIO_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "TINYSTUDIO_TEST_POSTGRES is not set: the PostgreSQL half of the suite needs a server \
             (e.g. postgres://postgres:postgres@127.0.0.1:5432/postgres; .ci/run starts one)"
        )
    });
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach TINYSTUDIO_TEST_POSTGRES={admin}: {e}"));
    let name = format!("tinystudio_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, test_web_config()).await
}

pub async fn spawn_app_with(backend: Backend, web: tinystudio_web::WebConfig) -> TestApp {
    spawn_app_on(backend, web, None).await
}

/// As [`spawn_app_with`], with blobs in the store named by `blob_store`
/// (`s3://...`) instead of the data folder.
pub async fn spawn_app_on(
    backend: Backend,
    web: tinystudio_web::WebConfig,
    blob_store: Option<String>,
) -> TestApp {
    spawn(backend, web, blob_store, true, "127.0.0.1:0").await
}

/// A studio listening on every address (as one shared on a network), with
/// no accounts yet: it serves only its setup until an admin exists. The
/// client still talks to it on 127.0.0.1; [`TestApp::cookie`] is empty.
pub async fn spawn_networked(backend: Backend) -> TestApp {
    spawn(backend, test_web_config(), None, true, "0.0.0.0:0").await
}

/// A web server without an in-process worker: jobs wait for `tinystudio
/// worker` processes started on [`TestApp::database_url`] and
/// [`TestApp::data_dir`].
pub async fn spawn_web_only(backend: Backend) -> TestApp {
    spawn(backend, test_web_config(), None, false, "127.0.0.1:0").await
}

async fn spawn(
    backend: Backend,
    web: tinystudio_web::WebConfig,
    blob_store: Option<String>,
    in_process_worker: bool,
    listen: &str,
) -> TestApp {
    // The studio's warnings and errors (a request answered 5xx, a failed
    // job) go to the test's captured output, shown if the test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TINYSTUDIO_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_url().await),
    };
    let options = StorageOptions {
        data_dir: dir.path().to_path_buf(),
        database_url,
        backbones_dir: Some(shared("backbones")),
        blob_store,
    };
    let storage = Storage::open(&options).await.expect("open storage");
    // Firmware builds are shared by every test of the run: the first build of
    // a board compiles `core` and the dependencies, the others relink.
    let worker_options = tinystudio::config::WorkerOptions {
        firmware_target_dir: Some(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("studio-firmware"),
        ),
        ..Default::default()
    };
    let worker = in_process_worker.then(|| storage.worker_config(&options, &worker_options));
    let app = App::start(storage, listen.parse().unwrap(), web, worker, false)
        .await
        .expect("start app");
    let base = format!("http://127.0.0.1:{}", app.addr.port());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A page view hands out the local user's cookie.
    let page = client.get(format!("{base}/")).send().await.unwrap();
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let cookie = if app.addr.ip().is_loopback() {
        cookie.expect("the first page view sets the local cookie")
    } else {
        assert_eq!(cookie, None, "a networked studio hands out no local cookie");
        String::new()
    };
    TestApp {
        base,
        client,
        app,
        cookie,
        data_dir: dir.path().to_path_buf(),
        database_url: options.database_url(),
        _dir: dir,
    }
}

/// A file to upload.
#[derive(Clone)]
pub struct TestFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl TestFile {
    pub fn new(name: &str, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            bytes,
        }
    }
}

pub fn form(files: &[TestFile]) -> Form {
    files.iter().fold(Form::new(), |form, f| {
        form.part(
            "data",
            Part::bytes(f.bytes.clone()).file_name(f.name.clone()),
        )
    })
}

/// The CIFAR-3 images of `datasets/cifar3/{split}/{label}` in the shared
/// folder, sorted by file name.
pub fn cifar3(split: &str, label: &str) -> Vec<TestFile> {
    let dir = shared(&format!("datasets/cifar3/{split}/{label}"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            TestFile::new(
                &p.file_name().unwrap().to_string_lossy(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect()
}

/// A PNG of the given size with pixel values derived from `seed`.
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([x as u8 ^ seed, y as u8, seed.wrapping_mul(31)])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG of noise, which does not compress: its size is about 3 bytes a pixel.
pub fn noise_png(side: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG of the given size.
pub fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([x as u8, y as u8 ^ seed, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a project over the API; returns (project id, API key).
    pub async fn create_project(&self, name: &str) -> (String, String) {
        let r = self
            .client
            .post(self.url("/api/projects"))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["name"], name);
        (
            body["id"].as_str().unwrap().to_owned(),
            body["apiKey"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST /api/{category}/files` with the given headers.
    pub async fn ingest(
        &self,
        category: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        files: &[TestFile],
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url(&format!("/api/{category}/files")));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.multipart(form(files)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(self.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A new key of scope `ingestion` for `project` (made with its full
    /// key): the reply, with the key in `apiKey`.
    pub async fn ingestion_key(&self, project: &str, key: &str, name: &str) -> Value {
        let (status, body) = self
            .send_json(
                reqwest::Method::POST,
                &format!("/api/projects/{project}/keys"),
                key,
                serde_json::json!({ "name": name, "scope": "ingestion" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["scope"], "ingestion");
        body
    }

    /// The HTML of a page, as this client's browser would get it.
    pub async fn page(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// CIFAR-3's 450 training photos, uploaded with their labels.
    pub async fn upload_cifar3_training(&self, key: &str) {
        for label in ["airplane", "ship", "horse"] {
            let (status, body) = self
                .ingest(
                    "training",
                    Some(key),
                    &[("x-label", label)],
                    &cifar3("train", label),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    /// A page's multipart form posted as this client's browser would (the
    /// local user's cookie); the answer is not followed.
    pub async fn post_page_form(&self, path: &str, form: Form) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("cookie", &self.cookie)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with the key, for replies that are not JSON.
    pub async fn get_response(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let r = self
            .client
            .request(method, self.url(path))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Everything a project holds, for "nothing changed" checks.
    pub async fn snapshot(&self, project: &str, key: &str) -> Value {
        let (s1, samples) = self
            .get(&format!("/api/projects/{project}/samples?limit=1000"), key)
            .await;
        let (s2, counts) = self
            .get(&format!("/api/projects/{project}/samples/counts"), key)
            .await;
        let (s3, keys) = self
            .get(&format!("/api/projects/{project}/keys"), key)
            .await;
        let (s4, info) = self.get(&format!("/api/projects/{project}"), key).await;
        assert!(s1.is_success() && s2.is_success() && s3.is_success() && s4.is_success());
        serde_json::json!({ "samples": samples, "counts": counts, "keys": keys, "project": info })
    }

    /// Saves `impulse` when given, then queues training; returns the job id.
    pub async fn start_training(&self, project: &str, key: &str, impulse: Option<Value>) -> String {
        if let Some(impulse) = impulse {
            let (status, body) = self
                .send_json(
                    reqwest::Method::PUT,
                    &format!("/api/projects/{project}/impulse"),
                    key,
                    impulse,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, train) = self
            .send_json(
                reqwest::Method::POST,
                &format!("/api/projects/{project}/train"),
                key,
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{train}");
        train["jobId"].as_str().expect("a job id").to_owned()
    }

    /// `GET .../jobs/{id}`, which must exist.
    pub async fn job(&self, project: &str, key: &str, id: &str) -> Value {
        let (status, job) = self
            .get(&format!("/api/projects/{project}/jobs/{id}"), key)
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    /// Runs queued jobs to completion on the in-process worker.
    pub async fn run_pending_jobs(&self) -> usize {
        self.app
            .worker
            .as_ref()
            .expect("the test app has a worker")
            .run_pending_jobs()
            .await
            .expect("running jobs")
    }
}

/// The `Set-Cookie` value that signs a browser in, if the response has one.
pub fn session_set_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tinystudio_session="))
        .map(str::to_owned)
}

/// Signs in with the login form; returns the session cookie (`name=value`)
/// and the CSRF token its pages carry.
pub async fn sign_in(app: &TestApp, name: &str, password: &str) -> (String, String) {
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name} signs in");
    let cookie = session_set_cookie(&r).expect("a session cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = app
        .client
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, csrf_of(&page))
}

/// The CSRF token of a signed-in page (its `<meta name="csrf-token">`).
pub fn csrf_of(page: &str) -> String {
    let tag = r#"<meta name="csrf-token" content=""#;
    let start = page
        .find(tag)
        .expect("a signed-in page carries its CSRF token")
        + tag.len();
    page[start..start + 64].to_owned()
}
