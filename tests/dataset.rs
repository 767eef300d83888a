//! The Dataset step over HTTP: ingestion API (all headers, duplicates,
//! split), the browser form's endpoint, listing, filtering, relabelling,
//! moving, deleting, bulk operations, keys and projects.

mod common;

use common::{TestApp, TestFile, jpeg, png};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    ingestion_headers_and_reply_format,
    duplicates_and_deterministic_split,
    list_filter_page_and_edit,
    bulk_operations_and_rebalance,
    images_and_thumbnails,
    keys_create_list_revoke,
    projects_create_rename_delete,
    browser_form_upload,
    forms_redirect_and_reloads_repeat_nothing,
    messages_and_errors_look_different,
    an_empty_file_input_is_skipped,
);

async fn ingestion_headers_and_reply_format(app: TestApp) {
    let (project, key) = app.create_project("cars").await;
    let files = [
        TestFile::new("car.01.png", png(40, 30, 1)),
        TestFile::new("car.02.jpg", jpeg(50, 20, 2)),
    ];
    // x-label, percent-encoded, with metadata.
    let (status, body) = app
        .ingest(
            "training",
            Some(&key),
            &[
                ("x-label", "sports%20car"),
                ("x-metadata", r#"{"site":"lab 2","camera":"pi"}"#),
            ],
            &files,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let replies = body["files"].as_array().unwrap();
    assert_eq!(replies.len(), 2);
    for (reply, file) in replies.iter().zip(&files) {
        assert_eq!(reply["success"], true);
        assert_eq!(reply["fileName"], file.name.as_str());
        assert_eq!(reply["label"], "sports car");
        assert_eq!(reply["category"], "training");
        assert!(reply["sampleId"].is_string());
    }

    // Label from the file name (no x-label), and x-no-label.
    let (_, body) = app
        .ingest(
            "testing",
            Some(&key),
            &[],
            &[TestFile::new("truck.07.png", png(16, 16, 3))],
        )
        .await;
    assert_eq!(body["files"][0]["label"], "truck");
    assert_eq!(body["files"][0]["category"], "testing");
    let (_, body) = app
        .ingest(
            "testing",
            Some(&key),
            &[("x-no-label", "1"), ("x-label", "ignored")],
            &[TestFile::new("x.png", png(16, 16, 4))],
        )
        .await;
    assert!(body["files"][0]["label"].is_null(), "{body}");

    // x-add-date-id makes the stored name unique and keeps the extension.
    let (_, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-add-date-id", "1")],
            &[TestFile::new("bus.png", png(16, 16, 5))],
        )
        .await;
    let name = body["files"][0]["fileName"].as_str().unwrap();
    assert!(
        name.starts_with("bus.") && name.ends_with(".png") && name != "bus.png",
        "{name}"
    );
    assert_eq!(body["files"][0]["label"], "bus");

    // The stored sample carries everything, metadata included.
    let id = replies[0]["sampleId"].as_str().unwrap();
    let (status, sample) = app
        .get(&format!("/api/projects/{project}/samples/{id}"), &key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sample["fileName"], "car.01.png");
    assert_eq!(sample["width"], 40);
    assert_eq!(sample["height"], 30);
    assert_eq!(sample["metadata"]["site"], "lab 2");
    assert_eq!(sample["sha256"].as_str().unwrap().len(), 64);
    assert!(sample["createdAt"].is_i64());

    // A file that fails is reported in the list while the others are stored.
    let (status, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "car")],
            &[
                TestFile::new("good.png", png(8, 8, 6)),
                TestFile::new("notes.txt", b"hello".to_vec()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["files"][0]["success"], true);
    assert_eq!(body["files"][1]["success"], false);
    assert_eq!(body["files"][1]["fileName"], "notes.txt");
    assert!(
        body["files"][1]["error"]
            .as_str()
            .unwrap()
            .contains("not an image")
    );
    let (_, list) = app
        .get(&format!("/api/projects/{project}/samples"), &key)
        .await;
    assert_eq!(list["total"], 6);
}

async fn duplicates_and_deterministic_split(app: TestApp) {
    let (project, key) = app.create_project("split").await;
    let image = TestFile::new("a.png", png(20, 20, 9));
    let (_, first) = app
        .ingest("training", Some(&key), &[], std::slice::from_ref(&image))
        .await;
    // Without the header a duplicate is stored again.
    let (_, second) = app
        .ingest("training", Some(&key), &[], std::slice::from_ref(&image))
        .await;
    assert_ne!(
        first["files"][0]["sampleId"],
        second["files"][0]["sampleId"]
    );
    // With it, the existing sample is named and nothing is stored.
    let (status, third) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-disallow-duplicates", "1")],
            std::slice::from_ref(&image),
        )
        .await;
    // (a per-file rejection, as Edge Impulse's ingestion answers it).
    assert_eq!(status, StatusCode::OK);
    let skipped = &third["files"][0];
    assert_eq!(skipped["success"], false, "{third}");
    assert_eq!(skipped["duplicate"], true);
    assert_eq!(skipped["sampleId"], first["files"][0]["sampleId"]);
    let id = first["files"][0]["sampleId"].as_str().unwrap();
    assert_eq!(
        skipped["error"],
        format!("An item with this hash already exists (ids: {id})")
    );
    let (_, list) = app
        .get(&format!("/api/projects/{project}/samples"), &key)
        .await;
    assert_eq!(list["total"], 2);

    // A copy never lands in the other set than its original: sent to the
    // split it follows the original, sent explicitly to testing it is
    // refused and nothing is stored.
    let (_, to_split) = app
        .ingest("split", Some(&key), &[], std::slice::from_ref(&image))
        .await;
    assert_eq!(to_split["files"][0]["success"], true, "{to_split}");
    assert_eq!(to_split["files"][0]["category"], "training");
    let (status, to_testing) = app
        .ingest("testing", Some(&key), &[], std::slice::from_ref(&image))
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = &to_testing["files"][0];
    assert_eq!(refused["success"], false, "{to_testing}");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("already in training") && error.contains(id),
        "{error}"
    );
    let (_, list) = app
        .get(
            &format!("/api/projects/{project}/samples?category=testing"),
            &key,
        )
        .await;
    assert_eq!(list["total"], 0, "{list}");
    let (_, list) = app
        .get(&format!("/api/projects/{project}/samples"), &key)
        .await;
    assert_eq!(list["total"], 3);

    // The split is decided by content: the same image always lands in the
    // same category, in this project or another, and 200 images split about 80/20.
    let (other, other_key) = app.create_project("split again").await;
    let images: Vec<TestFile> = (0..200u32)
        .map(|i| TestFile::new(&format!("s{i}.png"), png(8, 8 + i % 7, i as u8)))
        .collect();
    let mut testing = 0;
    for chunk in images.chunks(50) {
        let (_, a) = app.ingest("split", Some(&key), &[], chunk).await;
        let (_, b) = app.ingest("split", Some(&other_key), &[], chunk).await;
        for (x, y) in a["files"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["files"].as_array().unwrap())
        {
            assert_eq!(x["category"], y["category"]);
            if x["category"] == "testing" {
                testing += 1;
            }
        }
    }
    assert!((20..=60).contains(&testing), "{testing} of 200 in testing");
    let _ = other;
}

