//! The adapter contract: everything between "a request arrived" and "the response
//! head is about to go out", in terms of `http` types and the store trait only, so a
//! framework adapter is glue.
//!
//! An adapter does three things per request:
//!
//! 1. build a [`RequestHead`] (every `Cookie` and `X-Forwarded-For` field, the
//!    `User-Agent`, the peer address) and call [`SessionEngine::begin`]; on a
//!    [`Rejection`] answer its status with an empty body and skip the handler;
//! 2. hand the [`Session`] to the handler (it is cheap to clone);
//! 3. call [`Commit::finish`] before the response head is sent; apply the
//!    [`SetHeaders`] it returns, or on a [`CommitError`] replace the response by its
//!    bare status, with no `Set-Cookie`.
//!
//! Both failures are logged by the engine (target `hallpass::rejection`); the tower
//! layer ([`crate::tower`]) is exactly these three steps.

mod commit;
mod head;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use http::header::USER_AGENT;

pub use commit::{Commit, CommitError, Finish, Rejection, SetHeaders, vary_lists_cookie};
pub use head::RequestHead;

use crate::codec;
use crate::config::{ConfigError, SessionConfig};
use crate::context::Context;
use crate::cookie::{self, Inline};
use crate::events::{Event, InvalidReason};
use crate::session::{Candidate, Candidates, Session};
use crate::store::{IntoStore, SessionStore};
use crate::telemetry;

/// The validated configuration plus the store: starts a [`Session`] per request.
///
/// Cheap to clone. Use it directly to integrate a framework other than tower/axum;
/// with tower, use [`SessionLayer`](crate::SessionLayer), which wraps it.
///
/// # Examples
///
/// ```
/// use hallpass::{Key, MemoryStore, SessionConfig};
/// use hallpass::engine::{RequestHead, SessionEngine};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let engine = SessionEngine::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
/// let request = http::HeaderMap::new();
/// let (session, commit) = engine.begin(&RequestHead::from_http(&request, None))?;
/// session.insert("views", 1).await?;
/// let mut response = http::HeaderMap::new();
/// commit.finish().await?.apply(&mut response);
/// assert!(response.contains_key(http::header::SET_COOKIE));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SessionEngine {
    context: Arc<Context>,
}

impl SessionEngine {
    /// Validates `config` and pairs it with `store` (a store, or an `Arc` of one).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unsafe or inconsistent configuration, with a message
    /// saying how to fix it.
    pub fn new(store: impl IntoStore, config: SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            context: Arc::new(Context::new(store.into_store(), config)),
        })
    }

    /// The store sessions live in.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.context.store
    }

    /// Starts a request: finds and verifies the session cookie (no store call yet).
    /// The trusted-proxy setting decides whether `X-Forwarded-For` is believed over
    /// the peer address.
    ///
    /// # Errors
    ///
    /// [`Rejection`]: answer its status without running the handler.
    pub fn begin(&self, head: &RequestHead<'_>) -> Result<(Session, Commit), Rejection> {
        let config = &self.context.config;
        let headers = head.headers();
        let found = cookie::find_inline(headers, &config.cookie_name, config.max_cookie_header_bytes)
            .map_err(|too_large| {
                tracing::warn!(target: "hallpass::rejection", len = too_large.len, max = too_large.max, "Cookie header too large");
                let rejection = Rejection::from(too_large);
                telemetry::rejected(rejection.status());
                rejection
            })?;
        let ip = crate::client_ip::resolve(headers, head.peer(), &config.trusted_proxies);
        let user_agent = headers.get(USER_AGENT).cloned();
        let hook = config.hook.as_ref();
        let (candidates, duplicated, presented) = match found {
            Inline::None => (Candidates::new(), false, false),
            Inline::TooMany => {
                telemetry::emit(
                    hook,
                    &Event::DuplicateCookie {
                        values: cookie::MAX_CANDIDATES + 1,
                        live: 0,
                        ip,
                    },
                );
                (Candidates::new(), true, true)
            }
            Inline::Values(values) => {
                let mut candidates = Candidates::new();
                for value in &values {
                    match codec::decode(&config.keyring, &config.cookie_name, value) {
                        Ok(verified) => candidates.push(Candidate::from(verified)),
                        Err(rejected) => {
                            tracing::debug!(target: "hallpass::event", reason = rejected.as_str(), "session cookie rejected");
                            let reason = match rejected {
                                codec::Rejected::Malformed => InvalidReason::Malformed,
                                codec::Rejected::UnknownVersion => InvalidReason::UnknownVersion,
                                codec::Rejected::BadTag => InvalidReason::BadSignature,
                            };
                            telemetry::emit(hook, &Event::InvalidToken { reason, ip });
                        }
                    }
                }
                if values.len() > 1 && candidates.len() <= 1 {
                    // With two or more verified values the count of live ones is
                    // reported once they are loaded.
                    telemetry::emit(
                        hook,
                        &Event::DuplicateCookie {
                            values: values.len(),
                            live: 0,
                            ip,
                        },
                    );
                }
                (candidates, values.len() > 1, true)
            }
        };
        let (bound, skipped) = match &config.device {
            Some(device) if !candidates.is_empty() => {
                let handles: smallvec::SmallVec<[crate::Handle; 1]> =
                    candidates.iter().map(Candidate::handle).collect();
                (
                    device.read_bound(headers, &config.keyring, &handles),
                    device.skipped(headers),
                )
            }
            _ => (None, None),
        };
        let session = Session::new(
            Arc::clone(&self.context),
            candidates,
            duplicated,
            presented,
            ip,
            user_agent,
            bound,
        );
        if let Some(reason) = skipped {
            session.note_skipped(reason);
        }
        Ok((session.clone(), Commit::new(session)))
    }
}

impl fmt::Debug for SessionEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEngine")
            .field("store", &self.context.store)
            .field("config", &self.context.config)
            .finish()
    }
}
