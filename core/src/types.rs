//! Value types every plugin shares, so that a rule has one implementation: validated email addresses, listing
//! pages, booleans stored as INTEGER 0/1, and enumerations stored by their wire name.

use poem_openapi::types::{ParseFromParameter, ToJSON};
use sqlx::any::{Any, AnyTypeInfo, AnyTypeInfoKind};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;

use crate::error::{CoreError, CoreResult};

/// A syntactically valid email address, trimmed and lowercased: `name@example.com`. The domain needs a dot and may
/// not start or end with one; no whitespace or control characters; at most 254 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks `value` as the field `field`; the error names the field.
    pub fn parse(field: &str, value: &str) -> CoreResult<Email> {
        let v = value.trim().to_lowercase();
        let ok = v.len() <= 254
            && v.matches('@').count() == 1
            && v.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            })
            && !v.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(CoreError::invalid(field, "must be an email address like name@example.com"));
        }
        // Two spellings of one address must not make two accounts: invisible characters (zero-width spaces, joiners,
        // soft hyphens) and combining marks (a decomposed "é") are refused, so an address is written one way.
        if v.chars().any(|c| invisible(c) || combining(c)) {
            return Err(CoreError::invalid(
                field,
                "must not contain invisible characters or combining marks; write accented letters precomposed",
            ));
        }
        Ok(Email(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }
}

fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}')
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2060}'..='\u{206F}').contains(&c)
        || c == '\u{FEFF}'
}

fn combining(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
        || ('\u{1AB0}'..='\u{1AFF}').contains(&c)
        || ('\u{1DC0}'..='\u{1DFF}').contains(&c)
        || ('\u{20D0}'..='\u{20FF}').contains(&c)
        || ('\u{FE20}'..='\u{FE2F}').contains(&c)
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One page of a listing: `limit` rows from `offset`. Both are bound as parameters, never formatted into SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

/// How a listing is paged on the wire: the names of its two fields, the default page size and the largest.
#[derive(Debug, Clone, Copy)]
pub struct PageRule {
    pub limit_field: &'static str,
    pub offset_field: &'static str,
    pub default_limit: i64,
    pub max_limit: i64,
}

impl PageRule {
    /// `limit`/`offset`, 1..=100, 20 by default: the core API's rule.
    pub const CORE: PageRule =
        PageRule { limit_field: "limit", offset_field: "offset", default_limit: 20, max_limit: 100 };

    fn limit(&self, given: Option<i64>) -> CoreResult<i64> {
        let limit = given.unwrap_or(self.default_limit);
        if !(1..=self.max_limit).contains(&limit) {
            return Err(CoreError::invalid(self.limit_field, format!("must be between 1 and {}", self.max_limit)));
        }
        Ok(limit)
    }
}

impl Paging {
    /// Limit and offset as given (each optional), checked against the rule; errors name the wire field.
    pub fn new(rule: PageRule, limit: Option<i64>, offset: Option<i64>) -> CoreResult<Paging> {
        let limit = rule.limit(limit)?;
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(CoreError::invalid(rule.offset_field, "must not be negative"));
        }
        Ok(Paging { limit, offset })
    }

    /// A page number from 1 and a page size (`page-no` / `no-of-records` style): `rule.offset_field` names the page
    /// number.
    pub fn numbered(rule: PageRule, size: Option<i64>, page: Option<i64>) -> CoreResult<Paging> {
        let limit = rule.limit(size)?;
        let page = page.unwrap_or(1);
        if page < 1 {
            return Err(CoreError::invalid(rule.offset_field, "must be 1 or more"));
        }
        Ok(Paging { limit, offset: (page - 1).saturating_mul(limit) })
    }
}

/// A boolean stored as INTEGER 0/1 (the Any driver reads neither SQLite's nor PostgreSQL's booleans the same way).
/// Decodes from an integer of any width or a boolean; encodes as 0/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

impl sqlx::Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        matches!(
            ty.kind(),
            AnyTypeInfoKind::Bool | AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt
        )
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        use sqlx::ValueRef;
        let ty = value.type_info().kind();
        let b = match ty {
            AnyTypeInfoKind::Bool => <bool as sqlx::Decode<Any>>::decode(value)?,
            AnyTypeInfoKind::SmallInt => <i16 as sqlx::Decode<Any>>::decode(value)? != 0,
            AnyTypeInfoKind::Integer => <i32 as sqlx::Decode<Any>>::decode(value)? != 0,
            _ => <i64 as sqlx::Decode<Any>>::decode(value)? != 0,
        };
        Ok(Flag(b))
    }
}

