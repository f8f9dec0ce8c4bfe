//! The adapter for TLS (rustls, with ring): the dashboard's certificate and key, loaded into a
//! server configuration. The only module that imports rustls.
//!
//! A dashboard that other machines reach must not carry its token in clear text; one that only
//! loopback reaches (behind `tailscale serve` or an SSH tunnel) needs none of this.
//!
//! May import: `error`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use rustls::ServerConfig;

use crate::error::{quoted, usage};

/// The PEM files the dashboard serves TLS with: a certificate chain, leaf first, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl From<(PathBuf, PathBuf)> for Files {
    fn from((cert, key): (PathBuf, PathBuf)) -> Files {
        Files { cert, key }
    }
}

/// The leaf certificate the dashboard serves, to ask which host names it covers.
#[derive(Debug, Clone)]
pub struct Leaf(CertificateDer<'static>);

impl Leaf {
    #[cfg(test)]
    pub fn from_der(der: Vec<u8>) -> Leaf {
        Leaf(CertificateDer::from(der))
    }

    /// Whether a browser would accept this certificate for `host` (a DNS name, no port).
    pub fn covers(&self, host: &str) -> bool {
        let (Ok(cert), Ok(name)) = (
            webpki::EndEntityCert::try_from(&self.0),
            ServerName::try_from(host),
        ) else {
            return false;
        };
        cert.verify_is_valid_for_subject_name(&name).is_ok()
    }
}

/// The server configuration for `files`, checked through: the chain parses, the key parses,
/// and the key belongs to the leaf certificate. A bad file is a usage error naming it.
pub fn load(files: &Files) -> Result<(Arc<ServerConfig>, Leaf)> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| bad(&files.cert, "a PEM certificate chain", err))?;
    if chain.is_empty() {
        return Err(bad(
            &files.cert,
            "a PEM certificate chain",
            "no certificate in it",
        ));
    }
    let leaf = Leaf(chain[0].clone());
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|err| bad(&files.key, "a PEM private key", err))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing the TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| {
            usage(format!(
                "{} and {} do not make a certificate and its key ({err}); give the key of the first certificate",
                shown(&files.cert),
                shown(&files.key)
            ))
        })?;
    // A browser upgrades to HTTP/2 only when offered; the server speaks HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), leaf))
}

fn bad(path: &Path, what: &str, err: impl std::fmt::Display) -> anyhow::Error {
    usage(format!(
        "{} is not {what} ({err}); give the PEM files your certificate authority issued (or `tailscale cert` wrote)",
        shown(path)
    ))
}

fn shown(path: &Path) -> String {
    quoted(&path.to_string_lossy())
}
