//! Images in, pixels out.
//!
//! Every upload passes [`decode`] (format sniffing, dimension and memory
//! limits, truncation checks) before it is accepted; every model input —
//! training, the Test page, live classification and the firmware's host side
//! — comes from [`preprocess`], so all of them see the same pixels.

mod decode;
mod preprocess;
mod thumbnail;

pub use decode::{DecodeError, DecodeLimits, Decoded, decode};
pub use preprocess::{input_format, luma_bt601, preprocess};
pub use thumbnail::{THUMBNAIL_SIDE, thumbnail_jpeg};
