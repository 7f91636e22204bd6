//! The billing plugin through HTTP: the seed's examples replayed through its legacy entry point as PHP clients send
//! them, every module action as a typed operation, staff permissions as casbin policy, the password check and its
//! lock-out, and isolation between businesses and between clients.

use serde_json::{json, Value};

use crate::both;
use crate::support::{Resp, Server};

const PASS: &str = "correct horse battery";
const DISPATCH: &str = "/billing/api/index.php";

/// A billing business: an organisation with the plugin enabled, its admin's core key, and its first staff member
/// (all modules) made by the setup: (staff id, API key, the group's id).
struct Biz {
    id: i64,
    admin: String,
    owner: i64,
    key: String,
    group: i64,
}

async fn business(srv: &Server, slug: &str) -> Biz {
    let isp = srv.isp(&format!("isp-{slug}")).await;
    srv.enable(&srv.admin_key, isp.tenant, "billing", true).await;
    let id = srv.tenant(&isp.key, isp.tenant, "organisation", slug).await;
    srv.enable(&isp.key, id, "billing", true).await;
    let body = json!({"business_id": id, "name": "Owner", "email": format!("owner@{slug}.example"), "pass": PASS});
    let r = srv.json("POST", "/billing/setup", &isp.key, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["message"]["success"], "Created New Staff Member", "{}", r.text);
    let owner = r.body["result"]["inserted_id"].as_i64().unwrap();
    let key = r.body["result"]["api_key"].as_str().unwrap().to_string();
    let me = staff_typed(srv, "admin/admin/get", &key, PASS, json!({"id": owner})).await;
    let group = ok(&me)["admin_group_id"].as_str().unwrap().parse().unwrap();
    Biz { id, admin: isp.key, owner, key, group }
}

/// A call of the legacy entry point with a form, PHP arrays as `name[key]`.
async fn api(srv: &Server, fields: &[(&str, &str)]) -> Resp {
    srv.form(DISPATCH, fields).await
}

async fn staff_typed(srv: &Server, path: &str, key: &str, pass: &str, body: Value) -> Resp {
    let req = srv.client.post(format!("{}/billing/{path}", srv.base)).header("api_key", key).header("admin_pass", pass);
    srv.send(req.json(&body)).await
}

async fn client_typed(srv: &Server, path: &str, key: &str, pass: &str, body: Value) -> Resp {
    let req =
        srv.client.post(format!("{}/billing/{path}", srv.base)).header("api_key", key).header("client_pass", pass);
    srv.send(req.json(&body)).await
}

/// A success: 200 and `message.success`; the result.
fn ok(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["message"]["success"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert!(r.body["message"].get("error").is_none(), "{}", r.text);
    &r.body["result"]
}

/// A failure: the status, `result` null and `message.error` starting with `starts` (the field it names).
fn failed(r: &Resp, status: u16, starts: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["result"], Value::Null, "{}", r.text);
    let error = r.body["message"]["error"].as_str().unwrap_or_else(|| panic!("no message.error: {}", r.text));
    assert!(error.starts_with(starts), "`{error}` should start with `{starts}`");
}

/// Adds a client through the dispatcher as staff: (id, API key).
async fn add_client(srv: &Server, b: &Biz, email: &str) -> (i64, String) {
    let r = api(
        srv,
        &[
            ("api_key", &b.key),
            ("admin_pass", PASS),
            ("type", "client"),
            ("action", "add"),
            ("first_name", "first"),
            ("last_name", "client"),
            ("email", email),
            ("country", "India"),
            ("state", "Delhi"),
            ("currency_code", "inr"),
            ("password", PASS),
            ("confirm_password", PASS),
        ],
    )
    .await;
    let result = ok(&r);
    (result["inserted_id"].as_i64().unwrap(), result["api_key"].as_str().unwrap().to_string())
}

