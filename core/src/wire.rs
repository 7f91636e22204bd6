//! Request bodies as the seeds send them: `Input<T>` accepts the same fields as JSON or as
//! application/x-www-form-urlencoded, is documented with both content types and T's schema, and checks every field
//! against that schema before T is built, so a bad value is reported with its field name and the reason
//! ("amt: must be a number") instead of a parser's generic message.
//!
//! Parameters in the query string count as fields too (the seeds' POST examples put them there); the body wins.
//!
//! Form values are text; they are coerced to the schema's type (integer, number, boolean), and an empty form value
//! counts as absent. Fields the schema does not know are ignored (seed clients send extra ones).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value};

/// A field-level input error: the field (as named on the wire) and why it was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InputError {
    pub field: String,
    pub reason: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        InputError { field: field.into(), reason: reason.into() }
    }
}

impl poem::error::ResponseError for InputError {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::BAD_REQUEST
    }
}

/// The largest body `Input` reads, set per request by the server.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A request body given as JSON or as a form, validated field by field against T's schema.
pub struct Input<T>(pub T);

impl<T> std::ops::Deref for Input<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

impl<'a, T: ParseFromJSON + Type + Send> ApiExtractor<'a> for Input<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![
                MetaMediaType { content_type: JSON, schema: T::schema_ref() },
                MetaMediaType { content_type: FORM, schema: T::schema_ref() },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let (fields, from_form) = read_fields(request, body).await?;
        Ok(Input(parse::<T>(fields, from_form)?))
    }
}

/// A request body read as `Input` reads it (JSON or a form, the query's parameters added), but left as its fields for
/// the handler to route before it parses them with `parse`: a dispatcher whose fields depend on one of them (the
/// billing API's `type` and `action`). Documented with T's schema.
pub struct Fields<T> {
    pub fields: Map<String, Value>,
    /// The body was a form: its values are text (`parse` coerces them).
    pub from_form: bool,
    _schema: std::marker::PhantomData<T>,
}

impl<'a, T: ParseFromJSON + Type + Send> ApiExtractor<'a> for Fields<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Input::<T>::request_meta()
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let (fields, from_form) = read_fields(request, body).await?;
        Ok(Fields { fields, from_form, _schema: std::marker::PhantomData })
    }
}

/// The fields of a JSON or form body, with the query's parameters the body does not give; true when it was a form.
async fn read_fields(request: &Request, body: &mut RequestBody) -> poem::Result<(Map<String, Value>, bool)> {
    {
        let is_json = body_format(request.headers().get(poem::http::header::CONTENT_TYPE))? == Format::Json;
        let limit = request.data::<BodyLimit>().map(|l| l.0).unwrap_or(1 << 20);
        let bytes = body.take()?.into_bytes_limit(limit).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => poem::Error::from_string(
                format!("the request body is larger than {limit} bytes"),
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            ),
            // The connection broke or the framing was malformed mid-body: what arrived is not a request.
            poem::error::ReadBodyError::Io(_) | poem::error::ReadBodyError::Utf8(_) => {
                InputError::new("body", "could not be read (the connection or its framing broke off)").into()
            }
            poem::error::ReadBodyError::BodyHasBeenTaken => poem::Error::from(e),
        })?;
        let mut fields = if is_json { json_fields(&bytes)? } else { form_fields(&bytes)? };
        // Seed clients also send a POST's parameters in the query string; the body wins where both give one.
        if let Some(query) = request.uri().query() {
            for (key, value) in form_fields(query.as_bytes())? {
                fields.entry(key).or_insert(value);
            }
        }
        Ok((fields, !is_json))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Form,
}

/// How a body of this Content-Type is read: JSON (`application/json`, `application/*+json`), a form
/// (`application/x-www-form-urlencoded`, or no Content-Type at all, as a bare `curl -X POST` sends), or not at all:
/// 415, naming what was sent and what is accepted.
fn body_format(content_type: Option<&poem::http::HeaderValue>) -> poem::Result<Format> {
    let Some(content_type) = content_type else {
        return Ok(Format::Form);
    };
    let text = content_type.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == JSON || (essence.starts_with("application/") && essence.ends_with("+json")) {
        return Ok(Format::Json);
    }
    if essence == FORM {
        return Ok(Format::Form);
    }
    let shown = match essence.chars().take(100).collect::<String>() {
        s if s.is_empty() => "an empty or unreadable media type".to_string(),
        s => s,
    };
    Err(poem::Error::from_string(
        format!("content-type: {shown} is not accepted; send {JSON} or {FORM}"),
        poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ))
}

