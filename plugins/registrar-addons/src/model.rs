//! Registrar domain rules: products, invoice options, tenures and the pricing arithmetic of plan changes, all in minor
//! units. No I/O.

use std::collections::BTreeMap;

use poem_openapi::Enum;
use tessera_core::{CoreError, CoreResult, PageRule, StoredEnum};

/// A month of an order's term.
pub const MONTH_MS: i64 = 30 * 86_400_000;

/// A product the reseller sells, by its wire name (the path segment, and the value stored in `product` columns).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "RegistrarProduct")]
pub enum Product {
    #[oai(rename = "codeguard")]
    CodeGuard,
    #[oai(rename = "sitelock")]
    SiteLock,
}

impl StoredEnum for Product {}

impl Product {
    pub fn title(self) -> &'static str {
        match self {
            Product::CodeGuard => "CodeGuard",
            Product::SiteLock => "SiteLock",
        }
    }

    /// The tenure a plan change is priced at: CodeGuard orders name it (`months`), SiteLock orders keep theirs.
    pub fn change_months(self, months: Option<i64>) -> Option<i64> {
        match self {
            Product::CodeGuard => months,
            Product::SiteLock => None,
        }
    }

    /// The tenure a modify-pricing quote is for: required for CodeGuard, ignored for SiteLock (the order's own).
    pub fn quote_months(self, months: Option<i64>) -> CoreResult<Option<i64>> {
        match (self, months) {
            (Product::CodeGuard, None) => {
                Err(CoreError::invalid("months", "is required for CodeGuard: the tenure in the new plan, in months"))
            }
            _ => Ok(self.change_months(months)),
        }
    }

    /// Whether moving from a plan of `current` tier to one of `new` tier is allowed: SiteLock upgrades only,
    /// CodeGuard both ways; never to the same plan.
    pub fn check_change(self, current_plan: i64, current_tier: i64, new_plan: i64, new_tier: i64) -> CoreResult<()> {
        if current_plan == new_plan {
            return Err(CoreError::invalid("new-plan-id", "is the order's current plan"));
        }
        if self == Product::SiteLock && new_tier <= current_tier {
            return Err(CoreError::invalid("new-plan-id", "SiteLock orders can only be upgraded to a higher plan"));
        }
        Ok(())
    }
}

/// The customer search's pages: `no-of-records` (1 to 500) from `page-no` (from 1).
pub const CUSTOMER_PAGE: PageRule =
    PageRule { limit_field: "no-of-records", offset_field: "page-no", default_limit: 10, max_limit: 500 };

/// The most ids one `customer-id` or `reseller-id` search filter takes.
pub const MAX_SEARCH_IDS: usize = 500;

/// The statuses a customer search accepts, as the registrar's search does. Tessera never deletes a customer, so a
/// search for `Deleted` ones answers an empty page.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "RegistrarCustomerStatus")]
pub enum CustomerStatus {
    Active,
    Suspended,
    Deleted,
}

impl StoredEnum for CustomerStatus {}

/// A receipts bound of the customer search (`total-receipt-start` / `-end`, a decimal in major units) as a bound on
/// the total in minor units, exactly: `total > x` holds exactly when `total_minor > floor(100·x)`, and `total < x`
/// exactly when `total_minor < ceil(100·x)`. The number is read from its shortest decimal form, so 10.1 is 10.10,
/// not the binary float below it. Bounds past the largest total kept saturate.
pub fn receipts_bound(field: &str, x: f64, lower: bool) -> CoreResult<i64> {
    if !x.is_finite() {
        return Err(CoreError::invalid(field, "must be a number"));
    }
    let text = format!("{}", x.abs());
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let cents: String = frac.chars().chain(std::iter::repeat('0')).take(2).collect();
    let rest = frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0');
    let limit = tessera_core::money::MAX_BALANCE.saturating_mul(10);
    let truncated = match (whole.parse::<i64>(), cents.parse::<i64>()) {
        (Ok(w), Ok(c)) => w.checked_mul(100).and_then(|w| w.checked_add(c)).unwrap_or(limit).min(limit),
        _ => limit,
    };
    // |x|·100 lies in [truncated, truncated + 1): floor and ceiling of the magnitude, then of the signed value.
    let (floor_abs, ceil_abs) = (truncated, truncated + i64::from(rest));
    Ok(match (x < 0.0, lower) {
        (false, true) => floor_abs,
        (false, false) => ceil_abs,
        (true, true) => -ceil_abs,
        (true, false) => -floor_abs,
    })
}

