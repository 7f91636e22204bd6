//! The mlm plugin through HTTP: the seed's member operations with its field names and headers, the error codes, the
//! binary genealogy (placement, positions, leg counts and volumes), the e-wallet and e-pins under concurrency, and
//! isolation between businesses and members.

use serde_json::{json, Value};

use crate::both;
use crate::support::{Resp, Server};

const PASSWORD: &str = "correct horse battery";

/// An MLM business: an organisation under an ISP with the plugin enabled on both, its app's key (the seed's
/// `api_key`), its admin's key, and the top member `company`.
struct Biz {
    id: i64,
    app: String,
    admin: String,
    membership: i64,
    cart: i64,
}

async fn business(srv: &Server, slug: &str) -> Biz {
    let isp = srv.isp(&format!("isp-{slug}")).await;
    srv.enable(&srv.admin_key, isp.tenant, "mlm", true).await;
    let id = srv.tenant(&isp.key, isp.tenant, "organisation", slug).await;
    srv.enable(&isp.key, id, "mlm", true).await;
    let app_user = srv.user(&isp.key, id, &format!("app@{slug}.example"), &["mlm_app"]).await;
    let (_, app) = srv.api_key(&isp.key, app_user).await;
    let admin_user = srv.user(&isp.key, id, &format!("admin@{slug}.example"), &["mlm_admin"]).await;
    let (_, admin) = srv.api_key(&isp.key, admin_user).await;
    let package = |kind: &str, code: &str, name: &str, amount: f64, pv: i64| {
        json!({"kind": kind, "package_id": code, "name": name, "amount": amount, "pv": pv, "category": "health",
               "image": "https://cdn.example/p.png", "description": "A package."})
    };
    let r = srv.json("POST", "/mlm/admin/packages", &admin, package("membership", "GOLD", "Gold", 100.0, 50)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let membership = r.body["data"]["id"].as_i64().unwrap();
    let r = srv.json("POST", "/mlm/admin/packages", &admin, package("cart", "VITA", "Vitamins", 25.5, 10)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cart = r.body["data"]["id"].as_i64().unwrap();
    let top = json!({"username": "company", "password": PASSWORD, "firstname": "The", "lastname": "Company",
                     "email": format!("top@{slug}.example"), "mobile": "5550100"});
    let r = srv.json("POST", "/mlm/admin/members/top", &admin, top).await;
    assert_eq!(r.status, 201, "{}", r.text);
    Biz { id, app, admin, membership, cart }
}

/// A call of the member API with the seed's headers; `body` as a form (the seed's content type).
async fn call(srv: &Server, method: &str, path: &str, b: &Biz, token: Option<&str>, form: &[(&str, &str)]) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = srv.client.request(m, format!("{}/mlm/{path}", srv.base)).header("api_key", &b.app);
    if let Some(t) = token {
        req = req.header("access_token", t);
    }
    if !form.is_empty() {
        req = req.form(form);
    }
    srv.send(req).await
}

async fn token(srv: &Server, b: &Biz, username: &str, password: &str) -> String {
    let r = call(srv, "POST", "auth/access/", b, None, &[("username", username), ("password", password)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], true);
    r.body["data"]["access_token"].as_str().unwrap().to_string()
}

/// The seed's registration fields, free join, for `username` under `placement` at `position`.
fn registration<'a>(
    username: &'a str,
    sponsor: &'a str,
    placement: &'a str,
    position: &'a str,
    product: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("sponsor_username", sponsor),
        ("placement_username", placement),
        ("position", position),
        ("product_id", product),
        ("Firstname", "Anna"),
        ("lastname", "Lind"),
        ("date_of_birth", "1990-04-01"),
        ("email", ""),
        ("mobile", "5550101"),
        ("username", username),
        ("password", PASSWORD),
        ("password_confirmation", PASSWORD),
        ("agree_terms", "true"),
        ("payment_method", "free_join"),
    ]
}

async fn register(srv: &Server, b: &Biz, fields: &[(&str, &str)]) -> Resp {
    let username = fields.iter().find(|(k, _)| *k == "username").map(|(_, v)| *v).unwrap_or("x");
    let email = format!("{username}@members.example");
    let mut fields: Vec<(&str, &str)> = fields.iter().filter(|(k, _)| *k != "email").copied().collect();
    fields.push(("email", &email));
    call(srv, "POST", "register/", b, None, &fields).await
}

fn failed(r: &Resp, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["status"], false, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    assert!(r.body["error"]["description"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.text);
    if let Some(f) = field {
        assert!(r.body["error"]["fields"][f].is_string(), "fields should name {f}: {}", r.text);
    }
}

fn data(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], true, "{}", r.text);
    &r.body["data"]
}

