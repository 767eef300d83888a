//! What the firmware's loop needs from a camera, independent of the sensor.

use tinystudio_engine::preprocess::PixelSource;

/// How a frame's bytes encode its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Two bytes per pixel in the order the OV7675 sends them over its
    /// parallel bus (with the Arduino library's set-up: `TSLB` 0x04,
    /// `COM15` RGB565): first `R4 R3 R2 R1 R0 G5 G4 G3`, then
    /// `G2 G1 G0 B4 B3 B2 B1 B0`, i.e. a big-endian 16-bit `RRRRRGGGGGGBBBBB`.
    /// This is how the Arduino_OV767X library's own viewer
    /// (`extras/CameraVisualizerRawBytes`) reads its frames.
    Rgb565,
    /// One byte of luma per pixel.
    Gray8,
}

impl PixelFormat {
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb565 => 2,
            PixelFormat::Gray8 => 1,
        }
    }
}

/// The shape of a captured frame; its bytes are row-major without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub format: PixelFormat,
}

impl Frame {
    /// Bytes the frame occupies: what a capture buffer must hold.
    pub const fn len(&self) -> usize {
        self.width * self.height * self.format.bytes_per_pixel()
    }

    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The frame the firmware's camera loop captures (and the largest the
/// emulated camera takes): QQVGA RGB565, what the Tiny ML Kit's OV7675 is
/// set up for. Its buffer and the preprocessing's scratch are sized from it.
pub const LOOP_FRAME: Frame = Frame {
    width: 160,
    height: 120,
    format: PixelFormat::Rgb565,
};

/// A camera that captures one frame at a time into the caller's buffer, so
/// the firmware decides where the frame lives (a static buffer beside the
/// tensor arena) and nothing is allocated.
pub trait Camera {
    type Error;

    /// Captures the next whole frame into the start of `buffer` and says
    /// what it holds.
    fn capture(&mut self, buffer: &mut [u8]) -> Result<Frame, Self::Error>;
}

/// RGB565 (as in [`PixelFormat::Rgb565`]) to RGB888 by bit replication: the
/// top bits are repeated into the new low bits, so 0 stays 0, full scale
/// becomes 255 and the steps stay even. The studio's side of the
/// board-versus-studio test uses this same function.
#[inline]
pub fn rgb565_to_rgb888(first: u8, second: u8) -> [u8; 3] {
    let v = u16::from_be_bytes([first, second]);
    let r5 = (v >> 11) as u8;
    let g6 = ((v >> 5) & 0x3f) as u8;
    let b5 = (v & 0x1f) as u8;
    [r5 << 3 | r5 >> 2, g6 << 2 | g6 >> 4, b5 << 3 | b5 >> 2]
}

/// A buffer that does not hold the frame it is said to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortFrame {
    pub needed: usize,
    pub available: usize,
}

/// A captured frame read as RGB888 rows, so the engine's preprocessing
/// (resize, colour) runs on it directly without a converted copy.
#[derive(Debug, Clone, Copy)]
pub struct FramePixels<'a> {
    frame: Frame,
    data: &'a [u8],
}

impl<'a> FramePixels<'a> {
    /// `data` must hold at least `frame.len()` bytes (a capture buffer may be
    /// longer than the frame).
    pub fn new(frame: Frame, data: &'a [u8]) -> Result<Self, ShortFrame> {
        let data = data.get(..frame.len()).ok_or(ShortFrame {
            needed: frame.len(),
            available: data.len(),
        })?;
        Ok(Self { frame, data })
    }
}

impl PixelSource for FramePixels<'_> {
    fn width(&self) -> usize {
        self.frame.width
    }

    fn height(&self) -> usize {
        self.frame.height
    }

    fn read_row(&mut self, y: usize, rgb: &mut [u8]) {
        let stride = self.frame.width * self.frame.format.bytes_per_pixel();
        let row = &self.data[y * stride..(y + 1) * stride];
        match self.frame.format {
            PixelFormat::Rgb565 => {
                for (out, px) in rgb.chunks_exact_mut(3).zip(row.chunks_exact(2)) {
                    out.copy_from_slice(&rgb565_to_rgb888(px[0], px[1]));
                }
            }
            // Grey as equal R, G and B: BT.601 luma of that is the same grey.
            PixelFormat::Gray8 => {
                for (out, &y) in rgb.chunks_exact_mut(3).zip(row) {
                    out.fill(y);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb565_expands_by_bit_replication() {
        assert_eq!(rgb565_to_rgb888(0x00, 0x00), [0, 0, 0]);
        assert_eq!(rgb565_to_rgb888(0xff, 0xff), [255, 255, 255]);
        // Pure red, green, blue as the sensor sends them.
        assert_eq!(rgb565_to_rgb888(0xf8, 0x00), [255, 0, 0]);
        assert_eq!(rgb565_to_rgb888(0x07, 0xe0), [0, 255, 0]);
        assert_eq!(rgb565_to_rgb888(0x00, 0x1f), [0, 0, 255]);
        // r5 = 0b10000 -> 0b10000100, g6 = 0b100000 -> 0b10000010.
        assert_eq!(rgb565_to_rgb888(0x84, 0x00), [132, 130, 0]);
        // Every 5-bit and 6-bit level maps to a distinct, increasing byte.
        let reds: Vec<u8> = (0..32u16)
            .map(|r| rgb565_to_rgb888((r << 3) as u8, 0)[0])
            .collect();
        assert!(reds.windows(2).all(|w| w[0] < w[1]));
        let greens: Vec<u8> = (0..64u16)
            .map(|g| {
                let v = g << 5;
                rgb565_to_rgb888((v >> 8) as u8, v as u8)[1]
            })
            .collect();
        assert!(greens.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn frame_rows_read_as_rgb888() {
        let frame = Frame {
            width: 2,
            height: 2,
            format: PixelFormat::Rgb565,
        };
        let data = [0xf8, 0x00, 0x07, 0xe0, 0x00, 0x1f, 0xff, 0xff, 0xaa];
        let mut pixels = FramePixels::new(frame, &data).unwrap();
        let mut row = [0u8; 6];
        pixels.read_row(1, &mut row);
        assert_eq!(row, [0, 0, 255, 255, 255, 255]);
        pixels.read_row(0, &mut row);
        assert_eq!(row, [255, 0, 0, 0, 255, 0]);

        let gray = Frame {
            format: PixelFormat::Gray8,
            ..frame
        };
        let mut pixels = FramePixels::new(gray, &[1, 2, 3, 4]).unwrap();
        pixels.read_row(1, &mut row);
        assert_eq!(row, [3, 3, 3, 4, 4, 4]);

        assert_eq!(
            FramePixels::new(frame, &data[..7]).err(),
            Some(ShortFrame {
                needed: 8,
                available: 7
            })
        );
    }
}
