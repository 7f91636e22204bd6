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

/// Login attempts of one account since its last success.
#[derive(Default)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    /// A password check of this account is running.
    checking: bool,
}

/// One login attempt in progress; the account's next check may start when it is dropped.
pub struct LoginAttempt(Arc<Mutex<Failures>>, u32);

impl LoginAttempt {
    /// Takes the attempt back (it could not be checked): it does not count toward the lock-out.
    pub fn refund(&self) {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.count = f.count.saturating_sub(1);
        if f.count < self.1 {
            f.blocked_until = None;
        }
    }
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).checking = false;
    }
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

    /// Starts a login attempt of an account, counted before the password is checked: refused while the account is
    /// blocked after too many attempts, or while another attempt of it is being checked (so concurrent guesses
    /// cannot all pass the count before any of them fails). The attempt that reaches the limit still runs; a
    /// success clears the count (`login_succeeded`).
    pub fn login_attempt(&self, account: &str) -> CoreResult<LoginAttempt> {
        let entry = self.logins.get_with(account.to_string(), || Arc::new(Mutex::new(Failures::default())));
        let mut f = entry.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match f.blocked_until {
            Some(until) if until > now => {
                return Err(CoreError::LoginBlocked(until.duration_since(now).as_secs().max(1)))
            }
            Some(_) => *f = Failures::default(),
            None => {}
        }
        if f.checking {
            return Err(CoreError::RateLimited(1));
        }
        f.count += 1;
        if f.count >= self.settings.login_failures {
            f.blocked_until = Some(now + self.settings.login_block);
        }
        f.checking = true;
        drop(f);
        Ok(LoginAttempt(entry, self.settings.login_failures))
    }

    /// A successful login clears the account's attempts.
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
            drop(l.login_attempt("t1:a@x").expect("allowed"));
        }
        assert!(matches!(l.login_attempt("t1:a@x"), Err(CoreError::LoginBlocked(s)) if s > 800));
        let b = l.login_attempt("t1:b@x").expect("another account is not affected");
        drop(b);
        l.login_succeeded("t1:b@x");
    }

    #[test]
    fn one_check_per_account_at_a_time() {
        let l = Limits::new(LimitSettings { login_failures: 10, ..Default::default() });
        let first = l.login_attempt("t1:a@x").expect("allowed");
        assert!(matches!(l.login_attempt("t1:a@x"), Err(CoreError::RateLimited(1))), "a concurrent attempt waits");
        drop(first);
        assert!(l.login_attempt("t1:a@x").is_ok(), "the next attempt runs once the first is done");
    }
}
