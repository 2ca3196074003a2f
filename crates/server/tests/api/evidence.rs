//! Evidence: content-addressed documents attached to a revision, returned byte for byte.

use crate::harness::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest as _, Sha256};

#[tokio::test]
async fn evidence_round_trips_byte_for_byte() {
    for backend in backends() {
        evidence_round_trips_byte_for_byte_on(backend).await;
    }
}

async fn evidence_round_trips_byte_for_byte_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    // Not UTF-8: a NUL, lone continuation bytes, an invalid lead byte, a BOM-ish tail.
    let mut content: Vec<u8> = b"%PDF-1.7\n".to_vec();
    content.extend_from_slice(&[0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0xf5, 0x0a, 0x0d]);
    // Larger than the 256 KiB JSON limit: evidence has its own, larger limit.
    content.extend((0..=255u8).cycle().take(1024 * 1024));
    assert!(std::str::from_utf8(&content).is_err());

    let before = h.ledger_count().await;
    let r = h
        .send(
            h.request(
                Method::POST,
                &format!(
                    "/v1/releases/{}/evidence?revision=1&kind=threat_model&name=tm.pdf",
                    rel.id
                ),
            )
            .bearer_auth(&cast.reviewer("security").token)
            .header(CONTENT_TYPE, "application/pdf")
            .body(content.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    h.assert_one_entry(before, "evidence.attach").await;
    let expected = format!("sha256:{}", hex::encode(Sha256::digest(&content)));
    assert_eq!(r.body["digest"], expected.as_str());
    assert_eq!(r.body["size"], content.len() as u64);
    assert_eq!(r.body["kind"], "threat_model");
    assert_eq!(r.body["name"], "tm.pdf");
    assert_eq!(r.body["media_type"], "application/pdf");
    assert_eq!(r.body["revision"], 1);
    assert_eq!(r.body["attached_by"], cast.reviewer("security").id.as_str());

    let d = h
        .get_full(&cast.owner, &format!("/v1/evidence/{expected}"))
        .await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.content_type(), "application/octet-stream");
    assert_eq!(d.bytes.len(), content.len());
    assert!(d.bytes == content, "the download differs from the upload");

    // The gate counts it for this revision.
    let g = h.gate(&cast.owner, &rel).await;
    assert!(!gap_subjects(&g["unmet"], "missing_evidence").contains(&"threat_model".to_owned()));
    let detail = h.detail(&cast.owner, &rel).await;
    assert_eq!(detail["evidence"][0]["digest"], expected.as_str());
}

#[tokio::test]
async fn evidence_of_the_same_content_is_stored_once_and_listed_twice() {
    for backend in backends() {
        evidence_of_the_same_content_is_stored_once_and_listed_twice_on(backend).await;
    }
}

async fn evidence_of_the_same_content_is_stored_once_and_listed_twice_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let a = h
        .attach(&cast.author, &rel, "test_results", b"same bytes")
        .await;
    let b = h
        .attach(&cast.author, &rel, "eval_report", b"same bytes")
        .await;
    assert_eq!(a["digest"], b["digest"]);
    assert_ne!(a["id"], b["id"]);
    let d = h
        .get_full(
            &cast.owner,
            &format!("/v1/evidence/{}", a["digest"].as_str().unwrap()),
        )
        .await;
    assert_eq!(d.bytes, b"same bytes");
    assert_eq!(
        h.detail(&cast.owner, &rel).await["evidence"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn evidence_of_an_unknown_kind_is_refused() {
    for backend in backends() {
        evidence_of_an_unknown_kind_is_refused_on(backend).await;
    }
}

async fn evidence_of_an_unknown_kind_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let before = h.ledger_count().await;
    let path = |kind: &str, name: &str| {
        format!(
            "/v1/releases/{}/evidence?revision=1&kind={kind}&name={name}",
            rel.id
        )
    };
    h.upload(&cast.author, &path("horoscope", "stars.txt"), b"auspicious")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown-evidence-kind");
    h.upload(&cast.author, &path("threat_model", "%20"), b"x")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name");
    // An admin is no reviewer and attaches nothing.
    h.upload(&h.admin, &path("threat_model", "tm.pdf"), b"x")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "missing-role");
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.detail(&cast.owner, &rel).await["evidence"], json!([]));
    // The content was not stored either.
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(b"auspicious")));
    h.get_full(&cast.owner, &format!("/v1/evidence/{digest}"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "evidence-not-found");
}

#[tokio::test]
async fn evidence_is_closed_once_decided() {
    for backend in backends() {
        evidence_is_closed_once_decided_on(backend).await;
    }
}

async fn evidence_is_closed_once_decided_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    let before = h.ledger_count().await;
    h.upload(
        &cast.author,
        &format!(
            "/v1/releases/{}/evidence?revision=1&kind=model_card&name=card.md",
            rel.id
        ),
        b"late",
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "evidence-closed");
    assert_eq!(h.ledger_count().await, before);
}

#[tokio::test]
async fn evidence_larger_than_the_limit_is_refused() {
    for backend in backends() {
        evidence_larger_than_the_limit_is_refused_on(backend).await;
    }
}

async fn evidence_larger_than_the_limit_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let before = h.ledger_count().await;
    let too_big = vec![7u8; countersign_server::api::EVIDENCE_BODY_LIMIT + 1];
    h.upload(
        &cast.author,
        &format!(
            "/v1/releases/{}/evidence?revision=1&kind=eval_report&name=huge.bin",
            rel.id
        ),
        &too_big,
    )
    .await
    .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.detail(&cast.owner, &rel).await["evidence"], json!([]));
}
