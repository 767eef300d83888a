//! The training pipeline, as library code: the training job
//! (`tinystudio-worker`) and `tinystudio train` both call it.
//!
//! - [`preprocess`]: image files to model inputs (decode, then the impulse's
//!   resize and colour, `tinystudio_images::preprocess`), in parallel.
//! - [`cache`]: backbone features computed once per image and input settings.
//! - [`train`]: features, head training, quantization, int8 evaluation.
//! - [`tune`]: the impulse search for a board, trial by trial through [`train`].
//!
//! Everything here blocks and is CPU-heavy: call it from a blocking thread.

pub mod cache;
pub mod preprocess;
pub mod train;
pub mod tune;

pub use preprocess::{image_shape, preprocess_all};
pub use train::{Cancelled, TrainInput, Trained, Update, argmax_i8, train};
pub use tune::{
    OneAtATime, TrainingData, TrialEnv, TrialRequest, TrialRunner, TuneInput, run_trial, tune,
};