async fn seed_operations_work(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "grow").await;
    let gold = biz.membership.to_string();
    let r = register(&srv, &biz, &registration("Anna", "company", "company", "L", &gold)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body, json!({"status": true, "data": {"username": "anna"}}));
    // JSON bodies work as well as forms.
    let body = json!({"sponsor_username": "company", "placement_username": "anna", "position": "R",
        "product_id": biz.membership, "Firstname": "Bo", "lastname": "Berg", "date_of_birth": "1985-12-31",
        "email": "bo@members.example", "mobile": "5550102", "username": "bodil", "password": PASSWORD,
        "password_confirmation": PASSWORD, "agree_terms": true, "payment_method": "free_join"});
    let r =
        srv.send(srv.client.post(format!("{}/mlm/register/", srv.base)).header("api_key", &biz.app).json(&body)).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The top member sees both below its left leg, with their packages' PV.
    let top = token(&srv, &biz, "company", PASSWORD).await;
    let p = call(&srv, "GET", "profile/", &biz, Some(&top), &[]).await;
    let p = data(&p);
    assert_eq!((p["left_count"].as_i64(), p["right_count"].as_i64()), (Some(2), Some(0)), "{p}");
    assert_eq!((p["left_pv"].as_i64(), p["right_pv"].as_i64()), (Some(100), Some(0)), "{p}");
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let r = call(&srv, "GET", "profile/", &biz, Some(&anna), &[]).await;
    let p = data(&r);
    assert_eq!(p["username"], "anna");
    assert_eq!(p["sponsor_user"], "company");
    assert_eq!(p["placement_user"], "company");
    assert_eq!(p["position"], "L");
    assert_eq!(p["membership_package"], "Gold");
    assert_eq!(p["firstname"], "Anna");
    assert_eq!((p["right_count"].as_i64(), p["right_pv"].as_i64()), (Some(1), Some(50)), "{p}");
    assert!(p.get("password").is_none() && p.get("txn_password_hash").is_none(), "{p}");

    // Profile updates, each answered 204 with no body and visible in the profile.
    let r = call(
        &srv,
        "PUT",
        "profile/personal/",
        &biz,
        Some(&anna),
        &[("firstname", "Annie"), ("gender", "F"), ("date_of_birth", "1991-05-06")],
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = call(
        &srv,
        "PUT",
        "profile/contact/",
        &biz,
        Some(&anna),
        &[
            ("address_line1", "1 Main St"),
            ("country", "46"),
            ("city", "Lund"),
            ("email", "annie@members.example"),
            ("mobile", "5550199"),
        ],
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(
        &srv,
        "PUT",
        "profile/bank/",
        &biz,
        Some(&anna),
        &[("bank_name", "Nordbank"), ("account_number", "12345678"), ("ifsc", "NB0001")],
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(&srv, "GET", "profile/", &biz, Some(&anna), &[]).await;
    let p = data(&r);
    assert_eq!((&p["firstname"], &p["lastname"], &p["gender"]), (&json!("Annie"), &json!("Lind"), &json!("F")));
    assert_eq!((&p["date_of_birth"], &p["city"], &p["country"]), (&json!("1991-05-06"), &json!("Lund"), &json!("46")));
    assert_eq!(
        (&p["email"], &p["bank_name"], &p["ifsc"]),
        (&json!("annie@members.example"), &json!("Nordbank"), &json!("NB0001"))
    );

    // Packages and the fee, in the seed's shapes.
    let r = call(&srv, "GET", "package/membership/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["products"], json!([{"id": biz.membership, "name": "Gold", "amount": 100.0}]));
    let r = call(&srv, "POST", "package/cart/", &biz, Some(&anna), &[]).await;
    assert_eq!(
        data(&r)["products"],
        json!([{"id": biz.cart, "name": "Vitamins", "amount": 25.5, "pv": 10.0,
        "category": "health", "image": "https://cdn.example/p.png"}])
    );
    let r = call(&srv, "GET", &format!("package/{}/", biz.cart), &biz, Some(&anna), &[]).await;
    let d = data(&r);
    assert_eq!((&d["package_id"], &d["description"]), (&json!("VITA"), &json!("A package.")));
    let r = call(&srv, "GET", "package/999999/", &biz, Some(&anna), &[]).await;
    failed(&r, 404, "1012", None);
    let settings = json!({"registration_blocked": false, "username_min": 4, "username_max": 20, "signup_fee": 12.5,
                          "currency": "EUR"});
    let r = srv.json("PUT", "/mlm/admin/settings", &biz.admin, settings).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(&srv, "POST", "signup/fee/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["fee"], 12.5);
    let r = call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["balance"], 0.0);

    // A package taken off the offer is gone for members.
    let r = srv
        .json("PUT", &format!("/mlm/admin/packages/{}", biz.cart), &biz.admin, json!({"active": false, "pv": 12}))
        .await;
    assert_eq!((r.status, &r.body["data"]["pv"]), (200, &json!(12.0)), "{}", r.text);
    let r = call(&srv, "POST", "package/cart/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["products"], json!([]));
    failed(&call(&srv, "GET", &format!("package/{}/", biz.cart), &biz, Some(&anna), &[]).await, 404, "1012", None);
    failed(
        &srv.json("PUT", "/mlm/admin/packages/999999", &biz.admin, json!({"active": true})).await,
        404,
        "1012",
        None,
    );

    // Username availability.
    let r = call(&srv, "GET", "register/username/?username=newbie", &biz, None, &[]).await;
    assert_eq!(data(&r)["available"], true);
    let r = call(&srv, "GET", "register/username/?username=ANNA", &biz, None, &[]).await;
    failed(&r, 422, "1010", Some("username"));

    // An order's PV counts for the member and every upline's leg, once.
    let order = [("order_id", "SHOP-1"), ("total_amount", "51.00"), ("total_quantity", "2"), ("total_pv", "20")];
    let bo = token(&srv, &biz, "bodil", PASSWORD).await;
    let r = call(&srv, "POST", "order/complete/", &biz, Some(&bo), &order).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(&srv, "POST", "order/complete/", &biz, Some(&bo), &order).await;
    failed(&r, 409, "409", None);
    let r = call(&srv, "GET", "profile/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["right_pv"], 70);
    let r = call(&srv, "GET", "profile/", &biz, Some(&top), &[]).await;
    assert_eq!(data(&r)["left_pv"], 120);
    let r = call(&srv, "GET", "profile/", &biz, Some(&bo), &[]).await;
    assert_eq!(data(&r)["personal_pv"], 70);

    // The genealogy, breadth first and depth-limited, paged.
    let r = srv.get("/mlm/admin/members/genealogy?username=company&depth=2", &biz.admin).await;
    let nodes: Vec<(String, String, String, i64)> = data(&r)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["username"].as_str().unwrap().into(),
                n["placement_user"].as_str().unwrap().into(),
                n["position"].as_str().unwrap().into(),
                n["level"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("company".into(), "".into(), "".into(), 0),
            ("anna".into(), "company".into(), "L".into(), 1),
            ("bodil".into(), "anna".into(), "R".into(), 2)
        ]
    );
    let r = srv.get("/mlm/admin/members/genealogy?username=anna&depth=0", &biz.admin).await;
    assert_eq!((data(&r)["total"].as_i64(), data(&r)["items"][0]["right_count"].as_i64()), (Some(1), Some(1)));
    let r = srv.get("/mlm/admin/members/genealogy?username=company&depth=2&limit=1&offset=1", &biz.admin).await;
    assert_eq!((data(&r)["total"].as_i64(), data(&r)["items"][0]["username"].as_str()), (Some(3), Some("anna")));
    failed(
        &srv.get("/mlm/admin/members/genealogy?username=company&depth=11", &biz.admin).await,
        422,
        "1004",
        Some("depth"),
    );

    // The admin finds members by name.
    let r = srv.get("/mlm/admin/members?search=berg", &biz.admin).await;
    let d = data(&r);
    assert_eq!(d["total"], 1);
    assert_eq!(d["items"][0]["username"], "bodil");
    assert_eq!(d["items"][0]["depth"], 2);
}

async fn error_codes_are_the_seeds(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "codes").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    assert_eq!(register(&srv, &biz, &registration("cara", "company", "company", "R", &gold)).await.status, 201);

    // 1001: no key, a wrong key, a key of a business without the plugin's app role.
    let r = srv.send(srv.client.post(format!("{}/mlm/auth/access/", srv.base)).form(&[("username", "anna")])).await;
    failed(&r, 401, "1001", None);
    let wrong = Biz { app: "tsk_wrong".into(), ..biz_clone(&biz) };
    failed(
        &call(&srv, "POST", "auth/access/", &wrong, None, &[("username", "anna"), ("password", PASSWORD)]).await,
        401,
        "1001",
        None,
    );
    let admin_as_app = Biz { app: biz.admin.clone(), ..biz_clone(&biz) };
    failed(
        &call(&srv, "POST", "auth/access/", &admin_as_app, None, &[("username", "anna"), ("password", PASSWORD)]).await,
        403,
        "1001",
        None,
    );
    // 1002: a wrong token, none at all.
    failed(&call(&srv, "GET", "profile/", &biz, Some("mat_nope"), &[]).await, 401, "1002", None);
    failed(&call(&srv, "GET", "profile/", &biz, None, &[]).await, 401, "1002", None);
    // 1003: wrong password, unknown username (the same answer).
    let wrong_pw =
        call(&srv, "POST", "auth/access/", &biz, None, &[("username", "anna"), ("password", "not it at all")]).await;
    failed(&wrong_pw, 401, "1003", None);
    let unknown =
        call(&srv, "POST", "auth/access/", &biz, None, &[("username", "nobody"), ("password", "not it at all")]).await;
    failed(&unknown, 401, "1003", None);
    assert_eq!(wrong_pw.body["error"]["description"], unknown.body["error"]["description"]);
    // 1004: a missing field, with the field named.
    let mut fields = registration("dana", "company", "anna", "L", &gold);
    fields.retain(|(k, _)| *k != "lastname");
    failed(&register(&srv, &biz, &fields).await, 422, "1004", Some("lastname"));
    let mut fields = registration("dana", "company", "anna", "L", &gold);
    fields.retain(|(k, _)| *k != "password_confirmation");
    fields.push(("password_confirmation", "something else"));
    failed(&register(&srv, &biz, &fields).await, 422, "1004", Some("password_confirmation"));
    failed(
        &register(&srv, &biz, &registration("dana", "company", "anna", "X", &gold)).await,
        422,
        "1004",
        Some("position"),
    );
    // 1007 sponsor, 1008 position taken, 1009 placement outside the sponsor's downline, 1010 username, 1012 product,
    // 1013 date.
    failed(
        &register(&srv, &biz, &registration("dana", "ghost", "anna", "L", &gold)).await,
        422,
        "1007",
        Some("sponsor_username"),
    );
    failed(
        &register(&srv, &biz, &registration("dana", "company", "company", "L", &gold)).await,
        422,
        "1008",
        Some("position"),
    );
    failed(
        &register(&srv, &biz, &registration("dana", "anna", "cara", "L", &gold)).await,
        422,
        "1009",
        Some("placement_username"),
    );
    failed(
        &register(&srv, &biz, &registration("cara", "company", "anna", "L", &gold)).await,
        422,
        "1010",
        Some("username"),
    );
    let cart = biz.cart.to_string();
    failed(
        &register(&srv, &biz, &registration("dana", "company", "anna", "L", &cart)).await,
        422,
        "1012",
        Some("product_id"),
    );
    let mut fields = registration("dana", "company", "anna", "L", &gold);
    fields.retain(|(k, _)| *k != "date_of_birth");
    fields.push(("date_of_birth", "01/04/1990"));
    failed(&register(&srv, &biz, &fields).await, 422, "1013", Some("date_of_birth"));
    // 1006: registration blocked by the business.
    let blocked = json!({"registration_blocked": true, "username_min": 4, "username_max": 20, "signup_fee": 0,
                         "currency": "USD"});
    assert_eq!(srv.json("PUT", "/mlm/admin/settings", &biz.admin, blocked).await.status, 200);
    failed(&register(&srv, &biz, &registration("dana", "company", "anna", "L", &gold)).await, 403, "1006", None);
    // 1005: the login is blocked after repeated failures, even for the right password.
    for _ in 0..5 {
        call(&srv, "POST", "auth/access/", &biz, None, &[("username", "cara"), ("password", "wrong wrong")]).await;
    }
    let r = call(&srv, "POST", "auth/access/", &biz, None, &[("username", "cara"), ("password", PASSWORD)]).await;
    failed(&r, 429, "1005", None);
    assert!(r.header("retry-after").is_some());
}

fn biz_clone(b: &Biz) -> Biz {
    Biz { id: b.id, app: b.app.clone(), admin: b.admin.clone(), membership: b.membership, cart: b.cart }
}

async fn ewallet_and_epins(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "wallet").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let credit = |amount: f64, key: &str| json!({"username": "anna", "amount": amount, "reason": "bonus by hand", "idempotency_key": key});
    let r = srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit(100.0, "c1")).await;
    assert_eq!(data(&r)["balance"], 100.0);
    // The same key again moves nothing.
    let r = srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit(100.0, "c1")).await;
    assert_eq!(data(&r)["balance"], 100.0);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let pay = |amount: &'static str, password: &'static str, key: &'static str| {
        vec![
            ("payment_amount", amount),
            ("purpose", "purchase"),
            ("ewallet_username", "anna"),
            ("transaction_password", password),
            ("idempotency_key", key),
        ]
    };
    failed(
        &call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("30", "wrong one!", "p1")).await,
        422,
        "1015",
        Some("transaction_password"),
    );
    let r = call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("30", PASSWORD, "p1")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("30", PASSWORD, "p1")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // A key is one payment: the same key for another amount is refused, not taken as done.
    failed(
        &call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("0.01", PASSWORD, "p1")).await,
        409,
        "409",
        None,
    );
    failed(
        &call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("70.01", PASSWORD, "p2")).await,
        422,
        "1014",
        Some("payment_amount"),
    );
    // The admin's credit key c1 is not the member's: a payment keyed c1 is a payment of its own.
    assert_eq!(
        call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("0.5", PASSWORD, "c1")).await.status,
        204
    );
    srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit(0.5, "c1-back")).await;
    let r = call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["balance"], 70.0);

    // A registration paid from anna's e-wallet: package 100 is more than her 70.
    let mut fields = registration("bodil", "anna", "anna", "L", &gold);
    fields.retain(|(k, _)| *k != "payment_method");
    fields.extend([("payment_method", "ewallet"), ("ewallet_username", "anna"), ("transaction_password", PASSWORD)]);
    failed(&register(&srv, &biz, &fields).await, 422, "1014", None);
    srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit(30.0, "c2")).await;
    let r = register(&srv, &biz, &fields).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["balance"], 0.0);

    // E-pins: generated in a batch, shown once, each spent once.
    let r = srv.json("POST", "/mlm/admin/epins", &biz.admin, json!({"count": 2, "amount": 100})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let codes: Vec<String> =
        r.body["data"]["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 2);
    let mut fields = registration("cara", "anna", "anna", "R", &gold);
    fields.retain(|(k, _)| *k != "payment_method");
    fields.extend([("payment_method", "epin"), ("epin_code", codes[0].as_str())]);
    assert_eq!(register(&srv, &biz, &fields).await.status, 201);
    let r =
        call(&srv, "POST", "epin/payment/", &biz, Some(&anna), &[("payment_amount", "10"), ("epin_code", &codes[0])])
            .await;
    failed(&r, 422, "1016", Some("epin_code"));
    let r = call(
        &srv,
        "POST",
        "epin/payment/",
        &biz,
        Some(&anna),
        &[("payment_amount", "100.01"), ("epin_code", &codes[1])],
    )
    .await;
    failed(&r, 422, "1016", Some("epin_code"));
    let r =
        call(&srv, "POST", "epin/payment/", &biz, Some(&anna), &[("payment_amount", "100"), ("epin_code", &codes[1])])
            .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let r = srv.get("/mlm/admin/epins", &biz.admin).await;
    let batch = &data(&r)["items"][0];
    assert_eq!((&batch["pins"], &batch["used"], &batch["amount"]), (&json!(2), &json!(2), &json!(100.0)), "{batch}");
    assert!(!r.text.contains(&codes[0]), "codes are shown once");

    // The transaction password changes apart from the login password.
    let change = [
        ("current_password", PASSWORD),
        ("new_password", "a new wallet secret"),
        ("password_confirmation", "a new wallet secret"),
    ];
    assert_eq!(call(&srv, "PUT", "ewallet/password/", &biz, Some(&anna), &change).await.status, 204);
    srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit(5.0, "c3")).await;
    failed(
        &call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("1", PASSWORD, "p3")).await,
        422,
        "1015",
        None,
    );
    let p = [
        ("payment_amount", "1"),
        ("purpose", "purchase"),
        ("ewallet_username", "anna"),
        ("transaction_password", "a new wallet secret"),
    ];
    assert_eq!(call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &p).await.status, 204);
    // Guessing the transaction password is counted like logins: after five failures even the right one waits.
    for _ in 0..5 {
        let r = call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay("1", "a wrong guess", "g")).await;
        assert!(r.status == 422 || r.status == 429, "{}", r.text);
    }
    let r = call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &p).await;
    failed(&r, 429, "1005", None);
}

