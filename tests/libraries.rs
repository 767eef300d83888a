//! A model taken away from the studio: every model downloads as `.tflite`
//! and `.tsmb`, and builds as an Arduino library, a C library or a Rust
//! crate through a library job (the API and the Deploy page); another
//! project's model or library, an unknown file or kind, are refused
//! clearly. What is inside the libraries, and that it runs byte-equal to
//! the host engine, is `crates/deploy/tests/library.rs`.

mod common;

use common::{TestApp, cifar3};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tinystudio_engine::ModelView;
use tinystudio_engine::interpreter::HostRunner;

backend_tests!(models_download_as_files_and_libraries);

/// Whether a zip names `path` (its central directory stores names as is).
fn zip_names(zip: &[u8], path: &str) -> bool {
    zip.windows(path.len()).any(|w| w == path.as_bytes())
}

async fn models_download_as_files_and_libraries(app: TestApp) {
    let (project, key) = app.create_project("cups").await;
    for label in ["airplane", "ship", "horse"] {
        let files: Vec<_> = cifar3("train", label).into_iter().take(12).collect();
        app.ingest("training", Some(&key), &[("x-label", label)], &files)
            .await;
    }
    let job_id = app.start_training(&project, &key, None).await;
    app.run_pending_jobs().await;
    let trained = app.job(&project, &key, &job_id).await;
    let model = trained["result"]["modelId"]
        .as_str()
        .expect("a trained model")
        .to_owned();

    // The model's files, named in its JSON.
    let (status, listed) = app
        .get(&format!("/api/projects/{project}/models/{model}"), &key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let tflite_url = listed["downloads"]["model.tflite"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob_url = listed["downloads"]["model.tsmb"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.get_response(&tflite_url, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("model.tflite")
    );
    let tflite = r.bytes().await.unwrap();
    assert_eq!(&tflite[4..8], b"TFL3", "a TensorFlow Lite flatbuffer");
    let r = app.get_response(&blob_url, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let blob = r.bytes().await.unwrap();
    let view = ModelView::parse(&blob).expect("the engine's blob");
    assert_eq!(view.label_count(), 3);
    // The same int8 model both ways: the .tflite, imported, answers as the
    // blob does.
    let mut imported = tinystudio_engine::Model::from_tflite(&tflite).unwrap();
    imported.metadata.pixel_scaling = view.pixel_scaling();
    let input = view.input().unwrap().len;
    let pixels: Vec<u8> = (0..input).map(|i| (i * 7 % 251) as u8).collect();
    let run = |blob: Vec<u8>| HostRunner::new(blob).unwrap().run_pixels(&pixels).unwrap();
    assert_eq!(run(imported.to_blob().unwrap()), run(blob.to_vec()));

    // The training job's page links both.
    let html = app
        .page(&format!("/projects/{project}/jobs/{job_id}"))
        .await;
    assert!(html.contains(&format!(r#"href="{tflite_url}""#)), "{html}");
    assert!(html.contains(&format!(r#"href="{blob_url}""#)), "{html}");

    let (status, body) = app
        .get(
            &format!("/api/projects/{project}/models/{model}/files/model.safetensors"),
            &key,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("model.tflite and model.tsmb"),
        "{body}"
    );

    // Another project cannot reach this project's model, nor name it as
    // its own.
    let (other, other_key) = app.create_project("other").await;
    let (status, _) = app
        .get(
            &format!("/api/projects/{other}/models/{model}/files/model.tflite"),
            &other_key,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&tflite_url, &other_key).await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
        "{status}"
    );
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{other}/models/{model}/library"),
            &other_key,
            json!({ "kind": "c" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An unknown kind is refused before anything is queued, naming the kinds.
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model}/library"),
            &key,
            json!({ "kind": "esp-idf" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("arduino, c, rust"),
        "{body}"
    );

    // Each kind through the API: a job, then its zip.
    for (kind, must_have) in [
        ("rust", vec!["Cargo.toml", "src/lib.rs", "src/model.tsmb"]),
        (
            "c",
            vec![
                "include/tinystudio.h",
                "lib/cortex-m4/libtinystudio.a",
                "lib/cortex-m0plus/libtinystudio.a",
                "model/model_data.c",
                "examples/Makefile",
            ],
        ),
        (
            "arduino",
            vec![
                "library.properties",
                "src/cortex-m4/fpv4-sp-d16-hard/libtinystudio.a",
                "src/cortex-m4/fpv4-sp-d16-softfp/libtinystudio.a",
                "src/cortex-m0plus/libtinystudio.a",
                "examples/classify/classify.ino",
            ],
        ),
    ] {
        let (status, started) = app
            .send_json(
                Method::POST,
                &format!("/api/projects/{project}/models/{model}/library"),
                &key,
                json!({ "kind": kind }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        app.run_pending_jobs().await;
        let job = app
            .job(&project, &key, started["jobId"].as_str().unwrap())
            .await;
        assert_eq!(job["status"], "succeeded", "{kind}: {}", job["error"]);
        assert_eq!(job["result"]["kind"], kind);
        let r = app
            .get_response(started["download"].as_str().unwrap(), &key)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{kind}");
        assert_eq!(r.headers()["content-type"], "application/zip");
        let zip = r.bytes().await.unwrap();
        assert_eq!(
            zip.len() as u64,
            job["result"]["file"]["bytes"].as_u64().unwrap()
        );
        assert_eq!(&zip[..2], b"PK");
        for path in must_have {
            assert!(zip_names(&zip, path), "{kind}: no {path}");
        }
        // Not another project's to download.
        let (status, _) = app
            .get(
                &format!(
                    "/api/projects/{other}/libraries/{}/download",
                    started["jobId"].as_str().unwrap()
                ),
                &other_key,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // The zip carries its hash: one changed on disk is refused, not served.
    let (_, list) = app
        .get(&format!("/api/projects/{project}/libraries"), &key)
        .await;
    let newest = &list["libraries"][0];
    let name = newest["result"]["file"]["name"].as_str().unwrap();
    let path = app.data_dir.join(format!(
        "blobs/artifacts/{}/{name}",
        newest["id"].as_str().unwrap()
    ));
    let mut bytes = std::fs::read(&path).expect("the zip on disk");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let r = app
        .get_response(
            &format!(
                "/api/projects/{project}/libraries/{}/download",
                newest["id"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("is damaged"),
        "{body}"
    );

    let (_, list) = app
        .get(&format!("/api/projects/{project}/libraries"), &key)
        .await;
    assert_eq!(list["libraries"].as_array().unwrap().len(), 3);
    let (_, boards) = app.get("/api/boards", &key).await;
    assert_eq!(boards["libraries"].as_array().unwrap().len(), 3);

    // The Deploy page offers the model's files and the three libraries; its
    // form starts a library job and sends the browser to the job's page,
    // which links the zip.
    let html = app.page(&format!("/projects/{project}/deploy")).await;
    for name in ["model.tflite", "model.tsmb"] {
        let link = format!(r#"href="/api/projects/{project}/models/{model}/files/{name}""#);
        assert!(html.contains(&link), "{link}");
    }
    for title in ["Arduino library", "C library", "Rust crate"] {
        assert!(html.contains(&format!("Build the {title}")), "{title}");
    }
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/deploy/library")))
        .header("cookie", &app.cookie)
        .form(&[("model", model.as_str()), ("kind", "rust")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job_page = r.headers()["location"].to_str().unwrap().to_owned();
    app.run_pending_jobs().await;
    let html = app.page(&job_page).await;
    let job = job_page.rsplit('/').next().unwrap();
    assert!(
        html.contains(&format!(
            r#"href="/api/projects/{project}/libraries/{job}/download""#
        )),
        "{html}"
    );
    // A bad kind from the form comes back to the page with the reason.
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/deploy/library")))
        .header("cookie", &app.cookie)
        .form(&[("model", model.as_str()), ("kind", "zip")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=unknown")
    );
}
