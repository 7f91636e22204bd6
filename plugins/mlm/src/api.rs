//! The network-marketing member API at the seed's paths under `/mlm`, and the business's admin operations.
//!
//! Member operations take the seed's headers: `api_key` (a core API key of the business, an organisation with the
//! plugin enabled) and, except for the access-token call and registration, `access_token` (a member's token from
//! `auth/access/`). Bodies are forms or JSON with the seed's field names. Success is `{"status": true, "data": …}`
//! with 200, 201 or 204 as the seed lists; failures are `{"status": false, "error": {"code", "description"}}` with
//! the seed's codes 1001–1019, and 422 with `fields` for validation.
//!
//! Admin operations (`/mlm/admin/…`) take a core API key as a bearer token, as in the other plugins, and act on the
//! key's business (or, for an admin above it, the business named by `business_id`).

use std::collections::BTreeMap;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Binary;
use poem_openapi::payload::Json;
use poem_openapi::types::multipart::Upload;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi, Tags};
use tessera_core::identity::{hash_password, hash_secret, new_secret};
use tessera_core::money::{format_money, parse_money};
use tessera_core::outbox::EmailTemplate;
use tessera_core::{
    now_ms, BearerKey, Caller, CoreError, CoreResult, Email, ErrorEnvelope, Flag, HeaderKey, HeaderNames, Input,
    PageRule, Paging, PathId, PluginContext, StoredEnum, Tenant, TenantKind, TokenGrant, TokenLookup,
};

use crate::model::{self, Gender, KycStatus, PackageKind, PaymentMethod, PayoutStatus, Position, UsernameType};
use crate::store::{self, MemberListRow, MemberRow, NewMember, PackageRow, SettingsRow, WalletMove};

#[derive(Tags)]
enum MlmTag {
    /// Network marketing: members in a binary tree, e-wallet, e-pins, packages, cart and checkout.
    Mlm,
}

/// How long a member's access token is valid.
const TOKEN_TTL_MS: i64 = 24 * 3600 * 1000;

/// How long a password-reset link is valid.
const RESET_TTL_MS: i64 = 3600 * 1000;

/// The plugin's settings (`[plugins.mlm]`).
#[derive(Debug, serde::Deserialize)]
#[serde(default)]
pub struct MlmConfig {
    /// The largest profile image accepted, in bytes (1018 above it).
    pub image_max_bytes: usize,
    /// The page of the business's app that resets a password; the email links to it with `?token=…&kind=…`.
    /// Without it, the email gives the token to paste into the app.
    pub reset_url: String,
}

impl Default for MlmConfig {
    fn default() -> Self {
        MlmConfig { image_max_bytes: 512 * 1024, reset_url: String::new() }
    }
}

/// The email of a password reset: a single-use link, valid for an hour.
const RESET_EMAIL: EmailTemplate = EmailTemplate {
    name: "mlm.password_reset",
    subject: "Reset your {{what}}",
    text: "Dear {{name}},\n\nsomeone asked to reset the {{what}} of your account {{username}}. To choose a new one, \
           open\n\n{{link}}\n\nwithin an hour. The link works once. If it was not you, ignore this email: \
           nothing has changed.\n",
    secret: true,
};

// ---- credentials ----

enum ApiKeyHeader {}

impl HeaderNames for ApiKeyHeader {
    const NAME: &'static str = "api_key";
    const ALIAS: &'static str = "api-key";
    const SCHEME: &'static str = "MlmApiKey";
    const ALIAS_SCHEME: &'static str = "MlmApiKeyHyphenated";
    const DESCRIPTION: &'static str =
        "The business's API key (a core API key of the organisation), in the `api_key` header (or `api-key`).";
}

enum AccessTokenHeader {}

impl HeaderNames for AccessTokenHeader {
    const NAME: &'static str = "access_token";
    const ALIAS: &'static str = "access-token";
    const SCHEME: &'static str = "MlmAccessToken";
    const ALIAS_SCHEME: &'static str = "MlmAccessTokenHyphenated";
    const DESCRIPTION: &'static str =
        "A member's access token from `auth/access/`, in the `access_token` header (or `access-token`).";
}

type ApiKey = HeaderKey<ApiKeyHeader>;
type AccessToken = HeaderKey<AccessTokenHeader>;

// ---- envelope ----

/// What failed: the seed's code, what is wrong, and for validation errors each field with its reason.
#[derive(Object)]
#[oai(rename = "MlmErrorDetail")]
pub struct ErrorDetail {
    /// 1001 invalid API key, 1002 invalid access token, 1003 invalid credentials, 1004 validation error, 1005 login
    /// blocked, 1006 registration blocked, 1007 invalid sponsor, 1008 position not usable, 1009 invalid placement,
    /// 1010 username not available, 1011 username not found, 1012 product not available, 1013 incorrect date
    /// format, 1014 insufficient e-wallet balance, 1015 incorrect transaction password, 1016 invalid e-pin,
    /// 1017 file type not supported, 1018 file size exceeded, 1019 KYC not verified. Failures the seed has no code
    /// for carry their HTTP status: 404, 405, 409, 413, 415, 429, 500.
    pub code: String,
    pub description: String,
    #[oai(skip_serializing_if_is_none)]
    pub fields: Option<BTreeMap<String, String>>,
}

/// Failure: `status` false.
#[derive(Object)]
#[oai(rename = "MlmError")]
pub struct ErrorBody {
    pub status: bool,
    pub error: ErrorDetail,
}

/// Success: `status` true and the answer in `data`.
#[derive(Object)]
#[oai(rename = "MlmResult")]
pub struct Envelope<T: ToJSON + ParseFromJSON> {
    pub status: bool,
    pub data: T,
}

/// A failure of an operation: the core error and, where the seed has one, its code.
pub struct Failure {
    error: CoreError,
    code: Option<&'static str>,
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Self {
        Failure { error, code: None }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::from(CoreError::from(e))
    }
}

/// A failure with a seed code: `coded("1007", CoreError::invalid("sponsor_username", "no such member"))`.
fn coded(code: &'static str, error: CoreError) -> Failure {
    Failure { error, code: Some(code) }
}

type Result<T> = std::result::Result<T, Failure>;

impl ErrorEnvelope for ErrorBody {
    /// The one mapping of a core error to the seed's envelope, where no operation gave a code of its own.
    fn from_error(e: &CoreError) -> Self {
        ErrorBody::of(e, None)
    }
}

impl ErrorBody {
    fn of(e: &CoreError, code: Option<&'static str>) -> Self {
        let code = code.unwrap_or(match e {
            CoreError::Invalid { .. } => "1004",
            CoreError::Unauthenticated(m) if m.starts_with(AccessTokenHeader::NAME) => "1002",
            CoreError::Unauthenticated(_)
            | CoreError::Forbidden(_)
            | CoreError::TenantSuspended
            | CoreError::PluginDisabled(_) => "1001",
            CoreError::LoginBlocked(_) => "1005",
            CoreError::NotFound(_) => "404",
            CoreError::MethodNotAllowed { .. } => "405",
            CoreError::Conflict(_) => "409",
            CoreError::PayloadTooLarge(_) => "413",
            CoreError::UnsupportedMediaType(_) => "415",
            CoreError::RateLimited(_) => "429",
            CoreError::Internal(_) => "500",
        });
        let fields = match e {
            CoreError::Invalid { field, reason } if field != "body" => {
                Some(BTreeMap::from([(field.clone(), reason.clone())]))
            }
            _ => None,
        };
        ErrorBody { status: false, error: ErrorDetail { code: code.into(), description: e.public_message(), fields } }
    }
}

/// The HTTP status of a failure: validation and business rules 422 (a body that cannot be read at all 400), the
/// rest as the core maps them.
enum Status {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooMany(u64),
    Internal,
}

fn status_of(e: &CoreError) -> Status {
    match e {
        CoreError::Invalid { field, .. } if field == "body" => Status::BadRequest,
        CoreError::Invalid { .. } => Status::Unprocessable,
        CoreError::Unauthenticated(_) => Status::Unauthorized,
        CoreError::Forbidden(_) | CoreError::TenantSuspended | CoreError::PluginDisabled(_) => Status::Forbidden,
        CoreError::NotFound(_) | CoreError::MethodNotAllowed { .. } => Status::NotFound,
        CoreError::Conflict(_) => Status::Conflict,
        CoreError::PayloadTooLarge(_) => Status::PayloadTooLarge,
        CoreError::UnsupportedMediaType(_) => Status::UnsupportedMediaType,
        CoreError::RateLimited(s) | CoreError::LoginBlocked(s) => Status::TooMany(*s),
        CoreError::Internal(_) => Status::Internal,
    }
}

/// The answers of the operations: one enum per success status (200 with data, 201 with data, 204 without), each
/// listing the failures an operation can answer.
macro_rules! answers {
    ($(#[$doc:meta])* $name:ident, $handler:ident, $handler_name:literal, $status:literal, $ok:ident $(<$t:ident>)?) => {
        $(#[$doc])*
        #[derive(ApiResponse)]
        #[oai(bad_request_handler = $handler_name)]
        pub enum $name$(<$t: ToJSON + ParseFromJSON>)? {
            #[oai(status = $status)]
            $ok$((Json<Envelope<$t>>))?,
            /// The body cannot be read (malformed JSON or form).
            #[oai(status = 400)]
            BadRequest(Json<ErrorBody>),
            /// 1001 (api_key), 1002 (access_token), 1003 (username or password).
            #[oai(status = 401)]
            Unauthorized(Json<ErrorBody>),
            /// 1001: the key's business is suspended, has not enabled the service, or the key may not do this;
            /// 1006: registration is blocked; 1019: the member's KYC is not verified.
            #[oai(status = 403)]
            Forbidden(Json<ErrorBody>),
            /// No such object among the caller's.
            #[oai(status = 404)]
            NotFound(Json<ErrorBody>),
            /// Conflicts with the current state (already exists, already reported).
            #[oai(status = 409)]
            Conflict(Json<ErrorBody>),
            #[oai(status = 413)]
            PayloadTooLarge(Json<ErrorBody>),
            /// The body is neither JSON nor a form.
            #[oai(status = 415)]
            UnsupportedMediaType(Json<ErrorBody>),
            /// 1004 validation (with `fields`), or a business rule (1007–1018) naming the field.
            #[oai(status = 422)]
            Unprocessable(Json<ErrorBody>),
            /// Too many requests, or 1005: login blocked after repeated failures; Retry-After says how long.
            #[oai(status = 429)]
            TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
            /// Unexpected failure; the x-request-id header identifies it in the server log.
            #[oai(status = 500)]
            Internal(Json<ErrorBody>),
        }

        impl$(<$t: ToJSON + ParseFromJSON>)? $name$(<$t>)? {
            fn failed(f: Failure) -> Self {
                f.error.log_internal();
                let body = Json(ErrorBody::of(&f.error, f.code));
                match status_of(&f.error) {
                    Status::BadRequest => Self::BadRequest(body),
                    Status::Unauthorized => Self::Unauthorized(body),
                    Status::Forbidden => Self::Forbidden(body),
                    Status::NotFound => Self::NotFound(body),
                    Status::Conflict => Self::Conflict(body),
                    Status::PayloadTooLarge => Self::PayloadTooLarge(body),
                    Status::UnsupportedMediaType => Self::UnsupportedMediaType(body),
                    Status::Unprocessable => Self::Unprocessable(body),
                    Status::TooMany(s) => Self::TooManyRequests(body, s),
                    Status::Internal => Self::Internal(body),
                }
            }
        }

        fn $handler$(<$t: ToJSON + ParseFromJSON>)?(err: poem::Error) -> $name$(<$t>)? {
            $name::failed(Failure::from(CoreError::from_poem(err)))
        }
    };
}

answers!(
    /// 200 with data.
    Reply, reply_bad_request, "reply_bad_request", 200, Ok<T>
);
answers!(
    /// 201 with data: created.
    Created, created_bad_request, "created_bad_request", 201, Created<T>
);
answers!(
    /// 204: done, no body.
    Done, done_bad_request, "done_bad_request", 204, NoContent
);

fn reply<T: ToJSON + ParseFromJSON>(r: Result<T>) -> Reply<T> {
    match r {
        Ok(data) => Reply::Ok(Json(Envelope { status: true, data })),
        Err(f) => Reply::failed(f),
    }
}

fn created<T: ToJSON + ParseFromJSON>(r: Result<T>) -> Created<T> {
    match r {
        Ok(data) => Created::Created(Json(Envelope { status: true, data })),
        Err(f) => Created::failed(f),
    }
}

fn done(r: Result<()>) -> Done {
    match r {
        Ok(()) => Done::NoContent,
        Err(f) => Done::failed(f),
    }
}

// ---- wire types: members ----

#[derive(Object)]
#[oai(rename = "MlmAccessRequest")]
pub struct AccessRequest {
    #[oai(validator(max_length = 64))]
    pub username: String,
    #[oai(validator(max_length = 256))]
    pub password: String,
}

#[derive(Object)]
#[oai(rename = "MlmAccess")]
pub struct AccessOut {
    pub access_token: String,
    /// Seconds the token stays valid.
    pub expires_in: i64,
}

#[derive(Object)]
#[oai(rename = "MlmRegisterRequest")]
pub struct RegisterRequest {
    #[oai(validator(max_length = 64))]
    pub sponsor_username: String,
    #[oai(validator(max_length = 64))]
    pub placement_username: String,
    /// L (left) or R (right).
    #[oai(validator(max_length = 1))]
    pub position: String,
    /// The membership package.
    pub product_id: i64,
    /// The seed's spelling, with a capital F.
    #[oai(rename = "Firstname", validator(max_length = 100))]
    pub firstname: String,
    #[oai(validator(max_length = 100))]
    pub lastname: String,
    /// yyyy-mm-dd.
    #[oai(validator(max_length = 10))]
    pub date_of_birth: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 20))]
    pub mobile: String,
    /// Required unless the business generates usernames (dynamic username type), which ignores it.
    #[oai(validator(max_length = 64))]
    pub username: Option<String>,
    #[oai(validator(min_length = 8, max_length = 256))]
    pub password: String,
    #[oai(validator(max_length = 256))]
    pub password_confirmation: String,
    /// Must be true.
    pub agree_terms: bool,
    pub payment_method: PaymentMethod,
    /// The paying member, for `ewallet`.
    #[oai(validator(max_length = 64))]
    pub ewallet_username: Option<String>,
    /// The paying member's transaction password, for `ewallet`.
    #[oai(validator(max_length = 256))]
    pub transaction_password: Option<String>,
    /// The e-pin, for `epin`.
    #[oai(validator(max_length = 64))]
    pub epin_code: Option<String>,
    /// The new member's transaction password (for e-wallet payments); the login password when absent.
    #[oai(validator(min_length = 8, max_length = 256))]
    pub new_transaction_password: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmRegistered")]
