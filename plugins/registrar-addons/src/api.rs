//! The registrar reseller API at the seed's paths under `/registrar`: customers (with single-use login tokens) and
//! CodeGuard / SiteLock orders and plan changes. Parameters carry the seed's names (`auth-userid`, `api-key`,
//! `customer-id`, `order-id`, `new-plan-id`…): GET operations take them in the query string, POST operations in the
//! body (form or JSON) or the query string. Failures answer `{"status": "ERROR", "message": "…"}`.
//!
//! The calls the registrar's own HTTP API also has answer in its shapes, so its clients only change their base URL:
//! bare values where it answers one (a customer id, `true`, a token), flat maps of strings where it answers a hash
//! map, and a search page of string counts with customers numbered "1", "2", … under dotted keys. The README's
//! "Registrar wire shapes" table gives the source of each.
//!
//! Every operation: authenticate `api-key` (through the core; the plugin must be enabled for the reseller), check that
//! `auth-userid` is the key's reseller, find the target among the customers and orders of that reseller and its
//! sub-resellers, make the one permission check, act.

use std::borrow::Cow;
use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
// `Type` stays out of scope: its `is_empty` (false by default) would shadow `str::is_empty` on a `&&str`.
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON};
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::{Map, Value};
use tessera_core::identity::{hash_secret, new_secret};
use tessera_core::money::{format_money, parse_money};
use tessera_core::{
    now_ms, Caller, CoreError, CoreResult, Email, ErrorEnvelope, Input, Paging, PathParam, PluginContext, StoredEnum,
    Tenant, TenantKind, Tx,
};

use crate::model::{self, ChangePrice, CustomerStatus, InvoiceOption, Pricing, Product, MONTH_MS};
use crate::store::{self, CustomerFilter, CustomerRow, NewCustomer, OrderRow, PlanRow};

#[derive(Tags)]
enum RegistrarTag {
    /// Domain-registrar reseller API: customers, login tokens, CodeGuard and SiteLock orders and plan changes.
    Registrar,
}

// ---- envelope ----

/// Failure: `status` is "ERROR" and `message` says what is wrong, naming the parameter.
#[derive(Object)]
#[oai(rename = "RegistrarError")]
pub struct ErrorBody {
    pub status: String,
    pub message: String,
}

/// The answers of every registrar operation; success is the bare answer, as in the seed.
pub type Reply<T> = tessera_core::Reply<T, ErrorBody>;

impl ErrorEnvelope for ErrorBody {
    /// The one mapping of a core error to the seed's envelope.
    fn from_error(e: &CoreError) -> Self {
        ErrorBody { status: "ERROR".into(), message: e.public_message() }
    }
}

fn reply<T: ToJSON + ParseFromJSON>(r: CoreResult<T>) -> Reply<T> {
    Reply::from_result(r, |v| v)
}

// ---- wire types ----

/// The product segment of a path (`/api/codeguard/…`, `/api/sitelock/…`), documented as `RegistrarProduct`.
pub type ProductParam = PathParam<Product>;

/// The product of a path, or 404 naming `product`: a path under no product is a path that does not exist.
fn product_of(p: &ProductParam) -> CoreResult<Product> {
    p.get("product").map_err(|e| CoreError::not_found(format!("{}; no such product", e.public_message())))
}

#[derive(Object)]
#[oai(rename = "RegistrarSignupRequest")]
pub struct SignupRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    /// The customer's email address, their login.
    #[oai(validator(max_length = 254))]
    pub username: String,
    #[oai(validator(max_length = 200))]
    pub name: String,
    #[oai(validator(max_length = 200))]
    pub company: String,
    #[oai(rename = "address-line-1", validator(max_length = 200))]
    pub address_line_1: String,
    #[oai(rename = "address-line-2", validator(max_length = 200))]
    pub address_line_2: Option<String>,
    #[oai(rename = "address-line-3", validator(max_length = 200))]
    pub address_line_3: Option<String>,
    #[oai(validator(max_length = 100))]
    pub city: String,
    #[oai(validator(max_length = 100))]
    pub state: String,
    /// ISO 3166 country code, e.g. IN.
    #[oai(validator(max_length = 2))]
    pub country: String,
    #[oai(validator(max_length = 20))]
    pub zipcode: String,
    #[oai(rename = "phone-cc", validator(max_length = 4))]
    pub phone_cc: String,
    #[oai(validator(max_length = 15))]
    pub phone: String,
    #[oai(rename = "lang-pref", validator(max_length = 5))]
    pub lang_pref: Option<String>,
}

#[derive(Object)]
#[oai(rename = "RegistrarSuspendRequest")]
pub struct SuspendRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    #[oai(rename = "customer-id")]
    pub customer_id: i64,
    /// Why; stored with the action.
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

#[derive(Object)]
#[oai(rename = "RegistrarUnsuspendRequest")]
pub struct UnsuspendRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    #[oai(rename = "customer-id")]
    pub customer_id: i64,
    /// Why (optional, as in the registrar's API); stored with the action.
    #[oai(validator(max_length = 500))]
    pub reason: Option<String>,
}

#[derive(Object)]
#[oai(rename = "RegistrarAddFundsRequest")]
pub struct AddFundsRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    #[oai(rename = "customer-id")]
    pub customer_id: i64,
    /// Decimal amount > 0 in the reseller's currency.
    pub amount: String,
}

#[derive(Object)]
#[oai(rename = "RegistrarAddPlanRequest")]
pub struct AddPlanRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    #[oai(validator(max_length = 100))]
    pub name: String,
    /// Higher is better: SiteLock orders move only to a higher tier.
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub tier: i64,
    /// Monthly price per tenure: `months:price` pairs, e.g. `1:10.00,12:8.50`.
    #[oai(validator(max_length = 500))]
    pub pricing: String,
}

#[derive(Object)]
#[oai(rename = "RegistrarAddOrderRequest")]
pub struct AddOrderRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    #[oai(rename = "customer-id")]
    pub customer_id: i64,
    #[oai(rename = "domain-name", validator(max_length = 253))]
    pub domain_name: String,
    #[oai(rename = "plan-id")]
    pub plan_id: i64,
    /// A tenure the plan offers.
    pub months: i64,
    #[oai(rename = "invoice-option")]
    pub invoice_option: InvoiceOption,
}

#[derive(Object)]
#[oai(rename = "RegistrarModifyRequest")]
pub struct ModifyRequest {
    #[oai(rename = "auth-userid")]
    pub auth_userid: i64,
    #[oai(rename = "api-key", validator(max_length = 256))]
    pub api_key: String,
    #[oai(rename = "order-id")]
    pub order_id: i64,
    #[oai(rename = "new-plan-id")]
    pub new_plan_id: i64,
    /// CodeGuard: the tenure in the new plan (default: the order's).
    pub months: Option<i64>,
    #[oai(rename = "invoice-option")]
    pub invoice_option: InvoiceOption,
}