async fn one_registration_takes_a_position(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "race").await;
    let gold = biz.membership.to_string();
    let names: Vec<String> = (0..6).map(|i| format!("racer{i}")).collect();
    let tries = names.iter().map(|n| {
        let fields = registration(n, "company", "company", "R", &gold);
        let (srv, biz) = (&srv, &biz);
        async move { register(srv, biz, &fields).await }
    });
    let answers = futures::future::join_all(tries).await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 1, "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != 201) {
        failed(r, 422, "1008", Some("position"));
    }
    let top = token(&srv, &biz, "company", PASSWORD).await;
    let r = call(&srv, "GET", "profile/", &biz, Some(&top), &[]).await;
    assert_eq!((data(&r)["right_count"].as_i64(), data(&r)["right_pv"].as_i64()), (Some(1), Some(50)));
}

/// Registrations racing with one email, each for a free position: one member is created, the others are told the
/// email is taken (422 naming `email`), not that the database refused a duplicate.
async fn one_email_registers_once(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "mails").await;
    let gold = biz.membership.to_string();
    for (name, pos) in [("anna", "L"), ("cara", "R")] {
        assert_eq!(register(&srv, &biz, &registration(name, "company", "company", pos, &gold)).await.status, 201);
    }
    let names: Vec<String> = (0..4).map(|i| format!("twin{i}")).collect();
    let spots = [("anna", "L"), ("anna", "R"), ("cara", "L"), ("cara", "R")];
    let tries = names.iter().zip(spots).map(|(name, (placement, pos))| {
        let mut fields = registration(name, placement, placement, pos, &gold);
        fields.retain(|(k, _)| *k != "email");
        fields.push(("email", "twin@members.example"));
        let (srv, biz) = (&srv, &biz);
        async move { call(srv, "POST", "register/", biz, None, &fields).await }
    });
    let answers = futures::future::join_all(tries).await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(won, 1, "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != 201) {
        failed(r, 422, "1004", Some("email"));
    }
    // The race made certain on PostgreSQL: another transaction holds the email, uncommitted, while a registration
    // checks it (not seen) and inserts (waits on the unique index); then that transaction commits.
    if srv.db_url.starts_with("postgres") {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&srv.db_url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO principals (tenant_id, email, name, status, created_at) \
             VALUES ($1, 'late@members.example', 'Late', 'active', 0)",
        )
        .bind(biz.id)
        .execute(&mut *tx)
        .await
        .unwrap();
        // A position none of the twins took.
        let winner = answers.iter().position(|r| r.status == 201).unwrap_or(0);
        let (placement, pos) = spots[(winner + 1) % spots.len()];
        let mut fields = registration("late", placement, placement, pos, &gold);
        fields.retain(|(k, _)| *k != "email");
        fields.push(("email", "late@members.example"));
        let commit_later = async {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            tx.commit().await.unwrap();
        };
        let (r, ()) = tokio::join!(call(&srv, "POST", "register/", &biz, None, &fields), commit_later);
        failed(&r, 422, "1004", Some("email"));
    }
}

