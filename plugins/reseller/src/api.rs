//! The reseller API at the seed's paths: `POST /api/reseller/{list,create,update,wallet_txn,wallet_update,delete}`,
//! form or JSON bodies with the seed's parameter names, answers in the seed's envelope
//! `{"result": …, "error": null}` / `{"result": null, "error": "…"}`.
//!
//! Every operation: authenticate `userid` + `api_key` (through the core; the plugin must be enabled for the caller's
//! tenant), resolve the ISP, find the target inside the caller's scope, make the one permission check, act.

use std::sync::Arc;

use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{Object, OpenApi, Tags, Union};
use tessera_core::{
    now_ms, Caller, CoreError, CoreResult, Email, ErrorEnvelope, Input, Paging, PluginContext, StoredEnum, Tenant,
    TenantKind,
};

use crate::model::{
    self, format_money, format_time, InvoiceBy, PaymentBy, ResellerType, SortField, SortOrder, TxnCode, WalletAction,
};
use crate::store::{self, AccountChanges, AccountQuery, AccountRow, LedgerQuery, LedgerRow, NewAccount, WalletMove};

#[derive(Tags)]
enum ResellerTag {
    /// ISP CRM resellers and franchisees, their wallets and ledger.
    Reseller,
}

// ---- envelope ----

/// Failure: `result` is null and `error` says what is wrong, naming the field.
#[derive(Object)]
#[oai(rename = "ResellerError")]
pub struct ErrorBody {
    /// Always null on failure.
    #[oai(nullable)]
    pub result: Option<i64>,
    pub error: String,
}

/// Success: `result` carries the answer, `error` is null.
#[derive(Object)]
#[oai(rename = "ResellerResult")]
pub struct Envelope<T: ToJSON + ParseFromJSON> {
    pub result: T,
    /// Always null on success.
    #[oai(nullable)]
    pub error: Option<String>,
}

/// The answers of every reseller operation.
pub type Reply<T> = tessera_core::Reply<Envelope<T>, ErrorBody>;

impl ErrorEnvelope for ErrorBody {
    /// The one mapping of a core error to the seed's envelope.
    fn from_error(e: &CoreError) -> Self {
        ErrorBody { result: None, error: e.public_message() }
    }
}

fn reply<T: ToJSON + ParseFromJSON>(r: CoreResult<T>) -> Reply<T> {
    Reply::from_result(r, |result| Envelope { result, error: None })
}

// ---- wire types ----

#[derive(Object)]
#[oai(rename = "ResellerListRequest")]
pub struct ListRequest {
    /// The caller's numeric user id.
    pub userid: i64,
    /// An API key of that user.
    #[oai(validator(max_length = 256))]
    pub api_key: String,
    /// ISP id; optional when the caller belongs to an ISP.
    pub ispid: Option<i64>,
    pub resellerid: Option<i64>,
    pub invoice_by: Option<InvoiceBy>,
    pub payment_by: Option<PaymentBy>,
    #[oai(rename = "type")]
    pub kind: Option<ResellerType>,
    /// Part of the name.
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
    /// Part of the code.
    #[oai(validator(max_length = 50))]
    pub code: Option<String>,
    #[oai(validator(max_length = 100))]
    pub state: Option<String>,
    /// yyyy-mm-dd, inclusive.
    pub created_from: Option<String>,
    /// yyyy-mm-dd, inclusive.
    pub created_upto: Option<String>,
    /// 1 to 100, default 10.
    pub rows_limit: Option<i64>,
    /// Default 0.
    pub rows_offset: Option<i64>,
    /// Default id.
    pub sort_field: Option<SortField>,
    /// Default asc.
    pub sort_order: Option<SortOrder>,
    /// 1: answer the number of matching records only.
    pub show_count: Option<i64>,
}

