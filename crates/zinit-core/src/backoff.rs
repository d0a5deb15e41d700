//! Restart delay policy: immediate after a stable run, exponential after
//! quick failures, capped. Pure arithmetic; the supervisor owns the counter.

use crate::spec::RestartPolicy;
use std::time::Duration;

/// Consecutive quick failures of one service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    quick_failures: u32,
}

impl Backoff {
    /// Delay before the next start, given how long the run that just ended
    /// had been up. A stable run resets the counter and restarts at once.
    pub fn after_exit(&mut self, policy: &RestartPolicy, uptime: Duration) -> Duration {
        if uptime >= policy.stable_after {
            self.quick_failures = 0;
            return Duration::ZERO;
        }
        self.next_delay(policy)
    }

    /// Delay before retrying after a start that failed outright.
    pub fn next_delay(&mut self, policy: &RestartPolicy) -> Duration {
        let exponent = self.quick_failures.min(31);
        self.quick_failures = self.quick_failures.saturating_add(1);
        policy
            .initial_delay
            .checked_mul(1u32 << exponent)
            .map_or(policy.max_delay, |d| d.min(policy.max_delay))
    }

    /// An operator asked for a start: forget the failure history.
    pub fn reset(&mut self) {
        self.quick_failures = 0;
    }

    pub fn quick_failures(&self) -> u32 {
        self.quick_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quick_failures_double_up_to_the_cap() {
        let policy = RestartPolicy {
            initial_delay: ms(250),
            max_delay: Duration::from_secs(30),
            stable_after: Duration::from_secs(1),
            ..RestartPolicy::default()
        };
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..10).map(|_| b.after_exit(&policy, ms(10))).collect();
        assert_eq!(
            delays,
            vec![
                ms(250),
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                ms(30000),
                ms(30000),
                ms(30000)
            ]
        );
    }

    #[test]
    fn a_stable_run_restarts_at_once_and_resets() {
        let policy = RestartPolicy::default();
        let mut b = Backoff::default();
        b.after_exit(&policy, ms(1));
        b.after_exit(&policy, ms(1));
        assert_eq!(b.quick_failures(), 2);
        assert_eq!(
            b.after_exit(&policy, Duration::from_secs(5)),
            Duration::ZERO
        );
        assert_eq!(b.quick_failures(), 0);
        assert_eq!(b.after_exit(&policy, ms(1)), policy.initial_delay);
    }

    #[test]
    fn never_overflows() {
        let policy = RestartPolicy {
            initial_delay: Duration::from_secs(u64::MAX / 4),
            max_delay: Duration::from_secs(60),
            stable_after: Duration::from_secs(1),
            ..RestartPolicy::default()
        };
        let mut b = Backoff::default();
        for _ in 0..100 {
            assert!(b.after_exit(&policy, Duration::ZERO) <= Duration::from_secs(60));
        }
    }
}
