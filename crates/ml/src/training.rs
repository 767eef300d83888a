//! Training the head (and optionally the last backbone blocks) on cached features.
//!
//! Keras recomputes the frozen backbone on every epoch; we run it once per image
//! (see [`crate::inference::FeatureExtractor`]) and train only on its cached output,
//! which makes 30 epochs over 1,000 images a sub-second job.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::{Rng, split_train_validation};
use crate::error::{Error, Result};
use crate::finetune::Tail;
use crate::inference::{FeatureExtractor, ModelConfig, TrainedModel};
use crate::model::{ConvLayer, Head, HeadConfig, Trainable};

/// Training hyperparameters; saved with the model. Defaults follow Edge Impulse's
/// transfer-learning block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Neurons of the hidden dense layer (ReLU); `None` or 0 for no hidden layer.
    pub hidden_neurons: Option<usize>,
    pub dropout: f32,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Share of the original samples held out for validation (per class).
    pub validation_share: f32,
    pub seed: u64,
    /// With fine-tuned blocks: epochs that train the head alone first (a
    /// random head's gradients would wreck the pretrained blocks); `None`
    /// for a third of the epochs.
    pub frozen_epochs: Option<usize>,
    /// The fine-tuned blocks learn at this fraction of `learning_rate`, at
    /// most [`MAX_BACKBONE_LEARNING_RATE`].
    pub backbone_learning_rate_factor: f64,
}

/// Adam moves every weight by about the learning rate per step whatever its
/// gradient, and the pretrained blocks' weights (batch norm folded in) are
/// small: at 5e-4 one epoch undid CIFAR-3's 88 % (to chance), at 5e-5 they
/// improved it. Keras' transfer-learning guide fine-tunes at 1e-5.
pub const MAX_BACKBONE_LEARNING_RATE: f64 = 5e-5;

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden_neurons: Some(16),
            dropout: 0.1,
            learning_rate: 0.0005,
            batch_size: 32,
            epochs: 20,
            validation_share: 0.2,
            seed: 0,
            frozen_epochs: None,
            backbone_learning_rate_factor: 0.1,
        }
    }
}

impl TrainConfig {
    /// Epochs of head-only training before fine-tuning starts.
    pub fn frozen_epochs(&self) -> usize {
        self.frozen_epochs
            .unwrap_or(self.epochs.div_ceil(3))
            .min(self.epochs)
    }
}

/// What the epoch callback sees. Loss and accuracy are averaged over the epoch's
/// training batches (with dropout active), as Keras reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub loss: f32,
    pub accuracy: f32,
    /// `None` when there is no validation set.
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
}

/// Returned by the epoch callback; `Stop` ends training after this epoch (the job
/// was cancelled, or the caller is satisfied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Cached inputs of the trainable part, one row per sample.
///
/// Rows are what [`FeatureExtractor::extract`] returns for the same extractor:
/// pooled features for a frozen backbone, cut-point activations when blocks are
/// fine-tuned. Augmented variants are extra rows whose `origin` is the index of the
/// original row; they are used for training only, and only when their original is
/// in the training split, so no validation image leaks into training.
#[derive(Clone, Debug, Default)]
pub struct TrainingSet {
    /// `[rows, row_len]`, row-major.
    pub inputs: Vec<f32>,
    /// Class index per row.
    pub labels: Vec<usize>,
    /// Row index of the original sample per row (`origin[i] == i` for originals).
    /// Empty means every row is an original.
    pub origin: Vec<usize>,
    pub class_names: Vec<String>,
}

