//! `bench-tool report`: `docs/BENCHMARKS.md` and its chart from run.sh's results.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use serde_json::Value;

use crate::fail;

const ROUTES: [&str; 3] = ["/read", "/count", "/login"];
const BASELINE: &str = "bare-axum";
const ACTIX_BASELINE: &str = "bare-actix";

/// The bare server a server's ratio is taken against: bare actix-web for the actix
/// servers, bare axum for the rest.
fn baseline_of(server: &str) -> &'static str {
    if server.contains("actix") {
        ACTIX_BASELINE
    } else {
        BASELINE
    }
}

/// Targets of issue 7, and the same for the actix adapter (issue 15): (server, route,
/// ratio to the bare server of its framework).
const TARGETS: [(&str, &str, f64); 12] = [
    ("hallpass-memory", "/read", 0.90),
    ("hallpass-memory", "/count", 0.85),
    ("hallpass-memory", "/login", 0.80),
    ("hallpass-redis", "/read", 0.60),
    ("hallpass-redis", "/count", 0.45),
    ("hallpass-redis", "/login", 0.50),
    ("hallpass-actix-memory", "/read", 0.90),
    ("hallpass-actix-memory", "/count", 0.85),
    ("hallpass-actix-memory", "/login", 0.80),
    ("hallpass-actix-redis", "/read", 0.60),
    ("hallpass-actix-redis", "/count", 0.45),
    ("hallpass-actix-redis", "/login", 0.50),
];

fn records(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| fail(&format!("{path}: {err}")));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| fail(&format!("{path}: {err}: {l}"))))
        .collect()
}

