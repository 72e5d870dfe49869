//! The `gatehouse` command line: `serve`, `migrate`, `user create`. Each command opens the
//! database it needs (starting the embedded cluster when there is no `DATABASE_URL`) and
//! stops it again before exiting.

use std::{io::IsTerminal, path::Path, process::ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rand::{Rng, distr::Alphanumeric};
use secrecy::SecretString;
use sqlx::PgPool;

use crate::{
    accounts::{self, Role, users::CreateUser},
    audit::Actor,
    config::{Config, DatabaseArgs, ServeArgs},
    db::{self, Database},
    startup::Application,
    telemetry,
};

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version,
    about = "Register, deploy and govern internal MCP servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run Gatehouse: the dashboard, the gateway and the OAuth server.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage people.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Tools for development and benchmarks.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DevCommand {
    /// Add generated activity: seed servers and people, calls spread over the last days with
    /// realistic skew, latencies and failures; then rebuild the activity rollups.
    SeedActivity(SeedActivityArgs),
}

#[derive(clap::Args, Debug)]
struct SeedActivityArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// How many calls to add.
    #[arg(long, default_value_t = 100_000)]
    calls: u64,
    #[arg(long, default_value_t = 50)]
    servers: u32,
    #[arg(long, default_value_t = 500)]
    users: u32,
    /// Calls are spread over this many days before now.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Drop the activity table's indexes while loading and rebuild them after (much faster
    /// for millions of calls; queries are slow until it finishes).
    #[arg(long)]
    bulk: bool,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user who signs in with email and password (asks for the password, or reads it
    /// from standard input with --password-stdin).
    Create(UserCreateArgs),
}

#[derive(clap::Args, Debug)]
struct UserCreateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[arg(long)]
    email: String,
    /// Display name; defaults to the part of the email before the @.
    #[arg(long)]
    name: Option<String>,
    /// admin, platform_admin, manager or member.
    #[arg(long, default_value = "member", value_parser = parse_role)]
    role: Role,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => with_database(&args, |_| async { Ok(()) }).await,
        Command::User {
            command: UserCommand::Create(args),
        } => create_user(args).await,
        Command::Dev {
            command: DevCommand::SeedActivity(args),
        } => seed_activity(args).await,
    }
}

/// Opens and migrates the database, runs `work`, and closes the database whatever happened.
async fn with_database<F, Fut>(args: &DatabaseArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let database = Database::open(args.database_url().as_ref(), &args.data_dir).await?;
    let result = async {
        db::migrate(&database.pool).await?;
        work(database.pool.clone()).await
    }
    .await;
    let closed = database.close().await;
    result.and(closed)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args)?;
    if !config
        .site_root
        .join("pkg")
        .join("gatehouse_bg.wasm")
        .is_file()
    {
        tracing::warn!(
            site_root = %config.site_root.display(),
            "the browser bundle is missing: pages will work but not hydrate (build it with scripts/build-site)"
        );
    }
    if let Some(advice) = crate::startup::host::advice() {
        tracing::warn!("{advice}");
    }
    with_database(&args.database, |pool| async move {
        if args.demo {
            ensure_demo_admin(&pool, &config).await?;
        }
        let app = Application::build(config.clone(), pool).await?;
        // Listening for signals before saying "ready": a SIGTERM right after must stop
        // Gatehouse gracefully, not kill it.
        let shutdown = shutdown_signal()?;
        tracing::info!(url = %config.public_url, addr = %app.local_addr(), "Gatehouse is ready");
        app.run_until_stopped(shutdown).await?;
        tracing::info!("stopped serving; shutting down");
        Ok(())
    })
    .await
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

async fn seed_activity(args: SeedActivityArgs) -> anyhow::Result<()> {
    let options = crate::activity::seed::SeedOptions {
        calls: args.calls,
        servers: args.servers,
        users: args.users,
        days: args.days,
        bulk: args.bulk,
    };
    with_database(&args.database, |pool| async move {
        let started = std::time::Instant::now();
        crate::activity::seed::seed(&pool, &options, |written| {
            eprintln!("  {written} of {} calls written", options.calls);
        })
        .await?;
        println!(
            "Added {} calls over {} servers and {} people in {:.1} s (rollups rebuilt).",
            options.calls,
            options.servers,
            options.users,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
    .await
}

async fn create_user(args: UserCreateArgs) -> anyhow::Result<()> {
    let password = read_password(args.password_stdin)?;
    with_database(&args.database, |pool| async move {
        let user = accounts::users::create(
            &pool,
            &Actor::Cli,
            CreateUser {
                email: args.email,
                name: args.name,
                role: args.role,
                password,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "Created {} ({}) as {}.",
            user.name,
            user.email,
            user.role.label()
        );
        Ok(())
    })
    .await
}

fn read_password(from_stdin: bool) -> anyhow::Result<SecretString> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(SecretString::from(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for a password: pass --password-stdin and pipe it in");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat the password: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(SecretString::from(first))
}

const DEMO_EMAIL: &str = "admin@gatehouse.local";

/// On a database with nobody in it, creates an admin with a random password and keeps the
/// sign-in in the data directory (readable only by its owner) so later starts can print it.
async fn ensure_demo_admin(pool: &PgPool, config: &Config) -> anyhow::Result<()> {
    let file = config.data_dir.join("demo-admin.txt");
    if accounts::db::count(pool).await? == 0 {
        let password: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        accounts::users::create(
            pool,
            &Actor::System,
            CreateUser {
                email: DEMO_EMAIL.to_owned(),
                name: Some("Demo Admin".to_owned()),
                role: Role::Admin,
                password: SecretString::from(password.clone()),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo admin: {e}"))?;
        write_private(&file, &format!("{DEMO_EMAIL}\n{password}\n"))?;
    }
    match std::fs::read_to_string(&file) {
        Ok(contents) => {
            let mut lines = contents.lines();
            let (email, password) = (
                lines.next().unwrap_or(DEMO_EMAIL),
                lines.next().unwrap_or("?"),
            );
            println!(
                "\n  Gatehouse demo admin\n    open      {}\n    email     {email}\n    password  {password}\n",
                config.url_for("/login")
            );
        }
        Err(_) => println!("\n  Gatehouse already has users; sign in with an existing account.\n"),
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
