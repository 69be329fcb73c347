use std::fmt;

/// A problem in a playbook file, located by file and line so the author can
/// jump straight to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookError {
    /// File name or other label of where the text came from.
    pub origin: String,
    /// 1-based line number in the whole file.
    pub line: usize,
    pub message: String,
}

impl PlaybookError {
    pub fn new(origin: &str, line: usize, message: impl Into<String>) -> Self {
        PlaybookError {
            origin: origin.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.origin, self.line, self.message)
    }
}

impl std::error::Error for PlaybookError {}
