//! The isolation matrix: two tenant trees with data; for every operation of /openapi.json, the other tree's
//! credentials aimed at this tree's objects are refused and nothing changes. The operations come from the document
//! itself: an operation this file does not classify fails the test, so no endpoint slips through unchecked.

use serde_json::{json, Value};

use crate::both;
use crate::support::{Backend, Resp, Server, Tenancy};

/// One tree: an ISP with its admin, a child tenant, a viewer user, an extra key, a reseller with money, and an
/// organisation running a chat addon with an operator and a domain.
struct Tree {
    isp: Tenancy,
    child: i64,
    viewer: i64,
    key_id: i64,
    reseller: i64,
    slug: String,
    org: i64,
    owner: String,
    addon: String,
    chat_token: String,
    operator: i64,
    domain: String,
    /// A registrar reseller below the ISP: its id and key, a customer, a login token, a CodeGuard and a SiteLock order.
    registrar: (i64, String),
    customer: i64,
    login_token: String,
    orders: [(i64, i64); 2],
    /// A webhook endpoint of the ISP and one delivery to it.
    webhook: i64,
    delivery: i64,
    /// An MLM business below the ISP: its app's key, a member (username and token), a package and an e-pin.
    mlm_org: i64,
    mlm_app: String,
    mlm_member: String,
    mlm_token: String,
    mlm_package: i64,
    mlm_epin: String,
    mlm_payout: i64,
    mlm_image: String,
    /// A billing business below the ISP: its first staff member (id, API key), whose group, a client group and a
    /// client (id, API key).
    billing_org: i64,
    billing_staff: (i64, String),
    billing_group: i64,
    billing_client_group: i64,
    billing_client: (i64, String),
    /// Its catalogue: a category, a product, an addon and a promo code.
    billing_catalogue: [i64; 4],
}

const PASSWORD: &str = "correct horse battery";

