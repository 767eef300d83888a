//! The backbone store: finds, downloads, verifies and derives MobileNetV1 weights.
//!
//! Keras Applications publishes ImageNet weights for widths 0.25, 0.5, 0.75 and 1.0.
//! Narrower widths (0.1, 0.2) and 0.35 matter on microcontrollers but have no
//! published weights, so we **derive** them from the nearest wider published width:
//!
//! 1. Fold each layer's batch norm scale `gamma / sqrt(var + eps)` into its kernel, so a
//!    channel's weight norm reflects how strongly it actually fires (batch norm can
//!    rescale any raw kernel arbitrarily).
//! 2. For conv1, keep the `int(32 * alpha)` output channels with the largest L2 norm
//!    of their folded kernel.
//! 3. For each block, the depthwise layer and its batch norm keep exactly the channels
//!    the previous layer kept; the pointwise layer drops the input rows of removed
//!    channels, then keeps its `int(c * alpha)` output channels with the largest L2
//!    norm over the remaining inputs.
//! 4. Kept channels stay in their original order and keep their original (unfolded)
//!    weights and batch norm statistics.
//!
//! The derived network is not ImageNet-trained at its width: it is a pruned wider
//! network whose features are still far better than random for transfer learning, but
//! accuracy should be expected to lag a properly trained network. [`Backbone::source`]
//! records which it is so the UI can say so.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::keras_h5::{
    Array, ConvBn, MobileNetV1Weights, NUM_BLOCKS, channels_for_alpha, load_mobilenet_v1,
};

pub use crate::keras_h5::ALPHAS;

/// Widths with ImageNet weights published by Keras Applications.
pub const PUBLISHED_ALPHAS: [f32; 4] = [0.25, 0.5, 0.75, 1.0];

/// Keras publishes one weight set per training resolution; 224 is what Keras picks
/// for inputs of any other size (such as our 96x96), and what the shared copy is.
pub const DEFAULT_RESOLUTION: u32 = 224;

/// Files whose checksum we know; a mismatch means a corrupted or different file.
/// Keras does not publish checksums for the MobileNetV1 "no top" files.
const KNOWN_SHA256: &[(&str, &str)] = &[(
    "mobilenet_v1_0.25_224_imagenet.h5",
    "dc1ff623e6cd99c3cc0dd2821ca0807ba013606af5a4e2afd4488fbf26a8b589",
)];

/// Where a backbone's weights came from, for the UI and the saved model config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackboneSource {
    /// ImageNet weights published by Keras Applications at exactly this width.
    ImageNet { file: String },
    /// Pruned from a published wider width (see the module docs for the method).
    Derived { from_alpha: f32, file: String },
}

/// MobileNetV1 weights ready to be built into a burn model.
#[derive(Clone, Debug)]
pub struct Backbone {
    pub alpha: f32,
    pub weights: MobileNetV1Weights,
    pub source: BackboneSource,
}

impl Backbone {
    /// True only for widths trained on ImageNet as they are (not derived).
    pub fn is_imagenet_pretrained(&self) -> bool {
        matches!(self.source, BackboneSource::ImageNet { .. })
    }

    /// One line for logs and the UI.
    pub fn description(&self) -> String {
        match &self.source {
            BackboneSource::ImageNet { file } => {
                format!("MobileNetV1 {} ImageNet weights ({file})", self.alpha)
            }
            BackboneSource::Derived { from_alpha, file } => format!(
                "MobileNetV1 {} derived from the {from_alpha} ImageNet weights ({file}) by keeping \
                 the strongest channels; not ImageNet-trained at this width",
                self.alpha
            ),
        }
    }

    /// A checksum of every weight, stored with trained models so loading one against
    /// a different backbone file fails loudly instead of producing garbage.
    pub fn fingerprint(&self) -> String {
        weights_fingerprint(&self.weights)
    }
}

pub(crate) fn weights_fingerprint(w: &MobileNetV1Weights) -> String {
    let mut h = Sha256::new();
    let mut feed = |a: &[f32]| {
        for v in a {
            h.update(v.to_le_bytes());
        }
    };
    let mut conv_bn = |c: &ConvBn| {
        feed(&c.kernel.data);
        feed(&c.bn.gamma);
        feed(&c.bn.beta);
        feed(&c.bn.moving_mean);
        feed(&c.bn.moving_variance);
    };
    conv_bn(&w.conv1);
    for i in 0..w.depthwise.len() {
        conv_bn(&w.depthwise[i]);
        conv_bn(&w.pointwise[i]);
    }
    hex::encode(h.finalize())
}

