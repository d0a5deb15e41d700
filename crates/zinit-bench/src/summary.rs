//! Result objects and the error every subcommand reports.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Latency distribution of one subcommand: `{"median_us","min_us","max_us","samples"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub median_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub samples: usize,
}

impl Summary {
    /// Median (mean of the two middle samples when even), min and max.
    /// Returns `None` for no samples.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let n = us.len();
        let median = if n % 2 == 1 {
            us[n / 2]
        } else {
            (us[n / 2 - 1] + us[n / 2]) / 2.0
        };
        Some(Summary {
            median_us: round1(median),
            min_us: round1(us[0]),
            max_us: round1(us[n - 1]),
            samples: n,
        })
    }
}

/// Requests per second of a load run: `{"per_second","clients","seconds"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rate {
    pub per_second: u64,
    pub clients: usize,
    pub seconds: f64,
}

/// Lines per second through a pipe: `{"per_second"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub per_second: u64,
}

/// `count` events over `elapsed`, rounded to a whole number per second.
pub fn per_second(count: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0;
    }
    (count as f64 / secs).round() as u64
}

/// Rounds to one decimal place.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Why a measurement could not be completed; printed as
/// `bench-tool SUBCOMMAND: MESSAGE`, exit status 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl Failure {
    /// `what` failed with `err`, e.g. `connect to /run/zinit.sock: No such file`.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Failure {
        Failure(format!("{what}: {err}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&x| Duration::from_micros(x)).collect()
    }

    #[test]
    fn odd_median_is_the_middle_sample() {
        let s = Summary::of(&us(&[30, 10, 20])).unwrap();
        assert_eq!(
            s,
            Summary {
                median_us: 20.0,
                min_us: 10.0,
                max_us: 30.0,
                samples: 3
            }
        );
    }

    #[test]
    fn even_median_is_the_mean_of_the_middle_two() {
        let s = Summary::of(&us(&[1, 2, 3, 10])).unwrap();
        assert_eq!(s.median_us, 2.5);
        assert_eq!(s.samples, 4);
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn one_decimal_in_json() {
        let s = Summary::of(&[Duration::from_nanos(570_349)]).unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"median_us":570.3,"min_us":570.3,"max_us":570.3,"samples":1}"#
        );
    }

    #[test]
    fn rates_round_to_whole_numbers() {
        assert_eq!(per_second(3, Duration::from_secs(2)), 2);
        assert_eq!(per_second(1000, Duration::from_millis(250)), 4000);
        assert_eq!(per_second(5, Duration::ZERO), 0);
    }
}
