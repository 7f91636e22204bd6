//! Generates the client from the committed document. Request bodies that Tessera accepts as JSON or as a form are
//! given to progenitor as JSON only (it takes one media type per body); the server accepts JSON everywhere.
//! progenitor cannot generate a multipart/form-data upload (the mlm profile image): such an operation is left out of
//! the Rust client, which would send it with reqwest's multipart form directly.

use std::path::Path;

fn main() {
    let source = Path::new("../../openapi/tessera.openapi.json");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(source).expect("read openapi/tessera.openapi.json");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("the document is JSON");
    for item in doc["paths"].as_object_mut().expect("paths").values_mut() {
        let item = item.as_object_mut().expect("path item");
        item.retain(|_, op| op.pointer("/requestBody/content/multipart~1form-data").is_none());
        for op in item.values_mut() {
            if let Some(content) = op.pointer_mut("/requestBody/content").and_then(|c| c.as_object_mut()) {
                if content.contains_key("application/json") {
                    content.retain(|media, _| media == "application/json");
                }
            }
        }
    }
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc).expect("an OpenAPI 3.0 document");
    let mut generator = progenitor::Generator::default();
    let tokens = generator.generate_tokens(&spec).unwrap_or_else(|e| panic!("progenitor: {e}"));
    let file = syn::parse2(tokens).expect("generated code parses");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("tessera_client.rs");
    std::fs::write(out, prettyplease::unparse(&file)).expect("write the client");
}