/// Every example of the seed, as written (a PHP client's form), with the seed's answer shapes; where an example's
/// password is too short ("123"), the refusal names the field and the same call with a real password succeeds.
async fn the_seeds_examples_replay(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "replay").await;
    let group = biz.group.to_string();
    let key = biz.key.as_str();

    // admin add (the introduction's example).
    let mut staff = vec![
        ("type", "admin"),
        ("action", "add"),
        ("group_id", group.as_str()),
        ("name", "Developer"),
        ("email", "developer@gmail.com"),
        ("pass", "123"),
        ("api_key", key),
        ("admin_pass", PASS),
    ];
    failed(&api(&srv, &staff).await, 400, "pass: must be at least 8 characters");
    staff[5] = ("pass", "a longer password");
    let r = api(&srv, &staff).await;
    assert_eq!(r.body["message"], json!({"success": "Created New Staff Member"}), "{}", r.text);
    assert!(ok(&r)["inserted_id"].as_i64().is_some_and(|id| id > biz.owner));

    // admin_group add, edit, get, delete.
    let add = [
        ("api_key", key),
        ("admin_pass", PASS),
        ("type", "admin_group"),
        ("action", "add"),
        ("name", "testing Group"),
        ("status", "on"),
        ("permissions[client]", "1"),
    ];
    let r = api(&srv, &add).await;
    assert_eq!(r.body["message"], json!({"success": "Successfully Added"}), "{}", r.text);
    let id = ok(&r)["inserted_id"].as_i64().unwrap().to_string();
    let edit = [
        ("api_key", key),
        ("admin_pass", PASS),
        ("type", "admin_group"),
        ("action", "edit"),
        ("group_id", id.as_str()),
        ("name", "testing Group"),
        ("status", "on"),
        ("permissions[client]", "1"),
    ];
    let r = api(&srv, &edit).await;
    assert_eq!(
        (&r.body["result"], &r.body["message"]["success"]),
        (&Value::Null, &json!("Updated Staff Member Group"))
    );
    ok(&r);
    let mut get = edit;
    get[3] = ("action", "get");
    let r = api(&srv, &get).await;
    let g = ok(&r);
    assert_eq!(g["id"], id.as_str());
    assert_eq!(
        (&g["name"], &g["permissions"], &g["active"]),
        (&json!("testing Group"), &json!("{\"client\":\"1\"}"), &json!("1"))
    );
    assert!(g["created_at"].as_str().is_some_and(|s| s.parse::<i64>().is_ok()), "{g}");
    assert!(g["updated_at"].as_str().is_some(), "edited: {g}");
    let r = api(
        &srv,
        &[("api_key", key), ("admin_pass", PASS), ("type", "admin_group"), ("action", "delete"), ("group_id", &id)],
    )
    .await;
    assert_eq!(
        (&r.body["result"], &r.body["message"]["success"]),
        (&Value::Null, &json!("Removed Staff Member Group"))
    );
    failed(&api(&srv, &get).await, 404, &format!("staff group {id} not found"));

    // The client's profile: edit, get, change_password.
    let (client, ckey) = add_client(&srv, &biz, "first@client.example").await;
    let cid = client.to_string();
    let r = api(
        &srv,
        &[
            ("type", "profile"),
            ("action", "edit"),
            ("client_id", &cid),
            ("first_name", "first"),
            ("last_name", "client"),
            ("dob", "01-01-2010"),
            ("address_1", "xyz road"),
            ("address_2", "123 raod"),
            ("country", "India"),
            ("state", "Delhi"),
            ("city", "Delhi"),
            ("postcode", "110005"),
            ("api_key", &ckey),
            ("client_pass", PASS),
        ],
    )
    .await;
    assert_eq!((&r.body["result"], &r.body["message"]["success"]), (&Value::Null, &json!("Successfully Updated")));
    ok(&r);
    let r = api(
        &srv,
        &[("type", "profile"), ("action", "get"), ("client_id", &cid), ("api_key", &ckey), ("client_pass", PASS)],
    )
    .await;
    let p = ok(&r);
    assert_eq!(p["id"], cid.as_str());
    for (field, value) in [
        ("status", "active"),
        ("first_name", "first"),
        ("last_name", "client"),
        ("address_1", "xyz road"),
        ("address_2", "123 raod"),
        ("city", "Delhi"),
        ("state", "Delhi"),
        ("postcode", "110005"),
        ("country", "India"),
        ("dob", "01-01-2010"),
        ("currency", "INR"),
        ("balance", "0.00"),
    ] {
        assert_eq!(p[field], value, "{field}: {p}");
    }
    // Never the password's hash nor the API key, which the seed's example shows.
    for secret in ["pass", "password", "api_token", "api_key"] {
        assert!(p.get(secret).is_none(), "{secret} shown: {p}");
    }
    assert!(!r.text.contains(&ckey), "the key is in the answer");
    let mut change = vec![
        ("type", "profile"),
        ("action", "change_password"),
        ("client_id", cid.as_str()),
        ("password", "123"),
        ("api_key", ckey.as_str()),
        ("client_pass", PASS),
    ];
    failed(&api(&srv, &change).await, 400, "password: must be at least 8 characters");
    change[3] = ("password", "a brand new secret");
    let r = api(&srv, &change).await;
    assert_eq!(r.body["message"]["success"], "Successfully Updated", "{}", r.text);
    // The old password stops working at once (it was remembered after its first check); the new one works.
    let profile = |pass: &'static str| {
        let (srv, ckey) = (&srv, ckey.clone());
        async move { client_typed(srv, "client/profile/get", &ckey, pass, json!({})).await }
    };
    failed(&profile(PASS).await, 401, "client_pass: wrong password");
    ok(&profile("a brand new secret").await);

    // The same calls as JSON, permissions as an object.
    let body = json!({"api_key": key, "admin_pass": PASS, "type": "admin_group", "action": "add",
                      "name": "json Group", "status": "on", "permissions": {"client": 1, "invoice": "1"}});
    let r = srv.post_json(DISPATCH, body).await;
    let id = ok(&r)["inserted_id"].as_i64().unwrap();
    let r = srv
        .post_json(
            DISPATCH,
            json!({"api_key": key, "admin_pass": PASS, "type": "admin_group", "action": "get", "group_id": id}),
        )
        .await;
    assert_eq!(ok(&r)["permissions"], "{\"client\":\"1\",\"invoice\":\"1\"}");
    // Several ids: a list, in the order asked.
    let ids = format!("{id},{}", biz.group);
    let r = api(
        &srv,
        &[("api_key", key), ("admin_pass", PASS), ("type", "admin_group"), ("action", "get"), ("group_id", &ids)],
    )
    .await;
    let names: Vec<&str> = ok(&r).as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["json Group", "Administrators"]);
}