pub struct Registered {
    pub username: String,
}

#[derive(Object)]
#[oai(rename = "MlmUsernameAvailable")]
pub struct UsernameAvailable {
    pub username: String,
    pub available: bool,
}

#[derive(Object)]
#[oai(rename = "MlmProfile")]
pub struct ProfileOut {
    pub username: String,
    pub rank_name: String,
    pub profile_image: String,
    pub placement_user: String,
    pub sponsor_user: String,
    /// L or R; empty for the top member.
    pub position: String,
    pub membership_package: String,
    pub firstname: String,
    pub lastname: String,
    pub gender: String,
    pub date_of_birth: String,
    pub address_line1: String,
    pub address_line2: String,
    pub country: String,
    pub state: String,
    pub city: String,
    pub zip_code: String,
    pub email: String,
    pub mobile: String,
    pub landline: String,
    pub bank_name: String,
    pub branch_name: String,
    pub account_holder: String,
    pub account_number: String,
    pub ifsc: String,
    pub pan: String,
    /// Members below on each leg, and each leg's volume (PV).
    pub left_count: i64,
    pub right_count: i64,
    pub left_pv: i64,
    pub right_pv: i64,
    pub personal_pv: i64,
    pub kyc_status: String,
}

#[derive(Object)]
#[oai(rename = "MlmPersonalRequest")]
pub struct PersonalRequest {
    #[oai(validator(max_length = 100))]
    pub firstname: String,
    #[oai(validator(max_length = 100))]
    pub lastname: Option<String>,
    /// M or F.
    pub gender: Gender,
    /// yyyy-mm-dd.
    #[oai(validator(max_length = 10))]
    pub date_of_birth: String,
}

#[derive(Object)]
#[oai(rename = "MlmContactRequest")]
pub struct ContactRequest {
    #[oai(validator(max_length = 200))]
    pub address_line1: String,
    #[oai(validator(max_length = 200))]
    pub address_line2: Option<String>,
    /// The country's id.
    pub country: i64,
    /// The state's id.
    pub state: Option<i64>,
    #[oai(validator(max_length = 100))]
    pub city: String,
    #[oai(validator(max_length = 20))]
    pub zip_code: Option<String>,
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 20))]
    pub mobile: String,
    #[oai(validator(max_length = 20))]
    pub landline: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmBankRequest")]
pub struct BankRequest {
    #[oai(validator(max_length = 100))]
    pub bank_name: Option<String>,
    #[oai(validator(max_length = 100))]
    pub branch_name: Option<String>,
    #[oai(validator(max_length = 100))]
    pub account_holder: Option<String>,
    #[oai(validator(max_length = 40))]
    pub account_number: Option<String>,
    #[oai(validator(max_length = 20))]
    pub ifsc: Option<String>,
    #[oai(validator(max_length = 20))]
    pub pan: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmPasswordChangeRequest")]
pub struct PasswordChange {
    #[oai(validator(max_length = 256))]
    pub current_password: String,
    #[oai(validator(min_length = 8, max_length = 256))]
    pub new_password: String,
    #[oai(validator(max_length = 256))]
    pub password_confirmation: String,
}

#[derive(Object)]
#[oai(rename = "MlmBalance")]
pub struct BalanceOut {
    /// The e-wallet balance, in the business's currency.
    pub balance: f64,
}

#[derive(Object)]
#[oai(rename = "MlmOrderCompleteRequest")]
pub struct OrderComplete {
    /// The shop's order reference; an order is counted once.
    #[oai(validator(max_length = 64))]
    pub order_id: String,
    pub total_amount: f64,
    /// The seed types it as a string; a whole number.
    #[oai(validator(max_length = 12))]
    pub total_quantity: String,
    pub total_pv: f64,
}

#[derive(Object)]
#[oai(rename = "MlmEwalletPaymentRequest")]
pub struct EwalletPayment {
    pub payment_amount: f64,
    /// purchase.
    #[oai(validator(max_length = 20))]
    pub purpose: String,
    /// The paying member: the caller.
    #[oai(validator(max_length = 64))]
    pub ewallet_username: String,
    #[oai(validator(max_length = 256))]
    pub transaction_password: String,
    /// A key of the caller's choosing: a payment repeated with the same key is made once.
    #[oai(validator(max_length = 100))]
    pub idempotency_key: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmEpinPaymentRequest")]
pub struct EpinPayment {
    pub payment_amount: f64,
    #[oai(validator(max_length = 64))]
    pub epin_code: String,
}

#[derive(Object)]
#[oai(rename = "MlmMembershipPackage")]
pub struct MembershipPackage {
    pub id: i64,
    pub name: String,
    pub amount: f64,
}

#[derive(Object)]
#[oai(rename = "MlmMembershipPackages")]
pub struct MembershipPackages {
    pub products: Vec<MembershipPackage>,
}

#[derive(Object)]
#[oai(rename = "MlmCartPackage")]
pub struct CartPackage {
    pub id: i64,
    pub name: String,
    pub amount: f64,
    pub pv: f64,
    pub category: String,
    pub image: String,
}

#[derive(Object)]
#[oai(rename = "MlmCartPackages")]
pub struct CartPackages {
    pub products: Vec<CartPackage>,
}

#[derive(Object)]
#[oai(rename = "MlmPackageDetails")]
pub struct PackageDetails {
    pub id: i64,
    pub name: String,
    pub amount: f64,
    /// The business's own code of the package.
    pub package_id: String,
    pub pv: f64,
    pub category: String,
    pub image: String,
    pub description: String,
}

#[derive(Object)]
#[oai(rename = "MlmSignupFee")]
pub struct SignupFee {
    pub fee: f64,
}

#[derive(Object)]
#[oai(rename = "MlmCartAddRequest")]
pub struct CartAdd {
    /// A cart package.
    pub product_id: i64,
    #[oai(validator(minimum(value = "1"), maximum(value = "999")))]
    pub quantity: i64,
}

#[derive(Object)]
#[oai(rename = "MlmCartRemoveRequest")]
pub struct CartRemove {
    pub product_id: i64,
}

#[derive(Object)]
#[oai(rename = "MlmCartItem")]
pub struct CartItem {
    pub product_id: i64,
    pub product_name: String,
    /// The price of one, today.
    pub product_amount: f64,
    pub quantity: f64,
}

#[derive(Object)]
#[oai(rename = "MlmCart")]
pub struct CartOut {
    pub cart_items: Vec<CartItem>,
}

#[derive(Object)]
#[oai(rename = "MlmAddressRequest")]
pub struct AddressAdd {
    #[oai(validator(max_length = 200))]
    pub name: String,
    #[oai(validator(max_length = 500))]
    pub address: String,
    #[oai(validator(max_length = 20))]
    pub zip_code: String,
    #[oai(validator(max_length = 100))]
    pub city: String,
    #[oai(validator(max_length = 20))]
    pub phone: String,
}

#[derive(Object)]
#[oai(rename = "MlmAddressIdRequest")]
pub struct AddressId {
    pub address_id: i64,
}

#[derive(Object)]
#[oai(rename = "MlmAddress")]
pub struct AddressOut {
    pub address_id: i64,
    pub name: String,
    pub address: String,
    pub zip_code: String,
    pub city: String,
    pub phone: String,
    /// The address a checkout ships to unless it names another.
    pub default: bool,
}

#[derive(Object)]
#[oai(rename = "MlmAddresses")]
pub struct AddressList {
    pub address_list: Vec<AddressOut>,
}

#[derive(Object)]
#[oai(rename = "MlmCheckoutRequest")]
pub struct Checkout {
    /// ewallet or epin (free_join is not a way to pay for goods).
    pub payment_method: PaymentMethod,
    /// For ewallet: the member's transaction password.
    #[oai(validator(max_length = 256))]
    pub transaction_password: Option<String>,
    /// For epin.
    #[oai(validator(max_length = 64))]
    pub epin_code: Option<String>,
    /// Where to ship; the default address when absent.
    pub address_id: Option<i64>,
}

#[derive(Object)]
#[oai(rename = "MlmForgotPasswordRequest")]
pub struct ForgotPassword {
    /// The member's username (the seed's parameter name is garbled; this is what it identifies).
    #[oai(validator(max_length = 64))]
    pub username: String,
}

#[derive(Object)]
#[oai(rename = "MlmPasswordResetRequest")]
pub struct PasswordReset {
    /// The token from the reset email.
    #[oai(validator(max_length = 256))]
    pub token: String,
    #[oai(validator(min_length = 8, max_length = 256))]
    pub new_password: String,
    #[oai(validator(max_length = 256))]
    pub password_confirmation: String,
}

/// Upload profile image: the seed's multipart field `image`.
/// (A multipart schema takes its type's name: this one is prefixed by hand.)
#[derive(Multipart)]
pub struct MlmImageUpload {
    /// A JPEG, PNG or GIF file (1017 otherwise), at most `[plugins.mlm] image_max_bytes` (1018 above it).
    pub image: Upload,
}

/// A profile image, or why not.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "image_bad_request")]
pub enum ImageAnswer {
    /// The image's bytes (JPEG, PNG or GIF); cacheable for a day, the link changes with the image.
    #[oai(status = 200)]
    Ok(Binary<Vec<u8>>, #[oai(header = "Cache-Control")] String),
    /// 1001: the api_key is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// 1001: the key may not use the member API.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No image of the business at this link.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Too many requests; Retry-After says how long.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl ImageAnswer {
    fn failed(f: Failure) -> Self {
        f.error.log_internal();
        let body = Json(ErrorBody::of(&f.error, f.code));
        match status_of(&f.error) {
            Status::Unauthorized => ImageAnswer::Unauthorized(body),
            Status::Forbidden => ImageAnswer::Forbidden(body),
            Status::TooMany(s) => ImageAnswer::TooManyRequests(body, s),
            Status::Internal => ImageAnswer::Internal(body),
            _ => ImageAnswer::NotFound(body),
        }
    }
}

fn image_bad_request(err: poem::Error) -> ImageAnswer {
    ImageAnswer::failed(Failure::from(CoreError::from_poem(err)))
}

#[derive(Object)]
#[oai(rename = "MlmPayoutRequest")]
pub struct PayoutRequest {
    /// Taken from the e-wallet now, paid out when an admin approves, given back if rejected.
    pub amount: f64,
    #[oai(validator(max_length = 256))]
    pub transaction_password: String,
}

#[derive(Object)]
#[oai(rename = "MlmPayout")]
pub struct PayoutOut {
    pub id: i64,
    pub username: String,
    pub amount: f64,
    pub status: PayoutStatus,
    /// Epoch milliseconds.
    pub requested_at: i64,
    #[oai(skip_serializing_if_is_none)]
    pub decided_at: Option<i64>,
    /// The admin's note on the decision.
    pub note: String,
}

#[derive(Object)]
#[oai(rename = "MlmPayouts")]
pub struct PayoutList {
    /// Newest first.
    pub items: Vec<PayoutOut>,
}

#[derive(Object)]
#[oai(rename = "MlmKycRequest")]
pub struct KycDecision {
    #[oai(validator(max_length = 64))]
    pub username: String,
    pub status: KycStatus,
}

#[derive(Object)]
#[oai(rename = "MlmPayoutDecisionRequest")]
pub struct PayoutDecision {
    /// approved or rejected.
    pub status: PayoutStatus,
    #[oai(validator(max_length = 500))]
    pub note: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmGenealogyNode")]
pub struct GenealogyNode {
    pub username: String,
    /// The member it is placed under; empty for the subtree's root.
    pub placement_user: String,
    /// L or R; empty for the top member.
    pub position: String,
    /// Levels below the subtree's root (0 for the root).
    pub level: i64,
    pub left_count: i64,
    pub right_count: i64,
    pub left_pv: i64,
    pub right_pv: i64,
}

#[derive(Object)]
#[oai(rename = "MlmGenealogy")]
pub struct Genealogy {
    /// Level by level from the root, left before right.
    pub items: Vec<GenealogyNode>,
    /// Nodes of the subtree within the depth, on every page.
    pub total: i64,
}

#[derive(Object)]
#[oai(rename = "MlmPackageUpdateRequest")]
pub struct PackageUpdate {
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[oai(validator(minimum(value = "0")))]
    pub amount: Option<f64>,
    #[oai(validator(minimum(value = "0")))]
    pub pv: Option<f64>,
    #[oai(validator(max_length = 100))]
    pub category: Option<String>,
    #[oai(validator(max_length = 500))]
    pub image: Option<String>,
    #[oai(validator(max_length = 5000))]
    pub description: Option<String>,
    /// An inactive package is not offered to members (lists, registration, cart) any more.
    pub active: Option<bool>,
}

#[derive(Object)]
#[oai(rename = "MlmEpinBatchSummary")]
pub struct EpinBatchSummary {
    pub batch: String,
    pub amount: f64,
    pub pins: i64,
    pub used: i64,
    /// Epoch milliseconds; absent when the pins never expire.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<i64>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

#[derive(Object)]
#[oai(rename = "MlmEpinBatches")]
pub struct EpinBatches {
    /// Newest first.
    pub items: Vec<EpinBatchSummary>,
}

// ---- wire types: admin ----

#[derive(Object)]
#[oai(rename = "MlmSettings")]
pub struct Settings {
    /// New registrations are refused (1006).
    pub registration_blocked: bool,
    /// Usernames are this many characters long, at least and at most.
    #[oai(validator(minimum(value = "3"), maximum(value = "64")))]
    pub username_min: i64,
    #[oai(validator(minimum(value = "3"), maximum(value = "64")))]
    pub username_max: i64,
    /// Charged with a membership package at registration.
    #[oai(validator(minimum(value = "0")))]
    pub signup_fee: f64,
    /// ISO 4217 code of the business's money.
    #[oai(validator(min_length = 3, max_length = 3))]
    pub currency: String,
    /// Sponsor bonus: this percentage of the package's amount, to the sponsor of each registration. Unchanged when
    /// absent.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub sponsor_bonus_percent: Option<f64>,
    /// Binary pairing: points matched on both legs that make one pair. Unchanged when absent.
    #[oai(validator(minimum(value = "1")))]
    pub pair_pv: Option<i64>,
    /// Binary pairing: what one pair pays (0: no pairing). Unchanged when absent.
    #[oai(validator(minimum(value = "0")))]
    pub pair_bonus: Option<f64>,
    /// Binary pairing: paid pairs per member and day at most; matched pairs beyond it are flushed. Unchanged when
    /// absent.
    #[oai(validator(minimum(value = "0")))]
    pub daily_pair_cap: Option<i64>,
    /// static: members choose usernames; dynamic: generated at registration as the prefix and six digits. Unchanged
    /// when absent.
    pub username_type: Option<UsernameType>,
    /// The prefix of generated usernames (letters and digits). Unchanged when absent.
    #[oai(validator(min_length = 1, max_length = 10))]
    pub username_prefix: Option<String>,
    /// true (the default): an hourly job runs each UTC day's compensation once the day has ended; false: only an
    /// admin's run pays, after its preview. Unchanged when absent.
    pub compensation_auto: Option<bool>,
}

#[derive(Object)]
#[oai(rename = "MlmCompensationRequest")]
pub struct CompensationRequest {
    /// The period: a UTC day that has ended, yyyy-mm-dd.
    #[oai(validator(max_length = 10))]
    pub period: String,
}

#[derive(Object)]
#[oai(rename = "MlmCompensationCredit")]
pub struct CompensationCredit {
    pub username: String,
    /// sponsor_bonus or binary_pairing.
    pub kind: String,
    pub amount: f64,
    /// As the e-wallet ledger records it.
    pub source: String,
}

#[derive(Object)]
#[oai(rename = "MlmCompensationRun")]
pub struct CompensationRun {
    pub period: String,
    /// False for a preview: nothing was credited.
    pub committed: bool,
    pub sponsor_total: f64,
    pub pairing_total: f64,
    /// Every credit of the run (pairs flushed by the cap move volume but pay nothing, and are not listed).
    pub credits: Vec<CompensationCredit>,
}

#[derive(Object)]
#[oai(rename = "MlmCompensationRunSummary")]
pub struct CompensationRunSummary {
    pub period: String,
    pub sponsor_total: f64,
    pub pairing_total: f64,
    /// How many credits were made.
    pub credits: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
}

#[derive(Object)]
#[oai(rename = "MlmCompensationRuns")]
pub struct CompensationRuns {
    /// Newest period first.
    pub items: Vec<CompensationRunSummary>,
}

#[derive(Object)]
#[oai(rename = "MlmPackageCreateRequest")]
pub struct PackageCreate {
    pub kind: PackageKind,
    /// The business's own code, unique in the business.
    #[oai(validator(min_length = 1, max_length = 40))]
    pub package_id: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    #[oai(validator(minimum(value = "0")))]
    pub amount: f64,
    #[oai(validator(minimum(value = "0")))]
    pub pv: f64,
    #[oai(validator(max_length = 100))]
    pub category: Option<String>,
    #[oai(validator(max_length = 500))]
    pub image: Option<String>,
    #[oai(validator(max_length = 5000))]
    pub description: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmTopMemberRequest")]
pub struct TopMemberCreate {
    #[oai(validator(max_length = 64))]
    pub username: String,
    #[oai(validator(min_length = 8, max_length = 256))]
    pub password: String,
    /// For e-wallet payments; the login password when absent.
    #[oai(validator(min_length = 8, max_length = 256))]
    pub transaction_password: Option<String>,
    #[oai(validator(max_length = 100))]
    pub firstname: String,
    #[oai(validator(max_length = 100))]
    pub lastname: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 20))]
    pub mobile: String,
}

#[derive(Object)]
#[oai(rename = "MlmMember")]
pub struct MemberOut {
    pub id: i64,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    /// L or R; empty for the top member.
    pub position: String,
    /// Levels below the top member.
    pub depth: i64,
    pub balance: f64,
    pub left_count: i64,
    pub right_count: i64,
    pub left_pv: i64,
    pub right_pv: i64,
    pub kyc_status: String,
    /// When the member joined, epoch milliseconds.
    pub joined_at: i64,
}

#[derive(Object)]
#[oai(rename = "MlmMemberPage")]
pub struct MemberPage {
    pub items: Vec<MemberOut>,
    pub total: i64,
}

#[derive(Object)]
#[oai(rename = "MlmWalletCreditRequest")]
pub struct WalletCredit {
    #[oai(validator(max_length = 64))]
    pub username: String,
    /// Positive credits, negative debits (never below zero).
    pub amount: f64,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: String,
    /// A key of the caller's choosing: a credit repeated with the same key is made once.
    #[oai(validator(max_length = 100))]
    pub idempotency_key: Option<String>,
}

#[derive(Object)]
#[oai(rename = "MlmWalletMoved")]
pub struct WalletMoved {
    pub username: String,
    pub balance: f64,
}

#[derive(Object)]
#[oai(rename = "MlmLedgerEntry")]
pub struct LedgerEntry {
    pub id: i64,
    /// Positive credits, negative debits.
    pub amount: f64,
    pub balance_after: f64,
    /// credit or debit.
    pub kind: String,
    /// Where the money came from or went.
    pub source: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

#[derive(Object)]
#[oai(rename = "MlmLedger")]
pub struct LedgerPage {
    pub username: String,
    pub balance: f64,
    /// Newest first.
    pub items: Vec<LedgerEntry>,
}

#[derive(Object)]
#[oai(rename = "MlmEpinBatchRequest")]
pub struct EpinBatchCreate {
    #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
    pub count: i64,
    /// The value of each pin.
    #[oai(validator(minimum(value = "0.01")))]
    pub amount: f64,
    /// Only this member may spend the pins; anyone of the business when absent.
    #[oai(validator(max_length = 64))]
    pub owner_username: Option<String>,
    /// The pins expire this many days from now; never when absent.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub expires_in_days: Option<i64>,
}

#[derive(Object)]
#[oai(rename = "MlmEpinBatch")]
pub struct EpinBatch {
    pub batch: String,
    /// The codes, shown once: only their hashes are stored.
    pub codes: Vec<String>,
    pub amount: f64,
    /// Epoch milliseconds; absent when the pins never expire.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<i64>,
}

// ---- conversions ----

/// Money in minor units from the seed's `number`: at most two decimals, or the field is refused.
fn money(field: &str, value: f64) -> CoreResult<i64> {
    if !value.is_finite() {
        return Err(CoreError::invalid(field, "must be a number"));
    }
    parse_money(field, &format!("{value}"))
}

/// Minor units as the seed's `number`.
fn number(minor: i64) -> f64 {
    format_money(minor).parse().unwrap_or(0.0)
}

/// PV as a whole number of points.
fn points(field: &str, value: f64) -> CoreResult<i64> {
    if !value.is_finite() || value < 0.0 || value.fract() != 0.0 || value > 1e12 {
        return Err(CoreError::invalid(field, "must be a whole number of points, 0 or more"));
    }
    Ok(value as i64)
}

fn date_of_birth(value: &str) -> Result<String> {
    model::date(value).ok_or_else(|| coded("1013", CoreError::invalid("date_of_birth", "must be a date as yyyy-mm-dd")))
}

fn same_password(password: &str, confirmation: &str) -> CoreResult<()> {
    if password != confirmation {
        return Err(CoreError::invalid("password_confirmation", "does not match the password"));
    }
    Ok(())
}

/// A caller's idempotency key in its own namespace (`pay:` a member's payments, `adm:` an admin's adjustments), so
/// no key a caller chooses can take one the compensation run uses (`sponsor:…`, `pair:…`).
fn client_key(namespace: &str, value: &Option<String>) -> CoreResult<Option<String>> {
    let key = optional("idempotency_key", value)?;
    Ok((!key.is_empty()).then(|| format!("{namespace}:{key}")))
}

fn required<'a>(field: &str, value: &'a Option<String>) -> CoreResult<&'a str> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(CoreError::invalid(field, "is required")),
    }
}

fn text<'a>(field: &str, value: &'a str) -> CoreResult<&'a str> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CoreError::invalid(field, "is required"));
    }
    if tessera_core::wire::has_control(v) {
        return Err(CoreError::invalid(field, "must not contain control characters"));
    }
    Ok(v)
}