fn of_kind<'a>(all: &'a [Value], kind: &str) -> impl Iterator<Item = &'a Value> {
    let kind = kind.to_owned();
    all.iter().filter(move |v| v["kind"] == kind.as_str())
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// Targets of the store contract v2 issue against a peer on the same database:
/// (hallpass server, peer server), hallpass ≥ 1.0 × the peer on every route.
const PEER_TARGETS: [(&str, &str); 2] = [
    ("hallpass-sqlite", "tower-sessions-sqlite"),
    ("hallpass-postgres", "tower-sessions-postgres"),
];

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Median over rounds of rps(server) / rps(its bare server) in the same round, and
/// the median rps.
fn ratios(all: &[Value]) -> (Vec<String>, BTreeMap<(String, String), (f64, f64)>) {
    let mut rps: BTreeMap<(u64, String, String), f64> = BTreeMap::new();
    let mut servers: Vec<String> = Vec::new();
    for v in of_kind(all, "rps") {
        let server = text(v, "server");
        if !servers.contains(&server) {
            servers.push(server.clone());
        }
        rps.insert(
            (v["round"].as_u64().unwrap_or(0), server, text(v, "route")),
            v["rps"].as_f64().unwrap_or(0.0),
        );
    }
    let mut rounds: BTreeMap<(String, String), (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for ((round, server, route), value) in &rps {
        let Some(base) = rps.get(&(*round, baseline_of(server).to_owned(), route.clone())) else {
            continue;
        };
        let entry = rounds.entry((server.clone(), route.clone())).or_default();
        entry.0.push(value / base);
        entry.1.push(*value);
    }
    let medians = rounds
        .into_iter()
        .map(|(k, (ratio, rps))| (k, (median(ratio), median(rps))))
        .collect();
    (servers, medians)
}

/// One "ratio to <baseline>" table over `servers` (the baseline among them gives the
/// last column, its requests per second).
fn ratio_table(
    md: &mut String,
    title: &str,
    baseline: &str,
    servers: &[&String],
    means: &BTreeMap<(String, String), (f64, f64)>,
) {
    let shown: Vec<&&String> = servers.iter().filter(|s| **s != baseline).collect();
    let _ = writeln!(md, "## Ratio to {title} (higher is better)\n");
    let _ = write!(md, "| route |");
    for s in &shown {
        let _ = write!(md, " {s} |");
    }
    let _ = writeln!(md, " {title} req/s |");
    let _ = write!(md, "|---|");
    for _ in &shown {
        let _ = write!(md, "---:|");
    }
    let _ = writeln!(md, "---:|");
    for route in ROUTES {
        let _ = write!(md, "| `GET {route}` |");
        for s in &shown {
            match means.get(&((**s).clone(), route.to_owned())) {
                Some((ratio, _)) => {
                    let _ = write!(md, " {ratio:.2} |");
                }
                None => md.push_str(" – |"),
            }
        }
        let base = means
            .get(&(baseline.to_owned(), route.to_owned()))
            .map_or(0.0, |m| m.1);
        let _ = writeln!(md, " {base:.0} |");
    }
    md.push('\n');
}

pub(crate) fn write(results: &str, markdown: &str, svg: &str) {
    let all = records(results);
    let (servers, means) = ratios(&all);
    let meta: BTreeMap<String, String> = of_kind(&all, "meta")
        .map(|v| (text(v, "key"), text(v, "value")))
        .collect();
    let rounds = of_kind(&all, "rps")
        .filter_map(|v| v["round"].as_u64())
        .max()
        .unwrap_or(0);
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `bash bench/run.sh` on {}; do not edit by hand. Throughput is wrk's requests per second \
         ({} rounds, peers interleaved, server pinned to CPU {}, wrk with 1 thread and 32 connections pinned to CPU {}, \
         {} s per run, 1,000 sessions round-robin); each ratio is to the bare server of the same framework (bare \
         axum, or bare actix-web for the actix servers) measured in the same round, the median over the rounds.\n",
        meta.get("date").map_or("?", String::as_str),
        rounds,
        meta.get("server_cpu").map_or("?", String::as_str),
        meta.get("wrk_cpu").map_or("?", String::as_str),
        meta.get("duration").map_or("?", String::as_str),
    );
    let _ = writeln!(md, "![Throughput relative to the bare server](bench.svg)\n");
    let axum: Vec<&String> = servers
        .iter()
        .filter(|s| baseline_of(s) == BASELINE)
        .collect();
    let actix: Vec<&String> = servers
        .iter()
        .filter(|s| baseline_of(s) == ACTIX_BASELINE)
        .collect();
    ratio_table(&mut md, "bare axum", BASELINE, &axum, &means);
    if actix.len() > 1 {
        ratio_table(&mut md, "bare actix-web", ACTIX_BASELINE, &actix, &means);
    }
    let _ = writeln!(
        md,
        "\n## Targets\n\n| store | route | target | measured | |\n|---|---|---:|---:|---|"
    );
    for (server, route, target) in TARGETS {
        match means.get(&(server.to_owned(), route.to_owned())) {
            Some((ratio, _)) => {
                let verdict = if *ratio >= target {
                    "met".to_owned()
                } else {
                    format!("gap {:.2}", target - ratio)
                };
                let _ = writeln!(
                    md,
                    "| {server} | `{route}` | ≥ {target:.2} | {ratio:.2} | {verdict} |"
                );
            }
            None => {
                let _ = writeln!(md, "| {server} | `{route}` | ≥ {target:.2} | not run | |");
            }
        }
    }
    for (ours, peer) in PEER_TARGETS {
        for route in ROUTES {
            let key = |s: &str| (s.to_owned(), route.to_owned());
            match (means.get(&key(ours)), means.get(&key(peer))) {
                (Some((a, _)), Some((b, _))) if *b > 0.0 => {
                    let times = a / b;
                    let verdict = if times >= 1.0 {
                        "met".to_owned()
                    } else {
                        format!("gap {:.2}", 1.0 - times)
                    };
                    let _ = writeln!(
                        md,
                        "| {ours} | `{route}` | ≥ 1.00 × {peer} | {times:.2} × | {verdict} |"
                    );
                }
                _ => {
                    let _ = writeln!(md, "| {ours} | `{route}` | ≥ 1.00 × {peer} | not run | |");
                }
            }
        }
    }
    if let (Some(_), Some(_)) = (
        means.get(&("hallpass-memory".to_owned(), "/read".to_owned())),
        means.get(&("hallpass-memory-metrics".to_owned(), "/read".to_owned())),
    ) {
        let _ = writeln!(
            md,
            "\n## What the `metrics` feature costs (memory store, a Prometheus recorder installed)\n\nWithout the feature the metric call sites are compiled out; `hallpass-memory` is that build. The same server built with `--features metrics`:\n\n| route | without | with | with / without |\n|---|---:|---:|---:|"
        );
        for route in ROUTES {
            let key = |s: &str| (s.to_owned(), route.to_owned());
            if let (Some((off, _)), Some((on, _))) = (
                means.get(&key("hallpass-memory")),
                means.get(&key("hallpass-memory-metrics")),
            ) {
                let _ = writeln!(
                    md,
                    "| `GET {route}` | {off:.2} | {on:.2} | {:.3} |",
                    on / off
                );
            }
        }
    }
    let _ = writeln!(
        md,
        "\n## Lost increments (1,000 `/count` on one session over 32 connections)\n\n| server | counted | lost |\n|---|---:|---:|"
    );
    for v in of_kind(&all, "lost") {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            text(v, "server"),
            v["counted"],
            v["lost"]
        );
    }
    let _ = writeln!(
        md,
        "\n## Redis commands per request (`MONITOR`, 1,000 sequential requests)\n\nSent: commands the server sends (round trips, pipelines aside). In scripts: what its Lua scripts run inside Redis, in one step.\n\n| server | `/read` sent | `/count` sent | `/login` sent | `/read` in scripts | `/count` in scripts | `/login` in scripts |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    let mut commands: BTreeMap<String, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
    for v in of_kind(&all, "commands") {
        commands.entry(text(v, "server")).or_default().insert(
            text(v, "route"),
            (
                v["per_request"].as_f64().unwrap_or(0.0),
                v["in_scripts"].as_f64().unwrap_or(0.0),
            ),
        );
    }
    for (server, routes) in &commands {
        let sent = |r: &str| {
            routes
                .get(r)
                .map_or("–".to_owned(), |v| format!("{:.2}", v.0))
        };
        let inner = |r: &str| {
            routes
                .get(r)
                .map_or("–".to_owned(), |v| format!("{:.2}", v.1))
        };
        let _ = writeln!(
            md,
            "| {server} | {} | {} | {} | {} | {} | {} |",
            sent("/read"),
            sent("/count"),
            sent("/login"),
            inner("/read"),
            inner("/count"),
            inner("/login")
        );
    }
    let _ = writeln!(
        md,
        "\n## Redis CPU per request (`INFO cpu` used_cpu_sys + used_cpu_user over each run, median of rounds)\n\nRedis runs unpinned beside the server and wrk; this is its own CPU time per answered request, in µs.\n\n| server | `/read` | `/count` | `/login` |\n|---|---:|---:|---:|"
    );
    let mut cpu: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for v in of_kind(&all, "redis_cpu") {
        if let Some(us) = v["us_per_request"].as_f64() {
            cpu.entry(text(v, "server"))
                .or_default()
                .entry(text(v, "route"))
                .or_default()
                .push(us);
        }
    }
    for (server, routes) in &mut cpu {
        let mut cell = |r: &str| {
            routes.get_mut(r).map_or("–".to_owned(), |values| {
                values.sort_by(f64::total_cmp);
                format!("{:.1}", values[values.len() / 2])
            })
        };
        let (read, count, login) = (cell("/read"), cell("/count"), cell("/login"));
        let _ = writeln!(md, "| {server} | {read} | {count} | {login} |");
    }
    let _ = writeln!(
        md,
        "\n## Peak memory of the server (VmHWM after its runs)\n\n| server | peak RSS |\n|---|---:|"
    );
    for v in of_kind(&all, "rss") {
        let _ = writeln!(
            md,
            "| {} | {:.1} MiB |",
            text(v, "server"),
            v["kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
    }
    let scale: Vec<&Value> = of_kind(&all, "scale").collect();
    if !scale.is_empty() {
        let _ = writeln!(
            md,
            "\n## Scale: 1,000 vs 1,000,000 live sessions\n\n| store | sessions | `/read` req/s | memory per session |\n|---|---:|---:|---:|"
        );
        for v in &scale {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {} |",
                text(v, "server"),
                v["sessions"],
                v["read_rps"].as_f64().unwrap_or(0.0),
                v["bytes_per_session"]
                    .as_f64()
                    .map_or("–".to_owned(), |b| format!("{b:.0} B")),
            );
        }
        let _ = writeln!(
            md,
            "\nMemory per session is the growth of the server's RSS (memory store) or of Redis's `used_memory` (Redis) from 1,000 to 1,000,000 sessions, divided by the 999,000 added; each session's data is `{{\"views\": 0}}` and the principal `alice`."
        );
    }
    let _ = writeln!(md, "\n## Machine and versions\n");
    for (key, value) in &meta {
        if key != "date" {
            let _ = writeln!(md, "- {key}: {value}");
        }
    }
    let _ = writeln!(
        md,
        "\nReproduce: `bash bench/run.sh` (from a fresh clone; it installs wrk and starts Redis if needed)."
    );
    std::fs::write(markdown, md).unwrap_or_else(|err| fail(&format!("{markdown}: {err}")));
    chart(&servers, &means, svg);
}

fn chart(servers: &[String], means: &BTreeMap<(String, String), (f64, f64)>, path: &str) {
    let shown: Vec<&String> = servers
        .iter()
        .filter(|s| *s != BASELINE && *s != ACTIX_BASELINE)
        .collect();
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Throughput relative to the bare server of each framework (same round)",
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..3.0f64, 0.0..1.1f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(3)
            .x_label_formatter(&|x| {
                ROUTES
                    .get(x.floor() as usize)
                    .map_or(String::new(), |r| format!("GET {r}"))
            })
            .y_desc("ratio")
            .draw()?;
        let width = 0.8 / shown.len().max(1) as f64;
        for (i, server) in shown.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let bars = ROUTES.iter().enumerate().filter_map(|(g, route)| {
                let (ratio, _) = means.get(&((*server).clone(), (*route).to_owned()))?;
                let x0 = g as f64 + 0.1 + width * i as f64;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, *ratio)],
                    color.filled(),
                ))
            });
            chart
                .draw_series(bars)?
                .label(server.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    if let Err(err) = draw() {
        fail(&format!("{path}: {err}"));
    }
}
