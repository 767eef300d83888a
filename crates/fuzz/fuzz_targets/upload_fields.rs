//! The text an upload carries besides its bytes: the file name a label may
//! come from, the `x-label` header or form field and the `x-metadata` JSON.
//! Each parser must accept or refuse with a message, never panic; what it
//! accepts must satisfy the rules it promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinystudio_domain::{Label, label_from_file_name, parse_metadata};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(label) = Label::parse(text) {
        // A label that parsed parses again to itself.
        assert_eq!(Label::parse(label.as_str()).ok().as_ref(), Some(&label));
    }
    if let Ok(label) = label_from_file_name(text) {
        assert!(Label::parse(label.as_str()).is_ok());
    }
    let _ = parse_metadata(text);
});
