//! Labels: what a sample shows.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A validated label: 1 to 64 characters, no control characters, no
/// leading or trailing white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new("label", "must not be empty"));
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "label",
                format!(
                    "is {chars} characters long; the limit is {}",
                    Self::MAX_CHARS
                ),
            ));
        }
        if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
            return Err(ValidationError::new(
                "label",
                format!(
                    "must not contain control characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Label::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The label Edge Impulse derives from a file name: the part before the
/// first `.` (`cat.01.jpg` is a "cat"). Directory parts are ignored.
pub fn label_from_file_name(file_name: &str) -> Result<Label, ValidationError> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = base.split('.').next().unwrap_or(base);
    Label::parse(stem).map_err(|e| {
        ValidationError::new(
            "label",
            format!(
                "cannot take a label from the file name {file_name:?}: {}",
                e.message
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_labels() {
        assert_eq!(Label::parse(" cat ").unwrap().as_str(), "cat");
        assert_eq!(
            Label::parse("Ünïcødé label").unwrap().as_str(),
            "Ünïcødé label"
        );
        assert!(Label::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn refuses_bad_labels() {
        assert!(Label::parse("").is_err());
        assert!(Label::parse("   ").is_err());
        assert!(Label::parse(&"x".repeat(65)).is_err());
        assert!(Label::parse("a\u{0}b").is_err());
        assert!(Label::parse("a\nb").is_err());
    }

    #[test]
    fn label_from_file_name_takes_part_before_first_dot() {
        assert_eq!(label_from_file_name("cat.01.jpg").unwrap().as_str(), "cat");
        assert_eq!(label_from_file_name("dir/dog.png").unwrap().as_str(), "dog");
        assert_eq!(label_from_file_name("plain").unwrap().as_str(), "plain");
        assert!(label_from_file_name(".hidden.jpg").is_err());
    }
}
