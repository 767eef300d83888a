//! Running models: the frozen backbone as a feature extractor, and trained models
//! (save, load, classify).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use tinystudio_domain::artifacts::{MODEL_CONFIG as CONFIG_FILE, MODEL_WEIGHTS as WEIGHTS_FILE};

use crate::backbones::{Backbone, BackboneSource};
use crate::cpu::FastBackbone;
use crate::data::{ImageShape, InputScaling, images_to_tensor};
use crate::error::{Error, Result};
use crate::keras_h5::NUM_BLOCKS;
use crate::model::{
    ConvLayer, Dense, Head, HeadConfig, MobileNetV1, Trainable, first_layer_of_last_blocks,
    global_average_pool, same_output,
};
use crate::training::TrainConfig;

/// Images per forward pass: large enough to keep both cores busy inside each conv,
/// small enough that activations stay in cache-friendly sizes.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The backbone run once per image so training never has to run it again.
///
/// With `fine_tune_blocks == 0` a row is the global-average-pooled feature vector
/// (`[feature_dim]`); otherwise it is the activation entering the first fine-tuned
/// block (`[c, h, w]`), which the trainable tail continues from.
pub struct FeatureExtractor {
    model: MobileNetV1,
    alpha: f32,
    source: BackboneSource,
    fingerprint: String,
    shape: ImageShape,
    scaling: InputScaling,
    fine_tune_blocks: usize,
    cut: usize,
    row_shape: Vec<usize>,
    device: Device,
    batch_size: usize,
    fast: FastBackbone,
}

impl FeatureExtractor {
    /// Builds the backbone for images of `shape` (RGB or grayscale, see
    /// [`crate::model::ConvLayer::collapse_input_channels`]).
    pub fn new(backbone: &Backbone, shape: ImageShape, fine_tune_blocks: usize) -> Result<Self> {
        shape.check()?;
        if fine_tune_blocks > NUM_BLOCKS {
            return Err(Error::InvalidInput(format!(
                "cannot fine-tune {fine_tune_blocks} blocks, MobileNetV1 has {NUM_BLOCKS}"
            )));
        }
        let device = Device::flex();
        let model = MobileNetV1::from_keras(&backbone.weights, shape.channels, &device);
        Ok(Self::from_model(
            model,
            backbone.alpha,
            backbone.source.clone(),
            backbone.fingerprint(),
            shape,
            fine_tune_blocks,
            device,
        ))
    }

    fn from_model(
        model: MobileNetV1,
        alpha: f32,
        source: BackboneSource,
        fingerprint: String,
        shape: ImageShape,
        fine_tune_blocks: usize,
        device: Device,
    ) -> Self {
        let cut = first_layer_of_last_blocks(fine_tune_blocks);
        let fast = FastBackbone::from_model(&model);
        let row_shape = if fine_tune_blocks == 0 {
            vec![model.feature_dim()]
        } else {
            let (mut h, mut w) = (shape.height, shape.width);
            for layer in &model.layers[..cut] {
                h = same_output(h, layer.stride);
                w = same_output(w, layer.stride);
            }
            vec![model.layers[cut - 1].out_channels(), h, w]
        };
        FeatureExtractor {
            model,
            alpha,
            source,
            fingerprint,
            shape,
            scaling: InputScaling::Int8Aligned,
            fine_tune_blocks,
            cut,
            row_shape,
            device,
            batch_size: DEFAULT_BATCH_SIZE,
            fast,
        }
    }

