//! `serve --tls`: https, because phones open the camera only on secure
//! origins. A certificate given with `--tls-cert`/`--tls-key` is used as it
//! is; otherwise a self-signed one is generated once (rcgen, the rustls
//! project's generator) and kept in the data folder, so the phone's browser
//! is asked to trust it only once, not after every restart.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the generated certificate lives, under the data folder.
pub const GENERATED_DIR: &str = "tls";
pub const GENERATED_CERT: &str = "cert.pem";
pub const GENERATED_KEY: &str = "key.pem";

/// A server's TLS settings and where its certificate came from.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// The certificate in use (PEM), to show the person or trust in tests.
    pub cert_path: PathBuf,
    /// The names and addresses the generated certificate covers; empty for
    /// a certificate given on the command line.
    pub generated_for: Vec<String>,
}

/// TLS from the given files, or from the data folder's generated
/// certificate (made now if there is none).
pub fn load_or_generate(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
) -> anyhow::Result<Tls> {
    let (cert_path, key_path, generated_for) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.to_path_buf(), key.to_path_buf(), Vec::new()),
        (None, None) => {
            let dir = data_dir.join(GENERATED_DIR);
            let names = ensure_self_signed(&dir)?;
            (dir.join(GENERATED_CERT), dir.join(GENERATED_KEY), names)
        }
        _ => bail!(
            "--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate"
        ),
    };
    let config = server_config(&cert_path, &key_path)?;
    Ok(Tls {
        config,
        cert_path,
        generated_for,
    })
}

/// A rustls server configuration for a PEM certificate chain and key.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} is not PEM", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the TLS key {} (PEM)", key.display()))?;
    // Several crypto providers are linked into the binary (object_store's
    // and reqwest's choices differ), so rustls cannot pick one by itself.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS key does not match the certificate, or is of an unsupported kind")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Makes the self-signed certificate in `dir` unless it is there already;
/// returns the names it was made for (empty when it was already there).
fn ensure_self_signed(dir: &Path) -> anyhow::Result<Vec<String>> {
    let (cert_path, key_path) = (dir.join(GENERATED_CERT), dir.join(GENERATED_KEY));
    if cert_path.exists() && key_path.exists() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let names = certificate_names();
    let mut params = rcgen::CertificateParams::new(names.clone())
        .context("the certificate's names and addresses")?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!(
            "TinyStudio on {}",
            host_name().unwrap_or_else(|| "localhost".into())
        ),
    );
    let key = rcgen::KeyPair::generate().context("generating the TLS key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the TLS certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(names)
}

/// The key is readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// What a browser may call this machine: `localhost`, its host name (and
/// `NAME.local`, as phones see it over mDNS), and every address of its
/// network interfaces, loopback included.
pub fn certificate_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    if let Some(host) = host_name() {
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
        names.push(host);
    }
    let mut addresses: Vec<IpAddr> = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ];
    // if-addrs lists interfaces portably (getifaddrs on Unix, the IP helper
    // API on Windows); std has no such call.
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        addresses.extend(interfaces.iter().map(|i| i.ip()));
    }
    for ip in addresses {
        let name = ip.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
}
