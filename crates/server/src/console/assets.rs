//! The console's static files, compiled into the binary (nothing from a CDN): htmx,
//! the style sheet and the one small script. Each is served with a strong `ETag` and
//! a cache lifetime; a request carrying the current `ETag` is answered 304.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/htmx-2.0.4.min.js"),
    },
    Asset {
        name: "console.css",
        media_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "console.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/console.js"),
    },
];

/// Each asset's `ETag` (a quoted sha256 prefix of its bytes), computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..16]))
            .collect()
    })
}

/// `GET /console/assets/{file}`.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == file) else {
        return super::page::Refusal::new(
            StatusCode::NOT_FOUND,
            countersign_core::problem::ProblemCode::RouteNotFound.as_str(),
            "There is no such file.",
        )
        .into_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let cache = [
        (header::ETAG, HeaderValue::from_str(etag).ok()),
        (
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static("public, max-age=3600")),
        ),
    ];
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.media_type),
            )],
            asset.body,
        )
            .into_response()
    };
    for (k, v) in cache {
        if let Some(v) = v {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
