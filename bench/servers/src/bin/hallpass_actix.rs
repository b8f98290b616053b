//! hallpass on actix-web (`hallpass-actix`): `--store memory|redis://…`, the same three
//! routes as the axum server.

use actix_web::{App, HttpResponse, HttpServer, web};
use hallpass::{Key, Keyring, SessionConfig};
use hallpass_actix::{Error, Session, SessionMiddleware};

async fn login(session: Session) -> Result<HttpResponse, Error> {
    session.login("alice").await?;
    session.insert("views", 0).await?;
    Ok(HttpResponse::Ok().body("ok"))
}

async fn count(session: Session) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().body(session.increment("views", 1).await?.to_string()))
}

async fn read(session: Session) -> Result<HttpResponse, Error> {
    Ok(match session.principal().await? {
        Some(user) => HttpResponse::Ok().body(String::from(user)),
        None => HttpResponse::Unauthorized().finish(),
    })
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = bench_servers::hallpass_store().await?;
    // One engine (one store, one keyring) for every worker.
    let sessions =
        SessionMiddleware::new(store, SessionConfig::new(Keyring::new(Key::generate())))?;
    HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/login", web::get().to(login))
            .route("/count", web::get().to(count))
            .route("/read", web::get().to(read))
    })
    .bind(bench_servers::addr())?
    .run()
    .await?;
    Ok(())
}
