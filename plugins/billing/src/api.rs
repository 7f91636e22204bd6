//! The hosting-billing API under `/billing`: the seed's one entry point, `POST /billing/api/index.php`, which takes
//! `type` (the module) and `action` (its method) with the module's fields, and the same module actions as typed
//! operations (`POST /billing/admin/<module>/<action>`, `POST /billing/client/<module>/<action>`). Both call the same
//! functions below.
//!
//! Credentials, as the seed gives them: `api_key` (a core API key of a staff member or a client of the business) with
//! `admin_pass` (the staff member's password: the admin modules) or `client_pass` (the client's password: the client
//! modules). The dispatcher reads them from the body, the typed operations from headers of the same names. A
//! password is checked once with argon2 (counted toward the core's lock-out) and then remembered for the key's
//! principal until it changes. A staff member's group decides which admin modules it may use (casbin roles
//! `billing_group_<id>`); a client reaches only its own records.
//!
//! Answers: `{"result": …, "message": {"success": "…"}}` with 200, or `{"result": null, "message": {"error": "…"}}`
//! with a 4xx naming the field and the reason. An `add` answers `{"inserted_id": N}`. Passwords and keys are never
//! returned, except a new API key once, in the answer of the `add` that created it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::Value;
use tessera_core::identity::{hash_password, hash_secret};
use tessera_core::money::{format_money, parse_money};
use tessera_core::{
    now_ms, parse, BearerKey, Caller, CoreError, CoreResult, Email, ErrorEnvelope, Fields, Flag, HeaderKey,
    HeaderNames, Input, PluginContext, StoredEnum, Tenant, TenantKind, Tx,
};

use crate::model;
use crate::store::{self, ClientRow, GroupRow, StaffRow, Table};

#[derive(Tags)]
enum BillingTag {
    /// Hosting billing: staff and their groups, clients, the catalogue, orders, invoices and balances.
    Billing,
}

// ---- credentials ----

enum ApiKeyHeader {}

impl HeaderNames for ApiKeyHeader {
    const NAME: &'static str = "api_key";
    const ALIAS: &'static str = "api-key";
    const SCHEME: &'static str = "BillingApiKey";
    const ALIAS_SCHEME: &'static str = "BillingApiKeyHyphenated";
    const DESCRIPTION: &'static str =
        "The API key of a staff member or a client of the business, in the `api_key` header (or `api-key`).";
}

enum AdminPassHeader {}

impl HeaderNames for AdminPassHeader {
    const NAME: &'static str = "admin_pass";
    const ALIAS: &'static str = "admin-pass";
    const SCHEME: &'static str = "BillingAdminPass";
    const ALIAS_SCHEME: &'static str = "BillingAdminPassHyphenated";
    const DESCRIPTION: &'static str =
        "The staff member's password, in the `admin_pass` header (or `admin-pass`), with its `api_key`.";
}

enum ClientPassHeader {}

impl HeaderNames for ClientPassHeader {
    const NAME: &'static str = "client_pass";
    const ALIAS: &'static str = "client-pass";
    const SCHEME: &'static str = "BillingClientPass";
    const ALIAS_SCHEME: &'static str = "BillingClientPassHyphenated";
    const DESCRIPTION: &'static str =
        "The client's password, in the `client_pass` header (or `client-pass`), with its `api_key`.";
}

type ApiKey = HeaderKey<ApiKeyHeader>;
type AdminPass = HeaderKey<AdminPassHeader>;
type ClientPass = HeaderKey<ClientPassHeader>;

/// The passwords checked with argon2: principal → a digest of the password that passed. Shared with the plugin,
/// which forgets those changed on other instances (`on_change`).
#[derive(Clone)]
pub struct Passwords {
    checked: Cache<i64, String>,
    /// Counts forgotten passwords: a check that began before a change and passed with the old password after it is
    /// not remembered.
    changes: Arc<AtomicU64>,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords {
            checked: Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(900)).build(),
            changes: Arc::default(),
        }
    }
}

impl Passwords {
    async fn matches(&self, principal: i64, digest: &str) -> bool {
        self.checked.get(&principal).await.as_deref() == Some(digest)
    }

    /// Read before a check, given back to `remember`.
    fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Remembers a password that passed, unless one was forgotten since the check began (checked after the insert,
    /// so a change whose forgetting comes later removes it itself).
    async fn remember(&self, principal: i64, digest: String, changes: u64) {
        self.checked.insert(principal, digest).await;
        if self.changes() != changes {
            self.checked.invalidate(&principal).await;
        }
    }

    pub async fn forget(&self, principal: i64) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.checked.invalidate(&principal).await;
    }

    pub fn forget_all(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.checked.invalidate_all();
    }
}

// ---- envelope ----

