//! Activity benchmark: server time of the activity pages at 1,000,000 calls (and more, with
//! `ACTIVITY_BENCH_SIZES=1000000,10000000`), for many filter combinations on the global page
//! and a server's tab; the same stat cards computed the naive way (percentiles over every row)
//! as the baseline, in the same run; and the CSV export's rate and memory.
//!
//! Run: `cargo bench --bench activity` (release build). Results are printed and written to
//! `target/bench/activity.md`; docs/PERFORMANCE.md explains the method.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use gatehouse::{
    accounts::{self, Role, users::CreateUser},
    activity::{
        ActivityQuery, ActivityTarget, db, seed,
        service::{self, PER_PAGE},
    },
    audit::Actor,
    config::Config,
    db::{Durability, EmbeddedPostgres},
    startup::Application,
};
use secrecy::SecretString;
use sqlx::PgPool;

const RUNS: usize = 7;

struct Case {
    name: &'static str,
    target: ActivityTarget,
    query: ActivityQuery,
}

fn query(pairs: &[(&str, &str)]) -> ActivityQuery {
    serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
}

fn cases(now: DateTime<Utc>) -> Vec<Case> {
    let odd_from = (now - TimeDelta::days(29) - TimeDelta::minutes(817))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let odd_to = (now - TimeDelta::days(2) - TimeDelta::minutes(311))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let all = || ActivityTarget::All;
    let tab = || ActivityTarget::Server("seed-1".into());
    let quiet_tab = || ActivityTarget::Server("seed-40".into());
    let leaked = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let (f, t) = (leaked(odd_from), leaked(odd_to));
    vec![
        Case {
            name: "global · 1 h",
            target: all(),
            query: query(&[("range", "1h")]),
        },
        Case {
            name: "global · 24 h",
            target: all(),
            query: query(&[("range", "24h")]),
        },
        Case {
            name: "global · 7 d",
            target: all(),
            query: query(&[("range", "7d")]),
        },
        Case {
            name: "global · 30 d",
            target: all(),
            query: query(&[("range", "30d")]),
        },
        Case {
            name: "global · custom 27 d, odd edges",
            target: all(),
            query: query(&[("range", "custom"), ("from", f), ("to", t)]),
        },
        Case {
            name: "global · 30 d · status=error",
            target: all(),
            query: query(&[("range", "30d"), ("status", "error")]),
        },
        Case {
            name: "global · 30 d · status=timeout,permission_denied",
            target: all(),
            query: query(&[("range", "30d"), ("status", "timeout,permission_denied")]),
        },
        Case {
            name: "global · 30 d · server (busiest)",
            target: all(),
            query: query(&[("range", "30d"), ("server", "seed-1")]),
        },
        Case {
            name: "global · 30 d · user (busiest)",
            target: all(),
            query: query(&[("range", "30d"), ("user", "seed-user-1@example.com")]),
        },
        Case {
            name: "global · 30 d · user + status=error",
            target: all(),
            query: query(&[
                ("range", "30d"),
                ("user", "seed-user-1@example.com"),
                ("status", "error"),
            ]),
        },
        Case {
            name: "global · 30 d · page 50",
            target: all(),
            query: query(&[("range", "30d"), ("page", "50")]),
        },
        Case {
            name: "server tab · 24 h",
            target: tab(),
            query: query(&[("range", "24h")]),
        },
        Case {
            name: "server tab · 30 d",
            target: tab(),
            query: query(&[("range", "30d")]),
        },
        Case {
            name: "server tab · 30 d · tool (most used)",
            target: tab(),
            query: query(&[("range", "30d"), ("tool", "search")]),
        },
        Case {
            name: "server tab · 30 d · tool + status=error",
            target: tab(),
            query: query(&[("range", "30d"), ("tool", "search"), ("status", "error")]),
        },
        Case {
            name: "server tab · 30 d · rare tool",
            target: tab(),
            query: query(&[("range", "30d"), ("tool", "export_report")]),
        },
        Case {
            name: "quiet server tab · 7 d · user",
            target: quiet_tab(),
            query: query(&[("range", "7d"), ("user", "seed-user-1@example.com")]),
        },
    ]
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

async fn time<F, Fut, T>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    f().await;
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        std::hint::black_box(f().await);
        samples.push(started.elapsed());
    }
    median(samples)
}

