use tinystudio_engine::blob::PreparedOp;
use tinystudio_engine::kernels::cortex_m4::DoubledRequant;
fn main() {
    let bytes = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let model = tinystudio_engine::Model::from_tflite(&bytes).unwrap();
    let blob = model.to_blob().unwrap();
    let view = tinystudio_engine::ModelView::parse(&blob).unwrap();
    for i in 0..view.op_count() {
        if let PreparedOp::Conv { params: p, .. } = view.op(i).unwrap() {
            let k = (p.window.kernel_h * p.window.kernel_w * p.input.c) as i64;
            let reach = 2 * k * 128 * 128;
            let mut bad = vec![];
            for o in 0..p.output.c {
                let bias = i64::from(p.bias.map_or(0, |b| b.get(o)));
                let ok = bias.abs() < (1 << 29) - reach
                    && DoubledRequant::new(p.multiplier.get(o), p.shift.get(o), p.output_offset)
                        .is_some();
                if !ok {
                    bad.push((
                        o,
                        bias,
                        p.multiplier.get(o),
                        p.shift.get(o),
                        p.output_offset,
                    ));
                }
            }
            println!("op {i}: {} not doubled; first {:?}", bad.len(), bad.first());
        }
    }
}