async fn tree(srv: &Server, slug: &str) -> Tree {
    let isp = srv.isp(slug).await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let child = srv.tenant(&isp.key, isp.tenant, "organisation", &format!("{slug}-org")).await;
    let viewer = srv.user(&isp.key, isp.tenant, &format!("viewer@{slug}.example"), &["reseller_viewer"]).await;
    let (key_id, _) = srv.api_key(&isp.key, viewer).await;
    let user = isp.user.to_string();
    let r = srv
        .form(
            "/reseller/api/reseller/create",
            &[
                ("userid", &user),
                ("api_key", &isp.key),
                ("name", "Owned"),
                ("code", "OWN"),
                ("mobile", "12344444"),
                ("email", "o@x.example"),
                ("invoice_by", "ISP"),
                ("payment_by", "ISP"),
                ("type", "Franchisee"),
                ("commission_percent", "5"),
                ("credit_limit", "10"),
            ],
        )
        .await;
    let reseller = r.body["result"].as_i64().expect("reseller");
    let r = srv
        .form(
            "/reseller/api/reseller/wallet_update",
            &[
                ("userid", &user),
                ("api_key", &isp.key),
                ("resellerid", &reseller.to_string()),
                ("action", "TopUp"),
                ("amt", "10"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    srv.enable(&srv.admin_key, isp.tenant, "chat", true).await;
    let org_slug = format!("{slug}.example");
    let org = srv.tenant(&isp.key, isp.tenant, "organisation", &org_slug).await;
    srv.enable(&isp.key, org, "chat", true).await;
    let owner = format!("owner@{org_slug}");
    srv.user(&isp.key, org, &owner, &["chat_admin"]).await;
    let addon = format!("support-{slug}");
    let r = srv
        .json(
            "POST",
            "/chat/addons",
            &isp.key,
            json!({"organisation_id": org, "addon_unique_name": addon, "kind": "live_chat"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let login =
        json!({"email": owner, "password": PASSWORD, "organisation_domain": org_slug, "addon_unique_name": addon});
    let r = srv.post_json("/chat/admin/access-token", login).await;
    let chat_token = r.body["data"]["access_token"].as_str().expect("token").to_string();
    let chat = |path: &str, body: Value| {
        srv.send(
            srv.client.post(format!("{}/chat/admin/{path}", srv.base)).header("access_token", &chat_token).json(&body),
        )
    };
    let r = chat("operator/create", json!({"email": format!("op@{org_slug}")})).await;
    let operator = r.body["data"]["id"].as_i64().expect("operator");
    let domain = format!("www.{org_slug}");
    let r = chat("domain/create", json!({"domain_name": domain, "email": format!("web@{org_slug}")})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = chat("operator/assign", json!({"domain_name": domain, "operator_id": operator})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    srv.enable(&srv.admin_key, isp.tenant, "registrar", true).await;
    let rid = srv.tenant(&isp.key, isp.tenant, "reseller", &format!("{slug}-registrar")).await;
    srv.enable(&isp.key, rid, "registrar", true).await;
    let ruser = srv.user(&isp.key, rid, &format!("reg@{slug}.example"), &["tenant_admin"]).await;
    let (_, rkey) = srv.api_key(&isp.key, ruser).await;
    let reg = |method: &str, path: &str, query: String| {
        let url = format!("{}/registrar/api/{path}?auth-userid={rid}&api-key={rkey}&{query}", srv.base);
        let req = if method == "GET" { srv.client.get(url) } else { srv.client.post(url) };
        srv.send(req)
    };
    let q = "username=c@c.example&name=C&company=C&address-line-1=C&city=C&state=C&country=IN&zipcode=1&phone-cc=91&phone=1";
    let customer = reg("POST", "customers/signup.json", q.into()).await.body.as_i64().expect("customer");
    let login_token = reg("GET", "customers/generate-login-token.json", format!("customer-id={customer}&ip=10.0.0.1"))
        .await
        .body
        .as_str()
        .expect("token")
        .to_string();
    let mut orders = [(0, 0); 2];
    for (i, product) in ["codeguard", "sitelock"].iter().enumerate() {
        let plan = |name: &str, tier: i64| {
            reg("POST", &format!("{product}/add-plan.json"), format!("name={name}&tier={tier}&pricing=12:1.00"))
        };
        let basic = plan("Basic", 1).await.body.as_i64().expect("plan");
        let pro = plan("Pro", 2).await.body.as_i64().expect("plan");
        let add =
            format!("customer-id={customer}&domain-name=d.example&plan-id={basic}&months=12&invoice-option=NoInvoice");
        let order = reg("POST", &format!("{product}/add.json"), add).await.body["entityid"]
            .as_str()
            .and_then(|id| id.parse::<i64>().ok())
            .expect("order");
        orders[i] = (order, pro);
    }
    let hook = json!({"tenant_id": isp.tenant, "url": "http://127.0.0.1:9/", "event_types": ["tenant.suspended"]});
    let r = srv.json("POST", "/core/v1/webhooks", &isp.key, hook).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let webhook = r.body["id"].as_i64().expect("webhook");
    let gone = srv.tenant(&isp.key, isp.tenant, "organisation", &format!("{slug}-gone")).await;
    let r = srv.json("PATCH", &format!("/core/v1/tenants/{gone}"), &isp.key, json!({"status": "suspended"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut delivery = None;
    for _ in 0..100 {
        let r = srv.get(&format!("/core/v1/webhooks/{webhook}/deliveries"), &isp.key).await;
        delivery = r.body["items"][0]["id"].as_i64();
        if delivery.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    srv.enable(&srv.admin_key, isp.tenant, "mlm", true).await;
    let mlm_org = srv.tenant(&isp.key, isp.tenant, "organisation", &format!("{slug}-mlm")).await;
    srv.enable(&isp.key, mlm_org, "mlm", true).await;
    let app_user = srv.user(&isp.key, mlm_org, &format!("app@{slug}-mlm.example"), &["mlm_app"]).await;
    let (_, mlm_app) = srv.api_key(&isp.key, app_user).await;
    let admin = |path: &str, body: Value| {
        let url = format!("/mlm/admin/{path}?business_id={mlm_org}");
        let key = isp.key.clone();
        async move { srv.json("POST", &url, &key, body).await }
    };
    let r =
        admin("packages", json!({"kind": "membership", "package_id": "P", "name": "P", "amount": 10, "pv": 5})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mlm_package = r.body["data"]["id"].as_i64().expect("package");
    let mlm_member = format!("mem-{slug}");
    let top = json!({"username": mlm_member, "password": PASSWORD, "firstname": "T", "lastname": "T",
                     "email": format!("top@{slug}-mlm.example"), "mobile": "1"});
    assert_eq!(admin("members/top", top).await.status, 201);
    let adjust = json!({"username": mlm_member, "amount": 50, "reason": "start"});
    assert_eq!(admin("ewallet/adjust", adjust).await.status, 200);
    let r = admin("epins", json!({"count": 1, "amount": 10})).await;
    let mlm_epin = r.body["data"]["codes"][0].as_str().expect("e-pin").to_string();
    let r = srv
        .send(
            srv.client
                .post(format!("{}/mlm/auth/access/", srv.base))
                .header("api_key", &mlm_app)
                .form(&[("username", mlm_member.as_str()), ("password", PASSWORD)]),
        )
        .await;
    let mlm_token = r.body["data"]["access_token"].as_str().expect("mlm token").to_string();
    let kyc = json!({"username": mlm_member, "status": "verified"});
    let r = srv.json("PUT", &format!("/mlm/admin/members/kyc?business_id={mlm_org}"), &isp.key, kyc).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = srv
        .send(
            srv.client
                .post(format!("{}/mlm/payout/request/", srv.base))
                .header("api_key", &mlm_app)
                .header("access_token", &mlm_token)
                .form(&[("amount", "5"), ("transaction_password", PASSWORD)]),
        )
        .await;
    let mlm_payout = r.body["data"]["id"].as_i64().expect("payout");
    let (content_type, body) = crate::mlm::multipart("image", "x.gif", b"GIF89a");
    let r = srv
        .send(
            srv.client
                .post(format!("{}/mlm/profile/image/", srv.base))
                .header("api_key", &mlm_app)
                .header("access_token", &mlm_token)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = srv
        .send(
            srv.client
                .get(format!("{}/mlm/profile/", srv.base))
                .header("api_key", &mlm_app)
                .header("access_token", &mlm_token),
        )
        .await;
    let mlm_image =
        r.body["data"]["profile_image"].as_str().expect("image").trim_start_matches("/mlm/images/").to_string();
    srv.enable(&srv.admin_key, isp.tenant, "billing", true).await;
    let billing_org = srv.tenant(&isp.key, isp.tenant, "organisation", &format!("{slug}-billing")).await;
    srv.enable(&isp.key, billing_org, "billing", true).await;
    let setup = json!({"business_id": billing_org, "name": "O", "email": format!("o@{slug}-billing.example"),
                       "pass": PASSWORD});
    let r = srv.json("POST", "/billing/setup", &isp.key, setup).await;
    let billing_staff = (
        r.body["result"]["inserted_id"].as_i64().expect("billing staff"),
        r.body["result"]["api_key"].as_str().expect("billing key").to_string(),
    );
    let staff = |path: &str, body: Value| {
        let req = srv.client.post(format!("{}/billing/admin/{path}", srv.base));
        srv.send(req.header("api_key", &billing_staff.1).header("admin_pass", PASSWORD).json(&body))
    };
    let r = staff("admin/get", json!({"id": billing_staff.0})).await;
    let billing_group = r.body["result"]["admin_group_id"].as_str().and_then(|g| g.parse().ok()).expect("group");
    let r = staff("client_group/add", json!({"name": "G"})).await;
    let billing_client_group = r.body["result"]["inserted_id"].as_i64().expect("client group");
    let client = json!({"first_name": "C", "last_name": "C", "email": format!("c@{slug}-billing.example"),
                        "country": "IN", "state": "D", "currency_code": "INR", "password": PASSWORD,
                        "confirm_password": PASSWORD});
    let mut billing_catalogue = [0; 4];
    for (i, (path, body)) in [
        ("product_category/add", json!({"title": "C"})),
        ("product/add", json!({"category_id": 0, "title": "P", "product_type": "hosting", "price": "1"})),
        ("product_addon/add", json!({"title": "A", "price": "1"})),
        ("product_promocode/add", json!({"code": "P", "promo_type": "fixed", "value": "1"})),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = body;
        if i == 1 {
            body["category_id"] = json!(billing_catalogue[0]);
        }
        let r = staff(path, body).await;
        billing_catalogue[i] = r.body["result"]["inserted_id"].as_i64().unwrap_or_else(|| panic!("{path}: {}", r.text));
    }
    let r = staff("client/add", client).await;
    let billing_client = (
        r.body["result"]["inserted_id"].as_i64().expect("billing client"),
        r.body["result"]["api_key"].as_str().expect("client key").to_string(),
    );
    Tree {
        billing_catalogue,
        billing_org,
        billing_staff,
        billing_group,
        billing_client_group,
        billing_client,
        mlm_org,
        mlm_app,
        mlm_member,
        mlm_token,
        mlm_package,
        mlm_epin,
        mlm_payout,
        mlm_image,
        webhook,
        delivery: delivery.expect("a delivery to the webhook"),
        isp,
        child,
        viewer,
        key_id,
        reseller,
        slug: org_slug,
        org,
        owner,
        addon,
        chat_token,
        operator,
        domain,
        registrar: (rid, rkey),
        customer,
        login_token,
        orders,
    }
}

/// Everything of a tree its own admin can read: compared before and after the attacks.
async fn snapshot(srv: &Server, t: &Tree) -> Vec<String> {
    let k = &t.isp.key;
    let user = t.isp.user.to_string();
    let mut out = Vec::new();
    for path in [
        format!("/core/v1/tenants/{}", t.isp.tenant),
        format!("/core/v1/tenants/{}", t.child),
        format!("/core/v1/tenants/{}/children", t.isp.tenant),
        format!("/core/v1/tenants/{}/users", t.isp.tenant),
        format!("/core/v1/tenants/{}/plugins", t.isp.tenant),
        format!("/core/v1/users/{}/api-keys", t.viewer),
        format!("/core/v1/audit?tenant_id={}&limit=100", t.isp.tenant),
        format!("/core/v1/webhooks?tenant_id={}", t.isp.tenant),
    ] {
        out.push(srv.get(&path, k).await.text);
    }
    for path in [format!("operator/{}", t.operator), format!("domain/{}", t.domain)] {
        let r =
            srv.send(srv.client.get(format!("{}/chat/admin/{path}", srv.base)).header("access_token", &t.chat_token));
        out.push(r.await.text);
    }
    out.push(srv.get(&format!("/chat/addons?organisation_id={}", t.org), k).await.text);
    let (rid, rkey) = &t.registrar;
    for path in [
        format!("customers/details-by-id.json?customer-id={}", t.customer),
        format!("codeguard/details.json?order-id={}", t.orders[0].0),
        format!("sitelock/details.json?order-id={}", t.orders[1].0),
    ] {
        let url = format!("{}/registrar/api/{path}&auth-userid={rid}&api-key={rkey}", srv.base);
        out.push(srv.send(srv.client.get(url)).await.text);
    }
    for path in ["members", "payouts", &format!("ewallet/ledger?username={}", t.mlm_member)] {
        let sep = if path.contains('?') { '&' } else { '?' };
        out.push(srv.get(&format!("/mlm/admin/{path}{sep}business_id={}", t.mlm_org), k).await.text);
    }
    for (path, body) in [
        ("admin/admin/get", json!({"id": t.billing_staff.0})),
        ("admin/admin_group/get", json!({"group_id": t.billing_group})),
        ("admin/client_group/get", json!({"group_id": t.billing_client_group})),
        ("admin/client/get", json!({"client_id": t.billing_client.0})),
        ("admin/product_category/get", json!({"category_id": t.billing_catalogue[0]})),
        ("admin/product/get", json!({"id": t.billing_catalogue[1]})),
        ("admin/product_addon/get", json!({"id": t.billing_catalogue[2]})),
        ("admin/product_promocode/get", json!({"promo_id": t.billing_catalogue[3]})),
    ] {
        let req = srv.client.post(format!("{}/billing/{path}", srv.base));
        let req = req.header("api_key", &t.billing_staff.1).header("admin_pass", PASSWORD).json(&body);
        out.push(srv.send(req).await.text);
    }
    for op in ["list", "wallet_txn"] {
        out.push(srv.form(&format!("/reseller/api/reseller/{op}"), &[("userid", &user), ("api_key", k)]).await.text);
    }
    out
}

enum Attack {
    /// A core call with the attacker's bearer key.
    Core(&'static str, String, Value),
    /// A chat admin call with the attacker's access token.
    Chat(&'static str, String, Value),
    /// A call whose credentials are in the body or query (chat logins): the attacker's own, aimed at this tree.
    Open(&'static str, String, Value),
    /// A registrar call with the attacker's auth-userid + api-key in front of the query.
    Registrar(&'static str, String, String),
    /// A reseller call with the attacker's userid + api_key added to the fields.
    Reseller(&'static str, Vec<(&'static str, String)>),
    /// The operation acts on the caller's own identity or on no tenant's objects: nothing to aim at another tree.
    NotTenantScoped,
    /// An mlm member call with the attacker's business key and this tree's member token.
    MlmToken(&'static str, &'static str, Vec<(&'static str, &'static str)>),
    /// The mlm image upload (multipart) with the attacker's business key and this tree's member token.
    MlmImage,
    /// An mlm member call with the attacker's own key and token, naming this tree's objects in the fields.
    MlmNaming(&'static str, String, Vec<(&'static str, String)>),
    /// A billing typed operation with the attacker's staff key and password (admin side) or client key and
    /// password (client side), naming this tree's objects.
    BillingStaff(&'static str, Value),
    BillingClient(&'static str, Value),
    /// The billing entry point with the attacker's staff credentials in the form, naming this tree's objects.
    BillingDispatch(Vec<(&'static str, String)>),
    /// One operation aimed several ways (a registrar operation once per product).
    Each(Vec<Attack>),
}

/// How to aim each operation at tree `a` with the credentials of tree `z`. None: not classified yet.
fn attack(operation_id: &str, a: &Tree, z: &Tree) -> Option<Attack> {
    let t = a.isp.tenant;
    let r = a.reseller.to_string();
    let isp = t.to_string();
    use Attack::*;
    Some(match operation_id {
        "core_me_get" | "core_plugins_list" | "core_webhook_event_types_list" => NotTenantScoped,
        // Platform admins only: the other tree's admin is refused like anyone below the platform.
        "core_jobs_list" => Core("GET", "/core/v1/jobs".into(), Value::Null),
        "core_emails_list" => Core("GET", format!("/core/v1/emails?tenant_id={t}"), Value::Null),
        "core_webhooks_create" => Core(
            "POST",
            "/core/v1/webhooks".into(),
            json!({"tenant_id": t, "url": "http://127.0.0.1:9/evil", "event_types": ["tenant.suspended"]}),
        ),
        "core_webhooks_list" => Core("GET", format!("/core/v1/webhooks?tenant_id={t}"), Value::Null),
        "core_webhooks_delete" => Core("DELETE", format!("/core/v1/webhooks/{}", a.webhook), Value::Null),
        "core_webhook_deliveries_list" => {
            Core("GET", format!("/core/v1/webhooks/{}/deliveries", a.webhook), Value::Null)
        }
        "core_webhook_deliveries_replay" => {
            Core("POST", format!("/core/v1/webhooks/deliveries/{}/replay", a.delivery), json!({}))
        }
        "core_tenants_create" => Core(
            "POST",
            "/core/v1/tenants".into(),
            json!({"parent_id": t, "kind": "organisation", "name": "x", "slug": "evil-org"}),
        ),
        "core_tenants_get" => Core("GET", format!("/core/v1/tenants/{}", a.child), Value::Null),
        "core_tenants_update" => {
            Core("PATCH", format!("/core/v1/tenants/{t}"), json!({"name": "pwned", "status": "suspended"}))
        }
        "core_tenants_children" => Core("GET", format!("/core/v1/tenants/{t}/children"), Value::Null),
        "core_users_create" => Core(
            "POST",
            format!("/core/v1/tenants/{t}/users"),
            json!({"email": "evil@x.example", "password": "long enough pw", "name": "e", "roles": ["tenant_admin"]}),
        ),
        "core_users_list" => Core("GET", format!("/core/v1/tenants/{t}/users"), Value::Null),
        "core_api_keys_create" => {
            Core("POST", format!("/core/v1/users/{}/api-keys", a.isp.user), json!({"name": "evil"}))
        }
        "core_api_keys_list" => Core("GET", format!("/core/v1/users/{}/api-keys", a.viewer), Value::Null),
        "core_api_keys_revoke" => Core("DELETE", format!("/core/v1/api-keys/{}", a.key_id), Value::Null),
        "core_user_roles_grant" => Core("PUT", format!("/core/v1/users/{}/roles/tenant_admin", a.viewer), json!({})),
        "core_user_roles_revoke" => {
            Core("DELETE", format!("/core/v1/users/{}/roles/reseller_viewer", a.viewer), Value::Null)
        }
        "core_tenant_plugins_list" => Core("GET", format!("/core/v1/tenants/{t}/plugins"), Value::Null),
        "core_tenant_plugins_set" => {
            Core("PUT", format!("/core/v1/tenants/{t}/plugins/reseller"), json!({"enabled": false}))
        }
        "core_audit_list" => Core("GET", format!("/core/v1/audit?tenant_id={t}"), Value::Null),
        "chat_addons_list" => Core("GET", format!("/chat/addons?organisation_id={}", a.org), Value::Null),
        "chat_addons_create" => Core(
            "POST",
            "/chat/addons".into(),
            json!({"organisation_id": a.org, "addon_unique_name": "evil", "kind": "live_chat"}),
        ),
        "chat_addons_disable" => {
            Core("POST", format!("/chat/addons/{}/disable?organisation_id={}", a.addon, a.org), json!({}))
        }
        "chat_tokens_issue" => Open(
            "POST",
            "/chat/admin/access-token".into(),
            json!({"email": z.owner, "password": PASSWORD, "organisation_domain": a.slug, "addon_unique_name": a.addon}),
        ),
        "chat_tokens_issue_get" => Open(
            "GET",
            format!(
                "/chat/admin/access-token?email={}&password={}&organisation_domain={}&addon_unique_name={}",
                z.owner,
                PASSWORD.replace(' ', "%20"),
                a.slug,
                a.addon
            ),
            Value::Null,
        ),
        "chat_tokens_validate" => Open(
            "POST",
            "/chat/admin/access-token/validate".into(),
            json!({"access_token": z.chat_token, "refresh_token": "crt_unknown", "addon_unique_name": a.addon}),
        ),
        // Rotates the presented pair only: there is no other tree's object to name.
        "chat_tokens_regenerate" => NotTenantScoped,
        // Creating acts in the token's own addon: the request cannot name another tree.
        "chat_operators_create" | "chat_domains_create" => NotTenantScoped,
        "chat_operators_get" => Chat("GET", format!("operator/{}", a.operator), Value::Null),
        "chat_operators_update" => Chat("PUT", format!("operator/update/{}", a.operator), json!({"status": 0})),
        "chat_domains_get" => Chat("GET", format!("domain/{}", a.domain), Value::Null),
        "chat_domains_update" => Chat("PUT", format!("domain/update/{}", a.domain), json!({"status": false})),
        "chat_assignments_create" => {
            Chat("POST", "operator/assign".into(), json!({"domain_name": a.domain, "operator_id": a.operator}))
        }
        "chat_assignments_update" => {
            Chat("PUT", format!("operator/assign/{}", a.operator), json!({"domain_name": a.domain, "is_admin": true}))
        }
        // These act on the caller's own reseller: there is no parameter to name another tree with.
        "registrar_customers_signup"
        | "registrar_customers_search"
        | "registrar_products_plan_details"
        | "registrar_products_add_plan" => NotTenantScoped,
        "registrar_customers_details" => {
            Registrar("GET", "customers/details-by-id.json".into(), format!("customer-id={}", a.customer))
        }
        "registrar_customers_suspend" => {
            Registrar("POST", "customers/suspend.json".into(), format!("customer-id={}&reason=x", a.customer))
        }
        "registrar_customers_unsuspend" => {
            Registrar("POST", "customers/unsuspend.json".into(), format!("customer-id={}&reason=x", a.customer))
        }
        "registrar_customers_add_funds" => {
            Registrar("POST", "customers/add-funds.json".into(), format!("customer-id={}&amount=5", a.customer))
        }
        "registrar_customers_login_token" => Registrar(
            "GET",
            "customers/generate-login-token.json".into(),
            format!("customer-id={}&ip=10.0.0.1", a.customer),
        ),
        "registrar_customers_authenticate_token" => Registrar(
            "GET",
            "customers/authenticate-token-without-history.json".into(),
            format!("token={}", a.login_token),
        ),
        // One operation per action serves both products (the path's product segment): aim it with each.
        id if id.starts_with("registrar_products_") => {
            let action = &id["registrar_products_".len()..];
            let mut each = Vec::new();
            for (product, (order, plan)) in [("codeguard", a.orders[0]), ("sitelock", a.orders[1])] {
                let common = format!("order-id={order}");
                each.push(match action {
                    "add" => Registrar(
                        "POST",
                        format!("{product}/add.json"),
                        format!(
                            "customer-id={}&domain-name=x.example&plan-id={plan}&months=12&invoice-option=NoInvoice",
                            a.customer
                        ),
                    ),
                    "details" => Registrar("GET", format!("{product}/details.json"), common),
                    "validate_modify" => Registrar(
                        "GET",
                        format!("{product}/validate-modify.json"),
                        format!("{common}&new-planid={plan}"),
                    ),
                    "modify_pricing" => Registrar(
                        "GET",
                        format!("{product}/modify-pricing.json"),
                        format!("{common}&new-plan-id={plan}&months=12"),
                    ),
                    "modify" => Registrar(
                        "POST",
                        format!("{product}/modify.json"),
                        format!("{common}&new-plan-id={plan}&invoice-option=NoInvoice"),
                    ),
                    _ => return None,
                });
            }
            Each(each)
        }
        // The mlm admin operations, aimed at the other business.
        id if id.starts_with("mlm_admin_") => {
            let org = a.mlm_org;
            let m = &a.mlm_member;
            match &id["mlm_admin_".len()..] {
                "settings_get" => Core("GET", format!("/mlm/admin/settings?business_id={org}"), Value::Null),
                "settings_put" => Core(
                    "PUT",
                    format!("/mlm/admin/settings?business_id={org}"),
                    json!({"registration_blocked": true, "username_min": 4, "username_max": 20, "signup_fee": 0,
                           "currency": "USD"}),
                ),
                "package_create" => Core(
                    "POST",
                    format!("/mlm/admin/packages?business_id={org}"),
                    json!({"kind": "cart", "package_id": "EVIL", "name": "x", "amount": 1, "pv": 1}),
                ),
                "member_top_create" => Core(
                    "POST",
                    format!("/mlm/admin/members/top?business_id={org}"),
                    json!({"username": "evil", "password": PASSWORD, "firstname": "e", "lastname": "e",
                           "email": "e@x.example", "mobile": "1"}),
                ),
                "members_list" => Core("GET", format!("/mlm/admin/members?business_id={org}"), Value::Null),
                "ewallet_adjust" => Core(
                    "POST",
                    format!("/mlm/admin/ewallet/adjust?business_id={org}"),
                    json!({"username": m, "amount": -50, "reason": "theft"}),
                ),
                "ewallet_ledger" => {
                    Core("GET", format!("/mlm/admin/ewallet/ledger?business_id={org}&username={m}"), Value::Null)
                }
                "compensation_preview" | "compensation_run" => Core(
                    "POST",
                    format!(
                        "/mlm/admin/compensation/{}?business_id={org}",
                        if id.ends_with("preview") { "preview" } else { "runs" }
                    ),
                    json!({"period": "2020-01-01"}),
                ),
                "compensation_runs" => {
                    Core("GET", format!("/mlm/admin/compensation/runs?business_id={org}"), Value::Null)
                }
                "genealogy" => {
                    Core("GET", format!("/mlm/admin/members/genealogy?business_id={org}&username={m}"), Value::Null)
                }
                "package_update" => Core(
                    "PUT",
                    format!("/mlm/admin/packages/{}?business_id={org}", a.mlm_package),
                    json!({"active": false}),
                ),
                "epins_list" => Core("GET", format!("/mlm/admin/epins?business_id={org}"), Value::Null),
                "member_kyc" => Core(
                    "PUT",
                    format!("/mlm/admin/members/kyc?business_id={org}"),
                    json!({"username": m, "status": "verified"}),
                ),
                "payouts_list" => Core("GET", format!("/mlm/admin/payouts?business_id={org}"), Value::Null),
                "payout_decide" => Core(
                    "PUT",
                    format!("/mlm/admin/payouts/{}?business_id={org}", a.mlm_payout),
                    json!({"status": "approved"}),
                ),
                "epins_create" => {
                    Core("POST", format!("/mlm/admin/epins?business_id={org}"), json!({"count": 1, "amount": 1}))
                }
                _ => return None,
            }
        }
        // Answers for the key's own business only: another business's usernames are not looked at.
        "mlm_username_check" => NotTenantScoped,
        "mlm_access_create" => MlmNaming(
            "POST",
            "auth/access/".into(),
            vec![("username", a.mlm_member.clone()), ("password", PASSWORD.into())],
        ),
        "mlm_member_register" => MlmNaming(
            "POST",
            "register/".into(),
            vec![
                ("sponsor_username", a.mlm_member.clone()),
                ("placement_username", a.mlm_member.clone()),
                ("position", "L".into()),
                ("product_id", a.mlm_package.to_string()),
                ("Firstname", "e".into()),
                ("lastname", "e".into()),
                ("date_of_birth", "1990-01-01".into()),
                ("email", "evil@x.example".into()),
                ("mobile", "1".into()),
                ("username", "evil".into()),
                ("password", PASSWORD.into()),
                ("password_confirmation", PASSWORD.into()),
                ("agree_terms", "true".into()),
                ("payment_method", "free_join".into()),
            ],
        ),
        "mlm_ewallet_payment" => MlmNaming(
            "POST",
            "ewallet/payment/".into(),
            vec![
                ("payment_amount", "1".into()),
                ("purpose", "purchase".into()),
                ("ewallet_username", a.mlm_member.clone()),
                ("transaction_password", PASSWORD.into()),
            ],
        ),
        "mlm_epin_payment" => MlmNaming(
            "POST",
            "epin/payment/".into(),
            vec![("payment_amount", "10".into()), ("epin_code", a.mlm_epin.clone())],
        ),
        "mlm_package_get" => MlmNaming("GET", format!("package/{}/", a.mlm_package), vec![]),
        // The rest act on the token's member: the attacker's key with this tree's token.
        "mlm_profile_get" => MlmToken("GET", "profile/", vec![]),
        "mlm_profile_personal_update" => MlmToken(
            "PUT",
            "profile/personal/",
            vec![("firstname", "e"), ("gender", "M"), ("date_of_birth", "1990-01-01")],
        ),
        "mlm_profile_contact_update" => MlmToken(
            "PUT",
            "profile/contact/",
            vec![("address_line1", "x"), ("country", "1"), ("city", "x"), ("email", "e@x.example"), ("mobile", "1")],
        ),
        "mlm_profile_bank_update" => MlmToken("PUT", "profile/bank/", vec![("bank_name", "evil")]),
        "mlm_password_change" => MlmToken(
            "PUT",
            "profile/password/",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "another passphrase"),
                ("password_confirmation", "another passphrase"),
            ],
        ),
        "mlm_ewallet_password_change" => MlmToken(
            "PUT",
            "ewallet/password/",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "another passphrase"),
                ("password_confirmation", "another passphrase"),
            ],
        ),
        "mlm_ewallet_balance" => MlmToken("POST", "ewallet/balance/", vec![]),
        "mlm_order_complete" => MlmToken(
            "POST",
            "order/complete/",
            vec![("order_id", "EVIL"), ("total_amount", "1"), ("total_quantity", "1"), ("total_pv", "1")],
        ),
        "mlm_packages_membership" => MlmToken("GET", "package/membership/", vec![]),
        "mlm_packages_cart" => MlmToken("POST", "package/cart/", vec![]),
        "mlm_signup_fee" => MlmToken("POST", "signup/fee/", vec![]),
        "mlm_cart_add" => MlmNaming(
            "POST",
            "cart/products/".into(),
            vec![("product_id", a.mlm_package.to_string()), ("quantity", "1".into())],
        ),
        "mlm_cart_remove" => MlmToken("DELETE", "cart/products/", vec![("product_id", "1")]),
        // Answered the same for any username; a username of another business is not looked at.
        "mlm_password_forgot" => NotTenantScoped,
        // The token names its business and member; one used with another business's key is unknown there
        // (mlm::forgotten_passwords_are_reset_by_email uses a real one so).
        "mlm_password_reset" | "mlm_ewallet_password_reset" => NotTenantScoped,
        "mlm_ewallet_password_forgot" => MlmToken("POST", "ewallet/password/forget/", vec![]),
        "mlm_image_get" => MlmNaming("GET", format!("images/{}", a.mlm_image), vec![]),
        "mlm_profile_image_upload" => MlmImage,
        "mlm_payout_request" => {
            MlmToken("POST", "payout/request/", vec![("amount", "1"), ("transaction_password", PASSWORD)])
        }
        "mlm_payout_list" => MlmToken("GET", "payout/requests/", vec![]),
        "mlm_cart_list" => MlmToken("GET", "cart/products/", vec![]),
        "mlm_cart_clear" => MlmToken("POST", "cart/products/all/", vec![]),
        "mlm_cart_checkout" => MlmToken("POST", "cart/checkout/", vec![("payment_method", "epin"), ("epin_code", "X")]),
        "mlm_address_add" => MlmToken(
            "POST",
            "cart/shipping_address/",
            vec![("name", "e"), ("address", "e"), ("zip_code", "1"), ("city", "e"), ("phone", "1")],
        ),
        "mlm_address_remove" => MlmToken("DELETE", "cart/shipping_address/", vec![("address_id", "1")]),
        "mlm_address_list" => MlmToken("GET", "cart/shipping_address/", vec![]),
        "mlm_address_default" => MlmToken("POST", "cart/shipping_address/default", vec![("address_id", "1")]),
        "billing_setup_create" => Core(
            "POST",
            "/billing/setup".into(),
            json!({"business_id": a.billing_org, "name": "E", "email": "e@x.example", "pass": PASSWORD}),
        ),
        "billing_api_dispatch" => Each(vec![
            BillingDispatch(vec![
                ("type", "client".into()),
                ("action", "get".into()),
                ("client_id", a.billing_client.0.to_string()),
            ]),
            BillingDispatch(vec![
                ("type", "client".into()),
                ("action", "delete".into()),
                ("client_id", a.billing_client.0.to_string()),
            ]),
            BillingDispatch(vec![
                ("type", "admin_group".into()),
                ("action", "edit".into()),
                ("group_id", a.billing_group.to_string()),
                ("name", "pwned".into()),
            ]),
        ]),
        // An add acts in the key's own business; these name nothing of another.
        "billing_staff_admin_group_add"
        | "billing_staff_client_group_add"
        | "billing_staff_product_category_add"
        | "billing_staff_product_addon_add"
        | "billing_staff_product_promocode_add" => NotTenantScoped,
        // Adds in the key's own business, naming a group or category of another.
        "billing_staff_admin_add" => BillingStaff(
            "admin/admin/add",
            json!({"group_id": a.billing_group, "name": "E", "email": "e@evil.example", "pass": PASSWORD}),
        ),
        "billing_staff_client_add" => BillingStaff(
            "admin/client/add",
            json!({"client_group_id": a.billing_client_group, "first_name": "E", "last_name": "E",
                   "email": "e@evil.example", "country": "X", "state": "X", "currency_code": "USD",
                   "password": PASSWORD, "confirm_password": PASSWORD}),
        ),
        "billing_staff_product_add" => BillingStaff(
            "admin/product/add",
            json!({"category_id": a.billing_catalogue[0], "title": "E", "product_type": "custom"}),
        ),
        id if id.starts_with("billing_staff_") => {
            let (group, staff, cgroup, client) =
                (a.billing_group, a.billing_staff.0, a.billing_client_group, a.billing_client.0);
            let [cat, product, addon, promo] = a.billing_catalogue;
            match &id["billing_staff_".len()..] {
                "admin_group_get" => BillingStaff("admin/admin_group/get", json!({"group_id": group})),
                "admin_group_edit" => {
                    BillingStaff("admin/admin_group/edit", json!({"group_id": group, "name": "pwned"}))
                }
                "admin_group_delete" => BillingStaff("admin/admin_group/delete", json!({"group_id": group})),
                "admin_get" => BillingStaff("admin/admin/get", json!({"id": staff})),
                // This tree's member; and the attacker's own member moved into this tree's group.
                "admin_edit" => Each(vec![
                    BillingStaff("admin/admin/edit", json!({"id": staff, "name": "pwned"})),
                    BillingStaff("admin/admin/edit", json!({"id": z.billing_staff.0, "group_id": group})),
                ]),
                "admin_delete" => BillingStaff("admin/admin/delete", json!({"id": staff})),
                "client_group_get" => BillingStaff("admin/client_group/get", json!({"group_id": cgroup})),
                "client_group_edit" => {
                    BillingStaff("admin/client_group/edit", json!({"group_id": cgroup, "name": "pwned"}))
                }
                "client_group_delete" => BillingStaff("admin/client_group/delete", json!({"group_id": cgroup})),
                "client_get" => BillingStaff("admin/client/get", json!({"client_id": client})),
                "client_edit" => Each(vec![
                    BillingStaff("admin/client/edit", json!({"client_id": client, "city": "pwned"})),
                    BillingStaff(
                        "admin/client/edit",
                        json!({"client_id": z.billing_client.0, "client_group_id": cgroup}),
                    ),
                ]),
                "client_delete" => BillingStaff("admin/client/delete", json!({"client_id": client})),
                "client_add_funds" => BillingStaff(
                    "admin/client/add_funds",
                    json!({"client_id": client, "amount": "-1", "idempotency_key": "evil"}),
                ),
                "product_category_get" => BillingStaff("admin/product_category/get", json!({"category_id": cat})),
                "product_category_edit" => {
                    BillingStaff("admin/product_category/edit", json!({"category_id": cat, "title": "pwned"}))
                }
                "product_category_delete" => BillingStaff("admin/product_category/delete", json!({"category_id": cat})),
                "product_get" => BillingStaff("admin/product/get", json!({"id": product})),
                "product_edit" => Each(vec![
                    BillingStaff("admin/product/edit", json!({"id": product, "price": "0"})),
                    BillingStaff("admin/product/edit", json!({"id": z.billing_catalogue[1], "category_id": cat})),
                ]),
                "product_delete" => BillingStaff("admin/product/delete", json!({"product_id": product})),
                "product_addon_get" => BillingStaff("admin/product_addon/get", json!({"id": addon})),
                "product_addon_edit" => BillingStaff("admin/product_addon/edit", json!({"id": addon, "price": "0"})),
                "product_addon_delete" => BillingStaff("admin/product_addon/delete", json!({"id": addon})),
                "product_promocode_get" => BillingStaff("admin/product_promocode/get", json!({"promo_id": promo})),
                "product_promocode_edit" => {
                    BillingStaff("admin/product_promocode/edit", json!({"promo_id": promo, "value": "99"}))
                }
                "product_promocode_delete" => {
                    BillingStaff("admin/product_promocode/delete", json!({"promo_id": promo}))
                }
                _ => return None,
            }
        }
        "billing_client_balance_get" => {
            BillingClient("client/client_balance/get", json!({"client_id": a.billing_client.0}))
        }
        "billing_client_balance_show" => {
            BillingClient("client/client_balance/client_balance", json!({"client_id": a.billing_client.0}))
        }
        "billing_client_profile_get" => BillingClient("client/profile/get", json!({"client_id": a.billing_client.0})),
        "billing_client_profile_edit" => {
            BillingClient("client/profile/edit", json!({"client_id": a.billing_client.0, "city": "pwned"}))
        }
        "billing_client_profile_change_password" => BillingClient(
            "client/profile/change_password",
            json!({"client_id": a.billing_client.0, "password": "a pwned password"}),
        ),
        "reseller_resellers_list" => Reseller("list", vec![("ispid", isp)]),
        "reseller_resellers_create" => Reseller(
            "create",
            vec![
                ("ispid", isp),
                ("name", "x".into()),
                ("code", "EVIL".into()),
                ("mobile", "12344444".into()),
                ("email", "e@x.example".into()),
                ("invoice_by", "ISP".into()),
                ("payment_by", "ISP".into()),
                ("type", "Reseller".into()),
            ],
        ),
        "reseller_resellers_update" => Reseller("update", vec![("resellerid", r), ("name", "pwned".into())]),
        "reseller_resellers_delete" => Reseller("delete", vec![("resellerid", r)]),
        "reseller_wallet_update" => {
            Reseller("wallet_update", vec![("resellerid", r), ("action", "Settlement".into()), ("amt", "10".into())])
        }
        "reseller_wallet_transactions" => Reseller("wallet_txn", vec![("ispid", isp)]),
        "reseller_wallet_credits_usage" => Reseller("credits_usage", vec![("ispid", isp)]),
        _ => return None,
    })
}

async fn run(srv: &Server, a: &Tree, z: &Tree, attack: Attack) -> Option<Resp> {
    let attacker = &z.isp;
    let request = |method: &str, url: String| {
        srv.client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{url}", srv.base))
    };
    match attack {
        Attack::Chat(method, path, body) => {
            let req = request(method, format!("/chat/admin/{path}")).header("access_token", &z.chat_token);
            Some(srv.send(if body.is_null() { req } else { req.json(&body) }).await)
        }
        Attack::Registrar(method, path, query) => {
            let (id, key) = &z.registrar;
            let url = format!("/registrar/api/{path}?auth-userid={id}&api-key={key}&{query}");
            Some(srv.send(request(method, url)).await)
        }
        Attack::Open(method, path, body) => {
            let req = request(method, path);
            Some(srv.send(if body.is_null() { req } else { req.json(&body) }).await)
        }
        Attack::MlmToken(method, path, fields) => {
            // A body that passes validation, so that only the credentials decide.
            let req = request(method, format!("/mlm/{path}")).header("api_key", &z.mlm_app);
            let req = req.header("access_token", &a.mlm_token);
            Some(srv.send(if fields.is_empty() { req } else { req.form(&fields) }).await)
        }
        Attack::MlmImage => {
            let (content_type, body) = crate::mlm::multipart("image", "x.gif", b"GIF89a");
            let req = request("POST", "/mlm/profile/image/".into())
                .header("api_key", &z.mlm_app)
                .header("access_token", &a.mlm_token)
                .header("content-type", content_type)
                .body(body);
            Some(srv.send(req).await)
        }
        Attack::MlmNaming(method, path, fields) => {
            let req = request(method, format!("/mlm/{path}")).header("api_key", &z.mlm_app);
            let req = if path.starts_with("auth/") || path.starts_with("register/") {
                req
            } else {
                req.header("access_token", &z.mlm_token)
            };
            Some(srv.send(if fields.is_empty() { req } else { req.form(&fields) }).await)
        }
        Attack::BillingStaff(path, body) => {
            let req = request("POST", format!("/billing/{path}")).header("api_key", &z.billing_staff.1);
            Some(srv.send(req.header("admin_pass", PASSWORD).json(&body)).await)
        }
        Attack::BillingClient(path, body) => {
            let req = request("POST", format!("/billing/{path}")).header("api_key", &z.billing_client.1);
            Some(srv.send(req.header("client_pass", PASSWORD).json(&body)).await)
        }
        Attack::BillingDispatch(fields) => {
            let mut all: Vec<(&str, &str)> = vec![("api_key", &z.billing_staff.1), ("admin_pass", PASSWORD)];
            all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            Some(srv.form("/billing/api/index.php", &all).await)
        }
        Attack::NotTenantScoped => None,
        Attack::Each(_) => unreachable!("flattened by the caller"),
        Attack::Core(method, path, body) => Some(if body.is_null() {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            srv.send(srv.client.request(m, format!("{}{path}", srv.base)).bearer_auth(&attacker.key)).await
        } else {
            srv.json(method, &path, &attacker.key, body).await
        }),
        Attack::Reseller(op, fields) => {
            let user = attacker.user.to_string();
            let mut all: Vec<(&str, &str)> = vec![("userid", &user), ("api_key", &attacker.key)];
            all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            Some(srv.form(&format!("/reseller/api/reseller/{op}"), &all).await)
        }
    }
}

/// The fields through which an attack names the other tree's objects.
const TARGET_FIELDS: [&str; 12] = [
    "parent_id",
    "tenant_id",
    "organisation_id",
    "ispid",
    "resellerid",
    "customer-id",
    "order-id",
    "id",
    "user",
    "category_id",
    "group_id",
    "client_group_id",
];

/// The answer refuses, or (for listings and counts) shows nothing of the other tree. A 400 counts as a refusal only
/// when it says that the object named by the field carrying the other tree's object does not exist for the caller:
/// any other 400 (a missing or malformed field) means the attack itself was malformed and proved nothing.
fn refused_or_empty(op: &str, r: &Resp) -> bool {
    let message = [
        &r.body["detail"],
        &r.body["error"],
        &r.body["message"],
        &r.body["error"]["message"],
        &r.body["message"]["error"],
    ]
    .into_iter()
    .find_map(|v| v.as_str())
    .unwrap_or("");
    let names_target = TARGET_FIELDS.iter().any(|f| message.starts_with(&format!("{f}:")))
        && ["not found", "does not exist", "not yours"].iter().any(|m| message.contains(m));
    // mlm: the seed's codes for "no such sponsor, placement, member, product or e-pin" in the caller's business.
    let mlm_unknown = r.status == 422
        && ["1007", "1009", "1011", "1012", "1016"].contains(&r.body["error"]["code"].as_str().unwrap_or(""));
    let refused = matches!(r.status, 401 | 403 | 404) || (r.status == 400 && names_target) || mlm_unknown;
    let empty = r.status == 200 && (r.body["result"] == json!([]) || r.body["result"] == json!(0));
    assert!(refused || empty, "{op}: the other tree was let in, or the attack was malformed: {} {}", r.status, r.text);
    true
}

async fn other_trees_are_refused_everywhere(b: Backend) {
    let srv = Server::start(b).await;
    let a = tree(&srv, "tree-a").await;
    let z = tree(&srv, "tree-z").await;
    let doc = srv.get_anon("/openapi.json").await.body;
    let before = snapshot(&srv, &a).await;

    let mut unclassified = Vec::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            match attack(id, &a, &z) {
                None => unclassified.push(format!("{} {path} ({id})", method.to_uppercase())),
                Some(attack) => {
                    let attacks = match attack {
                        Attack::Each(each) => each,
                        one => vec![one],
                    };
                    for attack in attacks {
                        if let Some(r) = run(&srv, &a, &z, attack).await {
                            assert!(refused_or_empty(id, &r));
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "operations the isolation matrix does not know how to exercise: {unclassified:#?}"
    );
    assert!(checked >= 45, "{checked}");
    eprintln!("{b:?}: {checked} operations aimed at the other tree, all refused");
    assert_eq!(before, snapshot(&srv, &a).await, "nothing of tree A changed");
}

both!(other_trees_are_refused_everywhere);