async fn an_epin_is_spent_once(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "pins").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let r = srv.json("POST", "/mlm/admin/epins", &biz.admin, json!({"count": 1, "amount": 50})).await;
    let code = r.body["data"]["codes"][0].as_str().unwrap().to_string();
    let tries = (0..8).map(|_| {
        let (srv, biz, anna, code) = (&srv, &biz, &anna, &code);
        async move {
            call(srv, "POST", "epin/payment/", biz, Some(anna), &[("payment_amount", "50"), ("epin_code", code)]).await
        }
    });
    let answers = futures::future::join_all(tries).await;
    assert_eq!(answers.iter().filter(|r| r.status == 204).count(), 1);
    for r in answers.iter().filter(|r| r.status != 204) {
        failed(r, 422, "1016", Some("epin_code"));
    }
}

async fn concurrent_debits_never_overdraw(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "debits").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let r = srv
        .json(
            "POST",
            "/mlm/admin/ewallet/adjust",
            &biz.admin,
            json!({"username": "anna", "amount": 100, "reason": "start"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    let tries = keys.iter().map(|k| {
        let (srv, biz, anna) = (&srv, &biz, &anna);
        async move {
            let p = [
                ("payment_amount", "10"),
                ("purpose", "purchase"),
                ("ewallet_username", "anna"),
                ("transaction_password", PASSWORD),
                ("idempotency_key", k.as_str()),
            ];
            call(srv, "POST", "ewallet/payment/", biz, Some(anna), &p).await
        }
    });
    let answers = futures::future::join_all(tries).await;
    assert_eq!(answers.iter().filter(|r| r.status == 204).count(), 10);
    for r in answers.iter().filter(|r| r.status != 204) {
        failed(r, 422, "1014", None);
    }
    let r = call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["balance"], 0.0);
    // The ledger sums to the balance: the credit and the ten debits, each with its source.
    let r = srv.get("/mlm/admin/ewallet/ledger?username=anna&limit=100", &biz.admin).await;
    let items = data(&r)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 11, "{}", r.text);
    let sum: f64 = items.iter().map(|e| e["amount"].as_f64().unwrap()).sum();
    assert_eq!(sum, 0.0);
    assert_eq!(items.iter().filter(|e| e["source"] == "purchase").count(), 10);
    assert_eq!(items[0]["balance_after"], 0.0);
}

