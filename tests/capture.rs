//! Capture links (the phone's QR code) and capture uploads through the API,
//! and `serve --tls` with its generated certificate.

mod common;

use common::{TestApp, TestFile, form, jpeg};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    a_capture_link_uploads_to_its_project_only,
    expired_revoked_and_unknown_links_store_nothing,
    capture_links_refuse_bad_requests
);

/// `POST /projects/{project}/capture/upload` with a capture token.
async fn capture_upload(
    app: &TestApp,
    project: &str,
    token: &str,
    label: &str,
    files: &[TestFile],
) -> (StatusCode, Value) {
    let body = form(files)
        .text("labelMode", "fixed")
        .text("label", label.to_owned())
        .text("category", "training");
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/capture/upload")))
        .header("x-capture-token", token)
        .header("accept", "application/json")
        .multipart(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Makes a capture link through the API; returns (id, token, url).
async fn new_link(app: &TestApp, project: &str, key: &str) -> (String, String, String) {
    let (status, link) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/capture-links"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    (
        link["id"].as_str().unwrap().to_owned(),
        link["token"].as_str().unwrap().to_owned(),
        link["url"].as_str().unwrap().to_owned(),
    )
}

fn photo(n: u8) -> TestFile {
    TestFile::new(&format!("phone.{n}.jpg"), jpeg(64, 48, n))
}

async fn a_capture_link_uploads_to_its_project_only(app: TestApp) {
    let (project, key) = app.create_project("phone").await;
    let (other, other_key) = app.create_project("other").await;
    let (id, token, url) = new_link(&app, &project, &key).await;
    assert!(token.starts_with("cap_"), "{token}");
    assert_eq!(
        url,
        format!("{}/projects/{project}/capture?token={token}", app.base),
        "the link uses the address the request came to"
    );
    let (_, links) = app
        .get(&format!("/api/projects/{project}/capture-links"), &key)
        .await;
    let listed = &links["links"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(
        listed["expiresAt"].as_i64().unwrap() - listed["createdAt"].as_i64().unwrap(),
        30 * 60 * 1000,
        "30 minutes by default"
    );
    assert!(listed.get("token").is_none(), "the token is shown once");

    // The phone opens the page: it works, and hands out no local cookie.
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("set-cookie").is_none());
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"capture-panel\"") && html.contains(&token));
    // Without JavaScript the page still renders, and says what is missing.
    assert!(html.contains("<noscript><p class=\"flash error\">The camera needs JavaScript."));
    assert!(html.contains("id=\"capture-ui\" hidden"));
    assert!(
        !html.contains("/settings"),
        "the phone's page links nowhere else"
    );

    // Its photos land in its project, labelled, with the counts.
    let (status, reply) =
        capture_upload(&app, &project, &token, "cup", &[photo(1), photo(2)]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["files"].as_array().unwrap().len(), 2);
    assert_eq!(reply["counts"]["total"], 2);
    assert_eq!(reply["counts"]["labels"][0]["label"], "cup");
    let (_, samples) = app
        .get(&format!("/api/projects/{project}/samples"), &key)
        .await;
    let samples = samples["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2);
    assert!(
        samples
            .iter()
            .all(|s| s["label"] == "cup" && s["category"] == "training")
    );

    // Another project's upload and everything else refuse the token.
    let before_other = app.snapshot(&other, &other_key).await;
    let before = app.snapshot(&project, &key).await;
    let (status, reply) = capture_upload(&app, &other, &token, "cup", &[photo(3)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("another project"));
    let (status, _) = app
        .ingest("training", Some(&token), &[("x-label", "cup")], &[photo(4)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not an API key");
    let as_header = |method: Method, path: String| {
        app.client
            .request(method, app.url(&path))
            .header("x-capture-token", &token)
    };
    for request in [
        as_header(Method::GET, format!("/api/projects/{project}/samples")),
        as_header(
            Method::POST,
            format!("/api/projects/{project}/capture-links"),
        ),
        as_header(Method::POST, format!("/projects/{project}/dataset/upload"))
            .header("accept", "application/json")
            .multipart(form(&[photo(5)])),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.snapshot(&project, &key).await, before);
    assert_eq!(app.snapshot(&other, &other_key).await, before_other);

    // An API key is not for capture uploads (scripts have the ingestion API).
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/capture/upload")))
        .header("x-api-key", &key)
        .multipart(form(&[photo(6)]).text("labelMode", "none"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The local user's cookie works, as on the Dataset page.
    let r = app
        .post_page_form(
            &format!("/projects/{project}/capture/upload"),
            form(&[photo(7)])
                .text("labelMode", "fixed")
                .text("label", "plate")
                .text("category", "testing"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["files"][0]["category"], "testing");
    assert_eq!(reply["counts"]["total"], 3);
}

async fn expired_revoked_and_unknown_links_store_nothing(app: TestApp) {
    let (project, key) = app.create_project("phone").await;
    let (expired_id, expired, _) = new_link(&app, &project, &key).await;
    let (revoked_id, revoked, _) = new_link(&app, &project, &key).await;
    // Expire the first link by moving its expiry into the past.
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE capture_links SET expires_at = created_at - 1 WHERE id = $1")
        .bind(&expired_id)
        .execute(&mut db)
        .await
        .unwrap();
    let (status, body) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{project}/capture-links/{revoked_id}"),
            &key,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Revoking twice: nothing left to revoke.
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{project}/capture-links/{revoked_id}"),
            &key,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, links) = app
        .get(&format!("/api/projects/{project}/capture-links"), &key)
        .await;
    assert_eq!(links["links"], json!([]), "neither link is live");

    let before = app.snapshot(&project, &key).await;
    let unknown = format!("cap_{}", "0".repeat(64));
    for (token, says) in [
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        (unknown.as_str(), "not valid"),
        ("ei_not-a-capture-token", "not valid"),
    ] {
        let (status, reply) = capture_upload(&app, &project, token, "cup", &[photo(1)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(says), "{token}: {error}");
        assert!(error.contains("QR code"), "says what to do: {error}");
        // The page says the same, as a page.
        let page = app
            .client
            .get(app.url(&format!("/projects/{project}/capture?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(page.text().await.unwrap().contains(says));
    }
    assert_eq!(app.snapshot(&project, &key).await, before);
}

async fn capture_links_refuse_bad_requests(app: TestApp) {
    let (project, key) = app.create_project("phone").await;
    let (other, other_key) = app.create_project("other").await;
    let path = format!("/api/projects/{project}/capture-links");
    for (body, says) in [
        (json!({"minutes": 0}), "minutes must be 1 to 1440"),
        (json!({"minutes": 100000}), "minutes must be 1 to 1440"),
        (json!({"minute": 5}), "unknown field"),
    ] {
        let (status, reply) = app.send_json(Method::POST, &path, &key, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert!(reply["error"].as_str().unwrap().contains(says), "{reply}");
    }
    // Another project's key, and a malformed link id.
    let (status, _) = app
        .send_json(Method::POST, &path, &other_key, json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("{path}/not-an-id"),
            &key,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, links) = app.get(&path, &key).await;
    assert_eq!(links["links"], json!([]), "no bad request made a link");
    // A link of one project cannot be revoked through another.
    let (id, _, _) = new_link(&app, &project, &key).await;
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!("/api/projects/{other}/capture-links/{id}"),
            &other_key,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, links) = app.get(&path, &key).await;
    assert_eq!(links["links"].as_array().unwrap().len(), 1);

    // A good link with a bad upload: a 4xx naming the problem, nothing stored.
    let (_, token, _) = new_link(&app, &project, &key).await;
    let before = app.snapshot(&project, &key).await;
    let long = "x".repeat(200);
    let url = app.url(&format!("/projects/{project}/capture/upload"));
    let upload = |fields: Vec<(&'static str, String)>, files: Vec<TestFile>| {
        let body = fields
            .into_iter()
            .fold(form(&files), |f, (k, v)| f.text(k, v));
        app.client
            .post(&url)
            .header("x-capture-token", &token)
            .multipart(body)
            .send()
    };
    for (fields, files, status, says) in [
        (
            vec![
                ("labelMode", "fixed".to_owned()),
                ("label", "cup".to_owned()),
            ],
            vec![],
            400,
            "no files",
        ),
        (
            vec![("labelMode", "fixed".to_owned()), ("label", long.clone())],
            vec![photo(1)],
            400,
            "label",
        ),
        (
            vec![
                ("labelMode", "fixed".to_owned()),
                ("label", "cup".to_owned()),
                ("category", "sideways".to_owned()),
            ],
            vec![photo(1)],
            400,
            "category",
        ),
        (
            vec![
                ("labelMode", "fixed".to_owned()),
                ("label", "cup".to_owned()),
            ],
            vec![TestFile::new("not.jpg", b"not an image".to_vec())],
            200,
            "",
        ),
    ] {
        let r = upload(fields, files).await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.unwrap();
        if status == 200 {
            // Per-file outcomes, as the ingestion API reports them.
            assert_eq!(body["success"], false, "{body}");
            assert_eq!(body["files"][0]["success"], false, "{body}");
            assert!(body["files"][0]["error"].as_str().is_some(), "{body}");
        } else {
            assert!(body["error"].as_str().unwrap().contains(says), "{body}");
        }
    }
    let r = app
        .client
        .post(&url)
        .header("x-capture-token", &token)
        .body("not multipart")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot(&project, &key).await, before);

    // The page's "Show a QR code" makes a link and sends the browser to
    // the page that shows its QR code and URL, once.
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/capture/links")))
        .header("cookie", &app.cookie)
        .form(&[("minutes", "15")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        !location.contains("cap_"),
        "the link is not in the URL: {location}"
    );
    let r = app
        .client
        .get(app.url(&location))
        .header("cookie", &app.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let again = app.page(&location).await;
    assert!(
        !again.contains("capture?token=cap_"),
        "a reload shows the page without the new link"
    );
    assert!(
        html.contains("src=\"data:image/svg+xml;base64,"),
        "a QR code"
    );
    assert!(html.contains(&format!(
        "{}/projects/{project}/capture?token=cap_",
        app.base
    )));
    assert!(
        html.contains("listens on this computer only"),
        "the test server listens on 127.0.0.1, and the page says how to reach it"
    );
    // Without the local user's cookie, no link is made.
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/capture/links")))
        .form(&[("minutes", "15")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, links) = app.get(&path, &key).await;
    assert_eq!(links["links"].as_array().unwrap().len(), 3);
}

/// `serve --tls` without a certificate: one is made in the data folder,
/// serves https, and is the same after a restart. (Transport only: one
/// database is enough.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_with_a_generated_certificate_kept_across_restarts() {
    use tinystudio::app::{App, Storage};
    use tinystudio::config::StorageOptions;

    let dir = tempfile::tempdir().unwrap();
    let options = StorageOptions {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
        backbones_dir: None,
        blob_store: None,
    };
    let start = || async {
        let tls = tinystudio::tls::load_or_generate(None, None, dir.path()).unwrap();
        let storage = Storage::open(&options).await.unwrap();
        let app = App::start_with(
            storage,
            "127.0.0.1:0".parse().unwrap(),
            &[],
            Some(tls.config),
            common::test_web_config(),
            None,
            false,
        )
        .await
        .unwrap();
        (app, tls.cert_path, tls.generated_for)
    };

    let (first, cert_path, names) = start().await;
    assert!(names.contains(&"localhost".to_owned()), "{names:?}");
    assert!(names.contains(&"127.0.0.1".to_owned()), "{names:?}");
    let pem = std::fs::read(&cert_path).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/", first.addr.port());
        let r = trusting.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert!(r.text().await.unwrap().contains("TinyStudio"));
    }
    // A client that does not trust the certificate is refused: it really is
    // this certificate that is served.
    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(format!("https://127.0.0.1:{}/", first.addr.port()))
            .send()
            .await
            .is_err()
    );

    // Capture links made over https are https links.
    let storage = Storage::open(&options).await.unwrap();
    let project = tinystudio_storage::projects::create(&storage.db, "tls")
        .await
        .unwrap();
    let (_, key) = tinystudio_storage::keys::create(&storage.db, project.id, "k")
        .await
        .unwrap();
    let base = format!("https://localhost:{}", first.addr.port());
    let r = trusting
        .post(format!("{base}/api/projects/{}/capture-links", project.id))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let link: Value = r.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{base}/projects/")), "{url}");
    let page = trusting.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Restart: the same certificate, not a new one.
    let (second, cert_path_again, names_again) = start().await;
    assert_eq!(cert_path_again, cert_path);
    assert!(names_again.is_empty(), "nothing was generated again");
    assert_eq!(std::fs::read(&cert_path).unwrap(), pem);
    let r = trusting
        .get(format!("https://localhost:{}/healthz", second.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
