//! hallpass sessions for actix-web 4: [`SessionMiddleware`] and the [`Session`]
//! extractor, on the same [`SessionEngine`](hallpass::engine::SessionEngine) as the
//! tower/axum layer, so both frameworks give the same guarantees and the same
//! failure policy.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use hallpass::{Key, MemoryStore, SessionConfig};
//! use hallpass_actix::{Session, SessionMiddleware};
//!
//! async fn views(session: Session) -> Result<HttpResponse, hallpass_actix::Error> {
//!     let n = session.increment("views", 1).await?;
//!     Ok(HttpResponse::Ok().body(n.to_string()))
//! }
//!
//! let sessions = SessionMiddleware::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
//! let app = App::new().wrap(sessions).route("/", web::get().to(views));
//! # let _ = app;
//! # Ok::<(), hallpass::ConfigError>(())
//! ```
//!
//! For every request the middleware reads every `Cookie` field, the `User-Agent`,
//! every `X-Forwarded-For` field and the peer address into a
//! [`RequestHead`](hallpass::engine::RequestHead), so the duplicate-cookie defence
//! and the trusted-proxy rule work as they do under tower. It commits the session
//! *before* the response head leaves: `Set-Cookie` is appended, `Cookie` is merged
//! into `Vary`, `Cache-Control: no-store` goes with every cookie; a failed write
//! replaces the response by a bare 500 or 503 without `Set-Cookie`, and a `Cookie`
//! header over the bound gets 431 without reaching the handler.
//!
//! [`Session`] dereferences to [`hallpass::Session`]: every method is there
//! (`get`, `insert`, `remove`, `increment`, `login`, `logout`, `rotate`, `sessions`,
//! `revoke`, `revoke_others`, `revoke_all`, `remember`, …), and `?` turns its
//! [`hallpass::SessionError`] into this crate's [`Error`], an actix response.

#[cfg(feature = "device-binding")]
#[cfg_attr(docsrs, doc(cfg(feature = "device-binding")))]
pub mod dbsc;
mod error;
mod extract;
mod middleware;

pub use error::{Error, MissingSessionMiddleware};
pub use extract::Session;
pub use middleware::{SessionMiddleware, SessionService};
