//! Webhooks to `https://` receivers (issue 10): the delivery client verifies the
//! receiver's certificate against the system roots plus the configured CA files. The
//! tests make their own CAs and server certificates (rcgen) and run real HTTPS
//! receivers on loopback (axum over tokio-rustls) that check the signature header as
//! docs/webhooks.md tells receivers to. A receiver whose certificate does not verify
//! gets no request, and the delivery log says why.

use crate::harness::*;
use crate::webhooks::{client, hmac, log, state, subscribe};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::Duration;
use countersign_server::app::webhooks::{deliver_due_once, DeliveryClient};
use countersign_server::outbound::OutboundTls;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A certificate authority made by the test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    /// The CA certificate, PEM, as an operator would hand it to `--ca-cert`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/<file>` and returns the path.
    pub fn write(&self, dir: &std::path::Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// A rustls server configuration with a certificate for `names`, issued by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
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
        Arc::new(config)
    }
}

/// A TLS listener for `axum::serve`: counts every TCP connection (before the
/// handshake, so the count is up before the client can see the certificate) and hands
/// on only connections whose handshake succeeded.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    connections: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            self.connections.fetch_add(1, Ordering::SeqCst);
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// One request as the receiver saw it, and whether its signature verified.
#[derive(Clone, Debug)]
struct Got {
    body: String,
    signature_valid: bool,
}

/// An HTTPS webhook receiver on loopback.
struct HttpsReceiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    connections: Arc<AtomicUsize>,
}

