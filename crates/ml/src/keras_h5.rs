//! Reads MobileNetV1 weights from the two HDF5 layouts Keras publishes.
//!
//! * Full saved models (`model.save("x.h5")`): layer groups live under `model_weights/`.
//! * Weights-only files (`save_weights`, e.g. Keras Applications'
//!   `mobilenet_2_5_128_tf_no_top.h5`): layer groups sit at the file root.
//!
//! Inside a layer group Keras nests the variables once more, under a name that depends
//! on the Keras version (`conv1/conv1/kernel:0` in Keras 2, sometimes `conv1/kernel:0`
//! or `conv1/vars/0` in others). Rather than trusting the `weight_names` attribute
//! (fixed-length byte strings in old files, variable-length in new ones) we walk the
//! layer group and pick datasets by the last component of their name (`kernel`,
//! `depthwise_kernel`, `gamma`, ...), which works for every Keras 2 file we have seen.
//!
//! We use `hdf5-metno` (the maintained fork of `hdf5-rust`) against the system
//! libhdf5 rather than a hand-written HDF5 parser: HDF5 has several B-tree and
//! heap versions, and Keras files written by different h5py versions use different
//! ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdf5::{Group, LocationType};
use hdf5_metno as hdf5;

use crate::error::{Error, Result};

/// Output channels of conv1 and of the 13 pointwise layers at width 1.0.
pub const BASE_CHANNELS: [usize; 14] = [
    32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024,
];

/// Depthwise layers (1-based, as in `conv_dw_N`) that downsample with stride 2.
pub const STRIDE2_BLOCKS: [usize; 4] = [2, 4, 6, 12];

/// Number of depthwise-separable blocks in MobileNetV1.
pub const NUM_BLOCKS: usize = 13;

/// Channel counts for a width multiplier exactly as Keras computes them
/// (`int(filters * alpha)`), so our layer shapes match the published files.
pub fn channels_for_alpha(alpha: f32) -> [usize; 14] {
    // Through f64 like Python does; `as usize` truncates like `int()`.
    BASE_CHANNELS.map(|c| (c as f64 * f64::from(alpha)) as usize)
}

/// A dense f32 array in Keras's own layout (row-major, last axis fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { shape, data }
    }
}

/// Batch normalisation parameters; Keras's MobileNet uses epsilon 1e-3.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub moving_mean: Vec<f32>,
    pub moving_variance: Vec<f32>,
}

/// Keras's `BatchNormalization` default epsilon, used by MobileNet.
pub const BN_EPSILON: f32 = 1e-3;

impl BatchNorm {
    pub fn len(&self) -> usize {
        self.gamma.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gamma.is_empty()
    }

    /// Per-channel (scale, shift) so that `bn(x) = scale * x + shift` in inference mode.
    pub fn scale_shift(&self) -> (Vec<f32>, Vec<f32>) {
        let mut scale = Vec::with_capacity(self.len());
        let mut shift = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let s = self.gamma[i] / (self.moving_variance[i] + BN_EPSILON).sqrt();
            scale.push(s);
            shift.push(self.beta[i] - self.moving_mean[i] * s);
        }
        (scale, shift)
    }

    /// Keeps only the listed channels (used to derive narrower backbones).
    pub fn select(&self, keep: &[usize]) -> BatchNorm {
        let pick = |v: &[f32]| keep.iter().map(|&i| v[i]).collect::<Vec<_>>();
        BatchNorm {
            gamma: pick(&self.gamma),
            beta: pick(&self.beta),
            moving_mean: pick(&self.moving_mean),
            moving_variance: pick(&self.moving_variance),
        }
    }
}

/// A bias-free convolution followed by batch norm, as every MobileNetV1 layer is.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvBn {
    /// Regular conv: `[kh, kw, in, out]`; depthwise: `[kh, kw, channels, 1]`.
    pub kernel: Array,
    pub bn: BatchNorm,
}

/// Keras's ImageNet classifier (`conv_preds`, a 1x1 conv with bias).
#[derive(Clone, Debug, PartialEq)]
pub struct Classifier {
    /// `[1, 1, features, classes]`
    pub kernel: Array,
    /// `[classes]`
    pub bias: Vec<f32>,
}

