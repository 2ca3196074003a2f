//! Time columns: RFC 3339 UTC with microseconds, so text order is time order.

use crate::StoreError;
use chrono::{DateTime, Utc};

pub(crate) fn to_text(t: DateTime<Utc>) -> String {
    countersign_ledger::format_time(t)
}

pub(crate) fn from_text(column: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            column,
            reason: e.to_string(),
        })
}
