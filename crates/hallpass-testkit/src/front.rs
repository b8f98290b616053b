//! The frameworks a [`TestApp`](crate::TestApp) runs on: "send this request, give me
//! the response", once per framework. axum is driven in-process (`oneshot`);
//! actix-web runs a real server on a loopback port in its own thread (its services
//! are not `Send`) and is driven over HTTP.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse as _;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use tower::ServiceExt;

use hallpass::engine::SessionEngine;
use hallpass::{Session, SessionLayer};

use crate::routes::{Answer, Ctx, route};

/// The plain-HTTP/1.1 client the actix front sends with: hyper's pooling client,
/// no TLS and no proxy (a loopback test never needs either).
type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

/// The web framework of a [`TestApp`](crate::TestApp).
#[expect(
    clippy::exhaustive_enums,
    reason = "the conformance macros name each framework"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// `hallpass::SessionLayer` and the axum extractor, in-process.
    Axum,
    /// `hallpass_actix::SessionMiddleware` and its extractor, over a loopback socket.
    Actix,
    /// `hallpass::SessionLayer` and the axum extractor, served by `axum::serve` on a
    /// loopback socket (with the peer's address) and driven over HTTP.
    AxumOverTcp,
}

impl Framework {
    /// The same framework, served on a real socket: `Axum` becomes `AxumOverTcp`.
    #[must_use]
    pub fn over_tcp(self) -> Self {
        match self {
            Self::Axum => Self::AxumOverTcp,
            other => other,
        }
    }
}

/// A running test application on one framework.
#[derive(Clone, Debug)]
pub(crate) enum Served {
    Axum(Router),
    Actix(Arc<ActixServer>),
    AxumOverTcp(Arc<AxumServer>),
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Served {
    pub(crate) fn start(framework: Framework, engine: SessionEngine, ctx: Ctx) -> Self {
        match framework {
            Framework::Axum => Self::Axum(axum_router(engine, ctx)),
            Framework::Actix => Self::Actix(Arc::new(ActixServer::start(engine, ctx))),
            Framework::AxumOverTcp => {
                Self::AxumOverTcp(Arc::new(AxumServer::start(axum_router(engine, ctx))))
            }
        }
    }

    /// Sends `request` (its method, URI and every header field, as they are).
    pub(crate) async fn send(&self, request: Request<()>) -> Reply {
        let uri = request.uri().clone();
        self.try_send(request)
            .await
            .unwrap_or_else(|err| panic!("no answer to {uri}: {err}"))
    }

    /// [`Served::send`], where a server that closes the connection instead of
    /// answering is an `Err` (actix-web does so for a request head over its own
    /// buffer limit, which the engine never sees).
    pub(crate) async fn try_send(&self, request: Request<()>) -> Result<Reply, String> {
        Ok(match self {
            Self::Axum(router) => {
                let request = request.map(|()| axum::body::Body::empty());
                let response = router
                    .clone()
                    .oneshot(request)
                    .await
                    .unwrap_or_else(|e| match e {});
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Reply {
                    status: parts.status,
                    headers: parts.headers,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                }
            }
            Self::Actix(server) => server.remote.send(request).await?,
            Self::AxumOverTcp(server) => server.remote.send(request).await?,
        })
    }
}

fn axum_router(engine: SessionEngine, ctx: Ctx) -> Router {
    async fn dispatch(
        State(ctx): State<Ctx>,
        session: Session,
        method: Method,
        uri: Uri,
    ) -> axum::response::Response {
        match route(
            &ctx,
            &method,
            uri.path(),
            uri.query().unwrap_or(""),
            &session,
        )
        .await
        {
            Ok(Answer { status, json, body }) => {
                let mut response = (status, body).into_response();
                if json {
                    response.headers_mut().insert(CONTENT_TYPE, JSON);
                }
                response
            }
            Err(err) => err.into_response(),
        }
    }
    Router::new()
        .route(
            DEVICE_REGISTRATION,
            axum::routing::post(hallpass::dbsc::register),
        )
        .route(DEVICE_REFRESH, axum::routing::post(hallpass::dbsc::refresh))
        .fallback(dispatch)
        .with_state(ctx)
        .layer(SessionLayer::from_engine(engine))
}

/// The device-binding endpoints' paths in every test app (the defaults).
pub(crate) const DEVICE_REGISTRATION: &str = "/hallpass/dbsc/register";
/// See [`DEVICE_REGISTRATION`].
pub(crate) const DEVICE_REFRESH: &str = "/hallpass/dbsc/refresh";

/// A server on a loopback port, driven over plain HTTP/1.1.
#[derive(Debug)]
pub(crate) struct Remote {
    base: String,
    client: Client,
}

impl Remote {
    fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build_http(),
        }
    }
}

