//! Edge Impulse's own clients against the real server.
//!
//! - `uploader_conversation` replays what `edge-impulse-uploader --api-key`
//!   (npm `edge-impulse-cli`, read from its source: `cli/uploader.ts`,
//!   `cli-common/config.ts`, `cli-common/init-cli-app.ts`,
//!   `cli-common/make-image.ts` and the generated `sdk/studio` client) sends,
//!   request by request, and checks what the client would conclude and what
//!   the studio stored.
//! - `python_sdk_uploads_cifar3` runs the real Python SDK (`edgeimpulse`
//!   from PyPI, pinned in `.ci/requirements.txt`) against the server.
//! - `edge_impulse_ports_serve_the_same_studio` runs the `tinystudio` binary
//!   with `TINYSTUDIO_EDGE_IMPULSE_PORTS` and replays the uploader against
//!   ports 4800 and 4810, as `EI_HOST=127.0.0.1` makes it do.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, jpeg, png, shared};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

backend_tests!(
    uploader_conversation,
    uploader_conversation_with_an_ingestion_key,
    python_sdk_uploads_cifar3
);

/// The uploader as it talks over HTTP: the studio API under `api`, the
/// ingestion service under `ingestion` (for `EI_HOST=<ip>` these are
/// `http://<ip>:4800` and `http://<ip>:4810`).
struct Uploader {
    client: reqwest::Client,
    api: String,
    ingestion: String,
    key: String,
    /// A full-scope key of the project, to read back what was stored (an
    /// ingestion key cannot).
    read_key: String,
}

/// One `data` part beside the image: what the uploader adds for bounding
/// boxes (`bounding_boxes.labels`) and multi-label samples
/// (`structured_labels.labels`).
struct LabelsPart {
    file_name: &'static str,
    json: Value,
}

/// What the uploader's `--label`, absence of it, or an info file's
/// `unlabeled` entry turn into.
enum LabelArg<'a> {
    Label(&'a str),
    Infer,
    Unlabeled,
}

