//! Principals and their credentials. Passwords are argon2id hashes checked only at login; API keys and tokens are
//! random secrets of which only the SHA-256 is stored, looked up by hash through a cache. Every way a plugin's seed
//! passes credentials ends in `Identity::authenticate_key` (or a plugin token resolved the same way) and yields one
//! `Caller`.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use moka::future::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{now_ms, Db};
use crate::error::{CoreError, CoreResult};
use crate::events::{Change, Events};
use crate::limits::Limits;
use crate::store;
use crate::tenancy::{Tenant, Tenants};

/// An authenticated principal acting in its tenant. Holding one means the credentials were checked, the key or token
/// is live, the tenant (with its ancestors) is active and the request was admitted by the rate limits. Only the core
/// makes one (`PluginContext::authenticate_key`, `authenticate_token`, `login`).
#[derive(Debug, Clone)]
pub struct Caller {
    pub(crate) principal_id: i64,
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) key_id: Option<i64>,
}

impl Caller {
    pub fn principal_id(&self) -> i64 {
        self.principal_id
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    pub fn tenant_id(&self) -> i64 {
        self.tenant.id
    }

    pub fn tenant_path(&self) -> &str {
        &self.tenant.path
    }

    /// The API key the caller presented, if it came with one.
    pub fn key_id(&self) -> Option<i64> {
        self.key_id
    }

    /// The platform admin's tenant is the root.
    pub fn is_platform(&self) -> bool {
        self.tenant.parent_id.is_none()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRecord {
    pub id: i64,
    pub principal_id: i64,
    pub tenant_id: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A new random secret (256 bits), hex-encoded, with a readable prefix that secret scanners can match.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// argon2 runs at once, process-wide: each takes about 19 MiB and a core for tens of milliseconds, so an unbounded
/// number (a login flood, a burst of user creations) would take the memory and the async workers with it. A request
/// that cannot start one within `ARGON2_WAIT` is refused with 429.
static ARGON2: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> = std::sync::LazyLock::new(|| {
    Arc::new(tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)))
});
const ARGON2_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs one argon2 computation on the blocking pool, within the process-wide bound. The permit travels with the
/// computation: a request that is dropped (its client gone) does not free a slot while its hash still runs.
async fn argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> CoreResult<T> {
    let permit = tokio::time::timeout(ARGON2_WAIT, ARGON2.clone().acquire_owned())
        .await
        .map_err(|_| CoreError::RateLimited(1))?
        .map_err(CoreError::internal)?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .map_err(CoreError::internal)
}

fn hash_now(password: &str) -> CoreResult<String> {
    let salt = SaltString::encode_b64(&{
        let mut b = [0u8; 16];
        rand::rng().fill_bytes(&mut b);
        b
    })
    .map_err(CoreError::internal)?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(CoreError::internal)
}

/// An argon2id hash of a password, computed on the blocking pool within the process-wide bound.
pub async fn hash_password(password: &str) -> CoreResult<String> {
    let password = password.to_string();
    argon2(move || hash_now(&password)).await?
}

/// Constant-time check of a password against its argon2id hash, on the blocking pool within the process-wide bound.
/// Without a hash (an unknown email, a person without a password) it checks against a fixed dummy hash, so that the
/// answer takes as long either way and does not tell which emails exist.
pub async fn verify_password(password: &str, hash: Option<&str>) -> CoreResult<bool> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let known = hash.is_some();
    let hash = hash.map(str::to_string);
    let password = password.to_string();
    let matches = argon2(move || {
        // Made once, on the blocking pool like every other hash.
        let hash = hash.unwrap_or_else(|| DUMMY.get_or_init(|| hash_now(&new_secret("")).unwrap_or_default()).clone());
        PasswordHash::new(&hash)
            .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await?;
    Ok(known && matches)
}

#[derive(Clone)]
pub struct Identity {
    db: Db,
    tenants: Tenants,
    events: Events,
    limits: Arc<Limits>,
    /// key hash → key record (None: no such key; cached too, a random guess cannot be a future key).
    keys: Cache<String, Option<Arc<KeyRecord>>>,
}

impl Identity {
    pub fn new(db: Db, tenants: Tenants, events: Events, limits: Arc<Limits>) -> Self {
        Identity { db, tenants, events, limits, keys: Cache::builder().max_capacity(100_000).build() }
    }

    /// Resolves an API key to its caller, or says why not.
    pub async fn authenticate_key(&self, key: &str) -> CoreResult<Caller> {
        let bad = || CoreError::Unauthenticated("invalid API key".into());
        if key.is_empty() || key.len() > 256 {
            return Err(bad());
        }
        let hash = hash_secret(key);
        let pool = self.db.pool.clone();
        let lookup = hash.clone();
        let record = crate::cache::get_or_load(&self.keys, hash, async move {
            store::key_by_hash(&pool, &lookup).await.map(|k| k.map(Arc::new))
        })
        .await?
        .ok_or_else(bad)?;
        if record.revoked_at.is_some() {
            return Err(bad());
        }
        if record.expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(CoreError::Unauthenticated("API key expired".into()));
        }
        self.admit(record.principal_id, record.tenant_id, Some(record.id)).await
    }

    /// The caller for a principal whose credentials were checked: its tenant and every ancestor must be active, and
    /// the request must pass the rate limits (per key when it came with one, per principal otherwise, per tenant).
    pub(crate) async fn admit(&self, principal_id: i64, tenant_id: i64, key_id: Option<i64>) -> CoreResult<Caller> {
        let tenant = self.tenants.require(tenant_id).await?;
        self.tenants.ensure_usable(&tenant).await?;
        self.limits.request(key_id, principal_id, tenant.id)?;
        Ok(Caller { principal_id, tenant, key_id })
    }

    /// Stores a new API key for a principal and returns (id, plaintext). The plaintext is never stored.
    pub async fn create_key(
        &self,
        principal_id: i64,
        tenant_id: i64,
        name: &str,
        expires_at: Option<i64>,
        key: Option<String>,
    ) -> CoreResult<(i64, String)> {
        let key = key.unwrap_or_else(|| new_secret("tsk_"));
        let prefix: String = key.chars().take(8).collect();
        let id =
            store::insert_key(&self.db.writer, principal_id, tenant_id, name, &prefix, &hash_secret(&key), expires_at)
                .await?;
        Ok((id, key))
    }

    /// Revokes a key; the next request with it is refused.
    pub async fn revoke_key(&self, key_id: i64) -> CoreResult<()> {
        if let Some(hash) = store::revoke_key(&self.db.writer, key_id, now_ms()).await? {
            self.keys.invalidate(&hash).await;
            self.events.publish(Change::Key { hash }).await;
        }
        Ok(())
    }

    /// Checks an email and password of a principal of the tenant (argon2id, on the blocking pool). Every failure reads
    /// the same, so a caller cannot tell an unknown email from a wrong password.
    ///
    /// The attempt is counted before the password is checked, and one account has one check at a time (a second
    /// concurrent attempt is refused with 429), so concurrent guesses cannot outrun the lock-out.
    pub async fn login(&self, tenant_id: i64, email: &str, password: &str) -> CoreResult<i64> {
        let email = email.trim().to_lowercase();
        let account = format!("{tenant_id}:{email}");
        let attempt = self.limits.login_attempt(&account)?;
        let found = store::principal_login(&self.db.pool, tenant_id, &email).await?;
        self.check_password(&account, attempt, found, password).await.map_err(|e| match e {
            CoreError::Unauthenticated(_) => CoreError::Unauthenticated("wrong email or password".into()),
            e => e,
        })
    }

    /// Checks the password of a principal of the tenant that a plugin found by its own login name (`account`, e.g.
    /// a member's username; None when the name is unknown), counted toward the same lock-out as `login` under
    /// `tenant:account`. Every failure reads the same.
    pub async fn login_principal(
        &self,
        tenant_id: i64,
        account: &str,
        principal_id: Option<i64>,
        password: &str,
    ) -> CoreResult<i64> {
        let account = format!("{tenant_id}:{}", account.trim().to_lowercase());
        let attempt = self.limits.login_attempt(&account)?;
        let found = match principal_id {
            Some(id) => store::principal_password(&self.db.pool, tenant_id, id).await?.map(|hash| (id, hash)),
            None => None,
        };
        self.check_password(&account, attempt, found, password).await
    }

    async fn check_password(
        &self,
        account: &str,
        attempt: crate::limits::LoginAttempt,
        found: Option<(i64, Option<String>)>,
        password: &str,
    ) -> CoreResult<i64> {
        let (id, hash) = match found {
            Some((id, hash)) => (Some(id), hash),
            None => (None, None),
        };
        // An attempt that could not be checked (too many hashes at once) is not held against the account.
        let matches = verify_password(password, hash.as_deref()).await.inspect_err(|_| attempt.refund())?;
        match id {
            Some(id) if matches => {
                self.limits.login_succeeded(account);
                Ok(id)
            }
            _ => Err(CoreError::Unauthenticated("wrong login name or password".into())),
        }
    }

    /// Checks a secret a plugin keeps itself (an e-wallet transaction password) against its argon2id hash, counted
    /// toward the lock-out of `account` like a login: after repeated failures the account's checks are refused for a
    /// while, whatever is presented, and concurrent guesses cannot outrun the count.
    /// Unlike a login, a check that finds another of the same account in progress waits its turn (a member's app
    /// may pay twice at once) for up to three seconds, then is refused with 429.
    pub async fn check_secret(&self, account: &str, hash: &str, password: &str) -> CoreResult<bool> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let attempt = loop {
            match self.limits.login_attempt(account) {
                Err(CoreError::RateLimited(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await
                }
                other => break other?,
            }
        };
        let matches = verify_password(password, Some(hash)).await.inspect_err(|_| attempt.refund())?;
        if matches {
            self.limits.login_succeeded(account);
        }
        Ok(matches)
    }

    /// A new person of the tenant with a password (`hash` from `hash_password`, computed before the transaction
    /// began); an email the tenant already has is a conflict naming `email`.
    pub async fn create_person(
        &self,
        conn: &mut sqlx::AnyConnection,
        tenant_id: i64,
        email: &crate::types::Email,
        name: &str,
        hash: &str,
    ) -> CoreResult<i64> {
        if store::principal_id_by_email(&mut *conn, tenant_id, email.as_str()).await?.is_some() {
            return Err(CoreError::invalid("email", "is already registered"));
        }
        // The check above cannot see a concurrent transaction's uncommitted person (PostgreSQL): the unique index on
        // (tenant, email), the principals' only one, refuses the second, and it is the same answer.
        store::insert_principal(conn, tenant_id, email.as_str(), name.trim(), Some(hash), now_ms()).await.map_err(|e| {
            match e {
                CoreError::Conflict(_) => CoreError::invalid("email", "is already registered"),
                e => e,
            }
        })
    }

    /// The principal of the tenant with this email, created (without a password) when there is none yet.
    /// Returns (id, created).
    pub async fn ensure_principal(
        &self,
        conn: &mut sqlx::AnyConnection,
        tenant_id: i64,
        email: &crate::types::Email,
        name: &str,
    ) -> CoreResult<(i64, bool)> {
        if let Some(id) = store::principal_id_by_email(&mut *conn, tenant_id, email.as_str()).await? {
            return Ok((id, false));
        }
        let id = store::insert_principal(conn, tenant_id, email.as_str(), name.trim(), None, now_ms()).await?;
        Ok((id, true))
    }

    /// Drops a cached key (another instance revoked it).
    pub async fn forget_key(&self, hash: &str) {
        self.keys.invalidate(hash).await;
    }

    /// Drops every cached key.
    pub fn forget_all(&self) {
        self.keys.invalidate_all();
    }
}