async fn businesses_and_members_are_apart(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let one = business(&srv, "one").await;
    let two = business(&srv, "two").await;
    let gold = one.membership.to_string();
    assert_eq!(register(&srv, &one, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let anna = token(&srv, &one, "anna", PASSWORD).await;
    // Anna's token with the other business's key is no token at all there.
    failed(&call(&srv, "GET", "profile/", &two, Some(&anna), &[]).await, 401, "1002", None);
    // The other business has no anna, and its packages are not this one's.
    failed(
        &call(&srv, "POST", "auth/access/", &two, None, &[("username", "anna"), ("password", PASSWORD)]).await,
        401,
        "1003",
        None,
    );
    let r = call(&srv, "GET", &format!("package/{}/", two.membership), &one, Some(&anna), &[]).await;
    failed(&r, 404, "1012", None);
    failed(
        &register(&srv, &two, &registration("bodil", "anna", "anna", "L", &two.membership.to_string())).await,
        422,
        "1007",
        None,
    );
    // An admin of one business cannot reach the other's members.
    let r = srv.get(&format!("/mlm/admin/members?business_id={}", two.id), &one.admin).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = srv.get("/mlm/admin/members", &two.admin).await;
    assert_eq!(data(&r)["total"], 1, "only two's top member");
    // A changed password revokes the member's tokens.
    let change = [
        ("current_password", PASSWORD),
        ("new_password", "another passphrase"),
        ("password_confirmation", "another passphrase"),
    ];
    assert_eq!(call(&srv, "PUT", "profile/password/", &one, Some(&anna), &change).await.status, 204);
    failed(&call(&srv, "GET", "profile/", &one, Some(&anna), &[]).await, 401, "1002", None);
    failed(
        &call(&srv, "POST", "auth/access/", &one, None, &[("username", "anna"), ("password", PASSWORD)]).await,
        401,
        "1003",
        None,
    );
    token(&srv, &one, "anna", "another passphrase").await;
}

async fn cart_and_checkout(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "cart").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let vita = biz.cart.to_string();
    assert_eq!(
        call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "2")])
            .await
            .status,
        204
    );
    assert_eq!(
        call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "1")])
            .await
            .status,
        204
    );
    let r = call(&srv, "GET", "cart/products/", &biz, Some(&anna), &[]).await;
    assert_eq!(
        data(&r)["cart_items"],
        json!([{"product_id": biz.cart, "product_name": "Vitamins",
        "product_amount": 25.5, "quantity": 3.0}])
    );
    // A membership package is not for the cart; a product not in the cart cannot be removed.
    let r = call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", &gold), ("quantity", "1")]).await;
    failed(&r, 422, "1012", Some("product_id"));
    failed(
        &call(&srv, "DELETE", "cart/products/", &biz, Some(&anna), &[("product_id", &gold)]).await,
        404,
        "1012",
        None,
    );
    assert_eq!(call(&srv, "DELETE", "cart/products/", &biz, Some(&anna), &[("product_id", &vita)]).await.status, 204);
    let r = call(&srv, "GET", "cart/products/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["cart_items"], json!([]));
    call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "5")]).await;
    assert_eq!(call(&srv, "POST", "cart/products/all/", &biz, Some(&anna), &[]).await.status, 204);
    let r = call(&srv, "GET", "cart/products/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["cart_items"], json!([]));
    call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "2")]).await;

    // Shipping addresses: the first is the default until another is chosen.
    let pay = [("payment_method", "ewallet"), ("transaction_password", PASSWORD)];
    failed(&call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &pay).await, 422, "1004", Some("address_id"));
    for city in ["Lund", "Malmo"] {
        let a = [("name", "Anna"), ("address", "1 Main St"), ("zip_code", "22100"), ("city", city), ("phone", "555")];
        assert_eq!(call(&srv, "POST", "cart/shipping_address/", &biz, Some(&anna), &a).await.status, 204);
    }
    let r = call(&srv, "GET", "cart/shipping_address/", &biz, Some(&anna), &[]).await;
    let list = data(&r)["address_list"].as_array().unwrap().clone();
    assert_eq!(
        list.iter().map(|a| (a["city"].as_str().unwrap(), a["default"].as_bool().unwrap())).collect::<Vec<_>>(),
        vec![("Lund", true), ("Malmo", false)]
    );
    let (lund, malmo) = (list[0]["address_id"].to_string(), list[1]["address_id"].to_string());
    let r = call(&srv, "POST", "cart/shipping_address/default", &biz, Some(&anna), &[("address_id", &malmo)]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        call(&srv, "DELETE", "cart/shipping_address/", &biz, Some(&anna), &[("address_id", &lund)]).await.status,
        204
    );
    let r = call(&srv, "DELETE", "cart/shipping_address/", &biz, Some(&anna), &[("address_id", &lund)]).await;
    failed(&r, 404, "404", None);
    let r = call(&srv, "GET", "cart/shipping_address/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["address_list"][0]["default"], true);

    // Checkout by e-wallet: refused without the money or with a wrong password, then paid once.
    failed(&call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &pay).await, 422, "1014", None);
    let credit = json!({"username": "anna", "amount": 60, "reason": "start"});
    assert_eq!(srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit).await.status, 200);
    let wrong = [("payment_method", "ewallet"), ("transaction_password", "not the one")];
    failed(&call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &wrong).await, 422, "1015", None);
    assert_eq!(call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &pay).await.status, 204);
    let r = call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["balance"], 9.0);
    let r = call(&srv, "GET", "cart/products/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["cart_items"], json!([]));
    failed(&call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &pay).await, 409, "409", None);
    // Two checkouts of one cart at once: one pays, the other finds the cart empty.
    let more = json!({"username": "anna", "amount": 30, "reason": "more"});
    assert_eq!(srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, more).await.status, 200);
    call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "1")]).await;
    let (one, two) = futures::join!(
        call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &pay),
        call(&srv, "POST", "cart/checkout/", &biz, Some(&anna), &pay)
    );
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [204, 409], "{} / {}", one.text, two.text);
    let r = call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["balance"], 9.0 - 25.5 + 30.0);
    // A cart holds at most 999 of one product.
    call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "999")])
        .await;
    let r =
        call(&srv, "POST", "cart/products/", &biz, Some(&anna), &[("product_id", vita.as_str()), ("quantity", "1")])
            .await;
    failed(&r, 422, "1004", Some("quantity"));
    // The carts' PV (two checkouts) counts for anna and her upline.
    let r = call(&srv, "GET", "profile/", &biz, Some(&anna), &[]).await;
    assert_eq!(data(&r)["personal_pv"], 80);
    let top = token(&srv, &biz, "company", PASSWORD).await;
    let r = call(&srv, "GET", "profile/", &biz, Some(&top), &[]).await;
    assert_eq!(data(&r)["left_pv"], 80);
}

