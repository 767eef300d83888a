//! The vocabulary of accounts: user names, passwords, project roles and API
//! key scopes. Values are checked here, at the edge, so a role or scope
//! read from a form or a row is one of the known ones from then on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Shortest password accepted. Length is what makes a password hard to
/// guess (NIST SP 800-63B asks for at least 8 and no composition rules).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: far beyond any real one, and it bounds the
/// work a request can ask of the hasher.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Checks a user name and returns it as stored: trimmed and lower-case, so
/// `Ada` and `ada` are one account. Names are what people type to log in
/// and what owners type to share a project, so they are kept to letters,
/// digits, `.`, `_` and `-`.
pub fn parse_user_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim().to_ascii_lowercase();
    let len = name.chars().count();
    if !(2..=40).contains(&len) {
        return Err(ValidationError::new(
            "name",
            "must be 2 to 40 characters long",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ValidationError::new(
            "name",
            "may contain only letters a-z, digits, '.', '_' and '-'",
        ));
    }
    Ok(name)
}

/// Checks a new password for `user` (already a parsed name).
pub fn check_password(password: &str, user: &str) -> Result<(), ValidationError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters long"),
        ));
    }
    if len > MAX_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    if password.trim().eq_ignore_ascii_case(user) {
        return Err(ValidationError::new(
            "password",
            "must not be the user name",
        ));
    }
    Ok(())
}

/// A person's role in one project. Ordered: each role may do everything
/// the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing (the API included).
    Viewer,
    /// Everything but members, keys and deleting the project.
    Editor,
    /// Everything.
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "owner" => Ok(Role::Owner),
            other => Err(ValidationError::new(
                "role",
                format!("{other:?} is not a role: use owner, editor or viewer"),
            )),
        }
    }
}

/// What an API key opens in its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Uploads only: the ingestion routes and the Edge Impulse studio calls
    /// its uploader makes. A key handed to a camera or a script that only
    /// collects data cannot read the dataset or change anything else.
    Ingestion,
    /// The project's whole API.
    Full,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Ingestion => "ingestion",
            KeyScope::Full => "full",
        }
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyScope {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ingestion" => Ok(KeyScope::Ingestion),
            "full" => Ok(KeyScope::Full),
            other => Err(ValidationError::new(
                "scope",
                format!("{other:?} is not a key scope: use ingestion or full"),
            )),
        }
    }
}

/// Checks a class name (as a project name: 1 to 100 characters, no control
/// characters) and returns it trimmed.
pub fn parse_class_name(raw: &str) -> Result<String, ValidationError> {
    crate::parse_project_name(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert_eq!(parse_user_name("  Ada.L ").unwrap(), "ada.l");
        assert!(parse_user_name("a").is_err());
        assert!(parse_user_name("ada lovelace").is_err());
        assert!(parse_user_name("ådа").is_err());
        assert!(parse_user_name(&"a".repeat(41)).is_err());
    }

    #[test]
    fn passwords() {
        assert!(check_password("correct horse", "ada").is_ok());
        assert!(check_password("short", "ada").is_err());
        assert!(check_password("adalovelace", "adalovelace").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1), "ada").is_err());
    }

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Owner > Role::Editor && Role::Editor > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
        assert_eq!("full".parse::<KeyScope>().unwrap(), KeyScope::Full);
        assert!("read".parse::<KeyScope>().is_err());
    }
}
