//! Harbor's error answer: `{"errors":[{"code","message"}]}`.

use serde::{Deserialize, Serialize};

/// Every error answer of `/api/v2.0`, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    pub errors: Vec<Error>,
}

/// One error: Harbor's code (`NOT_FOUND`, `FORBIDDEN`, ...) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub code: String,
    pub message: String,
}

impl Errors {
    /// The answer for one error, which is what Berth always sends.
    pub fn one(code: impl Into<String>, message: impl Into<String>) -> Errors {
        Errors { errors: vec![Error { code: code.into(), message: message.into() }] }
    }

    /// The first error's message.
    pub fn message(&self) -> Option<&str> {
        self.errors.first().map(|e| e.message.as_str())
    }
}