/// A customer as `customers/details-by-id.json` answers it in the registrar's API: a flat map of strings.
#[derive(Object)]
#[oai(rename = "RegistrarCustomerDetails")]
pub struct CustomerDetails {
    pub customerid: String,
    /// The customer's email address, their login.
    pub username: String,
    /// The reseller the customer belongs to.
    pub resellerid: String,
    pub name: String,
    pub company: String,
    pub useremail: String,
    pub telnocc: String,
    pub telno: String,
    pub address1: String,
    pub address2: String,
    pub address3: String,
    pub city: String,
    pub state: String,
    /// ISO 3166 country code.
    pub country: String,
    pub zip: String,
    pub pin: String,
    /// Epoch seconds.
    pub creationdt: String,
    /// Active or Suspended.
    pub customerstatus: String,
    /// Empty: Tessera keeps no sales contacts.
    pub salescontactid: String,
    pub langpref: String,
    /// Decimal amount.
    pub totalreceipts: String,
}

impl From<CustomerRow> for CustomerDetails {
    fn from(c: CustomerRow) -> Self {
        CustomerDetails {
            customerid: c.id.to_string(),
            resellerid: c.tenant_id.to_string(),
            useremail: c.username.clone(),
            username: c.username,
            name: c.name,
            company: c.company,
            telnocc: c.telnocc,
            telno: c.telno,
            address1: c.address1,
            address2: c.address2,
            address3: c.address3,
            city: c.city,
            state: c.state,
            country: c.country,
            zip: c.zip,
            pin: c.pin,
            creationdt: (c.created_at / 1000).to_string(),
            customerstatus: c.status,
            salescontactid: String::new(),
            langpref: c.lang,
            totalreceipts: format_money(c.total_receipts),
        }
    }
}

/// The customer a login token was issued for, as `customers/authenticate-token-without-history.json` answers in the
/// seed: a flat map of strings.
#[derive(Object)]
#[oai(rename = "RegistrarTokenCustomer")]
pub struct TokenCustomer {
    pub customerid: String,
    pub username: String,
    /// The reseller the customer belongs to.
    pub resellerid: String,
    /// The parent of that reseller.
    pub parentid: String,
    pub name: String,
    pub company: String,
    pub useremail: String,
    pub telnocc: String,
    pub telno: String,
    pub address1: String,
    pub address2: String,
    pub address3: String,
    pub city: String,
    pub state: String,
    /// ISO 3166 country code.
    pub country: String,
    pub zip: String,
    pub pin: String,
    /// Epoch seconds.
    pub creationdt: String,
    /// Active (a token of a suspended customer does not authenticate).
    pub customerstatus: String,
    /// Empty: Tessera keeps no sales contacts.
    pub salesrepresentative: String,
    pub langpref: String,
    /// Decimal amount.
    pub totalreceipts: String,
}

impl From<CustomerRow> for TokenCustomer {
    fn from(c: CustomerRow) -> Self {
        TokenCustomer {
            customerid: c.id.to_string(),
            resellerid: c.tenant_id.to_string(),
            parentid: c.parent_id.map(|p| p.to_string()).unwrap_or_default(),
            useremail: c.username.clone(),
            username: c.username,
            name: c.name,
            company: c.company,
            telnocc: c.telnocc,
            telno: c.telno,
            address1: c.address1,
            address2: c.address2,
            address3: c.address3,
            city: c.city,
            state: c.state,
            country: c.country,
            zip: c.zip,
            pin: c.pin,
            creationdt: (c.created_at / 1000).to_string(),
            customerstatus: c.status,
            salesrepresentative: String::new(),
            langpref: c.lang,
            totalreceipts: format_money(c.total_receipts),
        }
    }
}

/// One customer of a search page, with the registrar's dotted keys; every value is a string.
#[derive(Object)]
#[oai(rename = "RegistrarSearchEntry")]
pub struct SearchEntry {
    #[oai(rename = "customer.customerid")]
    pub customerid: String,
    #[oai(rename = "customer.username")]
    pub username: String,
    /// The reseller the customer belongs to.
    #[oai(rename = "customer.resellerid")]
    pub resellerid: String,
    #[oai(rename = "customer.name")]
    pub name: String,
    #[oai(rename = "customer.company")]
    pub company: String,
    #[oai(rename = "customer.city")]
    pub city: String,
    #[oai(rename = "customer.state")]
    pub state: String,
    /// ISO 3166 country code.
    #[oai(rename = "customer.country")]
    pub country: String,
    /// Active or Suspended.
    #[oai(rename = "customer.customerstatus")]
    pub customerstatus: String,
    /// Decimal amount.
    #[oai(rename = "customer.totalreceipts")]
    pub totalreceipts: String,
    /// Always "0": Tessera hosts no websites.
    #[oai(rename = "customer.websitecount")]
    pub websitecount: String,
}

impl From<CustomerRow> for SearchEntry {
    fn from(c: CustomerRow) -> Self {
        SearchEntry {
            customerid: c.id.to_string(),
            username: c.username,
            resellerid: c.tenant_id.to_string(),
            name: c.name,
            company: c.company,
            city: c.city,
            state: c.state,
            country: c.country,
            customerstatus: c.status,
            totalreceipts: format_money(c.total_receipts),
            websitecount: "0".into(),
        }
    }
}

/// The parameters of a customer search, as received.
pub struct SearchQuery {
    pub no_of_records: i64,
    pub page_no: i64,
    pub customer_ids: Vec<i64>,
    pub reseller_ids: Vec<i64>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub company: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub status: Option<CustomerStatus>,
    pub creation_date_start: Option<i64>,
    pub creation_date_end: Option<i64>,
    pub total_receipt_start: Option<f64>,
    pub total_receipt_end: Option<f64>,
}

/// A page of a customer search as the registrar answers it: `recsonpage` (customers on this page) and `recsindb`
/// (customers matching), both strings, and the page's customers under the keys "1", "2", … in order. Written by
/// hand: a derived object has fixed keys, and this one's keys are numbers (`additionalProperties` in the document).
pub struct SearchPage {
    pub recsindb: i64,
    pub entries: Vec<SearchEntry>,
}

impl SearchPage {
    const NAME: &'static str = "RegistrarSearchPage";
}

