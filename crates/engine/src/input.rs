//! The last step of input preprocessing, shared by the studio and the firmware:
//! 8-bit pixels (already resized, HWC, RGB or grayscale as the model expects)
//! to the model's int8 input tensor.
//!
//! Both sides must produce the same bytes for the same pixels, or live
//! classification on the board drifts from what the studio showed. A 256-entry
//! table computed once from the model's input quantization makes that cheap
//! (one lookup per byte) and identical everywhere.

use crate::error::{Error, Result};
use crate::quant::round_f64;

/// How the model was trained to see pixel values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelScaling {
    /// `p / 255`: the int8 input is exactly `p - 128` with scale 1/255, zero point -128.
    ZeroToOne,
    /// `(p - 128) / 127.5`, used by our MobileNet models: the int8 input is
    /// exactly `p - 128` with scale 1/127.5, zero point 0.
    MinusOneToOne,
}

impl PixelScaling {
    /// The float value the network was trained on for pixel `p`.
    pub fn to_float(self, p: u8) -> f32 {
        self.to_f64(p) as f32
    }

    fn to_f64(self, p: u8) -> f64 {
        match self {
            PixelScaling::ZeroToOne => f64::from(p) / 255.0,
            PixelScaling::MinusOneToOne => (f64::from(p) - 128.0) / 127.5,
        }
    }

    /// The input quantization (scale, zero point) under which the mapping is
    /// the identity `p - 128`; the quantizer uses it for the input tensor.
    pub fn natural_quantization(self) -> (f32, i32) {
        match self {
            PixelScaling::ZeroToOne => (1.0 / 255.0, -128),
            PixelScaling::MinusOneToOne => (1.0 / 127.5, 0),
        }
    }

    /// Float range of the scaled pixels.
    pub fn range(self) -> (f32, f32) {
        (self.to_float(0), self.to_float(255))
    }

    /// Code stored in model blobs.
    pub fn code(self) -> u8 {
        match self {
            PixelScaling::ZeroToOne => 1,
            PixelScaling::MinusOneToOne => 2,
        }
    }

    pub fn from_code(code: u8) -> Result<Option<Self>> {
        match code {
            0 => Ok(None),
            1 => Ok(Some(PixelScaling::ZeroToOne)),
            2 => Ok(Some(PixelScaling::MinusOneToOne)),
            _ => Err(Error::Malformed("unknown pixel scaling code")),
        }
    }
}

/// Pixel -> int8 lookup table for one model input.
#[derive(Clone)]
pub struct InputMapper {
    lut: [i8; 256],
}

impl InputMapper {
    /// Quantizes `scaling(p)` with the model's input scale and zero point,
    /// rounding half away from zero and saturating, as TFLite's QUANTIZE does.
    pub fn new(scaling: PixelScaling, scale: f32, zero_point: i32) -> Self {
        let mut lut = [0i8; 256];
        for (p, slot) in lut.iter_mut().enumerate() {
            let q = if scale > 0.0 && scale.is_finite() {
                round_f64(scaling.to_f64(p as u8) / f64::from(scale)) + f64::from(zero_point)
            } else {
                f64::from(zero_point)
            };
            *slot = q.clamp(-128.0, 127.0) as i8;
        }
        InputMapper { lut }
    }

    /// For models whose input is not a picture (audio features, raw
    /// tensors): each byte is the int8 value itself, two's complement, so
    /// the input is sent exactly as it will sit in the tensor.
    pub fn raw() -> Self {
        let mut lut = [0i8; 256];
        for (p, slot) in lut.iter_mut().enumerate() {
            *slot = p as u8 as i8;
        }
        InputMapper { lut }
    }

    pub fn map_pixel(&self, p: u8) -> i8 {
        self.lut[usize::from(p)]
    }

    /// Maps a whole image; `pixels` and `out` must have the same length (the
    /// model's input size).
    pub fn map(&self, pixels: &[u8], out: &mut [i8]) -> Result<()> {
        if pixels.len() != out.len() {
            return Err(Error::LengthMismatch {
                expected: out.len(),
                actual: pixels.len(),
            });
        }
        for (o, &p) in out.iter_mut().zip(pixels) {
            *o = self.lut[usize::from(p)];
        }
        Ok(())
    }

    pub fn table(&self) -> &[i8; 256] {
        &self.lut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_quantization_is_p_minus_128() {
        for scaling in [PixelScaling::ZeroToOne, PixelScaling::MinusOneToOne] {
            let (s, z) = scaling.natural_quantization();
            let m = InputMapper::new(scaling, s, z);
            for p in 0..=255u8 {
                assert_eq!(
                    i32::from(m.map_pixel(p)),
                    i32::from(p) - 128,
                    "{scaling:?} {p}"
                );
            }
        }
    }

    #[test]
    fn vww_input_quantization_maps_exactly() {
        // vww_96_int8.tflite: scale 0.003921568859368563 (float32 1/255), zero point -128.
        let m = InputMapper::new(PixelScaling::ZeroToOne, 0.003_921_569, -128);
        assert!((0..=255u8).all(|p| i32::from(m.map_pixel(p)) == i32::from(p) - 128));
    }

    #[test]
    fn saturates_and_checks_lengths() {
        let m = InputMapper::new(PixelScaling::ZeroToOne, 1.0 / 512.0, 0);
        assert_eq!(m.map_pixel(255), 127);
        let mut out = [0i8; 3];
        assert!(m.map(&[1, 2], &mut out).is_err());
        m.map(&[0, 1, 255], &mut out).unwrap();
        assert_eq!(out, [0, 2, 127]);
    }
}
