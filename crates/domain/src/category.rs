//! Training/testing categories and the deterministic automatic split.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Where a stored sample belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Training,
    Testing,
}

impl Category {
    pub const ALL: [Category; 2] = [Category::Training, Category::Testing];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Training => "training",
            Category::Testing => "testing",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "training" => Ok(Category::Training),
            "testing" => Ok(Category::Testing),
            other => Err(ValidationError::new(
                "category",
                format!("must be \"training\" or \"testing\", not {other:?}"),
            )),
        }
    }
}

/// What an upload asks for: a fixed category or the automatic 80/20 split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadCategory {
    Training,
    Testing,
    Split,
}

impl UploadCategory {
    /// The category a file with this content hash lands in.
    pub fn resolve(self, sha256: &[u8; 32]) -> Category {
        match self {
            UploadCategory::Training => Category::Training,
            UploadCategory::Testing => Category::Testing,
            UploadCategory::Split => split_category(sha256),
        }
    }
}

impl FromStr for UploadCategory {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "training" => Ok(UploadCategory::Training),
            "testing" => Ok(UploadCategory::Testing),
            "split" => Ok(UploadCategory::Split),
            other => Err(ValidationError::new(
                "category",
                format!("must be \"training\", \"testing\" or \"split\", not {other:?}"),
            )),
        }
    }
}

/// The automatic split: 80 % training, 20 % testing, decided by the content
/// hash alone so the same image always lands in the same category, whoever
/// uploads it and however often.
pub fn split_category(sha256: &[u8; 32]) -> Category {
    let bucket = u16::from_be_bytes([sha256[0], sha256[1]]) % 10;
    if bucket < 8 {
        Category::Training
    } else {
        Category::Testing
    }
}

/// How many of `n` samples go to testing in an exact 80/20 split.
pub fn testing_share(n: usize) -> usize {
    (n * 2 + 5) / 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_near_80_20() {
        let mut testing = 0;
        for i in 0u32..10_000 {
            let mut hash = [0u8; 32];
            // A cheap stand-in for real hashes: spread i over the first bytes.
            let mixed = i.wrapping_mul(2_654_435_761);
            hash[..4].copy_from_slice(&mixed.to_be_bytes());
            let first = split_category(&hash);
            assert_eq!(first, split_category(&hash));
            if first == Category::Testing {
                testing += 1;
            }
        }
        assert!(
            (1_800..=2_200).contains(&testing),
            "testing share {testing}"
        );
    }

    #[test]
    fn testing_share_rounds_to_nearest() {
        assert_eq!(testing_share(0), 0);
        assert_eq!(testing_share(1), 0);
        assert_eq!(testing_share(3), 1);
        assert_eq!(testing_share(10), 2);
        assert_eq!(testing_share(150), 30);
    }

    #[test]
    fn parses_categories() {
        assert_eq!("training".parse::<Category>().unwrap(), Category::Training);
        assert!("train".parse::<Category>().is_err());
        assert_eq!(
            "split".parse::<UploadCategory>().unwrap(),
            UploadCategory::Split
        );
    }
}