impl poem_openapi::types::Type for SearchPage {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        Self::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::NAME.into())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::NAME.into(), |registry| {
            <SearchEntry as poem_openapi::types::Type>::register(registry);
            let count = |description: &'static str| {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    description: Some(description),
                    ..MetaSchema::new("string")
                }))
            };
            MetaSchema {
                description: Some(
                    "A page of a customer search: the two counts as strings, and each customer of the page under its \
                     number on the page (\"1\", \"2\", …).",
                ),
                required: vec!["recsonpage", "recsindb"],
                properties: vec![
                    ("recsonpage", count("How many customers this page holds (a whole number).")),
                    ("recsindb", count("How many customers match the search (a whole number).")),
                ],
                additional_properties: Some(Box::new(<SearchEntry as poem_openapi::types::Type>::schema_ref())),
                ..MetaSchema::new("object")
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for SearchPage {
    fn to_json(&self) -> Option<Value> {
        let mut page = Map::new();
        page.insert("recsonpage".into(), Value::String(self.entries.len().to_string()));
        page.insert("recsindb".into(), Value::String(self.recsindb.to_string()));
        for (n, entry) in self.entries.iter().enumerate() {
            page.insert((n + 1).to_string(), entry.to_json()?);
        }
        Some(Value::Object(page))
    }
}

impl ParseFromJSON for SearchPage {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let Some(Value::Object(mut page)) = value else {
            return Err(ParseError::custom("a search page is an object"));
        };
        let mut count = |key: &str| -> Result<i64, ParseError<Self>> {
            match page.remove(key) {
                Some(Value::String(s)) => s.parse().map_err(|_| ParseError::custom(format!("{key}: not a number"))),
                _ => Err(ParseError::custom(format!("{key}: a string is required"))),
            }
        };
        let (on_page, recsindb) = (count("recsonpage")?, count("recsindb")?);
        let mut numbered = Vec::new();
        for (key, value) in page {
            let n: usize = key.parse().map_err(|_| ParseError::custom(format!("`{key}` is not an entry number")))?;
            numbered.push((n, SearchEntry::parse_from_json(Some(value)).map_err(ParseError::propagate)?));
        }
        numbered.sort_by_key(|(n, _)| *n);
        if numbered.iter().enumerate().any(|(i, (n, _))| *n != i + 1) || numbered.len() as i64 != on_page {
            return Err(ParseError::custom("entries must be numbered 1 to recsonpage"));
        }
        Ok(SearchPage { recsindb, entries: numbered.into_iter().map(|(_, e)| e).collect() })
    }
}

#[derive(Object)]
#[oai(rename = "RegistrarFunds")]
pub struct FundsOut {
    pub customerid: i64,
    /// Available funds, decimal.
    pub funds: String,
}

#[derive(Object)]
#[oai(rename = "RegistrarTenurePrice")]
pub struct TenurePrice {
    pub months: i64,
    /// Monthly price, decimal.
    pub monthlyprice: String,
}

#[derive(Object)]
#[oai(rename = "RegistrarPlan")]
pub struct PlanOut {
    pub planid: i64,
    pub name: String,
    pub tier: i64,
    pub pricing: Vec<TenurePrice>,
}

#[derive(Object)]
#[oai(rename = "RegistrarPlanList")]
pub struct PlanList {
    pub currency: String,
    pub plans: Vec<PlanOut>,
}

/// An order as `codeguard/details.json` and `sitelock/details.json` answer in the registrar's API: a flat map of
/// strings (booleans as "true" / "false"), with Tessera's own `months` and `pendingplanid` besides.
#[derive(Object)]
#[oai(rename = "RegistrarOrderDetails")]
pub struct OrderDetails {
    /// The order id.
    pub entityid: String,
    /// The order id (as `entityid`).
    pub orderid: String,
    /// The domain name.
    pub description: String,
    pub domainname: String,
    /// Active, or InActive while the purchase waits for its invoice to be paid.
    pub currentstatus: String,
    /// codeguard or sitelock.
    pub productkey: String,
    pub planid: String,
    /// Always "false": Tessera never pauses a plan.
    pub paused: String,
    /// Epoch seconds.
    pub creationtime: String,
    /// Epoch seconds.
    pub endtime: String,
    /// "true" when the customer belongs to the calling reseller itself, "false" for a sub-reseller's.
    #[oai(rename = "isImmediateReseller")]
    pub is_immediate_reseller: String,
    /// The chain of tenant ids from the platform down to the customer's reseller, joined by "_".
    pub parentkey: String,
    pub customerid: String,
    /// Always "false": Tessera does not suspend orders.
    #[oai(rename = "isOrderSuspendedUponExpiry")]
    pub is_order_suspended_upon_expiry: String,
    /// Always "false": Tessera does not suspend orders.
    #[oai(rename = "orderSuspendedByParent")]
    pub order_suspended_by_parent: String,
    /// Always "false": orders are not deleted through this API.
    pub allowdeletion: String,
    /// Always "false": orders do not renew by themselves.
    pub recurring: String,
    /// The tenure in months.
    pub months: String,
    /// The plan an unpaid change waits to move to; absent when none waits.
    #[oai(skip_serializing_if_is_none)]
    pub pendingplanid: Option<String>,
}

impl OrderDetails {
    fn new(o: OrderRow, product: Product, caller: &Tenant) -> Self {
        let id = o.id.to_string();
        let chain: Vec<&str> = o.path.split('/').filter(|s| !s.is_empty()).collect();
        let no = || "false".to_string();
        OrderDetails {
            entityid: id.clone(),
            orderid: id,
            description: o.domain.clone(),
            domainname: o.domain,
            currentstatus: if o.status == "Active" { "Active" } else { "InActive" }.into(),
            productkey: product.stored(),
            planid: o.plan_id.to_string(),
            paused: no(),
            creationtime: (o.start_at / 1000).to_string(),
            endtime: (o.end_at / 1000).to_string(),
            is_immediate_reseller: (o.tenant_id == caller.id).to_string(),
            parentkey: chain.join("_"),
            customerid: o.customer_id.to_string(),
            is_order_suspended_upon_expiry: no(),
            order_suspended_by_parent: no(),
            allowdeletion: no(),
            recurring: no(),
            months: o.months.to_string(),
            pendingplanid: o.pending_plan_id.map(|p| p.to_string()),
        }
    }
}

/// The five figures of a plan change.
#[derive(Object)]
#[oai(rename = "RegistrarModifyPricing")]
pub struct ModifyPricingOut {
    pub upgradecost: f64,
    #[oai(rename = "modifiedOrderPrice")]
    pub modified_order_price: f64,
    /// Epoch seconds.
    pub endtime: String,
    pub remainingmonths: i64,
    #[oai(rename = "currentOrderPrice")]
    pub current_order_price: f64,
}

/// An action on an order (a purchase, a plan change), as the seed's hash map; every value is a string, as in the
/// registrar's API. The invoice fields are absent with NoInvoice.
#[derive(Object)]
#[oai(rename = "RegistrarAction")]
pub struct ActionOut {
    /// The domain name.
    pub description: String,
    /// The order id.
    pub entityid: String,
    pub actiontype: String,
    pub actiontypedesc: String,
    pub eaqid: String,
    /// Success or Pending.
    pub actionstatus: String,
    pub actionstatusdesc: String,
    #[oai(skip_serializing_if_is_none)]
    pub invoiceid: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub sellingcurrencysymbol: Option<String>,
    /// The invoice's amount, decimal.
    #[oai(skip_serializing_if_is_none)]
    pub sellingamount: Option<String>,
    /// The customer's funds left after this action, decimal.
    #[oai(skip_serializing_if_is_none)]
    pub unutilisedsellingamount: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub customerid: Option<String>,
}

fn decimal(minor: i64) -> f64 {
    minor as f64 / 100.0
}

// ---- the API ----

/// `[plugins.registrar]` settings.
#[derive(serde::Deserialize)]
#[serde(default)]
pub struct RegistrarConfig {
    /// The currency of plan prices and invoices.
    pub currency: String,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig { currency: "USD".into() }
    }
}

pub struct RegistrarApi {
    ctx: PluginContext,
    currency: String,
}