/// Bad calls of the entry point are refused naming what is wrong, in the envelope, never a 500.
async fn the_entry_point_names_what_is_wrong(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "wrong").await;
    let key = biz.key.as_str();
    let call = |fields: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api(srv, &fields).await
        }
    };
    let with = |extra: &[(&'static str, &str)]| {
        let mut f: Vec<(&'static str, String)> = vec![("api_key", key.to_string()), ("admin_pass", PASS.to_string())];
        f.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        f
    };
    failed(&call(with(&[("action", "get")])).await, 400, "type: is required");
    failed(&call(with(&[("type", "admin_group")])).await, 400, "action: is required");
    failed(&call(with(&[("type", "nope"), ("action", "get")])).await, 400, "type: is not an admin module");
    failed(
        &call(with(&[("type", "admin_group"), ("action", "fly")])).await,
        400,
        "action: admin_group has the actions",
    );
    failed(
        &call(with(&[("type", "admin_group"), ("action", "get"), ("group_id", "x")])).await,
        400,
        "group_id: must be an id",
    );
    failed(&call(with(&[("type", "admin_group"), ("action", "get")])).await, 400, "group_id: is required");
    failed(
        &call(with(&[("type", "admin_group"), ("action", "get"), ("group_id", "999999")])).await,
        404,
        "staff group 999999 not found",
    );
    let perms = [("type", "admin_group"), ("action", "add"), ("name", "G"), ("permissions[email]", "1")];
    failed(&call(with(&perms)).await, 400, "permissions[email]: is not a module");
    let perms = [("type", "admin_group"), ("action", "add"), ("name", "G"), ("permissions[client]", "yes")];
    failed(&call(with(&perms)).await, 400, "permissions[client]: must be 1 or 0");
    failed(
        &call(with(&[("type", "client"), ("action", "add"), ("first_name", "a")])).await,
        400,
        "last_name: is required",
    );
    let no_pass = vec![("api_key", key.to_string()), ("type", "admin_group".to_string()), ("action", "get".into())];
    failed(&call(no_pass).await, 401, "admin_pass: missing credentials");
    let bad_key = vec![
        ("api_key", "tsk_nope".to_string()),
        ("admin_pass", PASS.into()),
        ("type", "admin_group".into()),
        ("action", "get".into()),
    ];
    failed(&call(bad_key).await, 401, "api_key: invalid API key");
    let r = srv
        .send(srv.client.post(format!("{}{DISPATCH}", srv.base)).header("content-type", "text/plain").body("x"))
        .await;
    failed(&r, 415, "content-type");
}

/// Every module action as a typed operation, with the credentials in headers: the same functions as the dispatcher.
async fn typed_operations_serve_every_action(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "typed").await;
    let (key, s) = (biz.key.as_str(), &srv);
    let staff = |path: &'static str, body: Value| async move { staff_typed(s, path, key, PASS, body).await };

    // admin_group
    let r = staff("admin/admin_group/add", json!({"name": "Sales", "permissions": {"client": 1}})).await;
    let sales = ok(&r)["inserted_id"].as_i64().unwrap();
    ok(&staff("admin/admin_group/edit", json!({"group_id": sales, "name": "Sales team"})).await);
    let r = staff("admin/admin_group/get", json!({"group_id": sales})).await;
    assert_eq!((&ok(&r)["name"], &ok(&r)["permissions"]), (&json!("Sales team"), &json!("{\"client\":\"1\"}")));
    // admin (staff)
    let r = staff(
        "admin/admin/add",
        json!({"group_id": sales, "name": "Sam", "email": "sam@typed.example", "pass": PASS, "acc_manager": "on"}),
    )
    .await;
    let sam = ok(&r)["inserted_id"].as_i64().unwrap();
    let sam_key = ok(&r)["api_key"].as_str().unwrap().to_string();
    let r = staff("admin/admin/get", json!({"id": sam})).await;
    assert_eq!(
        (&ok(&r)["acc_manager"], &ok(&r)["status"], &ok(&r)["email"]),
        (&json!("1"), &json!("active"), &json!("sam@typed.example"))
    );
    assert_eq!(ok(&r)["admin_group_id"], sales.to_string());
    ok(&staff("admin/admin/edit", json!({"id": sam, "name": "Samuel", "status": "on"})).await);
    assert_eq!(ok(&staff("admin/admin/get", json!({"id": sam})).await)["name"], "Samuel");
    failed(&staff("admin/admin_group/delete", json!({"group_id": sales})).await, 409, "staff group");
    // client_group
    let r = staff("admin/client_group/add", json!({"name": "VIP"})).await;
    let vip = ok(&r)["inserted_id"].as_i64().unwrap();
    failed(
        &staff("admin/client_group/add", json!({"name": "VIP"})).await,
        400,
        "name: a client group of the business has this name",
    );
    ok(&staff("admin/client_group/edit", json!({"group_id": vip, "name": "Gold"})).await);
    assert_eq!(ok(&staff("admin/client_group/get", json!({"group_id": vip})).await)["title"], "Gold");
    // client
    let body = json!({"client_group_id": vip, "first_name": "Ann", "last_name": "Lee", "email": "ann@typed.example",
                      "country": "NZ", "state": "Otago", "currency_code": "NZD", "password": PASS,
                      "confirm_password": PASS, "phone": "5550100"});
    let r = staff("admin/client/add", body.clone()).await;
    let ann = ok(&r)["inserted_id"].as_i64().unwrap();
    let ann_key = ok(&r)["api_key"].as_str().unwrap().to_string();
    failed(&staff("admin/client/add", body).await, 400, "email: is already registered");
    let r = staff("admin/client/get", json!({"client_id": ann})).await;
    assert_eq!(
        (&ok(&r)["client_group_id"], &ok(&r)["currency"], &ok(&r)["phone"]),
        (&json!(vip.to_string()), &json!("NZD"), &json!("5550100"))
    );
    ok(&staff("admin/client/edit", json!({"client_id": ann, "city": "Dunedin", "client_group_id": 0})).await);
    let r = staff("admin/client/get", json!({"client_id": ann})).await;
    assert_eq!((&ok(&r)["city"], &ok(&r)["client_group_id"]), (&json!("Dunedin"), &Value::Null));
    // profile, as the client
    let r = client_typed(s, "client/profile/get", &ann_key, PASS, json!({})).await;
    assert_eq!(ok(&r)["city"], "Dunedin");
    ok(&client_typed(s, "client/profile/edit", &ann_key, PASS, json!({"postcode": "9016", "dob": "1990-04-01"})).await);
    failed(
        &client_typed(s, "client/profile/edit", &ann_key, PASS, json!({"dob": "April"})).await,
        400,
        "dob: must be a date",
    );
    let r = client_typed(s, "client/profile/get", &ann_key, PASS, json!({"client_id": ann})).await;
    assert_eq!((&ok(&r)["postcode"], &ok(&r)["dob"]), (&json!("9016"), &json!("1990-04-01")));
    let r = client_typed(s, "client/profile/change_password", &ann_key, PASS, json!({"password": "another secret 2"}))
        .await;
    ok(&r);
    ok(&client_typed(s, "client/profile/get", &ann_key, "another secret 2", json!({})).await);
    // deletes
    ok(&staff("admin/client/delete", json!({"client_id": ann})).await);
    failed(&staff("admin/client/get", json!({"client_id": ann})).await, 404, "client");
    failed(
        &client_typed(s, "client/profile/get", &ann_key, "another secret 2", json!({})).await,
        401,
        "api_key: invalid API key",
    );
    ok(&staff("admin/client_group/delete", json!({"group_id": vip})).await);
    ok(&staff("admin/admin/delete", json!({"id": sam})).await);
    failed(
        &staff_typed(s, "admin/admin/get", &sam_key, PASS, json!({"id": sam})).await,
        401,
        "api_key: invalid API key",
    );
    failed(
        &staff("admin/admin/delete", json!({"id": biz.owner})).await,
        400,
        "id: a staff member cannot remove itself",
    );
    ok(&staff("admin/admin_group/delete", json!({"group_id": sales})).await);
    // The typed operations take the credentials from headers only.
    let r = srv
        .send(
            srv.client
                .post(format!("{}/billing/admin/admin_group/get", srv.base))
                .json(&json!({"group_id": biz.group})),
        )
        .await;
    failed(&r, 401, "api_key: missing credentials");
}

