//! Abuse limits that need no database: request rates per API key and per tenant (token buckets), and failed logins
//! per account (a lock-out window after repeated failures, the seeds' "Login Blocked"). All state is in memory, per
//! process; with several instances each enforces its own share.
//!
//! A refusal is `CoreError::RateLimited(seconds)`; every answer of it (`Reply`, the admin API's problem) carries the
//! seconds as `Retry-After`, whatever envelope the plugin wraps it in.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::error::{CoreError, CoreResult};

#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    /// Sustained requests per second per API key (0: no limit); bursts up to twice that.
    pub per_key: u32,
    /// Sustained requests per second per tenant (0: no limit); bursts up to twice that.
    pub per_tenant: u32,
    /// Failed logins of one account before it is blocked.
    pub login_failures: u32,
    /// How long a blocked account stays blocked.
    pub login_block: Duration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings { per_key: 1000, per_tenant: 5000, login_failures: 5, login_block: Duration::from_secs(900) }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by id.
struct Buckets {
    rate: f64,
    burst: f64,
    cache: Cache<i64, Arc<Mutex<Bucket>>>,
}

impl Buckets {
    fn new(per_second: u32) -> Self {
        Buckets {
            rate: per_second as f64,
            burst: per_second as f64 * 2.0,
            cache: Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(600)).build(),
        }
    }

    /// Takes a token, or says how many seconds until one is there.
    fn take(&self, id: i64) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let bucket =
            self.cache.get_with(id, || Arc::new(Mutex::new(Bucket { tokens: self.burst, at: Instant::now() })));
        let mut b = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
}

pub struct Limits {
    keys: Buckets,
    /// Callers without an API key (a plugin's own tokens, a login) are limited per principal at the key rate.
    principals: Buckets,
    tenants: Buckets,
    settings: LimitSettings,
    logins: Cache<String, Arc<Mutex<Failures>>>,
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        Limits {
            keys: Buckets::new(settings.per_key),
            principals: Buckets::new(settings.per_key),
            tenants: Buckets::new(settings.per_tenant),
            settings,
            logins: Cache::builder().max_capacity(100_000).time_to_idle(settings.login_block).build(),
        }
    }

    /// One request of a principal of a tenant, with an API key or without (then counted per principal).
    pub fn request(&self, key_id: Option<i64>, principal_id: i64, tenant_id: i64) -> CoreResult<()> {
        match key_id {
            Some(key) => self.keys.take(key).map_err(refuse)?,
            None => self.principals.take(principal_id).map_err(refuse)?,
        }
        self.tenants.take(tenant_id).map_err(refuse)
    }

    /// Fails while the account is blocked after too many failed logins.
    pub fn login_allowed(&self, account: &str) -> CoreResult<()> {
        if let Some(f) = self.logins.get(account) {
            let f = f.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(until) = f.blocked_until {
                let left = until.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    return Err(CoreError::LoginBlocked(left.as_secs().max(1)));
                }
            }
        }
        Ok(())
    }

    /// Counts a failed login; the account is blocked once the failures reach the limit.
    pub fn login_failed(&self, account: &str) {
        let entry = self
            .logins
            .get_with(account.to_string(), || Arc::new(Mutex::new(Failures { count: 0, blocked_until: None })));
        let mut f = entry.lock().unwrap_or_else(|e| e.into_inner());
        if f.blocked_until.is_some_and(|until| until <= Instant::now()) {
            *f = Failures { count: 0, blocked_until: None };
        }
        f.count += 1;
        if f.count >= self.settings.login_failures {
            f.blocked_until = Some(Instant::now() + self.settings.login_block);
        }
    }

    /// A successful login clears the account's failures.
    pub fn login_succeeded(&self, account: &str) {
        self.logins.invalidate(account);
    }
}

fn refuse(seconds: u64) -> CoreError {
    CoreError::RateLimited(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_refuse_with_a_wait() {
        let b = Buckets::new(5);
        for _ in 0..10 {
            assert!(b.take(1).is_ok());
        }
        assert_eq!(b.take(1), Err(1));
        assert!(b.take(2).is_ok(), "other keys are not affected");
        assert!(Buckets::new(0).take(1).is_ok(), "0 disables the limit");
    }

    #[test]
    fn logins_block_one_account_only() {
        let l = Limits::new(LimitSettings { login_failures: 3, ..Default::default() });
        for _ in 0..3 {
            assert!(l.login_allowed("t1:a@x").is_ok());
            l.login_failed("t1:a@x");
        }
        assert!(matches!(l.login_allowed("t1:a@x"), Err(CoreError::LoginBlocked(s)) if s > 800));
        assert!(l.login_allowed("t1:b@x").is_ok());
        l.login_succeeded("t1:b@x");
    }
}
