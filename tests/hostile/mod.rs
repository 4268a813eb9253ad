//! What `hostile_frames.rs` generates: moves, and the strategies for them.

pub(crate) mod moves;
pub(crate) mod strategies;
