//! The embedded default (SPEC S12): a private Postgres cluster run from the host's Postgres
//! binaries inside Gatehouse's data directory, reachable only through a Unix socket there.
//!
//! The cluster listens on no TCP port and trusts local connections; the socket directory is
//! private to the user that runs Postgres, so the file system is the access control. Postgres
//! refuses to run as root, so when Gatehouse runs as root the cluster runs as the `postgres`
//! system user (or `nobody`).

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use sqlx::{Connection, postgres::PgConnectOptions};
use tokio::process::Command;

const PORT: u16 = 5432;
const SUPERUSER: &str = "postgres";
/// Unix socket paths are limited to 107 bytes; this leaves room for `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// How the cluster trades durability for speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// What Gatehouse runs with: every commit reaches the disk.
    Full,
    /// For throwaway test clusters: no fsync, many connections.
    Throwaway,
}

/// A running private cluster. Dropping it does not stop Postgres; call [`EmbeddedPostgres::stop`].
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    run_as: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl EmbeddedPostgres {
    /// Starts the cluster under `root` (creating it on first use), or adopts it if it is
    /// already running, and makes sure `database` exists.
    pub async fn start(
        root: &Path,
        database: &str,
        durability: Durability,
    ) -> anyhow::Result<Self> {
        fs::create_dir_all(root)
            .with_context(|| format!("creating the data directory {}", root.display()))?;
        let root = root.canonicalize()?;
        let bin_dir = locate_binaries()?;
        let run_as = unprivileged_user()?;
        let cluster_dir = root.join("postgres");
        let log_file = root.join("postgres.log");
        let socket_dir = socket_dir_for(&root);
        let pg = EmbeddedPostgres {
            bin_dir,
            cluster_dir,
            socket_dir,
            log_file,
            run_as,
        };

        // Several processes (parallel test binaries) may race to start one cluster.
        let lock = fs::File::create(root.join("postgres.lock"))?;
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|_| lock)).await??;

        pg.prepare_dirs()?;
        if !pg.cluster_dir.join("PG_VERSION").exists() {
            pg.initdb().await?;
        }
        if !pg.is_running().await? {
            pg.pg_ctl_start(durability).await?;
        }
        drop(lock);
        pg.create_database(database).await?;
        Ok(pg)
    }

    /// Connection options for `database` over the cluster's socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(SUPERUSER)
            .database(database)
    }

    /// A `postgres://` URL other processes (a second replica, `psql`) can use.
    pub fn url(&self, database: &str) -> String {
        let dir = self.socket_dir.to_string_lossy();
        let host = percent_encoding::utf8_percent_encode(&dir, percent_encoding::NON_ALPHANUMERIC);
        format!("postgres://{SUPERUSER}@localhost:{PORT}/{database}?host={host}")
    }

    /// Stops the cluster, letting running transactions roll back ("fast" shutdown).
    pub async fn stop(&self) -> anyhow::Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w", "-t", "60"])
            .status()
            .await?;
        if !status.success() && self.is_running().await? {
            bail!(
                "pg_ctl stop failed ({status}); see {}",
                self.log_file.display()
            );
        }
        Ok(())
    }

    /// Starts a stopped cluster again (used by tests that take Postgres away and bring it back).
    pub async fn restart(&self, durability: Durability) -> anyhow::Result<()> {
        if !self.is_running().await? {
            self.pg_ctl_start(durability).await?;
        }
        Ok(())
    }

    pub async fn is_running(&self) -> anyhow::Result<bool> {
        if !self.cluster_dir.join("postmaster.pid").exists() {
            return Ok(false);
        }
        let status = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .stdout(std::process::Stdio::null())
            .status()
            .await?;
        Ok(status.success())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // Postgres must be able to enter its working directory after dropping privileges.
        cmd.current_dir(self.cluster_dir.parent().unwrap_or(Path::new("/")));
        cmd.env_remove("PGDATA").env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn prepare_dirs(&self) -> anyhow::Result<()> {
        for dir in [&self.cluster_dir, &self.socket_dir] {
            fs::create_dir_all(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        if !self.log_file.exists() {
            fs::write(&self.log_file, b"")?;
        }
        if let Some((uid, gid)) = self.run_as {
            for path in [&self.cluster_dir, &self.socket_dir, &self.log_file] {
                nix::unistd::chown(path.as_path(), Some(uid), Some(gid))
                    .with_context(|| format!("handing {} to the postgres user", path.display()))?;
            }
        }
        Ok(())
    }

    async fn initdb(&self) -> anyhow::Result<()> {
        tracing::info!(dir = %self.cluster_dir.display(), "creating the embedded Postgres cluster");
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ])
            .output()
            .await
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    async fn pg_ctl_start(&self, durability: Durability) -> anyhow::Result<()> {
        let mut settings = format!(
            "-c listen_addresses='' -k '{}' -p {PORT}",
            self.socket_dir.display()
        );
        if durability == Durability::Throwaway {
            settings.push_str(
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500",
            );
        }
        let status = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", "60", "-o", &settings])
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .context("running pg_ctl start")?;
        if !status.success() {
            let log = fs::read_to_string(&self.log_file).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "the embedded Postgres did not start ({status}). Last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    async fn create_database(&self, database: &str) -> anyhow::Result<()> {
        let mut conn = connect_with_retry(&self.connect_options("postgres")).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(database)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            let quoted = database.replace('"', "\"\"");
            if let Err(err) = sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
                .execute(&mut conn)
                .await
            {
                // Another process may have created it between the check and now.
                let duplicate =
                    err.as_database_error().and_then(|e| e.code()).as_deref() == Some("42P04");
                if !duplicate {
                    return Err(err.into());
                }
            }
        }
        conn.close().await?;
        Ok(())
    }
}

async fn connect_with_retry(options: &PgConnectOptions) -> anyhow::Result<sqlx::PgConnection> {
    let mut last = None;
    for _ in 0..50 {
        match sqlx::PgConnection::connect_with(options).await {
            Ok(conn) => return Ok(conn),
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last
        .map(Into::into)
        .unwrap_or_else(|| anyhow::anyhow!("could not connect")))
}

/// Finds `initdb` and `pg_ctl`: on `PATH`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn locate_binaries() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        // Follow symlinks so pg_ctl finds the `postgres` binary beside its real location.
        let real = fs::canonicalize(dir.join("pg_ctl"))?;
        return Ok(real.parent().map(Path::to_path_buf).unwrap_or(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "no Postgres binaries found (initdb, pg_ctl): install Postgres (Debian: apt-get install postgresql) \
         or set DATABASE_URL to use an existing server",
    )
}

/// The user Postgres runs as when Gatehouse itself runs as root.
fn unprivileged_user() -> anyhow::Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(user) = nix::unistd::User::from_name(name)? {
            return Ok(Some((user.uid, user.gid)));
        }
    }
    bail!(
        "running as root, and there is no 'postgres' or 'nobody' user to run the embedded Postgres as"
    )
}

/// The socket lives beside the cluster unless that path is too long for a Unix socket; then
/// it goes to a private directory under /tmp named after the data directory.
fn socket_dir_for(root: &Path) -> PathBuf {
    let beside = root.join("run");
    if beside.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return beside;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    root.hash(&mut hasher);
    std::env::temp_dir().join(format!("gatehouse-{:016x}", hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_directories_get_a_short_socket_directory() {
        let short = socket_dir_for(Path::new("/srv/gatehouse"));
        assert_eq!(short, Path::new("/srv/gatehouse/run"));
        let long = socket_dir_for(&Path::new("/").join("x".repeat(120)));
        assert!(long.as_os_str().len() <= MAX_SOCKET_DIR_LEN);
        assert_eq!(
            long,
            socket_dir_for(&Path::new("/").join("x".repeat(120))),
            "stable per data dir"
        );
    }
}
