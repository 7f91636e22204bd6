//! Read-through caching over moka's future cache, the one way the core and plugins cache what they load.

use std::future::Future;
use std::hash::Hash;

use moka::future::Cache;

use crate::error::{CoreError, CoreResult};

/// The cached value of `key`, or the value `load` yields, stored for the next caller. Concurrent misses of one key
/// share one load.
///
/// A hit is a plain lookup: `try_get_with` builds moka's loader future (over a kilobyte, boxed here so the futures
/// awaiting this one stay small) even when the key is present, and the hit is by far the common case: it runs several
/// times in every authenticated request.
pub async fn get_or_load<K, V, E, F>(cache: &Cache<K, V>, key: K, load: F) -> CoreResult<V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: std::fmt::Display + Send + Sync + 'static,
    F: Future<Output = Result<V, E>> + Send,
{
    if let Some(value) = cache.get(&key).await {
        return Ok(value);
    }
    Box::pin(cache.try_get_with(key, load)).await.map_err(CoreError::internal)
}