/// The catalogue: categories, products, addons and promo codes, through the typed operations and the entry point.
async fn the_catalogue_is_kept(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "shop").await;
    let (key, s) = (biz.key.as_str(), &srv);
    let staff = |path: &'static str, body: Value| async move { staff_typed(s, path, key, PASS, body).await };

    let r = staff("admin/product_category/add", json!({"title": "Hosting", "description": "Shared plans"})).await;
    let hosting = ok(&r)["inserted_id"].as_i64().unwrap();
    failed(&staff("admin/product_category/add", json!({"title": "Hosting"})).await, 400, "title: a product category");
    let r = api(
        s,
        &[
            ("api_key", key),
            ("admin_pass", PASS),
            ("type", "product_category"),
            ("action", "add"),
            ("title", "Domains"),
        ],
    )
    .await;
    let domains = ok(&r)["inserted_id"].as_i64().unwrap();
    ok(&staff("admin/product_category/edit", json!({"category_id": domains, "title": "Domain names"})).await);
    let r = staff("admin/product_category/get", json!({"category_id": domains})).await;
    assert_eq!(ok(&r)["title"], "Domain names");

    // A product, as the seed adds it (category_id, title, product_type) and with its prices.
    let r = api(
        s,
        &[
            ("api_key", key),
            ("admin_pass", PASS),
            ("type", "product"),
            ("action", "add"),
            ("category_id", &hosting.to_string()),
            ("title", "Starter"),
            ("product_type", "hosting"),
            ("price", "9.99"),
            ("setup_price", "5"),
            ("period", "monthly"),
            ("currency_code", "usd"),
            ("status", "on"),
        ],
    )
    .await;
    let starter = ok(&r)["inserted_id"].as_i64().unwrap();
    let r = staff("admin/product/get", json!({"id": starter})).await;
    let p = ok(&r);
    for (field, value) in [
        ("kind", "product"),
        ("title", "Starter"),
        ("product_type", "hosting"),
        ("price", "9.99"),
        ("setup_price", "5.00"),
        ("period", "monthly"),
        ("currency", "USD"),
        ("active", "1"),
    ] {
        assert_eq!(p[field], value, "{field}: {p}");
    }
    assert_eq!(p["category_id"], hosting.to_string());
    failed(
        &staff("admin/product/add", json!({"category_id": hosting, "title": "X", "product_type": "rocket"})).await,
        400,
        "product_type: must be one of",
    );
    failed(
        &staff(
            "admin/product/add",
            json!({"category_id": hosting, "title": "X", "product_type": "custom", "price": "-1"}),
        )
        .await,
        400,
        "price: must not be negative",
    );
    failed(
        &staff(
            "admin/product/add",
            json!({"category_id": hosting, "title": "X", "product_type": "custom", "price": "1.999"}),
        )
        .await,
        400,
        "price: must be a number",
    );
    failed(
        &staff("admin/product/add", json!({"category_id": 999999, "title": "X", "product_type": "custom"})).await,
        400,
        "category_id: product category 999999 not found",
    );
    ok(&staff("admin/product/edit", json!({"id": starter, "category_id": domains, "price": 12, "status": "off"}))
        .await);
    let r = staff("admin/product/get", json!({"id": starter})).await;
    assert_eq!(
        (&ok(&r)["price"], &ok(&r)["active"], &ok(&r)["category_id"]),
        (&json!("12.00"), &json!("0"), &json!(domains.to_string()))
    );
    // A category holding products is not deleted.
    failed(&staff("admin/product_category/delete", json!({"category_id": domains})).await, 409, "product category");

    // An addon is not a product: neither is reached through the other's operations.
    let r = staff("admin/product_addon/add", json!({"title": "Backups", "price": "2.50", "period": "monthly"})).await;
    let backups = ok(&r)["inserted_id"].as_i64().unwrap();
    let r = staff("admin/product_addon/get", json!({"id": backups})).await;
    assert_eq!(
        (&ok(&r)["kind"], &ok(&r)["price"], &ok(&r)["category_id"]),
        (&json!("addon"), &json!("2.50"), &Value::Null)
    );
    failed(&staff("admin/product/get", json!({"id": backups})).await, 404, &format!("product {backups} not found"));
    failed(
        &staff("admin/product_addon/get", json!({"id": starter})).await,
        404,
        &format!("product addon {starter} not found"),
    );
    ok(&staff("admin/product_addon/edit", json!({"id": backups, "title": "Daily backups"})).await);

    // Promo codes: percentage or fixed, with a validity and a limit.
    let r = api(
        s,
        &[
            ("api_key", key),
            ("admin_pass", PASS),
            ("type", "product_promocode"),
            ("action", "add"),
            ("code", "welcome10"),
            ("promo_type", "percentage"),
            ("value", "10"),
        ],
    )
    .await;
    let welcome = ok(&r)["inserted_id"].as_i64().unwrap();
    let r = staff("admin/product_promocode/get", json!({"promo_id": welcome})).await;
    let p = ok(&r);
    assert_eq!(
        (&p["code"], &p["type"], &p["value"], &p["max_uses"], &p["used"]),
        (&json!("WELCOME10"), &json!("percentage"), &json!("10.00"), &json!("0"), &json!("0"))
    );
    assert_eq!((&p["start_at"], &p["end_at"]), (&Value::Null, &Value::Null));
    failed(
        &staff("admin/product_promocode/add", json!({"code": "WELCOME10", "promo_type": "fixed", "value": "5"})).await,
        400,
        "code: a promo code",
    );
    failed(
        &staff("admin/product_promocode/add", json!({"code": "BIG", "promo_type": "percentage", "value": "150"})).await,
        400,
        "value: a percentage must be at most 100",
    );
    failed(
        &staff("admin/product_promocode/add", json!({"code": "NO SPACE", "promo_type": "fixed", "value": "5"})).await,
        400,
        "code: must be letters",
    );
    let body = json!({"code": "WINTER", "promo_type": "fixed", "value": "5", "max_uses": 3, "start_at": "2026-12-01", "end_at": "2026-12-31"});
    let winter = ok(&staff("admin/product_promocode/add", body).await)["inserted_id"].as_i64().unwrap();
    let r = staff("admin/product_promocode/get", json!({"promo_id": winter})).await;
    assert_eq!(
        (&ok(&r)["start_at"], &ok(&r)["end_at"], &ok(&r)["max_uses"]),
        (&json!("1796083200"), &json!("1798761599"), &json!("3"))
    );
    failed(
        &staff("admin/product_promocode/edit", json!({"promo_id": winter, "end_at": "2026-11-30"})).await,
        400,
        "end_at: must not be before start_at",
    );
    ok(&staff("admin/product_promocode/edit", json!({"promo_id": winter, "promo_type": "percentage", "value": "20"}))
        .await);
    // Deletes, one id or several at once (all or none).
    let both = format!("{welcome},{winter}");
    let r = api(
        s,
        &[
            ("api_key", key),
            ("admin_pass", PASS),
            ("type", "product_promocode"),
            ("action", "delete"),
            ("promo_id", &format!("{both},999999")),
        ],
    )
    .await;
    failed(&r, 404, "promo code 999999 not found");
    ok(&staff("admin/product_promocode/get", json!({"promo_id": winter})).await);
    let r = api(
        s,
        &[
            ("api_key", key),
            ("admin_pass", PASS),
            ("type", "product_promocode"),
            ("action", "delete"),
            ("promo_id", &both),
        ],
    )
    .await;
    ok(&r);
    failed(&staff("admin/product_promocode/get", json!({"promo_id": welcome})).await, 404, "promo code");
    let r = api(
        s,
        &[
            ("api_key", key),
            ("admin_pass", PASS),
            ("type", "product"),
            ("action", "delete"),
            ("product_id", &starter.to_string()),
        ],
    )
    .await;
    ok(&r);
    ok(&staff("admin/product_addon/delete", json!({"id": backups})).await);
    ok(&staff("admin/product_category/delete", json!({"category_id": domains})).await);
}

