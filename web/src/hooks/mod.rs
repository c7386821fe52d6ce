//! The page's hooks.

mod bridge_worker;
mod runner_link;
mod socket;
mod use_bridge;
mod use_code_view;
mod use_interval;
mod use_share_code;
mod use_watch;

pub use runner_link::RunnerLink;
pub use use_bridge::{BridgeLink, use_bridge};
pub use use_code_view::{SAVED_CLIENT, SAVED_OPEN, SAVED_SERVER, use_code_view};
pub use use_interval::use_interval;
pub use use_share_code::{SHARE_AFTER_MS, use_share_code};
pub use use_watch::use_watch;
