//! Every refusal: each bad input gets a clear error, and afterwards the
//! project holds exactly what it held before.

mod common;

use common::{TestApp, TestFile, jpeg, png};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    bad_files_are_refused_by_name,
    bad_requests_change_nothing,
    keys_and_ids_are_checked
);

/// A PNG whose header claims `width` x `height` pixels: a decompression bomb.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn bad_files_are_refused_by_name(app: TestApp) {
    let (project, key) = app.create_project("refusals").await;
    app.ingest(
        "training",
        Some(&key),
        &[("x-label", "ok")],
        &[TestFile::new("ok.png", png(10, 10, 1))],
    )
    .await;
    let before = app.snapshot(&project, &key).await;

    let full = jpeg(64, 64, 3);
    let cases: Vec<(TestFile, &str)> = vec![
        (TestFile::new("empty.jpg", vec![]), "empty"),
        (
            TestFile::new("text.jpg", b"just some text, not pixels".to_vec()),
            "not an image",
        ),
        (
            TestFile::new("cut.jpg", full[..full.len() / 2].to_vec()),
            "truncated",
        ),
        (
            TestFile::new("cut.png", png(64, 64, 4)[..200].to_vec()),
            "truncated",
        ),
        (
            TestFile::new("bomb.png", png_claiming(100_000, 100_000)),
            "limit is 4096x4096",
        ),
        (
            TestFile::new("wide.png", png(5000, 2, 5)),
            "limit is 4096x4096",
        ),
        (
            TestFile::new("doc.pdf", b"%PDF-1.4\n...".to_vec()),
            "not an image",
        ),
    ];
    for (file, reason) in cases {
        let (status, body) = app
            .ingest(
                "training",
                Some(&key),
                &[("x-label", "bad")],
                std::slice::from_ref(&file),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", file.name);
        let reply = &body["files"][0];
        assert_eq!(reply["success"], false, "{}: {body}", file.name);
        assert_eq!(reply["fileName"], file.name.as_str());
        let error = reply["error"].as_str().unwrap();
        assert!(
            error.contains(reason),
            "{}: expected {reason:?} in {error:?}",
            file.name
        );
        assert!(
            error.contains(&file.name),
            "the message names the file: {error}"
        );
    }
    // A label taken from a file name that has none.
    let (_, body) = app
        .ingest(
            "training",
            Some(&key),
            &[],
            &[TestFile::new(".hidden.png", png(4, 4, 6))],
        )
        .await;
    assert_eq!(body["files"][0]["success"], false);
    assert_eq!(
        app.snapshot(&project, &key).await,
        before,
        "refused files change nothing"
    );
}

