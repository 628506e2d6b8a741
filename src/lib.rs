//! mionode