/// An axum app served by `axum::serve` on `127.0.0.1:<any>`, on the test's runtime;
/// stopped when the last [`TestApp`](crate::TestApp) clone is dropped.
#[derive(Debug)]
pub(crate) struct AxumServer {
    remote: Remote,
    task: tokio::task::JoinHandle<()>,
}

impl AxumServer {
    fn start(router: Router) -> Self {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("cannot make the listener non-blocking: {e}"));
        let listener = tokio::net::TcpListener::from_std(listener)
            .unwrap_or_else(|e| panic!("tokio cannot take the listener: {e}"));
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
            if let Err(err) = served {
                tracing::error!("the axum test server stopped: {err}");
            }
        });
        Self {
            remote: Remote::new(addr),
            task,
        }
    }
}

impl Drop for AxumServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An actix-web server on `127.0.0.1:<any>` in a thread of its own, stopped when
/// the last [`TestApp`](crate::TestApp) clone is dropped.
#[derive(Debug)]
pub(crate) struct ActixServer {
    remote: Remote,
    system: actix_rt::System,
}

async fn actix_dispatch(
    ctx: actix_web::web::Data<Ctx>,
    session: hallpass_actix::Session,
    request: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, hallpass_actix::Error> {
    let method = Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or(Method::GET);
    let Answer { status, json, body } = route(
        &ctx,
        &method,
        request.path(),
        request.query_string(),
        &session,
    )
    .await?;
    let status = actix_web::http::StatusCode::from_u16(status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = actix_web::HttpResponse::build(status);
    response.content_type(if json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    });
    Ok(response.body(body))
}

impl ActixServer {
    fn start(engine: SessionEngine, ctx: Ctx) -> Self {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        let (started, ready) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("actix-test-{}", addr.port()))
            .spawn(move || {
                let system = actix_rt::System::new();
                let middleware = hallpass_actix::SessionMiddleware::from_engine(engine);
                let ctx = actix_web::web::Data::new(ctx);
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(ctx.clone())
                        .wrap(middleware.clone())
                        .route(
                            DEVICE_REGISTRATION,
                            actix_web::web::post().to(hallpass_actix::dbsc::register),
                        )
                        .route(
                            DEVICE_REFRESH,
                            actix_web::web::post().to(hallpass_actix::dbsc::refresh),
                        )
                        .default_service(actix_web::web::to(actix_dispatch))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .unwrap_or_else(|e| panic!("actix cannot listen: {e}"))
                .run();
                system.block_on(async {
                    actix_rt::spawn(server);
                });
                let _ = started.send(actix_rt::System::current());
                let _ = system.run();
            })
            .unwrap_or_else(|e| panic!("cannot start the actix thread: {e}"));
        let system = ready
            .recv()
            .unwrap_or_else(|e| panic!("the actix server did not start: {e}"));
        Self {
            remote: Remote::new(addr),
            system,
        }
    }
}

impl Remote {
    async fn send(&self, request: Request<()>) -> Result<Reply, String> {
        let (parts, ()) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}{path}", self.base);
        let mut outgoing = Request::builder()
            .method(parts.method)
            .uri(&url)
            .body(http_body_util::Empty::new())
            .unwrap_or_else(|e| panic!("bad request {url}: {e}"));
        // Every field as the case gave it (several Cookie fields stay several).
        *outgoing.headers_mut() = parts.headers;
        let response = self
            .client
            .request(outgoing)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

impl Drop for ActixServer {
    fn drop(&mut self) {
        self.system.stop();
    }
}

/// A response, read to the end.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The `Set-Cookie` headers, as text.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The single `Set-Cookie` header, if exactly one.
    pub fn set_cookie(&self) -> Option<String> {
        match self.set_cookies().as_slice() {
            [one] => Some(one.clone()),
            [] => None,
            many => panic!("more than one Set-Cookie: {many:?}"),
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
}