async fn bad_requests_change_nothing(app: TestApp) {
    let (project, key) = app.create_project("requests").await;
    app.ingest(
        "training",
        Some(&key),
        &[("x-label", "ok")],
        &[TestFile::new("ok.png", png(10, 10, 1))],
    )
    .await;
    let before = app.snapshot(&project, &key).await;
    let ok = TestFile::new("fine.png", png(10, 10, 2));

    // A file over the per-file limit (2 MB here): 413 for the whole request,
    // even for the good file beside it.
    let big = TestFile::new("big.bmp", vec![0u8; 3 * 1024 * 1024]);
    let (status, body) = app
        .ingest("training", Some(&key), &[], &[ok.clone(), big])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["success"], false);
    assert!(body["error"].as_str().unwrap().contains("big.bmp"));
    // A body over the request limit (6 MB here).
    let parts: Vec<TestFile> = (0..4)
        .map(|i| TestFile::new(&format!("p{i}.bin"), vec![1u8; 1_900_000]))
        .collect();
    let (status, body) = app.ingest("training", Some(&key), &[], &parts).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"));

    // Headers that are wrong as a whole.
    for (name, value, needle) in [
        ("x-label", "", "label"),
        ("x-label", "%FF%FE", "percent-encoded"),
        ("x-metadata", "{not json", "x-metadata"),
        ("x-metadata", r#"{"a": 1}"#, "string"),
    ] {
        let (status, body) = app
            .ingest(
                "training",
                Some(&key),
                &[(name, value)],
                std::slice::from_ref(&ok),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {value}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    let long = "x".repeat(65);
    let (status, _) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", &long)],
            std::slice::from_ref(&ok),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Malformed multipart, a body that is not multipart, no files, an unknown category.
    let r = app
        .client
        .post(app.url("/api/training/files"))
        .header("x-api-key", &key)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(
            "--XYZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"a.png\"\r\n\r\nabc",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("multipart"),
        "{body}"
    );
    let r = app
        .client
        .post(app.url("/api/training/files"))
        .header("x-api-key", &key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .client
        .post(app.url("/api/training/files"))
        .header("x-api-key", &key)
        .multipart(reqwest::multipart::Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, _) = app
        .ingest("validation", Some(&key), &[], std::slice::from_ref(&ok))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad JSON API bodies.
    let samples = format!("/api/projects/{project}/samples");
    let id = before["samples"]["samples"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for body in [
        json!({ "label": "" }),
        json!({ "category": "validation" }),
        json!({}),
        json!({ "label": "a\u{7}b" }),
        json!({ "bogus": 1 }),
    ] {
        let (status, reply) = app
            .send_json(
                Method::PATCH,
                &format!("{samples}/{id}"),
                &key,
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["success"], false);
    }
    let r = app
        .client
        .patch(app.url(&format!("{samples}/{id}")))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, _) = app.get(&format!("{samples}?limit=0"), &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get(&format!("{samples}?category=nope"), &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("{samples}/bulk"),
            &key,
            json!({ "ids": [id], "action": "explode" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .send_json(Method::POST, "/api/projects", &key, json!({ "name": "" }))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a project key cannot create projects"
    );
    let r = app
        .client
        .post(app.url("/api/projects"))
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    assert_eq!(app.snapshot(&project, &key).await, before);
}

async fn keys_and_ids_are_checked(app: TestApp) {
    let (project, key) = app.create_project("mine").await;
    let (other, other_key) = app.create_project("theirs").await;
    let (_, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "a")],
            &[TestFile::new("a.png", png(10, 10, 1))],
        )
        .await;
    let sample = body["files"][0]["sampleId"].as_str().unwrap().to_owned();
    let (_, body) = app
        .ingest(
            "training",
            Some(&other_key),
            &[("x-label", "b")],
            &[TestFile::new("b.png", png(10, 10, 2))],
        )
        .await;
    let other_sample = body["files"][0]["sampleId"].as_str().unwrap().to_owned();
    let before = app.snapshot(&project, &key).await;
    let before_other = app.snapshot(&other, &other_key).await;
    let file = [TestFile::new("c.png", png(10, 10, 3))];

    // Ingestion: missing and wrong keys are 401, with the JSON error shape.
    for k in [None, Some("ei_0000"), Some("not-a-key"), Some("")] {
        let (status, body) = app.ingest("training", k, &[], &file).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{k:?}");
        assert_eq!(body["success"], false);
        assert!(body["error"].is_string());
    }

    // Another project's key: 403, and the same answer for a project that
    // does not exist, so nothing is learned about either.
    let missing = uuid::Uuid::now_v7().to_string();
    for path in [
        format!("/api/projects/{other}"),
        format!("/api/projects/{other}/samples"),
        format!("/api/projects/{other}/samples/{other_sample}"),
        format!("/api/projects/{other}/samples/{other_sample}/image"),
        format!("/api/projects/{other}/keys"),
        format!("/api/projects/{missing}/samples"),
        "/api/projects/not-a-uuid/samples".to_owned(),
    ] {
        let (status, body) = app.get(&path, &key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains(&other_sample) && !text.contains("theirs"),
            "{text}"
        );
    }
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/api/projects/{other}/samples/{other_sample}"),
            json!({ "label": "x" }),
        ),
        (
            Method::DELETE,
            format!("/api/projects/{other}/samples/{other_sample}"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/projects/{other}/samples/bulk"),
            json!({ "ids": [other_sample], "action": "delete" }),
        ),
        (
            Method::POST,
            format!("/api/projects/{other}/keys"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/projects/{other}/rebalance"),
            json!({}),
        ),
        (
            Method::PATCH,
            format!("/api/projects/{other}"),
            json!({ "name": "pwned" }),
        ),
        (Method::DELETE, format!("/api/projects/{other}"), json!({})),
    ] {
        let (status, _) = app.send_json(method.clone(), &path, &key, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }

    // A sample of another project through my own project: 404, as for any unknown id.
    for path in [
        format!("/api/projects/{project}/samples/{other_sample}"),
        format!("/api/projects/{project}/samples/{missing}"),
        format!("/api/projects/{project}/samples/not-a-uuid"),
        format!("/api/projects/{project}/samples/{other_sample}/thumbnail"),
    ] {
        let (status, body) = app.get(&path, &key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    // A bulk change naming one foreign id changes nothing at all.
    let (status, _) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/samples/bulk"),
            &key,
            json!({ "ids": [sample, other_sample], "action": "update", "label": "zzz" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{project}/keys/{missing}"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No credentials on project routes: 401.
    let r = app
        .client
        .get(app.url(&format!("/api/projects/{project}/samples")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Unknown pages and routes.
    let r = app
        .client
        .get(app.url(&format!("/projects/{missing}/dataset")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text().await.unwrap().contains("<html"),
        "pages get an HTML error page"
    );
    let r = app
        .client
        .get(app.url("/api/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(app.snapshot(&project, &key).await, before);
    assert_eq!(app.snapshot(&other, &other_key).await, before_other);
}
