//! Runs a `.tflite` on the host engine, as `tests/tflite_reference.py` runs it
//! on TFLite's reference kernels: each raw int8 INPUT.i8's output goes to
//! INPUT.i8.engine. `cargo run --release -p tinystudio-engine --example run
//! -- MODEL.tflite INPUT.i8 ...`; compare the two with `cmp`.
use tinystudio_engine::Model;
use tinystudio_engine::interpreter::HostRunner;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: run MODEL.tflite INPUT.i8 ...")?;
    let model = Model::from_tflite(&std::fs::read(&path)?)?;
    let mut runner = HostRunner::new(model.to_blob()?)?;
    for input in args {
        let x: Vec<i8> = std::fs::read(&input)?
            .into_iter()
            .map(|b| b as i8)
            .collect();
        let y = runner.run(&x)?;
        std::fs::write(
            format!("{input}.engine"),
            y.iter().map(|&v| v as u8).collect::<Vec<_>>(),
        )?;
    }
    Ok(())
}
