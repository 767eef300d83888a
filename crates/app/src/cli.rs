//! The command line: `serve` (default), `worker`, `migrate`, `project`.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tinystudio_domain::{check_password, parse_project_name, parse_user_name};
use tinystudio_storage::{keys, projects, users};

use crate::app::{App, Storage};
use crate::config::{ServeOptions, StorageOptions, WorkerOptions};

#[derive(Debug, Parser)]
#[command(
    name = "tinystudio",
    version,
    about = "From a folder of photos to a microcontroller that recognises them"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web studio with an in-process worker (the default).
    Serve {
        #[command(flatten)]
        storage: StorageOptions,
        #[command(flatten)]
        serve: ServeOptions,
        #[command(flatten)]
        worker: WorkerOptions,
    },
    /// Run a worker only: claims and runs jobs (for scale-out).
    Worker {
        #[command(flatten)]
        storage: StorageOptions,
        #[command(flatten)]
        worker: WorkerOptions,
    },
    /// Train from a folder of labelled images, without a server.
    Train(crate::train::TrainArgs),
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        storage: StorageOptions,
    },
    /// Manage projects from the command line.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Accounts: the first admin of a studio shared on a network, and any
    /// account made from a script.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Makes an account. The password is read from standard input (one
    /// line) unless `--password` is given.
    Create {
        name: String,
        /// Makes an admin (the first account of a studio always is one).
        #[arg(long)]
        admin: bool,
        /// The password, for scripts; visible to other users of this
        /// machine in the process list, so prefer standard input.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        storage: StorageOptions,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Create a project and an API key; prints `{"projectId": ..., "apiKey": ...}`.
    Create {
        /// The project's name.
        name: String,
        #[command(flatten)]
        storage: StorageOptions,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    survive_file_size_limits();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A file-size limit (`RLIMIT_FSIZE`, e.g. systemd's `LimitFSIZE=`) kills a
/// process that writes past it with SIGXFSZ by default. Ignored, the write
/// fails with `EFBIG` instead, which the studio reports like a full disk
/// (507 for the upload that hit it) and goes on serving.
fn survive_file_size_limits() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // code; it runs before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TINYSTUDIO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn create_user(
    name: &str,
    admin: bool,
    password: Option<String>,
    storage: &StorageOptions,
) -> anyhow::Result<()> {
    let name = parse_user_name(name)?;
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    check_password(&password, &name)?;
    let opened = Storage::open(storage).await?;
    let user = if users::any_exist(&opened.db).await? {
        users::create(&opened.db, &name, &password, admin).await?
    } else {
        if !admin {
            anyhow::bail!(
                "the studio has no accounts yet: its first account must be an admin \
                 (tinystudio user create --admin {name})"
            );
        }
        users::create_first_admin(&opened.db, &name, &password).await?
    };
    println!(
        "made {} {}: from now on everyone signs in to this studio",
        if user.is_admin { "admin" } else { "user" },
        user.name,
    );
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or_else(|| {
        // `tinystudio` alone serves with every option at its default or env value.
        let Cli { command } = Cli::parse_from(["tinystudio", "serve"]);
        command.expect("serve parses")
    });
    match command {
        Command::Serve {
            storage,
            serve,
            worker,
        } => {
            let opened = Storage::open(&storage).await?;
            let worker = (!serve.no_worker).then(|| opened.worker_config(&storage, &worker));
            let tls = if serve.tls_enabled() {
                let tls = crate::tls::load_or_generate(
                    serve.tls_cert.as_deref(),
                    serve.tls_key.as_deref(),
                    &storage.data_dir,
                )?;
                if !tls.generated_for.is_empty() {
                    tracing::info!(
                        "made a self-signed certificate for {} ({}); browsers ask once to trust it",
                        tls.generated_for.join(", "),
                        tls.cert_path.display()
                    );
                }
                Some(tls.config)
            } else {
                None
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let app = App::start_with(
                opened,
                serve.listen,
                serve.extra_ports(),
                tls,
                serve.web_config(),
                worker,
                true,
            )
            .await?;
            tracing::info!("TinyStudio is ready at {scheme}://{}", app.addr);
            for addr in &app.extra_addrs {
                tracing::info!(
                    "also serving at http://{addr} for Edge Impulse's clients (EI_HOST={})",
                    addr.ip()
                );
            }
            if !app.addr.ip().is_loopback() && app.state.setup_token.is_none() {
                tracing::info!(
                    "listening on {}: everyone signs in with an account",
                    app.addr
                );
            }
            tokio::select! {
                result = app.wait() => result,
                _ = shutdown_signal() => {
                    tracing::info!("stopping");
                    Ok(())
                }
            }
        }
        Command::Worker { storage, worker } => {
            let opened = Storage::open(&storage).await?;
            let config = opened.worker_config(&storage, &worker);
            let worker = tinystudio_worker::Worker::new(opened.db, opened.blobs, config);
            // A job interrupted here is not lost: its lease runs out and
            // another worker runs it again.
            tokio::select! {
                _ = worker.run() => Ok(()),
                _ = shutdown_signal() => Ok(()),
            }
        }
        Command::Train(args) => crate::train::run(args).await,
        Command::User {
            command:
                UserCommand::Create {
                    name,
                    admin,
                    password,
                    storage,
                },
        } => create_user(&name, admin, password, &storage).await,
        Command::Migrate { storage } => {
            Storage::open(&storage).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Project {
            command: ProjectCommand::Create { name, storage },
        } => {
            let opened = Storage::open(&storage).await?;
            let name = parse_project_name(&name)?;
            let project = projects::create(&opened.db, &name).await?;
            let (_, secret) = keys::create(&opened.db, project.id, "default").await?;
            println!(
                "{}",
                serde_json::json!({ "projectId": project.id, "apiKey": secret })
            );
            Ok(())
        }
    }
}

/// Ctrl-C, or SIGTERM (what `docker stop` and service managers send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
