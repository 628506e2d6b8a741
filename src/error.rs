//! Maelstrom's errors: a numeric code with a meaning, and a text for people.
//!
//! [`Error`] is what a handler returns to answer with an `error` body, and what an RPC
//! callback receives when there is no usable reply: an `error` reply from the peer, or the
//! deadline passing ([`Error::timeout`]).

use std::fmt;

/// Maelstrom's error codes (its protocol document, "Errors"), with whether each is definite.
///
/// A *definite* error means the operation certainly did not happen; an indefinite one
/// (timeout, crash, and any code Maelstrom does not define) means it may or may not have.
/// Jepsen's checkers treat the two very differently: a definite failure must be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the operation timed out; it may or may not have happened. Indefinite.
    Timeout,
    /// 1: the destination node does not exist. Definite.
    NodeNotFound,
    /// 10: the request type is not supported. Definite.
    NotSupported,
    /// 11: the operation cannot be done now (for example, before `init`). Definite.
    TemporarilyUnavailable,
    /// 12: the request is malformed: missing or mistyped fields. Definite.
    MalformedRequest,
    /// 13: the node crashed while handling it; it may or may not have happened. Indefinite.
    Crash,
    /// 14: the operation was aborted and did not happen. Definite.
    Abort,
    /// 20: a key does not exist. Definite.
    KeyDoesNotExist,
    /// 21: a key already exists. Definite.
    KeyAlreadyExists,
    /// 22: a precondition does not hold. Definite.
    PreconditionFailed,
    /// 30: a transaction conflicted and did not happen. Definite.
    TxnConflict,
    /// Any other code, kept as it came. Indefinite: nothing says it did not happen.
    Other(u32),
}

impl ErrorCode {
    /// The numeric code on the wire.
    ///
    /// ```
    /// use mionode::ErrorCode;
    /// assert_eq!(ErrorCode::MalformedRequest.code(), 12);
    /// assert_eq!(ErrorCode::from_code(12), ErrorCode::MalformedRequest);
    /// assert_eq!(ErrorCode::from_code(1000).code(), 1000);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::Timeout => 0,
            ErrorCode::NodeNotFound => 1,
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::Crash => 13,
            ErrorCode::Abort => 14,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::KeyAlreadyExists => 21,
            ErrorCode::PreconditionFailed => 22,
            ErrorCode::TxnConflict => 30,
            ErrorCode::Other(code) => code,
        }
    }

    /// The code named by `code`; [`ErrorCode::Other`] for codes Maelstrom does not define.
    /// `from_code(c).code() == c` for every `c`.
    pub fn from_code(code: u32) -> ErrorCode {
        match code {
            0 => ErrorCode::Timeout,
            1 => ErrorCode::NodeNotFound,
            10 => ErrorCode::NotSupported,
            11 => ErrorCode::TemporarilyUnavailable,
            12 => ErrorCode::MalformedRequest,
            13 => ErrorCode::Crash,
            14 => ErrorCode::Abort,
            20 => ErrorCode::KeyDoesNotExist,
            21 => ErrorCode::KeyAlreadyExists,
            22 => ErrorCode::PreconditionFailed,
            30 => ErrorCode::TxnConflict,
            other => ErrorCode::Other(other),
        }
    }

    /// Whether the operation certainly did not happen (DESIGN.md's table): true for 1, 10,
    /// 11, 12, 14, 20, 21, 22 and 30; false for 0, 13 and every code Maelstrom does not define.
    ///
    /// ```
    /// use mionode::ErrorCode;
    /// assert!(ErrorCode::KeyDoesNotExist.is_definite());
    /// assert!(!ErrorCode::Timeout.is_definite());
    /// assert!(!ErrorCode::Other(99).is_definite());
    /// ```
    pub fn is_definite(self) -> bool {
        !matches!(
            self,
            ErrorCode::Timeout | ErrorCode::Crash | ErrorCode::Other(_)
        )
    }
}

impl From<u32> for ErrorCode {
    fn from(code: u32) -> Self {
        ErrorCode::from_code(code)
    }
}

/// A Maelstrom error: a [code](ErrorCode) and a text.
///
/// Returned by a handler, it becomes the `error` reply `{"type":"error","code":C,"text":T}`
/// to the request. Handed to an RPC callback, it says why there is no reply: the peer's own
/// `error` reply (its code and text, unchanged), or the deadline ([`Error::timeout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    text: String,
}

impl Error {
    /// An error with `code` and `text`.
    pub fn new(code: impl Into<ErrorCode>, text: impl Into<String>) -> Error {
        Error {
            code: code.into(),
            text: text.into(),
        }
    }

    /// What an RPC callback receives when the deadline passes first: code 0, indefinite.
    pub fn timeout() -> Error {
        Error::new(ErrorCode::Timeout, "timed out")
    }

    /// Error 12: the request's fields are missing or mistyped.
    pub fn malformed(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::MalformedRequest, text)
    }

    /// Error 10: the node does not handle this request.
    pub fn not_supported(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::NotSupported, text)
    }

    /// Error 11: the node cannot do this now.
    pub fn unavailable(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::TemporarilyUnavailable, text)
    }

    /// Error 13: something went wrong inside the node; the operation may have happened.
    pub fn crash(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::Crash, text)
    }

    /// Its code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Its text, for people; may be empty.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the operation certainly did not happen ([`ErrorCode::is_definite`]).
    pub fn is_definite(&self) -> bool {
        self.code.is_definite()
    }

    /// The same code with a new text (to put a failure in the caller's words).
    pub fn with_text(self, text: impl Into<String>) -> Error {
        Error::new(self.code, text)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code.code(), self.text)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_definiteness_follows_the_table() {
        let definite = [1, 10, 11, 12, 14, 20, 21, 22, 30];
        for code in 0..=40 {
            let c = ErrorCode::from_code(code);
            assert_eq!(c.code(), code);
            assert_eq!(c.is_definite(), definite.contains(&code), "{code}");
        }
        assert!(!Error::timeout().is_definite());
        assert_eq!(Error::malformed("x").code(), ErrorCode::MalformedRequest);
    }
}