fn json_fields(bytes: &[u8]) -> Result<Map<String, Value>, InputError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(InputError::new("body", "must be a JSON object")),
        Err(e) => Err(InputError::new("body", format!("is not valid JSON ({e})"))),
    }
}

fn form_fields(bytes: &[u8]) -> Result<Map<String, Value>, InputError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(InputError::new("body", "is not valid UTF-8"));
    }
    let mut map = Map::new();
    for (key, value) in form_urlencoded_pairs(bytes) {
        if value.contains('\u{FFFD}') {
            return Err(InputError::new(key, "is not valid UTF-8"));
        }
        // PHP-style arrays, as PHP clients send them: `permissions[client]=1` is the field `permissions` holding
        // `{"client": "1"}`, `ids[]=1&ids[]=2` the field `ids` holding `["1", "2"]`.
        let nested = key
            .strip_suffix(']')
            .and_then(|k| k.split_once('['))
            .filter(|(name, sub)| !name.is_empty() && !sub.contains(['[', ']']));
        match nested {
            Some((name, "")) => match map.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(Value::String(value)),
                _ => return Err(InputError::new(name, "is given both as a list and as a value")),
            },
            Some((name, sub)) => match map.entry(name).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(entries) => {
                    entries.insert(sub.to_string(), Value::String(value));
                }
                _ => return Err(InputError::new(name, "is given both as a map and as a value")),
            },
            None => {
                map.insert(key, Value::String(value));
            }
        }
    }
    Ok(map)
}

fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default()
}

/// The registry holding T's schema and what it refers to, built once per type.
fn registry_of<T: Type>() -> Arc<Registry> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<Registry>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let name = T::name().into_owned();
    if let Some(r) = cache.read().unwrap_or_else(|e| e.into_inner()).get(&name) {
        return r.clone();
    }
    let mut registry = Registry::new();
    T::register(&mut registry);
    let registry = Arc::new(registry);
    cache.write().unwrap_or_else(|e| e.into_inner()).insert(name, registry.clone());
    registry
}

/// The schema a reference or an inline schema stands for. A documented field that refers to a named type is inline
/// `allOf: [$ref, {description}]`: that resolves to the referred type.
fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(s) if !s.all_of.is_empty() => s
            .all_of
            .iter()
            .find_map(|part| matches!(part, MetaSchemaRef::Reference(_)).then(|| resolve(registry, part))?),
        MetaSchemaRef::Inline(s) => Some(s),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

/// Checks and coerces the fields against T's schema, then builds T.
pub fn parse<T: ParseFromJSON + Type>(mut fields: Map<String, Value>, from_form: bool) -> Result<T, InputError> {
    let registry = registry_of::<T>();
    let root = T::schema_ref();
    let Some(schema) = resolve(&registry, &root) else {
        return T::parse_from_json(Some(Value::Object(fields))).map_err(|e| InputError::new("body", e.into_message()));
    };
    let mut checked = Map::new();
    for (name, prop) in &schema.properties {
        let Some(prop) = resolve(&registry, prop) else {
            continue;
        };
        let value = match fields.remove(*name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if from_form && s.is_empty() && prop.ty != "string" => None,
            Some(v) => Some(v),
        };
        match value {
            None if schema.required.contains(name) => return Err(InputError::new(*name, "is required")),
            None => {}
            Some(v) => {
                checked.insert(name.to_string(), check(name, prop, v)?);
            }
        }
    }
    T::parse_from_json(Some(Value::Object(checked))).map_err(|e| InputError::new("body", e.into_message()))
}