/// A client's balance moves only with a ledger row: never below zero under concurrency, a retried move with the same
/// idempotency key moves once, and the client reads its own balance through either of the seed's actions.
async fn balances_move_once_and_never_below_zero(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "money").await;
    let s = &srv;
    let (client, ckey) = add_client(&srv, &biz, "payer@money.example").await;
    let funds = |body: Value| {
        let key = biz.key.clone();
        async move { staff_typed(s, "admin/client/add_funds", &key, PASS, body).await }
    };
    let r =
        funds(json!({"client_id": client, "amount": "100", "description": "Wire 42", "idempotency_key": "wire-42"}))
            .await;
    let first = ok(&r).clone();
    assert_eq!(
        (&first["amount"], &first["balance_after"], &first["kind"]),
        (&json!("100.00"), &json!("100.00"), &json!("deposit"))
    );
    // The same key again (the dispatcher this time): the first move's answer, nothing moved.
    let cid = client.to_string();
    let again = [
        ("api_key", biz.key.as_str()),
        ("admin_pass", PASS),
        ("type", "client"),
        ("action", "add_funds"),
        ("client_id", cid.as_str()),
        ("amount", "100"),
        ("idempotency_key", "wire-42"),
    ];
    assert_eq!(ok(&api(s, &again).await), &first);
    failed(
        &funds(json!({"client_id": client, "amount": "90", "idempotency_key": "wire-42"})).await,
        409,
        "idempotency_key: was used",
    );
    failed(&funds(json!({"client_id": client, "amount": "0"})).await, 400, "amount: must not be 0");
    failed(&funds(json!({"client_id": client, "amount": "-100.01"})).await, 409, "amount: the balance is 100.00 INR");
    // Sixteen debits of 10 at once against 100: ten pass, the balance ends at zero.
    let debits = (0..16).map(|_| funds(json!({"client_id": client, "amount": "-10"})));
    let answers = futures::future::join_all(debits).await;
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        10,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        failed(r, 409, "amount: the balance is");
    }
    // The client's view, both ways: the balance and the ledger that sums to it.
    let r = client_typed(s, "client/client_balance/get", &ckey, PASS, json!({})).await;
    let view = ok(&r).clone();
    assert_eq!((&view["balance"], &view["currency"], &view["total"]), (&json!("0.00"), &json!("INR"), &json!(11)));
    let moves = view["transactions"].as_array().unwrap();
    assert_eq!(moves.len(), 11);
    let sum: f64 = moves.iter().map(|m| m["amount"].as_str().unwrap().parse::<f64>().unwrap()).sum();
    assert_eq!(sum, 0.0, "the ledger sums to the balance");
    assert_eq!(moves.last().unwrap()["description"], "Wire 42");
    let r =
        api(s, &[("api_key", &ckey), ("client_pass", PASS), ("type", "client_balance"), ("action", "client_balance")])
            .await;
    assert_eq!(ok(&r)["balance"], "0.00");
    let r = api(
        s,
        &[
            ("api_key", &ckey),
            ("client_pass", PASS),
            ("type", "client_balance"),
            ("action", "get"),
            ("client_id", &cid),
        ],
    )
    .await;
    assert_eq!(ok(&r)["total"], 11);
    // A client with money is not removed.
    ok(&funds(json!({"client_id": client, "amount": "5"})).await);
    let r = staff_typed(s, "admin/client/delete", &biz.key, PASS, json!({"client_id": client})).await;
    failed(&r, 409, &format!("client {client} has a balance of 5.00 INR"));
}

