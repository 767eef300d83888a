//! Blob parsing (checksum skipped so the fuzzer reaches the structural
//! validation) and inference on whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinystudio_engine::{Interpreter, ModelView};

fuzz_target!(|data: &[u8]| {
    let _ = ModelView::parse(data);
    if let Ok(view) = ModelView::parse_verified(data)
        && view.arena_size() <= 1 << 20
    {
        let mut arena = vec![0u8; view.arena_size()];
        if let Ok(mut it) = Interpreter::new(view, &mut arena) {
            let _ = it.invoke();
        }
        let _ = view.label(0);
    }
});