/// All MobileNetV1 weights, still in Keras layout and with batch norm unfolded, so
/// they can be narrowed (derived widths) or written back before being turned into a
/// burn model.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetV1Weights {
    /// `conv1`: `[3, 3, 3, c0]`
    pub conv1: ConvBn,
    /// `conv_dw_1..=13`: `[3, 3, c_{i-1}, 1]`
    pub depthwise: Vec<ConvBn>,
    /// `conv_pw_1..=13`: `[1, 1, c_{i-1}, c_i]`
    pub pointwise: Vec<ConvBn>,
    /// `conv_preds`, present only in full ImageNet models.
    pub classifier: Option<Classifier>,
}

impl MobileNetV1Weights {
    /// Output channels of conv1 and each pointwise layer.
    pub fn channels(&self) -> [usize; 14] {
        let mut c = [0; 14];
        c[0] = self.conv1.kernel.shape[3];
        for (i, pw) in self.pointwise.iter().enumerate() {
            c[i + 1] = pw.kernel.shape[3];
        }
        c
    }

    /// Dimension of the pooled feature vector (pointwise-13 channels).
    pub fn feature_dim(&self) -> usize {
        self.channels()[13]
    }

    /// The Keras width multiplier these channel counts correspond to, if any.
    pub fn alpha(&self) -> Option<f32> {
        let c = self.channels();
        crate::backbones::ALPHAS
            .iter()
            .copied()
            .find(|&a| channels_for_alpha(a) == c)
    }

    /// Checks that every layer's shape chains onto the previous one, so a truncated
    /// or mixed-up file is rejected here instead of failing deep inside burn.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if self.depthwise.len() != NUM_BLOCKS || self.pointwise.len() != NUM_BLOCKS {
            return Err(Error::BadModelFile {
                path: path.to_owned(),
                message: format!(
                    "expected {NUM_BLOCKS} depthwise and pointwise layers, found {} and {}",
                    self.depthwise.len(),
                    self.pointwise.len()
                ),
            });
        }
        let c = self.channels();
        check_conv_bn(path, "conv1", &self.conv1, &[3, 3, 3, c[0]])?;
        for i in 0..NUM_BLOCKS {
            let cin = c[i];
            let name = format!("conv_dw_{}", i + 1);
            check_conv_bn(path, &name, &self.depthwise[i], &[3, 3, cin, 1])?;
            let name = format!("conv_pw_{}", i + 1);
            check_conv_bn(path, &name, &self.pointwise[i], &[1, 1, cin, c[i + 1]])?;
        }
        if let Some(cls) = &self.classifier {
            let classes = cls.kernel.shape.get(3).copied().unwrap_or(0);
            check_shape(
                path,
                "conv_preds",
                "kernel",
                &cls.kernel.shape,
                &[1, 1, c[13], classes],
            )?;
            check_shape(path, "conv_preds", "bias", &[cls.bias.len()], &[classes])?;
        }
        Ok(())
    }
}