/// What happened: `success` or `error`, as the seed writes it.
#[derive(Object)]
#[oai(rename = "BillingMessage")]
pub struct Message {
    #[oai(skip_serializing_if_is_none)]
    pub success: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

/// Failure: `result` null and what is wrong in `message.error`, naming the field.
#[derive(Object)]
#[oai(rename = "BillingError")]
pub struct ErrorBody {
    #[oai(nullable)]
    pub result: Option<bool>,
    pub message: Message,
}

/// Success: the answer in `result` and `message.success`.
#[derive(Object)]
#[oai(rename = "BillingResult")]
pub struct Envelope<T: ToJSON + ParseFromJSON> {
    pub result: T,
    pub message: Message,
}

impl ErrorEnvelope for ErrorBody {
    /// The one mapping of a core error to the seed's envelope.
    fn from_error(e: &CoreError) -> Self {
        ErrorBody { result: None, message: Message { success: None, error: Some(e.public_message()) } }
    }
}

/// The answers of every billing operation.
pub type Reply<T> = tessera_core::Reply<Envelope<T>, ErrorBody>;

fn reply<T: ToJSON + ParseFromJSON>(r: CoreResult<(T, &'static str)>) -> Reply<T> {
    Reply::from_result(r, |(result, success)| Envelope {
        result,
        message: Message { success: Some(success.into()), error: None },
    })
}

/// The result of an action that changes something and returns nothing: `null`, as the seed shows it.
pub type Done = Option<bool>;

/// Success of an action that returns nothing: `result` null and `message.success`.
#[derive(Object)]
#[oai(rename = "BillingDone")]
pub struct DoneBody {
    #[oai(nullable)]
    pub result: Done,
    pub message: Message,
}

/// The answers of the operations that return nothing.
pub type DoneReply = tessera_core::Reply<DoneBody, ErrorBody>;

fn done(r: CoreResult<(Done, &'static str)>) -> DoneReply {
    DoneReply::from_result(r, |(result, success)| DoneBody {
        result,
        message: Message { success: Some(success.into()), error: None },
    })
}

// ---- wire types ----

/// The answer of an `add`: the new record's id and, for a staff member or a client, its API key (shown once).
#[derive(Object)]
#[oai(rename = "BillingInserted")]
pub struct Inserted {
    pub inserted_id: i64,
    #[oai(skip_serializing_if_is_none)]
    pub api_key: Option<String>,
}

/// The legacy entry point's parameters. Every module's own fields come beside these (see the operation).
#[derive(Object)]
#[oai(rename = "BillingApiRequest")]
pub struct ApiRequest {
    /// The module, e.g. `admin_group`, `client`, `profile`.
    #[oai(rename = "type")]
    pub module: String,
    /// The module's method, e.g. `get`, `add`, `edit`, `delete`.
    pub action: String,
    /// The API key of a staff member or client.
    pub api_key: String,
    /// The staff member's password: the admin modules.
    pub admin_pass: Option<String>,
    /// The client's password: the client modules.
    pub client_pass: Option<String>,
}

/// A staff group.
#[derive(Object)]
#[oai(rename = "BillingStaffGroup")]
pub struct GroupOut {
    pub id: String,
    pub name: String,
    /// The granted modules as JSON text, e.g. `{"client":"1"}`.
    pub permissions: String,
    /// "1" active, "0" not.
    pub active: String,
    /// Epoch seconds.
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingStaffGroupAddRequest")]
pub struct GroupAdd {
    #[oai(validator(max_length = 100))]
    pub name: String,
    /// `on` for active.
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
    /// Admin module → 1 (granted) or 0; as a form, `permissions[client]=1`.
    pub permissions: Option<BTreeMap<String, Value>>,
}

#[derive(Object)]
#[oai(rename = "BillingStaffGroupEditRequest")]
pub struct GroupEdit {
    pub group_id: i64,
    #[oai(validator(max_length = 100))]
    pub name: Option<String>,
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
    /// Replaces the group's permissions when given.
    pub permissions: Option<BTreeMap<String, Value>>,
}

#[derive(Object)]
#[oai(rename = "BillingStaffGroupIdRequest")]
pub struct GroupId {
    pub group_id: i64,
}

/// A staff member.
#[derive(Object)]
#[oai(rename = "BillingStaffMember")]
pub struct StaffOut {
    pub id: String,
    pub admin_group_id: String,
    pub name: String,
    pub email: String,
    /// active or inactive.
    pub status: String,
    /// "1": an account manager.
    pub acc_manager: String,
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingStaffAddRequest")]
pub struct StaffAdd {
    pub group_id: i64,
    #[oai(validator(max_length = 100))]
    pub name: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// The password (`admin_pass`): 8 characters at least.
    #[oai(validator(max_length = 256))]
    pub pass: String,
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
    /// `on`: the member is also an account manager.
    #[oai(validator(max_length = 10))]
    pub acc_manager: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingStaffEditRequest")]
pub struct StaffEdit {
    pub id: i64,
    pub group_id: Option<i64>,
    #[oai(validator(max_length = 100))]
    pub name: Option<String>,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    /// A new password.
    #[oai(validator(max_length = 256))]
    pub pass: Option<String>,
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
    #[oai(validator(max_length = 10))]
    pub acc_manager: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingStaffIdRequest")]
pub struct StaffId {
    pub id: i64,
}

/// A client group.
#[derive(Object)]
#[oai(rename = "BillingClientGroup")]
pub struct ClientGroupOut {
    pub id: String,
    pub title: String,
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingClientGroupAddRequest")]
pub struct ClientGroupAdd {
    #[oai(validator(max_length = 100))]
    pub name: String,
}

#[derive(Object)]
#[oai(rename = "BillingClientGroupEditRequest")]
pub struct ClientGroupEdit {
    pub group_id: i64,
    #[oai(validator(max_length = 100))]
    pub name: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingClientGroupIdRequest")]
pub struct ClientGroupId {
    pub group_id: i64,
}

/// A client. Its password and API key are never shown.
#[derive(Object)]
#[oai(rename = "BillingClient")]
pub struct ClientOut {
    pub id: String,
    #[oai(nullable)]
    pub client_group_id: Option<String>,
    /// active, suspended or canceled.
    pub status: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub gender: String,
    pub dob: String,
    pub phone: String,
    pub company: String,
    pub address_1: String,
    pub address_2: String,
    pub city: String,
    pub state: String,
    pub postcode: String,
    pub country: String,
    /// ISO 4217: the currency of the client's invoices and balance.
    pub currency: String,
    /// The balance, in `currency`, with two decimals.
    pub balance: String,
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

/// The profile fields a client and the staff may change; absent ones stay as they are.
#[derive(Object, Default)]
#[oai(rename = "BillingProfileFields")]
pub struct ProfileFields {
    #[oai(validator(max_length = 100))]
    pub first_name: Option<String>,
    #[oai(validator(max_length = 100))]
    pub last_name: Option<String>,
    /// male, female or empty.
    #[oai(validator(max_length = 10))]
    pub gender: Option<String>,
    /// Date of birth: DD-MM-YYYY or YYYY-MM-DD.
    #[oai(validator(max_length = 10))]
    pub dob: Option<String>,
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
    #[oai(validator(max_length = 100))]
    pub company: Option<String>,
    #[oai(validator(max_length = 200))]
    pub address_1: Option<String>,
    #[oai(validator(max_length = 200))]
    pub address_2: Option<String>,
    #[oai(validator(max_length = 100))]
    pub city: Option<String>,
    #[oai(validator(max_length = 100))]
    pub state: Option<String>,
    #[oai(validator(max_length = 20))]
    pub postcode: Option<String>,
    #[oai(validator(max_length = 100))]
    pub country: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingClientAddRequest")]
pub struct ClientAdd {
    pub client_group_id: Option<i64>,
    #[oai(validator(max_length = 100))]
    pub first_name: String,
    #[oai(validator(max_length = 100))]
    pub last_name: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 100))]
    pub country: String,
    #[oai(validator(max_length = 100))]
    pub state: String,
    /// ISO 4217, e.g. USD.
    #[oai(validator(max_length = 3))]
    pub currency_code: String,
    /// 8 characters at least.
    #[oai(validator(max_length = 256))]
    pub password: String,
    #[oai(validator(max_length = 256))]
    pub confirm_password: String,
    #[oai(validator(max_length = 10))]
    pub gender: Option<String>,
    #[oai(validator(max_length = 10))]
    pub dob: Option<String>,
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
    #[oai(validator(max_length = 100))]
    pub company: Option<String>,
    #[oai(validator(max_length = 200))]
    pub address_1: Option<String>,
    #[oai(validator(max_length = 200))]
    pub address_2: Option<String>,
    #[oai(validator(max_length = 100))]
    pub city: Option<String>,
    #[oai(validator(max_length = 20))]
    pub postcode: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingClientEditRequest")]
pub struct ClientEdit {
    pub client_id: i64,
    /// A group of the business; 0 leaves the client without one.
    pub client_group_id: Option<i64>,
    /// active, suspended or canceled.
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    #[oai(flatten)]
    pub profile: ProfileFields,
}

#[derive(Object)]
#[oai(rename = "BillingClientIdRequest")]
pub struct ClientId {
    pub client_id: i64,
}

#[derive(Object)]
#[oai(rename = "BillingProfileGetRequest")]
pub struct ProfileGet {
    /// The caller's own id (optional: a client reads only its own profile).
    pub client_id: Option<i64>,
}

#[derive(Object)]
#[oai(rename = "BillingProfileEditRequest")]
pub struct ProfileEdit {
    /// The caller's own id (optional).
    pub client_id: Option<i64>,
    #[oai(flatten)]
    pub profile: ProfileFields,
}

#[derive(Object)]
#[oai(rename = "BillingChangePasswordRequest")]
pub struct ChangePassword {
    /// The caller's own id (optional).
    pub client_id: Option<i64>,
    /// The new password: 8 characters at least.
    #[oai(validator(max_length = 256))]
    pub password: String,
    /// When given, must equal `password`.
    #[oai(validator(max_length = 256))]
    pub confirm_password: Option<String>,
}

/// A product category.
#[derive(Object)]
#[oai(rename = "BillingProductCategory")]
pub struct CategoryOut {
    pub id: String,
    pub title: String,
    pub description: String,
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingProductCategoryAddRequest")]
pub struct CategoryAdd {
    #[oai(validator(max_length = 100))]
    pub title: String,
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingProductCategoryEditRequest")]
pub struct CategoryEdit {
    pub category_id: i64,
    #[oai(validator(max_length = 100))]
    pub title: Option<String>,
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingProductCategoryIdRequest")]
pub struct CategoryId {
    pub category_id: i64,
}

/// A product, or an addon ordered with one (`kind` addon: no category).
#[derive(Object)]
#[oai(rename = "BillingProduct")]
pub struct ProductOut {
    pub id: String,
    /// product or addon.
    pub kind: String,
    #[oai(nullable)]
    pub category_id: Option<String>,
    pub title: String,
    pub product_type: String,
    pub description: String,
    /// ISO 4217: the currency of the prices; a client pays in its own currency, so it can order only products in it.
    pub currency: String,
    /// Each period's price, two decimals.
    pub price: String,
    /// Charged once, with the first invoice.
    pub setup_price: String,
    /// once, monthly, quarterly, biannually or annually.
    pub period: String,
    /// "1" on offer, "0" not.
    pub active: String,
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

/// The pricing fields of a product or an addon; absent ones keep their value (or their default on add: no charge,
/// USD, once, on offer).
#[derive(Object, Default)]
#[oai(rename = "BillingPriceFields")]
pub struct PriceFields {
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
    /// ISO 4217.
    #[oai(validator(max_length = 3))]
    pub currency_code: Option<String>,
    /// A number with at most two decimals.
    #[oai(validator(max_length = 20))]
    pub price: Option<String>,
    #[oai(validator(max_length = 20))]
    pub setup_price: Option<String>,
    pub period: Option<model::Period>,
    /// `on` for on offer.
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingProductAddRequest")]
pub struct ProductAdd {
    pub category_id: i64,
    #[oai(validator(max_length = 100))]
    pub title: String,
    pub product_type: model::ProductType,
    #[oai(flatten)]
    pub pricing: PriceFields,
}

#[derive(Object)]
#[oai(rename = "BillingProductEditRequest")]
pub struct ProductEdit {
    pub id: i64,
    pub category_id: Option<i64>,
    #[oai(validator(max_length = 100))]
    pub title: Option<String>,
    pub product_type: Option<model::ProductType>,
    #[oai(flatten)]
    pub pricing: PriceFields,
}

#[derive(Object)]
#[oai(rename = "BillingProductGetRequest")]
pub struct ProductGet {
    pub id: i64,
}

#[derive(Object)]
#[oai(rename = "BillingProductDeleteRequest")]
pub struct ProductDelete {
    pub product_id: i64,
}

#[derive(Object)]
#[oai(rename = "BillingAddonAddRequest")]
pub struct AddonAdd {
    #[oai(validator(max_length = 100))]
    pub title: String,
    #[oai(flatten)]
    pub pricing: PriceFields,
}

#[derive(Object)]
#[oai(rename = "BillingAddonEditRequest")]
pub struct AddonEdit {
    pub id: i64,
    #[oai(validator(max_length = 100))]
    pub title: Option<String>,
    #[oai(flatten)]
    pub pricing: PriceFields,
}

#[derive(Object)]
#[oai(rename = "BillingAddonIdRequest")]
pub struct AddonId {
    pub id: i64,
}

/// A promo code.
#[derive(Object)]
#[oai(rename = "BillingPromoCode")]
pub struct PromoOut {
    pub id: String,
    pub code: String,
    /// percentage or fixed.
    #[oai(rename = "type")]
    pub promo_type: String,
    /// The percentage, or the amount off, two decimals.
    pub value: String,
    /// "0": no limit.
    pub max_uses: String,
    pub used: String,
    /// Valid from (epoch seconds), or always.
    #[oai(nullable)]
    pub start_at: Option<String>,
    /// Valid until (epoch seconds), or always.
    #[oai(nullable)]
    pub end_at: Option<String>,
    pub active: String,
    pub created_at: String,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingPromoCodeAddRequest")]
pub struct PromoAdd {
    #[oai(validator(max_length = 50))]
    pub code: String,
    pub promo_type: model::PromoType,
    /// The percentage (at most 100) or the amount off, at most two decimals.
    #[oai(validator(max_length = 20))]
    pub value: String,
    /// How many orders may use it; 0 or absent: no limit.
    #[oai(validator(minimum(value = "0")))]
    pub max_uses: Option<i64>,
    /// First day it is valid, YYYY-MM-DD (UTC).
    #[oai(validator(max_length = 10))]
    pub start_at: Option<String>,
    /// Last day it is valid, YYYY-MM-DD (UTC).
    #[oai(validator(max_length = 10))]
    pub end_at: Option<String>,
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingPromoCodeEditRequest")]
pub struct PromoEdit {
    pub promo_id: i64,
    #[oai(validator(max_length = 50))]
    pub code: Option<String>,
    pub promo_type: Option<model::PromoType>,
    #[oai(validator(max_length = 20))]
    pub value: Option<String>,
    #[oai(validator(minimum(value = "0")))]
    pub max_uses: Option<i64>,
    /// YYYY-MM-DD; empty: always.
    #[oai(validator(max_length = 10))]
    pub start_at: Option<String>,
    #[oai(validator(max_length = 10))]
    pub end_at: Option<String>,
    #[oai(validator(max_length = 10))]
    pub status: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingPromoCodeIdRequest")]
pub struct PromoId {
    pub promo_id: i64,
}

/// One move of a client's balance.
#[derive(Object)]
#[oai(rename = "BillingBalanceMove")]
pub struct MoveOut {
    pub id: String,
    /// Two decimals; negative took from the balance.
    pub amount: String,
    pub balance_after: String,
    /// deposit or adjustment (payments and refunds come with invoices).
    pub kind: String,
    pub description: String,
    #[oai(nullable)]
    pub invoice_id: Option<String>,
    pub created_at: String,
}

/// A client's balance and its latest moves, newest first (the ledger sums to the balance).
#[derive(Object)]
#[oai(rename = "BillingClientBalance")]
pub struct BalanceOut {
    pub client_id: String,
    pub currency: String,
    pub balance: String,
    /// The latest 20 moves, newest first.
    pub transactions: Vec<MoveOut>,
    /// How many moves there are in all.
    pub total: i64,
}

#[derive(Object)]
#[oai(rename = "BillingAddFundsRequest")]
pub struct AddFunds {
    pub client_id: i64,
    /// In the client's currency, at most two decimals; negative takes from the balance (never below zero).
    #[oai(validator(max_length = 20))]
    pub amount: String,
    #[oai(validator(max_length = 200))]
    pub description: Option<String>,
    /// A key of the caller's: the same key again answers the first move instead of moving twice.
    #[oai(validator(max_length = 64))]
    pub idempotency_key: Option<String>,
}

#[derive(Object)]
#[oai(rename = "BillingClientBalanceRequest")]
pub struct BalanceGet {
    /// The caller's own id (optional).
    pub client_id: Option<i64>,
}

/// The first staff member of a business, added by an admin of the business (or above) with a core API key.
#[derive(Object)]
#[oai(rename = "BillingSetupRequest")]
pub struct SetupRequest {
    /// The business (an organisation); the key's own when absent.
    pub business_id: Option<i64>,
    #[oai(validator(max_length = 100))]
    pub name: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// 8 characters at least.
    #[oai(validator(max_length = 256))]
    pub pass: String,
}

// ---- the API ----

/// A staff member whose key and password were checked, in its business.
struct Staff {
    caller: Caller,
    row: StaffRow,
}

impl Staff {
    fn business(&self) -> &Tenant {
        self.caller.tenant()
    }
}

/// A client whose key and password were checked, in its business.
struct Client {
    caller: Caller,
    row: ClientRow,
}

impl Client {
    fn business(&self) -> &Tenant {
        self.caller.tenant()
    }

    /// The seed names the client's own id in client calls: another one is no record of the caller's.
    fn own(&self, client_id: Option<i64>) -> CoreResult<()> {
        match client_id {
            Some(id) if id != self.row.id => Err(CoreError::not_found(format!("client {id} not found"))),
            _ => Ok(()),
        }
    }
}

pub struct BillingApi {
    ctx: PluginContext,
    passwords: Passwords,
}

impl BillingApi {
    pub fn new(ctx: PluginContext, passwords: Passwords) -> Self {
        BillingApi { ctx, passwords }
    }
}

/// The permission action of a module's method.
fn verb(action: &str) -> &'static str {
    match action {
        "get" | "get_invoice" | "get_client_invoice" | "get_client_order" => "read",
        "add" | "create" => "create",
        "delete" => "delete",
        _ => "update",
    }
}

/// Runs a typed operation of an admin module: the staff member's credentials and permission, then `f`.
macro_rules! staff_op {
    ($answer:ident, $self:ident, $key:ident, $pass:ident, $module:literal, $action:literal, $msg:literal, |$s:ident| $body:expr) => {{
        let r = async {
            let $s = $self.staff($key.value(), $pass.value(), $module, $action).await?;
            Ok(($body.await?, $msg))
        };
        $answer(r.await)
    }};
}

/// Runs a typed operation of a client module: the client's credentials, then `f`.
macro_rules! client_op {
    ($answer:ident, $self:ident, $key:ident, $pass:ident, $msg:literal, |$c:ident| $body:expr) => {{
        let r = async {
            let $c = $self.client($key.value(), $pass.value()).await?;
            Ok(($body.await?, $msg))
        };
        $answer(r.await)
    }};
}

#[OpenApi(tag = "BillingTag::Billing")]
impl BillingApi {
    /// The seed's entry point: `type` (module) and `action` with the module's fields, as a form (PHP arrays as
    /// `permissions[client]=1`) or JSON, with `api_key` and `admin_pass` (admin modules) or `client_pass` (client
    /// modules). `get` and `delete` take one id or several (`"1,2,3"`); `get` of several answers a list.
    ///
    /// | side | type | actions | fields (as the typed operation of the same name) |
    /// |---|---|---|---|
    /// | admin | admin_group | get, add, edit, delete | group_id; name, status, permissions |
    /// | admin | admin | get, add, edit, delete | id; group_id, name, email, pass, status, acc_manager |
    /// | admin | client_group | get, add, edit, delete | group_id; name |
    /// | admin | client | get, add, edit, delete | client_id; client_group_id, first_name, last_name, email, country, state, currency_code, password, confirm_password |
    /// | admin | product_category | get, add, edit, delete | category_id; title, description |
    /// | admin | product | get, add, edit, delete | id (delete: product_id); category_id, title, product_type, description, currency_code, price, setup_price, period, status |
    /// | admin | product_addon | get, add, edit, delete | id; title, description, currency_code, price, setup_price, period, status |
    /// | admin | product_promocode | get, add, edit, delete | promo_id; code, promo_type (percentage, fixed), value, max_uses, start_at, end_at, status |
    /// | client | profile | get, edit, change_password | client_id; first_name, last_name, dob, address_1, address_2, country, state, city, postcode; password |
    ///
    /// The typed operations are documented one by one; this one's body schema lists the common fields only,
    /// because SDK generators cannot take a body keyed by two of its fields (`type` and `action`).
    #[oai(path = "/api/index.php", method = "post", operation_id = "billing_api_dispatch")]
    async fn dispatch(&self, body: Fields<ApiRequest>) -> Reply<Value> {
        reply(self.dispatched(body.fields, body.from_form).await)
    }

    /// Adds the first staff member of a business (a group with every module is created for it) and answers its
    /// API key, once. Later staff are added by staff (`admin` `add`). Needs a core API key of an admin of the
    /// business or above, as a bearer token.
    #[oai(path = "/setup", method = "post", operation_id = "billing_setup_create")]
    async fn setup(&self, key: BearerKey, body: Input<SetupRequest>) -> Reply<Inserted> {
        reply(self.set_up(&key, body.0).await.map(|i| (i, "Created New Staff Member")))
    }

    // ---- admin_group ----

    /// admin_group get: a staff group.
    #[oai(path = "/admin/admin_group/get", method = "post", operation_id = "billing_staff_admin_group_get")]
    async fn t_group_get(&self, key: ApiKey, pass: AdminPass, body: Input<GroupId>) -> Reply<GroupOut> {
        staff_op!(reply, self, key, pass, "admin_group", "get", "OK", |s| self.group_get(&s, body.group_id))
    }

    /// admin_group add: a staff group; its permissions become the permission rules of its members.
    #[oai(path = "/admin/admin_group/add", method = "post", operation_id = "billing_staff_admin_group_add")]
    async fn t_group_add(&self, key: ApiKey, pass: AdminPass, body: Input<GroupAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "admin_group", "add", "Successfully Added", |s| self.group_add(&s, body.0))
    }

    /// admin_group edit: name, status, permissions (replaced when given).
    #[oai(path = "/admin/admin_group/edit", method = "post", operation_id = "billing_staff_admin_group_edit")]
    async fn t_group_edit(&self, key: ApiKey, pass: AdminPass, body: Input<GroupEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "admin_group", "edit", "Updated Staff Member Group", |s| self
            .group_edit(&s, body.0))
    }

    /// admin_group delete: a group without members.
    #[oai(path = "/admin/admin_group/delete", method = "post", operation_id = "billing_staff_admin_group_delete")]
    async fn t_group_delete(&self, key: ApiKey, pass: AdminPass, body: Input<GroupId>) -> DoneReply {
        staff_op!(done, self, key, pass, "admin_group", "delete", "Removed Staff Member Group", |s| self
            .group_delete(&s, &[body.group_id]))
    }

    // ---- admin (staff) ----

    /// admin get: a staff member.
    #[oai(path = "/admin/admin/get", method = "post", operation_id = "billing_staff_admin_get")]
    async fn t_staff_get(&self, key: ApiKey, pass: AdminPass, body: Input<StaffId>) -> Reply<StaffOut> {
        staff_op!(reply, self, key, pass, "admin", "get", "OK", |s| self.staff_get(&s, body.id))
    }

    /// admin add: a staff member in a group; answers its API key once.
    #[oai(path = "/admin/admin/add", method = "post", operation_id = "billing_staff_admin_add")]
    async fn t_staff_add(&self, key: ApiKey, pass: AdminPass, body: Input<StaffAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "admin", "add", "Created New Staff Member", |s| self.staff_add(&s, body.0))
    }

    /// admin edit: group, name, email, password, status, account manager.
    #[oai(path = "/admin/admin/edit", method = "post", operation_id = "billing_staff_admin_edit")]
    async fn t_staff_edit(&self, key: ApiKey, pass: AdminPass, body: Input<StaffEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "admin", "edit", "Updated Staff Member", |s| self.staff_edit(&s, body.0))
    }

    /// admin delete: a staff member (not the caller itself).
    #[oai(path = "/admin/admin/delete", method = "post", operation_id = "billing_staff_admin_delete")]
    async fn t_staff_delete(&self, key: ApiKey, pass: AdminPass, body: Input<StaffId>) -> DoneReply {
        staff_op!(done, self, key, pass, "admin", "delete", "Removed Staff Member", |s| self
            .staff_delete(&s, &[body.id]))
    }

    // ---- client_group ----

    /// client_group get.
    #[oai(path = "/admin/client_group/get", method = "post", operation_id = "billing_staff_client_group_get")]
    async fn t_cgroup_get(&self, key: ApiKey, pass: AdminPass, body: Input<ClientGroupId>) -> Reply<ClientGroupOut> {
        staff_op!(reply, self, key, pass, "client_group", "get", "OK", |s| self.cgroup_get(&s, body.group_id))
    }

    /// client_group add.
    #[oai(path = "/admin/client_group/add", method = "post", operation_id = "billing_staff_client_group_add")]
    async fn t_cgroup_add(&self, key: ApiKey, pass: AdminPass, body: Input<ClientGroupAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "client_group", "add", "Successfully Added", |s| self.cgroup_add(&s, body.0))
    }

    /// client_group edit.
    #[oai(path = "/admin/client_group/edit", method = "post", operation_id = "billing_staff_client_group_edit")]
    async fn t_cgroup_edit(&self, key: ApiKey, pass: AdminPass, body: Input<ClientGroupEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "client_group", "edit", "Successfully Updated", |s| self
            .cgroup_edit(&s, body.0))
    }

    /// client_group delete: its clients are left without a group.
    #[oai(path = "/admin/client_group/delete", method = "post", operation_id = "billing_staff_client_group_delete")]
    async fn t_cgroup_delete(&self, key: ApiKey, pass: AdminPass, body: Input<ClientGroupId>) -> DoneReply {
        staff_op!(done, self, key, pass, "client_group", "delete", "Successfully Removed", |s| self
            .cgroup_delete(&s, &[body.group_id]))
    }

    // ---- client ----

    /// client get.
    #[oai(path = "/admin/client/get", method = "post", operation_id = "billing_staff_client_get")]
    async fn t_client_get(&self, key: ApiKey, pass: AdminPass, body: Input<ClientId>) -> Reply<ClientOut> {
        staff_op!(reply, self, key, pass, "client", "get", "OK", |s| self.client_get(&s, body.client_id))
    }

    /// client add: a client with its login password; answers its API key once.
    #[oai(path = "/admin/client/add", method = "post", operation_id = "billing_staff_client_add")]
    async fn t_client_add(&self, key: ApiKey, pass: AdminPass, body: Input<ClientAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "client", "add", "Successfully Added", |s| self.client_add(&s, body.0))
    }

    /// client edit: group, status, email and profile fields.
    #[oai(path = "/admin/client/edit", method = "post", operation_id = "billing_staff_client_edit")]
    async fn t_client_edit(&self, key: ApiKey, pass: AdminPass, body: Input<ClientEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "client", "edit", "Successfully Updated", |s| self.client_edit(&s, body.0))
    }

    /// client delete.
    #[oai(path = "/admin/client/delete", method = "post", operation_id = "billing_staff_client_delete")]
    async fn t_client_delete(&self, key: ApiKey, pass: AdminPass, body: Input<ClientId>) -> DoneReply {
        staff_op!(done, self, key, pass, "client", "delete", "Successfully Removed", |s| self
            .client_delete(&s, &[body.client_id]))
    }

    /// client add_funds (Tessera's): moves a client's balance, with a ledger row; an idempotency key makes a retry
    /// safe.
    #[oai(path = "/admin/client/add_funds", method = "post", operation_id = "billing_staff_client_add_funds")]
    async fn t_client_funds(&self, key: ApiKey, pass: AdminPass, body: Input<AddFunds>) -> Reply<MoveOut> {
        staff_op!(reply, self, key, pass, "client", "add_funds", "Funds Added", |s| self.add_funds(&s, body.0))
    }

    // ---- product_category ----

    /// product_category get.
    #[oai(path = "/admin/product_category/get", method = "post", operation_id = "billing_staff_product_category_get")]
    async fn t_category_get(&self, key: ApiKey, pass: AdminPass, body: Input<CategoryId>) -> Reply<CategoryOut> {
        staff_op!(reply, self, key, pass, "product_category", "get", "OK", |s| self.category_get(&s, body.category_id))
    }

    /// product_category add.
    #[oai(path = "/admin/product_category/add", method = "post", operation_id = "billing_staff_product_category_add")]
    async fn t_category_add(&self, key: ApiKey, pass: AdminPass, body: Input<CategoryAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "product_category", "add", "Successfully Added", |s| self
            .category_add(&s, body.0))
    }

    /// product_category edit.
    #[oai(path = "/admin/product_category/edit", method = "post", operation_id = "billing_staff_product_category_edit")]
    async fn t_category_edit(&self, key: ApiKey, pass: AdminPass, body: Input<CategoryEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "product_category", "edit", "Successfully Updated", |s| self
            .category_edit(&s, body.0))
    }

    /// product_category delete: a category without products.
    #[oai(
        path = "/admin/product_category/delete",
        method = "post",
        operation_id = "billing_staff_product_category_delete"
    )]
    async fn t_category_delete(&self, key: ApiKey, pass: AdminPass, body: Input<CategoryId>) -> DoneReply {
        staff_op!(done, self, key, pass, "product_category", "delete", "Successfully Removed", |s| self
            .category_delete(&s, &[body.category_id]))
    }

    // ---- product ----

    /// product get.
    #[oai(path = "/admin/product/get", method = "post", operation_id = "billing_staff_product_get")]
    async fn t_product_get(&self, key: ApiKey, pass: AdminPass, body: Input<ProductGet>) -> Reply<ProductOut> {
        staff_op!(reply, self, key, pass, "product", "get", "OK", |s| self.product_get(&s, PRODUCT, body.id))
    }

    /// product add: in a category, with its type, prices and period.
    #[oai(path = "/admin/product/add", method = "post", operation_id = "billing_staff_product_add")]
    async fn t_product_add(&self, key: ApiKey, pass: AdminPass, body: Input<ProductAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "product", "add", "Successfully Added", |s| self.product_add(&s, body.0))
    }

    /// product edit.
    #[oai(path = "/admin/product/edit", method = "post", operation_id = "billing_staff_product_edit")]
    async fn t_product_edit(&self, key: ApiKey, pass: AdminPass, body: Input<ProductEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "product", "edit", "Successfully Updated", |s| self.product_edit(&s, body.0))
    }

    /// product delete (the seed names it `product_id`).
    #[oai(path = "/admin/product/delete", method = "post", operation_id = "billing_staff_product_delete")]
    async fn t_product_delete(&self, key: ApiKey, pass: AdminPass, body: Input<ProductDelete>) -> DoneReply {
        staff_op!(done, self, key, pass, "product", "delete", "Successfully Removed", |s| self.product_delete(
            &s,
            PRODUCT,
            &[body.product_id]
        ))
    }

    // ---- product_addon ----

    /// product_addon get.
    #[oai(path = "/admin/product_addon/get", method = "post", operation_id = "billing_staff_product_addon_get")]
    async fn t_addon_get(&self, key: ApiKey, pass: AdminPass, body: Input<AddonId>) -> Reply<ProductOut> {
        staff_op!(reply, self, key, pass, "product_addon", "get", "OK", |s| self.product_get(&s, ADDON, body.id))
    }

    /// product_addon add: ordered with a product, priced on its own.
    #[oai(path = "/admin/product_addon/add", method = "post", operation_id = "billing_staff_product_addon_add")]
    async fn t_addon_add(&self, key: ApiKey, pass: AdminPass, body: Input<AddonAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "product_addon", "add", "Successfully Added", |s| self.addon_add(&s, body.0))
    }

    /// product_addon edit.
    #[oai(path = "/admin/product_addon/edit", method = "post", operation_id = "billing_staff_product_addon_edit")]
    async fn t_addon_edit(&self, key: ApiKey, pass: AdminPass, body: Input<AddonEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "product_addon", "edit", "Successfully Updated", |s| self
            .addon_edit(&s, body.0))
    }

