//! sessctl's integration tests: one crate, the real binary, a real private user manager.

mod support;

mod errors;
mod lifecycle;
mod render;
