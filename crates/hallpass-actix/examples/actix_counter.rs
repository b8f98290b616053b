//! The seed tutorials' visit counter, with login and logout, on actix-web:
//!
//! ```sh
//! cargo run -p hallpass-actix --example actix_counter            # http://127.0.0.1:8080/
//! cargo run -p hallpass-actix --example actix_counter -- 127.0.0.1:9000
//! ```
//!
//! `/` counts your visits ("Welcome to this page for the first time!", then "You
//! visited this page N times") and says who is logged in; the login form takes any
//! name with the password printed at start (a real application checks a password
//! hash — see `apps/demo` for argon2 under a concurrency limit); logging in gives the
//! session a new token and keeps the count; logging out deletes the session.
//!
//! Sessions live in memory and the signing key is fresh on every start, so both end
//! with the process. The cookie is `__Host-id` with `Secure`, which browsers and curl
//! accept from `http://127.0.0.1` and `http://localhost` only.

#![allow(
    clippy::print_stdout,
    reason = "an example prints its URL and password"
)]

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use hallpass::{Key, MemoryStore, SessionConfig};
use hallpass_actix::{Error, Session, SessionMiddleware};
use serde::Deserialize;

/// The password the login form accepts, fixed for the life of the process.
struct Password(String);

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

/// Escapes text for an HTML body.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn counter(session: Session) -> Result<HttpResponse, Error> {
    let views = session.increment("views", 1).await?;
    let greeting = if views == 1 {
        "Welcome to this page for the first time!".to_owned()
    } else {
        format!("You visited this page {views} times")
    };
    let who = match session.principal().await? {
        Some(user) => format!(
            "<p>Logged in as {}.</p><form method=post action=/logout><button>Log out</button></form>",
            escape(&user)
        ),
        None => "<form method=post action=/login><input name=user placeholder=name> \
                 <input name=password type=password placeholder=password> \
                 <button>Log in</button></form>"
            .to_owned(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>counter</title><h1>{greeting}</h1>{who}"
        )))
}

async fn login(
    session: Session,
    form: web::Form<LoginForm>,
    password: web::Data<Password>,
) -> Result<HttpResponse, Error> {
    // The ticket first, then the credential check: a password change that lands
    // meanwhile refuses this login instead of missing it.
    let ticket = session.begin_login(form.user.trim()).await?;
    if form.user.trim().is_empty() || form.password != password.0 {
        return Ok(HttpResponse::Unauthorized().body("wrong name or password"));
    }
    session.finish_login(ticket).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/"))
        .finish())
}

async fn logout(session: Session) -> Result<HttpResponse, Error> {
    session.logout().await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/"))
        .finish())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
        .parse()?;
    let sessions = SessionMiddleware::new(MemoryStore::new(), SessionConfig::new(Key::generate()))?;
    // 16 characters of a fresh random key: enough for an example's password.
    let password = web::Data::new(Password(Key::generate().to_base64url()[..16].to_owned()));
    let shown = password.0.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(password.clone())
            .wrap(sessions.clone())
            .route("/", web::get().to(counter))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
    })
    .workers(2)
    .bind(listen)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}/");
    }
    println!("log in with any name and the password {shown}");
    server.run().await?;
    Ok(())
}