impl<'q> sqlx::Encode<'q, Any> for Flag {
    fn encode_by_ref(&self, buf: &mut <Any as sqlx::Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as sqlx::Encode<'q, Any>>::encode_by_ref(&(self.0 as i64), buf)
    }
}

// The backends' own drivers, which listings read through (`db::Reader`).

impl sqlx::Type<sqlx::Sqlite> for Flag {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <i64 as sqlx::Type<sqlx::Sqlite>>::type_info()
    }

    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <i64 as sqlx::Type<sqlx::Sqlite>>::compatible(ty) || <bool as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Flag {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Flag(<i64 as sqlx::Decode<sqlx::Sqlite>>::decode(value)? != 0))
    }
}

impl sqlx::Type<sqlx::Postgres> for Flag {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <i64 as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        use sqlx::Type;
        <bool as Type<sqlx::Postgres>>::compatible(ty)
            || <i16 as Type<sqlx::Postgres>>::compatible(ty)
            || <i32 as Type<sqlx::Postgres>>::compatible(ty)
            || <i64 as Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Flag {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, BoxDynError> {
        use sqlx::{TypeInfo, ValueRef};
        let b = match value.type_info().name() {
            "BOOL" => <bool as sqlx::Decode<sqlx::Postgres>>::decode(value)?,
            "INT2" => <i16 as sqlx::Decode<sqlx::Postgres>>::decode(value)? != 0,
            "INT4" => <i32 as sqlx::Decode<sqlx::Postgres>>::decode(value)? != 0,
            _ => <i64 as sqlx::Decode<sqlx::Postgres>>::decode(value)? != 0,
        };
        Ok(Flag(b))
    }
}

/// An enumeration stored in a TEXT column by its wire name (the name its `poem_openapi::Enum` derive gives it), so
/// the stored value, the JSON and the form value are one spelling. `impl StoredEnum for MyEnum {}` is all it takes.
pub trait StoredEnum: ToJSON + ParseFromParameter + Copy {
    /// The value to store (and to show).
    fn stored(self) -> String {
        self.to_json().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// Reads a stored value back; an unknown value (a row written by a newer version, or by hand) is an internal
    /// error naming the column, never a silent default.
    fn from_stored(column: &str, s: &str) -> CoreResult<Self> {
        Self::parse_from_parameter(s).map_err(|_| CoreError::internal(format!("stored {column} `{s}` is not known")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse("email", " Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@x.com", "a@b@c.com", "ann@localhost", "ann@.x.com", "ann@x.com.", "a n@x.com"]
        {
            let err = Email::parse("email", bad).unwrap_err();
            assert_eq!(err.field(), Some("email"), "{bad}");
        }
    }

    #[test]
    fn pages() {
        let rule =
            PageRule { limit_field: "rows_limit", offset_field: "rows_offset", default_limit: 10, max_limit: 100 };
        assert_eq!(Paging::new(rule, None, None).unwrap(), Paging { limit: 10, offset: 0 });
        assert_eq!(Paging::new(rule, Some(0), None).unwrap_err().field(), Some("rows_limit"));
        assert_eq!(Paging::new(rule, Some(101), None).unwrap_err().field(), Some("rows_limit"));
        assert_eq!(Paging::new(rule, None, Some(-1)).unwrap_err().field(), Some("rows_offset"));
        let numbered =
            PageRule { limit_field: "no-of-records", offset_field: "page-no", default_limit: 10, max_limit: 500 };
        assert_eq!(Paging::numbered(numbered, Some(25), Some(3)).unwrap(), Paging { limit: 25, offset: 50 });
        assert_eq!(Paging::numbered(numbered, Some(25), Some(0)).unwrap_err().field(), Some("page-no"));
        assert_eq!(Paging::numbered(numbered, Some(501), None).unwrap_err().field(), Some("no-of-records"));
    }

    #[derive(poem_openapi::Enum, Debug, Clone, Copy, PartialEq, Eq)]
    #[oai(rename_all = "snake_case")]
    enum Colour {
        DeepRed,
    }
    impl StoredEnum for Colour {}

    #[test]
    fn stored_enums_use_the_wire_name() {
        assert_eq!(Colour::DeepRed.stored(), "deep_red");
        assert_eq!(Colour::from_stored("colour", "deep_red").unwrap(), Colour::DeepRed);
        assert!(matches!(Colour::from_stored("colour", "blue"), Err(CoreError::Internal(_))));
    }
}
