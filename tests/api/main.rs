//! The integration tests: the real server over HTTP, every test on SQLite and on PostgreSQL.

mod sinks;
mod support;

mod billing;
mod chat;
mod contract;
mod core;
mod document;
mod instances;
mod isolation;
mod loadable;
mod mlm;
mod outbox;
mod registrar_addons;
mod reliability;
mod reseller;
mod security;
mod wire;