/// A group's permissions are its members' casbin policy: a module the group lacks is 403 on every action, through
/// the dispatcher and the typed operation alike, and a change of the group applies at once.
async fn staff_permissions_follow_their_group(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "perms").await;
    let s = &srv;
    let owner = |path: &'static str, body: Value| {
        let key = biz.key.clone();
        async move { staff_typed(s, path, &key, PASS, body).await }
    };
    let r =
        owner("admin/admin_group/add", json!({"name": "Support", "status": "on", "permissions": {"client": 1}})).await;
    let support = ok(&r)["inserted_id"].as_i64().unwrap();
    let r = owner(
        "admin/admin/add",
        json!({"group_id": support, "name": "Sue", "email": "sue@perms.example", "pass": PASS}),
    )
    .await;
    let sue = ok(&r)["api_key"].as_str().unwrap().to_string();
    let as_sue = |path: &'static str, body: Value| {
        let key = sue.clone();
        async move { staff_typed(s, path, &key, PASS, body).await }
    };
    let sue_api = |module: &'static str, action: &'static str, extra: (&'static str, String)| {
        let key = sue.clone();
        async move {
            api(
                s,
                &[("api_key", &key), ("admin_pass", PASS), ("type", module), ("action", action), (extra.0, &extra.1)],
            )
            .await
        }
    };
    // client: granted.
    let (client, _) = add_client(&srv, &biz, "c@perms.example").await;
    ok(&as_sue("admin/client/get", json!({"client_id": client})).await);
    ok(&sue_api("client", "get", ("client_id", client.to_string())).await);
    // admin_group, admin, client_group: not granted, 403 on each action both ways.
    for (module, action, field, path) in [
        ("admin_group", "get", "group_id", "admin/admin_group/get"),
        ("admin_group", "delete", "group_id", "admin/admin_group/delete"),
        ("admin", "get", "id", "admin/admin/get"),
        ("client_group", "add", "name", "admin/client_group/add"),
    ] {
        let v = if field == "name" { "X".to_string() } else { biz.group.to_string() };
        failed(&sue_api(module, action, (field, v.clone())).await, 403, "this staff member's group has no permission");
        let body = if field == "name" { json!({"name": "X"}) } else { json!({field: biz.group}) };
        failed(&as_sue(path, body).await, 403, "this staff member's group has no permission");
    }
    // Taking client away from the group takes it from Sue at once; giving client_group gives it.
    ok(&owner("admin/admin_group/edit", json!({"group_id": support, "permissions": {"client": 0, "client_group": 1}}))
        .await);
    failed(
        &as_sue("admin/client/get", json!({"client_id": client})).await,
        403,
        "this staff member's group has no permission",
    );
    ok(&as_sue("admin/client_group/add", json!({"name": "Resellers"})).await);
    // An inactive group grants nothing.
    ok(&owner("admin/admin_group/edit", json!({"group_id": support, "status": "off"})).await);
    failed(
        &as_sue("admin/client_group/add", json!({"name": "Others"})).await,
        403,
        "this staff member's group has no permission",
    );
    // The owner cannot take admin_group from its own group (the business would lock itself out).
    let r = owner("admin/admin_group/edit", json!({"group_id": biz.group, "permissions": {"admin_group": 0}})).await;
    failed(&r, 400, "permissions: would take admin_group away");
}