    /// product_addon delete.
    #[oai(path = "/admin/product_addon/delete", method = "post", operation_id = "billing_staff_product_addon_delete")]
    async fn t_addon_delete(&self, key: ApiKey, pass: AdminPass, body: Input<AddonId>) -> DoneReply {
        staff_op!(done, self, key, pass, "product_addon", "delete", "Successfully Removed", |s| self.product_delete(
            &s,
            ADDON,
            &[body.id]
        ))
    }

    // ---- product_promocode ----

    /// product_promocode get.
    #[oai(path = "/admin/product_promocode/get", method = "post", operation_id = "billing_staff_product_promocode_get")]
    async fn t_promo_get(&self, key: ApiKey, pass: AdminPass, body: Input<PromoId>) -> Reply<PromoOut> {
        staff_op!(reply, self, key, pass, "product_promocode", "get", "OK", |s| self.promo_get(&s, body.promo_id))
    }

    /// product_promocode add: a percentage or a fixed amount off, with a validity and a usage limit.
    #[oai(path = "/admin/product_promocode/add", method = "post", operation_id = "billing_staff_product_promocode_add")]
    async fn t_promo_add(&self, key: ApiKey, pass: AdminPass, body: Input<PromoAdd>) -> Reply<Inserted> {
        staff_op!(reply, self, key, pass, "product_promocode", "add", "Successfully Added", |s| self
            .promo_add(&s, body.0))
    }

