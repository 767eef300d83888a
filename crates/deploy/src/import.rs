//! Bringing your own `.tflite`: what the studio checks when the file is
//! uploaded (every operator against the engine, an image input), the blob
//! it becomes, and its profile: size, MACs and the MACs the Cortex-M4's fast
//! kernels take, per operator, here; and the
//! instructions per operator on the emulated Cortex-M4 (a `profile`
//! firmware build). The web server runs [`inspect`] to answer at once; the
//! import job runs it again, stores the model and calls [`profile_on_emulator`].

use std::path::Path;
use std::time::Duration;

use tinystudio_domain::impulse::{ColorDepth, ImpulseConfig, InputBlock, ResizeMode};
use tinystudio_domain::jobs::{ModelProfile, OperatorProfile, PixelRange};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_engine::kernels::cortex_m4;
use tinystudio_engine::{Model, ModelView, PixelScaling, tflite};

use crate::{BuildOptions, Config, board, build_with};

/// Why a file cannot be imported: one line per problem.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    pub summary: String,
    /// Every operator the engine cannot run, or the input's problem.
    pub problems: Vec<String>,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)?;
        for p in &self.problems {
            write!(f, "\n- {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

fn refused(summary: impl Into<String>) -> ImportError {
    ImportError {
        summary: summary.into(),
        problems: Vec::new(),
    }
}

/// A file the engine runs, with what the person confirms.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// The engine's blob, labels and pixel mapping included.
    pub blob: Vec<u8>,
    pub labels: Vec<String>,
    /// Its input as an impulse: size and colour from the input tensor;
    /// `None` for a model that takes raw tensors.
    pub impulse: Option<ImpulseConfig>,
    pub pixel_range: Option<PixelRange>,
    pub input_shape: Vec<usize>,
    /// Sizes and MACs per operator (no instructions yet).
    pub profile: ModelProfile,
}

/// How an imported model's input is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Pictures, resized as given; `None` infers the pixel range from the
    /// input's quantization (a float range reaching below -0.25 means -1..1).
    Image(ResizeMode, Option<PixelRange>),
    /// Raw tensors: the input bytes are the int8 values (audio features,
    /// sensor windows, any input that is not a picture).
    Raw,
}

/// Checks `file` against the engine and builds its blob. `labels` may be
/// empty (then `class 0`, `class 1`, ...). An image input must be height x
/// width x 1 or 3 channels.
pub fn inspect(
    file: &[u8],
    labels: &[String],
    input_kind: InputKind,
) -> Result<Inspected, ImportError> {
    let problems = tflite::check(file)
        .map_err(|e| refused(format!("not a TensorFlow Lite model the engine reads: {e}")))?;
    if !problems.is_empty() {
        return Err(ImportError {
            summary: format!(
                "the engine cannot run {} of this model's operators",
                problems.len()
            ),
            problems: problems.iter().map(ToString::to_string).collect(),
        });
    }
    let mut model = Model::from_tflite(file).map_err(|e| refused(e.to_string()))?;
    let input = &model.tensors[model.input];
    let input_shape = input.shape.clone();
    let (scale, zero_point) = input
        .quant
        .as_ref()
        .and_then(|q| Some((*q.scale.first()?, *q.zero_point.first()?)))
        .ok_or_else(|| refused("its input tensor is not quantized"))?;
    let picture = match input_kind {
        InputKind::Raw => None,
        InputKind::Image(mode, _) => match input.shape[..] {
            [1, h, w, c] | [h, w, c] if c == 1 || c == 3 => Some((h, w, c, mode)),
            ref other => {
                return Err(refused(format!(
                    "its input is {other:?}, not a picture (height x width x 1 or 3 \
                     channels): import it as raw tensors"
                )));
            }
        },
    };
    let pixel_range = match (input_kind, picture) {
        (InputKind::Image(_, Some(range)), Some(_)) => Some(range),
        (_, Some(_)) if (-128.0 - zero_point as f32) * scale < -0.25 => {
            Some(PixelRange::MinusOneToOne)
        }
        (_, Some(_)) => Some(PixelRange::ZeroToOne),
        (_, None) => None,
    };
    let classes = model.tensors[model.output].elements();
    let labels: Vec<String> = if labels.is_empty() {
        (0..classes).map(|i| format!("class {i}")).collect()
    } else if labels.len() == classes {
        labels.to_vec()
    } else {
        return Err(refused(format!(
            "{} labels given for {classes} outputs",
            labels.len()
        )));
    };
    model.metadata.labels = labels.clone();
    model.metadata.pixel_scaling = pixel_range.map(|range| match range {
        PixelRange::ZeroToOne => PixelScaling::ZeroToOne,
        PixelRange::MinusOneToOne => PixelScaling::MinusOneToOne,
    });
    let invalid = |e: tinystudio_engine::Error| refused(format!("the engine cannot run it: {e}"));
    let blob = model.to_blob().map_err(invalid)?;
    HostRunner::new(blob.clone()).map_err(invalid)?;
    let view = ModelView::parse(&blob).map_err(invalid)?;
    let mut operators = Vec::new();
    for index in 0..view.op_count() {
        let op = view.op(index).map_err(invalid)?;
        operators.push(OperatorProfile {
            index,
            name: op.name().to_owned(),
            macs: op.macs(),
            fast_path_macs: cortex_m4::fast_path_macs(&op),
            instructions: None,
            kernel: None,
        });
    }
    let profile = ModelProfile {
        macs: operators.iter().map(|o| o.macs).sum(),
        fast_path_macs: operators.iter().map(|o| o.fast_path_macs).sum(),
        operators,
        parameters: model
            .tensors
            .iter()
            .filter(|t| t.data.is_some())
            .map(|t| t.elements() as u64)
            .sum(),
        arena_bytes: view.arena_size() as u64,
        blob_bytes: blob.len() as u64,
        instructions: None,
        profile_note: None,
    };
    let impulse = picture.map(|(h, w, c, resize_mode)| ImpulseConfig {
        input: InputBlock {
            width: w as u32,
            height: h as u32,
            resize_mode,
        },
        image: tinystudio_domain::impulse::ImageBlock {
            color_depth: if c == 1 {
                ColorDepth::Grayscale
            } else {
                ColorDepth::Rgb
            },
        },
        learning: Default::default(),
    });
    Ok(Inspected {
        blob,
        labels,
        impulse,
        pixel_range,
        input_shape,
        profile,
    })
}

/// Fills `profile` with the instructions of each operator on the emulated
/// Cortex-M4: a `profile` firmware build of `blob` for `mps2-an386`, one
/// inference under QEMU of a mid-grey picture (zeros for raw tensors). `target_dir` keeps the
/// build's folder between imports.
pub fn profile_on_emulator(
    config: &Config,
    blob: &[u8],
    target_dir: &Path,
    profile: &mut ModelProfile,
    log: &mut dyn FnMut(&str),
) -> crate::Result<()> {
    let mps2 = board("mps2-an386").expect("the emulated board is always listed");
    let options = BuildOptions {
        profile: true,
        ..BuildOptions::default()
    };
    let built = build_with(config, mps2, blob, target_dir, &options, log)?;
    let input_len = ModelView::parse(blob)?.input()?.len;
    let out = crate::run_emulated(
        &built.elf,
        &vec![128u8; input_len],
        Duration::from_secs(300),
    )?;
    profile.instructions = out.instructions();
    for op in &out.ops {
        if let Some(o) = profile.operators.iter_mut().find(|o| o.index == op.index) {
            o.instructions = Some(op.cost);
            o.kernel = Some(op.kernel.clone());
        }
    }
    Ok(())
}
