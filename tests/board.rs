//! The studio talks to a board on a serial port. The board is the emulated
//! Cortex-M4 running a firmware build of a model trained in the test, with
//! its UART on a pseudo-terminal (QEMU's `-serial pty`): the studio
//! connects to that port through the API, sends test samples and an image
//! through it, and the board's answers equal the host engine's byte for
//! byte; the same predictions arrive on the studio's event stream. Then the
//! board is unplugged (QEMU stops), a silent board times out, and a board
//! running a camera loop prints predictions unasked between its answers.
//! Then the emulated board runs its own camera loop on photos the host
//! gives its camera ("Taking photo..."), and the studio shows each photo's
//! predictions, equal to what the studio computes for the same raw frame.
//! Finally a Pico build is flashed by copying its UF2 onto a folder that
//! looks like the Pico's RPI-RP2 drive.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, cifar3};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use serialport::{SerialPort, TTYPort};
use tinystudio_engine::interpreter::HostRunner;
use tokio::sync::mpsc;

backend_tests!(the_studio_talks_to_the_emulated_board_over_a_pseudo_terminal);

/// `POST path` with a raw body (empty when none).
async fn post(app: &TestApp, path: &str, key: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url(path))
        .header("x-api-key", key)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// One server-sent event: its name and JSON data.
type SseEvent = (String, Value);

