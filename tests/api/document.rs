//! Rules the OpenAPI document keeps so that SDK generators produce clean clients: every operation has a unique
//! `<plugin>_<resource>_<action>` id, a summary, one tag, a 4xx answer, a credential (a defined scheme or a credential
//! field), and bodies that are named schemas (no anonymous inline objects).

use std::collections::HashSet;

use serde_json::Value;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/tessera.openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("committed document")).expect("JSON")
}

/// A body schema is a `$ref`, or an array of `$ref`s, or a scalar: never an inline object.
fn named(schema: &Value) -> bool {
    if schema.get("$ref").is_some() {
        return true;
    }
    match schema["type"].as_str() {
        Some("object") => false,
        Some("array") => named(&schema["items"]),
        Some(_) => true,
        None => schema["allOf"].as_array().is_some_and(|all| all.iter().all(named)),
    }
}

/// An object of scalar or file properties only (a form's fields).
fn flat(schema: &Value) -> bool {
    schema["type"] == "object"
        && schema["properties"]
            .as_object()
            .is_some_and(|p| p.values().all(|v| v["type"].as_str().is_some_and(|t| t != "object" && t != "array")))
}

/// The request fields that carry a credential the seed APIs' way (in the body, the query or a header).
const CREDENTIAL_FIELDS: [&str; 5] = ["api_key", "api-key", "access_token", "access-token", "password"];

/// The names of an operation's parameters and of its request bodies' top-level properties.
fn request_fields(doc: &Value, op: &Value) -> HashSet<String> {
    let mut names: HashSet<String> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    for content in op["requestBody"]["content"].as_object().into_iter().flatten().map(|(_, c)| c) {
        let schema = &content["schema"];
        let schema = match schema["$ref"].as_str() {
            Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
            None => schema,
        };
        names.extend(schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()));
    }
    names
}

/// Why an operation's security is not right: the merge writes `security: []` into every operation that declares no
/// scheme, so "declared" alone proves nothing. An operation either names defined schemes, or says `[]` and takes its
/// credential in a request field the seed's way (`api_key`, `api-key`, `access_token`, a password to log in).
fn security_problem(doc: &Value, op: &Value) -> Option<String> {
    let Some(requirements) = op["security"].as_array() else {
        return Some("security not declared".into());
    };
    let schemes = &doc["components"]["securitySchemes"];
    for name in requirements.iter().filter_map(Value::as_object).flat_map(|r| r.keys()) {
        if schemes.get(name).is_none() {
            return Some(format!("security scheme `{name}` is not defined"));
        }
    }
    if requirements.is_empty() {
        let fields = request_fields(doc, op);
        if !CREDENTIAL_FIELDS.iter().any(|f| fields.contains(*f)) {
            return Some("no security scheme and no credential among its request fields: anyone may call it".into());
        }
    }
    None
}

#[test]
fn every_operation_is_complete() {
    let doc = document();
    let mut ids = HashSet::new();
    let mut problems = Vec::new();
    let tags: HashSet<&str> = doc["tags"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let here = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"].as_str().unwrap_or("");
            let plugin = path.trim_start_matches('/').split('/').next().unwrap_or("").replace('-', "_");
            let parts = id.split('_').count();
            if !id.starts_with(&format!("{plugin}_")) || parts < 3 || !ids.insert(id.to_string()) {
                problems.push(format!("{here}: operationId `{id}` is not a unique {plugin}_<resource>_<action>"));
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{here}: no summary"));
            }
            match op["tags"].as_array() {
                Some(t) if t.len() == 1 && tags.contains(t[0].as_str().unwrap_or("")) => {}
                _ => problems.push(format!("{here}: needs exactly one declared tag")),
            }
            if let Some(why) = security_problem(&doc, op) {
                problems.push(format!("{here}: {why}"));
            }
            let responses = op["responses"].as_object().unwrap();
            if !responses.keys().any(|s| s.starts_with('4')) {
                problems.push(format!("{here}: no 4xx answer declared"));
            }
            let bodies = responses
                .iter()
                .flat_map(|(status, r)| {
                    r["content"].as_object().into_iter().flatten().map(move |(ct, c)| (format!("{status} {ct}"), c))
                })
                .chain(
                    op["requestBody"]["content"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(ct, c)| (format!("request {ct}"), c)),
                );
            for (which, content) in bodies {
                // poem-openapi writes a multipart body inline (it has no component for it); generators name it from
                // the operation id. Its fields must still be plain values or files.
                if which == "request multipart/form-data" && flat(&content["schema"]) {
                    continue;
                }
                if !named(&content["schema"]) {
                    problems.push(format!("{here}: {which} body is an anonymous inline object"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn seed_form_operations_use_the_wire_names() {
    let doc = document();
    let list = &doc["paths"]["/reseller/api/reseller/list"]["post"]["requestBody"]["content"];
    for ct in ["application/json", "application/x-www-form-urlencoded"] {
        assert_eq!(list[ct]["schema"]["$ref"], "#/components/schemas/ResellerListRequest", "{ct}");
    }
    let props = &doc["components"]["schemas"]["ResellerListRequest"]["properties"];
    for name in ["userid", "api_key", "ispid", "type", "rows_limit", "rows_offset", "sort_field", "show_count"] {
        assert!(props.get(name).is_some(), "{name}");
    }
    let sort = &doc["components"]["schemas"]["ResellerSortField"]["enum"];
    assert_eq!(sort, &serde_json::json!(["id", "ispid", "type", "name", "code", "state", "wallet"]));
    let payment = &doc["components"]["schemas"]["ResellerPaymentBy"]["enum"];
    assert_eq!(payment, &serde_json::json!(["ISP", "Reseller", "ISP+Reseller"]));
}
