//! The camera side of the firmware, kept out of the firmware crate so that
//! it builds and is tested on the host: the board only implements a few
//! small traits (a register bus, the camera's parallel port, a delay) with
//! its GPIO and I2C registers, and every other line — sensor set-up, frame
//! capture, frame decoding, preprocessing — is the code the tests run.
//!
//! - [`camera`]: the [`Camera`](camera::Camera) trait, [`Frame`](camera::Frame)
//!   and its pixel formats, and [`FramePixels`](camera::FramePixels), a
//!   captured frame as a source for the engine's preprocessing (the same
//!   resize and colour code the studio runs).
//! - [`ov7675`]: the OmniVision OV7675 of the Arduino Tiny Machine Learning
//!   Kit, over SCCB and the 8-bit parallel bus.
//! - [`ports`]: the camera's clock, SCCB bus and parallel port on the real
//!   boards (Nano 33 BLE Sense, Pico), at the register level, over a
//!   register-access trait the host tests simulate.
#![cfg_attr(not(test), no_std)]

pub mod camera;
pub mod ov7675;
pub mod ports;
pub mod usb_serial;
