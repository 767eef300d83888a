//! Free-form sample metadata, as Edge Impulse's `x-metadata` header sends it.

use std::collections::BTreeMap;

use crate::ValidationError;

/// String keys to string values, stored with the sample and shown on its page.
pub type Metadata = BTreeMap<String, String>;

/// Limits that keep one header from bloating every listing.
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY_CHARS: usize = 128;
pub const MAX_METADATA_VALUE_CHARS: usize = 1024;

/// Parses a JSON object of string values (the `x-metadata` header).
pub fn parse_metadata(json: &str) -> Result<Metadata, ValidationError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| ValidationError::new("x-metadata", format!("is not valid JSON: {e}")))?;
    let object = value.as_object().ok_or_else(|| {
        ValidationError::new("x-metadata", "must be a JSON object of string values")
    })?;
    if object.len() > MAX_METADATA_ENTRIES {
        return Err(ValidationError::new(
            "x-metadata",
            format!(
                "has {} entries; the limit is {MAX_METADATA_ENTRIES}",
                object.len()
            ),
        ));
    }
    let mut metadata = Metadata::new();
    for (key, value) in object {
        let value = value.as_str().ok_or_else(|| {
            ValidationError::new("x-metadata", format!("value of {key:?} must be a string"))
        })?;
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(ValidationError::new(
                "x-metadata",
                format!("keys must be 1 to {MAX_METADATA_KEY_CHARS} characters"),
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(ValidationError::new(
                "x-metadata",
                format!("value of {key:?} is longer than {MAX_METADATA_VALUE_CHARS} characters"),
            ));
        }
        metadata.insert(key.clone(), value.to_owned());
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_string_objects() {
        let m = parse_metadata(r#"{"site":"lab","camera":"2"}"#).unwrap();
        assert_eq!(m.get("site").map(String::as_str), Some("lab"));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn refuses_non_objects_and_non_strings() {
        assert!(parse_metadata("[1]").is_err());
        assert!(parse_metadata(r#"{"a":1}"#).is_err());
        assert!(parse_metadata("{").is_err());
    }
}
