//! The page's hooks.

mod socket;
mod use_bridge;
mod use_interval;
mod use_watch;

pub use use_bridge::use_bridge;
pub use use_interval::use_interval;
pub use use_watch::use_watch;
