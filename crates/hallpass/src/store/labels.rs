//! The half of a revoke by label every store shares (see [`crate::label`]).

use crate::store::{SessionStore, StoreError};
use crate::time::Timestamp;
use crate::token::Handle;

/// The second half of every store's [`revoke_label`](SessionStore::revoke_label):
/// of the sessions `listed` by the store's index for `name = value`, ends each that
/// is live at `now` and carries the label, by handle. Returns how many it ended.
///
/// # Errors
///
/// The store's, from the lookup or the revoke.
pub async fn revoke_listed(
    store: &dyn SessionStore,
    listed: &[Handle],
    name: &str,
    value: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let mut ended = 0;
    for handle in listed {
        let Some((_, record)) = store.load_handle(handle, now).await? else {
            continue;
        };
        if record.label(name) == Some(value) && store.revoke(handle).await? {
            ended += 1;
        }
    }
    Ok(ended)
}
