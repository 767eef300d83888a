//! The running studio: storage opened, migrations applied, web server
//! listening, and (unless disabled) an in-process worker.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tinystudio_storage::{BlobStore, Db, LocalBlobStore, S3BlobStore, S3Config};
use tinystudio_web::{AppState, WebConfig};
use tinystudio_worker::{Worker, WorkerConfig};

use crate::config::{StorageOptions, WorkerOptions};

/// Database and blob store, opened and migrated.
pub struct Storage {
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
}

impl Storage {
    pub async fn open(options: &StorageOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating the data folder {}", options.data_dir.display()))?;
        let url = options.database_url();
        let db = Db::connect(&url)
            .await
            .with_context(|| format!("connecting to the database {}", redact(&url)))?;
        db.migrate().await.context("applying database migrations")?;
        let blobs: Arc<dyn BlobStore> = match &options.blob_store {
            Some(url) => {
                let config = S3Config::from_url(url).context("the blob store URL")?;
                Arc::new(S3BlobStore::new(&config).context("opening the S3 blob store")?)
            }
            None => Arc::new(
                LocalBlobStore::new(options.data_dir.join("blobs"))
                    .context("opening the blob folder")?,
            ),
        };
        Ok(Self { db, blobs })
    }

    pub fn worker_config(&self, options: &StorageOptions, worker: &WorkerOptions) -> WorkerConfig {
        let mut config = WorkerConfig::new(&options.data_dir);
        config.backbones_dir = options.backbones_dir();
        config.lease = std::time::Duration::from_secs(worker.lease_secs.max(1));
        if let Some(id) = &worker.worker_id {
            config.worker_id = id.clone();
        }
        if let Some(dir) = &worker.firmware_target_dir {
            config.firmware_target_dir = dir.clone();
        }
        // Several heartbeats per lease, so one slow database round trip
        // does not lose the job.
        config.heartbeat = (config.lease / 5).clamp(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(2),
        );
        config
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A started studio.
pub struct App {
    pub addr: SocketAddr,
    /// Further addresses serving the same application (see [`App::start_on`]).
    pub extra_addrs: Vec<SocketAddr>,
    pub state: AppState,
    pub worker: Option<Worker>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl App {
    /// Binds `listen` (port 0 picks a free port), starts serving, and runs
    /// an in-process worker when `worker` is given.
    pub async fn start(
        storage: Storage,
        listen: SocketAddr,
        web: WebConfig,
        worker: Option<WorkerConfig>,
        spawn_worker: bool,
    ) -> anyhow::Result<Self> {
        Self::start_on(storage, listen, &[], web, worker, spawn_worker).await
    }

    /// Like [`App::start`], and also serves the same application on
    /// `extra_ports` of `listen`'s address, e.g. the ports Edge Impulse's
    /// clients expect (`--edge-impulse-ports`). Every port is bound before
    /// anything is served, so a taken port fails the start.
    pub async fn start_on(
        storage: Storage,
        listen: SocketAddr,
        extra_ports: &[u16],
        web: WebConfig,
        worker: Option<WorkerConfig>,
        spawn_worker: bool,
    ) -> anyhow::Result<Self> {
        Self::start_with(
            storage,
            listen,
            extra_ports,
            None,
            web,
            worker,
            spawn_worker,
        )
        .await
    }

    /// Like [`App::start_on`]; with `tls`, `listen` speaks https (the extra
    /// ports stay plain http: Edge Impulse's clients use http for an IP
    /// address).
    pub async fn start_with(
        storage: Storage,
        listen: SocketAddr,
        extra_ports: &[u16],
        tls: Option<Arc<rustls::ServerConfig>>,
        mut web: WebConfig,
        worker: Option<WorkerConfig>,
        spawn_worker: bool,
    ) -> anyhow::Result<Self> {
        web.tls = tls.is_some();
        web.loopback_only = listen.ip().is_loopback();
        let state = AppState::new(storage.db.clone(), storage.blobs.clone(), web)
            .await
            .map_err(|e| anyhow::anyhow!("starting the web layer: {e}"))?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let mut listeners = vec![listener];
        let mut extra_addrs = Vec::with_capacity(extra_ports.len());
        for &port in extra_ports {
            let extra = SocketAddr::new(listen.ip(), port);
            let listener = tokio::net::TcpListener::bind(extra)
                .await
                .with_context(|| format!("listening on {extra}"))?;
            extra_addrs.push(listener.local_addr()?);
            listeners.push(listener);
        }
        let router = tinystudio_web::router(state.clone());
        let mut servers = tokio::task::JoinSet::new();
        let mut listeners = listeners.into_iter();
        if let Some(config) = tls
            && let Some(listener) = listeners.next()
        {
            let server = axum_server::from_tcp_rustls(
                listener.into_std()?,
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )?;
            let router = router.clone();
            servers.spawn(async move {
                server
                    .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                    .await
            });
        }
        for listener in listeners {
            let router = router.clone();
            // The peer's address, for limiting failed sign-ins per address.
            servers.spawn(async move {
                axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            });
        }
        // The studio stops when any of its listeners stops; dropping the set
        // stops the others.
        let server = tokio::spawn(async move {
            match servers.join_next().await {
                Some(Ok(result)) => result,
                Some(Err(e)) => Err(std::io::Error::other(e)),
                None => Ok(()),
            }
        });
        let worker =
            worker.map(|config| Worker::new(storage.db.clone(), storage.blobs.clone(), config));
        if spawn_worker && let Some(worker) = worker.clone() {
            tokio::spawn(worker.run());
        }
        Ok(Self {
            addr,
            extra_addrs,
            state,
            worker,
            server,
        })
    }

    /// Serves until the server stops (or fails).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.server.await.context("server task")?.context("server")
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