    /// product_promocode edit.
    #[oai(
        path = "/admin/product_promocode/edit",
        method = "post",
        operation_id = "billing_staff_product_promocode_edit"
    )]
    async fn t_promo_edit(&self, key: ApiKey, pass: AdminPass, body: Input<PromoEdit>) -> DoneReply {
        staff_op!(done, self, key, pass, "product_promocode", "edit", "Successfully Updated", |s| self
            .promo_edit(&s, body.0))
    }

    /// product_promocode delete.
    #[oai(
        path = "/admin/product_promocode/delete",
        method = "post",
        operation_id = "billing_staff_product_promocode_delete"
    )]
    async fn t_promo_delete(&self, key: ApiKey, pass: AdminPass, body: Input<PromoId>) -> DoneReply {
        staff_op!(done, self, key, pass, "product_promocode", "delete", "Successfully Removed", |s| self
            .promo_delete(&s, &[body.promo_id]))
    }

    // ---- client side: profile ----

    /// client_balance get: the caller's balance and its latest moves.
    #[oai(path = "/client/client_balance/get", method = "post", operation_id = "billing_client_balance_get")]
    async fn t_balance_get(&self, key: ApiKey, pass: ClientPass, body: Input<BalanceGet>) -> Reply<BalanceOut> {
        client_op!(reply, self, key, pass, "OK", |c| self.balance_get(&c, body.client_id))
    }

    /// client_balance client_balance: the same, under the seed's second name for it.
    #[oai(
        path = "/client/client_balance/client_balance",
        method = "post",
        operation_id = "billing_client_balance_show"
    )]
    async fn t_balance_show(&self, key: ApiKey, pass: ClientPass, body: Input<BalanceGet>) -> Reply<BalanceOut> {
        client_op!(reply, self, key, pass, "OK", |c| self.balance_get(&c, body.client_id))
    }

    /// profile get: the caller's own profile (never its password or API key).
    #[oai(path = "/client/profile/get", method = "post", operation_id = "billing_client_profile_get")]
    async fn t_profile_get(&self, key: ApiKey, pass: ClientPass, body: Input<ProfileGet>) -> Reply<ClientOut> {
        client_op!(reply, self, key, pass, "OK", |c| self.profile_get(&c, body.client_id))
    }

    /// profile edit: the caller's own profile fields.
    #[oai(path = "/client/profile/edit", method = "post", operation_id = "billing_client_profile_edit")]
    async fn t_profile_edit(&self, key: ApiKey, pass: ClientPass, body: Input<ProfileEdit>) -> DoneReply {
        client_op!(done, self, key, pass, "Successfully Updated", |c| self.profile_edit(&c, body.0))
    }

    /// profile change_password: the caller's login password (its `client_pass`).
    #[oai(
        path = "/client/profile/change_password",
        method = "post",
        operation_id = "billing_client_profile_change_password"
    )]
    async fn t_profile_password(&self, key: ApiKey, pass: ClientPass, body: Input<ChangePassword>) -> DoneReply {
        client_op!(done, self, key, pass, "Successfully Updated", |c| self.change_password(&c, body.0))
    }
}

/// Parses the fields of a dispatched call as the typed operation's request.
fn fields_as<T: ParseFromJSON + poem_openapi::types::Type>(
    fields: &serde_json::Map<String, Value>,
    from_form: bool,
) -> CoreResult<T> {
    parse::<T>(fields.clone(), from_form).map_err(|e| CoreError::invalid(e.field, e.reason))
}

/// A text field of a dispatched call (a form's values are text; JSON may send a number).
fn text_field(fields: &serde_json::Map<String, Value>, name: &str) -> CoreResult<Option<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(CoreError::invalid(name, "must be text")),
    }
}

fn json<T: ToJSON>(v: T) -> Value {
    v.to_json().unwrap_or(Value::Null)
}

impl BillingApi {
    // ---- the dispatcher ----

    async fn dispatched(
        &self,
        fields: serde_json::Map<String, Value>,
        form: bool,
    ) -> CoreResult<(Value, &'static str)> {
        let api_key = text_field(&fields, "api_key")?.unwrap_or_default();
        let module = text_field(&fields, "type")?.ok_or_else(|| CoreError::invalid("type", "is required"))?;
        let action = text_field(&fields, "action")?.ok_or_else(|| CoreError::invalid("action", "is required"))?;
        let ids = |name: &str| -> CoreResult<Vec<i64>> {
            let v = text_field(&fields, name)?.ok_or_else(|| CoreError::invalid(name, "is required"))?;
            model::ids(name, &v)
        };
        if let Some(pass) = text_field(&fields, "admin_pass")? {
            if !ADMIN_ACTIONS.iter().any(|(m, _)| *m == module) {
                let modules: Vec<&str> = ADMIN_ACTIONS.iter().map(|(m, _)| *m).collect();
                return Err(CoreError::invalid(
                    "type",
                    format!("is not an admin module; modules: {}", modules.join(", ")),
                ));
            }
            let actions = ADMIN_ACTIONS.iter().find(|(m, _)| *m == module).map(|(_, a)| *a).unwrap_or(&[]);
            if !actions.contains(&action.as_str()) {
                return Err(CoreError::invalid("action", format!("{module} has the actions {}", actions.join(", "))));
            }
            let s = self.staff(&api_key, &pass, &module, &action).await?;
            let f = &fields;
            return Ok(match (module.as_str(), action.as_str()) {
                ("admin_group", "get") => (self.many(ids("group_id")?, |id| self.group_get(&s, id)).await?, "OK"),
                ("admin_group", "add") => (json(self.group_add(&s, fields_as(f, form)?).await?), "Successfully Added"),
                ("admin_group", "edit") => {
                    (json(self.group_edit(&s, fields_as(f, form)?).await?), "Updated Staff Member Group")
                }
                ("admin_group", "delete") => {
                    (json(self.group_delete(&s, &ids("group_id")?).await?), "Removed Staff Member Group")
                }
                ("admin", "get") => (self.many(ids("id")?, |id| self.staff_get(&s, id)).await?, "OK"),
                ("admin", "add") => (json(self.staff_add(&s, fields_as(f, form)?).await?), "Created New Staff Member"),
                ("admin", "edit") => (json(self.staff_edit(&s, fields_as(f, form)?).await?), "Updated Staff Member"),
                ("admin", "delete") => (json(self.staff_delete(&s, &ids("id")?).await?), "Removed Staff Member"),
                ("client_group", "get") => (self.many(ids("group_id")?, |id| self.cgroup_get(&s, id)).await?, "OK"),
                ("client_group", "add") => {
                    (json(self.cgroup_add(&s, fields_as(f, form)?).await?), "Successfully Added")
                }
                ("client_group", "edit") => {
                    (json(self.cgroup_edit(&s, fields_as(f, form)?).await?), "Successfully Updated")
                }
                ("client_group", "delete") => {
                    (json(self.cgroup_delete(&s, &ids("group_id")?).await?), "Successfully Removed")
                }
                ("client", "get") => (self.many(ids("client_id")?, |id| self.client_get(&s, id)).await?, "OK"),
                ("client", "add") => (json(self.client_add(&s, fields_as(f, form)?).await?), "Successfully Added"),
                ("client", "edit") => (json(self.client_edit(&s, fields_as(f, form)?).await?), "Successfully Updated"),
                ("client", "delete") => {
                    (json(self.client_delete(&s, &ids("client_id")?).await?), "Successfully Removed")
                }
                ("client", "add_funds") => (json(self.add_funds(&s, fields_as(f, form)?).await?), "Funds Added"),
                ("product_category", "get") => {
                    (self.many(ids("category_id")?, |id| self.category_get(&s, id)).await?, "OK")
                }
                ("product_category", "add") => {
                    (json(self.category_add(&s, fields_as(f, form)?).await?), "Successfully Added")
                }
                ("product_category", "edit") => {
                    (json(self.category_edit(&s, fields_as(f, form)?).await?), "Successfully Updated")
                }
                ("product_category", "delete") => {
                    (json(self.category_delete(&s, &ids("category_id")?).await?), "Successfully Removed")
                }
                ("product", "get") => (self.many(ids("id")?, |id| self.product_get(&s, PRODUCT, id)).await?, "OK"),
                ("product", "add") => (json(self.product_add(&s, fields_as(f, form)?).await?), "Successfully Added"),
                ("product", "edit") => {
                    (json(self.product_edit(&s, fields_as(f, form)?).await?), "Successfully Updated")
                }
                ("product", "delete") => {
                    (json(self.product_delete(&s, PRODUCT, &ids("product_id")?).await?), "Successfully Removed")
                }
                ("product_addon", "get") => (self.many(ids("id")?, |id| self.product_get(&s, ADDON, id)).await?, "OK"),
                ("product_addon", "add") => {
                    (json(self.addon_add(&s, fields_as(f, form)?).await?), "Successfully Added")
                }
                ("product_addon", "edit") => {
                    (json(self.addon_edit(&s, fields_as(f, form)?).await?), "Successfully Updated")
                }
                ("product_addon", "delete") => {
                    (json(self.product_delete(&s, ADDON, &ids("id")?).await?), "Successfully Removed")
                }
                ("product_promocode", "get") => (self.many(ids("promo_id")?, |id| self.promo_get(&s, id)).await?, "OK"),
                ("product_promocode", "add") => {
                    (json(self.promo_add(&s, fields_as(f, form)?).await?), "Successfully Added")
                }
                ("product_promocode", "edit") => {
                    (json(self.promo_edit(&s, fields_as(f, form)?).await?), "Successfully Updated")
                }
                ("product_promocode", "delete") => {
                    (json(self.promo_delete(&s, &ids("promo_id")?).await?), "Successfully Removed")
                }
                _ => return Err(CoreError::internal(format!("admin {module} {action} is listed but not routed"))),
            });
        }
        if let Some(pass) = text_field(&fields, "client_pass")? {
            if !CLIENT_ACTIONS.iter().any(|(m, _)| *m == module) {
                let modules: Vec<&str> = CLIENT_ACTIONS.iter().map(|(m, _)| *m).collect();
                return Err(CoreError::invalid(
                    "type",
                    format!("is not a client module; modules: {}", modules.join(", ")),
                ));
            }
            let actions = CLIENT_ACTIONS.iter().find(|(m, _)| *m == module).map(|(_, a)| *a).unwrap_or(&[]);
            if !actions.contains(&action.as_str()) {
                return Err(CoreError::invalid("action", format!("{module} has the actions {}", actions.join(", "))));
            }
            let c = self.client(&api_key, &pass).await?;
            let f = &fields;
            return Ok(match (module.as_str(), action.as_str()) {
                ("profile", "get") => {
                    let req: ProfileGet = fields_as(f, form)?;
                    (json(self.profile_get(&c, req.client_id).await?), "OK")
                }
                ("profile", "edit") => {
                    (json(self.profile_edit(&c, fields_as(f, form)?).await?), "Successfully Updated")
                }
                ("client_balance", "get" | "client_balance") => {
                    let req: BalanceGet = fields_as(f, form)?;
                    (json(self.balance_get(&c, req.client_id).await?), "OK")
                }
                ("profile", "change_password") => {
                    (json(self.change_password(&c, fields_as(f, form)?).await?), "Successfully Updated")
                }
                _ => return Err(CoreError::internal(format!("client {module} {action} is listed but not routed"))),
            });
        }
        Err(CoreError::Unauthenticated(
            "admin_pass: missing credentials; send api_key with admin_pass (admin modules) or client_pass (client modules)"
                .into(),
        ))
    }

