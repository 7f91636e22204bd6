//! The merged OpenAPI document: the core's and every plugin's own document, paths prefixed with their mount, schemas,
//! security schemes and tags gathered into one. Every clash is a start-up error naming both sides, never a panic.

use serde_json::{json, Map, Value};

/// One part of the document: who it belongs to, where it is mounted, and its own document.
pub struct Part<'a> {
    pub owner: &'a str,
    pub mount: &'a str,
    pub spec: &'a Value,
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

pub fn merge(version: &str, parts: &[Part<'_>]) -> Result<Value, String> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut security = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    let mut operation_owner: std::collections::HashMap<String, String> = Default::default();
    let mut schema_owner: std::collections::HashMap<String, String> = Default::default();

    for part in parts {
        let prefix = format!("{}_", part.owner);
        for (path, item) in part.spec["paths"].as_object().into_iter().flatten() {
            let full = format!("{}{}", part.mount, path);
            if paths.contains_key(&full) {
                return Err(format!("path {full} of {} is already served", part.owner));
            }
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let id = op["operationId"].as_str().unwrap_or_default();
                if !id.starts_with(&prefix) {
                    return Err(format!(
                        "{} {full}: operationId `{id}` must start with `{prefix}`",
                        method.to_uppercase()
                    ));
                }
                if let Some(other) = operation_owner.insert(id.to_string(), part.owner.to_string()) {
                    return Err(format!("operationId `{id}` of {} clashes with one of {other}", part.owner));
                }
            }
            paths.insert(full, with_security_declared(item));
        }
        let components = &part.spec["components"];
        for (name, schema) in components["schemas"].as_object().into_iter().flatten() {
            let schema = documented_refs(&union_without_type(schema));
            if let Some(existing) = schemas.get(name) {
                if *existing != schema {
                    let other = schema_owner.get(name).cloned().unwrap_or_default();
                    return Err(format!("schema `{name}` of {} clashes with one of {other}", part.owner));
                }
            }
            schema_owner.entry(name.clone()).or_insert_with(|| part.owner.to_string());
            schemas.insert(name.clone(), schema);
        }
        for (name, scheme) in components["securitySchemes"].as_object().into_iter().flatten() {
            if security.get(name).is_some_and(|existing| existing != scheme) {
                return Err(format!("security scheme `{name}` of {} clashes with another", part.owner));
            }
            security.insert(name.clone(), scheme.clone());
        }
        for tag in part.spec["tags"].as_array().into_iter().flatten() {
            if !tags.iter().any(|t| t["name"] == tag["name"]) {
                tags.push(tag.clone());
            }
        }
    }
    tags.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(json!({
        "openapi": "3.0.0",
        "info": {
            "title": "Tessera",
            "description": "Multi-tenant SaaS server: the core admin API and every linked plugin's API.",
            "version": version,
            "license": { "name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0" },
        },
        "servers": [{ "url": "/", "description": "this server" }],
        "tags": tags,
        "paths": paths,
        "components": { "schemas": schemas, "securitySchemes": security },
    }))
}

/// Operations whose credentials travel in the body or query the seed's way (userid + api_key, auth-userid + api-key)
/// use no HTTP security scheme; `security: []` says so explicitly instead of leaving it undefined.
fn with_security_declared(item: &Value) -> Value {
    let mut item = item.clone();
    for method in METHODS {
        if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
            op.entry("security").or_insert_with(|| json!([]));
        }
    }
    item
}

/// poem-openapi documents a field that refers to a named type as `allOf: [$ref, {description}]`; generators read an
/// `allOf` member without a type as a non-object and give up. The description stays beside a one-member `allOf`.
fn documented_refs(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for prop in props.values_mut() {
            if let Some(all) = prop.get_mut("allOf").and_then(Value::as_array_mut) {
                let only_docs = |v: &Value| v.as_object().is_some_and(|o| o.keys().all(|k| k == "description"));
                if all.iter().filter(|v| v.get("$ref").is_some()).count() == 1 {
                    all.retain(|v| !only_docs(v));
                }
            }
        }
    }
    schema
}

/// poem-openapi labels every union `type: object`, which is false for a union of an array and an integer: a union's
/// type is that of its members, so the label is dropped.
fn union_without_type(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(obj) = schema.as_object_mut() {
        if obj.contains_key("anyOf") || obj.contains_key("oneOf") {
            obj.remove("type");
        }
    }
    schema
}

/// The methods each path of a mounted API serves, read from its own document (paths relative to the mount): what a
/// 405 says in its Allow header.
#[derive(Debug, Default)]
pub struct Allowed {
    /// Each path as segments (None: a `{parameter}`), with its methods in upper case.
    paths: Vec<(Vec<Option<String>>, Vec<&'static str>)>,
}

/// The order Allow lists methods in.
const ALLOW_ORDER: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

impl Allowed {
    pub fn from_spec(spec: &Value) -> Self {
        let mut paths = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            let segments =
                path.split('/').map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string())).collect();
            let served = |m: &str| item.get(m.to_ascii_lowercase()).is_some();
            // The router answers HEAD with the GET operation where there is no HEAD one.
            let methods = ALLOW_ORDER.into_iter().filter(|m| served(m) || (*m == "HEAD" && served("GET"))).collect();
            paths.push((segments, methods));
        }
        Allowed { paths }
    }

    /// The Allow header for `path` (relative to the mount): the methods of the path the router matched, which
    /// prefers, segment by segment from the left, a literal segment to a parameter.
    pub fn allow(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let matches = |template: &[Option<String>]| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t.as_deref().map_or(!s.is_empty(), |lit| lit == *s))
        };
        self.paths
            .iter()
            .filter(|(template, _)| matches(template))
            .max_by_key(|(template, _)| template.iter().map(Option::is_some).collect::<Vec<bool>>())
            .map(|(_, methods)| methods.join(", "))
            .unwrap_or_default()
    }
}

/// The Swagger UI page for a document (the UI bundled with poem-openapi, given the merged document).
pub fn swagger_html(document: &str) -> String {
    #[derive(Clone, Copy)]
    struct Empty;
    #[poem_openapi::OpenApi]
    impl Empty {
        /// placeholder
        #[oai(path = "/", method = "get", operation_id = "placeholder")]
        async fn placeholder(&self) {}
    }
    let service = poem_openapi::OpenApiService::new(Empty, "placeholder", "0");
    let html = service.swagger_ui_html();
    html.replacen(&service.spec(), document, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_the_methods_of_the_path_the_router_takes() {
        let spec = json!({"paths": {
            "/api/customers/search.json": {"get": {}},
            "/api/{product}/details.json": {"get": {}},
            "/api/{product}/add.json": {"post": {}},
            "/tenants/{id}": {"get": {}, "patch": {}},
            "/hooks/{id}": {"delete": {}},
            "/hooks/event-types": {"get": {}},
        }});
        let allowed = Allowed::from_spec(&spec);
        assert_eq!(allowed.allow("/api/customers/search.json"), "GET, HEAD");
        assert_eq!(allowed.allow("/api/codeguard/add.json"), "POST");
        // No literal path fits: the router falls back to the parameter.
        assert_eq!(allowed.allow("/api/customers/details.json"), "GET, HEAD");
        assert_eq!(allowed.allow("/tenants/7"), "GET, HEAD, PATCH");
        assert_eq!(allowed.allow("/hooks/event-types"), "GET, HEAD");
        assert_eq!(allowed.allow("/hooks/9"), "DELETE");
        assert_eq!(allowed.allow("/nothing"), "");
    }
}
