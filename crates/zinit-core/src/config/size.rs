//! Size text: `1048576`, `128KiB`, `10MiB`, `1.5GiB`, `10M`, `10MB`.
//! Parsing and formatting only; bounds are the lowering's business.
//!
//! Every unit is a power of 1024, whatever its spelling: `K`, `KB` and
//! `KiB` all mean 1024 bytes, as in logrotate and Docker. A size bounds
//! disk use, and reading `MB` as 2^20 only ever makes a bound rounder;
//! two meanings for look-alike spellings would be a trap. Units are
//! case-insensitive; a bare number (or the unit `B`) is bytes.

use std::fmt;

/// Why a size string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// Not of the accepted shape.
    Invalid(String),
    /// More than `u64` bytes.
    TooLarge(String),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Invalid(raw) => write!(
                f,
                "invalid size {raw:?}: expected bytes or a number with a unit \
                 (KiB, MiB, GiB, TiB; K/KB, M/MB, ... mean the same), e.g. \"128KiB\", \"10MiB\""
            ),
            SizeError::TooLarge(raw) => write!(f, "size {raw:?} is too large"),
        }
    }
}

impl std::error::Error for SizeError {}

const KIB: u64 = 1024;

/// The multiplier of a unit, case-insensitive; `None` if unknown.
fn unit_bytes(unit: &str) -> Option<u64> {
    let power = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        _ => return None,
    };
    Some(KIB.pow(power))
}

/// Parse a size: a number (decimal fraction allowed), optional spaces,
/// then an optional unit. Fractions of a byte are dropped.
pub fn parse_size(raw: &str) -> Result<u64, SizeError> {
    let invalid = || SizeError::Invalid(raw.to_owned());
    let text = raw.trim();
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let multiplier = unit_bytes(unit.trim_start()).ok_or_else(invalid)?;
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return Err(invalid());
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(int_part) || !digits(frac_part) {
        return Err(invalid());
    }
    let too_large = || SizeError::TooLarge(raw.to_owned());
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| too_large())?
    };
    let mut bytes = int
        .checked_mul(u128::from(multiplier))
        .ok_or_else(too_large)?;
    // 18 fraction digits are far below a byte of any unit here.
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    if !frac_digits.is_empty() {
        let frac: u128 = frac_digits.parse().map_err(|_| invalid())?;
        let scale = 10u128.pow(frac_digits.len() as u32);
        bytes += frac * u128::from(multiplier) / scale;
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// A size the way [`parse_size`] reads it, in the largest binary unit that
/// divides it exactly: `128KiB`, `10MiB`, `1TiB`, `1000 bytes`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)];
    for (unit, power) in UNITS {
        let size = KIB.pow(power);
        if bytes >= size && bytes / size * size == bytes {
            return format!("{}{unit}", bytes / size);
        }
    }
    if bytes == 1 {
        "1 byte".to_owned()
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_size("1048576"), Ok(MIB));
        assert_eq!(parse_size("128KiB"), Ok(128 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 * MIB));
        assert_eq!(parse_size("10M"), Ok(10 * MIB));
        assert_eq!(parse_size("10MB"), Ok(10 * MIB));
        assert_eq!(parse_size("10mb"), Ok(10 * MIB));
        assert_eq!(parse_size("10 MiB"), Ok(10 * MIB));
        assert_eq!(parse_size("1GiB"), Ok(1024 * MIB));
        assert_eq!(parse_size("1.5GiB"), Ok(1536 * MIB));
        assert_eq!(parse_size("1T"), Ok(1024 * 1024 * MIB));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size(".5K"), Ok(512));
        assert_eq!(parse_size("1.0001K"), Ok(1024));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", " ", "MiB", "10 X", "10PiB", "1.2.3M", "-1M", "+1M", "1e6", "10Mi", "ten", "1M B",
        ] {
            assert_eq!(
                parse_size(bad),
                Err(SizeError::Invalid(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_size("99999999999T"),
            Err(SizeError::TooLarge("99999999999T".into()))
        );
        assert!(parse_size("999999999999999999999999999999999999999999").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for (bytes, text) in [
            (128 * 1024, "128KiB"),
            (10 * MIB, "10MiB"),
            (1536 * MIB, "1536MiB"),
            (1024 * 1024 * MIB, "1TiB"),
            (1000, "1000 bytes"),
            (1, "1 byte"),
            (0, "0 bytes"),
        ] {
            assert_eq!(format_size(bytes), text);
            let parsed = parse_size(text.trim_end_matches("bytes").trim_end_matches("byte"));
            assert_eq!(parsed, Ok(bytes), "{text}");
        }
    }
}