async fn forgotten_passwords_are_reset_by_email(b: crate::support::Backend) {
    let sink = crate::sinks::SmtpSink::start().await;
    let port = sink.port.to_string();
    let env = [
        ("TESSERA_SMTP_HOST", "127.0.0.1"),
        ("TESSERA_SMTP_PORT", port.as_str()),
        ("TESSERA_SMTP_FROM", "Grow <noreply@grow.example>"),
        ("TESSERA_SMTP_TLS", "none"),
    ];
    let srv = Server::start_with(b, &env).await;
    let biz = business(&srv, "reset").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    // An unknown username is answered the same, and nothing is sent for it.
    let r = call(&srv, "POST", "profile/password/forgot/", &biz, None, &[("username", "nobody")]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(&srv, "POST", "profile/password/forgot/", &biz, None, &[("username", "Anna")]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let mails = sink.wait_for(1, std::time::Duration::from_secs(20)).await;
    assert_eq!(mails[0].to, vec!["anna@members.example".to_string()]);
    let code = |data: &str| {
        // As a mail client reads it: quoted-printable soft line breaks joined.
        let data = data.replace("=\r\n", "");
        let start = data.find("mrt_").expect("a reset code in the email");
        data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>()
    };
    let reset_token = code(&mails[0].data);
    // The admin API lists the email without the secret it carries.
    let r = srv.get(&format!("/core/v1/emails?tenant_id={}", biz.id), &srv.admin_key).await;
    let listed = r.body["items"][0]["text"].as_str().unwrap_or_default().to_string();
    assert!(!listed.contains(&reset_token) && listed.contains("withheld"), "{listed}");
    let reset = |token: &str, password: &str| {
        vec![
            ("token", token.to_string()),
            ("new_password", password.to_string()),
            ("password_confirmation", password.to_string()),
        ]
    };
    let fields = reset(&reset_token, "a brand new passphrase");
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The token is of this business only, and for the login password, not the transaction password.
    let other = business(&srv, "other").await;
    failed(&call(&srv, "POST", "profile/password/reset/", &other, None, &form).await, 422, "1004", Some("token"));
    failed(&call(&srv, "POST", "ewallet/password/reset/", &biz, None, &form).await, 422, "1004", Some("token"));
    assert_eq!(call(&srv, "POST", "profile/password/reset/", &biz, None, &form).await.status, 204);
    failed(&call(&srv, "POST", "profile/password/reset/", &biz, None, &form).await, 422, "1004", Some("token"));
    failed(&call(&srv, "GET", "profile/", &biz, Some(&anna), &[]).await, 401, "1002", None);
    let anna = token(&srv, &biz, "anna", "a brand new passphrase").await;

    // The transaction password, for the signed-in member.
    let r = call(&srv, "POST", "ewallet/password/forget/", &biz, Some(&anna), &[]).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let mails = sink.wait_for(2, std::time::Duration::from_secs(20)).await;
    assert!(mails[1].data.contains("transaction password"), "{}", mails[1].data);
    let fields = reset(&code(&mails[1].data), "a new wallet secret");
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(call(&srv, "POST", "ewallet/password/reset/", &biz, None, &form).await.status, 204);
    let credit = json!({"username": "anna", "amount": 5, "reason": "start"});
    assert_eq!(srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit).await.status, 200);
    let pay = [
        ("payment_amount", "1"),
        ("purpose", "purchase"),
        ("ewallet_username", "anna"),
        ("transaction_password", "a new wallet secret"),
    ];
    assert_eq!(call(&srv, "POST", "ewallet/payment/", &biz, Some(&anna), &pay).await.status, 204);
}

/// The UTC day `days` from now, yyyy-mm-dd.
fn utc_day(days: u64) -> String {
    crate::core::time_in(days * 86_400)[..10].to_string()
}

async fn compensation_runs_once_per_period(b: crate::support::Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let biz = business(&srv, "comp").await;
    let plan = json!({"registration_blocked": false, "username_min": 4, "username_max": 20, "signup_fee": 0,
                      "currency": "USD", "sponsor_bonus_percent": 10, "pair_pv": 50, "pair_bonus": 5,
                      "daily_pair_cap": 1, "compensation_auto": false});
    let r = srv.json("PUT", "/mlm/admin/settings", &biz.admin, plan).await;
    assert_eq!((r.status, &r.body["data"]["sponsor_bonus_percent"]), (200, &json!(10.0)), "{}", r.text);
    // The admin runs each period here (after its preview): the hourly job leaves this business alone.
    assert_eq!(r.body["data"]["compensation_auto"], false);
    let gold = biz.membership.to_string();
    let day1 = utc_day(0);
    for (name, sponsor, placement, pos) in
        [("anna", "company", "company", "L"), ("cara", "company", "company", "R"), ("dana", "anna", "anna", "L")]
    {
        assert_eq!(register(&srv, &biz, &registration(name, sponsor, placement, pos, &gold)).await.status, 201);
    }
    let comp = |op: &str, period: &str| {
        let (method, path) = match op {
            "preview" => ("POST", "/mlm/admin/compensation/preview"),
            _ => ("POST", "/mlm/admin/compensation/runs"),
        };
        srv.json(method, path, &biz.admin, json!({"period": period}))
    };
    // A day that has not ended cannot run.
    failed(&comp("preview", &day1).await, 422, "1004", Some("period"));
    let advance = |s: u64| {
        srv.send(srv.client.post(format!("{}/_test/clock/advance?seconds={s}", srv.base)).bearer_auth(&srv.admin_key))
    };
    assert_eq!(advance(86_400).await.status, 200);
    // The preview shows what the run credits, twice the same; nothing moves until the run.
    let p1 = comp("preview", &day1).await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    assert_eq!(comp("preview", &day1).await.body, p1.body);
    let d = &p1.body["data"];
    assert_eq!(
        (&d["committed"], &d["sponsor_total"], &d["pairing_total"]),
        (&json!(false), &json!(30.0), &json!(5.0)),
        "{d}"
    );
    let mut credits: Vec<(String, String, f64)> = d["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["username"].as_str().unwrap().into(), c["kind"].as_str().unwrap().into(), c["amount"].as_f64().unwrap())
        })
        .collect();
    credits.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        credits,
        vec![
            ("anna".into(), "sponsor_bonus".into(), 10.0),
            ("company".into(), "binary_pairing".into(), 5.0),
            ("company".into(), "sponsor_bonus".into(), 10.0),
            ("company".into(), "sponsor_bonus".into(), 10.0),
        ]
    );
    let balance = |name: &'static str| {
        let url = format!("/mlm/admin/ewallet/ledger?username={name}&limit=100");
        let key = biz.admin.clone();
        let srv = &srv;
        async move { srv.get(&url, &key).await.body["data"]["balance"].as_f64().unwrap() }
    };
    assert_eq!(balance("company").await, 0.0);
    let r = comp("run", &day1).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["credits"], p1.body["data"]["credits"]);
    assert_eq!(r.body["data"]["committed"], true);
    // Once per period, however asked.
    failed(&comp("run", &day1).await, 409, "409", None);
    failed(&comp("preview", &day1).await, 409, "409", None);
    assert_eq!((balance("company").await, balance("anna").await), (25.0, 10.0));
    let ledger = srv.get("/mlm/admin/ewallet/ledger?username=company&limit=100", &biz.admin).await;
    let sources: Vec<&str> =
        ledger.body["data"]["items"].as_array().unwrap().iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert!(sources.contains(&"sponsor bonus: registration of cara"), "{sources:?}");
    assert!(sources.iter().any(|s| s.starts_with("binary pairing")), "{sources:?}");

    // The next day: company's left leg carried 50 unmatched PV; erik's 50 on the right makes one more pair.
    assert_eq!(register(&srv, &biz, &registration("erik", "company", "cara", "R", &gold)).await.status, 201);
    // Erik joins on the server's second day (its clock was moved a day on).
    let day2 = utc_day(1);
    assert_eq!(advance(86_400).await.status, 200);
    let r = comp("run", &day2).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((&r.body["data"]["sponsor_total"], &r.body["data"]["pairing_total"]), (&json!(10.0), &json!(5.0)));
    assert_eq!(balance("company").await, 40.0);
    // The third day: all matched volume was consumed and nothing new came in, so nothing pairs.
    let day3 = utc_day(2);
    assert_eq!(advance(86_400).await.status, 200);
    let r = comp("run", &day3).await;
    assert_eq!((r.status, &r.body["data"]["pairing_total"]), (201, &json!(0.0)), "{}", r.text);
    let runs = srv.get("/mlm/admin/compensation/runs", &biz.admin).await;
    let periods: Vec<&str> =
        runs.body["data"]["items"].as_array().unwrap().iter().map(|r| r["period"].as_str().unwrap()).collect();
    assert_eq!(periods, vec![day3.as_str(), day2.as_str(), day1.as_str()]);
}