#[derive(Object)]
#[oai(rename = "ResellerCreateRequest")]
pub struct CreateRequest {
    pub userid: i64,
    #[oai(validator(max_length = 256))]
    pub api_key: String,
    /// ISP id; optional when the caller belongs to an ISP.
    pub ispid: Option<i64>,
    pub invoice_by: InvoiceBy,
    pub payment_by: PaymentBy,
    #[oai(rename = "type")]
    pub kind: ResellerType,
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// Unique within the ISP.
    #[oai(validator(max_length = 50))]
    pub code: String,
    #[oai(validator(max_length = 500))]
    pub address: Option<String>,
    #[oai(validator(max_length = 20))]
    pub mobile: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// Empty for all states.
    #[oai(validator(max_length = 100))]
    pub state: Option<String>,
    /// 0 to 100; required for a Franchisee.
    pub commission_percent: Option<f64>,
    /// Decimal amount ≥ 0, e.g. 500 or 500.50; required for a Franchisee.
    pub credit_limit: Option<String>,
}

#[derive(Object)]
#[oai(rename = "ResellerUpdateRequest")]
pub struct UpdateRequest {
    pub userid: i64,
    #[oai(validator(max_length = 256))]
    pub api_key: String,
    pub ispid: Option<i64>,
    /// The reseller to update.
    pub resellerid: i64,
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
    #[oai(validator(max_length = 50))]
    pub code: Option<String>,
    #[oai(validator(max_length = 500))]
    pub address: Option<String>,
    #[oai(validator(max_length = 20))]
    pub mobile: Option<String>,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    #[oai(validator(max_length = 100))]
    pub state: Option<String>,
    pub invoice_by: Option<InvoiceBy>,
    pub payment_by: Option<PaymentBy>,
    #[oai(rename = "type")]
    pub kind: Option<ResellerType>,
    pub commission_percent: Option<f64>,
    pub credit_limit: Option<String>,
}

#[derive(Object)]
#[oai(rename = "ResellerWalletTxnRequest")]
pub struct WalletTxnRequest {
    pub userid: i64,
    #[oai(validator(max_length = 256))]
    pub api_key: String,
    /// A ledger row id.
    pub id: Option<i64>,
    pub ispid: Option<i64>,
    pub resellerid: Option<i64>,
    pub txn_code: Option<TxnCode>,
    #[oai(validator(max_length = 100))]
    pub serviceid: Option<String>,
    pub created_from: Option<String>,
    pub created_upto: Option<String>,
    pub rows_limit: Option<i64>,
    pub rows_offset: Option<i64>,
    pub show_count: Option<i64>,
}

#[derive(Object)]
#[oai(rename = "ResellerWalletUpdateRequest")]
pub struct WalletUpdateRequest {
    pub userid: i64,
    #[oai(validator(max_length = 256))]
    pub api_key: String,
    pub ispid: Option<i64>,
    pub resellerid: i64,
    pub action: WalletAction,
    /// Decimal amount with at most 2 decimals: > 0 for TopUp and Settlement, non-zero (signed) for Adj.
    pub amt: String,
    /// The service this change is for, stored on the ledger row.
    #[oai(validator(max_length = 100))]
    pub serviceid: Option<String>,
    /// Idempotency key: a retry with the same key returns the first result and moves nothing.
    #[oai(validator(max_length = 100))]
    pub txn_key: Option<String>,
}

#[derive(Object)]
#[oai(rename = "ResellerDeleteRequest")]
pub struct DeleteRequest {
    pub userid: i64,
    #[oai(validator(max_length = 256))]
    pub api_key: String,
    pub ispid: Option<i64>,
    pub resellerid: i64,
}

#[derive(Object)]
#[oai(rename = "Reseller")]
pub struct ResellerOut {
    pub id: i64,
    pub ispid: i64,
    #[oai(rename = "type")]
    pub kind: ResellerType,
    pub name: String,
    pub code: String,
    pub invoice_by: InvoiceBy,
    pub payment_by: PaymentBy,
    pub address: String,
    pub mobile: String,
    pub email: String,
    pub state: String,
    pub commission_percent: f64,
    /// Decimal amount.
    pub credit_limit: String,
    /// Wallet balance, decimal amount.
    pub wallet: String,
    /// yyyy-mm-dd hh:mm:ss (UTC).
    pub created_at: String,
}

impl ResellerOut {
    fn from_row(r: AccountRow) -> CoreResult<Self> {
        Ok(ResellerOut {
            id: r.tenant_id,
            ispid: r.isp_id,
            kind: ResellerType::from_stored("type", &r.kind)?,
            invoice_by: InvoiceBy::from_stored("invoice_by", &r.invoice_by)?,
            payment_by: PaymentBy::from_stored("payment_by", &r.payment_by)?,
            name: r.name,
            code: r.code,
            address: r.address,
            mobile: r.mobile,
            email: r.email,
            state: r.state,
            commission_percent: r.commission_bp as f64 / 100.0,
            credit_limit: format_money(r.credit_limit),
            wallet: format_money(r.balance),
            created_at: format_time(r.created_at),
        })
    }
}

