//! The whole path a person walks, in headless Chromium, at a desktop's and
//! a phone's width: create a project, upload a folder of photos labelled
//! by their folders, design and train, test in int8 and in float, map the
//! samples in the data explorer, see a sample's feature maps, build
//! firmware for the emulated board, run it there and download the build.
//! Any console error and any response of 400 or more that the walk did not
//! ask for fails it. Screenshots of every step go to
//! `target/tmp/screenshots/journey-*`.
//!
//! SQLite only: the pages' reads and writes run on both databases in the
//! HTTP-level tests; this test is about what the browser meets.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::{self, Browser, Options, screenshot, until};
use common::{Backend, TestApp, cifar3, spawn_app};
use fantoccini::{Client, Locator};

/// Photos per label uploaded: enough to train, quick to walk.
const PER_LABEL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_path_at_desktop_and_phone_width() {
    let app = spawn_app(Backend::Sqlite).await;
    // Jobs run in the background, as in `tinystudio serve`.
    let worker = app.app.worker.clone().expect("the test app has a worker");
    let running = tokio::spawn(worker.run());
    let photos = tempfile::tempdir().unwrap();
    for label in ["airplane", "ship", "horse"] {
        let dir = photos.path().join("photos").join(label);
        std::fs::create_dir_all(&dir).unwrap();
        for file in cifar3("train", label).into_iter().take(PER_LABEL) {
            std::fs::write(dir.join(&file.name), &file.bytes).unwrap();
        }
    }
    for (name, width, height) in [("desktop", 1280, 1000), ("phone", 390, 844)] {
        let b = browser::start(Options::default()).await;
        // Chromium keeps a minimum width when started narrow; resized, the
        // page gets the phone's width.
        b.client.set_window_size(width, height).await.unwrap();
        // The watch on the browser works: a page that does not exist is
        // seen (and then forgotten).
        goto(&b, &app, "/no-such-page").await;
        let seen = b.problems().await;
        assert!(
            seen.iter()
                .any(|p| p.starts_with("HTTP 404") && p.contains("/no-such-page")),
            "{seen:?}"
        );
        walk(&app, &b, name, width, &photos.path().join("photos")).await;
    }
    running.abort();
}

/// Fails on what went wrong in the browser since the last check.
async fn no_problems(b: &Browser, step: &str) {
    let problems = b.problems().await;
    assert!(problems.is_empty(), "{step}: {problems:#?}");
}

/// The page fits the window's width: nothing runs past the right edge.
async fn fits(c: &Client, width: u32, step: &str) {
    let inner = c.execute("return window.innerWidth", vec![]).await.unwrap();
    assert!(
        inner.as_u64().unwrap() <= u64::from(width),
        "{step}: {inner}"
    );
    let scroll = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    if scroll > u64::from(width) {
        let wide = c
            .execute(
                "return [...document.querySelectorAll('body *')] \
                   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1) \
                   .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
                vec![],
            )
            .await
            .unwrap();
        screenshot(c, &format!("journey-too-wide-{}", step.replace(' ', "-"))).await;
        println!("wider than the window: {wide}");
    }
    assert!(
        scroll <= u64::from(width),
        "{step}: the page is {scroll} px wide in a {width} px window"
    );
}

async fn goto(b: &Browser, app: &TestApp, path: &str) {
    b.client.goto(&app.url(path)).await.unwrap();
}