/// Concurrent moves of one staff member between groups leave it in one group with that group's permissions only.
async fn concurrent_group_moves_leave_one_group(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "moves").await;
    let s = &srv;
    let owner = |path: &'static str, body: Value| {
        let key = biz.key.clone();
        async move { staff_typed(s, path, &key, PASS, body).await }
    };
    let clients = ok(&owner("admin/admin_group/add", json!({"name": "Clients", "permissions": {"client": 1}})).await)
        ["inserted_id"]
        .as_i64()
        .unwrap();
    let groups =
        ok(&owner("admin/admin_group/add", json!({"name": "Groups", "permissions": {"client_group": 1}})).await)
            ["inserted_id"]
            .as_i64()
            .unwrap();
    let r =
        owner("admin/admin/add", json!({"group_id": clients, "name": "Mo", "email": "mo@moves.example", "pass": PASS}))
            .await;
    let (mo, mo_key) = (ok(&r)["inserted_id"].as_i64().unwrap(), ok(&r)["api_key"].as_str().unwrap().to_string());
    let moves = (0..8)
        .map(|i| owner("admin/admin/edit", json!({"id": mo, "group_id": if i % 2 == 0 { groups } else { clients }})));
    for r in futures::future::join_all(moves).await {
        ok(&r);
    }
    let now = ok(&owner("admin/admin/get", json!({"id": mo})).await)["admin_group_id"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let (client, _) = add_client(&srv, &biz, "c@moves.example").await;
    let read_client = staff_typed(s, "admin/client/get", &mo_key, PASS, json!({"client_id": client})).await;
    let add_group = staff_typed(s, "admin/client_group/add", &mo_key, PASS, json!({"name": "X"})).await;
    let (allowed, refused) = if now == clients { (read_client, add_group) } else { (add_group, read_client) };
    ok(&allowed);
    failed(&refused, 403, "this staff member's group has no permission");
}

/// A staff member hands out no more than its own group has: groups with other modules cannot be made, edited or
/// joined by it, and staff of a group with more cannot be changed or removed by it.
async fn staff_give_no_more_than_they_have(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "climb").await;
    let s = &srv;
    let owner = |path: &'static str, body: Value| {
        let key = biz.key.clone();
        async move { staff_typed(s, path, &key, PASS, body).await }
    };
    let perms = json!({"admin": 1, "admin_group": 1, "client": 1});
    let r = owner("admin/admin_group/add", json!({"name": "People", "permissions": perms})).await;
    let people = ok(&r)["inserted_id"].as_i64().unwrap();
    let r = owner(
        "admin/admin/add",
        json!({"group_id": people, "name": "Pat", "email": "pat@climb.example", "pass": PASS}),
    )
    .await;
    let pat = ok(&r)["api_key"].as_str().unwrap().to_string();
    let as_pat = |path: &'static str, body: Value| {
        let key = pat.clone();
        async move { staff_typed(s, path, &key, PASS, body).await }
    };
    // Into the owner's group (every module): refused; into its own: allowed.
    let r = as_pat(
        "admin/admin/add",
        json!({"group_id": biz.group, "name": "Mole", "email": "mole@climb.example", "pass": PASS}),
    )
    .await;
    failed(&r, 403, "group_id: gives modules the caller's own group does not have");
    let r = as_pat(
        "admin/admin/add",
        json!({"group_id": people, "name": "Sam", "email": "sam@climb.example", "pass": PASS}),
    )
    .await;
    let sam = ok(&r)["inserted_id"].as_i64().unwrap();
    // A new group, or its own group, with a module it lacks: refused.
    let r = as_pat("admin/admin_group/add", json!({"name": "Money", "permissions": {"invoice": 1}})).await;
    failed(&r, 403, "permissions: gives modules the caller's own group does not have: invoice");
    let r = as_pat(
        "admin/admin_group/edit",
        json!({"group_id": people, "permissions": {"admin": 1, "admin_group": 1, "client": 1, "order": 1}}),
    )
    .await;
    failed(&r, 403, "permissions: gives modules the caller's own group does not have: order");
    // The owner's group and the owner: neither edited nor removed by it.
    failed(&as_pat("admin/admin_group/edit", json!({"group_id": biz.group, "name": "Mine"})).await, 403, "group_id:");
    failed(&as_pat("admin/admin/edit", json!({"id": biz.owner, "pass": "taken over now"})).await, 403, "id:");
    failed(&as_pat("admin/admin/delete", json!({"id": biz.owner})).await, 403, "id:");
    ok(&owner("admin/admin/get", json!({"id": biz.owner})).await);
    // Its peers: changed and removed. A removed member's key stops working everywhere, and its email is free again.
    let r = as_pat(
        "admin/admin/add",
        json!({"group_id": people, "name": "Tom", "email": "tom@climb.example", "pass": PASS}),
    )
    .await;
    let (tom, tom_key) = (ok(&r)["inserted_id"].as_i64().unwrap(), ok(&r)["api_key"].as_str().unwrap().to_string());
    ok(&as_pat("admin/admin/edit", json!({"id": sam, "name": "Samuel"})).await);
    ok(&staff_typed(s, "admin/admin/get", &tom_key, PASS, json!({"id": tom})).await);
    ok(&as_pat("admin/admin/delete", json!({"id": tom})).await);
    failed(
        &staff_typed(s, "admin/admin/get", &tom_key, PASS, json!({"id": sam})).await,
        401,
        "api_key: invalid API key",
    );
    assert_eq!(srv.get("/core/v1/me", &tom_key).await.status, 401, "the core refuses the removed member's key too");
    let r = as_pat(
        "admin/admin/add",
        json!({"group_id": people, "name": "Tom", "email": "tom@climb.example", "pass": PASS}),
    )
    .await;
    ok(&r);
    // The same for a client.
    let (client, client_key) = add_client(&srv, &biz, "gone@climb.example").await;
    ok(&as_pat("admin/client/delete", json!({"client_id": client})).await);
    failed(&client_typed(s, "client/profile/get", &client_key, PASS, json!({})).await, 401, "api_key: invalid API key");
    add_client(&srv, &biz, "gone@climb.example").await;
}

