//! The Deploy step end to end: a model trained in the test is built into
//! firmware for the emulated Cortex-M4 board, which classifies 20 test
//! samples under QEMU exactly as the host engine does, byte for byte; a
//! damaged firmware file is refused, never served or run.

mod common;

use common::{TestApp, cifar3};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    firmware_on_the_emulated_board_matches_the_host_engine,
    the_firmware_readme_is_a_studio_page
);

async fn the_firmware_readme_is_a_studio_page(app: TestApp) {
    let r = app
        .client
        .get(app.url("/docs/firmware"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    // In the studio's frame, as HTML rather than markdown source.
    assert!(html.contains(r#"<header class="topbar">"#), "{html}");
    assert!(html.contains(r#"<link rel="stylesheet" href="/static/app.css">"#));
    assert!(html.contains("<h1>tinystudio-firmware</h1>"), "{html}");
    assert!(!html.contains("# tinystudio-firmware"));
    assert!(html.contains("<code>"));
}

async fn firmware_on_the_emulated_board_matches_the_host_engine(app: TestApp) {
    let (project, key) = app.create_project("deploy").await;
    let mut test_images = Vec::new();
    for (split, category) in [("train", "training"), ("test", "testing")] {
        for label in ["airplane", "ship", "horse"] {
            let files = cifar3(split, label);
            if split == "test" {
                test_images.extend(files.iter().take(7).cloned());
            }
            app.ingest(category, Some(&key), &[("x-label", label)], &files)
                .await;
        }
    }
    let job_id = app.start_training(&project, &key, None).await;
    app.run_pending_jobs().await;
    let trained = app.job(&project, &key, &job_id).await;
    let model = trained["result"]["modelId"]
        .as_str()
        .expect("a trained model")
        .to_owned();

    // An unknown board is refused before anything is queued.
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model}/deploy"),
            &key,
            json!({ "board": "esp32" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, deploy) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model}/deploy"),
            &key,
            json!({ "board": "mps2-an386" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deploy}");
    app.run_pending_jobs().await;
    let deployment = deploy["deploymentId"].as_str().unwrap().to_owned();
    let (_, built) = app
        .get(&format!("/api/projects/{project}/jobs/{deployment}"), &key)
        .await;
    assert_eq!(built["status"], "succeeded", "{}", built["error"]);
    let result = &built["result"];
    assert_eq!(result["size"]["fits"], true, "{}", result["size"]);
    assert!(result["size"]["flashUsed"].as_u64().unwrap() <= 1024 * 1024);
    assert!(
        result["measured"]["instructions"].as_u64().unwrap() > 1_000_000,
        "{}",
        result["measured"]
    );
    let names: Vec<&str> = result["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for expected in [
        "firmware.elf",
        "firmware.bin",
        "model.tsmb",
        "model.tflite",
        "size-report.json",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let (status, report) = app
        .get(
            &format!("/api/projects/{project}/deployments/{deployment}/artifacts/size-report.json"),
            &key,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["size"], result["size"]);
    let r = app
        .get_response(
            &format!("/api/projects/{project}/deployments/{deployment}/artifacts/firmware.bin"),
            &key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    assert!(r.bytes().await.unwrap().len() > 100_000);

    // What the model needs on the board: the estimate before building
    // tracks what the build and the emulated run measured.
    let (status, footprint) = app
        .get(
            &format!("/api/projects/{project}/models/{model}/footprint"),
            &key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{footprint}");
    let emulated = footprint["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["board"] == "mps2-an386")
        .expect("the emulated board is listed");
    let (estimated, measured) = (&emulated["estimated"], &emulated["measured"]);
    assert_eq!(estimated["basis"], "estimated");
    assert_eq!(measured["basis"], "measured");
    assert_eq!(
        measured["latency"]["instructions"],
        result["measured"]["instructions"]
    );
    let ratio = estimated["latency"]["instructions"].as_f64().unwrap()
        / measured["latency"]["instructions"].as_f64().unwrap();
    eprintln!(
        "mps2-an386: estimated {} instructions, {} B RAM; measured {} instructions, {} B RAM",
        estimated["latency"]["instructions"],
        estimated["ramBytes"],
        measured["latency"]["instructions"],
        measured["ramBytes"]
    );
    assert!(
        (0.8..1.25).contains(&ratio),
        "estimated vs measured instructions: {ratio:.3} ({footprint})"
    );
    let ram_ratio =
        estimated["ramBytes"].as_f64().unwrap() / measured["ramBytes"].as_f64().unwrap();
    assert!((0.9..1.1).contains(&ram_ratio), "{footprint}");

    // Runs on the emulated board are jobs: the request answers at once
    // (here no worker runs, so the run cannot have happened yet).
    let mut runs = Vec::new();
    let mut slowest = std::time::Duration::ZERO;
    for image in &test_images[..20] {
        let asked = std::time::Instant::now();
        let r = app
            .client
            .post(app.url(&format!(
                "/api/projects/{project}/deployments/{deployment}/run"
            )))
            .header("x-api-key", &key)
            .body(image.bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let queued: Value = r.json().await.unwrap();
        slowest = slowest.max(asked.elapsed());
        assert_eq!(queued["status"], "queued", "{queued}");
        runs.push((image, queued["jobId"].as_str().unwrap().to_owned()));
    }
    // Printed, not asserted (speed is for benchmarks): BENCHMARKS.md.
    eprintln!("emulated run requests: slowest answer of 20 in {slowest:?}");
    app.run_pending_jobs().await;
    let mut agree = 0;
    for (image, run) in runs {
        let job = app.job(&project, &key, &run).await;
        assert_eq!(job["status"], "succeeded", "{}", job["error"]);
        let out = &job["result"];
        assert_eq!(
            out["raw"], out["hostRaw"],
            "{}: board and host differ: {out}",
            image.name
        );
        assert_eq!(out["matchesHost"], true);
        assert!(
            out["lines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().starts_with("Predictions (DSP:"))
        );
        // And the studio's own live classification says the same.
        let r = app
            .client
            .post(app.url(&format!("/api/projects/{project}/models/{model}/classify")))
            .header("x-api-key", &key)
            .body(image.bytes.clone())
            .send()
            .await
            .unwrap();
        let host: Value = r.json().await.unwrap();
        if host["predicted"] == out["predicted"] {
            agree += 1;
        }
    }
    assert_eq!(
        agree, 20,
        "the board's top class equals live classification's on every image"
    );

    // The Deploy page's picker lists the whole test set by label; a run
    // from it names its sample and that sample's true label.
    let html = app.page(&format!("/projects/{project}/deploy")).await;
    let (_, listed) = app
        .get(
            &format!("/api/projects/{project}/samples?category=testing&limit=1000"),
            &key,
        )
        .await;
    let listed = listed["samples"].as_array().unwrap();
    for label in ["airplane", "ship", "horse"] {
        let n = listed.iter().filter(|s| s["label"] == label).count();
        assert!(
            html.contains(&format!(r#"<optgroup label="{label} ({n})">"#)),
            "{label}: {html}"
        );
    }
    for s in listed {
        let option = format!(
            r#"<option value="{}">{} — {}</option>"#,
            s["id"].as_str().unwrap(),
            s["fileName"].as_str().unwrap(),
            s["label"].as_str().unwrap()
        );
        assert!(html.contains(&option), "{option}");
    }
    let sample = &listed[0];
    let form = reqwest::multipart::Form::new()
        .text("deployment", deployment.clone())
        .text("sample", sample["id"].as_str().unwrap().to_owned());
    let r = app
        .post_page_form(&format!("/projects/{project}/deploy/run"), form)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job_page = r.headers()["location"].to_str().unwrap().to_owned();
    app.run_pending_jobs().await;
    let html = app.page(&job_page).await;
    for (name, value) in [
        ("Sample", &sample["fileName"]),
        ("True label", &sample["label"]),
    ] {
        let row = format!(
            "<tr><th>{name}</th><td>{}</td></tr>",
            value.as_str().unwrap()
        );
        assert!(html.contains(&row), "{row}: {html}");
    }

    // The build's files carry their hashes: a firmware file changed on disk
    // (same size, one byte) is refused when downloaded and when run.
    for file in ["firmware.bin", "firmware.elf"] {
        let path = app
            .data_dir
            .join(format!("blobs/artifacts/{deployment}/{file}"));
        let mut bytes = std::fs::read(&path).expect("the firmware file on disk");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
    }
    let r = app
        .get_response(
            &format!("/api/projects/{project}/deployments/{deployment}/artifacts/firmware.bin"),
            &key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is damaged") && error.contains("firmware.bin"),
        "{error}"
    );
    let r = app
        .client
        .post(app.url(&format!(
            "/api/projects/{project}/deployments/{deployment}/run"
        )))
        .header("x-api-key", &key)
        .body(test_images[0].bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let run: Value = r.json().await.unwrap();
    app.run_pending_jobs().await;
    let job = app
        .job(&project, &key, run["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is damaged") && error.contains("firmware.elf"),
        "{error}"
    );
    assert_eq!(job["attempts"], 1, "a damaged file is not retried: {job}");
}
