//! How a store record, a ledger entry or an application value is shown on the wire.

/// `From`, for conversions whose two sides live in other crates (a store record to a
/// `countersign_api` view), which Rust's orphan rule keeps `From` from expressing here.
pub trait View<T> {
    fn view(from: T) -> Self;
}