/// A login token lives 120 seconds.
const LOGIN_TOKEN_MS: i64 = 120_000;

impl RegistrarApi {
    pub fn new(ctx: PluginContext) -> CoreResult<Self> {
        let config: RegistrarConfig = ctx.config()?;
        let currency = config.currency.trim().to_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CoreError::invalid("plugins.registrar.currency", "must be a three-letter currency code"));
        }
        Ok(RegistrarApi { ctx, currency })
    }

    /// `auth-userid` + `api-key` → the caller and its reseller tenant.
    async fn reseller(&self, auth_userid: i64, api_key: &str) -> CoreResult<(Caller, Arc<Tenant>)> {
        let caller = self.ctx.authenticate_key(api_key).await?;
        if caller.tenant_id() != auth_userid || caller.tenant().kind() != TenantKind::Reseller {
            return Err(CoreError::Unauthenticated("auth-userid and api-key do not match a reseller".into()));
        }
        let tenant = caller.tenant().clone();
        Ok((caller, tenant))
    }

    async fn customer(&self, reseller: &Tenant, id: i64) -> CoreResult<CustomerRow> {
        store::customer(self.ctx.pool(), &reseller.path, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("customer-id: customer {id} not found")))
    }

    async fn order(&self, reseller: &Tenant, product: Product, id: i64) -> CoreResult<OrderRow> {
        store::order(self.ctx.pool(), &reseller.path, product, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("order-id: {} order {id} not found", product.title())))
    }

    async fn plan(&self, tenant_id: i64, product: Product, field: &str, id: i64) -> CoreResult<(PlanRow, Pricing)> {
        let plan = store::plan(self.ctx.pool(), tenant_id, product, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("{field}: {} plan {id} not found", product.title())))?;
        let pricing: Pricing =
            serde_json::from_str(&plan.pricing).map_err(|e| CoreError::internal(format!("plan pricing: {e}")))?;
        Ok((plan, pricing))
    }

    async fn customers_signup_op(&self, req: &SignupRequest) -> CoreResult<i64> {
        let (caller, reseller) = self.reseller(req.auth_userid, &req.api_key).await?;
        self.ctx.require(&caller, "registrar:customer", "create", &reseller).await?;
        let username = Email::parse("username", &req.username)?;
        for (field, value) in [
            ("name", &req.name),
            ("company", &req.company),
            ("address-line-1", &req.address_line_1),
            ("city", &req.city),
        ] {
            if value.trim().is_empty() {
                return Err(CoreError::invalid(field, "must not be empty"));
            }
        }
        if req.country.len() != 2 || !req.country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CoreError::invalid("country", "must be a two-letter country code"));
        }
        let digits = |field: &str, v: &str| -> CoreResult<()> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CoreError::invalid(field, "must be digits only"));
            }
            Ok(())
        };
        digits("phone-cc", &req.phone_cc)?;
        digits("phone", &req.phone)?;
        if store::username_taken(self.ctx.pool(), reseller.id, username.as_str()).await? {
            return Err(CoreError::conflict(format!("username: {username} is already a customer of this reseller")));
        }
        let pin: String = new_secret("").chars().filter(char::is_ascii_digit).take(4).collect();
        let customer = NewCustomer {
            tenant_id: reseller.id,
            username: username.as_str(),
            name: req.name.trim(),
            company: req.company.trim(),
            telnocc: &req.phone_cc,
            telno: &req.phone,
            address: [
                req.address_line_1.trim(),
                req.address_line_2.as_deref().unwrap_or("").trim(),
                req.address_line_3.as_deref().unwrap_or("").trim(),
            ],
            city: req.city.trim(),
            state: req.state.trim(),
            country: &req.country.to_uppercase(),
            zip: req.zipcode.trim(),
            pin: &format!("{pin:0<4}"),
            lang: req.lang_pref.as_deref().unwrap_or("en"),
        };
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_customer(&mut tx, &customer, now_ms()).await?;
        self.ctx.audit(&mut tx, &caller, &reseller, "customer.signup", &format!("registrar_customer:{id}")).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn customers_details_op(
        &self,
        auth_userid: i64,
        api_key: &str,
        customer_id: i64,
    ) -> CoreResult<CustomerDetails> {
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        let customer = self.customer(&reseller, customer_id).await?;
        self.ctx.require(&caller, "registrar:customer", "read", &reseller).await?;
        Ok(customer.into())
    }

    async fn customers_search_op(&self, auth_userid: i64, api_key: &str, q: &SearchQuery) -> CoreResult<SearchPage> {
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        self.ctx.require(&caller, "registrar:customer", "read", &reseller).await?;
        let page = Paging::numbered(model::CUSTOMER_PAGE, Some(q.no_of_records), Some(q.page_no))?;
        for (field, ids) in [("customer-id", &q.customer_ids), ("reseller-id", &q.reseller_ids)] {
            if ids.len() > model::MAX_SEARCH_IDS {
                return Err(CoreError::invalid(field, format!("takes at most {} ids", model::MAX_SEARCH_IDS)));
            }
        }
        let receipts_above =
            q.total_receipt_start.map(|x| model::receipts_bound("total-receipt-start", x, true)).transpose()?;
        let receipts_below =
            q.total_receipt_end.map(|x| model::receipts_bound("total-receipt-end", x, false)).transpose()?;
        if q.status == Some(CustomerStatus::Deleted) {
            // Customers are never deleted here: no customer is Deleted.
            return Ok(SearchPage { recsindb: 0, entries: Vec::new() });
        }
        let (created_from, created_before) = model::creation_bounds(q.creation_date_start, q.creation_date_end);
        let filter = CustomerFilter {
            customer_ids: &q.customer_ids,
            reseller_ids: &q.reseller_ids,
            username: q.username.as_deref(),
            name: q.name.as_deref(),
            company: q.company.as_deref(),
            city: q.city.as_deref(),
            state: q.state.as_deref(),
            status: q.status.map(StoredEnum::stored),
            created_from,
            created_before,
            receipts_above,
            receipts_below,
        };
        let (rows, total) = store::search_customers(self.ctx.reader(), &reseller.path, &filter, page).await?;
        Ok(SearchPage { recsindb: total, entries: rows.into_iter().map(Into::into).collect() })
    }

    async fn customers_suspend_op(&self, req: &SuspendRequest) -> CoreResult<bool> {
        self.set_status(req.auth_userid, &req.api_key, req.customer_id, Some(&req.reason), true).await
    }

    async fn customers_unsuspend_op(&self, req: &UnsuspendRequest) -> CoreResult<bool> {
        self.set_status(req.auth_userid, &req.api_key, req.customer_id, req.reason.as_deref(), false).await
    }

    async fn customers_add_funds_op(&self, req: &AddFundsRequest) -> CoreResult<FundsOut> {
        let (caller, reseller) = self.reseller(req.auth_userid, &req.api_key).await?;
        let customer = self.customer(&reseller, req.customer_id).await?;
        self.ctx.require(&caller, "registrar:customer", "update", &reseller).await?;
        let amount = parse_money("amount", &req.amount)?;
        if amount <= 0 {
            return Err(CoreError::invalid("amount", "must be greater than 0"));
        }
        let mut tx = self.ctx.begin().await?;
        let funds = store::add_funds(&mut tx, customer.id, amount).await?.ok_or_else(|| {
            CoreError::conflict(format!(
                "amount: the customer's funds or receipts would pass the largest balance kept, {}",
                format_money(tessera_core::money::MAX_BALANCE)
            ))
        })?;
        let object = format!("registrar_customer:{}", customer.id);
        self.ctx.audit(&mut tx, &caller, &reseller, "customer.add_funds", &object).await?;
        tx.commit().await?;
        Ok(FundsOut { customerid: customer.id, funds: format_money(funds) })
    }

    async fn customers_login_token_op(
        &self,
        auth_userid: i64,
        api_key: &str,
        customer_id: i64,
        ip: &str,
    ) -> CoreResult<String> {
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        let customer = self.customer(&reseller, customer_id).await?;
        self.ctx.require(&caller, "registrar:customer", "update", &reseller).await?;
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(CoreError::invalid("ip", "must be an IPv4 or IPv6 address"));
        }
        if customer.status != "Active" {
            return Err(CoreError::conflict(format!("customer-id: customer {} is {}", customer.id, customer.status)));
        }
        let token = new_secret("");
        let expires = now_ms() + LOGIN_TOKEN_MS;
        store::insert_login_token(self.ctx.writer(), &hash_secret(&token), customer.tenant_id, customer.id, expires)
            .await?;
        Ok(token)
    }

    async fn customers_authenticate_token_op(
        &self,
        auth_userid: i64,
        api_key: &str,
        token: &str,
    ) -> CoreResult<TokenCustomer> {
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        self.ctx.require(&caller, "registrar:customer", "read", &reseller).await?;
        let id = store::consume_login_token(self.ctx.writer(), &hash_secret(token), &reseller.path, now_ms())
            .await?
            .ok_or_else(|| CoreError::Unauthenticated("token: unknown, expired or already used".into()))?;
        let customer = self.customer(&reseller, id).await?;
        if customer.status != "Active" {
            // A token issued before a suspension dies with it.
            return Err(CoreError::Unauthenticated(format!("token: customer {} is {}", customer.id, customer.status)));
        }
        Ok(customer.into())
    }

    /// Suspends or unsuspends a customer, with the reason stored on the action (a suspension needs one, an
    /// unsuspension may give one); `true` when done, as the registrar answers.
    async fn set_status(
        &self,
        auth_userid: i64,
        api_key: &str,
        customer_id: i64,
        reason: Option<&str>,
        suspend: bool,
    ) -> CoreResult<bool> {
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        let customer = self.customer(&reseller, customer_id).await?;
        self.ctx.require(&caller, "registrar:customer", "update", &reseller).await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if suspend && reason.is_none() {
            return Err(CoreError::invalid("reason", "must not be empty"));
        }
        let (from, to, kind) =
            if suspend { ("Active", "Suspended", "Suspend") } else { ("Suspended", "Active", "Unsuspend") };
        if customer.status != from {
            return Err(CoreError::conflict(format!("customer-id: customer {} is {}", customer.id, customer.status)));
        }
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        store::set_customer_status(&mut tx, customer.id, to).await?;
        store::insert_action(
            &mut tx,
            customer.tenant_id,
            customer.id,
            None,
            kind,
            reason.unwrap_or(kind),
            "Success",
            reason,
            now,
        )
        .await?;
        let object = format!("registrar_customer:{}", customer.id);
        self.ctx.audit(&mut tx, &caller, &reseller, &format!("customer.{}", kind.to_lowercase()), &object).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Buys a product for a customer: an order, its action, and (unless NoInvoice) its invoice, in one transaction.
    async fn products_add_op(&self, product: &ProductParam, req: &AddOrderRequest) -> CoreResult<ActionOut> {
        let product = product_of(product)?;
        let (caller, reseller) = self.reseller(req.auth_userid, &req.api_key).await?;
        let customer = self.customer(&reseller, req.customer_id).await?;
        self.ctx.require(&caller, "registrar:order", "create", &reseller).await?;
        if customer.status != "Active" {
            return Err(CoreError::conflict(format!("customer-id: customer {} is {}", customer.id, customer.status)));
        }
        let domain = req.domain_name.trim().to_lowercase();
        let host_ok = domain.contains('.')
            && domain.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !host_ok {
            return Err(CoreError::invalid("domain-name", "must be a domain name like example.com"));
        }
        let (plan, pricing) = self.plan(customer.tenant_id, product, "plan-id", req.plan_id).await?;
        let amount = model::monthly(&pricing, "months", req.months)? * req.months;
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        let order_id = store::insert_order(
            &mut tx,
            customer.tenant_id,
            customer.id,
            product,
            &domain,
            plan.id,
            req.months,
            now,
            now + req.months * MONTH_MS,
            "Pending",
        )
        .await?;
        let desc = format!("Purchase of {} plan {} for {} months", product.title(), plan.name, req.months);
        let out = self
            .invoice_and_execute(
                &mut tx,
                &customer,
                order_id,
                &domain,
                "Add",
                &desc,
                amount,
                req.invoice_option,
                plan.id,
                true,
            )
            .await?;
        self.ctx
            .audit(
                &mut tx,
                &caller,
                &reseller,
                &format!("{}.add", product.stored()),
                &format!("registrar_order:{order_id}"),
            )
            .await?;
        self.order_event(&mut tx, crate::ORDER_CREATED, product, &customer, order_id, &domain, plan.id, &out).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Records an order event for the webhooks of the customer's reseller and of the tenants above it.
    #[allow(clippy::too_many_arguments)]
    async fn order_event(
        &self,
        tx: &mut Tx,
        event: &str,
        product: Product,
        customer: &CustomerRow,
        order_id: i64,
        domain: &str,
        plan_id: i64,
        action: &ActionOut,
    ) -> CoreResult<()> {
        let owner =
            self.ctx.tenant(customer.tenant_id).await?.ok_or_else(|| CoreError::internal("customer of no tenant"))?;
        let payload = serde_json::json!({
            "orderid": order_id,
            "product": product.stored(),
            "customerid": customer.id,
            "domain-name": domain,
            "planid": plan_id,
            "actionstatus": action.actionstatus,
            // The event keeps its numeric invoice id; the wire answer spells it as a string.
            "invoiceid": action.invoiceid.as_deref().and_then(|id| id.parse::<i64>().ok()),
        });
        self.ctx.emit(tx, &owner, event, &payload).await
    }

    /// Applies an invoice option to an action of `amount` on an order, and executes the action when the option
    /// allows: NoInvoice and KeepInvoice execute at once, PayInvoice when the funds cover it, OnlyAdd never (it waits
    /// for payment). `new_order` marks a purchase (the order becomes Active) rather than a plan change.
    #[allow(clippy::too_many_arguments)]
    async fn invoice_and_execute(
        &self,
        tx: &mut sqlx::AnyConnection,
        customer: &CustomerRow,
        order_id: i64,
        domain: &str,
        kind: &str,
        desc: &str,
        amount: i64,
        option: InvoiceOption,
        plan_id: i64,
        new_order: bool,
    ) -> CoreResult<ActionOut> {
        let amount = amount.max(0);
        let (paid, funds_left) = match option {
            InvoiceOption::PayInvoice => match store::take_funds(tx, customer.id, amount).await? {
                Some(left) => (true, left),
                None => (false, customer.funds),
            },
            _ => (false, customer.funds),
        };
        let execute = match option {
            InvoiceOption::NoInvoice | InvoiceOption::KeepInvoice => true,
            InvoiceOption::PayInvoice => paid,
            InvoiceOption::OnlyAdd => false,
        };
        let status = if execute { "Success" } else { "Pending" };
        if new_order {
            if execute {
                store::activate_order(tx, order_id).await?;
            }
        } else {
            store::change_plan(tx, order_id, plan_id, execute).await?;
        }
        let eaqid = store::insert_action(
            tx,
            customer.tenant_id,
            customer.id,
            Some(order_id),
            kind,
            desc,
            status,
            None,
            now_ms(),
        )
        .await?;
        let status_desc = match (option, execute) {
            (_, true) => "Action completed successfully".to_string(),
            (InvoiceOption::PayInvoice, false) => {
                format!(
                    "Insufficient funds: {} needed, {} available; the invoice is unpaid",
                    format_money(amount),
                    format_money(customer.funds)
                )
            }
            _ => "Waiting for the invoice to be paid".to_string(),
        };
        let mut out = ActionOut {
            description: domain.to_string(),
            entityid: order_id.to_string(),
            actiontype: kind.into(),
            actiontypedesc: desc.into(),
            eaqid: eaqid.to_string(),
            actionstatus: status.into(),
            actionstatusdesc: status_desc,
            invoiceid: None,
            sellingcurrencysymbol: None,
            sellingamount: None,
            unutilisedsellingamount: None,
            customerid: None,
        };
        if option != InvoiceOption::NoInvoice {
            let invoice_status = if paid { "Paid" } else { "Unpaid" };
            let invoice = store::insert_invoice(
                tx,
                customer.tenant_id,
                customer.id,
                order_id,
                eaqid,
                amount,
                invoice_status,
                now_ms(),
            )
            .await?;
            out.invoiceid = Some(invoice.to_string());
            out.sellingcurrencysymbol = Some(self.currency.clone());
            out.sellingamount = Some(format_money(amount));
            out.unutilisedsellingamount = Some(format_money(funds_left));
            out.customerid = Some(customer.id.to_string());
        }
        Ok(out)
    }

    /// Everything a plan change needs, checked: the order, its customer, both plans, and the price.
    async fn change(
        &self,
        product: Product,
        reseller: &Tenant,
        order_id: i64,
        new_plan_id: i64,
        plan_field: &str,
        months: Option<i64>,
    ) -> CoreResult<(OrderRow, PlanRow, ChangePrice)> {
        let order = self.order(reseller, product, order_id).await?;
        if order.status != "Active" {
            return Err(CoreError::invalid("order-id", format!("order {} is {}", order.id, order.status)));
        }
        if order.pending_plan_id.is_some() {
            return Err(CoreError::invalid(
                "order-id",
                format!("order {} has a plan change waiting for payment", order.id),
            ));
        }
        let (current, current_pricing) = self.plan(order.tenant_id, product, "order-id", order.plan_id).await?;
        let (new, new_pricing) = self.plan(order.tenant_id, product, plan_field, new_plan_id).await?;
        product.check_change(current.id, current.tier, new.id, new.tier)?;
        let current_monthly = model::monthly(&current_pricing, "order-id", order.months)?;
        let new_monthly = model::monthly(&new_pricing, "months", months.unwrap_or(order.months))?;
        let price = ChangePrice::new(model::remaining_months(now_ms(), order.end_at), current_monthly, new_monthly);
        Ok((order, new, price))
    }

    async fn products_plan_details_op(
        &self,
        product: &ProductParam,
        auth_userid: i64,
        api_key: &str,
    ) -> CoreResult<PlanList> {
        let product = product_of(product)?;
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        self.ctx.require(&caller, "registrar:plan", "read", &reseller).await?;
        let mut plans = Vec::new();
        for row in store::plans(self.ctx.pool(), reseller.id, product).await? {
            let (plan, pricing) = self.plan(reseller.id, product, "plan-id", row.id).await?;
            plans.push(PlanOut {
                planid: plan.id,
                name: plan.name,
                tier: plan.tier,
                pricing: pricing
                    .iter()
                    .map(|(m, p)| TenurePrice { months: *m, monthlyprice: format_money(*p) })
                    .collect(),
            });
        }
        Ok(PlanList { currency: self.currency.clone(), plans })
    }

    async fn products_add_plan_op(&self, product: &ProductParam, req: &AddPlanRequest) -> CoreResult<i64> {
        let product = product_of(product)?;
        let (caller, reseller) = self.reseller(req.auth_userid, &req.api_key).await?;
        self.ctx.require(&caller, "registrar:plan", "create", &reseller).await?;
        if req.name.trim().is_empty() {
            return Err(CoreError::invalid("name", "must not be empty"));
        }
        let pricing = model::parse_pricing("pricing", &req.pricing)?;
        let text = serde_json::to_string(&pricing).map_err(CoreError::internal)?;
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_plan(&mut tx, reseller.id, product, req.name.trim(), req.tier, &text, now_ms()).await?;
        self.ctx
            .audit(
                &mut tx,
                &caller,
                &reseller,
                &format!("{}.add_plan", product.stored()),
                &format!("registrar_plan:{id}"),
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn products_details_op(
        &self,
        product: &ProductParam,
        auth_userid: i64,
        api_key: &str,
        order_id: i64,
    ) -> CoreResult<OrderDetails> {
        let product = product_of(product)?;
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        let order = self.order(&reseller, product, order_id).await?;
        self.ctx.require(&caller, "registrar:order", "read", &reseller).await?;
        Ok(OrderDetails::new(order, product, &reseller))
    }

    async fn products_validate_modify_op(
        &self,
        product: &ProductParam,
        auth_userid: i64,
        api_key: &str,
        order_id: i64,
        new_plan: i64,
    ) -> CoreResult<String> {
        let product = product_of(product)?;
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        self.ctx.require(&caller, "registrar:order", "read", &reseller).await?;
        self.change(product, &reseller, order_id, new_plan, "new-planid", None).await?;
        Ok("true".into())
    }

    async fn products_modify_pricing_op(
        &self,
        product: &ProductParam,
        auth_userid: i64,
        api_key: &str,
        order_id: i64,
        new_plan: i64,
        months: Option<i64>,
    ) -> CoreResult<ModifyPricingOut> {
        let product = product_of(product)?;
        let months = product.quote_months(months)?;
        let (caller, reseller) = self.reseller(auth_userid, api_key).await?;
        self.ctx.require(&caller, "registrar:order", "read", &reseller).await?;
        let (order, _, price) = self.change(product, &reseller, order_id, new_plan, "new-plan-id", months).await?;
        Ok(ModifyPricingOut {
            upgradecost: decimal(price.upgrade_cost()),
            modified_order_price: decimal(price.modified),
            endtime: (order.end_at / 1000).to_string(),
            remainingmonths: price.remaining_months,
            current_order_price: decimal(price.current),
        })
    }

    async fn products_modify_op(&self, product: &ProductParam, req: &ModifyRequest) -> CoreResult<ActionOut> {
        let product = product_of(product)?;
        let (caller, reseller) = self.reseller(req.auth_userid, &req.api_key).await?;
        self.ctx.require(&caller, "registrar:order", "update", &reseller).await?;
        let months = product.change_months(req.months);
        let (order, plan, price) =
            self.change(product, &reseller, req.order_id, req.new_plan_id, "new-plan-id", months).await?;
        let customer = self.customer(&reseller, order.customer_id).await?;
        let desc = format!("Modification of {} order {} to plan {}", product.title(), order.id, plan.name);
        let mut tx = self.ctx.begin().await?;
        let out = self
            .invoice_and_execute(
                &mut tx,
                &customer,
                order.id,
                &order.domain,
                "Mod",
                &desc,
                price.upgrade_cost(),
                req.invoice_option,
                plan.id,
                false,
            )
            .await?;
        self.ctx
            .audit(
                &mut tx,
                &caller,
                &reseller,
                &format!("{}.modify", product.stored()),
                &format!("registrar_order:{}", order.id),
            )
            .await?;
        self.order_event(&mut tx, crate::ORDER_MODIFIED, product, &customer, order.id, &order.domain, plan.id, &out)
            .await?;
        tx.commit().await?;
        Ok(out)
    }
}

#[OpenApi(tag = "RegistrarTag::Registrar")]
impl RegistrarApi {
    /// Create a customer of the reseller; answers the customer id.
    #[oai(path = "/api/customers/signup.json", method = "post", operation_id = "registrar_customers_signup")]
    async fn customers_signup(&self, body: Input<SignupRequest>) -> Reply<i64> {
        reply(self.customers_signup_op(&body).await)
    }

    /// A customer's details, as a flat map of strings.
    #[oai(path = "/api/customers/details-by-id.json", method = "get", operation_id = "registrar_customers_details")]
    async fn customers_details(
        &self,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        #[oai(name = "customer-id")] customer_id: Query<i64>,
    ) -> Reply<CustomerDetails> {
        reply(self.customers_details_op(*auth_userid, &api_key, *customer_id).await)
    }

    /// Search the customers of the reseller and its sub-resellers, a page at a time: the counts and the page's
    /// customers numbered from "1", every value a string. Text filters match a part, ignoring case; bounds are
    /// exclusive.
    #[oai(path = "/api/customers/search.json", method = "get", operation_id = "registrar_customers_search")]
    #[allow(clippy::too_many_arguments)]
    async fn customers_search(
        &self,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        /// Customers per page, 1 to 500.
        #[oai(name = "no-of-records")]
        no_of_records: Query<i64>,
        /// The page, from 1.
        #[oai(name = "page-no")]
        page_no: Query<i64>,
        /// Customer ids (repeat the parameter for several).
        #[oai(name = "customer-id")]
        customer_id: Query<Option<Vec<i64>>>,
        /// Ids of the resellers (the caller or its sub-resellers) whose customers to search (repeat for several).
        #[oai(name = "reseller-id")]
        reseller_id: Query<Option<Vec<i64>>>,
        /// Part of the username (an email address).
        username: Query<Option<String>>,
        /// Part of the name.
        name: Query<Option<String>>,
        /// Part of the company name.
        company: Query<Option<String>>,
        /// Part of the city.
        city: Query<Option<String>>,
        /// Part of the state.
        state: Query<Option<String>>,
        /// Active, Suspended or Deleted (Tessera deletes no customer: an empty page).
        status: Query<Option<CustomerStatus>>,
        /// UNIX seconds: customers created after it.
        #[oai(name = "creation-date-start")]
        creation_date_start: Query<Option<i64>>,
        /// UNIX seconds: customers created before it.
        #[oai(name = "creation-date-end")]
        creation_date_end: Query<Option<i64>>,
        /// Customers whose total receipts are greater than this amount.
        #[oai(name = "total-receipt-start")]
        total_receipt_start: Query<Option<f64>>,
        /// Customers whose total receipts are less than this amount.
        #[oai(name = "total-receipt-end")]
        total_receipt_end: Query<Option<f64>>,
    ) -> Reply<SearchPage> {
        let q = SearchQuery {
            no_of_records: *no_of_records,
            page_no: *page_no,
            customer_ids: customer_id.0.unwrap_or_default(),
            reseller_ids: reseller_id.0.unwrap_or_default(),
            username: username.0,
            name: name.0,
            company: company.0,
            city: city.0,
            state: state.0,
            status: *status,
            creation_date_start: *creation_date_start,
            creation_date_end: *creation_date_end,
            total_receipt_start: *total_receipt_start,
            total_receipt_end: *total_receipt_end,
        };
        reply(self.customers_search_op(*auth_userid, &api_key, &q).await)
    }

    /// Suspend a customer; the reason is stored with the action. Answers true.
    #[oai(path = "/api/customers/suspend.json", method = "post", operation_id = "registrar_customers_suspend")]
    async fn customers_suspend(&self, body: Input<SuspendRequest>) -> Reply<bool> {
        reply(self.customers_suspend_op(&body).await)
    }

    /// Unsuspend a suspended customer; a reason, if given, is stored with the action. Answers true.
    #[oai(path = "/api/customers/unsuspend.json", method = "post", operation_id = "registrar_customers_unsuspend")]
    async fn customers_unsuspend(&self, body: Input<UnsuspendRequest>) -> Reply<bool> {
        reply(self.customers_unsuspend_op(&body).await)
    }

    /// Add funds to a customer's account (a receipt), used to pay invoices.
    #[oai(path = "/api/customers/add-funds.json", method = "post", operation_id = "registrar_customers_add_funds")]
    async fn customers_add_funds(&self, body: Input<AddFundsRequest>) -> Reply<FundsOut> {
        reply(self.customers_add_funds_op(&body).await)
    }

    /// A login token for a customer's control panel: valid 120 seconds, usable once.
    #[oai(
        path = "/api/customers/generate-login-token.json",
        method = "get",
        operation_id = "registrar_customers_login_token"
    )]
    async fn customers_login_token(
        &self,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        #[oai(name = "customer-id")] customer_id: Query<i64>,
        /// The customer's IP address.
        ip: Query<String>,
    ) -> Reply<String> {
        reply(self.customers_login_token_op(*auth_userid, &api_key, *customer_id, &ip).await)
    }

    /// Check a customer login token (once) and answer the customer's details.
    #[oai(
        path = "/api/customers/authenticate-token-without-history.json",
        method = "get",
        operation_id = "registrar_customers_authenticate_token"
    )]
    async fn customers_authenticate_token(
        &self,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        token: Query<String>,
    ) -> Reply<TokenCustomer> {
        reply(self.customers_authenticate_token_op(*auth_userid, &api_key, &token).await)
    }

    /// The reseller's plans of a product (CodeGuard or SiteLock), with the monthly price per tenure.
    #[oai(path = "/api/:product/plan-details.json", method = "get", operation_id = "registrar_products_plan_details")]
    async fn products_plan_details(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
    ) -> Reply<PlanList> {
        reply(self.products_plan_details_op(&product, *auth_userid, &api_key).await)
    }

    /// Add a plan of a product the reseller sells; answers the plan id.
    #[oai(path = "/api/:product/add-plan.json", method = "post", operation_id = "registrar_products_add_plan")]
    async fn products_add_plan(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        body: Input<AddPlanRequest>,
    ) -> Reply<i64> {
        reply(self.products_add_plan_op(&product, &body).await)
    }

    /// Buy a product for a customer's domain; the invoice option decides the invoice and when the order starts.
    #[oai(path = "/api/:product/add.json", method = "post", operation_id = "registrar_products_add")]
    async fn products_add(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        body: Input<AddOrderRequest>,
    ) -> Reply<ActionOut> {
        reply(self.products_add_op(&product, &body).await)
    }

    /// An order's details, as a flat map of strings.
    #[oai(path = "/api/:product/details.json", method = "get", operation_id = "registrar_products_details")]
    async fn products_details(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        #[oai(name = "order-id")] order_id: Query<i64>,
    ) -> Reply<OrderDetails> {
        reply(self.products_details_op(&product, *auth_userid, &api_key, *order_id).await)
    }

    /// "true" when the order may move to the new plan (SiteLock orders move only to a higher tier).
    #[oai(
        path = "/api/:product/validate-modify.json",
        method = "get",
        operation_id = "registrar_products_validate_modify"
    )]
    async fn products_validate_modify(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        #[oai(name = "order-id")] order_id: Query<i64>,
        #[oai(name = "new-planid")] new_planid: Query<i64>,
    ) -> Reply<String> {
        reply(self.products_validate_modify_op(&product, *auth_userid, &api_key, *order_id, *new_planid).await)
    }

    /// The price of moving an order to another plan for its remaining months.
    #[oai(
        path = "/api/:product/modify-pricing.json",
        method = "get",
        operation_id = "registrar_products_modify_pricing"
    )]
    async fn products_modify_pricing(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        #[oai(name = "auth-userid")] auth_userid: Query<i64>,
        #[oai(name = "api-key")] api_key: Query<String>,
        #[oai(name = "order-id")] order_id: Query<i64>,
        #[oai(name = "new-plan-id")] new_plan_id: Query<i64>,
        /// CodeGuard (required): the tenure in the new plan, in months. SiteLock keeps the order's tenure and
        /// ignores it.
        months: Query<Option<i64>>,
    ) -> Reply<ModifyPricingOut> {
        reply(self.products_modify_pricing_op(&product, *auth_userid, &api_key, *order_id, *new_plan_id, *months).await)
    }

    /// Move an order to another plan; the invoice option decides the invoice and when the change happens.
    #[oai(path = "/api/:product/modify.json", method = "post", operation_id = "registrar_products_modify")]
    async fn products_modify(
        &self,
        /// codeguard or sitelock.
        product: Path<ProductParam>,
        body: Input<ModifyRequest>,
    ) -> Reply<ActionOut> {
        reply(self.products_modify_op(&product, &body).await)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::Type;

    use super::*;

    /// Every core error answers in the seed's envelope with its public message; an internal cause is never shown.
    #[test]
    fn every_core_error_maps_to_the_envelope() {
        for e in CoreError::examples() {
            let body = ErrorBody::from_error(&e);
            assert_eq!(body.status, "ERROR");
            assert_eq!(body.message, e.public_message());
            if let CoreError::Internal(cause) = &e {
                assert_eq!(body.message, "internal error");
                assert!(!body.message.contains(cause.as_str()), "the internal cause leaked");
            }
        }
    }

    fn entry(id: i64) -> SearchEntry {
        let mut row = SearchEntry::from(crate::store::CustomerRow {
            id,
            tenant_id: 4,
            parent_id: Some(2),
            username: format!("c{id}@x.example"),
            name: "Ann".into(),
            company: "Lee".into(),
            telnocc: "91".into(),
            telno: "1".into(),
            address1: "1 Main".into(),
            address2: String::new(),
            address3: String::new(),
            city: "Pune".into(),
            state: "MH".into(),
            country: "IN".into(),
            zip: "411001".into(),
            pin: "1234".into(),
            lang: "en".into(),
            status: "Active".into(),
            funds: 0,
            total_receipts: 1050,
            created_at: 1_700_000_000_000,
        });
        row.name = format!("Ann {id}");
        row
    }

    /// A search page numbers its entries from "1" beside the two counts, every value a string, and reads back.
    #[test]
    fn search_pages_number_their_entries() {
        let page = SearchPage { recsindb: 7, entries: vec![entry(3), entry(9)] };
        let json = page.to_json().unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{json}");
        assert_eq!((json["recsonpage"].as_str(), json["recsindb"].as_str()), (Some("2"), Some("7")));
        assert_eq!(json["1"]["customer.customerid"], "3");
        assert_eq!(json["2"]["customer.customerid"], "9");
        assert_eq!(json["2"]["customer.totalreceipts"], "10.50");
        let back = SearchPage::parse_from_json(Some(json.clone())).unwrap_or_else(|e| panic!("{}", e.into_message()));
        assert_eq!(back.to_json().unwrap(), json);
        let mut gap = json.clone();
        gap.as_object_mut().unwrap().remove("1");
        assert!(SearchPage::parse_from_json(Some(gap)).is_err(), "entries must be numbered from 1");
        let empty = SearchPage { recsindb: 0, entries: Vec::new() }.to_json().unwrap();
        assert_eq!(empty, serde_json::json!({"recsonpage": "0", "recsindb": "0"}));
    }

    /// The document describes the page as its two counts plus numbered entries of the named entry schema.
    #[test]
    fn search_page_schema() {
        let mut registry = Registry::new();
        SearchPage::register(&mut registry);
        let page = &registry.schemas["RegistrarSearchPage"];
        assert_eq!(page.ty, "object");
        assert_eq!(page.required, vec!["recsonpage", "recsindb"]);
        assert!(
            matches!(page.additional_properties.as_deref(), Some(MetaSchemaRef::Reference(r)) if r == "RegistrarSearchEntry")
        );
        assert!(registry.schemas.contains_key("RegistrarSearchEntry"));
    }

    #[test]
    fn product_segments() {
        assert_eq!(product_of(&ProductParam::new("codeguard")).unwrap(), Product::CodeGuard);
        assert_eq!(product_of(&ProductParam::new("sitelock")).unwrap(), Product::SiteLock);
        for bad in ["customers", "CodeGuard", ""] {
            let e = product_of(&ProductParam::new(bad)).unwrap_err();
            assert!(matches!(e, CoreError::NotFound(_)), "{bad}");
            assert!(e.public_message().starts_with("product:"), "{bad}");
        }
    }
}
