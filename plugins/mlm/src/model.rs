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

/// Whether members choose their usernames (static) or the business generates them at registration (dynamic).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmUsernameType", rename_all = "snake_case")]
pub enum UsernameType {
    Static,
    Dynamic,
}

impl StoredEnum for UsernameType {}

/// A generated username: the business's prefix and six digits.
pub fn generated_username(prefix: &str) -> String {
    use rand::Rng;
    format!("{prefix}{:06}", rand::rng().random_range(0..1_000_000))
}

/// Where a member's identity check (KYC) stands; payouts need `verified` (1019).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmKycStatus", rename_all = "snake_case")]
pub enum KycStatus {
    Pending,
    Verified,
    Rejected,
}

impl StoredEnum for KycStatus {}

/// Where a payout request stands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "MlmPayoutStatus", rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Approved,
    Rejected,
}

impl StoredEnum for PayoutStatus {}

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

/// The seed's date format, yyyy-mm-dd; periods are written the same way.
const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A calendar date written yyyy-mm-dd (the seed's format), checked to exist; refused with code 1013 by the caller.
pub fn date(value: &str) -> Option<String> {
    let d = time::Date::parse(value.trim(), DAY).ok()?;
    (d.year() >= 1900).then(|| d.format(DAY).ok()).flatten()
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

/// Binary pairing of one member for one run: `left` and `right` are the unmatched volumes of the legs. Every
/// `pair_pv` points matched on both legs is a pair; at most `cap` pairs are paid, the rest are flushed. Returns
/// (paid pairs, volume consumed from each leg); what is not consumed carries forward.
pub fn pairing(left: i64, right: i64, pair_pv: i64, cap: i64) -> (i64, i64) {
    if pair_pv <= 0 {
        return (0, 0);
    }
    let pairs = left.min(right).max(0) / pair_pv;
    (pairs.min(cap.max(0)), pairs * pair_pv)
}

/// The sponsor bonus on a package: `bp` basis points of its amount, in minor units, rounded down.
pub fn sponsor_bonus(amount: i64, bp: i64) -> i64 {
    (amount as i128 * bp as i128 / 10_000) as i64
}

const DAY_MS: i64 = 86_400_000;

/// A period (a UTC day, yyyy-mm-dd) as [start, end) in epoch milliseconds.
pub fn period_bounds(period: &str) -> Option<(i64, i64)> {
    let day = time::Date::parse(period.trim(), DAY).ok()?;
    let start = day.midnight().assume_utc().unix_timestamp() * 1000;
    Some((start, start + DAY_MS))
}

/// The UTC day (yyyy-mm-dd) an instant falls in.
pub fn period_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.date().format(DAY).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn pairs_are_capped_and_volume_carries() {
        // 350 left, 220 right, 100 PV a pair: two pairs, 200 consumed from each leg, 150 and 20 carried.
        assert_eq!(pairing(350, 220, 100, 10), (2, 200));
        // Capped at one paid pair; both matched pairs' volume is consumed (the second is flushed).
        assert_eq!(pairing(350, 220, 100, 1), (1, 200));
        assert_eq!(pairing(99, 1000, 100, 10), (0, 0));
        assert_eq!(sponsor_bonus(10_000, 1_000), 1_000);
        assert_eq!(sponsor_bonus(999, 150), 14);
    }

    #[test]
    fn periods_are_utc_days() {
        let (start, end) = period_bounds("2026-12-05").unwrap();
        assert_eq!(start, 1_796_428_800_000);
        assert_eq!(end - start, DAY_MS);
        assert_eq!(period_of(start), "2026-12-05");
        assert_eq!(period_of(end - 1), "2026-12-05");
        assert_eq!(period_of(0), "1970-01-01");
        assert_eq!(period_bounds("2024-02-29").map(|(s, _)| period_of(s)).as_deref(), Some("2024-02-29"));
        assert!(period_bounds("2026-13-01").is_none());
    }
}

/// The image type of a file by its first bytes (what it is, not what it is called): JPEG, PNG or GIF.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}