fn check(name: &str, schema: &MetaSchema, value: Value) -> Result<Value, InputError> {
    let err = |reason: String| InputError::new(name, reason);
    let value = match schema.ty {
        "integer" => {
            let n = match &value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            let n = n.ok_or_else(|| err("must be a whole number".into()))?;
            if schema.format == Some("int32") && i32::try_from(n).is_err() {
                return Err(err("is out of range".into()));
            }
            Value::from(n)
        }
        "number" => {
            let n = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() => Value::from(n),
                _ => return Err(err("must be a number".into())),
            }
        }
        "boolean" => match &value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if matches!(s.as_str(), "1" | "true") => Value::Bool(true),
            Value::String(s) if matches!(s.as_str(), "0" | "false") => Value::Bool(false),
            Value::Number(n) if n.as_i64() == Some(1) => Value::Bool(true),
            Value::Number(n) if n.as_i64() == Some(0) => Value::Bool(false),
            _ => return Err(err("must be true or false".into())),
        },
        "string" => match value {
            Value::String(s) if has_control(&s) => return Err(err("must not contain control characters".into())),
            Value::String(s) => Value::String(s),
            Value::Number(n) => Value::String(n.to_string()),
            _ => return Err(err("must be a string".into())),
        },
        _ => value,
    };
    if !schema.enum_items.is_empty() && !schema.enum_items.contains(&value) {
        let allowed: Vec<String> =
            schema.enum_items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect();
        return Err(err(format!("must be one of: {}", allowed.join(", "))));
    }
    if let Some(n) = value.as_f64() {
        if schema.minimum.is_some_and(|min| n < min) {
            return Err(err(format!("must be at least {}", schema.minimum.unwrap_or_default())));
        }
        if schema.maximum.is_some_and(|max| n > max) {
            return Err(err(format!("must be at most {}", schema.maximum.unwrap_or_default())));
        }
    }
    if let Value::String(s) = &value {
        let len = s.chars().count();
        if let Some(max) = schema.max_length.filter(|max| len > *max) {
            return Err(err(format!("must be at most {max} characters")));
        }
        if let Some(min) = schema.min_length.filter(|min| len < *min) {
            return Err(err(if min == 1 {
                "must not be empty".into()
            } else {
                format!("must be at least {min} characters")
            }));
        }
    }
    Ok(value)
}

/// Control characters other than tab and line breaks (a NUL truncates strings in some drivers and is refused by
/// PostgreSQL's text type).
pub fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// The first query parameter whose value holds a control character, by name.
pub fn control_in_query(query: &str) -> Option<String> {
    form_urlencoded_pairs(query.as_bytes()).into_iter().find(|(_, v)| has_control(v)).map(|(k, _)| k)
}

/// The names of a credential header whose seed name has an underscore (`access_token`, `api_key`), for
/// [`HeaderKey`]. Implemented on an empty type of the plugin's:
///
/// ```ignore
/// enum AccessTokenHeader {}
/// impl tessera_core::HeaderNames for AccessTokenHeader {
///     const NAME: &'static str = "access_token";
///     const ALIAS: &'static str = "access-token";
///     const SCHEME: &'static str = "ChatAccessToken";
///     const ALIAS_SCHEME: &'static str = "ChatAccessTokenHyphenated";
///     const DESCRIPTION: &'static str = "The access token, in the `access_token` header (or `access-token`).";
/// }
/// type AccessToken = tessera_core::HeaderKey<AccessTokenHeader>;
/// ```
pub trait HeaderNames: Send + Sync + 'static {
    /// The seed's name, with its underscore.
    const NAME: &'static str;
    /// The same name with hyphens.
    const ALIAS: &'static str;
    /// The security scheme of each name in the document, prefixed with the plugin's name.
    const SCHEME: &'static str;
    const ALIAS_SCHEME: &'static str;
    /// What the credential is, for the document.
    const DESCRIPTION: &'static str;
}

/// A credential in a header under its seed's name with an underscore, or under the hyphenated alias. Common reverse
/// proxies drop header names with underscores by default (nginx unless `underscores_in_headers on`), so a client
/// behind one sends the alias. The document declares both names, as alternative security schemes. Absent: 401.
/// Given more than once (under either name) with different values: 400 naming the header, rather than a guess.
pub struct HeaderKey<N>(String, std::marker::PhantomData<N>);

impl<N> HeaderKey<N> {
    /// The credential as sent.
    pub fn value(&self) -> &str {
        &self.0
    }
}

/// A credential header that is missing or unreadable: 401, with the header's names.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

impl poem::error::ResponseError for CredentialError {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::UNAUTHORIZED
    }
}

