//! Host benchmark on vww_96_int8.tflite: inference time, arena size, MACs and
//! time per operator.
//!
//! `cargo bench -p tinystudio-engine --bench vww` (release profile).

use std::time::{Duration, Instant};

use tinystudio_engine::{Interpreter, Model, ModelView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference-models/vww_96_int8.tflite"
    );
    let file = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let model = Model::from_tflite(&file)?;
    let blob = model.to_blob()?;
    let view = ModelView::parse(&blob)?;
    let mut arena = vec![0u8; view.arena_size()];
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference-models/golden/case00.input.i8"
    ))?;

    let mut it = Interpreter::new(view, &mut arena)?;
    for (d, s) in it.input_mut().iter_mut().zip(&input) {
        *d = *s as i8;
    }
    // Warm up, then time whole inferences.
    for _ in 0..20 {
        it.invoke()?;
    }
    // The machine is shared: report the best of 15 batches (least disturbed)
    // and the median batch.
    let mut batches = Vec::new();
    for _ in 0..15 {
        let runs = 40;
        let start = Instant::now();
        for _ in 0..runs {
            it.invoke()?;
        }
        batches.push(start.elapsed() / runs);
    }
    batches.sort();
    let per = batches[0];
    let median = batches[batches.len() / 2];

    // Per-operator time from the observer's timestamps (fastest of 100 runs).
    let n = view.op_count();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); n];
    for _ in 0..100 {
        let mut last = Instant::now();
        it.invoke_observed(|i, _, _| {
            let now = Instant::now();
            samples[i].push(now - last);
            last = now;
        })?;
    }
    let total_macs: u64 = (0..n).map(|i| view.op(i).map_or(0, |o| o.macs())).sum();
    println!("model: vww_96_int8.tflite (MobileNetV1 0.25, 96x96x3)");
    println!("arena: {} bytes (planned)", view.arena_size());
    println!("blob: {} bytes", blob.len());
    println!(
        "inference: {:.3} ms best ({:.1} inferences/s), {:.3} ms median; {} MACs, {:.2} GMAC/s",
        per.as_secs_f64() * 1e3,
        1.0 / per.as_secs_f64(),
        median.as_secs_f64() * 1e3,
        total_macs,
        total_macs as f64 / per.as_secs_f64() / 1e9
    );
    println!(
        "{:>3} {:<18} {:<34} {:>16} {:>10} {:>9}",
        "op", "operator", "kernel", "output", "MACs", "us"
    );
    for (i, s) in samples.iter_mut().enumerate() {
        let op = view.op(i)?;
        s.sort();
        let med = s.first().copied().unwrap_or_default();
        let out = view.tensor(op.output())?;
        println!(
            "{i:>3} {:<18} {:<34} {:>16} {:>10} {:>9.1}",
            op.name(),
            op.kernel_name(),
            format!("{:?}", out.shape()),
            op.macs(),
            med.as_secs_f64() * 1e6
        );
    }
    Ok(())
}
