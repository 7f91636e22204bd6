//! The rules of the MLM business, without I/O: positions in the binary tree, usernames, dates, genders, and the
//! genealogy's placement rule.

use poem_openapi::Enum;
use tessera_core::{CoreError, CoreResult, StoredEnum};

/// A leg of the binary tree: the seed's `L` or `R`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmPosition")]
pub enum Position {
    L,
    R,
}

impl StoredEnum for Position {}

/// How a registration is paid.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmPaymentMethod", rename_all = "snake_case")]
pub enum PaymentMethod {
    FreeJoin,
    Ewallet,
    Epin,
}

/// Membership packages are bought at registration; cart packages in the shop.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmPackageKind", rename_all = "snake_case")]
pub enum PackageKind {
    Membership,
    Cart,
}

impl StoredEnum for PackageKind {}

/// The seed's genders: M or F.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmGender")]
pub enum Gender {
    M,
    F,
}

impl StoredEnum for Gender {}

/// A username under the business's rule: `min..=max` characters, letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit. Stored and compared lowercased, so `Anna` and `anna` are one member.
pub fn username(field: &str, value: &str, min: i64, max: i64) -> CoreResult<String> {
    let v = value.trim().to_lowercase();
    let len = v.chars().count() as i64;
    if len < min || len > max {
        return Err(CoreError::invalid(field, format!("must be {min} to {max} characters long")));
    }
    if !v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(CoreError::invalid(
            field,
            "may hold only letters, digits, '_', '.' and '-', and must start with a letter or digit",
        ));
    }
    Ok(v)
}

/// A calendar date written yyyy-mm-dd (the seed's format), checked to exist; refused with code 1013 by the caller.
pub fn date(value: &str) -> Option<String> {
    let v = value.trim();
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse::<u32>().ok()).flatten();
    let (y, m, d) = (num(&v[0..4])?, num(&v[5..7])?, num(&v[8..10])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (y >= 1900 && (1..=days).contains(&d)).then(|| v.to_string())
}

/// The placement rule of the binary plan: the placement member must be the sponsor or in the sponsor's downline,
/// which in path terms is "the sponsor's path is a prefix of the placement's".
pub fn inside_downline(sponsor_path: &str, placement_path: &str) -> bool {
    placement_path.starts_with(sponsor_path)
}

/// The uplines of a new member at `path` (every proper prefix, the top's '' first), each with the leg the new
/// member lies in, as seen from that upline.
pub fn uplines(path: &str) -> impl Iterator<Item = (&str, char)> {
    path.char_indices().map(move |(i, leg)| (&path[..i], leg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_exist() {
        assert_eq!(date("1990-02-28").as_deref(), Some("1990-02-28"));
        assert_eq!(date("2000-02-29").as_deref(), Some("2000-02-29"));
        for bad in ["1900-02-29", "1990-13-01", "1990-1-01", "01-02-1990", "1990-04-31", "abcd-ef-gh", ""] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn usernames_follow_the_rule() {
        assert_eq!(username("username", " Anna_1 ", 4, 20).unwrap(), "anna_1");
        assert!(username("username", "abc", 4, 20).is_err());
        assert!(username("username", "_anna", 4, 20).is_err());
        assert!(username("username", "an na", 4, 20).is_err());
    }

    #[test]
    fn placement_is_a_prefix_and_uplines_are_prefixes() {
        assert!(inside_downline("L", "LRL"));
        assert!(inside_downline("", "R"));
        assert!(!inside_downline("L", "RL"));
        assert_eq!(uplines("LRL").collect::<Vec<_>>(), vec![("", 'L'), ("L", 'R'), ("LR", 'L')]);
    }
}
