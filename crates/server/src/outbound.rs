//! How countersign trusts the servers it calls: webhook receivers (the delivery worker)
//! and, from the CLI, a countersign server. One [`OutboundTls`] is built once at start
//! (`serve --ca-cert`, the CLI's global `--ca-cert`) and every outgoing HTTP client is
//! made from it with [`OutboundTls::client_builder`].
//!
//! TLS is rustls with the `ring` provider. Trust anchors are the system's roots (the
//! platform store read by rustls-native-certs: `/etc/ssl/certs` and friends on Linux,
//! overridable with `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus every certificate in the
//! configured CA files (a private CA). Only when the system store holds no certificate
//! at all (a minimal container image without `ca-certificates`) the compiled-in Mozilla
//! roots (webpki-roots) stand in for it, so public HTTPS still verifies. Everything is
//! read from local files or compiled in; nothing is fetched.

use std::path::{Path, PathBuf};

/// Why the outgoing TLS configuration could not be built. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("cannot read CA certificate file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA certificate file {} is not valid PEM", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("CA certificate file {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")", .path.display())]
    NoCertificate { path: PathBuf },
    #[error("CA certificate file {} holds a certificate that cannot be a trust anchor", .path.display())]
    Unusable {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot build the HTTPS client")]
    Client(#[source] reqwest::Error),
}

/// Where the default trust anchors come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemRoots {
    /// The platform's store, with this many certificates.
    Native(usize),
    /// The platform's store is empty: the compiled-in Mozilla roots (webpki-roots).
    Webpki,
}

/// One CA file and the certificates it added.
#[derive(Clone, Debug)]
struct CaFile {
    path: PathBuf,
    certs: Vec<reqwest::Certificate>,
}

/// The trust configuration of every outgoing HTTPS client.
#[derive(Clone, Debug)]
pub struct OutboundTls {
    system: SystemRoots,
    extra: Vec<CaFile>,
}

impl OutboundTls {
    /// The system's roots only.
    pub fn system() -> Self {
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::warn!(error = %e, "cannot read part of the system certificate store");
        }
        let system = if loaded.certs.is_empty() {
            tracing::warn!("the system certificate store is empty; trusting the compiled-in Mozilla roots (webpki-roots) instead");
            SystemRoots::Webpki
        } else {
            SystemRoots::Native(loaded.certs.len())
        };
        OutboundTls {
            system,
            extra: Vec::new(),
        }
    }

    /// The system's roots plus every certificate in each of `files` (PEM; one file may
    /// be a bundle). A file that cannot be read, holds no certificate, or holds one
    /// rustls cannot use as a trust anchor is an error naming it.
    pub fn with_ca_files(files: &[PathBuf]) -> Result<Self, OutboundError> {
        let mut tls = Self::system();
        for f in files {
            let pem = std::fs::read(f).map_err(|source| OutboundError::Read {
                path: f.clone(),
                source,
            })?;
            tls = tls.add_ca_pem(f, &pem)?;
        }
        Ok(tls)
    }

    /// Adds the certificates of one PEM document; `path` names it in errors.
    pub fn add_ca_pem(mut self, path: &Path, pem: &[u8]) -> Result<Self, OutboundError> {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|source| OutboundError::Parse {
                path: path.to_owned(),
                source,
            })?;
        if certs.is_empty() {
            return Err(OutboundError::NoCertificate {
                path: path.to_owned(),
            });
        }
        // The DER inside is only checked when a client is built: build one that trusts
        // this file alone, so a bad file is refused here, by name, not at first use.
        let mut probe = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false);
        for c in &certs {
            probe = probe.add_root_certificate(c.clone());
        }
        probe.build().map_err(|source| OutboundError::Unusable {
            path: path.to_owned(),
            source,
        })?;
        self.extra.push(CaFile {
            path: path.to_owned(),
            certs,
        });
        Ok(self)
    }

    /// Where the default roots come from.
    pub fn system_roots(&self) -> SystemRoots {
        self.system
    }

    /// A client builder (rustls) trusting exactly this configuration; the caller adds
    /// timeouts and builds it.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .tls_built_in_native_certs(matches!(self.system, SystemRoots::Native(_)))
            .tls_built_in_webpki_certs(self.system == SystemRoots::Webpki);
        for c in self.extra.iter().flat_map(|f| &f.certs) {
            b = b.add_root_certificate(c.clone());
        }
        b
    }

    /// For the start-up line: "the system roots (146 certificates) and 1 certificate
    /// from ca.pem".
    pub fn describe(&self) -> String {
        let mut s = match self.system {
            SystemRoots::Native(n) => format!("the system roots ({n} certificates)"),
            SystemRoots::Webpki => {
                "the compiled-in Mozilla roots (the system store is empty)".to_owned()
            }
        };
        for f in &self.extra {
            let n = f.certs.len();
            s.push_str(&format!(
                " and {n} certificate{} from {}",
                if n == 1 { "" } else { "s" },
                f.path.display()
            ));
        }
        s
    }
}

/// An error and its sources, one readable line: `"error sending request: client error
/// (Connect): invalid peer certificate: UnknownIssuer"`. A source whose text its parent
/// already says is skipped.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut last = out.clone();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !text.is_empty() && !last.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        last = text;
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("middle: inner")]
    struct Middle(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn error_chain_joins_sources_without_repeating_them() {
        assert_eq!(error_chain(&Outer(Middle(Inner))), "outer: middle: inner");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let e = OutboundTls::system()
            .add_ca_pem(Path::new("ca.pem"), b"not a certificate\n")
            .unwrap_err();
        assert!(matches!(e, OutboundError::NoCertificate { .. }), "{e:?}");
        assert!(e.to_string().contains("ca.pem"), "{e}");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = OutboundTls::system()
            .add_ca_pem(Path::new("bad.pem"), garbage)
            .unwrap_err();
        assert!(e.to_string().contains("bad.pem"), "{e}");
        let e = OutboundTls::with_ca_files(&[PathBuf::from("/nonexistent/ca.pem")]).unwrap_err();
        assert!(matches!(e, OutboundError::Read { .. }), "{e:?}");
    }
}