/// Returns the supported alpha equal to `alpha` (within float noise), or an error.
pub fn canonical_alpha(alpha: f32) -> Result<f32> {
    ALPHAS
        .iter()
        .copied()
        .find(|a| (a - alpha).abs() < 1e-4)
        .ok_or(Error::UnsupportedAlpha(alpha))
}

/// The published width a given width is loaded or derived from.
pub fn source_alpha(alpha: f32) -> Result<f32> {
    let alpha = canonical_alpha(alpha)?;
    Ok(PUBLISHED_ALPHAS
        .iter()
        .copied()
        .find(|&p| p >= alpha - 1e-4)
        .unwrap_or(1.0))
}

fn keras_alpha_tag(alpha: f32) -> &'static str {
    match (alpha * 100.0).round() as u32 {
        25 => "2_5",
        50 => "5_0",
        75 => "7_5",
        _ => "1_0",
    }
}

/// The file name Keras Applications uses for the weights-only ("no top") file.
pub fn keras_no_top_file_name(alpha: f32, resolution: u32) -> String {
    format!(
        "mobilenet_{}_{resolution}_tf_no_top.h5",
        keras_alpha_tag(alpha)
    )
}

/// Where Keras Applications publishes the MobileNetV1 weights.
pub const KERAS_BASE_URL: &str =
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet";

/// Public Keras Applications URL of the "no top" file.
pub fn keras_no_top_url(alpha: f32, resolution: u32) -> String {
    format!(
        "{KERAS_BASE_URL}/{}",
        keras_no_top_file_name(alpha, resolution)
    )
}

/// A download may take this long in total before it is abandoned.
const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Name of a full saved Keras model with the ImageNet head (as in the shared folder).
pub fn full_model_file_name(alpha: f32, resolution: u32) -> String {
    let a = match (alpha * 100.0).round() as u32 {
        25 => "0.25",
        50 => "0.5",
        75 => "0.75",
        _ => "1.0",
    };
    format!("mobilenet_v1_{a}_{resolution}_imagenet.h5")
}

/// Makes sure the weights for `alpha` are available in `dir` and returns them.
///
/// For a published width this loads the Keras "no top" file or a full saved model
/// of the same width, downloading the "no top" file from Keras Applications if
/// neither is there. Other widths are derived from the nearest wider published width
/// (which is ensured the same way). `log` receives one line per step taken, for the
/// job log.
pub fn ensure_backbone(alpha: f32, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<Backbone> {
    ensure_backbone_from(alpha, dir, KERAS_BASE_URL, log)
}

/// [`ensure_backbone`] downloading from a mirror of Keras Applications' folder
/// (same file names) instead of Google's; also how the download is tested offline.
pub fn ensure_backbone_from(
    alpha: f32,
    dir: &Path,
    base_url: &str,
    log: &mut dyn FnMut(&str),
) -> Result<Backbone> {
    let alpha = canonical_alpha(alpha)?;
    let src_alpha = source_alpha(alpha)?;
    let (path, weights) = ensure_published(src_alpha, dir, base_url, log)?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if (src_alpha - alpha).abs() < 1e-4 {
        return Ok(Backbone {
            alpha,
            weights,
            source: BackboneSource::ImageNet { file },
        });
    }
    let derived = derive_narrower(&weights, alpha)?;
    log(&format!(
        "derived MobileNetV1 {alpha} from the {src_alpha} weights in {file} \
         (kept the strongest channels per layer)"
    ));
    Ok(Backbone {
        alpha,
        weights: derived,
        source: BackboneSource::Derived {
            from_alpha: src_alpha,
            file,
        },
    })
}

/// Whether [`ensure_backbone`] can provide `alpha` from the files in `dir`
/// alone, without a download.
pub fn is_on_disk(alpha: f32, dir: &Path) -> bool {
    source_alpha(alpha).is_ok_and(|src| {
        published_candidates(src, dir)
            .iter()
            .any(|path| path.is_file())
    })
}

fn published_candidates(alpha: f32, dir: &Path) -> [PathBuf; 2] {
    [
        dir.join(keras_no_top_file_name(alpha, DEFAULT_RESOLUTION)),
        dir.join(full_model_file_name(alpha, DEFAULT_RESOLUTION)),
    ]
}

fn ensure_published(
    alpha: f32,
    dir: &Path,
    base_url: &str,
    log: &mut dyn FnMut(&str),
) -> Result<(PathBuf, MobileNetV1Weights)> {
    let candidates = published_candidates(alpha, dir);
    for path in &candidates {
        if path.is_file() {
            verify_known_checksum(path)?;
            let weights = load_expected(path, alpha)?;
            log(&format!("using backbone weights {}", path.display()));
            return Ok((path.clone(), weights));
        }
    }
    let url = format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        keras_no_top_file_name(alpha, DEFAULT_RESOLUTION)
    );
    let target = &candidates[0];
    log(&format!(
        "backbone weights for alpha {alpha} not found in {}; downloading {url}",
        dir.display()
    ));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // Unique per process and call, so concurrent jobs never write the same file.
    static DOWNLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}-{}.part",
        keras_no_top_file_name(alpha, DEFAULT_RESOLUTION),
        std::process::id(),
        DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = download(&url, &tmp).and_then(|(bytes, sha)| {
        let weights = load_expected(&tmp, alpha).map_err(|e| Error::Download {
            url: url.clone(),
            message: format!("not a usable MobileNetV1 {alpha} weights file ({e})"),
        })?;
        Ok((bytes, sha, weights))
    });
    let (bytes, sha, weights) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // Rename last, so a crash mid-download never leaves a truncated file under the
    // real name for the next run to trust.
    fs::rename(&tmp, target).map_err(|e| Error::io(target, e))?;
    log(&format!(
        "downloaded {} ({bytes} bytes, sha256 {sha}), verified all 27 layers",
        target.display()
    ));
    Ok((target.clone(), weights))
}

