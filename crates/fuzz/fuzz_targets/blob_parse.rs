//! Blob parsing (checksum skipped so the fuzzer reaches the structural
//! validation) and inference on whatever parses, with an input tensor the
//! fuzzer chooses: the bytes after the blob's `total_len`, which the parser
//! ignores, fill the input (repeated to its length). The arena is dirty
//! (not zeroed), as on a board that ran another model before.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinystudio_engine::blob::Header;
use tinystudio_engine::{Interpreter, ModelView};

fuzz_target!(|data: &[u8]| {
    let _ = ModelView::parse(data);
    if let Ok(view) = ModelView::parse_verified(data)
        && view.arena_size() <= 1 << 20
    {
        let tail = Header::parse(data)
            .ok()
            .and_then(|h| data.get(h.total_len..))
            .filter(|t| !t.is_empty())
            .unwrap_or(&[0]);
        let mut arena = vec![0x5Au8; view.arena_size()];
        if let Ok(mut it) = Interpreter::new(view, &mut arena) {
            for (x, &b) in it.input_mut().iter_mut().zip(tail.iter().cycle()) {
                *x = b as i8;
            }
            let _ = it.invoke();
            let _ = it.output();
        }
        let _ = view.label(0);
        let _ = view.input_mapper();
    }
});