#[derive(Object)]
#[oai(rename = "ResellerLedgerEntry")]
pub struct LedgerOut {
    pub id: i64,
    pub ispid: i64,
    pub resellerid: i64,
    pub txn_code: TxnCode,
    /// Signed decimal amount.
    pub amount: String,
    pub balance_after: String,
    #[oai(nullable)]
    pub serviceid: Option<String>,
    /// yyyy-mm-dd hh:mm:ss (UTC).
    pub created_at: String,
    /// The user who made the change.
    pub created_by: i64,
}

impl LedgerOut {
    fn from_row(r: LedgerRow) -> CoreResult<Self> {
        Ok(LedgerOut {
            id: r.id,
            ispid: r.isp_id,
            resellerid: r.tenant_id,
            txn_code: TxnCode::from_stored("txn_code", &r.txn_code)?,
            amount: format_money(r.amount),
            balance_after: format_money(r.balance_after),
            serviceid: r.service_id,
            created_at: format_time(r.created_at),
            created_by: r.created_by,
        })
    }
}

/// The resellers, or their number when show_count=1.
#[derive(Union)]
#[oai(rename = "ResellerListResult")]
pub enum ListResult {
    Rows(Vec<ResellerOut>),
    Count(i64),
}

/// The ledger rows, or their number when show_count=1.
#[derive(Union)]
#[oai(rename = "ResellerLedgerResult")]
pub enum LedgerResult {
    Rows(Vec<LedgerOut>),
    Count(i64),
}

// ---- the API ----

pub struct ResellerApi {
    ctx: PluginContext,
}

const DONE: &str = "done";

/// Where an operation acts: the ISP, and the subtree of it the caller may see (the ISP itself, or the caller's own
/// reseller tenant inside it).
struct Scope {
    isp: Arc<Tenant>,
    root: Arc<Tenant>,
}

impl ResellerApi {
    pub fn new(ctx: PluginContext) -> Self {
        ResellerApi { ctx }
    }

    /// `userid` + `api_key` → the caller, through the core (which also gates on the plugin being enabled).
    async fn caller(&self, userid: i64, api_key: &str) -> CoreResult<Caller> {
        let caller = self.ctx.authenticate_key(api_key).await?;
        if caller.principal_id() != userid {
            return Err(CoreError::Unauthenticated("userid and api_key do not match".into()));
        }
        Ok(caller)
    }

    /// The ISP named by `ispid`, or the caller's own ISP when it belongs to one.
    async fn scope(&self, caller: &Caller, ispid: Option<i64>) -> CoreResult<Scope> {
        let isp = match ispid {
            Some(id) => {
                let t = self.ctx.tenant(id).await?;
                match t {
                    Some(t) if t.kind() == TenantKind::Isp => t,
                    _ => return Err(CoreError::not_found(format!("ispid: ISP {id} not found"))),
                }
            }
            None => self
                .ctx
                .lineage(caller.tenant())
                .await?
                .into_iter()
                .find(|t| t.kind() == TenantKind::Isp)
                .ok_or_else(|| CoreError::invalid("ispid", "is required for a user outside an ISP"))?,
        };
        let root = if isp.is_within(caller.tenant_path()) {
            isp.clone()
        } else if caller.tenant().is_within(&isp.path) {
            caller.tenant().clone()
        } else {
            return Err(CoreError::not_found(format!("ispid: ISP {} not found", isp.id)));
        };
        Ok(Scope { isp, root })
    }

    /// A live reseller of the scope's ISP inside the caller's subtree, and its tenant.
    async fn reseller(&self, scope: &Scope, id: i64) -> CoreResult<(AccountRow, Arc<Tenant>)> {
        let missing = || CoreError::not_found(format!("resellerid: reseller {id} not found"));
        let row = store::account(self.ctx.pool(), scope.isp.id, id).await?.ok_or_else(missing)?;
        if !row.path.starts_with(&scope.root.path) {
            return Err(missing());
        }
        let tenant = self.ctx.tenant(id).await?.ok_or_else(missing)?;
        Ok((row, tenant))
    }

