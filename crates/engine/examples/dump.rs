//! Prints a model's operators, tensors and planned arena: `cargo run --example dump -- model.tflite`.
use tinystudio_engine::{Model, ModelView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: dump MODEL.tflite")?;
    let model = Model::from_tflite(&std::fs::read(&path)?)?;
    let input = model.input_tensor()?;
    println!(
        "input {:?} scale {} zp {}",
        input.shape,
        input.scale(),
        input.zero_point()
    );
    let blob = model.to_blob()?;
    let view = ModelView::parse(&blob)?;
    for i in 0..view.op_count() {
        let op = view.op(i)?;
        let out = view.tensor(op.output())?;
        println!(
            "{i:3} {:18} {:28} out {:?} @ {} MACs {}",
            op.name(),
            op.kernel_name(),
            out.shape(),
            out.offset,
            op.macs()
        );
    }
    println!("arena {} B, blob {} B", view.arena_size(), blob.len());
    Ok(())
}