/// The hourly job pays yesterday's compensation of every business that lets it, once: the day after three
/// registrations it has run that day with the sponsor bonuses an admin's run would pay; an admin's run of the same day
/// is then refused, and a business that runs its own periods was passed over.
async fn the_job_runs_yesterdays_compensation(b: crate::support::Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let plan = |auto: bool| {
        json!({"registration_blocked": false, "username_min": 4, "username_max": 20, "signup_fee": 0,
               "currency": "USD", "sponsor_bonus_percent": 10, "pair_pv": 50, "pair_bonus": 5,
               "daily_pair_cap": 1, "compensation_auto": auto})
    };
    // The job goes through businesses in the order of their ids: the manual one first.
    let manual = business(&srv, "manual").await;
    let auto = business(&srv, "auto").await;
    for (biz, on) in [(&manual, false), (&auto, true)] {
        let r = srv.json("PUT", "/mlm/admin/settings", &biz.admin, plan(on)).await;
        assert_eq!((r.status, &r.body["data"]["compensation_auto"]), (200, &json!(on)), "{}", r.text);
        let gold = biz.membership.to_string();
        for (name, pos) in [("anna", "L"), ("cara", "R")] {
            let r = register(&srv, biz, &registration(name, "company", "company", pos, &gold)).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let day1 = utc_day(0);
    let r = srv
        .send(srv.client.post(format!("{}/_test/clock/advance?seconds=86400", srv.base)).bearer_auth(&srv.admin_key))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = |biz: &Biz| {
        let key = biz.admin.clone();
        let srv = &srv;
        async move {
            let r = srv.get("/mlm/admin/compensation/runs", &key).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["data"]["items"].as_array().unwrap().clone()
        }
    };
    let started = std::time::Instant::now();
    let done = loop {
        let done = runs(&auto).await;
        if !done.is_empty() {
            break done;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the job did not run the period");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0]["period"].as_str(), &done[0]["sponsor_total"]), (Some(day1.as_str()), &json!(20.0)));
    let ledger = srv.get("/mlm/admin/ewallet/ledger?username=company&limit=100", &auto.admin).await;
    assert_eq!(ledger.body["data"]["balance"], json!(25.0), "{}", ledger.text);
    let r = srv.json("POST", "/mlm/admin/compensation/runs", &auto.admin, json!({"period": day1})).await;
    failed(&r, 409, "409", None);
    assert_eq!(runs(&manual).await, Vec::<Value>::new());
    let ledger = srv.get("/mlm/admin/ewallet/ledger?username=company&limit=100", &manual.admin).await;
    assert_eq!(ledger.body["data"]["balance"], json!(0.0), "{}", ledger.text);
}

/// A multipart/form-data body with one file field: (the Content-Type header, the body).
pub fn multipart(field: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "tessera-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn profile_images(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "images").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let upload = |field: &str, name: &str, bytes: &[u8]| {
        let (content_type, body) = multipart(field, name, bytes);
        let req = srv
            .client
            .post(format!("{}/mlm/profile/image/", srv.base))
            .header("api_key", &biz.app)
            .header("access_token", &anna)
            .header("content-type", content_type)
            .body(body);
        srv.send(req)
    };
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend_from_slice(b"rest of a small picture");
    let r = upload("image", "me.png", &png).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = call(&srv, "GET", "profile/", &biz, Some(&anna), &[]).await;
    let link = data(&r)["profile_image"].as_str().unwrap().to_string();
    assert!(link.starts_with("/mlm/images/") && link.len() > 30, "{link}");
    let image = srv.client.get(format!("{}{link}", srv.base)).header("api_key", &biz.app).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.bytes().await.unwrap().to_vec(), png);
    // Only with the business's key: no key, or another business's, finds nothing.
    failed(&srv.get_anon(&link).await, 401, "1001", None);
    let other = business(&srv, "other-images").await;
    failed(&call(&srv, "GET", link.trim_start_matches("/mlm/"), &other, None, &[]).await, 404, "404", None);
    // What the file is decides, not what it is called; and its size.
    failed(&upload("image", "me.png", b"<html>not a picture</html>").await, 422, "1017", Some("image"));
    let mut big = png.clone();
    big.resize(600 * 1024, 0);
    failed(&upload("image", "big.png", &big).await, 422, "1018", Some("image"));
    let r = upload("picture", "me.png", &png).await;
    failed(&r, 400, "1004", None);
    assert!(r.body["error"]["description"].as_str().unwrap().contains("`image` is required"), "{}", r.text);
    // A new image replaces the old, whose link stops working.
    assert_eq!(upload("image", "me.gif", b"GIF89a tiny").await.status, 204);
    failed(&call(&srv, "GET", link.trim_start_matches("/mlm/"), &biz, None, &[]).await, 404, "404", None);
}

async fn payouts_need_kyc_and_are_decided_once(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "payouts").await;
    let gold = biz.membership.to_string();
    assert_eq!(register(&srv, &biz, &registration("anna", "company", "company", "L", &gold)).await.status, 201);
    let credit = json!({"username": "anna", "amount": 100, "reason": "start"});
    assert_eq!(srv.json("POST", "/mlm/admin/ewallet/adjust", &biz.admin, credit).await.status, 200);
    let anna = token(&srv, &biz, "anna", PASSWORD).await;
    let ask = |amount: &'static str, password: &'static str| {
        let (srv, biz, anna) = (&srv, &biz, &anna);
        async move {
            call(
                srv,
                "POST",
                "payout/request/",
                biz,
                Some(anna),
                &[("amount", amount), ("transaction_password", password)],
            )
            .await
        }
    };
    failed(&ask("30", PASSWORD).await, 403, "1019", None);
    let kyc = json!({"username": "anna", "status": "verified"});
    assert_eq!(srv.json("PUT", "/mlm/admin/members/kyc", &biz.admin, kyc).await.status, 204);
    failed(&ask("30", "wrong password").await, 422, "1015", None);
    failed(&ask("150", PASSWORD).await, 422, "1014", Some("amount"));
    let r = ask("30", PASSWORD).await;
    assert_eq!((r.status, &r.body["data"]["status"]), (201, &json!("pending")), "{}", r.text);
    let first = r.body["data"]["id"].as_i64().unwrap();
    let balance =
        || async { data(&call(&srv, "POST", "ewallet/balance/", &biz, Some(&anna), &[]).await)["balance"].clone() };
    assert_eq!(balance().await, 70.0);
    let r = srv.get("/mlm/admin/payouts?status=pending", &biz.admin).await;
    assert_eq!(data(&r)["items"].as_array().unwrap().len(), 1);
    // Rejected: the held amount comes back; a second decision finds nothing pending.
    let decide = |id: i64, status: &'static str| {
        let (srv, key, url) = (&srv, &biz.admin, format!("/mlm/admin/payouts/{id}"));
        async move { srv.json("PUT", &url, key, json!({"status": status, "note": "checked"})).await }
    };
    assert_eq!(decide(first, "rejected").await.status, 204);
    assert_eq!(balance().await, 100.0);
    failed(&decide(first, "approved").await, 404, "404", None);
    // Two admins deciding one request at once: one decision wins.
    let second = ask("40", PASSWORD).await.body["data"]["id"].as_i64().unwrap();
    let (a, r) = futures::join!(decide(second, "approved"), decide(second, "rejected"));
    assert_eq!([a.status, r.status].iter().filter(|s| **s == 204).count(), 1, "{} / {}", a.text, r.text);
    let won = if a.status == 204 { 60.0 } else { 100.0 };
    assert_eq!(balance().await, won);
    let r = call(&srv, "GET", "payout/requests/", &biz, Some(&anna), &[]).await;
    let statuses: Vec<&str> =
        data(&r)["items"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses[1], "rejected");
    assert!(statuses[0] == "approved" || statuses[0] == "rejected");
    // The ledger sums to the balance.
    let r = srv.get("/mlm/admin/ewallet/ledger?username=anna&limit=100", &biz.admin).await;
    let sum: f64 = data(&r)["items"].as_array().unwrap().iter().map(|e| e["amount"].as_f64().unwrap()).sum();
    assert_eq!(sum, won);
}