    /// A reseller's own account is managed from above it, never by itself.
    fn not_own(caller: &Caller, tenant: &Tenant) -> CoreResult<()> {
        if caller.tenant_id() == tenant.id {
            return Err(CoreError::forbidden("a reseller's own account is managed by its ISP"));
        }
        Ok(())
    }

    async fn resellers_list_op(&self, req: &ListRequest) -> CoreResult<ListResult> {
        let caller = self.caller(req.userid, &req.api_key).await?;
        let scope = self.scope(&caller, req.ispid).await?;
        let count_only = model::show_count(req.show_count)?;
        let page = Paging::new(model::PAGE_RULE, req.rows_limit, req.rows_offset)?;
        let query = AccountQuery {
            isp_id: scope.isp.id,
            under_path: scope.root.path.clone(),
            reseller_id: req.resellerid,
            kind: req.kind.map(StoredEnum::stored),
            invoice_by: req.invoice_by.map(StoredEnum::stored),
            payment_by: req.payment_by.map(StoredEnum::stored),
            name: req.name.clone().filter(|s| !s.trim().is_empty()),
            code: req.code.clone().filter(|s| !s.trim().is_empty()),
            state: req.state.clone().filter(|s| !s.trim().is_empty()),
            created_from: req.created_from.as_deref().map(|d| model::parse_date("created_from", d)).transpose()?,
            created_before: req
                .created_upto
                .as_deref()
                .map(|d| model::parse_date("created_upto", d).map(|t| t + model::DAY_MS))
                .transpose()?,
        };
        self.ctx.require(&caller, "reseller:reseller", "read", &scope.root).await?;
        if count_only {
            return Ok(ListResult::Count(store::count_accounts(self.ctx.reader(), &query).await?));
        }
        let sort = req.sort_field.unwrap_or(SortField::Id);
        let order = req.sort_order.unwrap_or(SortOrder::Asc);
        let rows = store::list_accounts(self.ctx.reader(), &query, sort, order, page).await?;
        Ok(ListResult::Rows(rows.into_iter().map(ResellerOut::from_row).collect::<CoreResult<_>>()?))
    }

    async fn resellers_create_op(&self, req: &CreateRequest) -> CoreResult<i64> {
        let caller = self.caller(req.userid, &req.api_key).await?;
        let scope = self.scope(&caller, req.ispid).await?;
        model::check_text("name", &req.name, 200, true)?;
        model::check_text("code", &req.code, 50, true)?;
        model::check_text("address", req.address.as_deref().unwrap_or(""), 500, false)?;
        model::check_text("state", req.state.as_deref().unwrap_or(""), 100, false)?;
        model::check_mobile(&req.mobile)?;
        let email = Email::parse("email", &req.email)?;
        let franchisee = req.kind == ResellerType::Franchisee;
        let commission_bp = match req.commission_percent {
            Some(p) => model::parse_percent("commission_percent", p)?,
            None if franchisee => return Err(CoreError::invalid("commission_percent", "is required for a Franchisee")),
            None => 0,
        };
        let credit_limit = match req.credit_limit.as_deref() {
            Some(v) => model::credit_limit(v)?,
            None if franchisee => return Err(CoreError::invalid("credit_limit", "is required for a Franchisee")),
            None => 0,
        };
        // A reseller creates sub-resellers under itself; an ISP-level caller creates them under the ISP.
        let parent = if scope.root.kind() == TenantKind::Reseller { scope.root.clone() } else { scope.isp.clone() };
        self.ctx.require(&caller, "reseller:reseller", "create", &parent).await?;
        let code = req.code.trim();
        if store::code_taken(self.ctx.pool(), parent.id, code, None).await? {
            return Err(CoreError::conflict(format!(
                "code: `{code}` is already used by a reseller of {}",
                parent.name
            )));
        }
        let suffix: String = tessera_core::identity::new_secret("").chars().take(6).collect();
        let slug = model::tenant_slug(&scope.isp.slug, code, &suffix);
        let mut tx = self.ctx.begin().await?;
        let tenant = self.ctx.create_tenant(&mut tx, &parent, TenantKind::Reseller, req.name.trim(), &slug).await?;
        let account = NewAccount {
            tenant_id: tenant.id,
            isp_id: scope.isp.id,
            parent_id: parent.id,
            kind: &req.kind.stored(),
            name: req.name.trim(),
            code,
            invoice_by: &req.invoice_by.stored(),
            payment_by: &req.payment_by.stored(),
            address: req.address.as_deref().unwrap_or("").trim(),
            mobile: req.mobile.trim(),
            email: email.as_str(),
            state: req.state.as_deref().unwrap_or("").trim(),
            commission_bp,
            credit_limit,
        };
        store::insert_account(&mut tx, &account, now_ms()).await?;
        self.ctx.audit(&mut tx, &caller, &tenant, "create", &format!("reseller:{}", tenant.id)).await?;
        tx.commit().await?;
        Ok(tenant.id)
    }

