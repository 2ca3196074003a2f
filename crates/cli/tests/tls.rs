#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! HTTPS for everything countersign calls (issue 10), through the real binary. The test
//! makes its own CA and certificates (rcgen). `serve --demo` runs behind a small
//! TLS-terminating proxy (tokio-rustls): the CLI reaches it with `--ca-cert` (or
//! `COUNTERSIGN_CA_CERT`) and fails, readably and with exit 1, without it. `serve
//! --ca-cert` hands the CA to the webhook worker, which delivers to an HTTPS receiver.
//! A bad CA file is a plain error at start for both, never a panic.

mod support;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{demo_env, demo_var, serve_demo_with, Cli};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A CA made by the test, and server configurations with certificates it issued.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    fn acceptor(&self) -> TlsAcceptor {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A TLS-terminating proxy on a free loopback port in front of `upstream`; returns its port.
async fn tls_proxy(acceptor: TlsAcceptor, upstream: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    port
}

/// A TLS listener for `axum::serve`: hands on connections whose handshake succeeded.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS webhook receiver that answers 204 and counts the requests; returns its URL.
async fn https_receiver(acceptor: TlsAcceptor, got: Arc<AtomicUsize>) -> String {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            got.fetch_add(1, Ordering::SeqCst);
            async { axum::http::StatusCode::NO_CONTENT }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(TlsListener { tcp, acceptor }, app).await;
    });
    format!("https://localhost:{port}/hook")
}

fn upstream(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

#[test]
fn the_cli_reaches_an_https_server_with_its_ca_and_fails_readably_without() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("countersign test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let ca_arg = ca_file.display().to_string();
    let (_server, url) = serve_demo_with(dir.path(), &["--ca-cert", &ca_arg]);
    let env = demo_env(dir.path());
    let admin = demo_var(&env, "CS_ADMIN");
    let port = rt.block_on(tls_proxy(ca.acceptor(), upstream(&url)));
    let cli = Cli {
        dir: dir.path(),
        server: format!("https://localhost:{port}"),
        env: Vec::new(),
    };

    // With the CA, by flag or by variable.
    let out = cli.ok(&admin, &["user", "list", "--ca-cert", &ca_arg]);
    assert!(out.contains("Dana Whitfield"), "{out}");
    let with_env = Cli {
        env: vec![("COUNTERSIGN_CA_CERT".into(), ca_arg.clone())],
        ..cli
    };
    with_env.ok(&admin, &["profile", "show"]);

    // Without: exit 1, and the message says what failed and what to do.
    let cli = Cli {
        env: Vec::new(),
        ..with_env
    };
    let (code, out) = cli.run(&admin, &["user", "list"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cannot reach countersign at https://localhost")
            && out.contains("invalid peer certificate: UnknownIssuer")
            && out.contains("--ca-cert"),
        "{out}"
    );
    assert!(!out.contains("panicked"), "{out}");

    // Another CA's certificate does not verify this server either.
    let other = TestCa::new("someone else's CA").write(dir.path(), "other.pem");
    let (code, out) = cli.run(
        &admin,
        &["user", "list", "--ca-cert", &other.display().to_string()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UnknownIssuer"), "{out}");
}

#[test]
fn serve_with_ca_cert_delivers_webhooks_to_an_https_receiver() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("countersign test CA");
    let ca_arg = ca.write(dir.path(), "ca.pem").display().to_string();
    let (_server, url) = serve_demo_with(dir.path(), &["--ca-cert", &ca_arg]);
    let env = demo_env(dir.path());
    let t = |k: &str| demo_var(&env, k);
    let got = Arc::new(AtomicUsize::new(0));
    let hook = rt.block_on(https_receiver(ca.acceptor(), got.clone()));
    let cli = Cli {
        dir: dir.path(),
        server: url,
        env: Vec::new(),
    };
    let w = cli.json(
        &t("CS_ADMIN"),
        &[
            "webhook",
            "create",
            "--url",
            &hook,
            "--event",
            "review_requested",
        ],
        0,
    );
    let id = w["id"].as_str().unwrap().to_owned();
    let rel = cli.json(
        &t("CS_MAYA"),
        &[
            "release",
            "create",
            "--title",
            "Triage prompt v2",
            "--kind",
            "prompt",
            "--system",
            &t("CS_SYSTEM"),
            "--owner",
            &t("CS_DANA_ID"),
            "--artifact",
            &format!("sha256:{}", "cd".repeat(32)),
        ],
        0,
    );
    let rel = rel["release"]["id"].as_str().unwrap().to_owned();
    cli.ok(&t("CS_MAYA"), &["release", "submit", &rel]);

    // The worker runs every 2 seconds; wait for it, with a bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = cli.json(&t("CS_ADMIN"), &["webhook", "deliveries", &id], 0);
        let attempts = log["attempts"].as_array().map_or(0, Vec::len);
        if attempts > 0 || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let attempts: &Vec<Value> = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{log}");
    assert_eq!(attempts[0]["outcome"], "delivered", "{log}");
    assert_eq!(attempts[0]["status_code"], 204, "{log}");
    assert_eq!(got.load(Ordering::SeqCst), 1);
}

#[test]
fn a_bad_ca_file_is_a_plain_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = dir.path().join("missing.pem");
    for bad in [&not_pem, &missing] {
        let bad = bad.display().to_string();
        // serve refuses to start.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_countersign"))
            .current_dir(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--ca-cert", &bad])
            .env("COUNTERSIGN_LOG", "warn")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("error: ") && text.contains(&bad), "{text}");
        assert!(!text.contains("panicked"), "{text}");
        // So does a client command.
        let cli = Cli {
            dir: dir.path(),
            server: "https://127.0.0.1:1".into(),
            env: vec![("COUNTERSIGN_CA_CERT".into(), bad.clone())],
        };
        let (code, out) = cli.run("cst_x", &["user", "list"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&bad) && !out.contains("panicked"), "{out}");
    }
}