fn optional<'a>(field: &str, value: &'a Option<String>) -> CoreResult<&'a str> {
    match value.as_deref() {
        Some(v) if tessera_core::wire::has_control(v) => {
            Err(CoreError::invalid(field, "must not contain control characters"))
        }
        Some(v) => Ok(v.trim()),
        None => Ok(""),
    }
}

impl PackageRow {
    fn details(self) -> PackageDetails {
        PackageDetails {
            id: self.id,
            name: self.name,
            amount: number(self.amount),
            package_id: self.package_code,
            pv: self.pv as f64,
            category: self.category,
            image: self.image,
            description: self.description,
        }
    }
}

// ---- the API ----

/// A member's access token, resolved: the core's caller and the member.
struct Tokens<'a>(&'a PluginContext);

impl TokenLookup for Tokens<'_> {
    type Session = i64;
    const FIELD: &'static str = AccessTokenHeader::NAME;

    async fn lookup(&self, token: &str) -> CoreResult<Option<TokenGrant<i64>>> {
        Ok(store::token(self.0.pool(), &hash_secret(token)).await?.map(|t| TokenGrant {
            principal_id: t.principal_id,
            tenant_id: t.tenant_id,
            expires_at: Some(t.expires_at),
            session: t.member_id,
        }))
    }
}

/// A member signed in through the business's key and their own token.
struct Member {
    business: std::sync::Arc<Tenant>,
    row: MemberRow,
}

pub struct MlmApi {
    ctx: PluginContext,
    config: MlmConfig,
}

/// Which password a reset is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secret {
    Login,
    Transaction,
}

impl Secret {
    fn kind(self) -> &'static str {
        match self {
            Secret::Login => "login",
            Secret::Transaction => "transaction",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Secret::Login => "login password",
            Secret::Transaction => "e-wallet transaction password",
        }
    }
}

impl MlmApi {
    pub fn new(ctx: PluginContext) -> CoreResult<Self> {
        let config: MlmConfig = ctx.config()?;
        Ok(MlmApi { ctx, config })
    }

    /// The business behind an `api_key`: an organisation whose key may use the member API.
    async fn business(&self, key: &ApiKey) -> Result<Caller> {
        let caller = self.ctx.authenticate_key(key.value()).await?;
        if caller.tenant().kind() != TenantKind::Organisation {
            return Err(coded(
                "1001",
                CoreError::forbidden("api_key: not the key of an MLM business (an organisation)"),
            ));
        }
        let tenant = caller.tenant().clone();
        self.ctx.require(&caller, "mlm:app", "use", &tenant).await?;
        Ok(caller)
    }

    /// The member behind an `access_token`, who must be of the `api_key`'s business.
    async fn member(&self, key: &ApiKey, token: &AccessToken) -> Result<Member> {
        let app = self.business(key).await?;
        let bad = || coded("1002", CoreError::Unauthenticated("access_token: unknown or revoked token".into()));
        let (caller, member_id) =
            self.ctx.authenticate_token(&Tokens(&self.ctx), token.value()).await.map_err(|e| match e {
                CoreError::Unauthenticated(_) => coded("1002", e),
                e => Failure::from(e),
            })?;
        if caller.tenant_id() != app.tenant_id() {
            return Err(bad());
        }
        let row = store::member(self.ctx.pool(), app.tenant_id(), member_id).await?.ok_or_else(bad)?;
        Ok(Member { business: app.tenant().clone(), row })
    }

