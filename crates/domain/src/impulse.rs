//! The impulse: how images are fed in and which block learns from them.
//!
//! Stored per project as JSON (camelCase); every field is optional on input
//! and takes the defaults below, which follow Edge Impulse's transfer
//! learning defaults.

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ImpulseConfig {
    pub input: InputBlock,
    pub image: ImageBlock,
    pub learning: LearningBlock,
}

/// The input block: the size images are resized to, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct InputBlock {
    pub width: u32,
    pub height: u32,
    pub resize_mode: ResizeMode,
}

/// Edge Impulse's three resize modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResizeMode {
    /// Stretch to the target size, ignoring the aspect ratio.
    #[default]
    Squash,
    /// Scale so the shorter side fits, then crop the centre ("fit shortest axis").
    FitShortest,
    /// Scale so the longer side fits, then pad with black ("fit longest axis").
    FitLongest,
}

impl ResizeMode {
    /// The name in the API and in firmware builds (`TINYSTUDIO_RESIZE_MODE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResizeMode::Squash => "squash",
            ResizeMode::FitShortest => "fitShortest",
            ResizeMode::FitLongest => "fitLongest",
        }
    }
}

/// The image block: colour depth. Pixel scaling follows the backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ImageBlock {
    pub color_depth: ColorDepth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ColorDepth {
    Rgb,
    /// ITU-R BT.601 luma.
    Grayscale,
}

impl ColorDepth {
    pub fn channels(self) -> u32 {
        match self {
            ColorDepth::Rgb => 3,
            ColorDepth::Grayscale => 1,
        }
    }
}

/// The transfer-learning block: a frozen MobileNetV1 backbone and a small head.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LearningBlock {
    /// MobileNetV1 width multiplier.
    pub alpha: f32,
    /// Neurons of the optional dense layer; 0 means no dense layer.
    pub dense_neurons: u32,
    pub dropout: f32,
    pub epochs: u32,
    pub learning_rate: f32,
    pub batch_size: u32,
    /// Share of the training set held out for validation.
    pub validation_share: f32,
    pub augmentation: bool,
    /// How many of the backbone's last blocks are trained too (0 = frozen).
    pub fine_tune_blocks: u32,
    pub seed: u64,
    /// How many training images calibrate the int8 activation ranges.
    pub calibration_samples: u32,
}

impl Default for InputBlock {
    fn default() -> Self {
        Self {
            width: 96,
            height: 96,
            resize_mode: ResizeMode::default(),
        }
    }
}

impl Default for ImageBlock {
    fn default() -> Self {
        Self {
            color_depth: ColorDepth::Rgb,
        }
    }
}

impl Default for LearningBlock {
    fn default() -> Self {
        Self {
            alpha: 0.25,
            dense_neurons: 16,
            dropout: 0.1,
            epochs: 20,
            learning_rate: 0.0005,
            batch_size: 32,
            validation_share: 0.2,
            augmentation: false,
            fine_tune_blocks: 0,
            seed: 42,
            calibration_samples: 1000,
        }
    }
}

/// MobileNetV1 width multipliers the studio offers.
pub const ALPHAS: [f32; 5] = [0.1, 0.2, 0.25, 0.35, 0.5];
/// MobileNetV1 has 13 depthwise-separable blocks after its first convolution.
pub const BACKBONE_BLOCKS: u32 = 13;
pub const MIN_SIDE: u32 = 32;
pub const MAX_SIDE: u32 = 320;

impl ImpulseConfig {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let side = MIN_SIDE..=MAX_SIDE;
        if !side.contains(&self.input.width) || !side.contains(&self.input.height) {
            return Err(ValidationError::new(
                "input",
                format!(
                    "width and height must be {MIN_SIDE} to {MAX_SIDE} pixels, not {}x{}",
                    self.input.width, self.input.height
                ),
            ));
        }
        let l = &self.learning;
        if !ALPHAS.contains(&l.alpha) {
            return Err(ValidationError::new(
                "learning.alpha",
                format!("must be one of 0.1, 0.2, 0.25, 0.35, 0.5, not {}", l.alpha),
            ));
        }
        if l.dense_neurons > 4096 {
            return Err(ValidationError::new(
                "learning.denseNeurons",
                "must be 0 to 4096",
            ));
        }
        if !(0.0..0.95).contains(&l.dropout) {
            return Err(ValidationError::new(
                "learning.dropout",
                "must be at least 0 and below 0.95",
            ));
        }
        if !(1..=1000).contains(&l.epochs) {
            return Err(ValidationError::new("learning.epochs", "must be 1 to 1000"));
        }
        if !(l.learning_rate > 0.0 && l.learning_rate <= 1.0) {
            return Err(ValidationError::new(
                "learning.learningRate",
                "must be above 0 and at most 1",
            ));
        }
        if !(1..=1024).contains(&l.batch_size) {
            return Err(ValidationError::new(
                "learning.batchSize",
                "must be 1 to 1024",
            ));
        }
        if !(0.0..=0.5).contains(&l.validation_share) {
            return Err(ValidationError::new(
                "learning.validationShare",
                "must be 0 to 0.5",
            ));
        }
        if l.fine_tune_blocks > BACKBONE_BLOCKS {
            return Err(ValidationError::new(
                "learning.fineTuneBlocks",
                format!("must be 0 to {BACKBONE_BLOCKS}"),
            ));
        }
        if !(1..=10_000).contains(&l.calibration_samples) {
            return Err(ValidationError::new(
                "learning.calibrationSamples",
                "must be 1 to 10000",
            ));
        }
        Ok(())
    }

    /// The input tensor's shape as [height, width, channels].
    pub fn input_shape(&self) -> [u32; 3] {
        [
            self.input.height,
            self.input.width,
            self.image.color_depth.channels(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_optional() {
        let c: ImpulseConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ImpulseConfig::default());
        let c: ImpulseConfig =
            serde_json::from_str(r#"{"learning":{"epochs":5},"image":{"colorDepth":"grayscale"}}"#)
                .unwrap();
        assert_eq!(c.learning.epochs, 5);
        assert_eq!(c.learning.learning_rate, 0.0005);
        assert_eq!(c.input_shape(), [96, 96, 1]);
    }

    #[test]
    fn json_is_camel_case() {
        let json = serde_json::to_value(ImpulseConfig::default()).unwrap();
        assert_eq!(json["input"]["resizeMode"], "squash");
        assert_eq!(json["learning"]["denseNeurons"], 16);
        assert_eq!(json["learning"]["validationShare"], 0.2f32 as f64);
    }

    #[test]
    fn validation_refuses_out_of_range_values() {
        let mut c = ImpulseConfig::default();
        assert!(c.validate().is_ok());
        c.input.width = 16;
        assert_eq!(c.validate().unwrap_err().field, "input");
        let mut c = ImpulseConfig::default();
        c.learning.alpha = 0.3;
        assert_eq!(c.validate().unwrap_err().field, "learning.alpha");
        let mut c = ImpulseConfig::default();
        c.learning.fine_tune_blocks = 14;
        assert!(c.validate().is_err());
        let mut c = ImpulseConfig::default();
        c.learning.calibration_samples = 0;
        assert_eq!(
            c.validate().unwrap_err().field,
            "learning.calibrationSamples"
        );
        assert!(serde_json::from_str::<ImpulseConfig>(r#"{"bogus":1}"#).is_err());
    }
}