/// One business's staff and clients never reach another's records, a client reaches only its own, and a client's
/// key is not a staff member's.
async fn businesses_and_clients_are_apart(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let a = business(&srv, "alpha").await;
    let z = business(&srv, "zeta").await;
    let (ca, ca_key) = add_client(&srv, &a, "one@alpha.example").await;
    let (cz, _) = add_client(&srv, &z, "one@zeta.example").await;
    let (ca2, _) = add_client(&srv, &a, "two@alpha.example").await;
    // Staff of zeta: alpha's client, group and staff are not found, for every action.
    for (path, body) in [
        ("admin/client/get", json!({"client_id": ca})),
        ("admin/client/edit", json!({"client_id": ca, "city": "X"})),
        ("admin/client/delete", json!({"client_id": ca})),
        ("admin/admin_group/get", json!({"group_id": a.group})),
        ("admin/admin_group/edit", json!({"group_id": a.group, "name": "Mine"})),
        ("admin/admin_group/delete", json!({"group_id": a.group})),
        ("admin/admin/get", json!({"id": a.owner})),
        ("admin/admin/delete", json!({"id": a.owner})),
    ] {
        let r = staff_typed(&srv, path, &z.key, PASS, body).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let r = api(
        &srv,
        &[
            ("api_key", &z.key),
            ("admin_pass", PASS),
            ("type", "client"),
            ("action", "get"),
            ("client_id", &format!("{cz},{ca}")),
        ],
    )
    .await;
    failed(&r, 404, &format!("client {ca} not found"));
    // Alpha's records are unchanged.
    let r = staff_typed(&srv, "admin/client/get", &a.key, PASS, json!({"client_id": ca})).await;
    assert_eq!(ok(&r)["city"], "");
    // A client names only itself.
    let r = client_typed(&srv, "client/profile/get", &ca_key, PASS, json!({"client_id": ca2})).await;
    failed(&r, 404, &format!("client {ca2} not found"));
    let r = client_typed(&srv, "client/client_balance/get", &ca_key, PASS, json!({"client_id": ca2})).await;
    failed(&r, 404, &format!("client {ca2} not found"));
    let r = client_typed(&srv, "client/profile/edit", &ca_key, PASS, json!({"client_id": cz, "city": "X"})).await;
    failed(&r, 404, &format!("client {cz} not found"));
    // A client's key is not a staff member's, and the reverse.
    failed(
        &staff_typed(&srv, "admin/client/get", &ca_key, PASS, json!({"client_id": ca})).await,
        401,
        "api_key: not the key of a staff member",
    );
    failed(
        &client_typed(&srv, "client/profile/get", &a.key, PASS, json!({})).await,
        401,
        "api_key: not the key of a client",
    );
    // The setup is for an admin of the business: another business's admin cannot set it up, nor a staff key.
    let r = srv
        .json(
            "POST",
            "/billing/setup",
            &z.admin,
            json!({"business_id": a.id, "name": "X", "email": "x@x.example", "pass": PASS}),
        )
        .await;
    failed(&r, 404, "business_id");
    let r = srv
        .json(
            "POST",
            "/billing/setup",
            &a.admin,
            json!({"business_id": a.id, "name": "X", "email": "x@x.example", "pass": PASS}),
        )
        .await;
    failed(&r, 409, "the business is set up already");
}

/// Wrong passwords count toward the core's lock-out, whichever way they come: then every password not yet checked
/// is refused with 429, the right one of a new caller too. A password checked before the lock-out goes on working
/// (it was remembered, as a session would be), so guessing cannot lock the business's staff out of their work.
async fn wrong_passwords_lock_the_account_out(b: crate::support::Backend) {
    let srv = Server::start(b).await;
    let biz = business(&srv, "locks").await;
    let (_, ckey) = add_client(&srv, &biz, "c@locks.example").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = if i % 2 == 0 {
            client_typed(&srv, "client/profile/get", &ckey, "wrong password", json!({})).await
        } else {
            api(&srv, &[("api_key", &ckey), ("client_pass", "wrong password"), ("type", "profile"), ("action", "get")])
                .await
        };
        assert_eq!(r.body["result"], Value::Null, "{}", r.text);
        statuses.push(r.status);
    }
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "locked out after repeated failures: {statuses:?}");
    let r = client_typed(&srv, "client/profile/get", &ckey, PASS, json!({})).await;
    assert_eq!(r.status, 429, "the right password, never checked, during the lock-out: {}", r.text);
    assert!(r.header("retry-after").is_some());
    // The owner's password was checked at setup: guesses at it are refused, the owner goes on.
    for _ in 0..12 {
        staff_typed(&srv, "admin/admin/get", &biz.key, "wrong password", json!({"id": biz.owner})).await;
    }
    let r = staff_typed(&srv, "admin/admin/get", &biz.key, "wrong password", json!({"id": biz.owner})).await;
    assert_eq!(r.status, 429, "{}", r.text);
    ok(&staff_typed(&srv, "admin/admin/get", &biz.key, PASS, json!({"id": biz.owner})).await);
}

both!(
    the_seeds_examples_replay,
    the_entry_point_names_what_is_wrong,
    typed_operations_serve_every_action,
    the_catalogue_is_kept,
    balances_move_once_and_never_below_zero,
    staff_permissions_follow_their_group,
    staff_give_no_more_than_they_have,
    concurrent_group_moves_leave_one_group,
    businesses_and_clients_are_apart,
    wrong_passwords_lock_the_account_out,
);