impl HttpsReceiver {
    /// Binds a free loopback port; serve it with [`HttpsReceiver::serve`] once the
    /// webhook (and so its secret) exists.
    async fn bind() -> (Self, TcpListener) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let rx = HttpsReceiver {
            port,
            got: Arc::default(),
            connections: Arc::default(),
        };
        (rx, tcp)
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/hook", self.port)
    }

    /// Serves: answers 204 to a request whose signature verifies with `secret` (and
    /// whose `t` is within 5 minutes of `now`), 401 otherwise.
    fn serve(&self, tcp: TcpListener, tls: Arc<ServerConfig>, secret: String, now: i64) {
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let got = got.clone();
                let secret = secret.clone();
                async move {
                    let signature_valid = verify_as_documented(&secret, &headers, &body, now);
                    got.lock().unwrap().push(Got {
                        body,
                        signature_valid,
                    });
                    if signature_valid {
                        AxumStatus::NO_CONTENT
                    } else {
                        AxumStatus::UNAUTHORIZED
                    }
                }
            }),
        );
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(tls),
            connections: self.connections.clone(),
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }

    fn received(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// docs/webhooks.md, "Verifying a delivery": split the header on commas into `k=v`,
/// HMAC-SHA256 of `<t>.<body>` keyed with the whole secret, constant-time compare,
/// and a bounded age for `t`.
fn verify_as_documented(secret: &str, headers: &HeaderMap, body: &str, now: i64) -> bool {
    let Some(header) = headers
        .get("countersign-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let parts: std::collections::HashMap<&str, &str> = header
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
        return false;
    };
    let want = hex::encode(hmac(secret.as_bytes(), format!("{t}.{body}").as_bytes()));
    let same = want.len() == v1.len()
        && want
            .bytes()
            .zip(v1.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    let fresh = t.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 300);
    same && fresh
}

/// A delivery client trusting the system roots and `ca_files`, as `serve --ca-cert` builds it.
fn client_trusting(ca_files: &[PathBuf]) -> DeliveryClient {
    DeliveryClient::new(&OutboundTls::with_ca_files(ca_files).unwrap()).unwrap()
}

/// The attempts of a webhook's delivery log: (attempt, outcome, status, error).
fn attempts(l: &Value) -> Vec<(u64, String, u64, String)> {
    l["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap().to_owned(),
                a["status_code"].as_u64().unwrap(),
                a["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn https_webhooks_verify_against_the_configured_ca_and_arrive_signed() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("countersign test CA");
        let ca_file = ca.write(dir.path(), "ca.pem");
        let dc = client_trusting(&[ca_file]);

        // One receiver by name, one by IP address; both certificates from the CA.
        let (by_name, tcp_a) = HttpsReceiver::bind().await;
        let (by_ip, tcp_b) = HttpsReceiver::bind().await;
        let (id_a, secret_a) =
            subscribe(&h, &by_name.url("localhost"), &["review_requested"]).await;
        let (id_b, secret_b) = subscribe(&h, &by_ip.url("127.0.0.1"), &["review_requested"]).await;
        let now = h.now().timestamp();
        by_name.serve(tcp_a, ca.server_config(&["localhost"]), secret_a, now);
        by_ip.serve(tcp_b, ca.server_config(&["127.0.0.1"]), secret_b, now);

        let cast = h.cast().await;
        let rel = h.medium(&cast).await;
        h.submit(&cast, &rel).await;
        let run = deliver_due_once(&state(&h), &dc).await.unwrap();
        assert_eq!((run.attempted, run.delivered), (2, 2));

        for (rx, id) in [(&by_name, &id_a), (&by_ip, &id_b)] {
            let got = rx.received();
            assert_eq!(got.len(), 1, "one delivery over HTTPS");
            assert!(
                got[0].signature_valid,
                "the receiver verified the signature"
            );
            let v: Value = serde_json::from_str(&got[0].body).unwrap();
            assert_eq!(v["type"], "review_requested");
            assert_eq!(v["subject"], rel.id.as_str());
            let l = log(&h, id).await;
            assert_eq!(attempts(&l), [(1, "delivered".into(), 204, String::new())]);
            assert_eq!(l["deliveries"][0]["state"], "delivered");
        }
    }
}

#[tokio::test]
async fn https_receivers_whose_certificate_does_not_verify_get_nothing_and_the_log_says_why() {
    let ours = TestCa::new("countersign test CA");
    let theirs = TestCa::new("someone else's CA");
    let dir = tempfile::tempdir().unwrap();
    let ours_file = ours.write(dir.path(), "ca.pem");
    // (client, receiver certificate, what the log must say, verifies once our CA is trusted)
    let cases = || {
        [
            // No --ca-cert: the system roots do not know our CA.
            (
                client(),
                ours.server_config(&["127.0.0.1"]),
                "UnknownIssuer",
                true,
            ),
            // Our CA configured, but the receiver's certificate is from another CA.
            (
                client_trusting(std::slice::from_ref(&ours_file)),
                theirs.server_config(&["127.0.0.1"]),
                "UnknownIssuer",
                false,
            ),
            // Our CA, but the certificate names another host.
            (
                client_trusting(std::slice::from_ref(&ours_file)),
                ours.server_config(&["hooks.example"]),
                "not valid for name",
                false,
            ),
        ]
    };
    for backend in backends() {
        for (dc, tls, reason, verifies_later) in cases() {
            // A fresh server per case, so each case's webhook is the only subscriber.
            let h = Harness::start_on(backend.clone()).await;
            let (rx, tcp) = HttpsReceiver::bind().await;
            let (id, secret) = subscribe(&h, &rx.url("127.0.0.1"), &["review_requested"]).await;
            rx.serve(tcp, tls, secret, h.now().timestamp());
            let cast = h.cast().await;
            let rel = h.medium(&cast).await;
            h.submit(&cast, &rel).await;

            let run = deliver_due_once(&state(&h), &dc).await.unwrap();
            assert_eq!((run.attempted, run.delivered), (1, 0));
            assert!(rx.connections() >= 1, "the client did connect");
            assert!(rx.received().is_empty(), "no request reached the receiver");
            let l = log(&h, &id).await;
            let a = attempts(&l);
            assert_eq!(a.len(), 1, "{a:?}");
            let (attempt, outcome, status, error) = &a[0];
            assert_eq!((*attempt, outcome.as_str(), *status), (1, "retry", 0));
            assert!(
                error.contains("certificate") && error.contains(reason),
                "the log says why: {error}"
            );
            assert_eq!(l["deliveries"][0]["state"], "pending");
            assert_eq!(l["deliveries"][0]["attempts"], 1);

            // The backoff is unchanged: the next attempt is due 10 s later. With our CA
            // trusted, only the receiver with our CA's certificate for its name verifies.
            let fixed = client_trusting(std::slice::from_ref(&ours_file));
            h.advance(Duration::seconds(9));
            assert_eq!(
                deliver_due_once(&state(&h), &fixed)
                    .await
                    .unwrap()
                    .attempted,
                0
            );
            h.advance(Duration::seconds(1));
            let run = deliver_due_once(&state(&h), &fixed).await.unwrap();
            assert_eq!(run.attempted, 1);
            let a = attempts(&log(&h, &id).await);
            assert_eq!(a.len(), 2);
            if verifies_later {
                assert_eq!(run.delivered, 1);
                assert_eq!((a[1].1.as_str(), a[1].2), ("delivered", 204));
                let got = rx.received();
                assert_eq!(got.len(), 1);
                assert!(got[0].signature_valid);
            } else {
                assert_eq!(run.delivered, 0);
                assert_eq!((a[1].1.as_str(), a[1].2), ("retry", 0));
                assert!(a[1].3.contains(reason), "{}", a[1].3);
                assert!(rx.received().is_empty());
            }
        }
    }
}
