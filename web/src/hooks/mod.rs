//! The page's hooks.

mod use_bridge;
mod use_interval;
mod use_watch;

pub use use_bridge::use_bridge;
pub use use_interval::use_interval;
pub use use_watch::use_watch;

/// How long to wait before reconnecting after `attempts` failures in a row:
/// 0.5 s, doubling, at most 10 s (a bridge that restarts is found quickly,
/// one that is down is not hammered).
fn retry_delay_ms(attempts: u32) -> u32 {
    const FIRST_RETRY_MS: u32 = 500;
    const MAX_RETRY_MS: u32 = 10_000;
    FIRST_RETRY_MS
        .saturating_mul(1 << attempts.min(5))
        .min(MAX_RETRY_MS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_ten_seconds() {
        let delays: Vec<u32> = (0..8).map(super::retry_delay_ms).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
    }
}