fn check_shape(
    path: &Path,
    layer: &str,
    dataset: &str,
    found: &[usize],
    expected: &[usize],
) -> Result<()> {
    if found != expected {
        return Err(Error::BadShape {
            path: path.to_owned(),
            layer: layer.to_owned(),
            dataset: dataset.to_owned(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        });
    }
    Ok(())
}

fn check_conv_bn(path: &Path, layer: &str, conv: &ConvBn, expected: &[usize]) -> Result<()> {
    let kernel = if expected[3] == 1 && layer.starts_with("conv_dw") {
        "depthwise_kernel"
    } else {
        "kernel"
    };
    check_shape(path, layer, kernel, &conv.kernel.shape, expected)?;
    let channels = if kernel == "depthwise_kernel" {
        expected[2]
    } else {
        expected[3]
    };
    let bn_layer = format!("{layer}_bn");
    for (name, v) in [
        ("gamma", &conv.bn.gamma),
        ("beta", &conv.bn.beta),
        ("moving_mean", &conv.bn.moving_mean),
        ("moving_variance", &conv.bn.moving_variance),
    ] {
        check_shape(path, &bn_layer, name, &[v.len()], &[channels])?;
    }
    Ok(())
}

/// Loads MobileNetV1 weights from either Keras layout, detecting which one it is.
///
/// The width is read from the file (conv1's output channels and each pointwise
/// layer's), not from its name, and the result is validated for internal consistency.
pub fn load_mobilenet_v1(path: &Path) -> Result<MobileNetV1Weights> {
    let file = hdf5::File::open(path).map_err(|e| h5_err(path, e))?;
    let root: Group = if file.link_exists("model_weights") {
        file.group("model_weights").map_err(|e| h5_err(path, e))?
    } else {
        (*file).clone()
    };
    let reader = LayerReader {
        path: path.to_owned(),
        root,
    };
    let conv1 = reader.conv_bn("conv1", "kernel")?;
    let mut depthwise = Vec::with_capacity(NUM_BLOCKS);
    let mut pointwise = Vec::with_capacity(NUM_BLOCKS);
    for i in 1..=NUM_BLOCKS {
        depthwise.push(reader.conv_bn(&format!("conv_dw_{i}"), "depthwise_kernel")?);
        pointwise.push(reader.conv_bn(&format!("conv_pw_{i}"), "kernel")?);
    }
    let classifier = if reader.root.link_exists("conv_preds") {
        let mut ds = reader.datasets("conv_preds")?;
        Some(Classifier {
            kernel: reader.take(&mut ds, "conv_preds", "kernel")?,
            bias: reader.take(&mut ds, "conv_preds", "bias")?.data,
        })
    } else {
        None
    };
    let weights = MobileNetV1Weights {
        conv1,
        depthwise,
        pointwise,
        classifier,
    };
    weights.validate(path)?;
    Ok(weights)
}

fn h5_err(path: &Path, e: hdf5::Error) -> Error {
    Error::Hdf5 {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

struct LayerReader {
    path: PathBuf,
    root: Group,
}

impl LayerReader {
    /// Every dataset below the layer group, keyed by the last name component without
    /// the TensorFlow `:0` suffix.
    fn datasets(&self, layer: &str) -> Result<BTreeMap<String, hdf5::Dataset>> {
        if !self.root.link_exists(layer) {
            return Err(Error::MissingLayer {
                path: self.path.clone(),
                layer: layer.to_owned(),
            });
        }
        let group = self.root.group(layer).map_err(|e| h5_err(&self.path, e))?;
        let mut out = BTreeMap::new();
        self.collect(&group, 0, &mut out)?;
        Ok(out)
    }

    fn collect(
        &self,
        group: &Group,
        depth: usize,
        out: &mut BTreeMap<String, hdf5::Dataset>,
    ) -> Result<()> {
        // Keras nests at most two levels; the limit guards against link cycles.
        if depth > 4 {
            return Ok(());
        }
        let names = group.member_names().map_err(|e| h5_err(&self.path, e))?;
        for name in names {
            match group.loc_type_by_name(&name) {
                Ok(LocationType::Group) => {
                    let sub = group.group(&name).map_err(|e| h5_err(&self.path, e))?;
                    self.collect(&sub, depth + 1, out)?;
                }
                Ok(LocationType::Dataset) => {
                    let ds = group.dataset(&name).map_err(|e| h5_err(&self.path, e))?;
                    let key = name.strip_suffix(":0").unwrap_or(&name).to_owned();
                    out.entry(key).or_insert(ds);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn take(
        &self,
        datasets: &mut BTreeMap<String, hdf5::Dataset>,
        layer: &str,
        name: &str,
    ) -> Result<Array> {
        let ds = datasets.remove(name).ok_or_else(|| Error::MissingDataset {
            path: self.path.clone(),
            layer: layer.to_owned(),
            dataset: name.to_owned(),
        })?;
        let shape = ds.shape();
        let data = ds.read_raw::<f32>().map_err(|e| h5_err(&self.path, e))?;
        if data.len() != shape.iter().product::<usize>() {
            return Err(Error::BadModelFile {
                path: self.path.clone(),
                message: format!("{layer}/{name}: data length does not match its shape"),
            });
        }
        Ok(Array::new(shape, data))
    }

    fn conv_bn(&self, layer: &str, kernel_name: &str) -> Result<ConvBn> {
        let mut ds = self.datasets(layer)?;
        let kernel = self.take(&mut ds, layer, kernel_name)?;
        if kernel.shape.len() != 4 {
            return Err(Error::BadShape {
                path: self.path.clone(),
                layer: layer.to_owned(),
                dataset: kernel_name.to_owned(),
                expected: vec![0; 4],
                found: kernel.shape,
            });
        }
        let bn_layer = format!("{layer}_bn");
        let mut bn = self.datasets(&bn_layer)?;
        let mut vec = |name: &str| self.take(&mut bn, &bn_layer, name).map(|a| a.data);
        Ok(ConvBn {
            kernel,
            bn: BatchNorm {
                gamma: vec("gamma")?,
                beta: vec("beta")?,
                moving_mean: vec("moving_mean")?,
                moving_variance: vec("moving_variance")?,
            },
        })
    }
}

/// Writes weights in the Keras weights-only ("no top") layout, with the
/// `layer_names`/`weight_names` attributes Keras's `load_weights` reads.
///
/// Used to store derived backbones next to the published ones and to test the
/// root-level layout without a network.
pub fn save_mobilenet_v1(weights: &MobileNetV1Weights, path: &Path) -> Result<()> {
    let file = hdf5::File::create(path).map_err(|e| h5_err(path, e))?;
    let mut entries: Vec<Entry<'_>> = Vec::new();
    add_conv_bn(&mut entries, "conv1", "kernel", &weights.conv1);
    for i in 0..weights.depthwise.len() {
        add_conv_bn(
            &mut entries,
            &format!("conv_dw_{}", i + 1),
            "depthwise_kernel",
            &weights.depthwise[i],
        );
        add_conv_bn(
            &mut entries,
            &format!("conv_pw_{}", i + 1),
            "kernel",
            &weights.pointwise[i],
        );
    }
    if let Some(cls) = &weights.classifier {
        entries.push((
            "conv_preds".into(),
            "kernel",
            cls.kernel.shape.clone(),
            &cls.kernel.data,
        ));
        entries.push(("conv_preds".into(), "bias", vec![cls.bias.len()], &cls.bias));
    }
    let mut layer_names: Vec<String> = Vec::new();
    let mut weight_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (layer, name, shape, data) in &entries {
        if !file.link_exists(layer) {
            file.create_group(layer).map_err(|e| h5_err(path, e))?;
            layer_names.push(layer.clone());
        }
        let group = file.group(layer).map_err(|e| h5_err(path, e))?;
        if !group.link_exists(layer) {
            group.create_group(layer).map_err(|e| h5_err(path, e))?;
        }
        let inner = group.group(layer).map_err(|e| h5_err(path, e))?;
        let ds_name = format!("{name}:0");
        inner
            .new_dataset::<f32>()
            .shape(shape.as_slice())
            .create(ds_name.as_str())
            .and_then(|ds| ds.write_raw(data))
            .map_err(|e| h5_err(path, e))?;
        weight_names
            .entry(layer.clone())
            .or_default()
            .push(format!("{layer}/{ds_name}"));
    }
    write_str_attr(&file, "layer_names", &layer_names).map_err(|e| h5_err(path, e))?;
    for (layer, names) in &weight_names {
        let group = file.group(layer).map_err(|e| h5_err(path, e))?;
        write_str_attr(&group, "weight_names", names).map_err(|e| h5_err(path, e))?;
    }
    write_scalar_str_attr(&file, "backend", "tensorflow").map_err(|e| h5_err(path, e))?;
    write_scalar_str_attr(&file, "keras_version", "2.8.0").map_err(|e| h5_err(path, e))?;
    Ok(())
}

/// `(layer, variable, shape, values)` of one dataset to write.
type Entry<'a> = (String, &'static str, Vec<usize>, &'a [f32]);

fn add_conv_bn<'a>(entries: &mut Vec<Entry<'a>>, name: &str, kname: &'static str, c: &'a ConvBn) {
    entries.push((
        name.to_owned(),
        kname,
        c.kernel.shape.clone(),
        &c.kernel.data,
    ));
    let bn = format!("{name}_bn");
    for (var, v) in [
        ("gamma", &c.bn.gamma),
        ("beta", &c.bn.beta),
        ("moving_mean", &c.bn.moving_mean),
        ("moving_variance", &c.bn.moving_variance),
    ] {
        entries.push((bn.clone(), var, vec![v.len()], v));
    }
}

fn write_str_attr(group: &Group, name: &str, values: &[String]) -> hdf5::Result<()> {
    use hdf5::types::VarLenUnicode;
    let values: Vec<VarLenUnicode> = values
        .iter()
        .map(|s| s.parse().unwrap_or_default())
        .collect();
    group
        .new_attr::<VarLenUnicode>()
        .shape(values.len())
        .create(name)?
        .write_raw(&values)
}

fn write_scalar_str_attr(group: &Group, name: &str, value: &str) -> hdf5::Result<()> {
    use hdf5::types::VarLenUnicode;
    let value: VarLenUnicode = value.parse().unwrap_or_default();
    group
        .new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&value)
}