impl Uploader {
    /// A studio API call as the generated `sdk/studio` client makes it.
    async fn studio_get(&self, path: &str, key: &str) -> (StatusCode, String, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.api))
            .header("User-Agent", "EDGE_IMPULSE_CLI")
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, r.json().await.unwrap_or(Value::Null))
    }

    /// `upload()` of `cli-common/make-image.ts`: one file per request, its
    /// label percent-encoded (`encodeURIComponent`), the `.labels` parts
    /// after the file.
    #[allow(clippy::too_many_arguments)]
    async fn upload(
        &self,
        key: &str,
        category: &str,
        file_name: &str,
        bytes: Vec<u8>,
        label: LabelArg<'_>,
        metadata: Option<&str>,
        extra: &[LabelsPart],
    ) -> (StatusCode, Value) {
        let mime = if file_name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let mut form = Form::new().part(
            "data",
            Part::bytes(bytes)
                .file_name(file_name.to_owned())
                .mime_str(mime)
                .unwrap(),
        );
        for part in extra {
            form = form.part(
                "data",
                Part::bytes(part.json.to_string().into_bytes())
                    .file_name(part.file_name)
                    .mime_str("application/json")
                    .unwrap(),
            );
        }
        let mut req = self
            .client
            .post(format!("{}/api/{category}/files", self.ingestion))
            .header("x-api-key", key)
            .header("x-upload-source", "EDGE_IMPULSE_CLI_UPLOADER")
            .header("Connection", "keep-alive");
        match label {
            LabelArg::Label(l) => req = req.header("x-label", encode_uri_component(l)),
            LabelArg::Unlabeled => req = req.header("x-label", "").header("x-no-label", "1"),
            LabelArg::Infer => {}
        }
        req = req.header("x-disallow-duplicates", "1");
        if let Some(m) = metadata {
            req = req.header("x-metadata", m);
        }
        req = req.header("x-device-type", "EDGE_IMPULSE_CLI");
        let r = req.multipart(form).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// JavaScript's `encodeURIComponent`, which the uploader applies to labels.
fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(b as char),
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The uploader's verdict on one reply: status 200, `success`, and every
/// `files` entry successful (`cli-common/make-image.ts`).
fn uploader_accepts(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::OK
        && body["success"] == true
        && body["files"]
            .as_array()
            .is_some_and(|files| files.iter().all(|f| f["success"] == true))
}

fn random_ei_key() -> String {
    let bytes: [u8; 32] = Sha256::digest(uuid::Uuid::new_v4().as_bytes()).into();
    format!("ei_{}", hex::encode(bytes))
}

fn is_ei_key(key: &str) -> bool {
    key.strip_prefix("ei_")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Every sample of a project as (file name, label, category, sha256).
async fn stored(
    client: &reqwest::Client,
    base: &str,
    project: &str,
    key: &str,
) -> Vec<(String, Option<String>, String, String)> {
    let body: Value = client
        .get(format!("{base}/api/projects/{project}/samples?limit=1000"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut rows: Vec<_> = body["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["fileName"].as_str().unwrap().to_owned(),
                s["label"].as_str().map(str::to_owned),
                s["category"].as_str().unwrap().to_owned(),
                s["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The whole conversation of `edge-impulse-uploader --api-key KEY ...` with
/// a studio, then what the studio holds.
async fn replay_uploader(up: &Uploader, project: &str, project_name: &str) {
    assert!(
        is_ei_key(&up.key),
        "the uploader refuses keys that do not start with ei_: {}",
        up.key
    );

    // A wrong key of the right form: the first studio call fails the way
    // the client reports ("Failed to authenticate with Edge Impulse: <error>").
    let wrong = random_ei_key();
    let (status, content_type, body) = up.studio_get("/v1/api/projects", &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "invalid or revoked API key");
    let (status, _, body) = up.studio_get(&format!("/v1/api/{project}"), &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = up
        .upload(
            &wrong,
            "training",
            "car.01.jpg",
            jpeg(16, 16, 1),
            LabelArg::Label("car"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!uploader_accepts(status, &body));

    // verifyLogin -> verifyAccess: list the key's projects.
    let (status, content_type, body) = up.studio_get("/v1/api/projects", &up.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The client parses JSON only under this content type.
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(body["success"], true);
    let projects = body["projects"].as_array().unwrap();
    // One project: the uploader takes it without asking.
    assert_eq!(projects.len(), 1, "{body}");
    assert_eq!(projects[0]["id"], project);
    assert_eq!(projects[0]["name"], project_name);

    // After choosing the project it reads it for the "Uploading to project
    // owner / name" line; a white-label id would send it elsewhere.
    let (status, content_type, body) = up.studio_get(&format!("/v1/api/{project}"), &up.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("application/json"));
    assert_eq!(body["success"], true);
    assert_eq!(body["project"]["id"], project);
    assert_eq!(body["project"]["name"], project_name);
    assert!(body["project"]["owner"].is_string(), "{body}");
    assert!(body["project"]["whitelabelId"].is_null(), "{body}");
    assert!(body["project"]["created"].is_string(), "{body}");

    // The studio's usual answers for ids a key does not open, and a clear
    // one for the parts of Edge Impulse's API the studio does not have.
    let (status, _, body) = up
        .studio_get(&format!("/v1/api/{}", uuid::Uuid::now_v7()), &up.key)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = up.studio_get("/v1/api/12345", &up.key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, content_type, body) = up
        .studio_get(&format!("/v1/api/{project}/devkeys"), &up.key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(content_type.starts_with("application/json"));
    assert!(
        body["error"].as_str().unwrap().contains("--api-key"),
        "{body}"
    );

    // The uploads, one request per file.
    let label = "café crème / 2%";
    let bbs = |name: &str| LabelsPart {
        file_name: "bounding_boxes.labels",
        json: json!({
            "version": 1,
            "type": "bounding-box-labels",
            "boundingBoxes": { name: [{ "label": "cup", "x": 1, "y": 2, "width": 8, "height": 8 }] },
        }),
    };
    let structured = |name: &str| LabelsPart {
        file_name: "structured_labels.labels",
        json: json!({
            "version": 1,
            "type": "structured-labels",
            "structuredLabels": { name: [{ "label": "cup", "startIndex": 0, "endIndex": 0 }] },
        }),
    };
    let first = jpeg(24, 16, 10);
    let same_name_other_folder = jpeg(24, 16, 11);
    let mut expected: Vec<(String, Option<String>, String, String)> = Vec::new();
    let mut expect = |name: &str, label: Option<&str>, category: &str, bytes: &[u8]| {
        expected.push((
            name.to_owned(),
            label.map(str::to_owned),
            category.to_owned(),
            sha256_hex(bytes),
        ))
    };

    // --label with characters that need encoding, and a bounding-box file
    // in the image's folder.
    let (status, body) = up
        .upload(
            &up.key,
            "training",
            "0001.jpg",
            first.clone(),
            LabelArg::Label(label),
            None,
            &[bbs("0001.jpg")],
        )
        .await;
    assert!(uploader_accepts(status, &body), "{status} {body}");
    // The `.labels` part is no sample: one file, one entry.
    assert_eq!(body["files"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["files"][0]["label"], label);
    expect("0001.jpg", Some(label), "training", &first);

    // The same base name from another folder, other content: a sample of its own.
    let (status, body) = up
        .upload(
            &up.key,
            "testing",
            "0001.jpg",
            same_name_other_folder.clone(),
            LabelArg::Label(label),
            None,
            &[],
        )
        .await;
    assert!(uploader_accepts(status, &body), "{status} {body}");
    expect("0001.jpg", Some(label), "testing", &same_name_other_folder);

    // The same content again, under another name: a duplicate, which
    // Edge Impulse's ingestion rejects per file ("the service will reject
    // the incoming sample", its SDK says), naming the existing sample, and
    // which is not stored twice.
    let (status, body) = up
        .upload(
            &up.key,
            "training",
            "copy-of-0001.jpg",
            first.clone(),
            LabelArg::Label(label),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!uploader_accepts(status, &body), "{body}");
    assert_eq!(body["files"][0]["duplicate"], true, "{body}");
    assert!(
        body["files"][0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("An item with this hash already exists")),
        "{body}"
    );

    // No --label: the label comes from the file name; --category split;
    // --metadata; a multi-label info file adds structured labels.
    let car = png(20, 20, 3);
    let (status, body) = up
        .upload(
            &up.key,
            "split",
            "car.01.png",
            car.clone(),
            LabelArg::Infer,
            Some(r#"{"site":"garage"}"#),
            &[structured("car.01.png")],
        )
        .await;
    assert!(uploader_accepts(status, &body), "{status} {body}");
    let split_category = body["files"][0]["category"].as_str().unwrap().to_owned();
    assert!(
        ["training", "testing"].contains(&split_category.as_str()),
        "{body}"
    );
    expect("car.01.png", Some("car"), &split_category, &car);

    // An info file's unlabeled entry; directory mode sends empty metadata.
    let unlabeled = jpeg(12, 30, 4);
    let (status, body) = up
        .upload(
            &up.key,
            "testing",
            "noise.jpg",
            unlabeled.clone(),
            LabelArg::Unlabeled,
            Some("{}"),
            &[],
        )
        .await;
    assert!(uploader_accepts(status, &body), "{status} {body}");
    expect("noise.jpg", None, "testing", &unlabeled);

    // A file that is no image: the reply names it as failed, the uploader
    // counts it as a failed file, and nothing is stored.
    let (status, body) = up
        .upload(
            &up.key,
            "training",
            "broken.jpg",
            b"not a jpeg".to_vec(),
            LabelArg::Label("car"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!uploader_accepts(status, &body), "{body}");
    assert!(
        body["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("broken.jpg"),
        "{body}"
    );

    // A category the studio does not have: the ingestion API's usual 404.
    let (status, body) = up
        .upload(
            &up.key,
            "anomaly",
            "a.jpg",
            jpeg(8, 8, 5),
            LabelArg::Label("car"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A label that is not valid percent-encoded UTF-8: the usual 400.
    let r = up
        .client
        .post(format!("{}/api/training/files", up.ingestion))
        .header("x-api-key", &up.key)
        .header("x-label", "%FF")
        .multipart(Form::new().part("data", Part::bytes(jpeg(8, 8, 6)).file_name("x.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    expected.sort();
    let got = stored(&up.client, &up.ingestion, project, &up.read_key).await;
    assert_eq!(got, expected);
}

async fn uploader_conversation(app: TestApp) {
    let (project, key) = app.create_project("From Edge Impulse").await;
    let up = Uploader {
        client: app.client.clone(),
        api: app.base.clone(),
        ingestion: app.base.clone(),
        read_key: key.clone(),
        key,
    };
    replay_uploader(&up, &project, "From Edge Impulse").await;
}

/// The same conversation with a key of scope `ingestion`: everything the
/// uploader does, an upload-only key does too.
async fn uploader_conversation_with_an_ingestion_key(app: TestApp) {
    let (project, key) = app.create_project("From Edge Impulse").await;
    let body = app.ingestion_key(&project, &key, "uploader").await;
    let up = Uploader {
        client: app.client.clone(),
        api: app.base.clone(),
        ingestion: app.base.clone(),
        key: body["apiKey"].as_str().unwrap().to_owned(),
        read_key: key,
    };
    replay_uploader(&up, &project, "From Edge Impulse").await;
}

/// The Python SDK's `edgeimpulse.data.upload_directory`, once per folder of
/// CIFAR-3 with its label and category, then one folder again (duplicates).
const SDK_SCRIPT: &str = r#"
import json, os, sys
import edgeimpulse as ei
from edgeimpulse import data

root = sys.argv[1]
report = {"version": ei.__version__, "successes": 0, "fails": [], "again": 0}
for split, category in (("train", "training"), ("test", "testing")):
    for label in sorted(os.listdir(os.path.join(root, split))):
        res = data.upload_directory(
            directory=os.path.join(root, split, label), category=category, label=label
        )
        report["successes"] += len(res.successes)
        report["fails"] += [str(f) for f in res.fails]
res = data.upload_directory(
    directory=os.path.join(root, "test", "ship"), category="testing", label="ship"
)
report["again"] = len(res.successes)
report["rejected"] = [f.error for f in res.fails]
print(json.dumps(report))
"#;

/// Pinned in `.ci/requirements.txt`.
const SDK_VERSION: &str = "1.0.20";

async fn python_sdk_uploads_cifar3(app: TestApp) {
    let (project, key) = app.create_project("cifar3 from the SDK").await;
    let root = shared("datasets/cifar3");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), SDK_SCRIPT).unwrap();
    let (script_path, base) = (script.path().to_owned(), app.base.clone());
    let root_arg = root.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script_path)
            .arg(&root_arg)
            .env("EI_API_KEY", &key)
            .env("EI_INGESTION_ENDPOINT", &base)
            .output()
            .map(|o| (o, key))
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {python}: {e}; install Python 3 and \
                     `pip install -r .ci/requirements.txt` (edgeimpulse=={SDK_VERSION})"
                )
            })
    })
    .await
    .unwrap();
    let (out, key) = out;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python SDK run failed (is `edgeimpulse=={SDK_VERSION}` installed? \
         `pip install -r .ci/requirements.txt`):\n{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("the SDK script printed no report:\n{stdout}\n{stderr}"));
    assert_eq!(report["version"], SDK_VERSION, "{report}");
    assert_eq!(report["fails"], json!([]), "{report}");
    assert_eq!(report["successes"], 600, "{report}");
    // The SDK asks for duplicates to be skipped: each is rejected, and
    // the SDK lists it among its failures with the ingestion's reason.
    assert_eq!(report["again"], 0, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 50, "{report}");
    assert!(
        rejected.iter().all(|e| e
            .as_str()
            .is_some_and(|e| e.starts_with("An item with this hash already exists"))),
        "{report}"
    );

    // Every file once, with its folder's label and category.
    let mut expected = BTreeMap::new();
    for (split, category) in [("train", "training"), ("test", "testing")] {
        for entry in std::fs::read_dir(root.join(split)).unwrap() {
            let dir = entry.unwrap().path();
            let label = dir.file_name().unwrap().to_string_lossy().into_owned();
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                let sha = sha256_hex(&std::fs::read(&path).unwrap());
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let previous =
                    expected.insert(sha, (name, Some(label.clone()), category.to_owned()));
                assert!(previous.is_none(), "the dataset holds the same image twice");
            }
        }
    }
    assert_eq!(expected.len(), 600);
    let got: BTreeMap<_, _> = stored(&app.client, &app.base, &project, &key)
        .await
        .into_iter()
        .map(|(name, label, category, sha)| (sha, (name, label, category)))
        .collect();
    assert_eq!(got.len(), 600, "a file was stored twice or not at all");
    assert_eq!(got, expected);
}

/// A child process that is stopped when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_impulse_ports_serve_the_same_studio() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tinystudio");
    let created = Command::new(bin)
        .args(["project", "create", "Ports"])
        .env("TINYSTUDIO_DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let (project, key) = (
        created["projectId"].as_str().unwrap().to_owned(),
        created["apiKey"].as_str().unwrap().to_owned(),
    );

    // Port 0 for the main address, so only 4800 and 4810 are fixed.
    let mut server = Running(
        Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-worker"])
            .env("TINYSTUDIO_DATA_DIR", dir.path())
            .env("TINYSTUDIO_EDGE_IMPULSE_PORTS", "true")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let api = client.get("http://127.0.0.1:4800/healthz").send().await;
        let ingestion = client.get("http://127.0.0.1:4810/healthz").send().await;
        if api.is_ok_and(|r| r.status().is_success())
            && ingestion.is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            server
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!(
                "`tinystudio serve` with TINYSTUDIO_EDGE_IMPULSE_PORTS exited ({status}) \
                 before serving on 4800 and 4810 (are the ports taken?):\n{stderr}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the studio did not answer on 127.0.0.1:4800 and :4810 within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let up = Uploader {
        client,
        api: "http://127.0.0.1:4800".into(),
        ingestion: "http://127.0.0.1:4810".into(),
        read_key: key.clone(),
        key,
    };
    replay_uploader(&up, &project, "Ports").await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_ports_that_are_taken_fail_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let options = tinystudio::config::StorageOptions {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
        backbones_dir: None,
        blob_store: None,
    };
    let storage = tinystudio::app::Storage::open(&options).await.unwrap();
    let started = tinystudio::app::App::start_on(
        storage,
        "127.0.0.1:0".parse().unwrap(),
        &[port],
        common::test_web_config(),
        None,
        false,
    )
    .await;
    let err = started.err().expect("a taken port must fail the start");
    assert!(
        format!("{err:#}").contains(&format!("127.0.0.1:{port}")),
        "{err:#}"
    );
}
