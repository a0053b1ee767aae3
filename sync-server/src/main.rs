//! The `gridwalk-server` command: serve, enrol a device, revoke one, or run the demo.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use gridwalk_server::policy::Role;
use gridwalk_server::server::{self, DEFAULT_ADDR};
use gridwalk_server::{Config, Error, Result, TlsFiles, protocol};

const USAGE: &str = "usage:
  gridwalk-server serve  [--addr HOST:PORT] [--data-dir DIR] [--tls-cert PEM --tls-key PEM]
                         [--store sqlite|postgres://USER@HOST:PORT/DB] [--audit-retention-days N]
  gridwalk-server enrol  --person ID --role grid_worker|grid_leader|building_lead|office
                         [--scope a,b] [--valid-hours N] [--data-dir DIR] [--store …]
  gridwalk-server revoke --device ID [--data-dir DIR] [--store …]
  gridwalk-server demo   [--addr HOST:PORT] [--data-dir DIR]
  gridwalk-server staff-add --user NAME --role office|grid_leader|grid_worker [--scope g1,g2]
                         --password-stdin [--data-dir DIR]
                         (grid roles need --scope: the grids they see; building leads use the app)
environment: GRIDWALK_ADDR, GRIDWALK_DATA_DIR, GRIDWALK_TLS_CERT, GRIDWALK_TLS_KEY, GRIDWALK_STORE,
GRIDWALK_AUDIT_RETENTION_DAYS (flags win over the environment; defaults: 127.0.0.1:7878, ./data,
plain HTTP, SQLite in the data directory, request audit log in DIR/audit kept 183 days)
logging: RUST_LOG (default info) to standard error; it never holds personal data at any level
(automerge, calamine and tokio_postgres are held at info whatever RUST_LOG says)";

/// Log targets held at `info` whatever RUST_LOG says, because at debug/trace they print the data
/// itself: tokio-postgres every statement's parameters (resident keys, change bytes, access-log
/// purposes), automerge document operations and commit messages (person ids), calamine
/// spreadsheet cells of a roster import.
const QUIET_TARGETS: &[&str] = &["tokio_postgres", "automerge", "calamine"];

/// Flags as `--name value` pairs.
struct Args {
    command: String,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut it = std::env::args().skip(1);
        let command = it.next().ok_or("no command")?;
        let mut flags = Vec::new();
        while let Some(name) = it.next() {
            let Some(name) = name.strip_prefix("--") else {
                return Err(format!("unexpected argument {name}"));
            };
            // The one flag without a value: the password comes on standard input.
            if name == "password-stdin" {
                flags.push((name.to_string(), "1".to_string()));
                continue;
            }
            let value = it.next().ok_or(format!("--{name} needs a value"))?;
            flags.push((name.to_string(), value));
        }
        Ok(Args { command, flags })
    }

    /// A flag, else the environment variable, else nothing.
    fn get(&self, name: &str, env: Option<&str>) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env.and_then(|e| std::env::var(e).ok()))
            .filter(|v| !v.is_empty())
    }

    fn check_known(&self, known: &[&str]) -> Result<(), String> {
        match self
            .flags
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("unknown flag --{n} for {}", self.command)),
            None => Ok(()),
        }
    }

    fn data_dir(&self) -> PathBuf {
        PathBuf::from(
            self.get("data-dir", Some("GRIDWALK_DATA_DIR"))
                .unwrap_or_else(|| "./data".into()),
        )
    }

    /// The hub: `--store`, else GRIDWALK_STORE, else the embedded store.
    fn store(&self) -> Option<String> {
        self.get("store", Some("GRIDWALK_STORE"))
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        let a = self
            .get("addr", Some("GRIDWALK_ADDR"))
            .unwrap_or_else(|| DEFAULT_ADDR.into());
        a.parse().map_err(|_| format!("invalid address {a}"))
    }

    fn audit_retention_days(&self) -> Result<u32, String> {
        match self.get(
            "audit-retention-days",
            Some("GRIDWALK_AUDIT_RETENTION_DAYS"),
        ) {
            None => Ok(gridwalk_server::audit::DEFAULT_RETENTION_DAYS),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| *d >= 1)
                .ok_or(format!(
                    "--audit-retention-days must be a whole number of days (at least 1), not {v}"
                )),
        }
    }

    fn tls(&self) -> Result<Option<TlsFiles>, String> {
        match (
            self.get("tls-cert", Some("GRIDWALK_TLS_CERT")),
            self.get("tls-key", Some("GRIDWALK_TLS_KEY")),
        ) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            })),
            (None, None) => Ok(None),
            _ => Err("TLS needs both a certificate and a key".into()),
        }
    }
}

fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in QUIET_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        // Colour codes only for a person watching, not in a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match args.command.as_str() {
        "serve" => args
            .check_known(&[
                "addr",
                "data-dir",
                "tls-cert",
                "tls-key",
                "store",
                "audit-retention-days",
            ])
            .and_then(|()| {
                Ok(Config {
                    addr: args.addr()?,
                    data_dir: args.data_dir(),
                    tls: args.tls()?,
                    store: args.store(),
                    audit_retention_days: args.audit_retention_days()?,
                })
            })
            .map(|config| runtime(serve(config))),
        "demo" => args
            .check_known(&["addr", "data-dir"])
            .and_then(|()| Ok((args.addr()?, args.data_dir())))
            .map(|(addr, dir)| runtime(demo(addr, dir))),
        "enrol" => args
            .check_known(&[
                "person",
                "role",
                "scope",
                "valid-hours",
                "data-dir",
                "store",
            ])
            .map(|()| enrol(&args)),
        "revoke" => args
            .check_known(&["device", "data-dir", "store"])
            .map(|()| revoke(&args)),
        "staff-add" => args
            .check_known(&["user", "role", "scope", "password-stdin", "data-dir"])
            .and_then(
                |()| match (args.get("user", None), args.get("role", None)) {
                    (Some(u), Some(r)) if args.get("password-stdin", None).is_some() => Ok((u, r)),
                    _ => Err("staff-add needs --user, --role and --password-stdin".into()),
                },
            )
            .map(|(user, role)| staff_add(&args, &user, &role)),
        other => Err(format!("unknown command {other}")),
    };
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn runtime(fut: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    // At least two workers: the demo's phones and the server share the runtime.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(fut)
}

async fn until_ctrl_c(server: server::Server) -> Result<()> {
    tokio::signal::ctrl_c().await?;
    tracing::info!("stopping");
    server.shutdown().await
}

async fn serve(config: Config) -> Result<()> {
    let mut server = server::start(config).await?;
    tokio::select! {
        r = server.wait() => r,
        r = tokio::signal::ctrl_c() => {
            r?;
            tracing::info!("stopping");
            server.shutdown().await
        }
    }
}

async fn demo(addr: SocketAddr, data_dir: PathBuf) -> Result<()> {
    // The demo always starts from an empty community of its own.
    let dir = data_dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let server = server::start(Config {
        addr,
        data_dir: dir.join("server"),
        ..Config::default()
    })
    .await?;
    let report = gridwalk_server::demo::run(&server, &dir.join("phones")).await?;
    let clerk = gridwalk_server::console::auth::demo_clerk(&dir.join("server"))?;
    if !report.identical {
        return Err(Error::Internal("the replicas did not converge".into()));
    }
    println!(
        "office console: {}/console/  (demo clerk: user {}, password {})",
        server.base_url(),
        clerk.0,
        clerk.1
    );
    println!(
        "serving at {} (data in {}); Ctrl-C to stop",
        server.base_url(),
        dir.display()
    );
    until_ctrl_c(server).await
}

fn enrol(args: &Args) -> Result<()> {
    let person = args
        .get("person", None)
        .ok_or_else(|| Error::BadRequest("--person is required".into()))?;
    let role = args
        .get("role", None)
        .and_then(|r| Role::parse(&r))
        .ok_or_else(|| {
            Error::BadRequest(
                "--role must be grid_worker, grid_leader, building_lead or office".into(),
            )
        })?;
    let scope: Vec<String> = args
        .get("scope", None)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let hours: i64 = args
        .get("valid-hours", None)
        .map(|h| {
            h.parse()
                .map_err(|_| Error::BadRequest("--valid-hours must be a number".into()))
        })
        .transpose()?
        .unwrap_or(24);
    let hub = gridwalk_server::hub::open(&args.data_dir(), args.store().as_deref())?;
    let code = protocol::create_code(hub.as_ref(), &person, role, &scope, hours * 3_600_000)?;
    println!("{code}");
    eprintln!("one-time enrolment code, valid for {hours} h");
    Ok(())
}

fn revoke(args: &Args) -> Result<()> {
    let device = args
        .get("device", None)
        .ok_or_else(|| Error::BadRequest("--device is required".into()))?;
    let hub = gridwalk_server::hub::open(&args.data_dir(), args.store().as_deref())?;
    if hub.revoke(&device)? {
        println!("device revoked");
        Ok(())
    } else {
        Err(Error::BadRequest("no such device".into()))
    }
}

/// Creates or updates a staff account; the password is the first line of standard input.
fn staff_add(args: &Args, user: &str, role: &str) -> Result<()> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    // `--scope g1,g2`: the grids of a grid role (checked and cleaned by the console).
    let scope: Vec<String> = args
        .get("scope", None)
        .map(|s| s.split(',').map(String::from).collect())
        .unwrap_or_default();
    gridwalk_server::console::auth::staff_add(&args.data_dir(), user, role, &scope, password)?;
    println!("staff account {user} saved");
    Ok(())
}