    async fn resellers_update_op(&self, req: &UpdateRequest) -> CoreResult<String> {
        let caller = self.caller(req.userid, &req.api_key).await?;
        let scope = self.scope(&caller, req.ispid).await?;
        let (row, tenant) = self.reseller(&scope, req.resellerid).await?;
        Self::not_own(&caller, &tenant)?;
        self.ctx.require(&caller, "reseller:reseller", "update", &tenant).await?;
        let text = |field: &str, v: &Option<String>, max: usize, required: bool| -> CoreResult<Option<String>> {
            match v {
                Some(s) => model::check_text(field, s, max, required).map(|_| Some(s.trim().to_string())),
                None => Ok(None),
            }
        };
        let mut changes = AccountChanges {
            name: text("name", &req.name, 200, true)?,
            code: text("code", &req.code, 50, true)?,
            address: text("address", &req.address, 500, false)?,
            state: text("state", &req.state, 100, false)?,
            kind: req.kind.map(StoredEnum::stored),
            invoice_by: req.invoice_by.map(StoredEnum::stored),
            payment_by: req.payment_by.map(StoredEnum::stored),
            commission_bp: req.commission_percent.map(|p| model::parse_percent("commission_percent", p)).transpose()?,
            credit_limit: req.credit_limit.as_deref().map(model::credit_limit).transpose()?,
            ..Default::default()
        };
        if let Some(m) = &req.mobile {
            model::check_mobile(m)?;
            changes.mobile = Some(m.trim().to_string());
        }
        if let Some(e) = &req.email {
            changes.email = Some(Email::parse("email", e)?.into_string());
        }
        if let Some(code) = &changes.code {
            let parent = tenant.parent_id.unwrap_or(scope.isp.id);
            if store::code_taken(self.ctx.pool(), parent, code, Some(row.tenant_id)).await? {
                return Err(CoreError::conflict(format!("code: `{code}` is already used by a reseller of its parent")));
            }
        }
        let mut tx = self.ctx.begin().await?;
        if !store::update_account(&mut tx, row.tenant_id, &changes, now_ms()).await? {
            return Err(CoreError::conflict(format!(
                "credit_limit: the wallet of reseller {} is {}; the credit limit cannot be less than its debt",
                row.tenant_id,
                format_money(row.balance)
            )));
        }
        if let Some(name) = &changes.name {
            self.ctx.rename_tenant(&mut tx, &tenant, name).await?;
        }
        self.ctx.audit(&mut tx, &caller, &tenant, "update", &format!("reseller:{}", tenant.id)).await?;
        tx.commit().await?;
        Ok(DONE.to_string())
    }

    async fn resellers_delete_op(&self, req: &DeleteRequest) -> CoreResult<String> {
        let caller = self.caller(req.userid, &req.api_key).await?;
        let scope = self.scope(&caller, req.ispid).await?;
        let (row, tenant) = self.reseller(&scope, req.resellerid).await?;
        Self::not_own(&caller, &tenant)?;
        self.ctx.require(&caller, "reseller:reseller", "delete", &tenant).await?;
        let mut tx = self.ctx.begin().await?;
        if !store::delete_account(&mut tx, row.tenant_id, now_ms()).await? {
            return Err(CoreError::conflict(format!(
                "resellerid: the wallet of reseller {} is {}; settle it to 0 before deleting",
                row.tenant_id,
                format_money(row.balance)
            )));
        }
        // The reseller's tenant stays (its ledger refers to it) but can no longer be used.
        self.ctx.close_tenant(&mut tx, &caller, &tenant).await?;
        self.ctx.audit(&mut tx, &caller, &tenant, "delete", &format!("reseller:{}", tenant.id)).await?;
        tx.commit().await?;
        Ok(DONE.to_string())
    }

