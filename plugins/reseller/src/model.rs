//! Reseller domain types and rules: the seed's enumerations, money in minor units, dates, and what a valid reseller is.
//! No I/O.

use poem_openapi::types::{ParseFromParameter, ToJSON};
use poem_openapi::Enum;
use tessera_core::{CoreError, CoreResult};

pub use tessera_core::money::{format_money, parse_money};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerType")]
pub enum ResellerType {
    Reseller,
    Franchisee,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerInvoiceBy")]
pub enum InvoiceBy {
    #[oai(rename = "ISP")]
    Isp,
    Reseller,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerPaymentBy")]
pub enum PaymentBy {
    #[oai(rename = "ISP")]
    Isp,
    Reseller,
    #[oai(rename = "ISP+Reseller")]
    IspAndReseller,
}

/// Kinds of ledger rows.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerTxnCode")]
pub enum TxnCode {
    Invoice,
    Payment,
    Topup,
    Settlement,
    Adj,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerWalletAction")]
pub enum WalletAction {
    /// Credit the wallet.
    TopUp,
    /// Debit the wallet (down to minus the credit limit).
    Settlement,
    /// A signed adjustment.
    Adj,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerSortField", rename_all = "lowercase")]
pub enum SortField {
    Id,
    Ispid,
    Type,
    Name,
    Code,
    State,
    Wallet,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ResellerSortOrder", rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// The value of an enumeration as stored (and as on the wire).
pub fn wire<E: ToJSON>(e: E) -> String {
    e.to_json().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Reads a stored enumeration back; an unknown stored value is an internal error.
pub fn parse_stored<E: ParseFromParameter>(field: &str, s: &str) -> CoreResult<E> {
    E::parse_from_parameter(s).map_err(|_| CoreError::internal(format!("stored {field} `{s}` is not a known value")))
}

impl WalletAction {
    pub fn txn_code(self) -> TxnCode {
        match self {
            WalletAction::TopUp => TxnCode::Topup,
            WalletAction::Settlement => TxnCode::Settlement,
            WalletAction::Adj => TxnCode::Adj,
        }
    }

    /// The signed change of the balance for an amount (> 0 except for Adj, which carries its sign).
    pub fn delta(self, field: &str, amount: i64) -> CoreResult<i64> {
        match self {
            WalletAction::TopUp | WalletAction::Settlement if amount <= 0 => {
                Err(CoreError::invalid(field, "must be greater than 0"))
            }
            WalletAction::TopUp => Ok(amount),
            WalletAction::Settlement => Ok(-amount),
            WalletAction::Adj if amount == 0 => Err(CoreError::invalid(field, "must not be 0")),
            WalletAction::Adj => Ok(amount),
        }
    }
}

/// A commission percentage 0–100 with at most two decimals, as basis points.
pub fn parse_percent(field: &str, value: f64) -> CoreResult<i64> {
    if !(0.0..=100.0).contains(&value) {
        return Err(CoreError::invalid(field, "must be between 0 and 100"));
    }
    let bp = (value * 100.0).round();
    if ((bp / 100.0) - value).abs() > 1e-9 {
        return Err(CoreError::invalid(field, "must have at most 2 decimals"));
    }
    Ok(bp as i64)
}

/// A yyyy-mm-dd date as the epoch milliseconds of its start (UTC).
pub fn parse_date(field: &str, s: &str) -> CoreResult<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
        .map_err(|_| CoreError::invalid(field, "must be a date in yyyy-mm-dd format"))
}

pub const DAY_MS: i64 = 86_400_000;

/// Epoch milliseconds as "yyyy-mm-dd hh:mm:ss" (UTC), the way the CRM shows times.
pub fn format_time(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Rows limit (default 10, 1..=100) and offset (default 0, ≥ 0) of a listing.
pub fn paging(limit: Option<i64>, offset: Option<i64>) -> CoreResult<(i64, i64)> {
    let limit = limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(CoreError::invalid("rows_limit", "must be between 1 and 100"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(CoreError::invalid("rows_offset", "must not be negative"));
    }
    Ok((limit, offset))
}

/// show_count: 0 or 1.
pub fn show_count(v: Option<i64>) -> CoreResult<bool> {
    match v.unwrap_or(0) {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(CoreError::invalid("show_count", "must be 0 or 1")),
    }
}

pub fn check_text(field: &str, value: &str, max: usize, required: bool) -> CoreResult<()> {
    let len = value.trim().chars().count();
    if required && len == 0 {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if len > max {
        return Err(CoreError::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

pub fn check_mobile(value: &str) -> CoreResult<()> {
    let digits = value.trim().trim_start_matches('+');
    if digits.len() < 6 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CoreError::invalid("mobile", "must be 6 to 15 digits, optionally starting with +"));
    }
    Ok(())
}

pub fn check_email(value: &str) -> CoreResult<()> {
    let v = value.trim();
    let ok = v.len() <= 254
        && v.matches('@').count() == 1
        && v.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.ends_with('.'))
        && !v.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid("email", "must be an email address like name@example.com"))
    }
}

/// A slug for the reseller's core tenant, unique across the platform: the ISP's slug, the code, and a random suffix
/// (a deleted reseller keeps its tenant, so its code may come back).
pub fn tenant_slug(isp_slug: &str, code: &str, suffix: &str) -> String {
    let code: String =
        code.trim().to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let base: String = format!("{isp_slug}-{}", code.trim_matches('-')).chars().take(54).collect();
    format!("{}-{suffix}", base.trim_end_matches(['-', '.']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_sign_amounts() {
        assert_eq!(WalletAction::TopUp.delta("amt", 100).unwrap(), 100);
        assert_eq!(WalletAction::Settlement.delta("amt", 100).unwrap(), -100);
        assert_eq!(WalletAction::Adj.delta("amt", -100).unwrap(), -100);
        assert!(WalletAction::TopUp.delta("amt", -1).is_err());
        assert!(WalletAction::Adj.delta("amt", 0).is_err());
    }

    #[test]
    fn percent_and_dates() {
        assert_eq!(parse_percent("c", 12.5).unwrap(), 1250);
        assert!(parse_percent("c", 100.01).is_err());
        assert!(parse_percent("c", 1.234).is_err());
        assert_eq!(parse_date("d", "1970-01-02").unwrap(), DAY_MS);
        assert!(parse_date("d", "2024-13-01").is_err());
        assert_eq!(format_time(DAY_MS), "1970-01-02 00:00:00");
    }

    #[test]
    fn slugs_are_valid() {
        assert_eq!(tenant_slug("acme", "R 2/x", "a1b2c3"), "acme-r-2-x-a1b2c3");
        assert!(tenant_slug("acme", &"z".repeat(100), "a1b2c3").len() <= 63);
    }
}
