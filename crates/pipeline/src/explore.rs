//! The data explorer: every sample's backbone features (the frozen
//! backbone's pooled output, from the feature cache where training already
//! computed them) projected to two dimensions, and the samples that look
//! like another label than their own.
//!
//! The projection is PCA: the two directions along which the features vary
//! most, found by power iteration on the centred features (two vectors,
//! orthogonalised each step), which never forms the covariance matrix, so it
//! costs `O(samples x features)` per step. PCA by hand rather than a crate:
//! it is thirty lines here, where the linear-algebra crates that offer it
//! (linfa, nalgebra's SVD) would bring a second matrix library for one call.
//! t-SNE and UMAP have no maintained pure-Rust crate that fits.
//!
//! A sample is flagged when its features lie nearer another label's centre
//! than its own (L2-normalised features, Euclidean distance): a hint of a
//! wrong label, or of an image the backbone cannot tell apart.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use tinystudio_domain::ImpulseConfig;
use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::inference::FeatureExtractor;

use crate::cache::FeatureCache;
use crate::preprocess::image_shape;
use crate::train::{Update, feature_settings};

/// Power iterations at most; they stop earlier once the directions settle.
const ITERATIONS: usize = 200;

pub struct ExploreInput<'a> {
    /// Input settings (size, colour, resize) and backbone width.
    pub impulse: ImpulseConfig,
    /// Preprocessed images ([`preprocess_all`](crate::preprocess_all)).
    pub pixels: Vec<Vec<u8>>,
    /// Content hash of each image: the feature cache's key.
    pub hashes: Vec<String>,
    /// Label index of each sample, if labelled.
    pub labels: Vec<Option<usize>>,
    pub work_dir: PathBuf,
    pub backbones_dir: PathBuf,
    pub cancel: &'a AtomicBool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Explored {
    /// Each sample's place on the map.
    pub points: Vec<[f32; 2]>,
    /// Share of the features' variance along each axis (0..1).
    pub explained: [f64; 2],
    /// For each labelled sample nearer another label's centre than its own:
    /// that label's index, and by how much nearer (see
    /// [`nearer_other_centre`]).
    pub nearer: Vec<Option<(usize, f64)>>,
}

/// Maps the samples. Fails only on a missing backbone or cancellation.
pub fn explore(
    input: ExploreInput<'_>,
    report: &(dyn Fn(Update) + Sync),
) -> anyhow::Result<Explored> {
    // The frozen backbone's pooled features, as training without
    // fine-tuning computes them (and caches them under the same keys).
    let mut impulse = input.impulse;
    impulse.learning.fine_tune_blocks = 0;
    let backbone = ensure_backbone(impulse.learning.alpha, &input.backbones_dir, &mut |line| {
        report(Update::Log(line.to_owned()))
    })
    .map_err(|e| anyhow::anyhow!("backbone: {e}"))?;
    let extractor = FeatureExtractor::new(&backbone, image_shape(&impulse), 0)?;
    let settings = feature_settings(&impulse);
    let fingerprint = extractor.backbone_fingerprint().to_owned();
    let keys: Vec<String> = input
        .hashes
        .iter()
        .map(|h| FeatureCache::key(&[h, &settings, &fingerprint]))
        .collect();
    let inputs: Vec<(&str, &[u8])> = keys
        .iter()
        .zip(&input.pixels)
        .map(|(k, p)| (k.as_str(), p.as_slice()))
        .collect();
    let (rows, cached) = FeatureCache::new(&input.work_dir).rows(
        &extractor,
        &inputs,
        input.cancel,
        &mut |done| report(Update::Progress(0.8 * done)),
    )?;
    report(Update::Log(format!(
        "features of {} samples ({cached} from the cache)",
        inputs.len()
    )));
    let dim = extractor.row_len();
    let (points, explained) = pca2(&rows, dim);
    report(Update::Progress(0.95));
    let nearer = nearer_other_centre(&rows, dim, &input.labels);
    Ok(Explored {
        points,
        explained,
        nearer,
    })
}

/// The rows (`n x dim`, row-major) projected on their two principal axes,
/// and the share of the variance each axis holds.
pub fn pca2(rows: &[f32], dim: usize) -> (Vec<[f32; 2]>, [f64; 2]) {
    let n = rows.len().checked_div(dim).unwrap_or(0);
    if n == 0 {
        return (Vec::new(), [0.0; 2]);
    }
    let mut mean = vec![0f64; dim];
    for row in rows.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred: Vec<f64> = rows
        .chunks_exact(dim)
        .flat_map(|row| row.iter().zip(&mean).map(|(&x, m)| f64::from(x) - m))
        .collect();
    let total: f64 = centred.iter().map(|x| x * x).sum();

    // Start from fixed, different vectors so the result is reproducible.
    let mut axes: [Vec<f64>; 2] = [
        (0..dim).map(|i| 1.0 + (i % 7) as f64).collect(),
        (0..dim)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
    ];
    orthonormalise(&mut axes);
    for _ in 0..ITERATIONS {
        // axis <- Xᵀ (X axis): the covariance applied without forming it.
        let mut next = [vec![0f64; dim], vec![0f64; dim]];
        for row in centred.chunks_exact(dim) {
            for (axis, out) in axes.iter().zip(next.iter_mut()) {
                let p: f64 = row.iter().zip(axis).map(|(x, a)| x * a).sum();
                for (o, x) in out.iter_mut().zip(row) {
                    *o += p * x;
                }
            }
        }
        orthonormalise(&mut next);
        let settled = axes
            .iter()
            .zip(&next)
            .all(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>().abs() > 1.0 - 1e-10);
        axes = next;
        if settled {
            break;
        }
    }
    let mut variance = [0f64; 2];
    let points = centred
        .chunks_exact(dim)
        .map(|row| {
            let mut point = [0f32; 2];
            for (k, axis) in axes.iter().enumerate() {
                let p: f64 = row.iter().zip(axis).map(|(x, a)| x * a).sum();
                variance[k] += p * p;
                point[k] = p as f32;
            }
            point
        })
        .collect();
    let explained = if total > 0.0 {
        [variance[0] / total, variance[1] / total]
    } else {
        [0.0; 2]
    };
    (points, explained)
}