    /// The business an admin acts on: the key's own, or one below it named by `business_id`.
    async fn admin(&self, key: &BearerKey, business_id: Option<i64>, action: &str) -> Result<(Caller, Tenant)> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        let tenant = match business_id {
            Some(id) => self.ctx.visible_tenant(&caller, id, "business_id").await?,
            None => caller.tenant().clone(),
        };
        if tenant.kind() != TenantKind::Organisation {
            return Err(CoreError::invalid("business_id", "must be an organisation (the MLM business)").into());
        }
        self.ctx.require(&caller, "mlm:admin", action, &tenant).await?;
        Ok((caller, (*tenant).clone()))
    }

    /// A member's transaction password, counted toward the lock-out (1005 after repeated failures).
    async fn txn_password_ok(&self, business: &Tenant, member: &MemberRow, password: &str) -> Result<bool> {
        let name = format!("txn:{}", member.id);
        Ok(self.ctx.check_secret(business, &name, &member.txn_password_hash, password).await?)
    }

    async fn username_rule(&self, business: &Tenant, field: &str, value: &str) -> Result<String> {
        let s = store::settings(self.ctx.pool(), business.id).await?;
        Ok(model::username(field, value, s.username_min, s.username_max)?)
    }

    async fn find(&self, business: &Tenant, field: &str, code: &'static str, username: &str) -> Result<MemberRow> {
        let name = username.trim().to_lowercase();
        store::member_by_username(self.ctx.pool(), business.id, &name)
            .await?
            .ok_or_else(|| coded(code, CoreError::invalid(field, "no such member")))
    }

    async fn access(&self, key: &ApiKey, req: &AccessRequest) -> Result<AccessOut> {
        let app = self.business(key).await?;
        let business = app.tenant();
        let name = req.username.trim().to_lowercase();
        let found = store::member_by_username(self.ctx.pool(), business.id, &name).await?;
        let caller = self
            .ctx
            .login_principal(business, &name, found.as_ref().map(|m| m.principal_id), &req.password)
            .await
            .map_err(|e| match e {
                CoreError::Unauthenticated(_) => {
                    coded("1003", CoreError::Unauthenticated("wrong username or password".into()))
                }
                e => Failure::from(e),
            })?;
        let member = found.ok_or_else(|| CoreError::internal("a login matched no member"))?;
        let token = new_secret("mat_");
        let now = now_ms();
        store::insert_token(
            self.ctx.writer(),
            &hash_secret(&token),
            business.id,
            member.id,
            caller.principal_id(),
            now + TOKEN_TTL_MS,
            now,
        )
        .await?;
        Ok(AccessOut { access_token: token, expires_in: TOKEN_TTL_MS / 1000 })
    }

    async fn register(&self, key: &ApiKey, req: &RegisterRequest) -> Result<Registered> {
        let app = self.business(key).await?;
        let business = app.tenant();
        let settings = store::settings(self.ctx.pool(), business.id).await?;
        if settings.registration_blocked.0 {
            return Err(coded("1006", CoreError::forbidden("registration is blocked by the business")));
        }
        // The input, field by field, before anything is looked up.
        let firstname = text("Firstname", &req.firstname)?;
        let lastname = text("lastname", &req.lastname)?;
        let dob = date_of_birth(&req.date_of_birth)?;
        let email = Email::parse("email", &req.email)?;
        let mobile = text("mobile", &req.mobile)?;
        if !req.agree_terms {
            return Err(CoreError::invalid("agree_terms", "must be true").into());
        }
        same_password(&req.password, &req.password_confirmation)?;
        let username = match UsernameType::from_stored("username_type", &settings.username_type)? {
            UsernameType::Static => {
                let given = required("username", &req.username)?;
                model::username("username", given, settings.username_min, settings.username_max)?
            }
            UsernameType::Dynamic => self.free_username(business, &settings.username_prefix).await?,
        };
        let position = Position::from_stored("position", req.position.trim().to_uppercase().as_str())
            .map_err(|_| CoreError::invalid("position", "must be L or R"))?
            .stored();
        // The genealogy: the sponsor, the placement inside the sponsor's downline, a free position.
        let sponsor = self.find(business, "sponsor_username", "1007", &req.sponsor_username).await?;
        let placement = self.find(business, "placement_username", "1009", &req.placement_username).await?;
        if !model::inside_downline(&sponsor.path, &placement.path) {
            return Err(coded("1009", CoreError::invalid("placement_username", "is not in the sponsor's downline")));
        }
        let taken = || coded("1008", CoreError::invalid("position", "is already filled under this placement"));
        if store::position_taken(self.ctx.pool(), business.id, placement.id, &position).await? {
            return Err(taken());
        }
        let package = match store::package(self.ctx.pool(), business.id, req.product_id).await? {
            Some(p) if p.active.0 && p.kind == PackageKind::Membership.stored() => p,
            _ => return Err(coded("1012", CoreError::invalid("product_id", "no such membership package"))),
        };
        if store::member_by_username(self.ctx.pool(), business.id, &username).await?.is_some() {
            return Err(coded("1010", CoreError::invalid("username", "is already taken")));
        }
        let price = package.amount + settings.signup_fee;
        // The payer, checked before the transaction; the payment itself is guarded inside it.
        let payer = match req.payment_method {
            PaymentMethod::FreeJoin => None,
            PaymentMethod::Ewallet => {
                let payer_name = required("ewallet_username", &req.ewallet_username)?;
                let payer = self.find(business, "ewallet_username", "1011", payer_name).await?;
                let password = required("transaction_password", &req.transaction_password)?;
                if !self.txn_password_ok(business, &payer, password).await? {
                    return Err(coded("1015", CoreError::invalid("transaction_password", "is wrong")));
                }
                Some(payer)
            }
            PaymentMethod::Epin => {
                required("epin_code", &req.epin_code)?;
                None
            }
        };
        let login_hash = hash_password(&req.password).await?;
        let txn_hash = match &req.new_transaction_password {
            Some(p) => hash_password(p).await?,
            None => login_hash.clone(),
        };
        let path = format!("{}{position}", placement.path);
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        let name = format!("{firstname} {lastname}");
        let principal = self.ctx.create_person(&mut tx, business, &email, &name, &login_hash).await?;
        let member = NewMember {
            tenant_id: business.id,
            principal_id: principal,
            username: &username,
            sponsor_id: Some(sponsor.id),
            parent_id: Some(placement.id),
            position: Some(&position),
            path: &path,
            package_id: Some(package.id),
            firstname,
            lastname,
            date_of_birth: &dob,
            email: email.as_str(),
            mobile,
            txn_password_hash: &txn_hash,
        };
        let id = match store::insert_member(&mut tx, &member, now).await {
            Ok(id) => id,
            // Another registration took the position or the username between the checks and the insert.
            Err(CoreError::Conflict(_)) => {
                drop(tx);
                return Err(match store::member_by_username(self.ctx.pool(), business.id, &username).await? {
                    Some(_) => coded("1010", CoreError::invalid("username", "is already taken")),
                    None => taken(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let source = format!("registration of {username}");
        match (req.payment_method, payer) {
            (PaymentMethod::Ewallet, Some(payer)) if price > 0 => {
                let debit = WalletMove {
                    tenant_id: business.id,
                    member_id: payer.id,
                    delta: -price,
                    kind: "debit",
                    source: &source,
                    idempotency_key: None,
                };
                if store::apply_wallet(&mut tx, &debit, now).await?.is_none() {
                    return Err(coded(
                        "1014",
                        CoreError::invalid("ewallet_username", "the e-wallet balance is less than the package and fee"),
                    ));
                }
            }
            (PaymentMethod::Epin, _) => {
                let code = required("epin_code", &req.epin_code)?;
                let spent =
                    store::spend_epin(&mut tx, business.id, &hash_secret(code), price, None, &source, now).await?;
                if spent.is_none() {
                    return Err(coded(
                        "1016",
                        CoreError::invalid(
                            "epin_code",
                            "unknown, used, expired, or worth less than the package and fee",
                        ),
                    ));
                }
            }
            _ => {}
        }
        store::add_to_uplines(&mut tx, business.id, &path, package.pv, 1).await?;
        store::add_personal_pv(&mut tx, business.id, id, package.pv).await?;
        tx.commit().await?;
        Ok(Registered { username })
    }

    /// A generated username no member has (a few tries; six digits make a clash rare until a business is large).
    async fn free_username(&self, business: &Tenant, prefix: &str) -> Result<String> {
        for _ in 0..8 {
            let name = model::generated_username(prefix);
            if store::member_by_username(self.ctx.pool(), business.id, &name).await?.is_none() {
                return Ok(name);
            }
        }
        Err(CoreError::conflict("no free username could be generated; ask the business to lengthen its prefix").into())
    }

    async fn username_available(&self, key: &ApiKey, username: &str) -> Result<UsernameAvailable> {
        let app = self.business(key).await?;
        let name = self.username_rule(app.tenant(), "username", username).await?;
        if store::member_by_username(self.ctx.pool(), app.tenant_id(), &name).await?.is_some() {
            return Err(coded("1010", CoreError::invalid("username", "is already taken")));
        }
        Ok(UsernameAvailable { username: name, available: true })
    }

    async fn profile(&self, key: &ApiKey, token: &AccessToken) -> Result<ProfileOut> {
        let m = self.member(key, token).await?;
        let (pool, business_id) = (self.ctx.pool(), m.business.id);
        let name_of = |id: Option<i64>| async move {
            match id {
                Some(id) => store::member(pool, business_id, id).await.map(|r| r.map(|r| r.username)),
                None => Ok(None),
            }
        };
        let placement_user = name_of(m.row.parent_id).await?.unwrap_or_default();
        let sponsor_user = name_of(m.row.sponsor_id).await?.unwrap_or_default();
        let membership_package = match m.row.package_id {
            Some(id) => store::package(pool, m.business.id, id).await?.map(|p| p.name).unwrap_or_default(),
            None => String::new(),
        };
        let r = m.row;
        Ok(ProfileOut {
            username: r.username,
            rank_name: r.rank_name,
            profile_image: r.profile_image,
            placement_user,
            sponsor_user,
            position: r.position.unwrap_or_default(),
            membership_package,
            firstname: r.firstname,
            lastname: r.lastname,
            gender: r.gender,
            date_of_birth: r.date_of_birth,
            address_line1: r.address_line1,
            address_line2: r.address_line2,
            country: r.country,
            state: r.state,
            city: r.city,
            zip_code: r.zip_code,
            email: r.email,
            mobile: r.mobile,
            landline: r.landline,
            bank_name: r.bank_name,
            branch_name: r.branch_name,
            account_holder: r.account_holder,
            account_number: r.account_number,
            ifsc: r.ifsc,
            pan: r.pan,
            left_count: r.left_count,
            right_count: r.right_count,
            left_pv: r.left_pv,
            right_pv: r.right_pv,
            personal_pv: r.personal_pv,
            kyc_status: r.kyc_status,
        })
    }

    async fn personal(&self, key: &ApiKey, token: &AccessToken, req: &PersonalRequest) -> Result<()> {
        let m = self.member(key, token).await?;
        let change = store::Personal {
            firstname: text("firstname", &req.firstname)?,
            lastname: match &req.lastname {
                Some(l) => Some(text("lastname", l)?),
                None => None,
            },
            gender: &req.gender.stored(),
            date_of_birth: &date_of_birth(&req.date_of_birth)?,
        };
        let mut tx = self.ctx.begin().await?;
        store::update_personal(&mut tx, m.business.id, m.row.id, &change).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn contact(&self, key: &ApiKey, token: &AccessToken, req: &ContactRequest) -> Result<()> {
        let m = self.member(key, token).await?;
        let email = Email::parse("email", &req.email)?;
        let country = req.country.to_string();
        let state = req.state.map(|s| s.to_string()).unwrap_or_default();
        let change = store::Contact {
            address_line1: text("address_line1", &req.address_line1)?,
            address_line2: optional("address_line2", &req.address_line2)?,
            country: &country,
            state: &state,
            city: text("city", &req.city)?,
            zip_code: optional("zip_code", &req.zip_code)?,
            email: email.as_str(),
            mobile: text("mobile", &req.mobile)?,
            landline: optional("landline", &req.landline)?,
        };
        let mut tx = self.ctx.begin().await?;
        self.ctx.set_email(&mut tx, &m.business, m.row.principal_id, &email).await?;
        store::update_contact(&mut tx, m.business.id, m.row.id, &change).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn bank(&self, key: &ApiKey, token: &AccessToken, req: &BankRequest) -> Result<()> {
        let m = self.member(key, token).await?;
        let change = store::Bank {
            bank_name: optional("bank_name", &req.bank_name)?,
            branch_name: optional("branch_name", &req.branch_name)?,
            account_holder: optional("account_holder", &req.account_holder)?,
            account_number: optional("account_number", &req.account_number)?,
            ifsc: optional("ifsc", &req.ifsc)?,
            pan: optional("pan", &req.pan)?,
        };
        let mut tx = self.ctx.begin().await?;
        store::update_bank(&mut tx, m.business.id, m.row.id, &change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new login password: the current one is checked (and counted toward the lock-out), every token of the
    /// member is revoked, so other devices sign in again.
    async fn change_password(&self, key: &ApiKey, token: &AccessToken, req: &PasswordChange) -> Result<()> {
        let m = self.member(key, token).await?;
        same_password(&req.new_password, &req.password_confirmation)?;
        self.ctx
            .login_principal(&m.business, &m.row.username, Some(m.row.principal_id), &req.current_password)
            .await
            .map_err(|e| match e {
            CoreError::Unauthenticated(_) => coded("1003", CoreError::invalid("current_password", "is wrong")),
            e => Failure::from(e),
        })?;
        let hash = hash_password(&req.new_password).await?;
        let mut tx = self.ctx.begin().await?;
        self.ctx.set_password(&mut tx, &m.business, m.row.principal_id, &hash).await?;
        store::revoke_tokens(&mut tx, m.business.id, m.row.id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_txn_password(&self, key: &ApiKey, token: &AccessToken, req: &PasswordChange) -> Result<()> {
        let m = self.member(key, token).await?;
        same_password(&req.new_password, &req.password_confirmation)?;
        if !self.txn_password_ok(&m.business, &m.row, &req.current_password).await? {
            return Err(coded("1015", CoreError::invalid("current_password", "is wrong")));
        }
        let hash = hash_password(&req.new_password).await?;
        let mut tx = self.ctx.begin().await?;
        store::set_txn_password(&mut tx, m.business.id, m.row.id, &hash).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn balance(&self, key: &ApiKey, token: &AccessToken) -> Result<BalanceOut> {
        let m = self.member(key, token).await?;
        Ok(BalanceOut { balance: number(m.row.balance) })
    }

    /// The shop reports a completed order of the member: its PV counts for the member and every upline's leg, once.
    async fn order_complete(&self, key: &ApiKey, token: &AccessToken, req: &OrderComplete) -> Result<()> {
        let m = self.member(key, token).await?;
        let order_ref = text("order_id", &req.order_id)?;
        let total_amount = money("total_amount", req.total_amount)?;
        if total_amount < 0 {
            return Err(CoreError::invalid("total_amount", "must not be negative").into());
        }
        let total_quantity: i64 = req
            .total_quantity
            .trim()
            .parse()
            .ok()
            .filter(|q| *q >= 0)
            .ok_or_else(|| CoreError::invalid("total_quantity", "must be a whole number, 0 or more"))?;
        let total_pv = points("total_pv", req.total_pv)?;
        let reported = || CoreError::conflict("order_id: this order was reported already");
        if store::order_exists(self.ctx.pool(), m.business.id, order_ref).await? {
            return Err(reported().into());
        }
        let order = store::NewOrder {
            tenant_id: m.business.id,
            member_id: m.row.id,
            order_ref,
            total_amount,
            total_quantity,
            total_pv,
        };
        let mut tx = self.ctx.begin().await?;
        store::insert_order(&mut tx, &order, now_ms()).await.map_err(|e| match e {
            CoreError::Conflict(_) => reported(),
            e => e,
        })?;
        store::add_personal_pv(&mut tx, m.business.id, m.row.id, total_pv).await?;
        store::add_to_uplines(&mut tx, m.business.id, &m.row.path, total_pv, 0).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ewallet_payment(&self, key: &ApiKey, token: &AccessToken, req: &EwalletPayment) -> Result<()> {
        let m = self.member(key, token).await?;
        let amount = money("payment_amount", req.payment_amount)?;
        if amount <= 0 {
            return Err(CoreError::invalid("payment_amount", "must be more than 0").into());
        }
        if req.purpose.trim() != "purchase" {
            return Err(CoreError::invalid("purpose", "must be purchase").into());
        }
        if req.ewallet_username.trim().to_lowercase() != m.row.username {
            return Err(coded("1011", CoreError::invalid("ewallet_username", "is not the signed-in member")));
        }
        if !self.txn_password_ok(&m.business, &m.row, &req.transaction_password).await? {
            return Err(coded("1015", CoreError::invalid("transaction_password", "is wrong")));
        }
        let key = client_key("pay", &req.idempotency_key)?;
        if let Some(k) = &key {
            if self.replayed(&m.business, m.row.id, k, -amount).await? {
                return Ok(());
            }
        }
        let debit = WalletMove {
            tenant_id: m.business.id,
            member_id: m.row.id,
            delta: -amount,
            kind: "debit",
            source: "purchase",
            idempotency_key: key.as_deref(),
        };
        let mut tx = self.ctx.begin().await?;
        match store::apply_wallet(&mut tx, &debit, now_ms()).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(coded("1014", CoreError::invalid("payment_amount", "is more than the e-wallet balance")))
            }
            // The same key, made meanwhile by a concurrent request: that one is the payment, if it is this one.
            Err(CoreError::Conflict(_)) if key.is_some() => {
                drop(tx);
                let k = key.as_deref().unwrap_or_default();
                return match self.replayed(&m.business, m.row.id, k, -amount).await? {
                    true => Ok(()),
                    false => Err(CoreError::internal("a payment's key conflicted and no row has it").into()),
                };
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether a move with this (namespaced) idempotency key was made already: the same amount is a retry, answered
    /// as the first time; another amount is a mistake, refused naming the key.
    async fn replayed(&self, business: &Tenant, member: i64, key: &str, amount: i64) -> Result<bool> {
        match store::ledger_amount_by_key(self.ctx.pool(), business.id, member, key).await? {
            None => Ok(false),
            Some(a) if a == amount => Ok(true),
            Some(_) => Err(CoreError::conflict("idempotency_key: was used for another amount").into()),
        }
    }

    async fn epin_payment(&self, key: &ApiKey, token: &AccessToken, req: &EpinPayment) -> Result<()> {
        let m = self.member(key, token).await?;
        let amount = money("payment_amount", req.payment_amount)?;
        if amount <= 0 {
            return Err(CoreError::invalid("payment_amount", "must be more than 0").into());
        }
        let code = text("epin_code", &req.epin_code)?;
        let mut tx = self.ctx.begin().await?;
        let spent =
            store::spend_epin(&mut tx, m.business.id, &hash_secret(code), amount, Some(m.row.id), "purchase", now_ms())
                .await?;
        if spent.is_none() {
            return Err(coded(
                "1016",
                CoreError::invalid("epin_code", "unknown, used, expired, not yours, or worth less than the payment"),
            ));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn packages(&self, key: &ApiKey, token: &AccessToken, kind: PackageKind) -> Result<Vec<PackageRow>> {
        let m = self.member(key, token).await?;
        Ok(store::packages(self.ctx.reader(), m.business.id, &kind.stored()).await?)
    }

    async fn package(&self, key: &ApiKey, token: &AccessToken, id: &str) -> Result<PackageDetails> {
        let m = self.member(key, token).await?;
        let missing = || coded("1012", CoreError::not_found("id: no such package"));
        let id: i64 = id.trim().parse().map_err(|_| missing())?;
        match store::package(self.ctx.pool(), m.business.id, id).await? {
            Some(p) if p.active.0 => Ok(p.details()),
            _ => Err(missing()),
        }
    }

    async fn signup_fee(&self, key: &ApiKey, token: &AccessToken) -> Result<SignupFee> {
        let m = self.member(key, token).await?;
        let s = store::settings(self.ctx.pool(), m.business.id).await?;
        Ok(SignupFee { fee: number(s.signup_fee) })
    }

    // ---- cart and shipping ----

    async fn cart_add(&self, key: &ApiKey, token: &AccessToken, req: &CartAdd) -> Result<()> {
        let m = self.member(key, token).await?;
        match store::package(self.ctx.pool(), m.business.id, req.product_id).await? {
            Some(p) if p.active.0 && p.kind == PackageKind::Cart.stored() => {}
            _ => return Err(coded("1012", CoreError::invalid("product_id", "no such cart package"))),
        }
        let mut tx = self.ctx.begin().await?;
        if !store::cart_add(&mut tx, m.business.id, m.row.id, req.product_id, req.quantity, now_ms()).await? {
            let most = store::CART_MAX_QUANTITY;
            return Err(CoreError::invalid("quantity", format!("a cart holds at most {most} of one product")).into());
        }
        tx.commit().await?;
        Ok(())
    }

    async fn cart_remove(&self, key: &ApiKey, token: &AccessToken, product: Option<i64>) -> Result<()> {
        let m = self.member(key, token).await?;
        let mut tx = self.ctx.begin().await?;
        let removed = store::cart_remove(&mut tx, m.business.id, m.row.id, product).await?;
        tx.commit().await?;
        if product.is_some() && removed == 0 {
            return Err(coded("1012", CoreError::not_found("product_id: not in the cart")));
        }
        Ok(())
    }

    async fn cart_list(&self, key: &ApiKey, token: &AccessToken) -> Result<CartOut> {
        let m = self.member(key, token).await?;
        let rows = store::cart(self.ctx.reader(), m.business.id, m.row.id).await?;
        let cart_items = rows
            .into_iter()
            .map(|r| CartItem {
                product_id: r.package_id,
                product_name: r.name,
                product_amount: number(r.amount),
                quantity: r.quantity as f64,
            })
            .collect();
        Ok(CartOut { cart_items })
    }

    async fn address_add(&self, key: &ApiKey, token: &AccessToken, req: &AddressAdd) -> Result<()> {
        let m = self.member(key, token).await?;
        let address = store::NewAddress {
            tenant_id: m.business.id,
            member_id: m.row.id,
            name: text("name", &req.name)?,
            address: text("address", &req.address)?,
            zip_code: text("zip_code", &req.zip_code)?,
            city: text("city", &req.city)?,
            phone: text("phone", &req.phone)?,
        };
        let mut tx = self.ctx.begin().await?;
        store::insert_address(&mut tx, &address, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn address_remove(&self, key: &ApiKey, token: &AccessToken, id: i64) -> Result<()> {
        let m = self.member(key, token).await?;
        let mut tx = self.ctx.begin().await?;
        let removed = store::delete_address(&mut tx, m.business.id, m.row.id, id).await?;
        tx.commit().await?;
        if !removed {
            return Err(CoreError::not_found("address_id: no such address of yours").into());
        }
        Ok(())
    }

    async fn address_default(&self, key: &ApiKey, token: &AccessToken, id: i64) -> Result<()> {
        let m = self.member(key, token).await?;
        let mut tx = self.ctx.begin().await?;
        let set = store::set_default_address(&mut tx, m.business.id, m.row.id, id).await?;
        tx.commit().await?;
        if !set {
            return Err(CoreError::not_found("address_id: no such address of yours").into());
        }
        Ok(())
    }

    async fn address_list(&self, key: &ApiKey, token: &AccessToken) -> Result<AddressList> {
        let m = self.member(key, token).await?;
        let rows = store::addresses(self.ctx.reader(), m.business.id, m.row.id).await?;
        let address_list = rows
            .into_iter()
            .map(|r| AddressOut {
                address_id: r.id,
                name: r.name,
                address: r.address,
                zip_code: r.zip_code,
                city: r.city,
                phone: r.phone,
                default: r.is_default.0,
            })
            .collect();
        Ok(AddressList { address_list })
    }

    /// Pays the cart in one transaction: the e-wallet debit (never below zero) or the e-pin (once), the order with
    /// its PV for the member and every upline, and the cart emptied. A cart that changed meanwhile is paid as it
    /// was read.
    async fn checkout(&self, key: &ApiKey, token: &AccessToken, req: &Checkout) -> Result<()> {
        let m = self.member(key, token).await?;
        let address = store::shipping_address(self.ctx.pool(), m.business.id, m.row.id, req.address_id)
            .await?
            .ok_or_else(|| match req.address_id {
                Some(_) => CoreError::not_found("address_id: no such address of yours"),
                None => CoreError::invalid("address_id", "is required: there is no default shipping address"),
            })?;
        if req.payment_method == PaymentMethod::Ewallet {
            let password = required("transaction_password", &req.transaction_password)?;
            if !self.txn_password_ok(&m.business, &m.row, password).await? {
                return Err(coded("1015", CoreError::invalid("transaction_password", "is wrong")));
            }
        }
        let order_ref = format!("CART-{}", new_secret(""));
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        let items = store::take_cart(&mut tx, m.business.id, m.row.id).await?;
        if items.is_empty() {
            return Err(CoreError::conflict("the cart is empty").into());
        }
        if let Some((item, _)) = items.iter().find(|(_, active)| !active) {
            let gone = format!("{} is no longer offered; remove it from the cart", item.name);
            return Err(coded("1012", CoreError::conflict(gone)));
        }
        let sum = |of: fn(&store::CartRow) -> i64| {
            items.iter().try_fold(0_i64, |acc, (i, _)| acc.checked_add(of(i).checked_mul(i.quantity)?))
        };
        let (Some(total), Some(pv)) = (sum(|i| i.amount), sum(|i| i.pv)) else {
            return Err(CoreError::conflict("the cart's total is larger than an amount can be").into());
        };
        let quantity: i64 = items.iter().map(|(i, _)| i.quantity).sum();
        let paid_by = match req.payment_method {
            PaymentMethod::FreeJoin => {
                return Err(CoreError::invalid("payment_method", "must be ewallet or epin").into());
            }
            PaymentMethod::Ewallet => {
                let debit = WalletMove {
                    tenant_id: m.business.id,
                    member_id: m.row.id,
                    delta: -total,
                    kind: "debit",
                    source: &format!("checkout {order_ref}"),
                    idempotency_key: None,
                };
                if store::apply_wallet(&mut tx, &debit, now).await?.is_none() {
                    return Err(coded(
                        "1014",
                        CoreError::invalid("payment_method", "the e-wallet balance is less than the cart"),
                    ));
                }
                "ewallet"
            }
            PaymentMethod::Epin => {
                let code = required("epin_code", &req.epin_code)?;
                let used_for = format!("checkout {order_ref}");
                let spent = store::spend_epin(
                    &mut tx,
                    m.business.id,
                    &hash_secret(code),
                    total,
                    Some(m.row.id),
                    &used_for,
                    now,
                )
                .await?;
                if spent.is_none() {
                    return Err(coded(
                        "1016",
                        CoreError::invalid(
                            "epin_code",
                            "unknown, used, expired, not yours, or worth less than the cart",
                        ),
                    ));
                }
                "epin"
            }
        };
        let order = store::NewOrder {
            tenant_id: m.business.id,
            member_id: m.row.id,
            order_ref: &order_ref,
            total_amount: total,
            total_quantity: quantity,
            total_pv: pv,
        };
        store::insert_checkout(&mut tx, &order, address, paid_by, now).await?;
        store::add_personal_pv(&mut tx, m.business.id, m.row.id, pv).await?;
        store::add_to_uplines(&mut tx, m.business.id, &m.row.path, pv, 0).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- forgotten passwords ----

    /// Sends the member a single-use reset link through the outbox, in the transaction that stores its hash.
    async fn send_reset(&self, business: &Tenant, member: &MemberRow, secret: Secret) -> Result<()> {
        let token = new_secret("mrt_");
        let link = match self.config.reset_url.trim() {
            "" => format!("the code {token} (in your app's password reset)"),
            url => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}token={token}&kind={}", secret.kind())
            }
        };
        let email = Email::parse("email", &member.email)?;
        let vars = serde_json::json!({"name": member.firstname, "username": member.username, "what": secret.what(),
                                      "link": link});
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        store::insert_reset(
            &mut tx,
            &hash_secret(&token),
            business.id,
            member.id,
            secret.kind(),
            now + RESET_TTL_MS,
            now,
        )
        .await?;
        self.ctx.email(&mut tx, business, &email, &RESET_EMAIL, &vars).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgot password: answered the same whether the username exists or not, so it does not tell.
    async fn forgot_password(&self, key: &ApiKey, req: &ForgotPassword) -> Result<()> {
        let app = self.business(key).await?;
        let name = req.username.trim().to_lowercase();
        if let Some(member) = store::member_by_username(self.ctx.pool(), app.tenant_id(), &name).await? {
            self.send_reset(app.tenant(), &member, Secret::Login).await?;
        }
        Ok(())
    }

    async fn forgot_txn_password(&self, key: &ApiKey, token: &AccessToken) -> Result<()> {
        let m = self.member(key, token).await?;
        self.send_reset(&m.business, &m.row, Secret::Transaction).await
    }

    /// Sets a new password with a reset token; a new login password also ends every session of the member.
    async fn reset(&self, key: &ApiKey, req: &PasswordReset, secret: Secret) -> Result<()> {
        let app = self.business(key).await?;
        let business = app.tenant();
        same_password(&req.new_password, &req.password_confirmation)?;
        let hash = hash_password(&req.new_password).await?;
        let bad = || CoreError::invalid("token", "is unknown, used or expired; ask for a new reset email");
        let mut tx = self.ctx.begin().await?;
        let member_id =
            store::spend_reset(&mut tx, &hash_secret(req.token.trim()), business.id, secret.kind(), now_ms())
                .await?
                .ok_or_else(bad)?;
        match secret {
            Secret::Login => {
                let member = store::member(self.ctx.pool(), business.id, member_id).await?.ok_or_else(bad)?;
                self.ctx.set_password(&mut tx, business, member.principal_id, &hash).await?;
                store::revoke_tokens(&mut tx, business.id, member_id).await?;
            }
            Secret::Transaction => store::set_txn_password(&mut tx, business.id, member_id, &hash).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- compensation ----

    async fn compensation(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        req: &CompensationRequest,
        commit: bool,
    ) -> Result<CompensationRun> {
        let (caller, business) = self.admin(key, business_id, if commit { "update" } else { "read" }).await?;
        let run = compensate(&self.ctx, &business, req.period.trim(), commit).await?;
        if commit {
            let mut tx = self.ctx.begin().await?;
            self.ctx
                .audit(&mut tx, &caller, &business, "compensation.run", &format!("mlm_period:{}", run.period))
                .await?;
            tx.commit().await?;
        }
        Ok(run)
    }

    async fn compensation_runs(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        page: Paging,
    ) -> Result<CompensationRuns> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        let rows = store::runs(self.ctx.reader(), business.id, page).await?;
        let items = rows
            .into_iter()
            .map(|r| CompensationRunSummary {
                period: r.period,
                sponsor_total: number(r.sponsor_total),
                pairing_total: number(r.pairing_total),
                credits: r.credits,
                created_at: r.created_at,
            })
            .collect();
        Ok(CompensationRuns { items })
    }

    // ---- profile image ----

    async fn image_upload(&self, key: &ApiKey, token: &AccessToken, upload: MlmImageUpload) -> Result<()> {
        let m = self.member(key, token).await?;
        let max = self.config.image_max_bytes;
        if upload.image.size() > max {
            return Err(coded("1018", CoreError::invalid("image", format!("is larger than {max} bytes"))));
        }
        let bytes = upload.image.into_vec().await.map_err(|_| CoreError::invalid("image", "could not be read"))?;
        let Some(content_type) = model::image_type(&bytes) else {
            return Err(coded("1017", CoreError::invalid("image", "must be a JPEG, PNG or GIF file")));
        };
        let name = new_secret("");
        let mut tx = self.ctx.begin().await?;
        store::put_image(&mut tx, m.business.id, m.row.id, &name, content_type, &bytes, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- KYC and payouts ----

    async fn payout_request(&self, key: &ApiKey, token: &AccessToken, req: &PayoutRequest) -> Result<PayoutOut> {
        let m = self.member(key, token).await?;
        if m.row.kyc_status != KycStatus::Verified.stored() {
            return Err(coded("1019", CoreError::forbidden("your identity (KYC) is not verified yet")));
        }
        let amount = money("amount", req.amount)?;
        if amount <= 0 {
            return Err(CoreError::invalid("amount", "must be more than 0").into());
        }
        if !self.txn_password_ok(&m.business, &m.row, &req.transaction_password).await? {
            return Err(coded("1015", CoreError::invalid("transaction_password", "is wrong")));
        }
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_payout(&mut tx, m.business.id, m.row.id, amount, now).await?;
        let hold = WalletMove {
            tenant_id: m.business.id,
            member_id: m.row.id,
            delta: -amount,
            kind: "debit",
            source: &format!("payout request #{id}"),
            idempotency_key: None,
        };
        if store::apply_wallet(&mut tx, &hold, now).await?.is_none() {
            return Err(coded("1014", CoreError::invalid("amount", "is more than the e-wallet balance")));
        }
        tx.commit().await?;
        Ok(PayoutOut {
            id,
            username: m.row.username,
            amount: number(amount),
            status: PayoutStatus::Pending,
            requested_at: now,
            decided_at: None,
            note: String::new(),
        })
    }

    async fn payout_list(
        &self,
        business: i64,
        member: Option<i64>,
        status: Option<PayoutStatus>,
        page: Paging,
    ) -> Result<PayoutList> {
        let status = status.map(|s| s.stored());
        let rows = store::payouts(self.ctx.reader(), business, member, status.as_deref(), page).await?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(PayoutOut {
                    id: r.id,
                    username: r.username,
                    amount: number(r.amount),
                    status: PayoutStatus::from_stored("status", &r.status)?,
                    requested_at: r.requested_at,
                    decided_at: r.decided_at,
                    note: r.note,
                })
            })
            .collect::<CoreResult<_>>()?;
        Ok(PayoutList { items })
    }

    async fn member_payouts(&self, key: &ApiKey, token: &AccessToken, page: Paging) -> Result<PayoutList> {
        let m = self.member(key, token).await?;
        self.payout_list(m.business.id, Some(m.row.id), None, page).await
    }

    async fn admin_payouts(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        status: Option<PayoutStatus>,
        page: Paging,
    ) -> Result<PayoutList> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        self.payout_list(business.id, None, status, page).await
    }

    /// Approves (the money leaves the business) or rejects (the held amount goes back to the e-wallet) a pending
    /// payout, once.
    async fn payout_decide(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        id: i64,
        req: &PayoutDecision,
    ) -> Result<()> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        if req.status == PayoutStatus::Pending {
            return Err(CoreError::invalid("status", "must be approved or rejected").into());
        }
        let note = optional("note", &req.note)?;
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        let Some((member_id, amount)) =
            store::decide_payout(&mut tx, business.id, id, &req.status.stored(), note, now).await?
        else {
            return Err(CoreError::not_found("id: no pending payout with this id").into());
        };
        if req.status == PayoutStatus::Rejected {
            let back = WalletMove {
                tenant_id: business.id,
                member_id,
                delta: amount,
                kind: "credit",
                source: &format!("payout request #{id} rejected"),
                idempotency_key: None,
            };
            store::apply_wallet(&mut tx, &back, now)
                .await?
                .ok_or_else(|| CoreError::internal("a rejected payout could not be given back"))?;
        }
        self.ctx.audit(&mut tx, &caller, &business, "payout.decide", &format!("mlm_payout:{id}")).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kyc(&self, key: &BearerKey, business_id: Option<i64>, req: &KycDecision) -> Result<()> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        let member = self.find(&business, "username", "1011", &req.username).await?;
        let mut tx = self.ctx.begin().await?;
        store::set_kyc(&mut tx, business.id, member.id, &req.status.stored()).await?;
        self.ctx.audit(&mut tx, &caller, &business, "kyc.decide", &format!("mlm_member:{}", member.id)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A member's downline to `depth` levels, breadth first: one indexed statement per level.
    async fn genealogy(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        username: &str,
        depth: Option<i64>,
        page: Paging,
    ) -> Result<Genealogy> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        let depth = depth.unwrap_or(3);
        if !(0..=GENEALOGY_DEPTH).contains(&depth) {
            return Err(CoreError::invalid("depth", format!("must be 0 to {GENEALOGY_DEPTH}")).into());
        }
        let root = self.find(&business, "username", "1011", username).await?;
        let mut names = std::collections::HashMap::from([(root.id, root.username.clone())]);
        let mut nodes = vec![GenealogyNode {
            username: root.username.clone(),
            placement_user: String::new(),
            position: root.position.clone().unwrap_or_default(),
            level: 0,
            left_count: root.left_count,
            right_count: root.right_count,
            left_pv: root.left_pv,
            right_pv: root.right_pv,
        }];
        let mut level = vec![root.id];
        for _ in 0..depth {
            let rows = store::children(self.ctx.reader(), business.id, &level).await?;
            level = rows.iter().map(|r| r.id).collect();
            for r in rows {
                let parent = r.parent_id.and_then(|p| names.get(&p).cloned()).unwrap_or_default();
                names.insert(r.id, r.username.clone());
                nodes.push(GenealogyNode {
                    username: r.username,
                    placement_user: parent,
                    position: r.position.unwrap_or_default(),
                    level: r.depth - root.depth,
                    left_count: r.left_count,
                    right_count: r.right_count,
                    left_pv: r.left_pv,
                    right_pv: r.right_pv,
                });
            }
        }
        let total = nodes.len() as i64;
        let items = nodes.into_iter().skip(page.offset as usize).take(page.limit as usize).collect();
        Ok(Genealogy { items, total })
    }

    // ---- admin ----

    async fn settings_get(&self, key: &BearerKey, business_id: Option<i64>) -> Result<Settings> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        let s = store::settings(self.ctx.pool(), business.id).await?;
        Ok(Settings {
            registration_blocked: s.registration_blocked.0,
            username_min: s.username_min,
            username_max: s.username_max,
            signup_fee: number(s.signup_fee),
            currency: s.currency,
            sponsor_bonus_percent: Some(s.sponsor_bonus_bp as f64 / 100.0),
            pair_pv: Some(s.pair_pv),
            pair_bonus: Some(number(s.pair_bonus)),
            daily_pair_cap: Some(s.daily_pair_cap),
            username_type: Some(UsernameType::from_stored("username_type", &s.username_type)?),
            username_prefix: Some(s.username_prefix),
            compensation_auto: Some(s.compensation_auto.0),
        })
    }

    async fn settings_put(&self, key: &BearerKey, business_id: Option<i64>, req: &Settings) -> Result<Settings> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        if req.username_min > req.username_max {
            return Err(CoreError::invalid("username_min", "must not be more than username_max").into());
        }
        let currency = req.currency.trim().to_uppercase();
        if !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CoreError::invalid("currency", "must be a three-letter ISO 4217 code").into());
        }
        let now = store::settings(self.ctx.pool(), business.id).await?;
        let row = SettingsRow {
            registration_blocked: Flag(req.registration_blocked),
            username_min: req.username_min,
            username_max: req.username_max,
            signup_fee: money("signup_fee", req.signup_fee)?,
            currency,
            sponsor_bonus_bp: match req.sponsor_bonus_percent {
                // Percent with at most two decimals: basis points, exactly.
                Some(p) => money("sponsor_bonus_percent", p)?,
                None => now.sponsor_bonus_bp,
            },
            pair_pv: req.pair_pv.unwrap_or(now.pair_pv),
            pair_bonus: match req.pair_bonus {
                Some(b) => money("pair_bonus", b)?,
                None => now.pair_bonus,
            },
            daily_pair_cap: req.daily_pair_cap.unwrap_or(now.daily_pair_cap),
            username_type: req.username_type.map(|t| t.stored()).unwrap_or(now.username_type),
            username_prefix: match &req.username_prefix {
                Some(p) => {
                    let p = p.trim().to_lowercase();
                    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        return Err(CoreError::invalid("username_prefix", "must be letters and digits").into());
                    }
                    p
                }
                None => now.username_prefix,
            },
            compensation_auto: req.compensation_auto.map(Flag).unwrap_or(now.compensation_auto),
        };
        let mut tx = self.ctx.begin().await?;
        store::put_settings(&mut tx, business.id, &row, now_ms()).await?;
        self.ctx.audit(&mut tx, &caller, &business, "settings.update", "mlm_settings").await?;
        tx.commit().await?;
        self.settings_get(key, business_id).await
    }

    async fn package_create(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        req: &PackageCreate,
    ) -> Result<PackageDetails> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        let code = text("package_id", &req.package_id)?;
        let package = store::NewPackage {
            tenant_id: business.id,
            kind: &req.kind.stored(),
            package_code: code,
            name: text("name", &req.name)?,
            amount: money("amount", req.amount)?,
            pv: points("pv", req.pv)?,
            category: optional("category", &req.category)?,
            image: optional("image", &req.image)?,
            description: optional("description", &req.description)?,
        };
        let taken = || CoreError::invalid("package_id", "is already used by another package of the business");
        if store::package_code_taken(self.ctx.pool(), business.id, code).await? {
            return Err(taken().into());
        }
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_package(&mut tx, &package, now_ms()).await.map_err(|e| match e {
            CoreError::Conflict(_) => taken(),
            e => e,
        })?;
        self.ctx.audit(&mut tx, &caller, &business, "package.create", &format!("mlm_package:{id}")).await?;
        tx.commit().await?;
        let row = store::package(self.ctx.pool(), business.id, id).await?;
        Ok(row.ok_or_else(|| CoreError::internal("a created package is missing"))?.details())
    }

    /// The first member of the business, at the top of the tree: every other member registers below it.
    async fn top_create(&self, key: &BearerKey, business_id: Option<i64>, req: &TopMemberCreate) -> Result<MemberOut> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        let username = self.username_rule(&business, "username", &req.username).await?;
        let email = Email::parse("email", &req.email)?;
        let firstname = text("firstname", &req.firstname)?;
        let lastname = text("lastname", &req.lastname)?;
        let mobile = text("mobile", &req.mobile)?;
        let exists = || CoreError::conflict("the business has its top member already");
        if store::has_top(self.ctx.pool(), business.id).await? {
            return Err(exists().into());
        }
        let login_hash = hash_password(&req.password).await?;
        let txn_hash = match &req.transaction_password {
            Some(p) => hash_password(p).await?,
            None => login_hash.clone(),
        };
        let mut tx = self.ctx.begin().await?;
        let principal =
            self.ctx.create_person(&mut tx, &business, &email, &format!("{firstname} {lastname}"), &login_hash).await?;
        let member = NewMember {
            tenant_id: business.id,
            principal_id: principal,
            username: &username,
            sponsor_id: None,
            parent_id: None,
            position: None,
            path: "",
            package_id: None,
            firstname,
            lastname,
            date_of_birth: "",
            email: email.as_str(),
            mobile,
            txn_password_hash: &txn_hash,
        };
        let id = store::insert_member(&mut tx, &member, now_ms()).await.map_err(|e| match e {
            CoreError::Conflict(_) => exists(),
            e => e,
        })?;
        self.ctx.audit(&mut tx, &caller, &business, "member.top", &format!("mlm_member:{id}")).await?;
        tx.commit().await?;
        let row = store::member(self.ctx.pool(), business.id, id).await?;
        Ok(member_out(row.ok_or_else(|| CoreError::internal("a created member is missing"))?.into()))
    }

    async fn members(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        search: Option<&str>,
        page: Paging,
    ) -> Result<MemberPage> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        let (rows, total) = store::list_members(self.ctx.reader(), business.id, search, page).await?;
        let items = rows.into_iter().map(member_out).collect();
        Ok(MemberPage { items, total })
    }

    async fn wallet_credit(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        req: &WalletCredit,
    ) -> Result<WalletMoved> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        let member = self.find(&business, "username", "1011", &req.username).await?;
        let amount = money("amount", req.amount)?;
        if amount == 0 {
            return Err(CoreError::invalid("amount", "must not be 0").into());
        }
        let reason = text("reason", &req.reason)?;
        let key = client_key("adm", &req.idempotency_key)?;
        let moved = WalletMove {
            tenant_id: business.id,
            member_id: member.id,
            delta: amount,
            kind: if amount > 0 { "credit" } else { "debit" },
            source: reason,
            idempotency_key: key.as_deref(),
        };
        let answer = |balance| WalletMoved { username: member.username.clone(), balance: number(balance) };
        if let Some(k) = &key {
            if self.replayed(&business, member.id, k, amount).await? {
                return Ok(answer(member.balance));
            }
        }
        let mut tx = self.ctx.begin().await?;
        let balance = match store::apply_wallet(&mut tx, &moved, now_ms()).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(coded("1014", CoreError::invalid("amount", "would take the e-wallet balance below 0")))
            }
            Err(e) => return Err(e.into()),
        };
        self.ctx.audit(&mut tx, &caller, &business, "ewallet.adjust", &format!("mlm_member:{}", member.id)).await?;
        tx.commit().await?;
        Ok(answer(balance))
    }

    async fn ledger(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        username: &str,
        page: Paging,
    ) -> Result<LedgerPage> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        let member = self.find(&business, "username", "1011", username).await?;
        let rows = store::ledger(self.ctx.reader(), business.id, member.id, page).await?;
        let items = rows
            .into_iter()
            .map(|r| LedgerEntry {
                id: r.id,
                amount: number(r.amount),
                balance_after: number(r.balance_after),
                kind: r.kind,
                source: r.source,
                created_at: r.created_at,
            })
            .collect();
        Ok(LedgerPage { username: member.username, balance: number(member.balance), items })
    }

    async fn package_update(
        &self,
        key: &BearerKey,
        business_id: Option<i64>,
        id: i64,
        req: &PackageUpdate,
    ) -> Result<PackageDetails> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        let optional_text = |field: &str, v: &Option<String>| -> CoreResult<Option<String>> {
            v.as_ref().map(|t| optional(field, &Some(t.clone())).map(str::to_string)).transpose()
        };
        let name = match &req.name {
            Some(n) => Some(text("name", n)?.to_string()),
            None => None,
        };
        let (category, image, description) = (
            optional_text("category", &req.category)?,
            optional_text("image", &req.image)?,
            optional_text("description", &req.description)?,
        );
        let change = store::PackageChange {
            name: name.as_deref(),
            amount: req.amount.map(|a| money("amount", a)).transpose()?,
            pv: req.pv.map(|p| points("pv", p)).transpose()?,
            category: category.as_deref(),
            image: image.as_deref(),
            description: description.as_deref(),
            active: req.active,
        };
        let mut tx = self.ctx.begin().await?;
        if !store::update_package(&mut tx, business.id, id, &change).await? {
            return Err(coded("1012", CoreError::not_found("id: no such package")));
        }
        self.ctx.audit(&mut tx, &caller, &business, "package.update", &format!("mlm_package:{id}")).await?;
        tx.commit().await?;
        let row = store::package(self.ctx.pool(), business.id, id).await?;
        Ok(row.ok_or_else(|| CoreError::internal("an updated package is missing"))?.details())
    }

    async fn epin_list(&self, key: &BearerKey, business_id: Option<i64>, page: Paging) -> Result<EpinBatches> {
        let (_, business) = self.admin(key, business_id, "read").await?;
        let rows = store::epin_batches(self.ctx.reader(), business.id, page).await?;
        let items = rows
            .into_iter()
            .map(|r| EpinBatchSummary {
                batch: r.batch,
                amount: number(r.amount),
                pins: r.pins,
                used: r.used,
                expires_at: r.expires_at,
                created_at: r.created_at,
            })
            .collect();
        Ok(EpinBatches { items })
    }

    async fn epin_batch(&self, key: &BearerKey, business_id: Option<i64>, req: &EpinBatchCreate) -> Result<EpinBatch> {
        let (caller, business) = self.admin(key, business_id, "update").await?;
        let amount = money("amount", req.amount)?;
        let owner = match &req.owner_username {
            Some(name) => Some(self.find(&business, "owner_username", "1011", name).await?.id),
            None => None,
        };
        let now = now_ms();
        let expires_at = req.expires_in_days.map(|d| now + d * 24 * 3600 * 1000);
        let batch = new_secret("")[..12].to_string();
        let codes: Vec<String> = (0..req.count).map(|_| new_secret("")[..16].to_uppercase()).collect();
        let mut tx = self.ctx.begin().await?;
        for code in &codes {
            let pin = store::NewEpin {
                tenant_id: business.id,
                batch: &batch,
                code_hash: &hash_secret(code),
                amount,
                owner_member_id: owner,
                expires_at,
            };
            store::insert_epin(&mut tx, &pin, now).await?;
        }
        self.ctx.audit(&mut tx, &caller, &business, "epin.generate", &format!("mlm_epin_batch:{batch}")).await?;
        tx.commit().await?;
        Ok(EpinBatch { batch, codes, amount: number(amount), expires_at })
    }
}

// ---- the compensation engine ----

/// Computes a period's compensation for a business and, with `commit`, credits it to the e-wallets in one
/// transaction with the run's record: a period runs once (a second run is a conflict), and each credit carries an
/// idempotency key in the ledger. A preview reads the same state the same way, so it shows what a run would credit.
async fn compensate(ctx: &PluginContext, business: &Tenant, period: &str, commit: bool) -> Result<CompensationRun> {
    let bounds = model::period_bounds(period)
        .ok_or_else(|| coded("1013", CoreError::invalid("period", "must be a date as yyyy-mm-dd")))?;
    if bounds.1 > now_ms() {
        return Err(CoreError::invalid("period", "has not ended yet (periods are UTC days)").into());
    }
    let settings = store::settings(ctx.pool(), business.id).await?;
    let already = || CoreError::conflict(format!("period: {period} has been run already"));
    if store::run_exists(ctx.pool(), business.id, period).await? {
        return Err(already().into());
    }
    let credits = if commit {
        let now = now_ms();
        let mut tx = ctx.begin().await?;
        store::lock_plan(&mut tx, business.id).await?;
        let credits = store::plan_credits(&mut tx, &settings, business.id, period, bounds).await?;
        let paying = credits.iter().filter(|c| c.amount > 0).count() as i64;
        let (sponsor, pairing) = (kind_total(&credits, "sponsor_bonus"), kind_total(&credits, "binary_pairing"));
        store::insert_run(&mut tx, business.id, period, sponsor, pairing, paying, now).await.map_err(|e| match e {
            CoreError::Conflict(_) => already(),
            e => e,
        })?;
        store::apply_credits(&mut tx, business.id, &credits, now).await?;
        tx.commit().await?;
        credits
    } else {
        let mut conn = ctx.pool().acquire().await.map_err(CoreError::from)?;
        store::plan_credits(&mut conn, &settings, business.id, period, bounds).await?
    };
    Ok(CompensationRun {
        period: period.to_string(),
        committed: commit,
        sponsor_total: number(kind_total(&credits, "sponsor_bonus")),
        pairing_total: number(kind_total(&credits, "binary_pairing")),
        credits: credits
            .into_iter()
            .filter(|c| c.amount > 0)
            .map(|c| CompensationCredit {
                username: c.username,
                kind: c.kind.to_string(),
                amount: number(c.amount),
                source: c.source,
            })
            .collect(),
    })
}

/// What a run's credits of one kind add up to.
fn kind_total(credits: &[store::Credit], kind: &str) -> i64 {
    credits.iter().filter(|c| c.kind == kind).map(|c| c.amount).sum()
}

/// The compensation job: every business whose plan pays anything gets yesterday's (UTC) run, once.
pub async fn compensation_job(ctx: &PluginContext) -> CoreResult<()> {
    let period = model::period_of(now_ms() - 86_400_000);
    for id in store::paying_businesses(ctx.pool()).await? {
        let Some(business) = ctx.tenant(id).await? else { continue };
        if store::run_exists(ctx.pool(), id, &period).await? {
            continue;
        }
        match compensate(ctx, &business, &period, true).await {
            Ok(_) => {}
            // Another instance ran it meanwhile.
            Err(Failure { error: CoreError::Conflict(_), .. }) => {}
            // One business's failure does not stop the others' runs; the next hour tries it again.
            Err(f) => {
                f.error.log_internal();
                tracing::warn!(business = id, %period, "compensation run failed: {}", f.error.public_message());
            }
        }
    }
    Ok(())
}

fn member_out(r: MemberListRow) -> MemberOut {
    MemberOut {
        id: r.id,
        username: r.username,
        firstname: r.firstname,
        lastname: r.lastname,
        email: r.email,
        position: r.position.unwrap_or_default(),
        depth: r.depth,
        balance: number(r.balance),
        left_count: r.left_count,
        right_count: r.right_count,
        left_pv: r.left_pv,
        right_pv: r.right_pv,
        kyc_status: r.kyc_status,
        joined_at: r.created_at,
    }
}

/// The deepest genealogy an admin reads at once (2,047 members at most).
const GENEALOGY_DEPTH: i64 = 10;

/// Paging of the admin listings: `limit`/`offset` as in the core's API.
const PAGE: PageRule = PageRule::CORE;

#[OpenApi(tag = "MlmTag::Mlm")]
impl MlmApi {
    /// Get access token: a member's username and password give a token for the other calls.
    #[oai(path = "/auth/access/", method = "post", operation_id = "mlm_access_create")]
    async fn access_create(&self, api_key: ApiKey, body: Input<AccessRequest>) -> Reply<AccessOut> {
        reply(self.access(&api_key, &body).await)
    }

    /// Register new user, below a placement member on position L or R, paid free, by e-wallet or by e-pin.
    #[oai(path = "/register/", method = "post", operation_id = "mlm_member_register")]
    async fn member_register(&self, api_key: ApiKey, body: Input<RegisterRequest>) -> Created<Registered> {
        created(self.register(&api_key, &body).await)
    }

    /// Username availability under the business's rule: 200 when free, 1010 when taken.
    #[oai(path = "/register/username/", method = "get", operation_id = "mlm_username_check")]
    async fn username_check(&self, api_key: ApiKey, username: Query<String>) -> Reply<UsernameAvailable> {
        reply(self.username_available(&api_key, &username).await)
    }

    /// Get profile information of the signed-in member.
    #[oai(path = "/profile/", method = "get", operation_id = "mlm_profile_get")]
    async fn profile_get(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<ProfileOut> {
        reply(self.profile(&api_key, &access_token).await)
    }

    /// Update personal information.
    #[oai(path = "/profile/personal/", method = "put", operation_id = "mlm_profile_personal_update")]
    async fn profile_personal_update(
        &self,
        api_key: ApiKey,
        access_token: AccessToken,
        body: Input<PersonalRequest>,
    ) -> Done {
        done(self.personal(&api_key, &access_token, &body).await)
    }

    /// Update contact information.
    #[oai(path = "/profile/contact/", method = "put", operation_id = "mlm_profile_contact_update")]
    async fn profile_contact_update(
        &self,
        api_key: ApiKey,
        access_token: AccessToken,
        body: Input<ContactRequest>,
    ) -> Done {
        done(self.contact(&api_key, &access_token, &body).await)
    }

    /// Update bank information (the seed gives `profile/personal/`, which personal information already uses).
    #[oai(path = "/profile/bank/", method = "put", operation_id = "mlm_profile_bank_update")]
    async fn profile_bank_update(&self, api_key: ApiKey, access_token: AccessToken, body: Input<BankRequest>) -> Done {
        done(self.bank(&api_key, &access_token, &body).await)
    }

    /// Change the login password; every access token of the member is revoked.
    #[oai(path = "/profile/password/", method = "put", operation_id = "mlm_password_change")]
    async fn password_change(&self, api_key: ApiKey, access_token: AccessToken, body: Input<PasswordChange>) -> Done {
        done(self.change_password(&api_key, &access_token, &body).await)
    }

    /// Change the e-wallet transaction password.
    #[oai(path = "/ewallet/password/", method = "put", operation_id = "mlm_ewallet_password_change")]
    async fn ewallet_password_change(
        &self,
        api_key: ApiKey,
        access_token: AccessToken,
        body: Input<PasswordChange>,
    ) -> Done {
        done(self.change_txn_password(&api_key, &access_token, &body).await)
    }

    /// Forgot password: emails the member a single-use reset link (204 whether or not the username exists).
    #[oai(path = "/profile/password/forgot/", method = "post", operation_id = "mlm_password_forgot")]
    async fn password_forgot(&self, api_key: ApiKey, body: Input<ForgotPassword>) -> Done {
        done(self.forgot_password(&api_key, &body).await)
    }

    /// A new login password with the token of a reset email; every access token of the member is revoked.
    #[oai(path = "/profile/password/reset/", method = "post", operation_id = "mlm_password_reset")]
    async fn password_reset(&self, api_key: ApiKey, body: Input<PasswordReset>) -> Done {
        done(self.reset(&api_key, &body, Secret::Login).await)
    }

    /// Forgot transaction password: emails the signed-in member a single-use reset link.
    #[oai(path = "/ewallet/password/forget/", method = "post", operation_id = "mlm_ewallet_password_forgot")]
    async fn ewallet_password_forgot(&self, api_key: ApiKey, access_token: AccessToken) -> Done {
        done(self.forgot_txn_password(&api_key, &access_token).await)
    }

    /// A new transaction password with the token of a reset email.
    #[oai(path = "/ewallet/password/reset/", method = "post", operation_id = "mlm_ewallet_password_reset")]
    async fn ewallet_password_reset(&self, api_key: ApiKey, body: Input<PasswordReset>) -> Done {
        done(self.reset(&api_key, &body, Secret::Transaction).await)
    }

    /// Upload profile image (multipart field `image`; the seed says GET, which cannot carry a file).
    #[oai(path = "/profile/image/", method = "post", operation_id = "mlm_profile_image_upload")]
    async fn profile_image_upload(&self, api_key: ApiKey, access_token: AccessToken, form: MlmImageUpload) -> Done {
        done(self.image_upload(&api_key, &access_token, form).await)
    }

    /// A profile image of the business's members, at the link a profile's `profile_image` gives.
    #[oai(path = "/images/:name", method = "get", operation_id = "mlm_image_get")]
    async fn image_get(&self, api_key: ApiKey, name: Path<String>) -> ImageAnswer {
        let business = match self.business(&api_key).await {
            Ok(app) => app.tenant_id(),
            Err(f) => return ImageAnswer::failed(f),
        };
        match store::image(self.ctx.pool(), business, name.trim()).await {
            Ok(Some(bytes)) => ImageAnswer::Ok(Binary(bytes), "public, max-age=86400".into()),
            Ok(None) => ImageAnswer::failed(CoreError::not_found("name: no such image").into()),
            Err(e) => ImageAnswer::failed(e.into()),
        }
    }

    /// Request a payout from the e-wallet (KYC verified, 1019; the transaction password, 1015).
    #[oai(path = "/payout/request/", method = "post", operation_id = "mlm_payout_request")]
    async fn payout_request_op(
        &self,
        api_key: ApiKey,
        access_token: AccessToken,
        body: Input<PayoutRequest>,
    ) -> Created<PayoutOut> {
        created(self.payout_request(&api_key, &access_token, &body).await)
    }

    /// The signed-in member's payout requests, newest first.
    #[oai(path = "/payout/requests/", method = "get", operation_id = "mlm_payout_list")]
    async fn payout_list_op(
        &self,
        api_key: ApiKey,
        access_token: AccessToken,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<PayoutList> {
        reply(async { self.member_payouts(&api_key, &access_token, Paging::new(PAGE, limit.0, offset.0)?).await }.await)
    }

    /// Get e-wallet balance.
    #[oai(path = "/ewallet/balance/", method = "post", operation_id = "mlm_ewallet_balance")]
    async fn ewallet_balance(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<BalanceOut> {
        reply(self.balance(&api_key, &access_token).await)
    }

    /// Order complete: the shop reports an order of the member and its PV, counted once per order_id.
    #[oai(path = "/order/complete/", method = "post", operation_id = "mlm_order_complete")]
    async fn order_complete_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<OrderComplete>) -> Done {
        done(self.order_complete(&api_key, &access_token, &body).await)
    }

    /// Purchase using e-wallet: debits the member's e-wallet, never below zero.
    #[oai(path = "/ewallet/payment/", method = "post", operation_id = "mlm_ewallet_payment")]
    async fn ewallet_payment_op(
        &self,
        api_key: ApiKey,
        access_token: AccessToken,
        body: Input<EwalletPayment>,
    ) -> Done {
        done(self.ewallet_payment(&api_key, &access_token, &body).await)
    }

    /// Purchase using e-pin: spends a pin worth at least the amount, once.
    #[oai(path = "/epin/payment/", method = "post", operation_id = "mlm_epin_payment")]
    async fn epin_payment_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<EpinPayment>) -> Done {
        done(self.epin_payment(&api_key, &access_token, &body).await)
    }

    /// Get membership packages.
    #[oai(path = "/package/membership/", method = "get", operation_id = "mlm_packages_membership")]
    async fn packages_membership(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<MembershipPackages> {
        reply(self.packages(&api_key, &access_token, PackageKind::Membership).await.map(|rows| {
            MembershipPackages {
                products: rows
                    .into_iter()
                    .map(|p| MembershipPackage { id: p.id, name: p.name, amount: number(p.amount) })
                    .collect(),
            }
        }))
    }

    /// Get signup fee.
    #[oai(path = "/signup/fee/", method = "post", operation_id = "mlm_signup_fee")]
    async fn signup_fee_op(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<SignupFee> {
        reply(self.signup_fee(&api_key, &access_token).await)
    }

    /// Get cart (purchase) packages.
    #[oai(path = "/package/cart/", method = "post", operation_id = "mlm_packages_cart")]
    async fn packages_cart(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<CartPackages> {
        reply(self.packages(&api_key, &access_token, PackageKind::Cart).await.map(|rows| {
            CartPackages {
                products: rows
                    .into_iter()
                    .map(|p| CartPackage {
                        id: p.id,
                        name: p.name,
                        amount: number(p.amount),
                        pv: p.pv as f64,
                        category: p.category,
                        image: p.image,
                    })
                    .collect(),
            }
        }))
    }

    /// Get package details.
    #[oai(path = "/package/:id/", method = "get", operation_id = "mlm_package_get")]
    async fn package_get(&self, api_key: ApiKey, access_token: AccessToken, id: Path<String>) -> Reply<PackageDetails> {
        reply(self.package(&api_key, &access_token, &id).await)
    }

    /// Add product to cart (more of it when it is there already).
    #[oai(path = "/cart/products/", method = "post", operation_id = "mlm_cart_add")]
    async fn cart_add_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<CartAdd>) -> Done {
        done(self.cart_add(&api_key, &access_token, &body).await)
    }

    /// Remove product from cart.
    #[oai(path = "/cart/products/", method = "delete", operation_id = "mlm_cart_remove")]
    async fn cart_remove_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<CartRemove>) -> Done {
        done(self.cart_remove(&api_key, &access_token, Some(body.product_id)).await)
    }

    /// Get products in cart (the seed says POST, which adding a product uses).
    #[oai(path = "/cart/products/", method = "get", operation_id = "mlm_cart_list")]
    async fn cart_list_op(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<CartOut> {
        reply(self.cart_list(&api_key, &access_token).await)
    }

    /// Clear cart products.
    #[oai(path = "/cart/products/all/", method = "post", operation_id = "mlm_cart_clear")]
    async fn cart_clear_op(&self, api_key: ApiKey, access_token: AccessToken) -> Done {
        done(self.cart_remove(&api_key, &access_token, None).await)
    }

    /// Add shipping address; the first one is the default.
    #[oai(path = "/cart/shipping_address/", method = "post", operation_id = "mlm_address_add")]
    async fn address_add_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<AddressAdd>) -> Done {
        done(self.address_add(&api_key, &access_token, &body).await)
    }

    /// Remove shipping address.
    #[oai(path = "/cart/shipping_address/", method = "delete", operation_id = "mlm_address_remove")]
    async fn address_remove_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<AddressId>) -> Done {
        done(self.address_remove(&api_key, &access_token, body.address_id).await)
    }

    /// Get list of shipping addresses.
    #[oai(path = "/cart/shipping_address/", method = "get", operation_id = "mlm_address_list")]
    async fn address_list_op(&self, api_key: ApiKey, access_token: AccessToken) -> Reply<AddressList> {
        reply(self.address_list(&api_key, &access_token).await)
    }

    /// Set default shipping address.
    #[oai(path = "/cart/shipping_address/default", method = "post", operation_id = "mlm_address_default")]
    async fn address_default_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<AddressId>) -> Done {
        done(self.address_default(&api_key, &access_token, body.address_id).await)
    }

    /// Cart checkout: pays the cart by e-wallet or e-pin, ships to the default address (or `address_id`), counts its
    /// PV, empties the cart.
    #[oai(path = "/cart/checkout/", method = "post", operation_id = "mlm_cart_checkout")]
    async fn cart_checkout_op(&self, api_key: ApiKey, access_token: AccessToken, body: Input<Checkout>) -> Done {
        done(self.checkout(&api_key, &access_token, &body).await)
    }

    // ---- admin ----

    /// The business's settings.
    #[oai(path = "/admin/settings", method = "get", operation_id = "mlm_admin_settings_get")]
    async fn admin_settings_get(&self, key: BearerKey, business_id: Query<Option<i64>>) -> Reply<Settings> {
        reply(self.settings_get(&key, business_id.0).await)
    }

    /// Replace the business's settings.
    #[oai(path = "/admin/settings", method = "put", operation_id = "mlm_admin_settings_put")]
    async fn admin_settings_put(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<Settings>,
    ) -> Reply<Settings> {
        reply(self.settings_put(&key, business_id.0, &body).await)
    }

    /// Add a membership or cart package.
    #[oai(path = "/admin/packages", method = "post", operation_id = "mlm_admin_package_create")]
    async fn admin_package_create(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<PackageCreate>,
    ) -> Created<PackageDetails> {
        created(self.package_create(&key, business_id.0, &body).await)
    }

    /// Create the business's top member, under whom every member registers.
    #[oai(path = "/admin/members/top", method = "post", operation_id = "mlm_admin_member_top_create")]
    async fn admin_top_create(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<TopMemberCreate>,
    ) -> Created<MemberOut> {
        created(self.top_create(&key, business_id.0, &body).await)
    }

    /// Members of the business, optionally those whose username, name or email contains `search`.
    #[oai(path = "/admin/members", method = "get", operation_id = "mlm_admin_members_list")]
    async fn admin_members_list(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        search: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<MemberPage> {
        reply(
            async {
                self.members(&key, business_id.0, search.0.as_deref(), Paging::new(PAGE, limit.0, offset.0)?).await
            }
            .await,
        )
    }

    /// Credit (or debit) a member's e-wallet, with the reason in the ledger.
    #[oai(path = "/admin/ewallet/adjust", method = "post", operation_id = "mlm_admin_ewallet_adjust")]
    async fn admin_ewallet_adjust(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<WalletCredit>,
    ) -> Reply<WalletMoved> {
        reply(self.wallet_credit(&key, business_id.0, &body).await)
    }

    /// A member's e-wallet ledger, newest first: every move with its source.
    #[oai(path = "/admin/ewallet/ledger", method = "get", operation_id = "mlm_admin_ewallet_ledger")]
    async fn admin_ewallet_ledger(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        username: Query<String>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<LedgerPage> {
        reply(async { self.ledger(&key, business_id.0, &username, Paging::new(PAGE, limit.0, offset.0)?).await }.await)
    }

    /// Preview a period's compensation: the credits a run would make, nothing credited.
    #[oai(path = "/admin/compensation/preview", method = "post", operation_id = "mlm_admin_compensation_preview")]
    async fn admin_compensation_preview(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<CompensationRequest>,
    ) -> Reply<CompensationRun> {
        reply(self.compensation(&key, business_id.0, &body, false).await)
    }

    /// Run a period's compensation: sponsor bonuses and binary pairing credited to the e-wallets, once per period
    /// (the daily job runs yesterday's by itself).
    #[oai(path = "/admin/compensation/runs", method = "post", operation_id = "mlm_admin_compensation_run")]
    async fn admin_compensation_run(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<CompensationRequest>,
    ) -> Created<CompensationRun> {
        created(self.compensation(&key, business_id.0, &body, true).await)
    }

    /// The committed runs, newest period first.
    #[oai(path = "/admin/compensation/runs", method = "get", operation_id = "mlm_admin_compensation_runs")]
    async fn admin_compensation_runs(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<CompensationRuns> {
        reply(async { self.compensation_runs(&key, business_id.0, Paging::new(PAGE, limit.0, offset.0)?).await }.await)
    }

    /// A member's downline (genealogy), `depth` levels (0 to 10, default 3), breadth first, paged.
    #[oai(path = "/admin/members/genealogy", method = "get", operation_id = "mlm_admin_genealogy")]
    async fn admin_genealogy(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        username: Query<String>,
        depth: Query<Option<i64>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<Genealogy> {
        reply(
            async {
                self.genealogy(&key, business_id.0, &username, depth.0, Paging::new(PAGE, limit.0, offset.0)?).await
            }
            .await,
        )
    }

    /// Approve or reject a member's identity check (KYC); payouts need it verified.
    #[oai(path = "/admin/members/kyc", method = "put", operation_id = "mlm_admin_member_kyc")]
    async fn admin_member_kyc(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<KycDecision>,
    ) -> Done {
        done(self.kyc(&key, business_id.0, &body).await)
    }

    /// Payout requests of the business, newest first, optionally in one status.
    #[oai(path = "/admin/payouts", method = "get", operation_id = "mlm_admin_payouts_list")]
    async fn admin_payouts_list(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        status: Query<Option<PayoutStatus>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<PayoutList> {
        reply(
            async { self.admin_payouts(&key, business_id.0, status.0, Paging::new(PAGE, limit.0, offset.0)?).await }
                .await,
        )
    }

    /// Approve or reject a pending payout request (a rejected one's amount goes back to the e-wallet).
    #[oai(path = "/admin/payouts/:id", method = "put", operation_id = "mlm_admin_payout_decide")]
    async fn admin_payout_decide(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        id: Path<PathId>,
        body: Input<PayoutDecision>,
    ) -> Done {
        let id = match id.get("id") {
            Ok(id) => id,
            Err(e) => return Done::failed(e.into()),
        };
        done(self.payout_decide(&key, business_id.0, id, &body).await)
    }

    /// Change a package: any of its fields, or take it off the offer (`active` false).
    #[oai(path = "/admin/packages/:id", method = "put", operation_id = "mlm_admin_package_update")]
    async fn admin_package_update(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        id: Path<PathId>,
        body: Input<PackageUpdate>,
    ) -> Reply<PackageDetails> {
        let id = match id.get("id") {
            Ok(id) => id,
            Err(e) => return Reply::failed(e.into()),
        };
        reply(self.package_update(&key, business_id.0, id, &body).await)
    }

    /// The e-pin batches, newest first, with how many pins of each are used (the codes are never shown again).
    #[oai(path = "/admin/epins", method = "get", operation_id = "mlm_admin_epins_list")]
    async fn admin_epins_list(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Reply<EpinBatches> {
        reply(async { self.epin_list(&key, business_id.0, Paging::new(PAGE, limit.0, offset.0)?).await }.await)
    }

    /// Generate a batch of e-pins; the codes are shown once.
    #[oai(path = "/admin/epins", method = "post", operation_id = "mlm_admin_epins_create")]
    async fn admin_epins_create(
        &self,
        key: BearerKey,
        business_id: Query<Option<i64>>,
        body: Input<EpinBatchCreate>,
    ) -> Created<EpinBatch> {
        created(self.epin_batch(&key, business_id.0, &body).await)
    }
}
