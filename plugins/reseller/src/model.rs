//! Reseller domain types and rules: the seed's enumerations, money in minor units, dates, and what a valid reseller is.
//! No I/O.

use poem_openapi::Enum;
use tessera_core::{CoreError, CoreResult, PageRule, StoredEnum};

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

// Stored in TEXT columns by their wire names (a wallet action is not stored, but messages name it the same way).
impl StoredEnum for ResellerType {}
impl StoredEnum for InvoiceBy {}
impl StoredEnum for PaymentBy {}
impl StoredEnum for TxnCode {}
impl StoredEnum for WalletAction {}

/// How reseller listings are paged on the wire.
pub const PAGE_RULE: PageRule =
    PageRule { limit_field: "rows_limit", offset_field: "rows_offset", default_limit: 10, max_limit: 100 };

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

/// A credit limit: a decimal amount ≥ 0, in minor units.
pub fn credit_limit(v: &str) -> CoreResult<i64> {
    let minor = parse_money("credit_limit", v)?;
    if minor < 0 {
        return Err(CoreError::invalid("credit_limit", "must not be negative"));
    }
    Ok(minor)
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