async fn dynamic_usernames_are_generated(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "dynamic").await;
    let settings = json!({"registration_blocked": false, "username_min": 4, "username_max": 20, "signup_fee": 0,
                          "currency": "USD", "username_type": "dynamic", "username_prefix": "GR"});
    let r = srv.json("PUT", "/mlm/admin/settings", &biz.admin, settings).await;
    assert_eq!(
        (&r.body["data"]["username_type"], &r.body["data"]["username_prefix"]),
        (&json!("dynamic"), &json!("gr"))
    );
    let gold = biz.membership.to_string();
    let mut fields = registration("wished-for", "company", "company", "L", &gold);
    fields.retain(|(k, _)| *k != "username");
    let r = register(&srv, &biz, &fields).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let name = r.body["data"]["username"].as_str().unwrap().to_string();
    assert!(name.len() == 8 && name.starts_with("gr") && name[2..].bytes().all(|b| b.is_ascii_digit()), "{name}");
    token(&srv, &biz, &name, PASSWORD).await;
}

both!(
    seed_operations_work,
    error_codes_are_the_seeds,
    ewallet_and_epins,
    one_registration_takes_a_position,
    one_email_registers_once,
    an_epin_is_spent_once,
    concurrent_debits_never_overdraw,
    businesses_and_members_are_apart,
    cart_and_checkout,
    forgotten_passwords_are_reset_by_email,
    compensation_runs_once_per_period,
    the_job_runs_yesterdays_compensation,
    profile_images,
    payouts_need_kyc_and_are_decided_once,
    dynamic_usernames_are_generated,
);
