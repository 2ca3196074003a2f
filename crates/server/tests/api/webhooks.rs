//! Webhooks: events are written to the outbox in the command's transaction, delivered
//! signed to a real HTTP receiver on loopback, retried with backoff after failures
//! (driven by the ManualClock, no sleeps), logged per attempt, and never lost across a
//! restart.

use crate::harness::*;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::Duration;
use countersign_server::app::webhooks::{deliver_due_once, DeliveryClient};
use countersign_server::outbound::OutboundTls;
use countersign_server::AppState;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A receiver that answers 500 to the first `fail` requests, then 204.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    fail: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    me.got.lock().unwrap().push((headers, body));
                    if me.fail.load(Ordering::SeqCst) > 0 {
                        me.fail.fetch_sub(1, Ordering::SeqCst);
                        AxumStatus::INTERNAL_SERVER_ERROR
                    } else {
                        AxumStatus::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/hook")
    }

    fn received(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().unwrap().clone()
    }
}

/// HMAC-SHA256, written here from RFC 2104 as a receiver would, independent of the server.
pub fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<_>>());
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<_>>());
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// Verifies `countersign-signature: t=<unix>,v1=<hex>` as docs/webhooks.md says.
fn verify(secret: &str, headers: &HeaderMap, body: &str) -> i64 {
    let sig = headers["countersign-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let v1 = v1.strip_prefix("v1=").unwrap();
    let want = hex::encode(hmac(secret.as_bytes(), format!("{t}.{body}").as_bytes()));
    assert_eq!(v1, want, "the signature verifies");
    assert_ne!(
        hex::encode(hmac(b"wrong secret", format!("{t}.{body}").as_bytes())),
        v1
    );
    t.parse().unwrap()
}

/// The delivery worker's client with the system roots, as `serve` builds it without --ca-cert.
pub fn client() -> DeliveryClient {
    DeliveryClient::new(&OutboundTls::system()).unwrap()
}

pub fn state(h: &Harness) -> AppState {
    AppState::new(h.store.clone(), h.profile.clone(), h.clock.clone())
        .expect("the example policies load")
}

pub async fn subscribe(h: &Harness, url: &str, events: &[&str]) -> (String, String) {
    let w = h
        .command(
            &h.admin,
            "/v1/webhooks",
            &json!({"url": url, "events": events}),
            "webhook.create",
        )
        .await;
    (
        w["id"].as_str().unwrap().to_owned(),
        w["secret"].as_str().unwrap().to_owned(),
    )
}

pub async fn log(h: &Harness, id: &str) -> Value {
    h.get_ok(&h.admin, &format!("/v1/webhooks/{id}/deliveries"))
        .await
}

#[tokio::test]
async fn webhooks_are_signed_retried_with_backoff_and_logged() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let dc = client();
        let rx = Receiver::default();
        let url = rx.start().await;
        let (id, secret) = subscribe(&h, &url, &["review_requested", "decided"]).await;
        assert!(secret.starts_with("whsec_"));
        // The secret is shown once.
        let listed = h.get_ok(&h.admin, "/v1/webhooks").await;
        assert_eq!(listed[0]["id"], id.as_str());
        assert!(listed[0].get("secret").is_none());

        let cast = h.cast().await;
        let rel = h.medium(&cast).await;
        h.submit(&cast, &rel).await; // review_requested, in the submit's transaction
        rx.fail.store(2, Ordering::SeqCst);

        let s = state(&h);
        assert_eq!(deliver_due_once(&s, &dc).await.unwrap().delivered, 0); // 500
                                                                           // Backoff: 10 s after the first failure, 20 s after the second.
        h.advance(Duration::seconds(9));
        assert_eq!(deliver_due_once(&s, &dc).await.unwrap().attempted, 0);
        h.advance(Duration::seconds(1));
        assert_eq!(deliver_due_once(&s, &dc).await.unwrap().delivered, 0); // 500 again
        h.advance(Duration::seconds(19));
        assert_eq!(deliver_due_once(&s, &dc).await.unwrap().attempted, 0);
        h.advance(Duration::seconds(1));
        let run = deliver_due_once(&s, &dc).await.unwrap();
        assert_eq!((run.attempted, run.delivered), (1, 1));
        assert_eq!(deliver_due_once(&s, &dc).await.unwrap().attempted, 0);

        // Three attempts of one event, each signed; the same event id every time.
        let got = rx.received();
        assert_eq!(got.len(), 3);
        let mut ids = Vec::new();
        for (headers, body) in &got {
            let t = verify(&secret, headers, body);
            assert!((t - h.now().timestamp()).abs() <= 30);
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["type"], "review_requested");
            assert_eq!(v["subject"], rel.id.as_str());
            assert_eq!(
                v["data"]["roles"],
                json!(["mlops", "security", "operations"])
            );
            assert_eq!(headers["countersign-event"], "review_requested");
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
        assert!(ids.iter().all(|i| *i == ids[0]));

        // The delivery log, readable through the API.
        let l = log(&h, &id).await;
        let outcomes: Vec<(u64, String, u64)> = l["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["attempt"].as_u64().unwrap(),
                    a["outcome"].as_str().unwrap().to_owned(),
                    a["status_code"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                (1, "retry".into(), 500),
                (2, "retry".into(), 500),
                (3, "delivered".into(), 204)
            ]
        );
        assert_eq!(l["deliveries"][0]["state"], "delivered");
        assert_eq!(l["deliveries"][0]["attempts"], 3);

        // Unsubscribed types are not sent; subscribed ones are.
        h.approve_missing_reviews(&cast, &rel).await;
        h.attach_required_evidence(&cast, &rel).await;
        h.go_ok(&cast, &rel).await;
        assert_eq!(deliver_due_once(&s, &dc).await.unwrap().delivered, 1);
        let last = rx.received().pop().unwrap();
        let v: Value = serde_json::from_str(&last.1).unwrap();
        assert_eq!(v["type"], "decided");
        assert_eq!(v["data"]["decision"], "go");
        verify(&secret, &last.0, &last.1);
    }
}

