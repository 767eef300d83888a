//! Accounts end to end: the modes (a local studio, one shared on a network
//! before and after its first admin), signing in and out, CSRF tokens in
//! the pages' forms, failed sign-ins limited with a "try again in N s",
//! password change and reset, and a workshop: a class, its join link, a
//! student's project and the instructor's read-only view with accuracy.

mod common;

use reqwest::StatusCode;
use serde_json::json;

use common::{TestApp, csrf_of, session_set_cookie, sign_in};

async fn login(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/login"))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn get_page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let r = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Posts a form to `action` exactly as the page wrote it (CSRF token included).
async fn post_form(
    app: &TestApp,
    action: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(&action.replace("&amp;", "&")))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The action of the first POST form of `page` whose action starts with `prefix`.
fn form_action(page: &str, prefix: &str) -> String {
    let needle = format!(r#"action="{prefix}"#);
    let start = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no form posting to {prefix} in the page"))
        + r#"action=""#.len();
    let len = page[start..].find('"').unwrap();
    page[start..start + len].to_owned()
}

async fn networked_studio_needs_an_admin(app: TestApp) {
    // Before any account: nothing but the setup.
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("tinystudio user create --admin")
    );
    let r = app
        .client
        .post(app.url("/api/projects"))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("/setup"), "{body}");

    // The setup page wants the token from the log.
    let token = app.app.state.setup_token.clone().expect("a setup token");
    let form = |t: &str| {
        vec![
            ("token", t.to_owned()),
            ("name", "Ada".to_owned()),
            ("password", "analytical engine".to_owned()),
        ]
    };
    let r = app
        .client
        .post(app.url("/setup"))
        .form(&form("not the token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/setup"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = session_set_cookie(&r).expect("the admin is signed in");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    // Once only.
    let r = app
        .client
        .post(app.url("/setup"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (status, page) = get_page(&app, "/", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ada"));
}

/// `tinystudio user create` against the studio's database, the password
/// on standard input.
fn user_create(app: &TestApp, args: &[&str], password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tinystudio"))
        .args(["user", "create"])
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("TINYSTUDIO_DATA_DIR", &app.data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tinystudio user create");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

async fn networked_studio_first_admin_from_the_command_line(app: TestApp) {
    let db = &app.app.state.db;
    // The first account must be an admin; a bad password makes nothing.
    let out = user_create(&app, &["ada"], "analytical engine");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--admin"),
        "{out:?}"
    );
    let out = user_create(&app, &["--admin", "ada"], "short");
    assert!(!out.status.success(), "{out:?}");
    assert!(!tinystudio_storage::users::any_exist(db).await.unwrap());
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

    let out = user_create(&app, &["--admin", "ada"], "analytical engine");
    assert!(out.status.success(), "{out:?}");
    // The running studio now asks to sign in, and serves the admin.
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (cookie, _) = sign_in(&app, "ada", "analytical engine").await;
    let (status, page) = get_page(&app, "/admin/users", &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The setup page's token no longer makes an admin.
    let token = app.app.state.setup_token.clone().expect("a setup token");
    let r = app
        .client
        .post(app.url("/setup"))
        .form(&[
            ("token", &*token),
            ("name", "eve"),
            ("password", "eve's password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        tinystudio_storage::users::by_name(db, "eve")
            .await
            .unwrap()
            .is_none()
    );
}

async fn local_studio_until_the_first_account(app: TestApp) {
    // The local user as before.
    let (project, key) = app.create_project("Local").await;
    let (status, _) = get_page(&app, "/", &app.cookie).await;
    assert_eq!(status, StatusCode::OK);
    // The local user makes the first account on the Users page: an admin,
    // who inherits the project.
    let r = post_form(
        &app,
        "/admin/users",
        &app.cookie,
        &[("name", "ada"), ("password", "analytical engine")],
    )
    .await;
    // Post, redirect, get: the Users page says what was made.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/admin/users?done=")
    );
    // From now on the local cookie opens nothing, on loopback too.
    let (status, page) = get_page(&app, "/", &app.cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Sign in"));
    // The sign-in page answering a project's page names nothing of it, and
    // signing in from there leads back to it.
    let dataset = format!("/projects/{project}/dataset");
    let r = app.client.get(app.url(&dataset)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let back = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tinystudio_next="))
        .expect("the page to return to is remembered")
        .to_owned();
    assert!(
        back.contains("HttpOnly") && back.contains("Path=/login"),
        "{back}"
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Sign in") && !page.contains(&project),
        "{page}"
    );
    let r = app
        .client
        .post(app.url("/login"))
        .header("cookie", back.split(';').next().unwrap())
        .form(&[("name", "ada"), ("password", "analytical engine")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], dataset.as_str());

    let (cookie, _) = sign_in(&app, "ada", "analytical engine").await;
    let (status, page) = get_page(&app, &dataset, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Keys made before accounts keep working.
    let (status, _) = app.get(&format!("/api/projects/{project}"), &key).await;
    assert_eq!(status, StatusCode::OK);
}

async fn sessions_csrf_limits_and_passwords(app: TestApp) {
    let db = &app.app.state.db;
    tinystudio_storage::users::create_first_admin(db, "root", "root password")
        .await
        .unwrap();
    let (root, _) = sign_in(&app, "root", "root password").await;

    // The admin makes an account on the Users page, with the page's form.
    let (_, page) = get_page(&app, "/admin/users", &root).await;
    let action = form_action(&page, "/admin/users?");
    assert!(action.contains("_csrf="), "{action}");
    let r = post_form(
        &app,
        "/admin/users",
        &root,
        &[("name", "bob"), ("password", "bob password")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "no CSRF token, nothing made"
    );
    assert!(
        tinystudio_storage::users::by_name(db, "bob")
            .await
            .unwrap()
            .is_none()
    );
    let r = post_form(
        &app,
        &action,
        &root,
        &[("name", "bob"), ("password", "bob password")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let (status, page) = get_page(&app, &location, &root).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Made the account bob."), "{page}");

    // Failed sign-ins lock the account for a while, saying how long; the
    // right password does not get through while it is locked.
    for _ in 0..5 {
        assert_eq!(
            login(&app, "bob", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = login(&app, "bob", "bob password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let text = r.text().await.unwrap();
    assert!(text.contains("try again in"), "{text}");

    // The admin resets bob's password, which also lifts the lock: bob
    // signs in with the new one at once.
    let bob = tinystudio_storage::users::by_name(db, "bob")
        .await
        .unwrap()
        .unwrap();
    let (_, page) = get_page(&app, "/admin/users", &root).await;
    let action = form_action(&page, &format!("/admin/users/{}/password", bob.id));
    let r = post_form(&app, &action, &root, &[("password", "new bob password")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        login(&app, "bob", "bob password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    sign_in(&app, "bob", "new bob password").await;

    // Changing one's own password signs out the other browsers.
    let (other, _) = sign_in(&app, "root", "root password").await;
    let (_, page) = get_page(&app, "/account", &root).await;
    let action = form_action(&page, "/account/password");
    let r = post_form(
        &app,
        &action,
        &root,
        &[("current", "wrong"), ("password", "a better password")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post_form(
        &app,
        &action,
        &root,
        &[
            ("current", "root password"),
            ("password", "a better password"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/account?done=")
    );
    assert_eq!(
        get_page(&app, "/", &other).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get_page(&app, "/", &root).await.0, StatusCode::OK);

    // Logging out ends the session.
    let (_, page) = get_page(&app, "/", &root).await;
    let action = form_action(&page, "/logout");
    let r = post_form(&app, &action, &root, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(get_page(&app, "/", &root).await.0, StatusCode::UNAUTHORIZED);
}

async fn a_workshop(app: TestApp) {
    let db = app.app.state.db.clone();
    tinystudio_storage::users::create_first_admin(&db, "teacher", "teacher password")
        .await
        .unwrap();
    let (teacher, _) = sign_in(&app, "teacher", "teacher password").await;
    let (_, page) = get_page(&app, "/admin/classes", &teacher).await;
    let action = form_action(&page, "/admin/classes");
    let r = post_form(&app, &action, &teacher, &[("name", "Tiny ML 101")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let class_url = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) = get_page(&app, &class_url, &teacher).await;
    let start = page.find("/join/").unwrap();
    let join = page[start..start + "/join/ABCD-EFGH".len()].to_owned();

    // Two students register with the join link.
    let mut students = Vec::new();
    for name in ["sam", "kim"] {
        let r = app.client.get(app.url(&join)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .client
            .post(app.url(&join))
            .form(&[("name", name), ("password", "student password")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        students.push(sign_in(&app, name, "student password").await);
    }
    let r = app
        .client
        .get(app.url("/join/ZZZZ-ZZZZ"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // sam makes a project; kim cannot see it, the teacher reads it.
    let (sam, sam_csrf) = &students[0];
    let r = app
        .client
        .post(app.url("/api/projects"))
        .header("cookie", sam)
        .header("x-csrf-token", sam_csrf)
        .json(&json!({ "name": "Sam's cups" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let project = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dataset = format!("/projects/{project}/dataset");
    assert_eq!(
        get_page(&app, &dataset, &students[1].0).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get_page(&app, &dataset, &teacher).await.0, StatusCode::OK);
    let (_, kim_home) = get_page(&app, "/", &students[1].0).await;
    assert!(!kim_home.contains("Sam&#x27;s cups") && !kim_home.contains("Sam's cups"));
    // Read-only for the teacher.
    let r = app
        .client
        .post(app.url(&format!("/projects/{project}/dataset/rebalance")))
        .header("cookie", &teacher)
        .header(
            "x-csrf-token",
            csrf_of(&get_page(&app, "/", &teacher).await.1),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The class page lists the student's project with its newest model's
    // accuracy (a model stored here as the training job stores it).
    let metrics = tinystudio_domain::model::ModelMetrics {
        validation_accuracy: Some(0.875),
        int8_validation_accuracy: Some(0.86),
        ..Default::default()
    };
    let labels = ["cup".to_owned(), "mug".to_owned()];
    let new = tinystudio_storage::models::NewModel {
        impulse_version: 1,
        job_id: tinystudio_domain::JobId::new(),
        labels: &labels,
        metrics: &metrics,
        artifact_hashes: &Default::default(),
        imported: None,
    };
    tinystudio_storage::models::insert(
        &db,
        tinystudio_domain::ModelId::new(),
        project.parse().unwrap(),
        new,
    )
    .await
    .unwrap();
    let (_, page) = get_page(&app, &class_url, &teacher).await;
    assert!(page.contains("sam") && page.contains(&project), "{page}");
    assert!(page.contains("87.5 %") && page.contains("86.0 %"), "{page}");
    // Students cannot open the class page.
    assert_eq!(
        get_page(&app, &class_url, sam).await.0,
        StatusCode::NOT_FOUND
    );
}

backend_tests!(
    local_studio_until_the_first_account,
    sessions_csrf_limits_and_passwords,
    a_workshop,
);

mod networked {
    use crate::common::{Backend, spawn_networked};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::networked_studio_needs_an_admin(spawn_networked(Backend::Sqlite).await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::networked_studio_needs_an_admin(spawn_networked(Backend::Postgres).await).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_admin_from_the_command_line_sqlite() {
        super::networked_studio_first_admin_from_the_command_line(
            spawn_networked(Backend::Sqlite).await,
        )
        .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_admin_from_the_command_line_postgres() {
        super::networked_studio_first_admin_from_the_command_line(
            spawn_networked(Backend::Postgres).await,
        )
        .await
    }
}
