//! Upload session ids: random UUIDs, the only form accepted, so an id is always a safe file name.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

#[derive(Debug, thiserror::Error)]
#[error("upload id is not a UUID")]
pub struct UploadIdError;

impl UploadId {
    pub fn new() -> UploadId {
        UploadId(uuid::Uuid::new_v4().to_string())
    }

    pub fn parse(s: &str) -> Result<UploadId, UploadIdError> {
        let uuid = uuid::Uuid::parse_str(s).map_err(|_| UploadIdError)?;
        // Canonical hyphenated lowercase form only: one id, one file.
        let canonical = uuid.hyphenated().to_string();
        if canonical == s { Ok(UploadId(canonical)) } else { Err(UploadIdError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        UploadId::new()
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