/// The creation-date bounds of the customer search (UNIX seconds, both exclusive) as bounds on `created_at` in
/// milliseconds: `created_at >= lower` and `created_at < upper`. A creation date is shown in whole seconds, so
/// "after second s" starts at the next second.
pub fn creation_bounds(start: Option<i64>, end: Option<i64>) -> (Option<i64>, Option<i64>) {
    (start.map(|s| s.saturating_add(1).saturating_mul(1000)), end.map(|e| e.saturating_mul(1000)))
}

/// What happens to the customer's invoice for a purchase or a plan change.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "RegistrarInvoiceOption")]
pub enum InvoiceOption {
    /// Execute with no invoice at all.
    NoInvoice,
    /// Invoice and pay it from the customer's funds; without enough funds the invoice stays unpaid and the action pending.
    PayInvoice,
    /// Invoice, leave it unpaid, and execute.
    KeepInvoice,
    /// Invoice, leave it unpaid, and execute only once it is paid (the action stays pending).
    OnlyAdd,
}

/// Monthly price in minor units per tenure in months, e.g. {1: 1000, 12: 900}.
pub type Pricing = BTreeMap<i64, i64>;

/// Parses "1:10.00,12:9.00" (tenure months : monthly price).
pub fn parse_pricing(field: &str, s: &str) -> CoreResult<Pricing> {
    let bad = || CoreError::invalid(field, "must be tenure:monthly-price pairs like 1:10.00,12:9.00");
    let mut out = Pricing::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (months, price) = pair.split_once(':').ok_or_else(bad)?;
        let months: i64 = months.trim().parse().map_err(|_| bad())?;
        if !(1..=120).contains(&months) {
            return Err(CoreError::invalid(field, "tenures must be 1 to 120 months"));
        }
        let price = tessera_core::money::parse_money(field, price)?;
        if price < 0 {
            return Err(CoreError::invalid(field, "prices must not be negative"));
        }
        out.insert(months, price);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The monthly price of a tenure, or an error naming the field.
pub fn monthly(pricing: &Pricing, field: &str, months: i64) -> CoreResult<i64> {
    pricing.get(&months).copied().ok_or_else(|| {
        let offered: Vec<String> = pricing.keys().map(i64::to_string).collect();
        CoreError::invalid(
            field,
            format!("{months} months is not a tenure of this plan (offered: {})", offered.join(", ")),
        )
    })
}

/// Whole months left from `now` to `end`: a started month counts.
pub fn remaining_months(now: i64, end: i64) -> i64 {
    if end <= now {
        0
    } else {
        (end - now + MONTH_MS - 1) / MONTH_MS
    }
}

/// The five figures of a plan change, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangePrice {
    pub remaining_months: i64,
    pub current: i64,
    pub modified: i64,
}

impl ChangePrice {
    pub fn new(remaining_months: i64, current_monthly: i64, new_monthly: i64) -> Self {
        ChangePrice {
            remaining_months,
            current: remaining_months * current_monthly,
            modified: remaining_months * new_monthly,
        }
    }

