//! The billing API's rules for what callers send, without I/O: the modules staff permissions name, id lists, the
//! seed's `status` and `permissions` values, and how answers write instants.

use std::collections::BTreeMap;

use poem_openapi::Enum;
use serde_json::Value;
use tessera_core::{CoreError, CoreResult, StoredEnum};

/// The admin modules of the seed: a staff group's `permissions` name them, and each is the casbin object
/// `billing:<module>` its members need for every action of it.
pub const ADMIN_MODULES: &[&str] = &[
    "admin_group",
    "admin",
    "client_group",
    "client",
    "product_category",
    "product",
    "product_addon",
    "product_promocode",
    "invoice",
    "order",
    "kb_category",
    "kb",
    "support_ticket",
    "public_ticket",
    "canned_response_category",
    "canned_response",
    "blog",
    "forum_category",
    "forum",
    "forum_topic",
];

/// The most ids one `get` or `delete` takes.
pub const MAX_IDS: usize = 100;

/// The casbin object of an admin module.
pub fn object(module: &str) -> String {
    format!("billing:{module}")
}

/// The casbin role of a staff group.
pub fn group_role(group_id: i64) -> String {
    format!("billing_group_{group_id}")
}

/// One id or several: a number or `"1,2,3"`; each a positive whole number (one given twice counts once), at most
/// `MAX_IDS`.
pub fn ids(field: &str, value: &str) -> CoreResult<Vec<i64>> {
    let mut out = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        let id = part.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            CoreError::invalid(field, "must be an id or a comma-separated list of ids (positive whole numbers)")
        })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.len() > MAX_IDS {
        return Err(CoreError::invalid(field, format!("must name at most {MAX_IDS} ids")));
    }
    Ok(out)
}

/// The seed's `status`: `on` (or 1, true, active) is active; `off`, 0, false, inactive or nothing is not.
pub fn status_on(field: &str, value: Option<&str>) -> CoreResult<bool> {
    match value.map(|v| v.trim().to_lowercase()).as_deref() {
        None | Some("") | Some("off") | Some("0") | Some("false") | Some("inactive") => Ok(false),
        Some("on") | Some("1") | Some("true") | Some("active") => Ok(true),
        Some(_) => Err(CoreError::invalid(field, "must be on or off")),
    }
}

/// A staff group's permissions: each key an admin module, each value 1 (granted) or 0, as a PHP array sends them
/// (`permissions[client]=1`) or a JSON object. Returns the granted modules.
pub fn permissions(value: &BTreeMap<String, Value>) -> CoreResult<Vec<String>> {
    let mut granted = Vec::new();
    for (module, v) in value {
        let field = format!("permissions[{module}]");
        if !ADMIN_MODULES.contains(&module.as_str()) {
            return Err(CoreError::invalid(field, format!("is not a module; modules: {}", ADMIN_MODULES.join(", "))));
        }
        let on = match v {
            Value::Bool(b) => *b,
            Value::Number(n) if n.as_i64() == Some(1) => true,
            Value::Number(n) if n.as_i64() == Some(0) => false,
            Value::String(s) if s.trim() == "1" => true,
            Value::String(s) if s.trim() == "0" => false,
            _ => return Err(CoreError::invalid(field, "must be 1 or 0")),
        };
        if on {
            granted.push(module.clone());
        }
    }
    Ok(granted)
}

/// The stored form of granted modules, as the seed shows it: `{"client":"1"}`.
pub fn permissions_text(granted: &[String]) -> String {
    let map: serde_json::Map<String, Value> = granted.iter().map(|m| (m.clone(), Value::from("1"))).collect();
    Value::Object(map).to_string()
}

/// An instant as the seed writes it: epoch seconds, as text.
pub fn seconds(ms: i64) -> String {
    (ms / 1000).to_string()
}

/// A name-like field: trimmed, not empty, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> CoreResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(v.to_string())
}

/// An ISO 4217 currency code.
pub fn currency(field: &str, value: &str) -> CoreResult<String> {
    let v = value.trim().to_uppercase();
    if v.len() != 3 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(CoreError::invalid(field, "must be a three-letter ISO 4217 code"));
    }
    Ok(v)
}

/// A date as the seed sends it, DD-MM-YYYY (or YYYY-MM-DD), kept as given; empty clears it.
pub fn date(field: &str, value: &str) -> CoreResult<String> {
    let v = value.trim();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = v.split('-').collect();
    let ok = v.is_empty()
        || matches!(parts.as_slice(), [d, m, y] if digits(d, 2) && digits(m, 2) && digits(y, 4))
        || matches!(parts.as_slice(), [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2));
    if !ok {
        return Err(CoreError::invalid(field, "must be a date, DD-MM-YYYY or YYYY-MM-DD"));
    }
    Ok(v.to_string())
}

