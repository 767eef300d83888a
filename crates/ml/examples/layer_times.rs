//! Wall time of each backbone layer on one batch, to see where feature extraction
//! spends its time: `cargo run -p tinystudio-ml --example layer_times [size] [batch]`.

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::model::MobileNetV1;

fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(96);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/backbones");
    let backbone = ensure_backbone(0.25, std::path::Path::new(dir), &mut |_| {}).expect("backbone");
    let device = Device::flex();
    let model = MobileNetV1::from_keras(&backbone.weights, 3, &device);
    let input = Tensor::<4>::zeros([batch, 3, size, size], &device);
    let mut totals = vec![0f64; model.layers.len()];
    let reps = 5;
    for _ in 0..reps {
        let mut x = input.clone();
        for (i, layer) in model.layers.iter().enumerate() {
            let t = Instant::now();
            x = layer.forward(x);
            let _ = x.to_data();
            totals[i] += t.elapsed().as_secs_f64();
        }
    }
    let sum: f64 = totals.iter().sum();
    for (i, (layer, t)) in model.layers.iter().zip(&totals).enumerate() {
        println!(
            "layer {i:2} groups {:3} stride {} weight {:?}: {:7.2} ms ({:4.1} %)",
            layer.groups,
            layer.stride,
            layer.weight.dims(),
            t * 1e3 / reps as f64,
            100.0 * t / sum
        );
    }
    println!(
        "total {:.1} ms per batch of {batch} = {:.0} images/s",
        sum * 1e3 / reps as f64,
        batch as f64 * reps as f64 / sum
    );
}