/// How the document describes the hyphenated name of every [`HeaderKey`].
const ALIAS_DESCRIPTION: &str = "The same credential under the hyphenated header name, for clients behind a reverse \
    proxy that drops header names with underscores (nginx without `underscores_in_headers on`).";

fn header_scheme(name: &'static str, description: &'static str) -> poem_openapi::registry::MetaSecurityScheme {
    poem_openapi::registry::MetaSecurityScheme {
        ty: "apiKey",
        description: Some(description),
        name: Some(name),
        key_in: Some("header"),
        scheme: None,
        bearer_format: None,
        flows: None,
        openid_connect_url: None,
    }
}

impl<'a, N: HeaderNames> ApiExtractor<'a> for HeaderKey<N> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(N::SCHEME, header_scheme(N::NAME, N::DESCRIPTION));
        registry.create_security_scheme(N::ALIAS_SCHEME, header_scheme(N::ALIAS, ALIAS_DESCRIPTION));
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![N::SCHEME, N::ALIAS_SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let headers = request.headers();
        let mut values = headers.get_all(N::NAME).iter().chain(headers.get_all(N::ALIAS).iter());
        let Some(first) = values.next() else {
            let (name, alias) = (N::NAME, N::ALIAS);
            return Err(
                CredentialError(format!("{name}: missing credentials; send the {name} (or {alias}) header")).into()
            );
        };
        if values.any(|other| other != first) {
            let reason =
                format!("is given more than once with different values (as {} or {}); send it once", N::NAME, N::ALIAS);
            return Err(InputError::new(N::NAME, reason).into());
        }
        let value = first
            .to_str()
            .map_err(|_| CredentialError(format!("{}: malformed credentials (not visible ASCII)", N::NAME)))?;
        Ok(HeaderKey(value.to_string(), std::marker::PhantomData))
    }
}

/// A URL path parameter documented as `T` (an id, an enumeration) but checked by the handler with `get`, so that a
/// bad value is refused naming its parameter and the reason: poem-openapi reports path parse errors under internal
/// names (`param0`).
#[derive(Debug, Clone)]
pub struct PathParam<T>(String, std::marker::PhantomData<T>);

/// A numeric id in a URL path.
pub type PathId = PathParam<i64>;

impl<T: poem_openapi::types::ParseFromParameter + Type> PathParam<T> {
    pub fn new(value: impl Into<String>) -> Self {
        PathParam(value.into(), std::marker::PhantomData)
    }

    pub fn get(&self, name: &str) -> crate::CoreResult<T> {
        T::parse_from_parameter(&self.0).map_err(|_| crate::CoreError::invalid(name, expectation::<T>()))
    }
}

/// What a value of `T` must be, from its schema: "must be a whole number", "must be one of: a, b".
fn expectation<T: Type>() -> String {
    let registry = registry_of::<T>();
    let root = T::schema_ref();
    match resolve(&registry, &root) {
        Some(s) if !s.enum_items.is_empty() => {
            let items: Vec<String> = s.enum_items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            format!("must be one of: {}", items.join(", "))
        }
        Some(s) if s.ty == "integer" => "must be a whole number".into(),
        Some(s) if s.ty == "number" => "must be a number".into(),
        _ => "is not valid".into(),
    }
}

impl<T: Type> Type for PathParam<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<T: Type> poem_openapi::types::ParseFromParameter for PathParam<T> {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Ok(PathParam(value.to_string(), std::marker::PhantomData))
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[derive(poem_openapi::Enum, Debug, Clone, Copy, PartialEq, Eq)]
    #[oai(rename_all = "lowercase")]
    enum Fruit {
        Apple,
        Pear,
    }

    #[test]
    fn path_parameters_name_themselves() {
        assert_eq!(PathId::new("42").get("id").unwrap(), 42);
        let e = PathId::new("4x").get("id").unwrap_err();
        assert_eq!(e.to_string(), "id: must be a whole number");
        assert_eq!(PathParam::<Fruit>::new("pear").get("fruit").unwrap(), Fruit::Pear);
        let e = PathParam::<Fruit>::new("plum").get("fruit").unwrap_err();
        assert_eq!(e.to_string(), "fruit: must be one of: apple, pear");
    }
}