/// Clicks the submit button of the form whose action ends with `action`
/// (and, when given, that holds an input named `name` with `value`).
async fn submit(c: &Client, action: &str, field: Option<(&str, &str)>) {
    let mut xpath = format!(
        "//form[substring(@action, string-length(@action) - {}) = '{action}'",
        action.len() - 1
    );
    if let Some((name, value)) = field {
        xpath.push_str(&format!(" and .//*[@name='{name}' and @value='{value}']"));
    }
    xpath.push_str("]//button[@type='submit']");
    c.find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no form {xpath}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the page's `#job-status` says the job ended well.
async fn job_succeeds(c: &Client, what: &str, within: Duration) {
    screenshot(
        c,
        &format!("journey-waiting-for-{}", what.replace(' ', "-")),
    )
    .await;
    let status = until(
        c,
        "const s = document.getElementById('job-status'); \
         return s && ['succeeded', 'failed', 'cancelled'].find(k => s.classList.contains(k))",
        within,
        what,
    )
    .await;
    assert_eq!(status, "succeeded", "{what}");
    // The page reloads itself to show the result.
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

async fn walk(app: &TestApp, b: &Browser, name: &str, width: u32, folder: &Path) {
    let c = &b.client;
    let shot = |step: &str| format!("journey-{name}-{step}");

    // A new project.
    goto(b, app, "/").await;
    browser::type_into(c, "name", &format!("Journey {name}")).await;
    submit(c, "/projects", None).await;
    let url = until(
        c,
        "return location.pathname.endsWith('/dataset') && location.pathname",
        Duration::from_secs(10),
        "the new project's Dataset page",
    )
    .await;
    let project = url.as_str().unwrap().split('/').nth(2).unwrap().to_owned();
    fits(c, width, "dataset").await;
    no_problems(b, "creating the project").await;

    // A folder of photos, labelled by their folders.
    c.find(Locator::Css("input[name='labelMode'][value='folder']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("folder-input"))
        .await
        .unwrap()
        .send_keys(&folder.display().to_string())
        .await
        .unwrap();
    browser::click(c, "upload-button").await;
    until(
        c,
        &format!(
            "return document.body.textContent.includes('{} samples')",
            3 * PER_LABEL
        ),
        Duration::from_secs(60),
        "the uploaded photos counted on the page",
    )
    .await;
    screenshot(c, &shot("1-dataset")).await;
    fits(c, width, "dataset after upload").await;
    no_problems(b, "uploading the folder").await;

    // Design (the default impulse) and train.
    goto(b, app, &format!("/projects/{project}/impulse")).await;
    fits(c, width, "impulse").await;
    c.find(Locator::Css("#impulse-form button[value='train']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    job_succeeds(c, "training", Duration::from_secs(300)).await;
    screenshot(c, &shot("2-training")).await;
    fits(c, width, "training job").await;
    no_problems(b, "training").await;

    // Test in int8, then in float.
    for precision in ["int8", "float32"] {
        goto(b, app, &format!("/projects/{project}/test")).await;
        c.find(Locator::Css(&format!(
            "select[name='precision'] option[value='{precision}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        submit(c, "/test/run", None).await;
        job_succeeds(
            c,
            &format!("the {precision} test"),
            Duration::from_secs(120),
        )
        .await;
    }
    goto(b, app, &format!("/projects/{project}/test")).await;
    screenshot(c, &shot("3-test")).await;
    fits(c, width, "test").await;
    no_problems(b, "testing").await;

    // The data explorer.
    goto(b, app, &format!("/projects/{project}/explore")).await;
    submit(c, "/explore", None).await;
    let drawn = until(
        c,
        "const d = document.getElementById('map-data'); \
         const canvas = document.getElementById('map-canvas'); \
         return d && canvas && canvas.width > 0 && JSON.parse(d.textContent).points.length",
        Duration::from_secs(120),
        "the map",
    )
    .await;
    assert_eq!(drawn.as_u64(), Some(3 * PER_LABEL as u64));
    screenshot(c, &shot("4-explore")).await;
    fits(c, width, "explore").await;
    no_problems(b, "mapping the samples").await;

    // What the network sees, for the first sample to check (or the first
    // in the grid).
    let first_link = "const a = document.querySelector('ul.flagged a') \
                        || document.querySelector('.grid a[href*=\"/samples/\"]'); \
                      return a ? a.getAttribute('href') : ''";
    let mut sample = c.execute(first_link, vec![]).await.unwrap();
    if sample.as_str().is_none_or(str::is_empty) {
        goto(b, app, &format!("/projects/{project}/dataset")).await;
        sample = c.execute(first_link, vec![]).await.unwrap();
    }
    let sample = sample.as_str().unwrap().to_owned();
    assert!(!sample.is_empty(), "a sample's link");
    goto(b, app, &format!("{sample}/network")).await;
    until(
        c,
        "return ['first-maps', 'deep-maps', 'convolved'].every(id => { \
           const img = document.getElementById(id); return img && img.complete && img.naturalWidth > 0; })",
        Duration::from_secs(30),
        "the feature maps and the filter's output",
    )
    .await;
    screenshot(c, &shot("5-network")).await;
    fits(c, width, "network").await;
    no_problems(b, "what the network sees").await;

    // Firmware for the emulated board, run there, downloaded.
    goto(b, app, &format!("/projects/{project}/deploy")).await;
    fits(c, width, "deploy").await;
    submit(c, "/deploy/build", Some(("board", "mps2-an386"))).await;
    job_succeeds(c, "the firmware build", Duration::from_secs(900)).await;
    screenshot(c, &shot("6-build")).await;
    goto(b, app, &format!("/projects/{project}/deploy")).await;
    submit(c, "/deploy/run", None).await;
    job_succeeds(c, "the run on the emulated board", Duration::from_secs(180)).await;
    screenshot(c, &shot("7-run")).await;
    fits(c, width, "run").await;
    goto(b, app, &format!("/projects/{project}/deploy")).await;
    let download = c
        .execute(
            "const a = document.querySelector('a[href*=\"/artifacts/\"]'); return a ? a.href : ''",
            vec![],
        )
        .await
        .unwrap();
    let download = download.as_str().unwrap();
    assert!(!download.is_empty(), "the build's downloads are linked");
    // Downloaded with the page's own cookie, as the person's click would.
    let fetched = c
        .execute(
            "return fetch(arguments[0]).then(r => r.ok ? r.arrayBuffer().then(b => b.byteLength) : -r.status)",
            vec![serde_json::json!(download)],
        )
        .await
        .unwrap();
    assert!(
        fetched.as_i64().unwrap_or(0) > 0,
        "downloading {download}: {fetched}"
    );
    no_problems(b, "building, running and downloading").await;
}
