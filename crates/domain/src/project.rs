//! Project names.

use crate::ValidationError;

/// Checks a project name (1 to 100 characters, no control characters) and
/// returns it trimmed.
pub fn parse_project_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ValidationError::new("name", "must not be empty"));
    }
    if name.chars().count() > 100 {
        return Err(ValidationError::new(
            "name",
            "must be at most 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names() {
        assert_eq!(parse_project_name("  Cars ").unwrap(), "Cars");
        assert!(parse_project_name("").is_err());
        assert!(parse_project_name("a\tb").is_err());
        assert!(parse_project_name(&"n".repeat(101)).is_err());
    }
}