    async fn wallet_update_op(&self, req: &WalletUpdateRequest) -> CoreResult<String> {
        let caller = self.caller(req.userid, &req.api_key).await?;
        let scope = self.scope(&caller, req.ispid).await?;
        let delta = req.action.delta("amt", model::parse_money("amt", &req.amt)?)?;
        let txn_key = req.txn_key.as_deref().map(str::trim).filter(|k| !k.is_empty());
        let (row, tenant) = self.reseller(&scope, req.resellerid).await?;
        Self::not_own(&caller, &tenant)?;
        self.ctx.require(&caller, "reseller:wallet", "update", &tenant).await?;
        let txn_code = req.action.txn_code().stored();
        // A retry with the same key answers as the first time and moves nothing; the same key with another action
        // or amount is a mistake, not a retry.
        let replay = |entry: store::LedgerRow| -> CoreResult<String> {
            if entry.txn_code == txn_code && entry.amount == delta {
                Ok(DONE.to_string())
            } else {
                Err(CoreError::conflict(format!(
                    "txn_key: already used for a {} of {}; a retry must repeat the action and the amount",
                    entry.txn_code,
                    format_money(entry.amount)
                )))
            }
        };
        if let Some(key) = txn_key {
            if let Some(entry) = store::ledger_by_key(self.ctx.pool(), row.tenant_id, key).await? {
                return replay(entry);
            }
        }
        let change = WalletMove {
            tenant_id: row.tenant_id,
            isp_id: scope.isp.id,
            txn_code: &txn_code,
            delta,
            service_id: req.serviceid.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            txn_key,
            by: caller.principal_id(),
        };
        let mut tx = self.ctx.begin().await?;
        let applied = match store::apply_wallet(&mut tx, &change, now_ms()).await {
            Ok(applied) => applied,
            // The same key committed concurrently: the unique index refused this copy, which moved nothing.
            Err(CoreError::Conflict(_)) if txn_key.is_some() => {
                drop(tx);
                let key = txn_key.unwrap_or_default();
                return match store::ledger_by_key(self.ctx.pool(), row.tenant_id, key).await? {
                    Some(entry) => replay(entry),
                    None => Err(CoreError::internal("wallet update failed and no row has its txn_key")),
                };
            }
            Err(e) => return Err(e),
        };
        let Some(entry) = applied else {
            return Err(CoreError::conflict(if delta > 0 {
                format!(
                    "amt: this {} would take the wallet of reseller {} above the largest balance kept, {}",
                    req.action.stored(),
                    row.tenant_id,
                    format_money(tessera_core::money::MAX_BALANCE)
                )
            } else {
                format!(
                    "amt: this {} would take the wallet of reseller {} below its credit limit of {}",
                    req.action.stored(),
                    row.tenant_id,
                    format_money(row.credit_limit)
                )
            }));
        };
        self.ctx.audit(&mut tx, &caller, &tenant, "wallet_update", &format!("reseller_ledger:{}", entry.id)).await?;
        let event = serde_json::json!({
            "resellerid": entry.tenant_id,
            "ispid": entry.isp_id,
            "ledger_id": entry.id,
            "txn_code": entry.txn_code,
            "amount": format_money(entry.amount),
            "balance_after": format_money(entry.balance_after),
            "serviceid": entry.service_id,
        });
        self.ctx.emit(&mut tx, &tenant, crate::WALLET_MOVED, &event).await?;
        tx.commit().await?;
        Ok(DONE.to_string())
    }