/// Gram-Schmidt on two vectors, then unit length.
fn orthonormalise(axes: &mut [Vec<f64>; 2]) {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
    let n0 = norm(&axes[0]);
    axes[0].iter_mut().for_each(|x| *x /= n0);
    let dot: f64 = axes[0].iter().zip(&axes[1]).map(|(a, b)| a * b).sum();
    let [first, second] = axes;
    for (b, a) in second.iter_mut().zip(first.iter()) {
        *b -= dot * a;
    }
    let n1 = norm(second);
    second.iter_mut().for_each(|x| *x /= n1);
}

/// For each labelled row: the label whose centre (of the L2-normalised
/// rows) is nearer than its own label's, if any, with the difference of the
/// two squared distances (0..4: the larger, the surer).
pub fn nearer_other_centre(
    rows: &[f32],
    dim: usize,
    labels: &[Option<usize>],
) -> Vec<Option<(usize, f64)>> {
    let unit = |row: &[f32]| -> Vec<f64> {
        let norm = row
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        row.iter().map(|&x| f64::from(x) / norm).collect()
    };
    let classes = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let mut centres = vec![vec![0f64; dim]; classes];
    let mut counts = vec![0usize; classes];
    for (row, label) in rows.chunks_exact(dim.max(1)).zip(labels) {
        if let Some(l) = *label {
            for (c, x) in centres[l].iter_mut().zip(unit(row)) {
                *c += x;
            }
            counts[l] += 1;
        }
    }
    for (centre, &count) in centres.iter_mut().zip(&counts) {
        centre.iter_mut().for_each(|c| *c /= count.max(1) as f64);
    }
    rows.chunks_exact(dim.max(1))
        .zip(labels)
        .map(|(row, label)| {
            let own = (*label)?;
            let row = unit(row);
            let distance =
                |c: &[f64]| -> f64 { row.iter().zip(c).map(|(x, c)| (x - c).powi(2)).sum() };
            let own_distance = distance(&centres[own]);
            (0..classes)
                .filter(|&l| l != own && counts[l] > 0)
                .map(|l| (l, distance(&centres[l])))
                .filter(|&(_, d)| d < own_distance)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(l, d)| (l, own_distance - d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_direction_of_most_variance() {
        // Points along (1, 1, 0) with a little spread along (0, 0, 1).
        let mut rows = Vec::new();
        for i in 0..50 {
            let t = i as f32 - 25.0;
            let z = if i % 2 == 0 { 0.5 } else { -0.5 };
            rows.extend([t, t, z]);
        }
        let (points, explained) = pca2(&rows, 3);
        assert_eq!(points.len(), 50);
        assert!(explained[0] > 0.99, "{explained:?}");
        assert!(explained[1] > 0.0 && explained[0] + explained[1] <= 1.0 + 1e-9);
        // The first axis orders the points as t does (up to its sign).
        let sign = (points[49][0] - points[0][0]).signum();
        assert!(points.windows(2).all(|w| (w[1][0] - w[0][0]) * sign > 0.0));
        // Projection keeps distances along the main axis: 49 * sqrt(2).
        let span = (points[49][0] - points[0][0]).abs();
        assert!((span - 49.0 * 2f32.sqrt()).abs() < 1e-3, "{span}");
    }

    #[test]
    fn a_sample_nearer_another_labels_centre_is_flagged() {
        // Label 0 near (1, 0), label 1 near (0, 1); the last sample is
        // labelled 0 but lies by the label-1 samples.
        let rows = [1.0, 0.1, 1.0, -0.1, 0.1, 1.0, -0.1, 1.0, 0.05, 1.0];
        let labels = [Some(0), Some(0), Some(1), Some(1), Some(0)];
        let nearer = nearer_other_centre(&rows, 2, &labels);
        assert_eq!(nearer[..4], [None, None, None, None]);
        let (label, margin) = nearer[4].expect("flagged");
        assert_eq!(label, 1);
        assert!(margin > 0.5, "{margin}");
        let unlabelled = nearer_other_centre(&rows, 2, &[Some(0), Some(0), Some(1), Some(1), None]);
        assert_eq!(unlabelled[4], None, "an unlabelled sample has no own label");
    }
}
