//! The reconnect policy every client of ours follows after a failed or dropped connection
//! (the camera's PutMedia, the viewer's GetMedia): exponential backoff with a ceiling, so a
//! brief outage costs a short pause and a long one does not hammer the service.

use std::time::Duration;

/// Exponential backoff: `initial × 2^(failures−1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The pause after the first failure.
    pub initial: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Backoff {
    /// The pause after `failures` consecutive failures (1 for the first; 0 is no pause).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (failures - 1).min(16);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_initial_up_to_max() {
        let b = Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
        };
        let delays: Vec<u128> = (0..8).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [0, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
    }
}
