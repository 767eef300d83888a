//! The Keras `.h5` reader (HDF5 through hdf5-pure, then our walk of the layer
//! groups and shape checks) on arbitrary bytes: an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tinystudio_ml::keras_h5::load_mobilenet_v1_from_bytes;

fuzz_target!(|data: &[u8]| {
    let _ = load_mobilenet_v1_from_bytes(data.to_vec(), Path::new("fuzz.h5"));
});
