//! The ledger's Merkle tree as the application holds it (issue 14): the log's origin
//! and the tree in memory behind a lock. A leaf of `app`: it imports nothing of the
//! crate, so `unit` can hold it while `transparency` fills it from the store.

use countersign_ledger::MemoryTree;
use tokio::sync::{Mutex, MutexGuard};

/// The default origin (the log's name) when the server is given none.
pub const DEFAULT_ORIGIN: &str = "countersign/ledger";

/// The Merkle tree of the ledger, in memory: 32 bytes per entry and the interior
/// nodes, filled incrementally (entries after the size it has) on each read.
#[derive(Debug)]
pub struct LedgerTree {
    origin: String,
    tree: Mutex<MemoryTree>,
}

impl LedgerTree {
    /// An empty tree for the log named `origin`.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            tree: Mutex::new(MemoryTree::new()),
        }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree, locked (`transparency` brings it up to the store's size).
    pub(super) async fn lock(&self) -> MutexGuard<'_, MemoryTree> {
        self.tree.lock().await
    }
}

impl Default for LedgerTree {
    fn default() -> Self {
        Self::new(DEFAULT_ORIGIN)
    }
}