async fn list_filter_page_and_edit(app: TestApp) {
    let (project, key) = app.create_project("list").await;
    for (label, n, category) in [
        ("cat", 5, "training"),
        ("dog", 3, "training"),
        ("dog", 2, "testing"),
    ] {
        let files: Vec<TestFile> = (0..n)
            .map(|i| {
                TestFile::new(
                    &format!("{label}{i}.png"),
                    png(
                        10 + i,
                        10,
                        label.len() as u8 * 10
                            + i as u8
                            + if category == "testing" { 100 } else { 0 },
                    ),
                )
            })
            .collect();
        let (status, _) = app
            .ingest(category, Some(&key), &[("x-label", label)], &files)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let base = format!("/api/projects/{project}/samples");
    let (_, all) = app.get(&base, &key).await;
    assert_eq!(all["total"], 10);
    let (_, dogs) = app.get(&format!("{base}?label=dog"), &key).await;
    assert_eq!(dogs["total"], 5);
    let (_, dog_tests) = app
        .get(&format!("{base}?label=dog&category=testing"), &key)
        .await;
    assert_eq!(dog_tests["total"], 2);
    assert!(
        dog_tests["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["label"] == "dog" && s["category"] == "testing")
    );

    // Paging: pages are disjoint and cover everything.
    let mut seen = std::collections::HashSet::new();
    for offset in (0..10).step_by(4) {
        let (_, page) = app
            .get(&format!("{base}?limit=4&offset={offset}"), &key)
            .await;
        assert_eq!(page["total"], 10);
        for s in page["samples"].as_array().unwrap() {
            assert!(seen.insert(s["id"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen.len(), 10);

    // Relabel, move, remove a label, delete.
    let id = all["samples"][0]["id"].as_str().unwrap();
    let one = format!("{base}/{id}");
    let (status, changed) = app
        .send_json(
            Method::PATCH,
            &one,
            &key,
            json!({ "label": "bird", "category": "testing" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["label"], "bird");
    assert_eq!(changed["category"], "testing");
    let (_, changed) = app
        .send_json(Method::PATCH, &one, &key, json!({ "label": null }))
        .await;
    assert!(changed["label"].is_null());
    assert_eq!(changed["category"], "testing");
    let (_, unlabeled) = app.get(&format!("{base}?unlabeled=true"), &key).await;
    assert_eq!(unlabeled["total"], 1);
    let (status, _) = app.send_json(Method::DELETE, &one, &key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&one, &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, counts) = app.get(&format!("{base}/counts"), &key).await;
    assert_eq!(counts["total"], 9);
    let labels: Vec<&Value> = counts["labels"].as_array().unwrap().iter().collect();
    let label_total: i64 = labels
        .iter()
        .map(|l| l["training"].as_i64().unwrap() + l["testing"].as_i64().unwrap())
        .sum();
    assert_eq!(label_total, 9);
}

async fn bulk_operations_and_rebalance(app: TestApp) {
    let (project, key) = app.create_project("bulk").await;
    let files: Vec<TestFile> = (0..20)
        .map(|i| TestFile::new(&format!("x{i}.png"), png(12, 12, i)))
        .collect();
    let (_, body) = app
        .ingest("training", Some(&key), &[("x-label", "a")], &files)
        .await;
    let ids: Vec<String> = body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sampleId"].as_str().unwrap().to_owned())
        .collect();
    let bulk = format!("/api/projects/{project}/samples/bulk");

    let (status, r) = app
        .send_json(
            Method::POST,
            &bulk,
            &key,
            json!({ "ids": ids[..10], "action": "update", "label": "b" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["affected"], 10);
    let (_, r) = app
        .send_json(
            Method::POST,
            &bulk,
            &key,
            json!({ "ids": ids[..5], "action": "update", "category": "testing" }),
        )
        .await;
    assert_eq!(r["affected"], 5);
    let (_, counts) = app
        .get(&format!("/api/projects/{project}/samples/counts"), &key)
        .await;
    assert_eq!(counts["testing"], 5);

    // Rebalance: exactly 80/20 per label.
    let (status, r) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/rebalance"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for l in r["counts"]["labels"].as_array().unwrap() {
        assert_eq!(
            (l["training"].as_i64(), l["testing"].as_i64()),
            (Some(8), Some(2)),
            "{l}"
        );
    }
    // Rebalancing again moves nothing: the split depends only on content.
    let (_, r) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/rebalance"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(r["moved"], 0);

    let (_, r) = app
        .send_json(
            Method::POST,
            &bulk,
            &key,
            json!({ "ids": ids[15..], "action": "delete" }),
        )
        .await;
    assert_eq!(r["affected"], 5);
    let (_, list) = app
        .get(&format!("/api/projects/{project}/samples"), &key)
        .await;
    assert_eq!(list["total"], 15);
}

async fn images_and_thumbnails(app: TestApp) {
    let (project, key) = app.create_project("images").await;
    let original = jpeg(400, 300, 7);
    let (_, body) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "big")],
            &[TestFile::new("big.jpg", original.clone())],
        )
        .await;
    let id = body["files"][0]["sampleId"].as_str().unwrap();
    let r = app
        .get_response(&format!("/api/projects/{project}/samples/{id}/image"), &key)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        original.as_slice(),
        "originals are stored unchanged"
    );
    let r = app
        .get_response(
            &format!("/api/projects/{project}/samples/{id}/thumbnail"),
            &key,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let thumb = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (160, 120));
    // The thumbnail was made once, at upload, and is served from the cache.
    let cached = std::fs::read_dir(app.data_dir.join("blobs/thumbs"))
        .unwrap()
        .count();
    assert_eq!(cached, 1);
}

async fn keys_create_list_revoke(app: TestApp) {
    let (project, key) = app.create_project("keys").await;
    let (status, created) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/keys"),
            &key,
            json!({ "name": "camera" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let second = created["apiKey"].as_str().unwrap().to_owned();
    assert!(second.starts_with("ei_") && second.len() == 67);
    let (_, list) = app
        .get(&format!("/api/projects/{project}/keys"), &second)
        .await;
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for k in keys {
        assert!(
            k.get("apiKey").is_none() && k.get("keyHash").is_none(),
            "list shows prefixes only: {k}"
        );
        assert_eq!(k["prefix"].as_str().unwrap().len(), 11);
    }
    // Revoke the second key with the first; the second stops working at once.
    let key_id = created["id"].as_str().unwrap();
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{project}/keys/{key_id}"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .get(&format!("/api/projects/{project}/samples"), &second)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app
        .ingest(
            "training",
            Some(&second),
            &[],
            &[TestFile::new("a.png", png(8, 8, 1))],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The stored form is a hash: the key does not appear in the database file.
    if let Ok(db) = std::fs::read(app.data_dir.join("tinystudio.db")) {
        assert!(!db.windows(second.len()).any(|w| w == second.as_bytes()));
    }
}

async fn projects_create_rename_delete(app: TestApp) {
    let (project, key) = app.create_project("first").await;
    let (keep, keep_key) = app.create_project("second").await;
    let shared_image = png(30, 30, 42);
    app.ingest(
        "training",
        Some(&key),
        &[("x-label", "a")],
        &[
            TestFile::new("a.png", shared_image.clone()),
            TestFile::new("b.png", png(30, 30, 43)),
        ],
    )
    .await;
    app.ingest(
        "training",
        Some(&keep_key),
        &[("x-label", "a")],
        &[TestFile::new("a.png", shared_image.clone())],
    )
    .await;

    let (status, renamed) = app
        .send_json(
            Method::PATCH,
            &format!("/api/projects/{project}"),
            &key,
            json!({ "name": "renamed" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "renamed");

    // The project list is the local user's.
    let r = app
        .client
        .get(app.url("/api/projects"))
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["projects"].as_array().unwrap().len(), 2);

    let blobs = |dir: &str| walk_count(&app.data_dir.join("blobs").join(dir));
    assert_eq!(blobs("samples"), 2);
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{project}"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Its key died with it; the other project is untouched, and only the
    // blob nothing else references was collected.
    let (status, _) = app.get(&format!("/api/projects/{project}"), &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, other) = app
        .get(&format!("/api/projects/{keep}/samples"), &keep_key)
        .await;
    assert_eq!(other["total"], 1);
    assert_eq!(blobs("samples"), 1);
    assert_eq!(blobs("thumbs"), 1);
    let r = app
        .client
        .get(app.url(&format!(
            "/api/projects/{keep}/samples/{}/image",
            other["samples"][0]["id"].as_str().unwrap()
        )))
        .header("x-api-key", &keep_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), shared_image.as_slice());
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk_count(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn browser_form_upload(app: TestApp) {
    // The page's own flow: create the project with the form, upload with the
    // form (as the page's script does, asking for JSON), then without
    // JavaScript (a redirect back to the page).
    let r = app
        .client
        .post(app.url("/projects"))
        .header("cookie", &app.cookie)
        .form(&[("name", "from the browser")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let project = location.split('/').nth(2).unwrap().to_owned();
    let upload = app.url(&format!("/projects/{project}/dataset/upload"));

    let form = common::form(&[
        TestFile::new("photos/train/cat/1.png", png(20, 20, 1)),
        TestFile::new("photos/test/dog/2.png", png(20, 20, 2)),
    ])
    .text("labelMode", "folder")
    .text("category", "folder");
    let r = app
        .client
        .post(&upload)
        .header("cookie", &app.cookie)
        .header("accept", "application/json")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["files"][0]["label"], "cat");
    assert_eq!(body["files"][0]["category"], "training");
    assert_eq!(
        body["files"][0]["fileName"], "1.png",
        "folders are not part of the stored name"
    );
    assert_eq!(body["files"][1]["label"], "dog");
    assert_eq!(body["files"][1]["category"], "testing");

    let form = common::form(&[TestFile::new("3.png", png(20, 20, 3))])
        .text("labelMode", "fixed")
        .text("label", "bird")
        .text("category", "training");
    let r = app
        .client
        .post(&upload)
        .header("cookie", &app.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("Uploaded%201%20of%201")
    );

    // The form skips images the project already has (its box is ticked by
    // default) and says so.
    let page = app
        .client
        .get(app.url(&format!("/projects/{project}/dataset")))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"name="disallowDuplicates" value="1" checked"#),
        "the upload form skips duplicates by default"
    );
    let form = common::form(&[TestFile::new("again.png", png(20, 20, 3))])
        .text("labelMode", "fixed")
        .text("label", "bird")
        .text("category", "split")
        .text("disallowDuplicates", "1");
    let r = app
        .client
        .post(&upload)
        .header("cookie", &app.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("Uploaded%200%20of%201")
            && location.contains("1%20already%20in%20the%20project%20%28skipped%29"),
        "{location}"
    );

    // Without the local cookie (another site posting the form) nothing happens.
    let form = common::form(&[TestFile::new("4.png", png(20, 20, 4))]);
    let r = app
        .client
        .post(&upload)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let page = app
        .client
        .get(app.url(&format!("/projects/{project}/dataset")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("3 samples"), "the page counts the samples");
    for label in ["cat", "dog", "bird"] {
        assert!(html.contains(label));
    }
    let r = app
        .client
        .get(app.url(&format!("/projects/{project}/dataset?label=cat")))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("1 matching"));
}

/// `GET path` as the browser with the local cookie: (status, Location, body).
async fn browse(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, r.text().await.unwrap())
}

/// Posts a form as the page does; returns where it sends the browser.
async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> String {
    let r = app
        .client
        .post(app.url(path))
        .header("cookie", &app.cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{path}: {:?}",
        r.text().await
    );
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn key_count(app: &TestApp, project: &str, key: &str) -> usize {
    let (_, list) = app.get(&format!("/api/projects/{project}/keys"), key).await;
    list["keys"].as_array().unwrap().len()
}

async fn forms_redirect_and_reloads_repeat_nothing(app: TestApp) {
    let (project, key) = app.create_project("reloads").await;
    assert_eq!(key_count(&app, &project, &key).await, 1);

    // A new key: the post redirects; the key is shown once, never in a URL.
    let location = post_form(
        &app,
        &format!("/projects/{project}/settings/keys"),
        &[("name", "camera"), ("scope", "ingestion")],
    )
    .await;
    assert!(
        location.starts_with(&format!("/projects/{project}/settings?key=")),
        "{location}"
    );
    assert!(
        !location.contains("ei_"),
        "the key is not in the URL: {location}"
    );
    let (status, _, page) = browse(&app, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your new API key"), "{page}");
    let shown = page.split("<pre class=\"secret\">").nth(1).unwrap();
    let secret = &shown[..shown.find('<').unwrap()];
    assert!(secret.starts_with("ei_") && secret.len() == 67, "{secret}");
    // Reloading shows the page without it, and makes no other key.
    let (status, _, again) = browse(&app, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!again.contains("Your new API key") && !again.contains(secret));
    assert_eq!(
        key_count(&app, &project, &key).await,
        2,
        "one key made, however often the page is reloaded"
    );
    // The key works: it was shown as made.
    let (status, _) = app
        .ingest(
            "training",
            Some(secret),
            &[],
            &[TestFile::new("k.png", png(8, 8, 9))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Renaming says so.
    let location = post_form(
        &app,
        &format!("/projects/{project}/settings/rename"),
        &[("name", "renamed")],
    )
    .await;
    let (_, _, page) = browse(&app, &location).await;
    assert!(page.contains("Renamed the project"), "{page}");

    // A reload or a bookmark of a URL a form answered at shows its page.
    for (form_url, page_url) in [
        ("settings/keys", "settings"),
        ("settings/rename", "settings"),
        ("test/classify", "test"),
        ("test/run", "test"),
        ("deploy/run", "deploy"),
        ("deploy/build", "deploy"),
        ("dataset/upload", "dataset"),
        ("dataset/bulk", "dataset"),
    ] {
        let (status, location, _) = browse(&app, &format!("/projects/{project}/{form_url}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "GET {form_url}");
        assert_eq!(
            location,
            format!("/projects/{project}/{page_url}"),
            "GET {form_url}"
        );
        let (status, _, _) = browse(&app, &location).await;
        assert_eq!(status, StatusCode::OK, "{location}");
    }
    let (status, location, _) = browse(&app, "/account/password").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/account")
    );
    // The API still says which methods it takes.
    let r = app
        .client
        .get(app.url(&format!("/api/projects/{project}/keys/x")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::SEE_OTHER);

    // Live classification without a model: back to the page with the error.
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(png(8, 8, 1)).file_name("x.png"),
    );
    let r = app
        .post_page_form(&format!("/projects/{project}/test/classify"), form)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/projects/{project}/test?")),
        "{location}"
    );
    let (_, _, page) = browse(&app, &location).await;
    assert!(
        page.contains(r#"class="flash error" role="alert""#),
        "{page}"
    );
}

async fn messages_and_errors_look_different(app: TestApp) {
    let (project, key) = app.create_project("messages").await;
    let (_, stored) = app
        .ingest(
            "training",
            Some(&key),
            &[("x-label", "cat")],
            &[TestFile::new("cat.png", png(16, 16, 1))],
        )
        .await;
    let sample = stored["files"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sample = if sample.is_empty() {
        let (_, list) = app
            .get(&format!("/api/projects/{project}/samples"), &key)
            .await;
        list["samples"][0]["id"].as_str().unwrap().to_owned()
    } else {
        sample
    };
    let dataset = format!("/projects/{project}/dataset");

    // Nothing selected: an error, in the error banner.
    let location = post_form(
        &app,
        &format!("{dataset}/bulk"),
        &[("action", "delete"), ("query", "")],
    )
    .await;
    let (_, _, page) = browse(&app, &location).await;
    assert!(
        page.contains(r#"<p class="flash error" role="alert">Select samples first.</p>"#),
        "{page}"
    );
    // A bad label: an error too, naming the problem, on the page.
    let location = post_form(
        &app,
        &format!("{dataset}/bulk"),
        &[
            ("action", "label"),
            ("label", "   "),
            ("ids", &sample),
            ("query", ""),
        ],
    )
    .await;
    let (status, _, page) = browse(&app, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"class="flash error" role="alert""#),
        "{page}"
    );
    assert!(!page.contains(r#"<p class="flash" role="status">"#));
    // What worked: the success banner, no error.
    let location = post_form(
        &app,
        &format!("{dataset}/bulk"),
        &[("action", "testing"), ("ids", &sample), ("query", "")],
    )
    .await;
    let (_, _, page) = browse(&app, &location).await;
    assert!(
        page.contains(r#"<p class="flash" role="status">Moved 1 samples to testing.</p>"#),
        "{page}"
    );
    assert!(!page.contains(r#"role="alert""#));

    // The sample page: saving says so; deleting asks first (with
    // JavaScript), and the form still posts without it.
    let sample_url = format!("/projects/{project}/samples/{sample}");
    let location = post_form(
        &app,
        &sample_url,
        &[
            ("action", "save"),
            ("label", "dog"),
            ("category", "training"),
        ],
    )
    .await;
    let (_, _, page) = browse(&app, &location).await;
    assert!(
        page.contains(r#"<p class="flash" role="status">Saved.</p>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<form method="post" data-confirm="Delete cat.png?"#),
        "{page}"
    );
    let location = post_form(&app, &sample_url, &[("action", "delete")]).await;
    let (_, _, page) = browse(&app, &location).await;
    assert!(page.contains("Deleted 1 sample."));
    assert!(page.contains("0 samples"));
}

async fn an_empty_file_input_is_skipped(app: TestApp) {
    // Without JavaScript the upload form sends both pickers: the one not
    // used is a part with no file name and no bytes.
    let (project, _) = app.create_project("no script").await;
    let upload = app.url(&format!("/projects/{project}/dataset/upload"));
    let form = |files: Vec<reqwest::multipart::Part>| {
        let mut form = reqwest::multipart::Form::new()
            .text("labelMode", "fixed")
            .text("label", "cat")
            .text("category", "training");
        for part in files {
            form = form.part("data", part);
        }
        form
    };
    let empty = || reqwest::multipart::Part::bytes(Vec::new()).file_name("");
    let r = app
        .client
        .post(&upload)
        .header("cookie", &app.cookie)
        .multipart(form(vec![
            empty(),
            reqwest::multipart::Part::bytes(png(12, 12, 5)).file_name("cat.png"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("Uploaded%201%20of%201"), "{location}");
    assert!(!location.contains("error="), "{location}");
    // Nothing chosen at all: the page says so, as an error.
    let r = app
        .client
        .post(&upload)
        .header("cookie", &app.cookie)
        .multipart(form(vec![empty(), empty()]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("error="), "{location}");
    let (_, _, page) = browse(&app, &location).await;
    assert!(
        page.contains(r#"class="flash error" role="alert""#),
        "{page}"
    );
    assert!(!page.contains("no file name"), "{page}");
}
