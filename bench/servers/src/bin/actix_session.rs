//! actix-session on actix-web: `--store cookie|redis` (its signed cookie store, or its
//! Redis store).

use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpResponse, HttpServer, web};

async fn login(session: Session) -> HttpResponse {
    match (
        session.insert("user", "alice"),
        session.insert("views", 0i64),
    ) {
        (Ok(()), Ok(())) => HttpResponse::Ok().body("ok"),
        _ => HttpResponse::InternalServerError().finish(),
    }
}

async fn count(session: Session) -> HttpResponse {
    let views = session.get::<i64>("views").ok().flatten().unwrap_or(0) + 1;
    match session.insert("views", views) {
        Ok(()) => HttpResponse::Ok().body(views.to_string()),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn read(session: Session) -> HttpResponse {
    match session.get::<String>("user") {
        Ok(Some(user)) => HttpResponse::Ok().body(user),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

/// `store` makes each worker's store (actix builds the app once per worker).
async fn serve<S, F>(store: F) -> std::io::Result<()>
where
    S: SessionStore + 'static,
    F: Fn() -> S + Clone + Send + 'static,
{
    let key = Key::generate();
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store(), key.clone())
                    .cookie_secure(false)
                    .build(),
            )
            .route("/login", web::get().to(login))
            .route("/count", web::get().to(count))
            .route("/read", web::get().to(read))
    })
    .bind(bench_servers::addr())?
    .run()
    .await
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    match bench_servers::store_arg("cookie").as_str() {
        "redis" => {
            let store = RedisSessionStore::new(bench_servers::redis_url())
                .await
                .map_err(std::io::Error::other)?;
            serve(move || store.clone()).await
        }
        _ => serve(CookieSessionStore::default).await,
    }
}
