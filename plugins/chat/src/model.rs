//! Chat domain types and rules: addon kinds, presence, host names, and the "at least one field" rules. No I/O.

use poem_openapi::Enum;
use tessera_core::{CoreError, CoreResult, Email, StoredEnum};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ChatAddonKind", rename_all = "snake_case")]
pub enum AddonKind {
    /// A live chat on the organisation's own sites.
    LiveChat,
    /// Buyers chat with the sellers of a marketplace: domains get an embed link, assignments a product page.
    SellerBuyer,
}

impl StoredEnum for AddonKind {}

/// A host name without scheme, port or path, lowercased: `shop.example.com`.
pub fn host_name(field: &str, value: &str) -> CoreResult<String> {
    let v = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |why: &str| CoreError::invalid(field, why.to_string());
    if v.contains("://") {
        return Err(bad("must be a host name without http:// or https://"));
    }
    if v.is_empty() || v.len() > 253 || !v.contains('.') {
        return Err(bad("must be a host name like shop.example.com"));
    }
    for label in v.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad("must be a host name like shop.example.com (letters, digits and '-' between dots)"));
        }
    }
    Ok(v)
}

/// The "minimum one field is mandatory" rule of the seed's updates.
pub fn at_least_one(fields: &str, present: &[bool]) -> CoreResult<()> {
    if present.iter().any(|p| *p) {
        Ok(())
    } else {
        Err(CoreError::invalid(fields, "at least one of these fields is required"))
    }
}

/// Fields a live_chat addon does not have.
pub fn seller_buyer_only(kind: AddonKind, field: &str, present: bool) -> CoreResult<()> {
    if present && kind != AddonKind::SellerBuyer {
        return Err(CoreError::invalid(field, "is only for seller_buyer addons"));
    }
    Ok(())
}

pub fn operator_name(email: &Email, first: Option<&str>, last: Option<&str>) -> String {
    let full = [first, last].iter().flatten().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    if full.is_empty() {
        email.local_part().to_string()
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("d", "Shop.Example.COM.").unwrap(), "shop.example.com");
        for bad in ["https://shop.example.com", "localhost", "-a.example.com", "a..b", "shop example.com", "a.b/c"] {
            assert!(host_name("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules() {
        assert!(at_least_one("name, status, email", &[false, false, false]).is_err());
        assert!(at_least_one("name, status, email", &[false, true, false]).is_ok());
        assert!(seller_buyer_only(AddonKind::LiveChat, "unique_id", true).is_err());
        assert!(seller_buyer_only(AddonKind::SellerBuyer, "unique_id", true).is_ok());
        let ann = Email::parse("email", "ann@x.com").unwrap();
        assert_eq!(operator_name(&ann, Some("Ann"), Some(" Lee ")), "Ann Lee");
        assert_eq!(operator_name(&ann, None, None), "ann");
    }
}
