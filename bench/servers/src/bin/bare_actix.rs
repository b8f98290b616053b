//! Bare actix-web: the three routes with no sessions at all, the baseline of every
//! actix ratio (as bare axum is for the tower servers).

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    HttpServer::new(|| {
        App::new()
            .route(
                "/login",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .insert_header(("Set-Cookie", "id=bare; Path=/; HttpOnly"))
                        .body("ok")
                }),
            )
            .route("/count", web::get().to(|| async { "1" }))
            .route("/read", web::get().to(|| async { "alice" }))
    })
    .bind(bench_servers::addr())?
    .run()
    .await
}
