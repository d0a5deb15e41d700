//! Service names: the one place that decides what a name may be.
//!
//! A name is also a file stem in the config directory, so anything that
//! could leave that directory or hide a file is refused.

use std::fmt;

/// Longest accepted service name, in bytes (a file name must fit in 255).
pub const MAX_NAME_LEN: usize = 200;

/// A validated service name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName(String);

/// Why a string is not a valid service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    LeadingDot,
    Forbidden(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "service name is empty"),
            NameError::TooLong => write!(f, "service name is longer than {MAX_NAME_LEN} bytes"),
            NameError::LeadingDot => write!(f, "service name must not start with '.'"),
            NameError::Forbidden(c) => {
                write!(f, "service name must not contain {:?}", c)
            }
        }
    }
}

impl std::error::Error for NameError {}

impl ServiceName {
    /// Validate `raw` as a service name.
    pub fn new(raw: &str) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        if raw.starts_with('.') {
            return Err(NameError::LeadingDot);
        }
        if let Some(c) = raw
            .chars()
            .find(|c| matches!(c, '/' | '\\' | '\0') || c.is_control() || c.is_whitespace())
        {
            return Err(NameError::Forbidden(c));
        }
        Ok(ServiceName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ServiceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ServiceName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["redis", "my-svc_1", "a.b", "ünïcode", "x..y"] {
            assert_eq!(ServiceName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_names_that_escape_or_hide() {
        assert_eq!(ServiceName::new(""), Err(NameError::Empty));
        assert_eq!(ServiceName::new("."), Err(NameError::LeadingDot));
        assert_eq!(ServiceName::new(".."), Err(NameError::LeadingDot));
        assert_eq!(ServiceName::new("../x"), Err(NameError::LeadingDot));
        assert_eq!(ServiceName::new("a/b"), Err(NameError::Forbidden('/')));
        assert_eq!(ServiceName::new("a\\b"), Err(NameError::Forbidden('\\')));
        assert_eq!(ServiceName::new("a\0b"), Err(NameError::Forbidden('\0')));
        assert_eq!(ServiceName::new("a\nb"), Err(NameError::Forbidden('\n')));
        assert_eq!(ServiceName::new("a b"), Err(NameError::Forbidden(' ')));
        assert_eq!(
            ServiceName::new(&"x".repeat(10_000)),
            Err(NameError::TooLong)
        );
    }
}