/// Follows an event stream in the background, event by event.
async fn follow(app: &TestApp, path: &str, key: &str) -> mpsc::UnboundedReceiver<SseEvent> {
    let mut r = app
        .client
        .get(app.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(chunk)) = r.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty()
                    && tx
                        .send((name, serde_json::from_str(&data).unwrap()))
                        .is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

/// The next event called `name`, skipping others.
async fn next_named(rx: &mut mpsc::UnboundedReceiver<SseEvent>, name: &str) -> Value {
    let wait = async {
        loop {
            let (n, data) = rx.recv().await.expect("the stream ended");
            if n == name {
                return data;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} event within 120 s"))
}

/// QEMU running a firmware ELF with its UART on a pseudo-terminal, paused
/// until [`Qemu::resume`] so the studio can connect before the board boots
/// and see its `ready` line (output to an unopened pty is dropped).
struct Qemu {
    child: Child,
    pty: String,
}

impl Qemu {
    fn start(elf: &std::path::Path) -> Qemu {
        Self::start_camera(elf, None)
    }

    /// With `frames`, the board's camera takes its photos from them
    /// (`tinystudio_deploy::camera_frame`), read by semihosting from QEMU's
    /// working directory.
    fn start_camera(elf: &std::path::Path, frames: Option<(&std::path::Path, &[u8])>) -> Qemu {
        let mut command = Command::new("qemu-system-arm");
        if let Some((dir, frames)) = frames {
            std::fs::write(dir.join(tinystudio_deploy::CAMERA_FRAMES_FILE), frames).unwrap();
            command
                .current_dir(dir)
                .args(["-semihosting-config", "enable=on,target=native"]);
        }
        let mut child = command
            .args([
                "-M",
                "mps2-an386",
                "-cpu",
                "cortex-m4",
                "-icount",
                "shift=0",
            ])
            .args([
                "-display", "none", "-serial", "pty", "-monitor", "stdio", "-S",
            ])
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qemu-system-arm must be installed (Debian: apt-get install qemu-system-arm)");
        // QEMU names the pty on stdout or stderr, depending on its version.
        let (tx, rx) = std::sync::mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if let Some(rest) = line.split("char device redirected to ").nth(1) {
                    let pty = rest.split_whitespace().next().unwrap().to_owned();
                    return Qemu { child, pty };
                }
                seen.push(line);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("QEMU did not name its pty: {seen:?}");
    }

    fn resume(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"cont\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An image as the board's camera would deliver it: QQVGA RGB565.
fn camera_frame_of(image: &[u8]) -> Vec<u8> {
    let frame = tinystudio_device::camera::LOOP_FRAME;
    let (w, h) = (frame.width as u32, frame.height as u32);
    let rgb = image::load_from_memory(image).unwrap().to_rgb8();
    let scaled = image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle);
    tinystudio_deploy::camera_frame(w as u16, h as u16, scaled.as_raw())
}

/// The studio's answer for a raw camera frame: its pixels widened as the
/// board widens them, the impulse's preprocessing (32x32, squash, RGB), the
/// host engine.
fn studio_answer(frame: &[u8], blob: &[u8]) -> Vec<i8> {
    use tinystudio_domain::impulse::{ColorDepth, InputBlock, ResizeMode};
    let f = tinystudio_device::camera::LOOP_FRAME;
    let rgb: Vec<u8> = frame[12..]
        .chunks_exact(2)
        .flat_map(|p| tinystudio_device::camera::rgb565_to_rgb888(p[0], p[1]))
        .collect();
    let image = image::DynamicImage::ImageRgb8(
        image::RgbImage::from_raw(f.width as u32, f.height as u32, rgb).unwrap(),
    );
    let input = InputBlock {
        width: 32,
        height: 32,
        resize_mode: ResizeMode::Squash,
    };
    let pixels = tinystudio_images::preprocess(&image, &input, ColorDepth::Rgb);
    HostRunner::new(blob.to_vec())
        .unwrap()
        .run_pixels(&pixels)
        .unwrap()
}

/// A board played by the test on a pseudo-terminal; the studio opens the path.
fn pty_board() -> (TTYPort, String) {
    let (master, slave) = TTYPort::pair().expect("a pseudo-terminal");
    let path = slave.name().unwrap();
    drop(slave);
    (master, path)
}

/// The board's answer in the firmware's words for an int8 output.
fn answer(labels: &[String], raw: &[i8], scale: f32, zero: i32, ms: u32) -> String {
    let mut s = format!("Predictions (DSP: 1 ms., Classification: {ms} ms., Anomaly: 0 ms.):\r\n");
    for (label, &q) in labels.iter().zip(raw) {
        s += &format!("  {label}: {:.5}\r\n", (q as i32 - zero) as f32 * scale);
    }
    let raw: Vec<String> = raw.iter().map(i8::to_string).collect();
    s += &format!(
        "raw: {}\r\ncost: dsp=10 classification=20 unit=cycles\r\ndone\r\n",
        raw.join(" ")
    );
    s
}

/// A board whose camera loop classifies on its own: it prints a photo's
/// predictions (the host's answer, reversed, so mistaking it for an answer
/// shows) before every answer to a frame, and answers frames with the
/// host engine. Runs until the studio closes the port.
fn camera_board(mut port: TTYPort, blob: Vec<u8>, labels: Vec<String>) {
    let mut runner = HostRunner::new(blob).unwrap();
    let (scale, zero, input_len) = {
        let view = runner.view().unwrap();
        let out = view.output().unwrap();
        let s = view.input().unwrap().shape4();
        (out.scale, out.zero_point, s.h * s.w * s.c)
    };
    port.set_timeout(Duration::from_millis(200)).unwrap();
    let _ = port.write_all(b"Starting inferencing in 2 seconds...\r\n");
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match port.read(&mut buf) {
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
        let frame_len = 12 + input_len;
        while pending.len() >= frame_len {
            assert_eq!(&pending[..4], b"TSIF", "the studio sends whole frames");
            let pixels: Vec<u8> = pending.drain(..frame_len).skip(12).collect();
            let raw = runner.run_pixels(&pixels).unwrap();
            let reversed: Vec<i8> = raw.iter().rev().copied().collect();
            let text = format!(
                "Taking photo...\r\n{}{}",
                answer(&labels, &reversed, scale, zero, 322),
                answer(&labels, &raw, scale, zero, 30)
            );
            if port.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
    }
}

async fn the_studio_talks_to_the_emulated_board_over_a_pseudo_terminal(app: TestApp) {
    let (project, key) = app.create_project("board").await;
    let mut tests = Vec::new();
    for label in ["airplane", "ship", "horse"] {
        let train = cifar3("train", label);
        app.ingest("training", Some(&key), &[("x-label", label)], &train[..60])
            .await;
        let test = cifar3("test", label);
        let (_, stored) = app
            .ingest("testing", Some(&key), &[("x-label", label)], &test[..3])
            .await;
        for f in stored["files"].as_array().unwrap() {
            tests.push(f["sampleId"].as_str().unwrap().to_owned());
        }
    }
    // A small input keeps QEMU's inference and the frames short.
    let impulse = json!({"input": {"width": 32, "height": 32}, "learning": {"epochs": 5}});
    let job = app.start_training(&project, &key, Some(impulse)).await;
    app.run_pending_jobs().await;
    let trained = app.job(&project, &key, &job).await;
    let model = trained["result"]["modelId"]
        .as_str()
        .unwrap_or_else(|| panic!("no model: {}", trained["error"]))
        .to_owned();
    let labels: Vec<String> = serde_json::from_value(trained["result"]["labels"].clone()).unwrap();

    let mut deployments = Vec::new();
    for board in ["mps2-an386", "pico"] {
        let (status, d) = app
            .send_json(
                Method::POST,
                &format!("/api/projects/{project}/models/{model}/deploy"),
                &key,
                json!({ "board": board }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{d}");
        deployments.push(d["deploymentId"].as_str().unwrap().to_owned());
    }
    app.run_pending_jobs().await;
    for d in &deployments {
        let built = app.job(&project, &key, d).await;
        assert_eq!(built["status"], "succeeded", "{}", built["error"]);
    }
    let (emulated, pico) = (&deployments[0], &deployments[1]);
    let artifact = async |deployment: &str, name: &str| -> Vec<u8> {
        let r = app
            .get_response(
                &format!("/api/projects/{project}/deployments/{deployment}/artifacts/{name}"),
                &key,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        r.bytes().await.unwrap().to_vec()
    };
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("firmware.elf");
    std::fs::write(&elf, artifact(emulated, "firmware.elf").await).unwrap();
    let blob = artifact(emulated, "model.tsmb").await;

    let board = format!("/api/projects/{project}/board");
    let classify = |query: String| format!("{board}/classify?modelId={model}{query}");

    // Before connecting: every board route says to connect first.
    let (status, body) = app.get(&board, &key).await;
    assert_eq!(
        (status, &body["connected"]),
        (StatusCode::OK, &json!(false))
    );
    let (status, body) = post(
        &app,
        &classify(format!("&sampleId={}", tests[0])),
        &key,
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no board is connected"),
        "{body}"
    );
    let (status, _) = app.get(&format!("{board}/events"), &key).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("{board}/disconnect"),
            &key,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Bad ports: each a clear 4xx, nothing opened.
    for (port, expected, says) in [
        (json!({}), StatusCode::BAD_REQUEST, "name the port"),
        (
            json!({"port": "  "}),
            StatusCode::BAD_REQUEST,
            "name the port",
        ),
        (
            json!({"port": "/dev/ttyNOPE9"}),
            StatusCode::NOT_FOUND,
            "no serial port /dev/ttyNOPE9",
        ),
        (
            json!({"port": "/etc/hostname"}),
            StatusCode::BAD_REQUEST,
            "not a serial port",
        ),
        (
            json!({"port": "/dev/null"}),
            StatusCode::BAD_REQUEST,
            "not a terminal",
        ),
        (
            json!({"port": "/dev/ttyS0", "baud": 0}),
            StatusCode::BAD_REQUEST,
            "baud rate 0",
        ),
        (
            json!({"port": "/dev/ttyS0", "speed": 9600}),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
    ] {
        let (status, body) = app
            .send_json(
                Method::POST,
                &format!("{board}/connect"),
                &key,
                port.clone(),
            )
            .await;
        assert_eq!(status, expected, "{port}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{port}: {body}"
        );
    }
    let (status, body) = app.get(&board, &key).await;
    assert_eq!(
        (status, &body["connected"]),
        (StatusCode::OK, &json!(false))
    );
    let (status, ports) = app.get(&format!("{board}/ports"), &key).await;
    assert_eq!(status, StatusCode::OK, "{ports}");
    assert_eq!(ports["defaultBaud"], 115200);
    eprintln!("serial ports here: {}", ports["ports"]);

    // The emulated board on a pseudo-terminal.
    let mut qemu = Qemu::start(&elf);
    let (status, connected) = app
        .send_json(
            Method::POST,
            &format!("{board}/connect"),
            &key,
            json!({"port": qemu.pty}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    assert_eq!(connected["connected"], true);
    assert_eq!(connected["baud"], 115200);
    // Connecting again to the same port is harmless; another port is refused.
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("{board}/connect"),
            &key,
            json!({"port": qemu.pty}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("{board}/connect"),
            &key,
            json!({"port": "/dev/ttyS0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("disconnect first"),
        "{body}"
    );
    // The port is busy for every other project of the studio.
    let (other, other_key) = app.create_project("other").await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{other}/board/connect"),
            &other_key,
            json!({"port": qemu.pty}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("in use"), "{body}");
    let (_, ports) = app
        .get(&format!("/api/projects/{other}/board/ports"), &other_key)
        .await;
    assert!(
        ports["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == qemu.pty && p["inUse"] == "another project"),
        "{ports}"
    );

    let mut events = follow(&app, &format!("{board}/events"), &key).await;
    let first = next_named(&mut events, "status").await;
    assert_eq!(first["port"], qemu.pty);
    qemu.resume();
    let ready = next_named(&mut events, "ready").await;
    assert_eq!(ready["input"], json!([32, 32, 3]), "{ready}");
    assert_eq!(ready["labels"], 3);

    let mut answers = Vec::new();
    for sample in &tests {
        let (status, run) = post(
            &app,
            &classify(format!("&sampleId={sample}")),
            &key,
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["raw"], run["hostRaw"], "board and host differ: {run}");
        assert_eq!(run["matchesHost"], true);
        assert_eq!(run["predicted"], run["hostPredicted"], "{run}");
        assert_eq!(run["raw"].as_array().unwrap().len(), 3);
        assert!(run["instructions"].as_u64().unwrap() > 100_000, "{run}");
        assert!(run["trueLabel"].is_string(), "{run}");
        assert!(
            run["lines"][0]
                .as_str()
                .unwrap()
                .starts_with("Predictions (DSP:"),
            "{run}"
        );
        answers.push(run);
    }
    // An image as the body, decoded and preprocessed by the studio.
    let image = cifar3("test", "ship")[10].bytes.clone();
    let r = app
        .client
        .post(app.url(&classify(String::new())))
        .header("x-api-key", &key)
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let run: Value = r.json().await.unwrap();
    assert_eq!(run["raw"], run["hostRaw"], "{run}");
    answers.push(run);
    // The live classification of the same image agrees with the board.
    let r = app
        .client
        .post(app.url(&format!("/api/projects/{project}/models/{model}/classify")))
        .header("x-api-key", &key)
        .body(image)
        .send()
        .await
        .unwrap();
    let live: Value = r.json().await.unwrap();
    assert_eq!(live["predicted"], answers.last().unwrap()["predicted"]);

    // Each answer also went out on the event stream, in order.
    for run in &answers {
        let p = next_named(&mut events, "predictions").await;
        assert_eq!(p["unasked"], false);
        assert_eq!(p["raw"], run["raw"], "{p}");
        assert_eq!(p["predicted"], run["predicted"]);
    }
    let (_, status) = app.get(&board, &key).await;
    assert_eq!(status["latest"]["raw"], answers.last().unwrap()["raw"]);
    assert_eq!(status["ready"]["input"], json!([32, 32, 3]));
    let lines: Vec<&str> = status["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert!(
        lines[0].starts_with("ready: tinystudio-firmware board=mps2-an386"),
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == "done").count(),
        answers.len()
    );

    // The Deploy page shows the board without JavaScript, and its form
    // classifies a test sample on the board.
    let page = app.page(&format!("/projects/{project}/deploy")).await;
    assert!(
        page.contains(&format!("Connected to <code>{}</code>", qemu.pty)),
        "{page}"
    );
    assert!(page.contains("ready: tinystudio-firmware board=mps2-an386"));
    assert!(page.contains("/static/board.js"));
    let r = app
        .client
        .get(app.url("/static/board.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("EventSource"));
    let form = reqwest::multipart::Form::new()
        .text("model", model.clone())
        .text("sample", tests[1].clone());
    let r = app
        .post_page_form(&format!("/projects/{project}/deploy/board/classify"), form)
        .await;
    // Post, redirect, get: the page shows the board's answer, and a reload
    // shows it again without sending the sample to the board again.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let page = app.page(&location).await;
    assert!(page.contains("board = host, byte for byte"), "{page}");
    let p = next_named(&mut events, "predictions").await;
    assert_eq!(
        p["raw"], answers[1]["raw"],
        "the page's sample, on the stream too"
    );
    let status = app.get(&board, &key).await.1;

    // Bad requests to a connected board change nothing on it.
    for (query, body, expected) in [
        (
            format!("{board}/classify"),
            Vec::new(),
            StatusCode::BAD_REQUEST,
        ),
        (classify(String::new()), Vec::new(), StatusCode::BAD_REQUEST),
        (
            classify(String::new()),
            b"not an image".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            classify(format!("&sampleId={}", tests[0])),
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            classify("&sampleId=nope".into()),
            Vec::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            classify("&timeoutMs=0".into()),
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(
                "{board}/classify?modelId=0193a5a0-0000-7000-8000-000000000000&sampleId={}",
                tests[0]
            ),
            Vec::new(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = app
            .client
            .post(app.url(&query))
            .header("x-api-key", &key)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let reply: Value = r.json().await.unwrap();
        assert_eq!(status, expected, "{query}: {reply}");
        assert!(!reply["error"].as_str().unwrap().is_empty());
    }
    let (_, after) = app.get(&board, &key).await;
    assert_eq!(after["lines"], status["lines"], "no frame was sent");

    // Flashing needs the port the studio holds: refused while connected.
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/deployments/{pico}/flash"),
            &key,
            json!({"port": qemu.pty}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("disconnect first"),
        "{body}"
    );

    // The board is unplugged: the studio notices and says why.
    drop(qemu);
    let end = next_named(&mut events, "status").await;
    assert_eq!(end["connected"], false, "{end}");
    assert!(!end["reason"].as_str().unwrap().is_empty());
    let (_, status) = app.get(&board, &key).await;
    assert_eq!(status["connected"], false, "{status}");

    // A board that never answers: a timeout, not a hang.
    let (silent, path) = pty_board();
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("{board}/connect"),
            &key,
            json!({"port": path, "baud": 9600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(
        &app,
        &classify(format!("&sampleId={}&timeoutMs=1500", tests[0])),
        &key,
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("did not answer within 1.5 s"),
        "{body}"
    );
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("{board}/disconnect"),
            &key,
            json!(null),
        )
        .await;
    assert_eq!((status, &body["port"]), (StatusCode::OK, &json!(path)));
    drop(silent);

    // A board with a camera loop: its own predictions come unasked, between
    // and before the answers, and never pass for an answer.
    // This time through the page's form, as a person without JavaScript
    // would: a typed path wins over the list.
    let page_form = |action: &str, fields: Vec<(&'static str, String)>| {
        app.client
            .post(app.url(&format!("/projects/{project}/deploy/{action}")))
            .header("cookie", &app.cookie)
            .form(&fields)
    };
    let (camera, path) = pty_board();
    let r = page_form(
        "board/connect",
        vec![
            ("port", "/dev/ttyS0".into()),
            ("path", "/dev/ttyNOPE9".into()),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("error=no%20serial%20port%20%2Fdev%2FttyNOPE9"),
        "{location}"
    );
    let r = page_form(
        "board/connect",
        vec![
            ("port", "/dev/ttyS0".into()),
            ("path", path.clone()),
            ("baud", "115200".into()),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/projects/{project}/deploy#board").as_str()
    );
    let (_, connected) = app.get(&board, &key).await;
    assert_eq!(connected["port"], path.as_str(), "{connected}");
    let mut events = follow(&app, &format!("{board}/events"), &key).await;
    next_named(&mut events, "status").await;
    // Played once the studio holds the port: a pty's master side reads
    // nothing but errors while no one has the other side open.
    let player = std::thread::spawn({
        let (blob, labels) = (blob.clone(), labels.clone());
        move || camera_board(camera, blob, labels)
    });
    for (sample, qemu_run) in tests.iter().zip(&answers).take(3) {
        let (status, run) = post(
            &app,
            &classify(format!("&sampleId={sample}")),
            &key,
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(
            run["matchesHost"], true,
            "an unasked block was taken for the answer: {run}"
        );
        assert_eq!(run["classificationMs"], 30);
        assert_eq!(
            run["raw"], qemu_run["raw"],
            "the camera board and QEMU agree"
        );
        let photo = next_named(&mut events, "predictions").await;
        assert_eq!(photo["unasked"], true, "{photo}");
        assert_eq!(photo["classificationMs"], 322);
        let reply = next_named(&mut events, "predictions").await;
        assert_eq!(reply["unasked"], false, "{reply}");
        assert_eq!(reply["raw"], run["raw"]);
    }
    let (_, status) = app.get(&board, &key).await;
    assert!(
        status["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["line"] == "Starting inferencing in 2 seconds..."),
        "{status}"
    );
    let r = page_form("board/disconnect", Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let end = next_named(&mut events, "status").await;
    assert_eq!(end["connected"], false);
    player.join().unwrap();

    // The emulated board's own camera: QEMU gives it CIFAR photos as QQVGA
    // RGB565 frames. The studio connects, the board starts its loop, and
    // every photo's predictions reach the API and the page, each what the
    // studio computes for the same raw frame (its preprocessing with the
    // impulse, then the host engine).
    let photos: Vec<Vec<u8>> = ["airplane", "ship", "horse"]
        .iter()
        .map(|label| camera_frame_of(&cifar3("test", label)[20].bytes))
        .collect();
    let expected: Vec<Vec<i8>> = photos.iter().map(|f| studio_answer(f, &blob)).collect();
    let camera_dir = tempfile::tempdir().unwrap();
    let mut qemu = Qemu::start_camera(&elf, Some((camera_dir.path(), &photos.concat())));
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("{board}/connect"),
            &key,
            json!({"port": qemu.pty}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut events = follow(&app, &format!("{board}/events"), &key).await;
    next_named(&mut events, "status").await;
    qemu.resume();
    next_named(&mut events, "ready").await;
    for round in 0..2 {
        for (i, want) in expected.iter().enumerate() {
            let photo = next_named(&mut events, "predictions").await;
            assert_eq!(photo["unasked"], true, "{photo}");
            let raw: Vec<i8> = serde_json::from_value(photo["raw"].clone()).unwrap();
            assert_eq!(&raw, want, "round {round}, photo {i}: board vs studio");
        }
    }
    let (_, status) = app.get(&board, &key).await;
    let lines: Vec<&str> = status["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert!(
        lines.contains(&"Starting inferencing in 2 seconds...")
            && lines.contains(&"Taking photo..."),
        "{lines:?}"
    );
    assert_eq!(status["latest"]["unasked"], true, "{status}");
    let page = app.page(&format!("/projects/{project}/deploy")).await;
    assert!(page.contains("(the board's own photo)"), "{page}");
    assert!(page.contains("Taking photo..."), "{page}");
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("{board}/disconnect"),
            &key,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    drop(qemu);

    // Flashing: the emulated build has nothing to flash; the Pico's UF2
    // goes onto its drive, and only onto a folder that is one.
    let flash = |d: &str| format!("/api/projects/{project}/deployments/{d}/flash");
    let (status, body) = app
        .send_json(Method::POST, &flash(emulated), &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("nothing to flash"),
        "{body}"
    );
    let not_a_drive = tempfile::tempdir().unwrap();
    let (status, body) = app
        .send_json(
            Method::POST,
            &flash(pico),
            &key,
            json!({"drive": not_a_drive.path()}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("RPI-RP2"),
        "{body}"
    );
    assert_eq!(std::fs::read_dir(not_a_drive.path()).unwrap().count(), 0);
    let drive = tempfile::tempdir().unwrap();
    std::fs::write(
        drive.path().join("INFO_UF2.TXT"),
        "UF2 Bootloader v3.0\r\nModel: Raspberry Pi RP2\r\nBoard-ID: RPI-RP2\r\n",
    )
    .unwrap();
    let (status, body) = app
        .send_json(
            Method::POST,
            &flash(pico),
            &key,
            json!({"drive": drive.path()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["method"], "uf2-copy");
    assert_eq!(
        std::fs::read(drive.path().join("firmware.uf2")).unwrap(),
        artifact(pico, "firmware.uf2").await
    );
    // And from the page's Builds list.
    std::fs::remove_file(drive.path().join("firmware.uf2")).unwrap();
    let r = page_form(
        "flash",
        vec![
            ("deployment", pico.clone()),
            ("drive", drive.path().display().to_string()),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let page = app.page(&location).await;
    assert!(page.contains("flashed</span> with uf2-copy"), "{page}");
    assert!(drive.path().join("firmware.uf2").exists());
    let (status, body) = app
        .send_json(Method::POST, &flash(pico), &key, json!({"drive": 7}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