/// The stat cards the obvious way: one pass over every call in range, exact percentiles.
async fn naive_summary(pool: &PgPool, scope: &db::Scope) -> (i64, Option<Vec<f64>>) {
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT count(*), count(DISTINCT user_id), (avg(latency_ms) FILTER (WHERE status <> 'in_progress'))::float8,
                percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE status <> 'in_progress'),
                count(*) FILTER (WHERE status IN ('error', 'timeout'))
         FROM tool_calls WHERE started_at >= ",
    );
    qb.push_bind(scope.from)
        .push(" AND started_at < ")
        .push_bind(scope.to);
    if let Some(server) = scope.server_id {
        qb.push(" AND server_id = ").push_bind(server);
    }
    if let Some(user) = scope.user_id {
        qb.push(" AND user_id = ").push_bind(user);
    }
    if let Some(tool) = &scope.tool {
        qb.push(" AND tool_name = ").push_bind(tool.clone());
    }
    if !scope.statuses.is_empty() {
        let statuses: Vec<String> = scope
            .statuses
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        qb.push(" AND status = ANY(")
            .push_bind(statuses)
            .push("::call_status[])");
    }
    let row: (i64, i64, Option<f64>, Option<Vec<f64>>, i64) =
        qb.build_query_as().fetch_one(pool).await.unwrap();
    (row.0, row.3)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let sizes: Vec<u64> = std::env::var("ACTIVITY_BENCH_SIZES")
        .unwrap_or_else(|_| "1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    gatehouse::telemetry::init();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut report = String::from("# Activity benchmark\n\n");
    runtime.block_on(async {
        // A directory per run: a cluster left by an interrupted run would otherwise, on noticing
        // its files gone, shut down and take the new cluster's socket with it.
        let pg_dir = dir.join(format!("postgres-activity-{}", std::process::id()));
        let cluster = EmbeddedPostgres::start(&pg_dir, "postgres", Durability::Full).await.expect("postgres");
        for (n, calls) in sizes.iter().enumerate() {
            let database = format!("activity_{n}");
            sqlx::query(&format!("CREATE DATABASE {database}"))
                .execute(&gatehouse::db::pool_options(1).connect_with(cluster.connect_options("postgres")).await.unwrap())
                .await
                .unwrap();
            let pool = gatehouse::db::pool_options(10)
                .connect_with(cluster.connect_options(&database))
                .await
                .unwrap();
            gatehouse::db::migrate(&pool).await.unwrap();

            let started = Instant::now();
            seed::seed(&pool, &seed::SeedOptions { calls: *calls, servers: 50, users: 500, days: 30, bulk: true }, |w| {
                eprintln!("  seeded {w}");
            })
            .await
            .unwrap();
            let seeded = started.elapsed();
            let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size('tool_calls'))")
                .fetch_one(&pool).await.unwrap();
            let rollup_rows: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM activity_hourly) + (SELECT count(*) FROM activity_daily) + (SELECT count(*) FROM activity_hourly_users) + (SELECT count(*) FROM activity_daily_users)",
            ).fetch_one(&pool).await.unwrap();

            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = Application::with_listener(listener, Config::local(addr, dir.join(format!("data-activity-{n}"))), pool.clone())
                .await
                .unwrap();
            let state = app.state().clone();
            tokio::spawn(app.run_until_stopped(std::future::pending()));
            let admin = accounts::users::create(&pool, &Actor::Cli, CreateUser {
                email: format!("admin{n}@bench.test"),
                name: None,
                role: Role::Admin,
                password: SecretString::from("bench password 123"),
            }).await.unwrap();
            let admin = accounts::session::CurrentUser::from(&admin);
            let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let base = format!("http://{addr}");
            let signed_in = browser.post(format!("{base}/_fn/sign_in"))
                .header("origin", &base)
                .header("accept", "text/html")
                .header("referer", format!("{base}/login"))
                .form(&[("email", admin.email.as_str()), ("password", "bench password 123"), ("next", "/")])
                .send().await.unwrap();
            let location = signed_in.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            assert_eq!(location.as_deref(), Some("/"), "sign-in: {}", signed_in.status());

            report.push_str(&format!(
                "## {calls} calls\n\nSeeded in {:.0} s ({:.0} calls/s); `tool_calls` with indexes: {size}; rollup rows: {rollup_rows}.\n\n\
                 Median of {RUNS} runs after one warm-up, milliseconds of server time. *Page* is the whole activity page (HTML rendered by Leptos, everything below read concurrently) over HTTP on loopback; *cards*, *chart*, *table* are the stat cards with p50/p95/p99, the volume chart's data, and the first page of the table with each row's latency percentile; *naive cards* is the baseline: the same numbers with one `percentile_cont` pass over the calls.\n\n\
                 | Case | Page | Cards | Chart | Table | Naive cards |\n|---|---:|---:|---:|---:|---:|\n",
                seeded.as_secs_f64(),
                *calls as f64 / seeded.as_secs_f64()
            ));
            for case in cases(Utc::now()) {
                let resolved = service::resolve(&state, &admin, &case.target, &case.query).await.unwrap();
                let scope = resolved.scope.clone();
                let path = match &case.target {
                    ActivityTarget::Server(slug) => format!("/servers/{slug}/activity"),
                    _ => "/activity".to_owned(),
                };
                let url = format!("{base}{path}?{}", resolved.filters.to_query(resolved.filters.page));
                let page = time(|| async {
                    let r = browser.get(&url).header("accept", "text/html").send().await.unwrap();
                    assert!(r.status().is_success(), "{url}: {}", r.status());
                    r.bytes().await.unwrap()
                }).await;
                let cards = time(|| db::summary(&pool, &scope)).await;
                let chart = time(|| db::volume(&pool, &scope)).await;
                let total = db::summary(&pool, &scope).await.unwrap().total_calls;
                let table = time(|| db::calls(&pool, &scope, resolved.filters.page, PER_PAGE, total)).await;
                let naive = {
                    let started = Instant::now();
                    naive_summary(&pool, &scope).await;
                    let first = started.elapsed();
                    if first > Duration::from_secs(2) { first } else { time(|| naive_summary(&pool, &scope)).await }
                };
                let line = format!("| {} | {} | {} | {} | {} | {} |\n", case.name, ms(page), ms(cards), ms(chart), ms(table), ms(naive));
                eprint!("{line}");
                report.push_str(&line);
            }

            // The servers pages (the servers issue's target): the list with 1,000 servers, and each
            // tab of the busiest server with every call above in the database.
            sqlx::query(
                "INSERT INTO servers (slug, name, source)
                 SELECT 'bench-' || i, 'Bench server ' || i,
                        jsonb_build_object('kind', 'remote', 'url', 'https://bench-' || i || '.invalid/mcp', 'transport', 'streamable_http')
                 FROM generate_series(1, 1000 - (SELECT count(*) FROM servers)) i",
            )
            .execute(&pool)
            .await
            .unwrap();
            report.push_str("\nThe servers pages with 1,000 servers and the calls above (median ms, whole page over HTTP):\n\n| Page | ms |\n|---|---:|\n");
            for path in [
                "/servers",
                "/servers?deactivated=1&q=server",
                "/servers/seed-1/overview",
                "/servers/seed-1/tools",
                "/servers/seed-1/activity",
                "/servers/seed-1/deployments",
                "/servers/seed-1/settings",
            ] {
                let url = format!("{base}{path}");
                let took = time(|| async {
                    let r = browser.get(&url).header("accept", "text/html").send().await.unwrap();
                    assert!(r.status().is_success(), "{url}: {}", r.status());
                    r.bytes().await.unwrap()
                })
                .await;
                let line = format!("| `{path}` | {} |\n", ms(took));
                eprint!("{line}");
                report.push_str(&line);
            }

            // The export: the whole 30 days through HTTP, counting rows, watching memory.
            let before = rss_kib();
            let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
            let watcher = {
                let peak = peak.clone();
                tokio::spawn(async move {
                    loop {
                        peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            };
            let started = Instant::now();
            let mut response = browser.get(format!("{base}/activity/export.csv?target=all&range=30d")).send().await.unwrap();
            assert!(response.status().is_success());
            let (mut lines, mut bytes) = (0u64, 0u64);
            while let Some(chunk) = response.chunk().await.unwrap() {
                lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                bytes += chunk.len() as u64;
            }
            let elapsed = started.elapsed();
            watcher.abort();
            let rows = lines - 1;
            let growth = peak.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(before);
            let line = format!(
                "\nCSV export of the 30-day global view: {rows} rows, {:.1} MB in {:.1} s = **{:.0} rows/s**; resident memory of the whole process grew by at most {:.1} MB while it ran.\n\n",
                bytes as f64 / 1e6,
                elapsed.as_secs_f64(),
                rows as f64 / elapsed.as_secs_f64(),
                growth as f64 / 1024.0
            );
            eprint!("{line}");
            report.push_str(&line);

            // The plans behind the numbers.
            for (label, sql) in [
                ("Stat cards, 30 days, daily rollup part", "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT server_id, status::text, calls, latency_sum, latency_hist FROM activity_daily WHERE bucket >= now() - interval '30 days' AND bucket < now()"),
                ("Naive stat cards, 30 days", "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT count(*), percentile_cont(ARRAY[0.5,0.95,0.99]) WITHIN GROUP (ORDER BY latency_ms) FROM tool_calls WHERE started_at >= now() - interval '30 days'"),
                ("First page of the table, 30 days, status=error", "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT c.id FROM tool_calls c WHERE c.started_at >= now() - interval '30 days' AND c.status = ANY('{error}'::call_status[]) ORDER BY c.started_at DESC, c.id LIMIT 10"),
            ] {
                let plan: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                report.push_str(&format!("<details><summary>{label}</summary>\n\n```\n{}\n```\n</details>\n\n", plan.join("\n")));
            }
            pool.close().await;
        }
        cluster.stop().await.unwrap();
        let _ = std::fs::remove_dir_all(&pg_dir);
    });
    let out = dir.join("activity.md");
    std::fs::write(&out, &report).unwrap();
    println!("{report}\nwritten to {}", out.display());
}