fn load_expected(path: &Path, alpha: f32) -> Result<MobileNetV1Weights> {
    let weights = load_mobilenet_v1(path)?;
    let expected = channels_for_alpha(alpha);
    if weights.channels() != expected {
        return Err(Error::BadModelFile {
            path: path.to_owned(),
            message: format!(
                "layer widths {:?} do not match MobileNetV1 alpha {alpha} ({expected:?})",
                weights.channels()
            ),
        });
    }
    Ok(weights)
}

fn file_sha256(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn verify_known_checksum(path: &Path) -> Result<()> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    if let Some((_, want)) = KNOWN_SHA256.iter().find(|(n, _)| *n == name) {
        let got = file_sha256(path)?;
        if got != *want {
            return Err(Error::BadModelFile {
                path: path.to_owned(),
                message: format!(
                    "sha256 is {got}, expected {want}; delete the file to re-fetch it"
                ),
            });
        }
    }
    Ok(())
}

/// Downloads `url` into `dest`, returning its size and sha256.
fn download(url: &str, dest: &Path) -> Result<(u64, String)> {
    let err = |message: String| Error::Download {
        url: url.to_owned(),
        message,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| err(e.to_string()))?;
    let mut reader = response.body_mut().as_reader();
    let mut file = fs::File::create(dest).map_err(|e| Error::io(dest, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| err(e.to_string()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        std::io::Write::write_all(&mut file, &buf[..n]).map_err(|e| Error::io(dest, e))?;
        total += n as u64;
    }
    file.sync_all().map_err(|e| Error::io(dest, e))?;
    Ok((total, hex::encode(h.finalize())))
}

/// Indices of the `k` largest values, returned in ascending index order.
fn top_k(norms: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..norms.len()).collect();
    idx.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// Narrows a published backbone to `alpha` by keeping, layer by layer, the channels
/// with the largest batch-norm-folded kernel norms (method in the module docs).
pub fn derive_narrower(source: &MobileNetV1Weights, alpha: f32) -> Result<MobileNetV1Weights> {
    let alpha = canonical_alpha(alpha)?;
    let target = channels_for_alpha(alpha);
    let have = source.channels();
    if target
        .iter()
        .zip(have.iter())
        .any(|(t, h)| t > h || *t == 0)
    {
        return Err(Error::InvalidInput(format!(
            "cannot derive alpha {alpha} ({target:?} channels) from a backbone with {have:?} channels"
        )));
    }
    // conv1: kernel [3, 3, 3, c0]
    let k = &source.conv1.kernel;
    let (scale, _) = source.conv1.bn.scale_shift();
    let cout = k.shape[3];
    let mut norms = vec![0f32; cout];
    for (i, v) in k.data.iter().enumerate() {
        let o = i % cout;
        norms[o] += (v * scale[o]).powi(2);
    }
    let mut keep = top_k(&norms, target[0]);
    let conv1 = ConvBn {
        kernel: select_last_axis(k, &keep),
        bn: source.conv1.bn.select(&keep),
    };
    let mut depthwise = Vec::with_capacity(NUM_BLOCKS);
    let mut pointwise = Vec::with_capacity(NUM_BLOCKS);
    for b in 0..NUM_BLOCKS {
        // Depthwise: kernel [3, 3, c, 1]; keeps the previous layer's channels.
        let dw = &source.depthwise[b];
        let c = dw.kernel.shape[2];
        let mut data = Vec::with_capacity(9 * keep.len());
        for pos in 0..dw.kernel.shape[0] * dw.kernel.shape[1] {
            for &ch in &keep {
                data.push(dw.kernel.data[pos * c + ch]);
            }
        }
        depthwise.push(ConvBn {
            kernel: Array::new(
                vec![dw.kernel.shape[0], dw.kernel.shape[1], keep.len(), 1],
                data,
            ),
            bn: dw.bn.select(&keep),
        });
        // Pointwise: kernel [1, 1, cin, cout]; drop removed inputs, rank outputs.
        let pw = &source.pointwise[b];
        let cout = pw.kernel.shape[3];
        let (scale, _) = pw.bn.scale_shift();
        let mut norms = vec![0f32; cout];
        for &i in &keep {
            let row = &pw.kernel.data[i * cout..(i + 1) * cout];
            for (o, v) in row.iter().enumerate() {
                norms[o] += (v * scale[o]).powi(2);
            }
        }
        let keep_out = top_k(&norms, target[b + 1]);
        let mut data = Vec::with_capacity(keep.len() * keep_out.len());
        for &i in &keep {
            for &o in &keep_out {
                data.push(pw.kernel.data[i * cout + o]);
            }
        }
        pointwise.push(ConvBn {
            kernel: Array::new(vec![1, 1, keep.len(), keep_out.len()], data),
            bn: pw.bn.select(&keep_out),
        });
        keep = keep_out;
    }
    let derived = MobileNetV1Weights {
        conv1,
        depthwise,
        pointwise,
        classifier: None,
    };
    derived.validate(Path::new("<derived>"))?;
    Ok(derived)
}

/// Keeps the listed indices of the last axis.
fn select_last_axis(a: &Array, keep: &[usize]) -> Array {
    let last = *a.shape.last().unwrap_or(&1);
    let rows = a.data.len() / last.max(1);
    let mut data = Vec::with_capacity(rows * keep.len());
    for r in 0..rows {
        for &k in keep {
            data.push(a.data[r * last + k]);
        }
    }
    let mut shape = a.shape.clone();
    if let Some(l) = shape.last_mut() {
        *l = keep.len();
    }
    Array::new(shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_names_and_channels() {
        assert_eq!(
            keras_no_top_url(0.25, 128),
            "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_2_5_128_tf_no_top.h5"
        );
        assert_eq!(
            keras_no_top_file_name(1.0, 224),
            "mobilenet_1_0_224_tf_no_top.h5"
        );
        assert_eq!(channels_for_alpha(0.25)[0], 8);
        assert_eq!(channels_for_alpha(0.25)[13], 256);
        assert_eq!(channels_for_alpha(0.1)[..3], [3, 6, 12]);
        assert_eq!(channels_for_alpha(0.2)[13], 204);
        assert_eq!(channels_for_alpha(0.35)[13], 358);
        assert_eq!(source_alpha(0.1).unwrap(), 0.25);
        assert_eq!(source_alpha(0.2).unwrap(), 0.25);
        assert_eq!(source_alpha(0.35).unwrap(), 0.5);
        assert_eq!(source_alpha(0.25).unwrap(), 0.25);
        assert!(canonical_alpha(0.3).is_err());
    }

    #[test]
    fn top_k_keeps_order() {
        assert_eq!(top_k(&[0.1, 5.0, 3.0, 4.0], 2), vec![1, 3]);
    }
}
