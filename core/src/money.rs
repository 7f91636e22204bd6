//! Money: amounts as i64 minor units (cents), parsed from and rendered as decimals with two places, so nothing
//! drifts the way floats do.

use crate::error::{CoreError, CoreResult};

/// The largest amount accepted in one field: 10^13 major units (10,000,000,000,000.00).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// The largest balance or running total a store keeps: 10^15 major units. A change that would pass it is refused
/// (in the SQL that makes it), so a sum of amounts never reaches i64's limit: 10^17 + 10^15 < 9.2 × 10^18.
pub const MAX_BALANCE: i64 = 100_000_000_000_000_000;

/// Parses a decimal amount with at most two decimals ("10", "-2.5", "1234.56") into minor units, exactly.
pub fn parse_money(field: &str, s: &str) -> CoreResult<i64> {
    let bad = || CoreError::invalid(field, "must be a number with at most 2 decimals, e.g. 10 or 10.50");
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 15
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let minor = whole * 100 + frac;
    if minor > MAX_AMOUNT {
        return Err(CoreError::invalid(field, "is too large"));
    }
    Ok(if negative { -minor } else { minor })
}

/// Minor units as a decimal with two places: 1050 → "10.50", -5 → "-0.05".
pub fn format_money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(parse_money("amt", "10").unwrap(), 1000);
        assert_eq!(parse_money("amt", "10.5").unwrap(), 1050);
        assert_eq!(parse_money("amt", "0.01").unwrap(), 1);
        assert_eq!(parse_money("amt", "-2.25").unwrap(), -225);
        assert_eq!(parse_money("amt", ".5").unwrap(), 50);
        for bad in ["", "abc", "1.234", "1e5", "--1", "1.2.3", "NaN", "9999999999999999"] {
            assert!(parse_money("amt", bad).is_err(), "{bad}");
        }
        assert_eq!(format_money(1050), "10.50");
        assert_eq!(format_money(-5), "-0.05");
        assert_eq!(format_money(0), "0.00");
    }
}