    /// `get` of one id answers the record, of several a list in the order asked.
    async fn many<T: ToJSON, F, Fut>(&self, ids: Vec<i64>, get: F) -> CoreResult<Value>
    where
        F: Fn(i64) -> Fut,
        Fut: std::future::Future<Output = CoreResult<T>>,
    {
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.push(json(get(*id).await?));
        }
        Ok(if out.len() == 1 { out.remove(0) } else { Value::Array(out) })
    }

    // ---- credentials ----

    /// The principal of an API key whose password is `pass`: argon2 on the first check (counted toward the core's
    /// lock-out), then remembered for the principal until the password changes.
    async fn principal(&self, api_key: &str, pass_field: &str, pass: &str) -> CoreResult<Caller> {
        let caller = self.ctx.authenticate_key(api_key).await.map_err(|e| match e {
            CoreError::Unauthenticated(m) => CoreError::Unauthenticated(format!("api_key: {m}")),
            e => e,
        })?;
        if pass.is_empty() {
            return Err(CoreError::Unauthenticated(format!("{pass_field}: missing credentials")));
        }
        let digest = hash_secret(&format!("{}:{pass}", caller.principal_id()));
        if self.passwords.matches(caller.principal_id(), &digest).await {
            return Ok(caller);
        }
        let changes = self.passwords.changes();
        let account = format!("billing:{}", caller.principal_id());
        self.ctx.login_principal(caller.tenant(), &account, Some(caller.principal_id()), pass).await.map_err(|e| {
            match e {
                CoreError::Unauthenticated(_) => {
                    CoreError::Unauthenticated(format!("{pass_field}: wrong password for this api_key"))
                }
                e => e,
            }
        })?;
        self.passwords.remember(caller.principal_id(), digest, changes).await;
        Ok(caller)
    }

    /// A staff member of the key's business with its password, allowed `action` on `module` by its group.
    async fn staff(&self, api_key: &str, pass: &str, module: &str, action: &str) -> CoreResult<Staff> {
        let caller = self.principal(api_key, "admin_pass", pass).await?;
        let row = store::staff_by_principal(self.ctx.pool(), caller.tenant_id(), caller.principal_id())
            .await?
            .ok_or_else(|| CoreError::Unauthenticated("api_key: not the key of a staff member".into()))?;
        if !row.active.0 {
            return Err(CoreError::forbidden("this staff member is inactive"));
        }
        self.ctx.require(&caller, &model::object(module), verb(action), caller.tenant()).await.map_err(
            |e| match e {
                CoreError::Forbidden(_) => {
                    CoreError::forbidden(format!("this staff member's group has no permission for {module}"))
                }
                e => e,
            },
        )?;
        Ok(Staff { caller, row })
    }

    /// A client of the key's business with its password.
    async fn client(&self, api_key: &str, pass: &str) -> CoreResult<Client> {
        let caller = self.principal(api_key, "client_pass", pass).await?;
        let row = store::client_by_principal(self.ctx.pool(), caller.tenant_id(), caller.principal_id())
            .await?
            .ok_or_else(|| CoreError::Unauthenticated("api_key: not the key of a client".into()))?;
        if row.status != "active" {
            return Err(CoreError::forbidden(format!("this client is {}", row.status)));
        }
        Ok(Client { caller, row })
    }

    /// Forgets a principal's checked password here and on the other instances.
    async fn forget_password(&self, principal: i64) {
        self.passwords.forget(principal).await;
        self.ctx.publish_change(&principal.to_string()).await;
    }

    /// The modules of the caller's own group, read in the transaction: a staff member hands out no more than it
    /// has (groups it creates or edits, staff it adds, edits or removes).
    async fn own_modules(&self, tx: &mut Tx, s: &Staff) -> CoreResult<Vec<String>> {
        let mine = store::group(&mut **tx, s.business().id, s.row.group_id).await?;
        Ok(mine.map(|g| granted_of(&g.permissions)).unwrap_or_default())
    }

    /// A staff group of the business, locked for the transaction: `field` names it when it is not the business's,
    /// and it may hold no module the caller's group lacks.
    async fn usable_group(&self, tx: &mut Tx, s: &Staff, field: &str, id: i64) -> CoreResult<GroupRow> {
        let business = s.business().id;
        if !store::lock(tx, Table::StaffGroups, business, id).await? {
            return Err(CoreError::invalid(field, format!("staff group {id} not found")));
        }
        let group = store::group(&mut **tx, business, id)
            .await?
            .ok_or_else(|| CoreError::invalid(field, format!("staff group {id} not found")))?;
        within(field, &granted_of(&group.permissions), &self.own_modules(tx, s).await?)?;
        Ok(group)
    }

    // ---- setup ----

    async fn set_up(&self, key: &BearerKey, req: SetupRequest) -> CoreResult<Inserted> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        let business = match req.business_id {
            Some(id) => self.ctx.visible_tenant(&caller, id, "business_id").await?,
            None => caller.tenant().clone(),
        };
        if business.kind() != TenantKind::Organisation {
            return Err(CoreError::invalid("business_id", "must be an organisation (the billing business)"));
        }
        self.ctx.require(&caller, "billing:setup", "create", &business).await?;
        let name = model::text("name", &req.name, 100)?;
        let email = Email::parse("email", &req.email)?;
        model::password("pass", &req.pass)?;
        let hash = hash_password(&req.pass).await?;
        let set_up_already = || CoreError::conflict("the business is set up already: its staff add staff members");
        let mut tx = self.ctx.begin().await?;
        if store::group_count(&mut tx, business.id).await? > 0 {
            return Err(set_up_already());
        }
        let all: Vec<String> = model::ADMIN_MODULES.iter().map(|m| m.to_string()).collect();
        let now = now_ms();
        // Two setups at once on PostgreSQL: the group's unique name lets one in.
        let group_id =
            store::insert_group(&mut tx, business.id, "Administrators", &model::permissions_text(&all), true, now)
                .await
                .map_err(|e| match e {
                    CoreError::Conflict(_) => set_up_already(),
                    e => e,
                })?;
        self.ctx.set_role_rules(&mut tx, &model::group_role(group_id), &rules(&all)).await?;
        let principal = self.ctx.create_person(&mut tx, &business, &email, &name, &hash).await?;
        let row = StaffRow {
            id: 0,
            principal_id: principal,
            group_id,
            name,
            email: email.as_str().to_string(),
            active: Flag(true),
            acc_manager: Flag(false),
            created_at: now,
            updated_at: None,
        };
        let id = store::insert_staff(&mut tx, business.id, &row, now).await?;
        self.ctx.grant_role(&mut tx, principal, &model::group_role(group_id), &business, false).await?;
        let (_, api_key) = self.ctx.create_key(&mut tx, &business, principal, "billing staff").await?;
        self.ctx.audit(&mut tx, &caller, &business, "setup", &format!("billing_staff:{id}")).await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: Some(api_key) })
    }

    // ---- admin_group ----

    async fn group_get(&self, s: &Staff, id: i64) -> CoreResult<GroupOut> {
        let g = store::group(self.ctx.pool(), s.business().id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("staff group {id} not found")))?;
        Ok(group_out(g))
    }

    async fn group_add(&self, s: &Staff, req: GroupAdd) -> CoreResult<Inserted> {
        let name = model::text("name", &req.name, 100)?;
        let active = match &req.status {
            Some(v) => model::status_on("status", Some(v))?,
            None => true,
        };
        let granted = model::permissions(&req.permissions.unwrap_or_default())?;
        let mut tx = self.ctx.begin().await?;
        within("permissions", &granted, &self.own_modules(&mut tx, s).await?)?;
        let id =
            store::insert_group(&mut tx, s.business().id, &name, &model::permissions_text(&granted), active, now_ms())
                .await
                .map_err(|e| taken(e, "name", "a staff group of the business has this name"))?;
        let granted_rules = if active { rules(&granted) } else { Vec::new() };
        self.ctx.set_role_rules(&mut tx, &model::group_role(id), &granted_rules).await?;
        self.ctx
            .audit(&mut tx, &s.caller, s.business(), "admin_group.add", &format!("billing_staff_group:{id}"))
            .await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: None })
    }

    async fn group_edit(&self, s: &Staff, req: GroupEdit) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        if !store::lock(&mut tx, Table::StaffGroups, business.id, req.group_id).await? {
            return Err(CoreError::not_found(format!("staff group {} not found", req.group_id)));
        }
        let mut row = store::group(&mut *tx, business.id, req.group_id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("staff group {} not found", req.group_id)))?;
        let mine = self.own_modules(&mut tx, s).await?;
        within("group_id", &granted_of(&row.permissions), &mine)?;
        if let Some(name) = &req.name {
            row.name = model::text("name", name, 100)?;
        }
        if let Some(status) = &req.status {
            row.active = Flag(model::status_on("status", Some(status))?);
        }
        let granted = match &req.permissions {
            Some(p) => model::permissions(p)?,
            None => granted_of(&row.permissions),
        };
        within("permissions", &granted, &mine)?;
        row.permissions = model::permissions_text(&granted);
        if row.id == s.row.group_id {
            if !row.active.0 {
                return Err(CoreError::invalid("status", "would switch off the caller's own group"));
            }
            if !granted.iter().any(|m| m == "admin_group") {
                return Err(CoreError::invalid(
                    "permissions",
                    "would take admin_group away from the caller's own group; another group's member must change it",
                ));
            }
        }
        store::update_group(&mut tx, business.id, &row, now_ms())
            .await
            .map_err(|e| taken(e, "name", "a staff group of the business has this name"))?;
        let granted_rules = if row.active.0 { rules(&granted) } else { Vec::new() };
        self.ctx.set_role_rules(&mut tx, &model::group_role(row.id), &granted_rules).await?;
        self.ctx
            .audit(&mut tx, &s.caller, business, "admin_group.edit", &format!("billing_staff_group:{}", row.id))
            .await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn group_delete(&self, s: &Staff, ids: &[i64]) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        let mine = self.own_modules(&mut tx, s).await?;
        for id in ids {
            let group = store::group(&mut *tx, business.id, *id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("staff group {id} not found")))?;
            within("group_id", &granted_of(&group.permissions), &mine)?;
            if !store::delete_group(&mut tx, business.id, *id).await? {
                return Err(CoreError::conflict(format!("staff group {id} has members: move or remove them first")));
            }
            self.ctx.drop_role(&mut tx, &model::group_role(*id)).await?;
            self.ctx
                .audit(&mut tx, &s.caller, business, "admin_group.delete", &format!("billing_staff_group:{id}"))
                .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- admin (staff) ----

    async fn staff_get(&self, s: &Staff, id: i64) -> CoreResult<StaffOut> {
        let row = store::staff(self.ctx.pool(), s.business().id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("staff member {id} not found")))?;
        Ok(staff_out(row))
    }

    /// A staff member of the business, locked for the transaction, whose group holds no module the caller lacks.
    async fn staff_locked(&self, tx: &mut Tx, s: &Staff, id: i64) -> CoreResult<StaffRow> {
        let business = s.business().id;
        let not_found = || CoreError::not_found(format!("staff member {id} not found"));
        if !store::lock(tx, Table::Staff, business, id).await? {
            return Err(not_found());
        }
        let row = store::staff(&mut **tx, business, id).await?.ok_or_else(not_found)?;
        if let Some(group) = store::group(&mut **tx, business, row.group_id).await? {
            within("id", &granted_of(&group.permissions), &self.own_modules(tx, s).await?)?;
        }
        Ok(row)
    }

    async fn staff_add(&self, s: &Staff, req: StaffAdd) -> CoreResult<Inserted> {
        let name = model::text("name", &req.name, 100)?;
        let email = Email::parse("email", &req.email)?;
        model::password("pass", &req.pass)?;
        let active = match &req.status {
            Some(v) => model::status_on("status", Some(v))?,
            None => true,
        };
        let acc_manager = model::status_on("acc_manager", req.acc_manager.as_deref())?;
        let hash = hash_password(&req.pass).await?;
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        self.usable_group(&mut tx, s, "group_id", req.group_id).await?;
        let principal = self.ctx.create_person(&mut tx, business, &email, &name, &hash).await?;
        let now = now_ms();
        let row = StaffRow {
            id: 0,
            principal_id: principal,
            group_id: req.group_id,
            name,
            email: email.as_str().to_string(),
            active: Flag(active),
            acc_manager: Flag(acc_manager),
            created_at: now,
            updated_at: None,
        };
        let id = store::insert_staff(&mut tx, business.id, &row, now).await?;
        self.ctx.grant_role(&mut tx, principal, &model::group_role(req.group_id), business, false).await?;
        let (_, api_key) = self.ctx.create_key(&mut tx, business, principal, "billing staff").await?;
        self.ctx.audit(&mut tx, &s.caller, business, "admin.add", &format!("billing_staff:{id}")).await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: Some(api_key) })
    }

    async fn staff_edit(&self, s: &Staff, req: StaffEdit) -> CoreResult<Done> {
        let email = req.email.as_deref().map(|e| Email::parse("email", e)).transpose()?;
        let hash = match &req.pass {
            Some(p) => {
                model::password("pass", p)?;
                Some(hash_password(p).await?)
            }
            None => None,
        };
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        let mut row = self.staff_locked(&mut tx, s, req.id).await?;
        let old_group = row.group_id;
        if let Some(g) = req.group_id {
            self.usable_group(&mut tx, s, "group_id", g).await?;
            row.group_id = g;
        }
        if let Some(name) = &req.name {
            row.name = model::text("name", name, 100)?;
        }
        if let Some(e) = &email {
            row.email = e.as_str().to_string();
        }
        if let Some(status) = &req.status {
            row.active = Flag(model::status_on("status", Some(status))?);
        }
        if let Some(m) = &req.acc_manager {
            row.acc_manager = Flag(model::status_on("acc_manager", Some(m))?);
        }
        if row.id == s.row.id && !row.active.0 {
            return Err(CoreError::invalid("status", "a staff member cannot switch itself off"));
        }
        if row.id == s.row.id && row.group_id != old_group {
            return Err(CoreError::invalid("group_id", "a staff member cannot move itself to another group"));
        }
        if let Some(e) = &email {
            self.ctx.set_email(&mut tx, business, row.principal_id, e).await?;
        }
        if let Some(h) = &hash {
            self.ctx.set_password(&mut tx, business, row.principal_id, h).await?;
        }
        store::update_staff(&mut tx, business.id, &row, now_ms()).await?;
        if row.group_id != old_group {
            self.ctx.grant_role(&mut tx, row.principal_id, &model::group_role(old_group), business, true).await?;
            self.ctx.grant_role(&mut tx, row.principal_id, &model::group_role(row.group_id), business, false).await?;
        }
        self.ctx.audit(&mut tx, &s.caller, business, "admin.edit", &format!("billing_staff:{}", row.id)).await?;
        tx.commit().await?;
        if hash.is_some() {
            self.forget_password(row.principal_id).await;
        }
        Ok(None)
    }

    /// Removes staff members: each is closed in the core (its keys revoked, its email free again).
    async fn staff_delete(&self, s: &Staff, ids: &[i64]) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        for id in ids {
            if *id == s.row.id {
                return Err(CoreError::invalid("id", "a staff member cannot remove itself"));
            }
            let row = self.staff_locked(&mut tx, s, *id).await?;
            store::delete_staff(&mut tx, business.id, *id).await?;
            self.ctx.grant_role(&mut tx, row.principal_id, &model::group_role(row.group_id), business, true).await?;
            self.ctx.close_person(&mut tx, business, row.principal_id).await?;
            self.ctx.audit(&mut tx, &s.caller, business, "admin.delete", &format!("billing_staff:{id}")).await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- client_group ----

    async fn cgroup_get(&self, s: &Staff, id: i64) -> CoreResult<ClientGroupOut> {
        let g = store::client_group(self.ctx.pool(), s.business().id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("client group {id} not found")))?;
        Ok(ClientGroupOut {
            id: g.id.to_string(),
            title: g.title,
            created_at: model::seconds(g.created_at),
            updated_at: g.updated_at.map(model::seconds),
        })
    }

    async fn cgroup_add(&self, s: &Staff, req: ClientGroupAdd) -> CoreResult<Inserted> {
        let title = model::text("name", &req.name, 100)?;
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_client_group(&mut tx, s.business().id, &title, now_ms())
            .await
            .map_err(|e| taken(e, "name", "a client group of the business has this name"))?;
        self.ctx
            .audit(&mut tx, &s.caller, s.business(), "client_group.add", &format!("billing_client_group:{id}"))
            .await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: None })
    }

    async fn cgroup_edit(&self, s: &Staff, req: ClientGroupEdit) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        if !store::lock(&mut tx, Table::ClientGroups, business.id, req.group_id).await? {
            return Err(CoreError::not_found(format!("client group {} not found", req.group_id)));
        }
        if let Some(n) = &req.name {
            let title = model::text("name", n, 100)?;
            store::update_client_group(&mut tx, business.id, req.group_id, &title, now_ms())
                .await
                .map_err(|e| taken(e, "name", "a client group of the business has this name"))?;
        }
        let object = format!("billing_client_group:{}", req.group_id);
        self.ctx.audit(&mut tx, &s.caller, business, "client_group.edit", &object).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn cgroup_delete(&self, s: &Staff, ids: &[i64]) -> CoreResult<Done> {
        let mut tx = self.ctx.begin().await?;
        for id in ids {
            if !store::delete_client_group(&mut tx, s.business().id, *id).await? {
                return Err(CoreError::not_found(format!("client group {id} not found")));
            }
            self.ctx
                .audit(&mut tx, &s.caller, s.business(), "client_group.delete", &format!("billing_client_group:{id}"))
                .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- client ----

    async fn client_get(&self, s: &Staff, id: i64) -> CoreResult<ClientOut> {
        let row = store::client(self.ctx.pool(), s.business().id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("client {id} not found")))?;
        Ok(client_out(row))
    }

    /// A client of the business, locked for the transaction.
    async fn client_locked(&self, tx: &mut Tx, business: &Tenant, id: i64) -> CoreResult<ClientRow> {
        let not_found = || CoreError::not_found(format!("client {id} not found"));
        if !store::lock(tx, Table::Clients, business.id, id).await? {
            return Err(not_found());
        }
        store::client(&mut **tx, business.id, id).await?.ok_or_else(not_found)
    }

    /// A client group of the business for `client_group_id`, locked for the transaction; 0 is none.
    async fn client_group_id(&self, tx: &mut Tx, s: &Staff, id: Option<i64>) -> CoreResult<Option<i64>> {
        match id {
            None | Some(0) => Ok(None),
            Some(id) if store::lock(tx, Table::ClientGroups, s.business().id, id).await? => Ok(Some(id)),
            Some(id) => Err(CoreError::invalid("client_group_id", format!("client group {id} not found"))),
        }
    }

    async fn client_add(&self, s: &Staff, req: ClientAdd) -> CoreResult<Inserted> {
        let email = Email::parse("email", &req.email)?;
        model::password("password", &req.password)?;
        if req.password != req.confirm_password {
            return Err(CoreError::invalid("confirm_password", "must equal password"));
        }
        let mut row = ClientRow {
            id: 0,
            principal_id: 0,
            group_id: None,
            status: "active".into(),
            first_name: model::text("first_name", &req.first_name, 100)?,
            last_name: model::text("last_name", &req.last_name, 100)?,
            email: email.as_str().to_string(),
            gender: String::new(),
            dob: String::new(),
            phone: String::new(),
            company: String::new(),
            address_1: String::new(),
            address_2: String::new(),
            city: String::new(),
            state: req.state.trim().to_string(),
            postcode: String::new(),
            country: req.country.trim().to_string(),
            currency: model::currency("currency_code", &req.currency_code)?,
            balance: 0,
            created_at: 0,
            updated_at: None,
        };
        let profile = ProfileFields {
            gender: req.gender,
            dob: req.dob,
            phone: req.phone,
            company: req.company,
            address_1: req.address_1,
            address_2: req.address_2,
            city: req.city,
            postcode: req.postcode,
            ..Default::default()
        };
        apply_profile(&mut row, profile)?;
        let hash = hash_password(&req.password).await?;
        let business = s.business();
        let name = format!("{} {}", row.first_name, row.last_name);
        let mut tx = self.ctx.begin().await?;
        row.group_id = self.client_group_id(&mut tx, s, req.client_group_id).await?;
        row.principal_id = self.ctx.create_person(&mut tx, business, &email, &name, &hash).await?;
        let id = store::insert_client(&mut tx, business.id, &row, now_ms()).await?;
        let (_, api_key) = self.ctx.create_key(&mut tx, business, row.principal_id, "billing client").await?;
        self.ctx.audit(&mut tx, &s.caller, business, "client.add", &format!("billing_client:{id}")).await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: Some(api_key) })
    }

    async fn client_edit(&self, s: &Staff, req: ClientEdit) -> CoreResult<Done> {
        let status = match &req.status {
            Some(v) => {
                let v = v.trim().to_lowercase();
                if !["active", "suspended", "canceled"].contains(&v.as_str()) {
                    return Err(CoreError::invalid("status", "must be one of: active, suspended, canceled"));
                }
                Some(v)
            }
            None => None,
        };
        let email = req.email.as_deref().map(|e| Email::parse("email", e)).transpose()?;
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        let mut row = self.client_locked(&mut tx, business, req.client_id).await?;
        if req.client_group_id.is_some() {
            row.group_id = self.client_group_id(&mut tx, s, req.client_group_id).await?;
        }
        if let Some(v) = status {
            row.status = v;
        }
        if let Some(e) = &email {
            row.email = e.as_str().to_string();
            self.ctx.set_email(&mut tx, business, row.principal_id, e).await?;
        }
        apply_profile(&mut row, req.profile)?;
        store::update_client(&mut tx, business.id, &row, now_ms()).await?;
        self.ctx.audit(&mut tx, &s.caller, business, "client.edit", &format!("billing_client:{}", row.id)).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Removes clients: each is closed in the core (its keys revoked, its email free again).
    async fn client_delete(&self, s: &Staff, ids: &[i64]) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        for id in ids {
            let row = self.client_locked(&mut tx, business, *id).await?;
            if row.balance != 0 {
                return Err(CoreError::conflict(format!(
                    "client {id} has a balance of {} {}: bring it to zero first",
                    format_money(row.balance),
                    row.currency
                )));
            }
            store::delete_client(&mut tx, business.id, *id).await?;
            self.ctx.close_person(&mut tx, business, row.principal_id).await?;
            self.ctx.audit(&mut tx, &s.caller, business, "client.delete", &format!("billing_client:{id}")).await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- balances ----

    async fn add_funds(&self, s: &Staff, req: AddFunds) -> CoreResult<MoveOut> {
        let amount = parse_money("amount", &req.amount)?;
        if amount == 0 {
            return Err(CoreError::invalid("amount", "must not be 0"));
        }
        let description = req.description.as_deref().unwrap_or("").trim().to_string();
        let key = match req.idempotency_key.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(k) => Some(k.to_string()),
        };
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        let client = self.client_locked(&mut tx, business, req.client_id).await?;
        // Under the client's lock: a retry that raced the first move sees it here.
        if let Some(k) = &key {
            if let Some(first) = store::move_by_key(&mut *tx, business.id, client.id, k).await? {
                return same_move(first, amount);
            }
        }
        let kind = if amount > 0 { "deposit" } else { "adjustment" };
        let m = store::BalanceMove {
            client_id: client.id,
            amount,
            kind,
            description: &description,
            key: key.as_deref(),
            invoice_id: None,
        };
        let Some(moved) = store::move_balance(&mut tx, business.id, &m, now_ms()).await? else {
            return Err(CoreError::conflict(format!(
                "amount: the balance is {} {}; it cannot go below zero",
                format_money(client.balance),
                client.currency
            )));
        };
        self.ctx
            .audit(&mut tx, &s.caller, business, "client.add_funds", &format!("billing_client:{}", client.id))
            .await?;
        tx.commit().await?;
        Ok(move_out(moved))
    }

    async fn balance_get(&self, c: &Client, client_id: Option<i64>) -> CoreResult<BalanceOut> {
        c.own(client_id)?;
        let business = c.business().id;
        let row = store::client(self.ctx.pool(), business, c.row.id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("client {} not found", c.row.id)))?;
        let (moves, total) = store::moves(self.ctx.pool(), business, row.id, 20).await?;
        Ok(BalanceOut {
            client_id: row.id.to_string(),
            currency: row.currency,
            balance: format_money(row.balance),
            transactions: moves.into_iter().map(move_out).collect(),
            total,
        })
    }

    // ---- product_category ----

    async fn category_row(&self, s: &Staff, id: i64) -> CoreResult<store::CategoryRow> {
        store::category(self.ctx.pool(), s.business().id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("product category {id} not found")))
    }

    async fn category_get(&self, s: &Staff, id: i64) -> CoreResult<CategoryOut> {
        let c = self.category_row(s, id).await?;
        Ok(CategoryOut {
            id: c.id.to_string(),
            title: c.title,
            description: c.description,
            created_at: model::seconds(c.created_at),
            updated_at: c.updated_at.map(model::seconds),
        })
    }

    async fn category_add(&self, s: &Staff, req: CategoryAdd) -> CoreResult<Inserted> {
        let row = store::CategoryRow {
            id: 0,
            title: model::text("title", &req.title, 100)?,
            description: req.description.unwrap_or_default().trim().to_string(),
            created_at: 0,
            updated_at: None,
        };
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_category(&mut tx, s.business().id, &row, now_ms())
            .await
            .map_err(|e| taken(e, "title", "a product category of the business has this title"))?;
        self.ctx
            .audit(&mut tx, &s.caller, s.business(), "product_category.add", &format!("billing_product_category:{id}"))
            .await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: None })
    }

    async fn category_edit(&self, s: &Staff, req: CategoryEdit) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        let not_found = || CoreError::not_found(format!("product category {} not found", req.category_id));
        if !store::lock(&mut tx, Table::Categories, business.id, req.category_id).await? {
            return Err(not_found());
        }
        let mut row = store::category(&mut *tx, business.id, req.category_id).await?.ok_or_else(not_found)?;
        if let Some(t) = &req.title {
            row.title = model::text("title", t, 100)?;
        }
        if let Some(d) = &req.description {
            row.description = d.trim().to_string();
        }
        store::update_category(&mut tx, business.id, &row, now_ms())
            .await
            .map_err(|e| taken(e, "title", "a product category of the business has this title"))?;
        let object = format!("billing_product_category:{}", row.id);
        self.ctx.audit(&mut tx, &s.caller, business, "product_category.edit", &object).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn category_delete(&self, s: &Staff, ids: &[i64]) -> CoreResult<Done> {
        let mut tx = self.ctx.begin().await?;
        for id in ids {
            if !store::delete_category(&mut tx, s.business().id, *id).await? {
                self.category_row(s, *id).await?;
                return Err(CoreError::conflict(format!(
                    "product category {id} has products: move or remove them first"
                )));
            }
            let object = format!("billing_product_category:{id}");
            self.ctx.audit(&mut tx, &s.caller, s.business(), "product_category.delete", &object).await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- product and product_addon ----

    async fn product_row(&self, s: &Staff, kind: &str, id: i64) -> CoreResult<store::ProductRow> {
        let what = if kind == ADDON { "product addon" } else { "product" };
        store::product(self.ctx.pool(), s.business().id, kind, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("{what} {id} not found")))
    }

    async fn product_get(&self, s: &Staff, kind: &str, id: i64) -> CoreResult<ProductOut> {
        Ok(product_out(self.product_row(s, kind, id).await?))
    }

    /// A product category of the business for `category_id`, locked for the transaction.
    async fn category_id(&self, tx: &mut Tx, s: &Staff, id: i64) -> CoreResult<i64> {
        if !store::lock(tx, Table::Categories, s.business().id, id).await? {
            return Err(CoreError::invalid("category_id", format!("product category {id} not found")));
        }
        Ok(id)
    }

    async fn product_add(&self, s: &Staff, req: ProductAdd) -> CoreResult<Inserted> {
        let mut row = new_product(PRODUCT, &req.title)?;
        row.product_type = req.product_type.stored();
        apply_pricing(&mut row, req.pricing)?;
        let mut tx = self.ctx.begin().await?;
        row.category_id = Some(self.category_id(&mut tx, s, req.category_id).await?);
        self.insert_product(tx, s, row, "product.add").await
    }

    async fn addon_add(&self, s: &Staff, req: AddonAdd) -> CoreResult<Inserted> {
        let mut row = new_product(ADDON, &req.title)?;
        apply_pricing(&mut row, req.pricing)?;
        let tx = self.ctx.begin().await?;
        self.insert_product(tx, s, row, "product_addon.add").await
    }

    async fn insert_product(
        &self,
        mut tx: Tx,
        s: &Staff,
        row: store::ProductRow,
        action: &str,
    ) -> CoreResult<Inserted> {
        let id = store::insert_product(&mut tx, s.business().id, &row, now_ms())
            .await
            .map_err(|e| taken(e, "title", "a product of the business has this title"))?;
        self.ctx.audit(&mut tx, &s.caller, s.business(), action, &format!("billing_product:{id}")).await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: None })
    }

    async fn product_edit(&self, s: &Staff, req: ProductEdit) -> CoreResult<Done> {
        let mut tx = self.ctx.begin().await?;
        let mut row = self.product_locked(&mut tx, s, PRODUCT, req.id).await?;
        if let Some(c) = req.category_id {
            row.category_id = Some(self.category_id(&mut tx, s, c).await?);
        }
        if let Some(t) = &req.title {
            row.title = model::text("title", t, 100)?;
        }
        if let Some(t) = req.product_type {
            row.product_type = t.stored();
        }
        apply_pricing(&mut row, req.pricing)?;
        self.save_product(tx, s, &row, "product.edit").await
    }

    async fn addon_edit(&self, s: &Staff, req: AddonEdit) -> CoreResult<Done> {
        let mut tx = self.ctx.begin().await?;
        let mut row = self.product_locked(&mut tx, s, ADDON, req.id).await?;
        if let Some(t) = &req.title {
            row.title = model::text("title", t, 100)?;
        }
        apply_pricing(&mut row, req.pricing)?;
        self.save_product(tx, s, &row, "product_addon.edit").await
    }

    /// A product or addon of the business, locked for the transaction.
    async fn product_locked(&self, tx: &mut Tx, s: &Staff, kind: &str, id: i64) -> CoreResult<store::ProductRow> {
        let what = if kind == ADDON { "product addon" } else { "product" };
        let not_found = || CoreError::not_found(format!("{what} {id} not found"));
        if !store::lock(tx, Table::Products, s.business().id, id).await? {
            return Err(not_found());
        }
        store::product(&mut **tx, s.business().id, kind, id).await?.ok_or_else(not_found)
    }

    async fn save_product(&self, mut tx: Tx, s: &Staff, row: &store::ProductRow, action: &str) -> CoreResult<Done> {
        store::update_product(&mut tx, s.business().id, row, now_ms())
            .await
            .map_err(|e| taken(e, "title", "a product of the business has this title"))?;
        self.ctx.audit(&mut tx, &s.caller, s.business(), action, &format!("billing_product:{}", row.id)).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn product_delete(&self, s: &Staff, kind: &str, ids: &[i64]) -> CoreResult<Done> {
        let mut tx = self.ctx.begin().await?;
        for id in ids {
            if !store::delete_product(&mut tx, s.business().id, kind, *id).await? {
                let what = if kind == ADDON { "product addon" } else { "product" };
                return Err(CoreError::not_found(format!("{what} {id} not found")));
            }
            let action = if kind == ADDON { "product_addon.delete" } else { "product.delete" };
            self.ctx.audit(&mut tx, &s.caller, s.business(), action, &format!("billing_product:{id}")).await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- product_promocode ----

    async fn promo_row(&self, s: &Staff, id: i64) -> CoreResult<store::PromoRow> {
        store::promo(self.ctx.pool(), s.business().id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("promo code {id} not found")))
    }

    async fn promo_get(&self, s: &Staff, id: i64) -> CoreResult<PromoOut> {
        let p = self.promo_row(s, id).await?;
        Ok(PromoOut {
            id: p.id.to_string(),
            code: p.code,
            promo_type: p.promo_type,
            value: format_money(p.value),
            max_uses: p.max_uses.to_string(),
            used: p.used.to_string(),
            start_at: p.starts_at.map(model::seconds),
            end_at: p.ends_at.map(model::seconds),
            active: if p.active.0 { "1" } else { "0" }.into(),
            created_at: model::seconds(p.created_at),
            updated_at: p.updated_at.map(model::seconds),
        })
    }

    async fn promo_add(&self, s: &Staff, req: PromoAdd) -> CoreResult<Inserted> {
        let mut row = store::PromoRow {
            id: 0,
            code: promo_code(&req.code)?,
            promo_type: req.promo_type.stored(),
            value: model::promo_value("value", req.promo_type, &req.value)?,
            max_uses: req.max_uses.unwrap_or(0),
            used: 0,
            starts_at: None,
            ends_at: None,
            active: Flag(true),
            created_at: 0,
            updated_at: None,
        };
        apply_validity(&mut row, req.start_at.as_deref(), req.end_at.as_deref(), req.status.as_deref())?;
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_promo(&mut tx, s.business().id, &row, now_ms())
            .await
            .map_err(|e| taken(e, "code", "a promo code of the business has this code"))?;
        self.ctx
            .audit(&mut tx, &s.caller, s.business(), "product_promocode.add", &format!("billing_promocode:{id}"))
            .await?;
        tx.commit().await?;
        Ok(Inserted { inserted_id: id, api_key: None })
    }

    async fn promo_edit(&self, s: &Staff, req: PromoEdit) -> CoreResult<Done> {
        let business = s.business();
        let mut tx = self.ctx.begin().await?;
        let not_found = || CoreError::not_found(format!("promo code {} not found", req.promo_id));
        if !store::lock(&mut tx, Table::Promos, business.id, req.promo_id).await? {
            return Err(not_found());
        }
        let mut row = store::promo(&mut *tx, business.id, req.promo_id).await?.ok_or_else(not_found)?;
        if let Some(c) = &req.code {
            row.code = promo_code(c)?;
        }
        let promo_type = match req.promo_type {
            Some(t) => t,
            None => model::PromoType::from_stored("promo_type", &row.promo_type)?,
        };
        match &req.value {
            Some(v) => row.value = model::promo_value("value", promo_type, v)?,
            None if req.promo_type.is_some() => {
                row.value = model::promo_value("value", promo_type, &format_money(row.value))?;
            }
            None => {}
        }
        row.promo_type = promo_type.stored();
        if let Some(m) = req.max_uses {
            row.max_uses = m;
        }
        apply_validity(&mut row, req.start_at.as_deref(), req.end_at.as_deref(), req.status.as_deref())?;
        store::update_promo(&mut tx, business.id, &row, now_ms())
            .await
            .map_err(|e| taken(e, "code", "a promo code of the business has this code"))?;
        let object = format!("billing_promocode:{}", row.id);
        self.ctx.audit(&mut tx, &s.caller, business, "product_promocode.edit", &object).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn promo_delete(&self, s: &Staff, ids: &[i64]) -> CoreResult<Done> {
        let mut tx = self.ctx.begin().await?;
        for id in ids {
            if !store::delete_promo(&mut tx, s.business().id, *id).await? {
                return Err(CoreError::not_found(format!("promo code {id} not found")));
            }
            let object = format!("billing_promocode:{id}");
            self.ctx.audit(&mut tx, &s.caller, s.business(), "product_promocode.delete", &object).await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    // ---- client side: profile ----

    async fn profile_get(&self, c: &Client, client_id: Option<i64>) -> CoreResult<ClientOut> {
        c.own(client_id)?;
        Ok(client_out(c.row.clone()))
    }

    async fn profile_edit(&self, c: &Client, req: ProfileEdit) -> CoreResult<Done> {
        c.own(req.client_id)?;
        let business = c.business();
        let mut tx = self.ctx.begin().await?;
        let mut row = self.client_locked(&mut tx, business, c.row.id).await?;
        apply_profile(&mut row, req.profile)?;
        store::update_client(&mut tx, business.id, &row, now_ms()).await?;
        self.ctx.audit(&mut tx, &c.caller, business, "profile.edit", &format!("billing_client:{}", row.id)).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn change_password(&self, c: &Client, req: ChangePassword) -> CoreResult<Done> {
        c.own(req.client_id)?;
        model::password("password", &req.password)?;
        if req.confirm_password.as_deref().is_some_and(|p| p != req.password) {
            return Err(CoreError::invalid("confirm_password", "must equal password"));
        }
        let hash = hash_password(&req.password).await?;
        let mut tx = self.ctx.begin().await?;
        self.ctx.set_password(&mut tx, c.business(), c.row.principal_id, &hash).await?;
        self.ctx
            .audit(&mut tx, &c.caller, c.business(), "profile.change_password", &format!("billing_client:{}", c.row.id))
            .await?;
        tx.commit().await?;
        self.forget_password(c.row.principal_id).await;
        Ok(None)
    }
}

/// The admin modules and their actions the dispatcher serves.
const ADMIN_ACTIONS: &[(&str, &[&str])] = &[
    ("admin_group", &["get", "add", "edit", "delete"]),
    ("admin", &["get", "add", "edit", "delete"]),
    ("client_group", &["get", "add", "edit", "delete"]),
    ("client", &["get", "add", "edit", "delete", "add_funds"]),
    ("product_category", &["get", "add", "edit", "delete"]),
    ("product", &["get", "add", "edit", "delete"]),
    ("product_addon", &["get", "add", "edit", "delete"]),
    ("product_promocode", &["get", "add", "edit", "delete"]),
];

/// The kinds of catalogue rows (`billing_products.kind`).
const PRODUCT: &str = "product";
const ADDON: &str = "addon";

/// The client modules and their actions the dispatcher serves.
const CLIENT_ACTIONS: &[(&str, &[&str])] =
    &[("profile", &["get", "edit", "change_password"]), ("client_balance", &["get", "client_balance"])];

/// A group's casbin rules: every action of each granted module.
fn rules(granted: &[String]) -> Vec<(String, String)> {
    granted.iter().map(|m| (model::object(m), "*".to_string())).collect()
}

/// The modules a stored permissions text grants.
fn granted_of(text: &str) -> Vec<String> {
    let map: BTreeMap<String, Value> = serde_json::from_str(text).unwrap_or_default();
    model::permissions(&map).unwrap_or_default()
}

/// A unique index's refusal as the field it concerns.
fn taken(e: CoreError, field: &str, why: &str) -> CoreError {
    match e {
        CoreError::Conflict(_) => CoreError::invalid(field, why),
        e => e,
    }
}

fn group_out(g: GroupRow) -> GroupOut {
    GroupOut {
        id: g.id.to_string(),
        name: g.name,
        permissions: g.permissions,
        active: if g.active.0 { "1" } else { "0" }.into(),
        created_at: model::seconds(g.created_at),
        updated_at: g.updated_at.map(model::seconds),
    }
}

fn staff_out(s: StaffRow) -> StaffOut {
    StaffOut {
        id: s.id.to_string(),
        admin_group_id: s.group_id.to_string(),
        name: s.name,
        email: s.email,
        status: if s.active.0 { "active" } else { "inactive" }.into(),
        acc_manager: if s.acc_manager.0 { "1" } else { "0" }.into(),
        created_at: model::seconds(s.created_at),
        updated_at: s.updated_at.map(model::seconds),
    }
}

fn client_out(c: ClientRow) -> ClientOut {
    ClientOut {
        id: c.id.to_string(),
        client_group_id: c.group_id.map(|g| g.to_string()),
        status: c.status,
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        gender: c.gender,
        dob: c.dob,
        phone: c.phone,
        company: c.company,
        address_1: c.address_1,
        address_2: c.address_2,
        city: c.city,
        state: c.state,
        postcode: c.postcode,
        country: c.country,
        currency: c.currency,
        balance: format_money(c.balance),
        created_at: model::seconds(c.created_at),
        updated_at: c.updated_at.map(model::seconds),
    }
}

/// Applies the profile fields given to a client's row, each checked.
fn apply_profile(row: &mut ClientRow, p: ProfileFields) -> CoreResult<()> {
    if let Some(v) = p.first_name {
        row.first_name = model::text("first_name", &v, 100)?;
    }
    if let Some(v) = p.last_name {
        row.last_name = model::text("last_name", &v, 100)?;
    }
    if let Some(v) = p.gender {
        let v = v.trim().to_lowercase();
        if !["", "male", "female"].contains(&v.as_str()) {
            return Err(CoreError::invalid("gender", "must be male, female or empty"));
        }
        row.gender = v;
    }
    if let Some(v) = p.dob {
        row.dob = model::date("dob", &v)?;
    }
    let plain = [
        (p.phone, &mut row.phone),
        (p.company, &mut row.company),
        (p.address_1, &mut row.address_1),
        (p.address_2, &mut row.address_2),
        (p.city, &mut row.city),
        (p.state, &mut row.state),
        (p.postcode, &mut row.postcode),
        (p.country, &mut row.country),
    ];
    for (value, slot) in plain {
        if let Some(v) = value {
            *slot = v.trim().to_string();
        }
    }
    Ok(())
}

fn product_out(p: store::ProductRow) -> ProductOut {
    ProductOut {
        id: p.id.to_string(),
        kind: p.kind,
        category_id: p.category_id.map(|c| c.to_string()),
        title: p.title,
        product_type: p.product_type,
        description: p.description,
        currency: p.currency,
        price: format_money(p.price),
        setup_price: format_money(p.setup_price),
        period: p.period,
        active: if p.active.0 { "1" } else { "0" }.into(),
        created_at: model::seconds(p.created_at),
        updated_at: p.updated_at.map(model::seconds),
    }
}

/// A new catalogue row with the defaults of an add: no charge, USD, billed once, on offer.
fn new_product(kind: &str, title: &str) -> CoreResult<store::ProductRow> {
    Ok(store::ProductRow {
        id: 0,
        kind: kind.into(),
        category_id: None,
        title: model::text("title", title, 100)?,
        product_type: model::ProductType::Custom.stored(),
        description: String::new(),
        currency: "USD".into(),
        price: 0,
        setup_price: 0,
        period: model::Period::Once.stored(),
        active: Flag(true),
        created_at: 0,
        updated_at: None,
    })
}

fn apply_pricing(row: &mut store::ProductRow, p: PriceFields) -> CoreResult<()> {
    if let Some(d) = p.description {
        row.description = d.trim().to_string();
    }
    if let Some(c) = p.currency_code {
        row.currency = model::currency("currency_code", &c)?;
    }
    if let Some(v) = p.price {
        row.price = model::price("price", &v)?;
    }
    if let Some(v) = p.setup_price {
        row.setup_price = model::price("setup_price", &v)?;
    }
    if let Some(period) = p.period {
        row.period = period.stored();
    }
    if let Some(status) = p.status {
        row.active = Flag(model::status_on("status", Some(&status))?);
    }
    Ok(())
}

/// A promo code as customers type it: letters, digits, `-` and `_`, compared in capitals.
fn promo_code(code: &str) -> CoreResult<String> {
    let c = model::text("code", code, 50)?.to_uppercase();
    if !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(CoreError::invalid("code", "must be letters, digits, - and _"));
    }
    Ok(c)
}

/// A promo code's validity days (an empty one: always) and status; the first day must not come after the last.
fn apply_validity(
    row: &mut store::PromoRow,
    start: Option<&str>,
    end: Option<&str>,
    status: Option<&str>,
) -> CoreResult<()> {
    if let Some(v) = start {
        row.starts_at = if v.trim().is_empty() { None } else { Some(model::day("start_at", v, false)?) };
    }
    if let Some(v) = end {
        row.ends_at = if v.trim().is_empty() { None } else { Some(model::day("end_at", v, true)?) };
    }
    if let (Some(a), Some(b)) = (row.starts_at, row.ends_at) {
        if a > b {
            return Err(match end {
                Some(_) => CoreError::invalid("end_at", "must not be before start_at"),
                None => CoreError::invalid("start_at", "must not be after end_at"),
            });
        }
    }
    if let Some(v) = status {
        row.active = Flag(model::status_on("status", Some(v))?);
    }
    Ok(())
}

/// Refuses modules beyond the caller's own group's, naming `field` and the modules.
fn within(field: &str, modules: &[String], mine: &[String]) -> CoreResult<()> {
    let beyond: Vec<&str> = modules.iter().filter(|m| !mine.contains(m)).map(String::as_str).collect();
    if beyond.is_empty() {
        return Ok(());
    }
    Err(CoreError::forbidden(format!(
        "{field}: gives modules the caller's own group does not have: {}",
        beyond.join(", ")
    )))
}

/// A retried move: the first one's answer when it moved the same amount, else the key is taken.
fn same_move(first: store::LedgerRow, amount: i64) -> CoreResult<MoveOut> {
    if first.amount != amount {
        return Err(CoreError::conflict(format!(
            "idempotency_key: was used for a move of {}",
            format_money(first.amount)
        )));
    }
    Ok(move_out(first))
}

fn move_out(m: store::LedgerRow) -> MoveOut {
    MoveOut {
        id: m.id.to_string(),
        amount: format_money(m.amount),
        balance_after: format_money(m.balance_after),
        kind: m.kind,
        description: m.description,
        invoice_id: m.invoice_id.map(|i| i.to_string()),
        created_at: model::seconds(m.created_at),
    }
}
