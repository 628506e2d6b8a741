//! Metrics: names, descriptions, the recorder, and `/metrics` over HTTP from the poll loop.

pub mod discovery;
pub mod http;
