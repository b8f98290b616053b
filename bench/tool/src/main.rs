//! `bench-tool`: the parts of `bench/run.sh` that need more than curl and awk.
//!
//! ```text
//! bench-tool cookies URL N FILE        GET URL/login N times; one Cookie header value per line
//! bench-tool lost URL                  1,000 /count on one session over 32 connections: lost increments
//! bench-tool sequential URL ROUTE FILE N   N requests to ROUTE, cycling the cookies (for command counts)
//! bench-tool fill URL N                create N sessions through /login, 64 at a time
//! bench-tool report RESULTS MD SVG     the tables and chart from run.sh's results (JSON lines)
//! ```
//! Every address is the bench server's on 127.0.0.1.

mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|err| fail(&format!("HTTP client: {err}")))
}

fn fail(message: &str) -> ! {
    eprintln!("bench-tool: {message}");
    std::process::exit(1)
}

/// `name=value` of the first Set-Cookie, as a Cookie header value.
fn cookie_of(response: &reqwest::Response) -> Option<String> {
    let set = response.headers().get("set-cookie")?.to_str().ok()?;
    Some(set.split(';').next()?.trim().to_owned())
}

async fn login(http: &reqwest::Client, url: &str) -> String {
    let response = http
        .get(format!("{url}/login"))
        .send()
        .await
        .unwrap_or_else(|err| fail(&format!("GET {url}/login: {err}")));
    if !response.status().is_success() {
        fail(&format!("GET {url}/login: {}", response.status()));
    }
    cookie_of(&response).unwrap_or_else(|| fail("/login set no cookie"))
}

async fn cookies(url: &str, n: usize, file: &str) {
    let http = client();
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        lines.push(login(&http, url).await);
    }
    std::fs::write(file, lines.join("\n") + "\n")
        .unwrap_or_else(|err| fail(&format!("{file}: {err}")));
}

async fn lost(url: &str) {
    const REQUESTS: u64 = 1_000;
    const CONNECTIONS: u64 = 32;
    let http = client();
    let cookie = Arc::new(login(&http, url).await);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, cookie, next, url) = (
            http.clone(),
            Arc::clone(&cookie),
            Arc::clone(&next),
            url.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                let response = http
                    .get(format!("{url}/count"))
                    .header("cookie", cookie.as_str())
                    .send()
                    .await;
                if !response.is_ok_and(|r| r.status().is_success()) {
                    fail("a /count request failed");
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    // Some peers send a new cookie with every change (the cookie store): read the
    // count with the original one only where the server keeps state.
    let response = http
        .get(format!("{url}/count"))
        .header("cookie", cookie.as_str())
        .send()
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    let body = response.text().await.unwrap_or_default();
    let counted: u64 = body
        .trim()
        .parse()
        .unwrap_or_else(|_| fail(&format!("/count said {body:?}")));
    let lost = (REQUESTS + 1).saturating_sub(counted);
    println!(
        "{{\"requests\":{REQUESTS},\"connections\":{CONNECTIONS},\"counted\":{},\"lost\":{lost}}}",
        counted - 1
    );
}

async fn sequential(url: &str, route: &str, file: &str, n: usize) {
    let http = client();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let cookies: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    for i in 0..n {
        let mut request = http.get(format!("{url}{route}"));
        if let Some(cookie) = cookies.get(i % cookies.len().max(1)) {
            if route != "/login" {
                request = request.header("cookie", *cookie);
            }
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
        let _ = response.bytes().await;
    }
}

async fn fill(url: &str, n: u64) {
    let http = client();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (http, next, url) = (http.clone(), Arc::clone(&next), url.to_owned());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < n {
                let ok = http
                    .get(format!("{url}/login"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    fail("a /login request failed while filling");
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i).map_or_else(
            || fail("missing argument; see the source's header"),
            String::as_str,
        )
    };
    let number = |i: usize| {
        arg(i)
            .parse::<u64>()
            .unwrap_or_else(|_| fail("not a number"))
    };
    match arg(0) {
        "cookies" => cookies(arg(1), number(2) as usize, arg(3)).await,
        "lost" => lost(arg(1)).await,
        "sequential" => sequential(arg(1), arg(2), arg(3), number(4) as usize).await,
        "fill" => fill(arg(1), number(2)).await,
        "report" => report::write(arg(1), arg(2), arg(3)),
        other => fail(&format!("unknown command {other:?}")),
    }
}
