//! The SDK flow in Rust, on the client progenitor generates from the committed document (see build.rs):
//! bootstrap key → ISP tenant → ISP admin and key → reseller plugin on → franchisee → wallet top-up → list, then one
//! bad input read back as the reseller API's typed error. Exits non-zero on anything unexpected.
//!
//! TESSERA_URL=http://127.0.0.1:8080 TESSERA_ADMIN_KEY=tsk_… cargo run

mod client {
    #![allow(dead_code, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/tessera_client.rs"));
}

use client::{types, Client};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let base = std::env::var("TESSERA_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let admin_key = std::env::var("TESSERA_ADMIN_KEY").map_err(|_| "set TESSERA_ADMIN_KEY")?;

    // The core admin API takes the platform admin's key as a bearer token.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {admin_key}").parse()?);
    let admin = Client::new_with_client(&base, reqwest::Client::builder().default_headers(headers).build()?);

    let slug = format!("sdk-rust-{}", std::process::id());
    let isp = admin
        .core_tenants_create(&types::CoreTenantCreate {
            kind: types::CoreNewTenantKind::Isp,
            name: "Rust SDK ISP".parse()?,
            parent_id: 1,
            slug: slug.parse()?,
        })
        .await?
        .into_inner();
    let user = admin
        .core_users_create(
            isp.id,
            &types::CoreUserCreate {
                email: format!("ops@{slug}.example").parse()?,
                name: "SDK Ops".parse()?,
                password: "a long passphrase".parse()?,
                roles: vec!["tenant_admin".into()],
            },
        )
        .await?
        .into_inner();
    let key = admin
        .core_api_keys_create(user.id, &types::CoreApiKeyCreate { expires_at: None, name: "crm".parse()? })
        .await?
        .into_inner()
        .key;
    let plugin = types::CoreTenantPluginSet { config: Default::default(), enabled: true };
    admin.core_tenant_plugins_set(isp.id, "reseller", &plugin).await?;

    // The reseller API authenticates with userid + api_key in the body.
    let crm = Client::new(&base);
    let auth = serde_json::json!({ "userid": user.id, "api_key": key });
    let body = |extra: serde_json::Value| {
        let mut all = auth.clone();
        all.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        all
    };
    let create: types::ResellerCreateRequest = serde_json::from_value(body(serde_json::json!({
        "name": "Reseller4", "code": "R2", "mobile": "12344444", "email": "contact@reseller4.com",
        "invoice_by": "ISP", "payment_by": "ISP", "type": "Franchisee", "commission_percent": 50, "credit_limit": "0"
    })))?;
    let reseller = crm.reseller_resellers_create(&create).await?.into_inner().result;
    let top_up: types::ResellerWalletUpdateRequest =
        serde_json::from_value(body(serde_json::json!({ "resellerid": reseller, "action": "TopUp", "amt": "10" })))?;
    let done = crm.reseller_wallet_update(&top_up).await?.into_inner();
    check(done.result == "done", format!("top-up answered {done:?}"))?;

    let list: types::ResellerListRequest = serde_json::from_value(auth.clone())?;
    let rows = match crm.reseller_resellers_list(&list).await?.into_inner().result {
        types::ResellerListResult::Array(rows) => rows,
        other => return Err(format!("a list was expected, got {other:?}").into()),
    };
    let row = rows.iter().find(|r| r.id == reseller).ok_or("the new franchisee is not listed")?;
    check(row.name == "Reseller4" && row.wallet == "10.00", format!("listed as {row:?}"))?;

    // Bad input: the typed error of the reseller API, naming the field.
    let bad: types::ResellerWalletUpdateRequest =
        serde_json::from_value(body(serde_json::json!({ "resellerid": reseller, "action": "TopUp", "amt": "ten" })))?;
    match crm.reseller_wallet_update(&bad).await {
        Err(progenitor_client::Error::ErrorResponse(answer)) => {
            let status = answer.status().as_u16();
            let error = answer.into_inner();
            check(status == 400 && error.error.starts_with("amt:"), format!("bad input answered {status} {error:?}"))?;
            println!(
                "rust sdk: ISP {} → franchisee {reseller} with wallet {}; bad input: {}",
                isp.id, row.wallet, error.error
            );
        }
        other => return Err(format!("bad input was accepted or failed oddly: {other:?}").into()),
    }
    Ok(())
}

fn check(ok: bool, what: String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}