    /// Only for reproducing Keras's ImageNet numbers; trained models use
    /// [`InputScaling::Int8Aligned`].
    pub fn with_scaling(mut self, scaling: InputScaling) -> Self {
        self.scaling = scaling;
        self
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Length of one row returned by [`Self::extract`].
    pub fn row_len(&self) -> usize {
        self.row_shape.iter().product()
    }

    /// `[feature_dim]` or `[c, h, w]`, see the type docs.
    pub fn row_shape(&self) -> Vec<usize> {
        self.row_shape.clone()
    }

    /// Dimension of the pooled features the head sees.
    pub fn feature_dim(&self) -> usize {
        self.model.feature_dim()
    }

    pub fn image_shape(&self) -> ImageShape {
        self.shape
    }

    pub fn fine_tune_blocks(&self) -> usize {
        self.fine_tune_blocks
    }

    pub fn scaling(&self) -> InputScaling {
        self.scaling
    }

    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    pub fn backbone_source(&self) -> &BackboneSource {
        &self.source
    }

    pub fn backbone_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn model(&self) -> &MobileNetV1 {
        &self.model
    }

    /// Copies of the layers training starts the fine-tuned blocks from.
    pub fn tail_layers(&self) -> Vec<ConvLayer> {
        self.model.layers[self.cut..].to_vec()
    }

    /// Runs the frozen part of the backbone on HWC u8 images of [`Self::image_shape`],
    /// returning `[images.len(), row_len]` row-major.
    pub fn extract(&self, images: &[&[u8]]) -> Result<Vec<f32>> {
        for (n, img) in images.iter().enumerate() {
            if img.len() != self.shape.len() {
                return Err(Error::InvalidInput(format!(
                    "image {n} has {} bytes, expected {} ({}x{}x{})",
                    img.len(),
                    self.shape.len(),
                    self.shape.width,
                    self.shape.height,
                    self.shape.channels
                )));
            }
        }
        let rows = self.fast.extract(
            images,
            (self.shape.height, self.shape.width, self.shape.channels),
            self.scaling,
            self.cut,
            self.fine_tune_blocks == 0,
        );
        Ok(rows.concat())
    }

    /// [`Self::extract`] through the burn model, batch by batch: the reference the
    /// fused path is tested against.
    pub fn extract_reference(&self, images: &[&[u8]]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(images.len() * self.row_len());
        for batch in images.chunks(self.batch_size) {
            // [batch, c, h, w]
            let x = images_to_tensor(batch, self.shape, self.scaling, &self.device)?;
            let x = self.model.forward_layers(x, 0, self.cut);
            let data = if self.fine_tune_blocks == 0 {
                global_average_pool(x).into_data()
            } else {
                x.into_data()
            };
            out.extend(to_f32(data)?);
        }
        Ok(out)
    }
}

fn to_f32(data: TensorData) -> Result<Vec<f32>> {
    data.try_into_vec::<f32>()
        .map_err(|e| Error::InvalidInput(format!("unexpected tensor data: {e:?}")))
}

/// Everything needed to rebuild a trained model (besides the backbone file) and to
/// explain how it was made; saved as `model.json` beside the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub format_version: u32,
    pub alpha: f32,
    pub backbone_source: BackboneSource,
    /// [`Backbone::fingerprint`] of the backbone the model was trained on.
    pub backbone_fingerprint: String,
    pub input: ImageShape,
    pub scaling: InputScaling,
    pub class_names: Vec<String>,
    pub head: HeadConfig,
    pub fine_tune_blocks: usize,
    pub training: TrainConfig,
}

impl ModelConfig {
    pub(crate) fn new(
        extractor: &FeatureExtractor,
        class_names: Vec<String>,
        head: HeadConfig,
        training: &TrainConfig,
    ) -> Self {
        ModelConfig {
            format_version: 1,
            alpha: extractor.alpha,
            backbone_source: extractor.source.clone(),
            backbone_fingerprint: extractor.fingerprint.clone(),
            input: extractor.shape,
            scaling: extractor.scaling,
            class_names,
            head,
            fine_tune_blocks: extractor.fine_tune_blocks,
            training: training.clone(),
        }
    }
}

/// A trained classifier: backbone (with fine-tuned blocks swapped in) plus head.
pub struct TrainedModel {
    pub config: ModelConfig,
    backbone: MobileNetV1,
    head: Head,
    device: Device,
}

impl TrainedModel {
    pub(crate) fn from_parts(
        extractor: &FeatureExtractor,
        config: ModelConfig,
        trainable: Trainable,
    ) -> Result<Self> {
        let device = Device::flex();
        let trainable = trainable.to_device(&device);
        let mut backbone = extractor.model.clone();
        let cut = extractor.cut;
        for (i, layer) in trainable.tail.into_iter().enumerate() {
            backbone.layers[cut + i] = layer;
        }
        Ok(TrainedModel {
            config,
            backbone,
            head: trainable.head,
            device,
        })
    }