/// A new password: 8 to 256 characters.
pub fn password(field: &str, value: &str) -> CoreResult<()> {
    match value.chars().count() {
        n if n < 8 => Err(CoreError::invalid(field, "must be at least 8 characters")),
        n if n > 256 => Err(CoreError::invalid(field, "must be at most 256 characters")),
        _ => Ok(()),
    }
}

/// How often a product or addon is billed.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "BillingPeriod", rename_all = "lowercase")]
pub enum Period {
    Once,
    Monthly,
    Quarterly,
    Biannually,
    Annually,
}

impl StoredEnum for Period {}

/// What a product is (the seed's `product_type`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "BillingProductType", rename_all = "lowercase")]
pub enum ProductType {
    Custom,
    Hosting,
    Domain,
    License,
    Downloadable,
    Membership,
}

impl StoredEnum for ProductType {}

/// A promo code's discount: a percentage of the price, or a fixed amount off it.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "BillingPromoType", rename_all = "lowercase")]
pub enum PromoType {
    Percentage,
    Fixed,
}

impl StoredEnum for PromoType {}

/// A promo code's value, stored in hundredths: basis points of a percentage (at most 100%), or minor units.
pub fn promo_value(field: &str, promo_type: PromoType, value: &str) -> CoreResult<i64> {
    let v = tessera_core::money::parse_money(field, value)?;
    match promo_type {
        _ if v <= 0 => Err(CoreError::invalid(field, "must be more than 0")),
        PromoType::Percentage if v > 10_000 => Err(CoreError::invalid(field, "a percentage must be at most 100")),
        _ => Ok(v),
    }
}

/// A price: a number with at most two decimals, not negative, in minor units.
pub fn price(field: &str, value: &str) -> CoreResult<i64> {
    let v = tessera_core::money::parse_money(field, value)?;
    if v < 0 {
        return Err(CoreError::invalid(field, "must not be negative"));
    }
    Ok(v)
}

/// A day as `YYYY-MM-DD`, as epoch milliseconds at its start (UTC); `end` gives the end of the day instead.
pub fn day(field: &str, value: &str, end: bool) -> CoreResult<i64> {
    let bad = || CoreError::invalid(field, "must be a date, YYYY-MM-DD");
    let parts: Vec<i64> =
        value.trim().split('-').map(|p| p.parse::<i64>().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    if !(1970..=9999).contains(y) || !(1..=12).contains(m) || !(1..=days_in(*y, *m)).contains(d) {
        return Err(bad());
    }
    // Days since the epoch (Howard Hinnant's days_from_civil).
    let (y, m) = if *m <= 2 { (y - 1, m + 9) } else { (*y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400_000 + if end { 86_400_000 - 1 } else { 0 })
}

fn days_in(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_or_a_list() {
        assert_eq!(ids("id", "2").unwrap(), vec![2]);
        assert_eq!(ids("id", "1, 2,3,2").unwrap(), vec![1, 2, 3]);
        for bad in ["", "0", "-1", "1,,2", "a", "1.5"] {
            let e = ids("id", bad).unwrap_err();
            assert!(e.public_message().starts_with("id:"), "{bad}: {}", e.public_message());
        }
        let many = (1..=101).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert!(ids("id", &many).is_err());
    }

    #[test]
    fn permissions_name_modules() {
        let p: BTreeMap<String, Value> =
            [("client".to_string(), Value::from("1")), ("invoice".to_string(), Value::from(0))].into();
        assert_eq!(permissions(&p).unwrap(), vec!["client".to_string()]);
        let bad: BTreeMap<String, Value> = [("email".to_string(), Value::from(1))].into();
        assert!(permissions(&bad).unwrap_err().public_message().starts_with("permissions[email]:"));
        assert_eq!(permissions_text(&["client".into()]), r#"{"client":"1"}"#);
    }

    #[test]
    fn days_are_utc_instants() {
        assert_eq!(day("d", "1970-01-01", false).unwrap(), 0);
        assert_eq!(day("d", "2026-12-06", false).unwrap(), 1_796_515_200_000);
        assert_eq!(day("d", "2024-02-29", true).unwrap() + 1, day("d", "2024-03-01", false).unwrap());
        for bad in ["2023-02-29", "2026-13-01", "06-12-2026", "x"] {
            assert!(day("d", bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn promo_values() {
        assert_eq!(promo_value("value", PromoType::Percentage, "12.5").unwrap(), 1250);
        assert!(promo_value("value", PromoType::Percentage, "101").is_err());
        assert_eq!(promo_value("value", PromoType::Fixed, "101").unwrap(), 10_100);
        assert!(promo_value("value", PromoType::Fixed, "0").is_err());
    }

    #[test]
    fn status_is_on_or_off() {
        assert!(status_on("status", Some("on")).unwrap());
        assert!(!status_on("status", None).unwrap());
        assert!(status_on("status", Some("maybe")).is_err());
    }
}