impl TrainingSet {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// The result of [`train`].
pub struct TrainOutcome {
    /// The model after the last epoch run; with fine-tuning, after the epoch
    /// with the best validation accuracy ([`kept_epoch`](Self::kept_epoch)).
    pub model: TrainedModel,
    pub history: Vec<EpochMetrics>,
    /// The epoch whose weights the model holds (1-based; 0 when no epoch ran).
    pub kept_epoch: usize,
    /// Validation confusion matrix, `confusion[actual][predicted]`, of the final
    /// model (all zeros without a validation set).
    pub confusion: Vec<Vec<u32>>,
    /// True when the callback asked to stop before the last epoch; the model is then
    /// only partly trained (the worker should discard it when the job was cancelled).
    pub stopped: bool,
    pub train_rows: Vec<usize>,
    pub validation_rows: Vec<usize>,
}

/// Trains the head, and the last `extractor.fine_tune_blocks()` backbone blocks if
/// any, with Adam and cross-entropy on cached rows.
pub fn train(
    extractor: &FeatureExtractor,
    set: &TrainingSet,
    config: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochMetrics) -> Control,
) -> Result<TrainOutcome> {
    let row_len = extractor.row_len();
    let rows = set.rows();
    let num_classes = set.class_names.len();
    validate_set(set, row_len, num_classes)?;
    if config.batch_size == 0 {
        return Err(Error::InvalidInput("batch size must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&config.dropout) {
        return Err(Error::InvalidInput(format!(
            "dropout {} must be in [0, 1)",
            config.dropout
        )));
    }
    let origin: Vec<usize> = if set.origin.is_empty() {
        (0..rows).collect()
    } else {
        set.origin.clone()
    };
    let originals: Vec<usize> = (0..rows).filter(|&i| origin[i] == i).collect();
    let original_labels: Vec<usize> = originals.iter().map(|&i| set.labels[i]).collect();
    let (train_o, val_o) =
        split_train_validation(&original_labels, config.validation_share, config.seed);
    let mut in_train = vec![false; rows];
    for &k in &train_o {
        in_train[originals[k]] = true;
    }
    let train_rows: Vec<usize> = (0..rows).filter(|&i| in_train[origin[i]]).collect();
    let validation_rows: Vec<usize> = val_o.iter().map(|&k| originals[k]).collect();

    let device = Device::flex().autodiff();
    let mut rng = Rng::new(config.seed);
    let head_config = HeadConfig {
        input_dim: extractor.feature_dim(),
        hidden: config.hidden_neurons.filter(|&n| n > 0),
        dropout: config.dropout,
        num_classes,
    };
    let tail: Vec<ConvLayer> = extractor
        .tail_layers()
        .iter()
        .map(|l| l.trainable_copy(&device))
        .collect();
    let head = Head::new(&head_config, &mut rng, &device);
    let frozen_epochs = if tail.is_empty() {
        config.epochs
    } else {
        config.frozen_epochs()
    };
    let mut watch = Watch::new(num_classes, validation_rows.len());
    let backbone_lr = (config.learning_rate * config.backbone_learning_rate_factor)
        .min(MAX_BACKBONE_LEARNING_RATE);
    // With fine-tuning, the weights of the best epoch so far: a later epoch
    // may be worse (the pretrained blocks drift), and the person wants the
    // best model the run saw.
    let mut best: Option<(f32, usize, Trainable)> = None;
    let mut history = Vec::new();
    let mut stopped = false;
    let mut order = train_rows.clone();

    // The fine-tuned blocks' forward and backward (see `finetune.rs`); burn
    // keeps their weights and optimiser state, this their NHWC copy.
    let mut fast = if tail.is_empty() {
        None
    } else {
        Some(Tail::new(&tail, &extractor.row_shape())?)
    };
    // Phase 1: the head alone, on the features the frozen tail makes (its
    // output does not change, so it is computed once).
    let pooled;
    let (frozen_set, frozen_shape) = match fast.as_mut() {
        Some(fast) if frozen_epochs > 0 => {
            pooled = TrainingSet {
                inputs: fast.features(&set.inputs, config.batch_size),
                labels: set.labels.clone(),
                origin: set.origin.clone(),
                class_names: set.class_names.clone(),
            };
            (&pooled, vec![extractor.feature_dim()])
        }
        _ => (set, extractor.row_shape()),
    };
    let mut model = Trainable {
        tail: Vec::new(),
        head,
    };
    let mut head_optim = AdamConfig::new().with_epsilon(1e-7).init();
    let mut tail_optim = AdamConfig::new().with_epsilon(1e-7).init();
    for epoch in 1..=config.epochs {
        let tuning = epoch > frozen_epochs;
        if tuning && model.tail.is_empty() {
            model.tail = tail.clone();
        }
        let (epoch_set, shape) = if tuning {
            (set, extractor.row_shape())
        } else {
            (frozen_set, frozen_shape.clone())
        };
        let epoch_row_len: usize = shape.iter().product();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        for batch in order.chunks(config.batch_size) {
            let x = gather(epoch_set, batch, epoch_row_len);
            let labels: Vec<usize> = batch.iter().map(|&i| set.labels[i]).collect();
            let mask = dropout_mask(
                batch.len(),
                model.head.dropout_width(),
                config.dropout,
                &mut rng,
                &device,
            );
            let features = tuning.then(|| {
                let f = fast.as_mut().map(|f| f.forward(&x)).unwrap_or_default();
                // [batch, features], a leaf so the head's backward ends in its gradient.
                Tensor::<2>::from_data(
                    TensorData::new(f, [batch.len(), extractor.feature_dim()]),
                    &device,
                )
                .require_grad()
            });
            let logits = match &features {
                Some(f) => model.head.forward_logits(f.clone(), mask),
                None => forward_logits(&model, None, x, &shape, mask, &device),
            };
            let (loss, batch_correct) = cross_entropy(logits, &labels, num_classes, &device);
            let mut grads = loss.backward();
            loss_sum += f64::from(scalar(&loss)) * batch.len() as f64;
            correct += batch_correct;
            let d_features = features.and_then(|f| f.grad_remove(&mut grads));
            let head_grads = GradientsParams::from_module(&mut grads, &model.head);
            model.head = head_optim.step(config.learning_rate, model.head, head_grads);
            if let (Some(d), Some(fast)) = (d_features, fast.as_mut()) {
                let d = d.into_data().try_to_vec::<f32>().unwrap_or_default();
                let tail_grads = fast.backward(&d, &model.tail, &Device::flex());
                model.tail = tail_optim.step(backbone_lr, model.tail, tail_grads);
                fast.load(&model.tail);
            }
        }
        let n = train_rows.len().max(1);
        let (val_loss, val_accuracy, _) = evaluate(
            &model,
            fast.as_mut(),
            epoch_set,
            &validation_rows,
            &shape,
            num_classes,
        );
        let metrics = EpochMetrics {
            epoch,
            loss: (loss_sum / n as f64) as f32,
            accuracy: correct as f32 / n as f32,
            val_loss,
            val_accuracy,
        };
        history.push(metrics.clone());
        watch.check(&metrics, config)?;
        if !tail.is_empty() {
            let score = val_accuracy.unwrap_or(-metrics.loss);
            if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                best = Some((score, epoch, model.clone()));
            }
        }
        if on_epoch(&metrics) == Control::Stop {
            stopped = epoch < config.epochs;
            break;
        }
    }
    watch.finish(config)?;
    let mut kept_epoch = history.len();
    if let Some((_, epoch, snapshot)) = best {
        kept_epoch = epoch;
        model = snapshot;
    }
    if model.tail.is_empty() {
        // Kept (or stopped at) an epoch before fine-tuning began.
        model.tail = tail;
    }
    if let Some(fast) = fast.as_mut() {
        fast.load(&model.tail);
    }
    let (_, _, confusion) = evaluate(
        &model,
        fast.as_mut(),
        set,
        &validation_rows,
        &extractor.row_shape(),
        num_classes,
    );
    let model_config = ModelConfig::new(extractor, set.class_names.clone(), head_config, config);
    let model = TrainedModel::from_parts(extractor, model_config, model.valid())?;
    Ok(TrainOutcome {
        model,
        history,
        kept_epoch,
        confusion,
        stopped,
        train_rows,
        validation_rows,
    })
}

/// Stops a run that has gone wrong rather than let it save a useless model:
/// a loss that is no longer a number, or a validation accuracy that fell
/// back to chance after the model had learned (fine-tuning with too high a
/// learning rate does that).
struct Watch {
    chance: f32,
    /// Enough validation samples for the accuracy to mean something.
    meaningful: bool,
    best: f32,
    at_chance: usize,
}

impl Watch {
    fn new(classes: usize, validation_rows: usize) -> Self {
        Watch {
            chance: 1.0 / classes as f32,
            meaningful: validation_rows >= 20,
            best: 0.0,
            at_chance: 0,
        }
    }

    fn check(&mut self, m: &EpochMetrics, config: &TrainConfig) -> Result<()> {
        if !m.loss.is_finite() {
            return Err(Error::Diverged(format!(
                "training diverged at epoch {}: the loss is no longer a number; lower the \
                 learning rate (now {:.1e})",
                m.epoch, config.learning_rate
            )));
        }
        let Some(accuracy) = m.val_accuracy.filter(|_| self.meaningful) else {
            return Ok(());
        };
        self.best = self.best.max(accuracy);
        let learned = self.best >= self.chance + 0.2;
        self.at_chance = if learned && accuracy <= self.chance + 0.05 {
            self.at_chance + 1
        } else {
            0
        };
        if self.at_chance >= 2 {
            // Fell back after learning: the weights are wrecked.
            return Err(Error::Diverged(format!(
                "training collapsed at epoch {}: validation accuracy fell to {:.0}%, chance \
                 level, from {:.0}%; lower the learning rate (now {:.1e}) or fine-tune fewer blocks",
                m.epoch,
                accuracy * 100.0,
                self.best * 100.0,
                config.learning_rate
            )));
        }
        Ok(())
    }

    /// After the last epoch: a model that never beat chance is useless.
    fn finish(&self, config: &TrainConfig) -> Result<()> {
        if self.meaningful && self.best <= self.chance + 0.05 {
            return Err(Error::Diverged(format!(
                "the model did not learn: its best validation accuracy, {:.0}%, is chance \
                 level; lower the learning rate (now {:.1e}), or check that the labels match \
                 the images",
                self.best * 100.0,
                config.learning_rate
            )));
        }
        Ok(())
    }
}

fn validate_set(set: &TrainingSet, row_len: usize, num_classes: usize) -> Result<()> {
    let rows = set.rows();
    if num_classes < 2 {
        return Err(Error::InvalidInput(
            "training needs at least two classes".into(),
        ));
    }
    if rows == 0 || set.inputs.len() != rows * row_len {
        return Err(Error::InvalidInput(format!(
            "training set has {} values for {rows} rows of {row_len}",
            set.inputs.len()
        )));
    }
    if let Some(&bad) = set.labels.iter().find(|&&l| l >= num_classes) {
        return Err(Error::InvalidInput(format!(
            "label {bad} out of range for {num_classes} classes"
        )));
    }
    if !set.origin.is_empty() {
        if set.origin.len() != rows {
            return Err(Error::InvalidInput(
                "origin must have one entry per row".into(),
            ));
        }
        for (i, &o) in set.origin.iter().enumerate() {
            if o >= rows || set.origin[o] != o || set.labels[o] != set.labels[i] {
                return Err(Error::InvalidInput(format!(
                    "row {i}: origin {o} is not an original row with the same label"
                )));
            }
        }
    }
    Ok(())
}

fn gather(set: &TrainingSet, rows: &[usize], row_len: usize) -> Vec<f32> {
    let mut x = Vec::with_capacity(rows.len() * row_len);
    for &r in rows {
        x.extend_from_slice(&set.inputs[r * row_len..(r + 1) * row_len]);
    }
    x
}

/// Rows in, logits `[batch, classes]` out; the tail, when the model has one,
/// runs through `fast` (kept in step with it).
fn forward_logits(
    model: &Trainable,
    fast: Option<&mut Tail>,
    x: Vec<f32>,
    sample_shape: &[usize],
    mask: Option<Tensor<2>>,
    device: &Device,
) -> Tensor<2> {
    let row_len: usize = sample_shape.iter().product();
    let batch = x.len() / row_len.max(1);
    // [batch, features]
    let features = match fast {
        Some(fast) if !model.tail.is_empty() => {
            let f = fast.features(&x, EVAL_BATCH);
            let dim = fast.feature_dim();
            Tensor::from_data(TensorData::new(f, [batch, dim]), device)
        }
        _ => Tensor::from_data(TensorData::new(x, [batch, row_len]), device),
    };
    model.head.forward_logits(features, mask)
}

/// Rows per pass of the tail when evaluating: its activations for this many
/// images are kept at once (about 1 MB per image with all 13 blocks).
const EVAL_BATCH: usize = 32;

/// Inverted dropout: kept units are scaled by `1 / (1 - rate)` during training, so
/// inference needs no rescaling (as Keras does).
fn dropout_mask(
    batch: usize,
    width: usize,
    rate: f32,
    rng: &mut Rng,
    device: &Device,
) -> Option<Tensor<2>> {
    if rate <= 0.0 {
        return None;
    }
    let keep = 1.0 / (1.0 - rate);
    let m: Vec<f32> = (0..batch * width)
        .map(|_| if rng.next_f32() < rate { 0.0 } else { keep })
        .collect();
    Some(Tensor::from_data(
        TensorData::new(m, [batch, width]),
        device,
    ))
}

/// Mean cross-entropy of `[batch, classes]` logits, and the number of correct argmaxes.
fn cross_entropy(
    logits: Tensor<2>,
    labels: &[usize],
    classes: usize,
    device: &Device,
) -> (Tensor<1>, usize) {
    let batch = labels.len();
    let mut onehot = vec![0f32; batch * classes];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * classes + l] = 1.0;
    }
    let correct = argmax_rows(
        &logits.to_data().try_to_vec::<f32>().unwrap_or_default(),
        classes,
    )
    .iter()
    .zip(labels)
    .filter(|(p, l)| p == l)
    .count();
    let target = Tensor::<2>::from_data(TensorData::new(onehot, [batch, classes]), device);
    let loss = (log_softmax(logits, 1) * target)
        .sum()
        .mul_scalar(-1.0 / batch as f32);
    (loss, correct)
}