    pub fn backbone(&self) -> &MobileNetV1 {
        &self.backbone
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Class probabilities, one `Vec` per HWC u8 image of `config.input`.
    pub fn predict(&self, images: &[&[u8]]) -> Result<Vec<Vec<f32>>> {
        let classes = self.config.class_names.len();
        let mut out = Vec::with_capacity(images.len());
        for batch in images.chunks(DEFAULT_BATCH_SIZE) {
            // [batch, c, h, w]
            let x = images_to_tensor(batch, self.config.input, self.config.scaling, &self.device)?;
            let probs = self.head.forward(self.backbone.forward_features(x));
            let v = to_f32(probs.into_data())?;
            out.extend(v.chunks_exact(classes).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// Writes `model.json` and `model.safetensors` (head and fine-tuned blocks only;
    /// the frozen backbone is rebuilt from the backbone store on load) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut put = |name: String, t: TensorData| -> Result<()> {
            let shape = t.shape().to_vec();
            let bytes = to_f32(t)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>();
            tensors.push((name, shape, bytes));
            Ok(())
        };
        if let Some(h) = &self.head.hidden {
            put("head.hidden.weight".into(), h.weight.val().into_data())?;
            put("head.hidden.bias".into(), h.bias.val().into_data())?;
        }
        put(
            "head.output.weight".into(),
            self.head.output.weight.val().into_data(),
        )?;
        put(
            "head.output.bias".into(),
            self.head.output.bias.val().into_data(),
        )?;
        let cut = first_layer_of_last_blocks(self.config.fine_tune_blocks);
        for (i, layer) in self.backbone.layers.iter().enumerate().skip(cut) {
            put(
                format!("backbone.{i}.weight"),
                layer.weight.val().into_data(),
            )?;
            put(format!("backbone.{i}.bias"), layer.bias.val().into_data())?;
        }
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::InvalidInput(format!("safetensors: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta = HashMap::new();
        meta.insert("format".to_owned(), "tinystudio-mobilenet-v1".to_owned());
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::InvalidInput(format!("safetensors: {e}")))?;
        let json = serde_json::to_vec_pretty(&self.config)
            .map_err(|e| Error::InvalidInput(format!("model config: {e}")))?;
        write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
        write_atomic(&dir.join(CONFIG_FILE), &json)?;
        Ok(())
    }

    /// Loads a model saved by [`Self::save`], on the backbone it was trained with.
    pub fn load(dir: &Path, backbone: &Backbone) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        let json = fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: ModelConfig =
            serde_json::from_slice(&json).map_err(|e| Error::BadModelFile {
                path: config_path.clone(),
                message: e.to_string(),
            })?;
        if config.backbone_fingerprint != backbone.fingerprint() {
            return Err(Error::BadModelFile {
                path: config_path,
                message: format!(
                    "trained on a different backbone ({:?} alpha {}); this one is {}",
                    config.backbone_source,
                    config.alpha,
                    backbone.description()
                ),
            });
        }
        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::BadModelFile {
            path: weights_path.clone(),
            message: e.to_string(),
        })?;
        let device = Device::flex();
        let get = |name: &str, shape: &[usize]| -> Result<TensorData> {
            let bad = |message: String| Error::BadModelFile {
                path: weights_path.clone(),
                message,
            };
            let view = st
                .tensor(name)
                .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape {
                return Err(bad(format!(
                    "tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let v: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(TensorData::new(v, shape.to_vec()))
        };
        let dense = |prefix: &str, i: usize, o: usize| -> Result<Dense> {
            Ok(Dense {
                weight: Param::from_tensor(Tensor::from_data(
                    get(&format!("{prefix}.weight"), &[i, o])?,
                    &device,
                )),
                bias: Param::from_tensor(Tensor::from_data(
                    get(&format!("{prefix}.bias"), &[o])?,
                    &device,
                )),
            })
        };
        let hc = &config.head;
        let (hidden, out_in) = match hc.hidden {
            Some(n) => (Some(dense("head.hidden", hc.input_dim, n)?), n),
            None => (None, hc.input_dim),
        };
        let head = Head {
            hidden,
            output: dense("head.output", out_in, hc.num_classes)?,
        };
        let mut model = MobileNetV1::from_keras(&backbone.weights, config.input.channels, &device);
        let cut = first_layer_of_last_blocks(config.fine_tune_blocks);
        for i in cut..model.layers.len() {
            let layer = &model.layers[i];
            let wshape = layer.weight.dims().to_vec();
            let bshape = layer.bias.dims().to_vec();
            let weight = get(&format!("backbone.{i}.weight"), &wshape)?;
            let bias = get(&format!("backbone.{i}.bias"), &bshape)?;
            let (stride, groups) = (layer.stride, layer.groups);
            model.layers[i] = ConvLayer {
                weight: Param::from_tensor(Tensor::from_data(weight, &device)),
                bias: Param::from_tensor(Tensor::from_data(bias, &device)),
                stride,
                groups,
            };
        }
        if model.feature_dim() != hc.input_dim {
            return Err(Error::BadModelFile {
                path: weights_path,
                message: format!(
                    "head expects {} features, backbone gives {}",
                    hc.input_dim,
                    model.feature_dim()
                ),
            });
        }
        Ok(TrainedModel {
            config,
            backbone: model,
            head,
            device,
        })
    }
}

/// Write to a temporary name and rename, so readers never see half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