    /// The ledger listing of wallet_txn and of credits_usage.
    async fn wallet_transactions_op(&self, req: &WalletTxnRequest) -> CoreResult<LedgerResult> {
        let caller = self.caller(req.userid, &req.api_key).await?;
        let scope = self.scope(&caller, req.ispid).await?;
        let count_only = model::show_count(req.show_count)?;
        let page = Paging::new(model::PAGE_RULE, req.rows_limit, req.rows_offset)?;
        let query = LedgerQuery {
            isp_id: scope.isp.id,
            under_path: scope.root.path.clone(),
            id: req.id,
            reseller_id: req.resellerid,
            txn_code: req.txn_code.map(StoredEnum::stored),
            service_id: req.serviceid.clone().filter(|s| !s.trim().is_empty()),
            created_from: req.created_from.as_deref().map(|d| model::parse_date("created_from", d)).transpose()?,
            created_before: req
                .created_upto
                .as_deref()
                .map(|d| model::parse_date("created_upto", d).map(|t| t + model::DAY_MS))
                .transpose()?,
        };
        self.ctx.require(&caller, "reseller:wallet", "read", &scope.root).await?;
        if count_only {
            return Ok(LedgerResult::Count(store::count_ledger(self.ctx.reader(), &query).await?));
        }
        let rows = store::list_ledger(self.ctx.reader(), &query, page).await?;
        Ok(LedgerResult::Rows(rows.into_iter().map(LedgerOut::from_row).collect::<CoreResult<_>>()?))
    }
}

#[OpenApi(tag = "ResellerTag::Reseller")]
impl ResellerApi {
    /// List resellers and franchisees, filtered, sorted and paged; with show_count=1 only their number.
    #[oai(path = "/api/reseller/list", method = "post", operation_id = "reseller_resellers_list")]
    async fn resellers_list(&self, body: Input<ListRequest>) -> Reply<ListResult> {
        reply(self.resellers_list_op(&body).await)
    }

    /// Create a reseller or franchisee; the result is its id.
    #[oai(path = "/api/reseller/create", method = "post", operation_id = "reseller_resellers_create")]
    async fn resellers_create(&self, body: Input<CreateRequest>) -> Reply<i64> {
        reply(self.resellers_create_op(&body).await)
    }

    /// Change some fields of a reseller; the result is "done".
    #[oai(path = "/api/reseller/update", method = "post", operation_id = "reseller_resellers_update")]
    async fn resellers_update(&self, body: Input<UpdateRequest>) -> Reply<String> {
        reply(self.resellers_update_op(&body).await)
    }

    /// The wallet ledger, filtered and paged; with show_count=1 only the number of rows.
    #[oai(path = "/api/reseller/wallet_txn", method = "post", operation_id = "reseller_wallet_transactions")]
    async fn wallet_transactions(&self, body: Input<WalletTxnRequest>) -> Reply<LedgerResult> {
        reply(self.wallet_transactions_op(&body).await)
    }

    /// The wallet ledger: the same operation as wallet_txn, at the path the CRM's own example uses.
    #[oai(path = "/api/reseller/credits_usage", method = "post", operation_id = "reseller_wallet_credits_usage")]
    async fn wallet_credits_usage(&self, body: Input<WalletTxnRequest>) -> Reply<LedgerResult> {
        reply(self.wallet_transactions_op(&body).await)
    }

    /// Top up, settle or adjust a wallet; the result is "done". Debits never go below minus the credit limit.
    #[oai(path = "/api/reseller/wallet_update", method = "post", operation_id = "reseller_wallet_update")]
    async fn wallet_update(&self, body: Input<WalletUpdateRequest>) -> Reply<String> {
        reply(self.wallet_update_op(&body).await)
    }

    /// Delete a reseller whose wallet is settled to 0; its ledger is kept. The result is "done".
    #[oai(path = "/api/reseller/delete", method = "post", operation_id = "reseller_resellers_delete")]
    async fn resellers_delete(&self, body: Input<DeleteRequest>) -> Reply<String> {
        reply(self.resellers_delete_op(&body).await)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;
    use tessera_core::Failure;

    use super::*;

    /// Every core error reads in the seed's envelope: `result` null and `error` the public message; an internal
    /// cause is never shown.
    #[test]
    fn every_error_maps_to_the_envelope() {
        for e in CoreError::examples() {
            let body = ErrorBody::from_error(&e).to_json().unwrap();
            let message = e.public_message();
            assert_eq!(body["result"], serde_json::Value::Null, "{message}");
            assert_eq!(body["error"], message.as_str());
            assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
            if e.failure() == Failure::Internal {
                assert_eq!(body["error"], "internal error");
                assert!(!body.to_string().contains("disk on fire"), "an internal cause is never shown");
            }
        }
    }
}