fn scalar(t: &Tensor<1>) -> f32 {
    t.to_data()
        .try_to_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN)
}

pub(crate) fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values
        .chunks_exact(classes.max(1))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0
        })
        .collect()
}

/// Loss, accuracy and confusion matrix on `rows` without dropout.
fn evaluate(
    model: &Trainable,
    mut fast: Option<&mut Tail>,
    set: &TrainingSet,
    rows: &[usize],
    sample_shape: &[usize],
    classes: usize,
) -> (Option<f32>, Option<f32>, Vec<Vec<u32>>) {
    let mut confusion = vec![vec![0u32; classes]; classes];
    if rows.is_empty() {
        return (None, None, confusion);
    }
    let model = model.valid();
    let device = Device::flex();
    let row_len: usize = sample_shape.iter().product();
    let (mut loss_sum, mut correct) = (0f64, 0usize);
    for chunk in rows.chunks(256) {
        let x = gather(set, chunk, row_len);
        let logits = forward_logits(&model, fast.as_deref_mut(), x, sample_shape, None, &device);
        let log_p = log_softmax(logits, 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        for (k, &r) in chunk.iter().enumerate() {
            let row = &log_p[k * classes..(k + 1) * classes];
            let label = set.labels[r];
            loss_sum -= f64::from(row[label]);
            let pred = argmax_rows(row, classes)[0];
            confusion[label][pred] += 1;
            if pred == label {
                correct += 1;
            }
        }
    }
    let n = rows.len() as f64;
    (
        Some((loss_sum / n) as f32),
        Some((correct as f64 / n) as f32),
        confusion,
    )
}