#[tokio::test]
async fn webhooks_lose_nothing_across_a_restart_and_give_up_after_bounded_attempts() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let dc = client();
        let rx = Receiver::default();
        let url = rx.start().await;
        let (id, secret) = subscribe(&h, &url, &["review_requested"]).await;
        let cast = h.cast().await;
        let a = h.medium(&cast).await;
        let b = h.medium(&cast).await;
        h.submit(&cast, &a).await;
        h.submit(&cast, &b).await;
        assert!(
            rx.received().is_empty(),
            "nothing is sent before the worker runs"
        );

        // "Restart": the worker's state is dropped and a new store is opened on the same
        // database; the outbox is the source of truth.
        drop(state(&h));
        let reopened = AppState::new(
            countersign_store::open(&h.db_url).await.unwrap(),
            h.profile.clone(),
            h.clock.clone(),
        )
        .expect("the example policies load");
        let run = deliver_due_once(&reopened, &dc).await.unwrap();
        assert_eq!((run.attempted, run.delivered), (2, 2));
        let subjects: Vec<String> = rx
            .received()
            .iter()
            .map(|(hd, body)| {
                verify(&secret, hd, body);
                serde_json::from_str::<Value>(body).unwrap()["subject"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(subjects, [a.id.clone(), b.id.clone()]);

        // A receiver that keeps failing: bounded attempts, then dead, all logged.
        rx.fail.store(usize::MAX / 2, Ordering::SeqCst);
        let c = h.medium(&cast).await;
        h.submit(&cast, &c).await;
        for _ in 0..10 {
            deliver_due_once(&reopened, &dc).await.unwrap();
            h.advance(Duration::hours(1));
        }
        let l = log(&h, &id).await;
        let dead = l["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["state"] == "dead")
            .expect("a dead delivery");
        assert_eq!(dead["attempts"], 6);
        let tries = l["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["event_id"] == dead["event_id"])
            .count();
        assert_eq!(tries, 6);
    }
}

#[tokio::test]
async fn webhook_subscriptions_refuse_bad_input() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        for body in [
            json!({"url": "ftp://x/hook", "events": ["decided"]}),
            json!({"url": "http://127.0.0.1:1/hook", "events": []}),
            json!({"url": "http://127.0.0.1:1/hook", "events": ["exploded"]}),
        ] {
            h.refused(
                &h.admin,
                "/v1/webhooks",
                &body,
                reqwest::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-webhook",
            )
            .await;
        }
        let (s, _) = h.get(&h.admin, "/v1/webhooks/wh_nope/deliveries").await;
        assert_eq!(s, reqwest::StatusCode::NOT_FOUND);
    }
}
