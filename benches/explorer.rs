//! The data explorer with 10,000 samples: the studio as `tinystudio serve`
//! runs it (embedded defaults, an in-process worker), 10,000 distinct
//! photos (CIFAR-3's 600 with a different corner pixel each, so none is a
//! duplicate) uploaded with their labels, the map made (a job), then the
//! Explore page in headless Chromium: how large the page is, how long the
//! map takes to draw and to redraw at another width, and how long finding
//! the sample under the pointer takes per mouse move. Prints the numbers;
//! recorded in BENCHMARKS.md.
//!
//! `cargo bench --bench explorer --profile dev` (or sharing the test
//! build, `cargo test --workspace --bench explorer`). `TINYSTUDIO_SAMPLES`
//! sets the count (10000). Needs the shared data folder and Debian's
//! chromium and chromium-driver.

mod support;

#[allow(dead_code)] // The bench uses part of the tests' browser plumbing.
#[path = "../tests/common/browser.rs"]
mod browser;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{create_project, shared, start_studio, upload_labelled};

/// CIFAR-3's photos, made `count` distinct ones: copy `i` carries `i` in
/// its corner pixels. (label, file name, PNG bytes).
fn photos(count: usize) -> Vec<(String, String, Vec<u8>)> {
    let mut originals = Vec::new();
    for split in ["train", "test"] {
        for label in ["airplane", "ship", "horse"] {
            let dir = shared(&format!("datasets/cifar3/{split}/{label}"));
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                .expect("cifar3 folder")
                .map(|e| e.expect("entry").path())
                .collect();
            paths.sort();
            for path in paths {
                let image = image::open(&path).expect("a CIFAR-3 photo").to_rgb8();
                originals.push((label.to_owned(), image));
            }
        }
    }
    (0..count)
        .map(|i| {
            let (label, image) = &originals[i % originals.len()];
            let mut copy = image.clone();
            let [a, b, c, _] = (i as u32).to_le_bytes();
            copy.put_pixel(0, 0, image::Rgb([a, b, c]));
            let mut png = Vec::new();
            copy.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .expect("PNG");
            (label.clone(), format!("{label}.{i}.png"), png)
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::var("TINYSTUDIO_SAMPLES")
        .ok()
        .map(|v| v.parse().expect("TINYSTUDIO_SAMPLES is a number"))
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let app = start_studio(dir.path(), None).await;
    let base = format!("http://{}", app.addr);
    let http = reqwest::Client::new();
    let (project, key) = create_project(&http, &base, "explorer").await;

    let started = Instant::now();
    let photos = photos(count);
    for batch in photos.chunks(100) {
        for label in ["airplane", "ship", "horse"] {
            upload_labelled(&http, &base, &key, label, batch).await;
        }
    }
    println!(
        "uploaded {count} photos in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let job: Value = http
        .post(format!("{base}/api/projects/{project}/explore"))
        .header("x-api-key", &key)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("start the map")
        .json()
        .await
        .expect("job JSON");
    let job = job["jobId"].as_str().expect("job id").to_owned();
    loop {
        let state: Value = http
            .get(format!("{base}/api/projects/{project}/jobs/{job}"))
            .header("x-api-key", &key)
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("job JSON");
        match state["status"].as_str() {
            Some("succeeded") => break,
            Some("queued" | "running") => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("the map's job ended {other:?}: {state}"),
        }
    }
    println!(
        "the map of {count} samples (features from nothing, PCA, labels' centres): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let b = browser::start(browser::Options::default()).await;
    let c = &b.client;
    let started = Instant::now();
    c.goto(&format!("{base}/projects/{project}/explore"))
        .await
        .expect("the Explore page");
    let draw_ms = browser::until(
        c,
        "const c = document.getElementById('map-canvas'); return c && c.dataset.drawMs",
        Duration::from_secs(60),
        "the map drawn",
    )
    .await;
    let loaded = started.elapsed();
    let html_bytes = c
        .execute("return document.documentElement.outerHTML.length", vec![])
        .await
        .expect("page size");
    // Another width: the map is drawn again.
    c.set_window_size(900, 900).await.expect("resize");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let redraw_ms = c
        .execute(
            "return document.getElementById('map-canvas').dataset.drawMs",
            vec![],
        )
        .await
        .expect("redraw");
    // 2,000 mouse moves across the map, each finding the nearest sample
    // and filling the tooltip.
    let hover = c
        .execute(
            "const canvas = document.getElementById('map-canvas'); \
             const r = canvas.getBoundingClientRect(); \
             const started = performance.now(); \
             for (let i = 0; i < 2000; i++) { \
               const x = r.left + (i * 7919 % 1000) / 1000 * r.width; \
               const y = r.top + (i * 104729 % 1000) / 1000 * r.height; \
               canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y })); \
             } \
             return (performance.now() - started) / 2000",
            vec![],
        )
        .await
        .expect("hover");
    let problems = b.problems().await;
    println!(
        "| samples | page (HTML) | loaded and drawn | draw | redraw at 900 px | per mouse move |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {count} | {:.0} KB | {:.0} ms | {} ms | {} ms | {:.3} ms |",
        html_bytes.as_f64().unwrap_or(0.0) / 1024.0,
        loaded.as_secs_f64() * 1000.0,
        draw_ms.as_str().unwrap_or("?"),
        redraw_ms.as_str().unwrap_or("?"),
        hover.as_f64().unwrap_or(f64::NAN)
    );
    assert!(
        problems.is_empty(),
        "the browser saw problems: {problems:?}"
    );
}