    /// modifiedOrderPrice − currentOrderPrice (negative for a cheaper plan).
    pub fn upgrade_cost(&self) -> i64 {
        self.modified - self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_by_hand() {
        let p = parse_pricing("pricing", "1:10.00, 12:8.50").unwrap();
        assert_eq!(monthly(&p, "months", 12).unwrap(), 850);
        assert!(monthly(&p, "months", 6).is_err());
        assert!(parse_pricing("pricing", "12").is_err());
        assert!(parse_pricing("pricing", "0:1").is_err());
        // Mid-term upgrade: 7 months left of a 12-month order at 8.50 moving to a plan at 12.00.
        let c = ChangePrice::new(7, 850, 1200);
        assert_eq!((c.current, c.modified, c.upgrade_cost()), (5950, 8400, 2450));
        // Downgrade: the cost is negative.
        assert_eq!(ChangePrice::new(3, 1200, 850).upgrade_cost(), -1050);
    }

    #[test]
    fn months_left() {
        assert_eq!(remaining_months(0, 12 * MONTH_MS), 12);
        assert_eq!(remaining_months(1, 12 * MONTH_MS), 12, "a started month counts");
        assert_eq!(remaining_months(11 * MONTH_MS + 5, 12 * MONTH_MS), 1, "the last month");
        assert_eq!(remaining_months(12 * MONTH_MS, 12 * MONTH_MS), 0);
    }

    #[test]
    fn change_rules() {
        assert!(Product::SiteLock.check_change(1, 2, 2, 1).is_err(), "no SiteLock downgrade");
        assert!(Product::SiteLock.check_change(1, 1, 2, 2).is_ok());
        assert!(Product::CodeGuard.check_change(1, 2, 2, 1).is_ok());
        assert!(Product::CodeGuard.check_change(1, 1, 1, 1).is_err());
    }

    #[test]
    fn receipts_bounds_are_exact() {
        // total > 10.1 ⇔ total_minor > 1010; total < 10.1 ⇔ total_minor < 1010.
        assert_eq!(receipts_bound("f", 10.1, true).unwrap(), 1010);
        assert_eq!(receipts_bound("f", 10.1, false).unwrap(), 1010);
        // 10.005: total > 10.005 ⇔ total_minor > 1000; total < 10.005 ⇔ total_minor < 1001.
        assert_eq!(receipts_bound("f", 10.005, true).unwrap(), 1000);
        assert_eq!(receipts_bound("f", 10.005, false).unwrap(), 1001);
        // Negative: -1.005·100 = -100.5, floor -101, ceiling -100.
        assert_eq!(receipts_bound("f", -1.005, true).unwrap(), -101);
        assert_eq!(receipts_bound("f", -1.005, false).unwrap(), -100);
        assert_eq!(receipts_bound("f", 0.0, true).unwrap(), 0);
        assert_eq!(receipts_bound("f", 1e300, true).unwrap(), tessera_core::money::MAX_BALANCE * 10);
        assert_eq!(
            receipts_bound("total-receipt-end", f64::NAN, false).unwrap_err().field(),
            Some("total-receipt-end")
        );
        assert!(receipts_bound("f", f64::INFINITY, false).is_err());
    }

    #[test]
    fn creation_bounds_are_exclusive_in_seconds() {
        // After second 100: from 101.000; before second 200: up to 199.999.
        assert_eq!(creation_bounds(Some(100), Some(200)), (Some(101_000), Some(200_000)));
        assert_eq!(creation_bounds(None, Some(i64::MAX)), (None, Some(i64::MAX)));
        assert_eq!(creation_bounds(Some(i64::MAX), None), (Some(i64::MAX), None));
    }

    #[test]
    fn products_by_wire_name() {
        assert_eq!(Product::CodeGuard.stored(), "codeguard");
        assert_eq!(Product::from_stored("product", "sitelock").unwrap(), Product::SiteLock);
        assert_eq!(Product::CodeGuard.quote_months(None).unwrap_err().field(), Some("months"));
        assert_eq!(Product::CodeGuard.quote_months(Some(12)).unwrap(), Some(12));
        assert_eq!(Product::SiteLock.quote_months(Some(12)).unwrap(), None, "SiteLock keeps the order's tenure");
        assert_eq!(Product::SiteLock.change_months(Some(12)), None);
    }
}
