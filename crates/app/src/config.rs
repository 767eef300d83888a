//! Configuration: command-line flags with environment-variable fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Options every subcommand that touches the database or files shares.
#[derive(Debug, Clone, Args)]
pub struct StorageOptions {
    /// Folder for the SQLite database, blobs, backbones and caches.
    #[arg(long, env = "TINYSTUDIO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite://PATH` or `postgres://...`; default: a SQLite file in the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Where pretrained backbones are kept; default: `backbones` in the data folder.
    #[arg(long, env = "TINYSTUDIO_BACKBONES_DIR")]
    pub backbones_dir: Option<PathBuf>,

    /// Where samples and artifacts go: `s3://bucket/prefix?endpoint=http://host:9000`
    /// (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); default: `blobs`
    /// in the data folder.
    #[arg(long, env = "TINYSTUDIO_BLOB_STORE")]
    pub blob_store: Option<String>,
}

/// Options of the job runner (`serve`'s in-process worker and `worker`).
#[derive(Debug, Clone, Args)]
pub struct WorkerOptions {
    /// How long a claimed job stays this worker's without a heartbeat; a job
    /// whose worker died is retried once this has passed.
    #[arg(long, env = "TINYSTUDIO_WORKER_LEASE_SECS", default_value_t = 30)]
    pub lease_secs: u64,

    /// Names this worker in the queue and the logs; default: host name and a random suffix.
    #[arg(long, env = "TINYSTUDIO_WORKER_ID")]
    pub worker_id: Option<String>,

    /// Where firmware builds are kept (one folder per board; workers on one
    /// machine may share it); default: `work/firmware-target` in the data folder.
    #[arg(long, env = "TINYSTUDIO_FIRMWARE_TARGET_DIR")]
    pub firmware_target_dir: Option<PathBuf>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            worker_id: None,
            firmware_target_dir: None,
        }
    }
}

impl StorageOptions {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| tinystudio_storage::Db::default_url(&self.data_dir))
    }

    pub fn backbones_dir(&self) -> PathBuf {
        self.backbones_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("backbones"))
    }
}

/// Options of the web server.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address and port to listen on.
    #[arg(long, env = "TINYSTUDIO_LISTEN", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,

    /// Largest request body of an upload, in megabytes.
    #[arg(long, env = "TINYSTUDIO_MAX_BODY_MB", default_value_t = 256)]
    pub max_body_mb: usize,

    /// Largest single uploaded file, in megabytes.
    #[arg(long, env = "TINYSTUDIO_MAX_FILE_MB", default_value_t = 32)]
    pub max_file_mb: usize,

    /// Largest width or height of an uploaded image, in pixels.
    #[arg(long, env = "TINYSTUDIO_MAX_IMAGE_SIDE", default_value_t = 8192)]
    pub max_image_side: u32,

    /// Serve only; leave jobs to separate `tinystudio worker` processes.
    #[arg(long, env = "TINYSTUDIO_NO_WORKER")]
    pub no_worker: bool,

    /// Also serve on ports 4800 and 4810 of the listen address, where Edge
    /// Impulse's clients look for the studio API and ingestion when
    /// `EI_HOST` is an IP address.
    #[arg(long, env = "TINYSTUDIO_EDGE_IMPULSE_PORTS")]
    pub edge_impulse_ports: bool,

    /// Serve https on the listen address (phones open the camera only on
    /// https pages), with the certificate of --tls-cert/--tls-key or a
    /// self-signed one made once and kept in the data folder.
    #[arg(long, env = "TINYSTUDIO_TLS")]
    pub tls: bool,

    /// PEM certificate chain for --tls (with --tls-key).
    #[arg(long, env = "TINYSTUDIO_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls (with --tls-cert).
    #[arg(long, env = "TINYSTUDIO_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The address phones reach the studio at, for capture links (QR
    /// codes), e.g. `https://studio.example.org` behind a proxy; default:
    /// the address the browser used.
    #[arg(long, env = "TINYSTUDIO_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
}

/// An `http(s)://host[:port]` URL without a path, query or fragment
/// beyond a trailing slash.
fn parse_public_url(raw: &str) -> Result<String, String> {
    let uri: axum::http::Uri = raw
        .parse()
        .map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
    if !scheme_ok || uri.host().is_none() || !path_ok {
        return Err(format!(
            "{raw:?} must look like https://host or https://host:port (no path)"
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The ports Edge Impulse's clients use for a host given as an IP address:
/// the studio API (`http://HOST:4800/v1/api/...`) and ingestion
/// (`http://HOST:4810/api/...`).
pub const EDGE_IMPULSE_PORTS: [u16; 2] = [4800, 4810];

impl ServeOptions {
    /// Whether `listen` speaks https: `--tls`, or a certificate was given.
    pub fn tls_enabled(&self) -> bool {
        self.tls || self.tls_cert.is_some()
    }

    /// Ports served besides `listen`'s own.
    pub fn extra_ports(&self) -> &'static [u16] {
        if self.edge_impulse_ports {
            &EDGE_IMPULSE_PORTS
        } else {
            &[]
        }
    }

    pub fn web_config(&self) -> tinystudio_web::WebConfig {
        let mut config = tinystudio_web::WebConfig {
            max_body_bytes: self.max_body_mb * 1024 * 1024,
            max_file_bytes: self.max_file_mb * 1024 * 1024,
            public_url: self.public_url.clone(),
            ..Default::default()
        };
        config.decode.max_width = self.max_image_side;
        config.decode.max_height = self.max_image_side;
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        serve: ServeOptions,
    }

    #[test]
    fn edge_impulse_ports_are_opt_in() {
        let plain = Serve::parse_from(["serve"]).serve;
        assert!(plain.extra_ports().is_empty());
        let with = Serve::parse_from(["serve", "--edge-impulse-ports"]).serve;
        assert_eq!(with.extra_ports(), &[4800, 4810]);
    }

    #[test]
    fn tls_flags() {
        let plain = Serve::parse_from(["serve"]).serve;
        assert!(!plain.tls_enabled());
        assert!(Serve::parse_from(["serve", "--tls"]).serve.tls_enabled());
        let files = Serve::parse_from(["serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).serve;
        assert!(files.tls_enabled());
        // A certificate without its key (or the other way round) is refused.
        assert!(Serve::try_parse_from(["serve", "--tls-cert", "c.pem"]).is_err());
        assert!(Serve::try_parse_from(["serve", "--tls-key", "k.pem"]).is_err());
    }

    #[test]
    fn public_url_is_a_bare_http_url() {
        let ok = Serve::parse_from(["serve", "--public-url", "https://studio.example.org/"]);
        assert_eq!(
            ok.serve.public_url.as_deref(),
            Some("https://studio.example.org")
        );
        assert_eq!(
            Serve::parse_from(["serve", "--public-url", "http://192.168.1.5:4000"])
                .serve
                .web_config()
                .public_url
                .as_deref(),
            Some("http://192.168.1.5:4000")
        );
        for bad in [
            "studio.example.org",
            "ftp://x",
            "https://x/studio",
            "https://x/?a=1",
        ] {
            assert!(
                Serve::try_parse_from(["serve", "--public-url", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
