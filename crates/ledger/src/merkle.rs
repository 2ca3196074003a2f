//! The Merkle tree over the ledger (RFC 9162 §2.1): hashing, an incremental tree,
//! inclusion and consistency proofs and their verification.
//!
//! Leaf `N - 1` is the entry with seq `N`; its leaf data is the 32 raw bytes of that
//! entry's hash (see the crate docs, "Merkle tree").

use sha2::{Digest as _, Sha256};

use countersign_core::canonical::Digest;

/// A node or leaf hash of the tree: 32 raw SHA-256 bytes.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Why a tree could not be read, or a proof could not be made or does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    LeafOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked between sizes in the wrong order.
    #[error("tree size {first} is larger than tree size {second}")]
    SizesOutOfOrder { first: u64, second: u64 },
    /// The hash reader has no hash for a complete subtree the computation needs.
    #[error("no hash for the subtree at level {level}, index {index}: {reason}")]
    MissingNode {
        level: u8,
        index: u64,
        reason: String,
    },
    /// An inclusion proof does not lead from the leaf to the root.
    #[error("inclusion proof of leaf {index} in a tree of size {size} does not verify")]
    InclusionProofInvalid { index: u64, size: u64 },
    /// A consistency proof does not connect the two roots.
    #[error("consistency proof from tree size {first} to tree size {second} does not verify")]
    ConsistencyProofInvalid { first: u64, second: u64 },
    /// A digest is not `sha256:` followed by 64 lowercase hex characters.
    #[error("digest {got:?} is not sha256 followed by 64 lowercase hex characters")]
    MalformedDigest { got: String },
}

/// The leaf hash of some leaf data: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    // One hasher call over a stack buffer for the ledger's 32-byte leaves (hot in
    // verification); the general form for any other length.
    if let Ok(d) = <&[u8; 32]>::try_from(data) {
        let mut buf = [0u8; 33];
        buf[1..].copy_from_slice(d);
        return Sha256::digest(buf).into();
    }
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// The 32 raw bytes of a `sha256:<hex>` digest.
pub fn digest_bytes(d: &Digest) -> Result<Hash, MerkleError> {
    parse_digest(d.as_str()).ok_or_else(|| MerkleError::MalformedDigest {
        got: d.as_str().chars().take(80).collect(),
    })
}

/// The 32 raw bytes of a `sha256:` + 64 lowercase hex string, without allocating.
pub(crate) fn parse_digest(s: &str) -> Option<Hash> {
    let hex = s.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let hi = hex_val(pair[0])?;
        let lo = hex_val(pair[1])?;
        *o = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The leaf hash of the entry whose `hash` field is `entry_hash`.
pub fn entry_leaf_hash(entry_hash: &Digest) -> Result<Hash, MerkleError> {
    Ok(leaf_hash(&digest_bytes(entry_hash)?))
}

/// Reads hashes of complete subtrees of a tree: the subtree at `(level, index)` covers
/// leaves `index * 2^level .. (index + 1) * 2^level`; level 0 are the leaf hashes.
///
/// A store implements this over stored tiles ([`crate::TileHashReader`]); the proof and
/// root functions below only ask for subtrees that are complete within the tree size
/// they are given.
pub trait HashReader {
    /// The hash of the complete subtree at `(level, index)`.
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MerkleError>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        (**self).subtree(level, index)
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of the leaves `lo .. lo + n` where `lo` is a multiple of the largest power of two
/// not above `n`, as every range in the RFC 9162 recursion is.
fn range_hash<R: HashReader + ?Sized>(r: &R, lo: u64, n: u64) -> Result<Hash, MerkleError> {
    if n == 0 {
        return Ok(EMPTY_ROOT);
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return r.subtree(level, lo >> level);
    }
    let k = split(n);
    let left = range_hash(r, lo, k)?;
    let right = range_hash(r, lo + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree made of the first `size` leaves, read from `r`.
pub fn root_at<R: HashReader + ?Sized>(r: &R, size: u64) -> Result<Hash, MerkleError> {
    range_hash(r, 0, size)
}

/// The inclusion proof (RFC 9162 §2.1.3.1, `PATH`) of leaf `index` in the tree of `size`.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    r: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::LeafOutOfRange { index, size });
    }
    let mut out = Vec::with_capacity(64);
    path(r, index, 0, size, &mut out)?;
    Ok(out)
}

/// `PATH(m, D[lo : lo + n])`, appended to `out` leaf-side first.
fn path<R: HashReader + ?Sized>(
    r: &R,
    m: u64,
    lo: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(r, m, lo, k, out)?;
        out.push(range_hash(r, lo + k, n - k)?);
    } else {
        path(r, m - k, lo + k, n - k, out)?;
        out.push(range_hash(r, lo, k)?);
    }
    Ok(())
}

/// The consistency proof (RFC 9162 §2.1.4.1, `PROOF`) that the tree of size `first` is a
/// prefix of the tree of size `second`. Empty when `first` is 0 or equal to `second`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    r: &R,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if first > second {
        return Err(MerkleError::SizesOutOfOrder { first, second });
    }
    let mut out = Vec::with_capacity(64);
    if first > 0 {
        subproof(r, first, 0, second, true, &mut out)?;
    }
    Ok(out)
}

/// `SUBPROOF(m, D[lo : lo + n], b)`, appended to `out`.
fn subproof<R: HashReader + ?Sized>(
    r: &R,
    m: u64,
    lo: u64,
    n: u64,
    b: bool,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    if m == n {
        if !b {
            out.push(range_hash(r, lo, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(r, m, lo, k, b, out)?;
        out.push(range_hash(r, lo + k, n - k)?);
    } else {
        subproof(r, m - k, lo + k, n - k, false, out)?;
        out.push(range_hash(r, lo, k)?);
    }
    Ok(())
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2): leaf `index` with hash `leaf` is in
/// the tree of `size` with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::LeafOutOfRange { index, size });
    }
    let invalid = MerkleError::InclusionProofInvalid { index, size };
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(invalid);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && &r == root {
        Ok(())
    } else {
        Err(invalid)
    }
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of size `first` with root
/// `first_root` is a prefix of the tree of size `second` with root `second_root`.
///
/// Equal sizes need an empty proof and equal roots; size 0 (the empty tree, root
/// [`EMPTY_ROOT`]) is a prefix of every tree.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if first > second {
        return Err(MerkleError::SizesOutOfOrder { first, second });
    }
    let invalid = MerkleError::ConsistencyProofInvalid { first, second };
    if first == 0 {
        return if proof.is_empty() && first_root == &EMPTY_ROOT {
            Ok(())
        } else {
            Err(invalid)
        };
    }
    if first == second {
        return if proof.is_empty() && first_root == second_root {
            Ok(())
        } else {
            Err(invalid)
        };
    }
    let (start, rest) = if first.is_power_of_two() {
        (first_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return Err(invalid),
        }
    };
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if s_n == 0 {
            return Err(invalid);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if &fr == first_root && &sr == second_root && s_n == 0 {
        Ok(())
    } else {
        Err(invalid)
    }
}

/// An append-only tree that keeps only its frontier: the roots of its maximal complete
/// subtrees, O(log n) hashes. Enough to compute the root after every push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    /// Roots of the complete subtrees, largest (leftmost) first.
    frontier: Vec<Hash>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            // INVARIANT: one frontier hash per set bit of `size`, so there is one to pop.
            let Some(left) = self.frontier.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.frontier.push(h);
        self.size += 1;
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash (RFC 9162 `MTH`) of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.frontier.iter().rev();
        let Some(last) = it.next() else {
            return EMPTY_ROOT;
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// A whole tree in memory: every level of complete-subtree hashes (about 2n hashes).
/// Serves proofs and roots at every size up to its own; for tests and small logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[l][i]` is the subtree at `(l, i)`; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree over these leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut t = Self::new();
        for leaf in leaves {
            t.push(leaf);
        }
        t
    }

    /// Appends a leaf hash, completing the subtrees it closes.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(h);
            let n = row.len();
            if n % 2 == 1 {
                return;
            }
            h = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        // INVARIANT: every complete subtree of the current size is stored.
        root_at(self, self.size()).unwrap_or(EMPTY_ROOT)
    }
}

impl HashReader for MemoryTree {
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or_else(|| MerkleError::MissingNode {
                level,
                index,
                reason: format!("the tree has {} leaves", self.size()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 test vectors' leaves (the Go and Trillian suites use the same).
    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// The reference MTH straight from the RFC's recursive definition.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => EMPTY_ROOT,
            1 => d[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(Tree::new().root(), EMPTY_ROOT);
        assert_eq!(MemoryTree::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn rfc6962_leaf_and_node_vectors() {
        // From RFC 6962's reference test data (certificate-transparency-go merkletree).
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let tree = MemoryTree::from_leaves(
            [
                &b""[..],
                &[0x00],
                &[0x10],
                &[0x20, 0x21],
                &[0x30, 0x31],
                &[0x40, 0x41, 0x42, 0x43],
                &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
                &[
                    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c,
                    0x6d, 0x6e, 0x6f,
                ],
            ]
            .map(leaf_hash),
        );
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (i, want) in roots.iter().enumerate() {
            assert_eq!(hex::encode(root_at(&tree, i as u64 + 1).unwrap()), *want);
        }
    }

    #[test]
    fn frontier_tree_matches_the_definition_at_every_size() {
        let all = leaves(70);
        let mut t = Tree::new();
        for (i, leaf) in all.iter().enumerate() {
            t.push(*leaf);
            assert_eq!(t.size(), i as u64 + 1);
            assert_eq!(t.root(), mth(&all[..=i]), "size {}", i + 1);
        }
        let mem = MemoryTree::from_leaves(all.clone());
        for n in 0..=70 {
            assert_eq!(root_at(&mem, n).unwrap(), mth(&all[..n as usize]));
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other() {
        let all = leaves(33);
        let mem = MemoryTree::from_leaves(all.clone());
        for size in 1..=33u64 {
            let root = root_at(&mem, size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&mem, index, size).unwrap();
                let leaf = &all[index as usize];
                verify_inclusion(index, size, leaf, &proof, &root).unwrap();
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
                if size > 1 {
                    let wrong_index = (index + 1) % size;
                    assert!(
                        verify_inclusion(wrong_index, size, leaf, &proof, &root).is_err()
                            || all[wrong_index as usize] == *leaf
                    );
                    let mut short = proof.clone();
                    short.pop();
                    assert!(verify_inclusion(index, size, leaf, &short, &root).is_err());
                }
                let mut long = proof.clone();
                long.push(EMPTY_ROOT);
                assert!(verify_inclusion(index, size, leaf, &long, &root).is_err());
            }
        }
        assert_eq!(
            inclusion_proof(&mem, 5, 5).unwrap_err(),
            MerkleError::LeafOutOfRange { index: 5, size: 5 }
        );
    }

    #[test]
    fn every_consistency_proof_verifies_and_no_other() {
        let all = leaves(33);
        let mem = MemoryTree::from_leaves(all.clone());
        for second in 0..=33u64 {
            let r2 = root_at(&mem, second).unwrap();
            for first in 0..=second {
                let r1 = root_at(&mem, first).unwrap();
                let proof = consistency_proof(&mem, first, second).unwrap();
                verify_consistency(first, second, &r1, &r2, &proof).unwrap();
                if first > 0 && first < second {
                    let bad = leaf_hash(b"bad");
                    assert!(verify_consistency(first, second, &bad, &r2, &proof).is_err());
                    assert!(verify_consistency(first, second, &r1, &bad, &proof).is_err());
                    for i in 0..proof.len() {
                        let mut p = proof.clone();
                        p[i][0] ^= 1;
                        assert!(verify_consistency(first, second, &r1, &r2, &p).is_err());
                    }
                    let mut long = proof.clone();
                    long.push(EMPTY_ROOT);
                    assert!(verify_consistency(first, second, &r1, &r2, &long).is_err());
                }
            }
        }
        assert_eq!(
            consistency_proof(&mem, 4, 3).unwrap_err(),
            MerkleError::SizesOutOfOrder {
                first: 4,
                second: 3
            }
        );
    }

    #[test]
    fn digests_parse_to_their_bytes() {
        let d = Digest::of(b"x");
        assert_eq!(hex::encode(digest_bytes(&d).unwrap()), d.hex());
        assert_eq!(parse_digest("sha256:00"), None);
        assert_eq!(parse_digest(&format!("sha256:{}", "A".repeat(64))), None);
        assert_eq!(parse_digest(&format!("sha512:{}", "a".repeat(64))), None);
    }

    #[test]
    fn memory_tree_reports_missing_nodes() {
        let mem = MemoryTree::from_leaves(leaves(3));
        assert!(matches!(
            mem.subtree(1, 1),
            Err(MerkleError::MissingNode {
                level: 1,
                index: 1,
                ..
            })
        ));
        assert!(root_at(&mem, 4).is_err());
    }

    #[test]
    fn known_answer_tree_and_proofs() {
        // Seven leaves whose data are 32 bytes of 0x00, 0x01, ... 0x06 (as entry hashes
        // are 32 bytes); the crate docs quote these and a Python recipe reproducing them.
        let mem = MemoryTree::from_leaves((0u8..7).map(|i| leaf_hash(&[i; 32])));
        let hexes = |v: Vec<Hash>| v.iter().map(hex::encode).collect::<Vec<_>>();
        assert_eq!(
            hex::encode(mem.root()),
            "7318881c41fce3c1de3640df8e8c110c93f43f686b74204a9d1ad5b8c71c2047"
        );
        assert_eq!(
            hex::encode(root_at(&mem, 3).unwrap()),
            "ba8d94b7fbcecae7b81c4c80574fe24734a6917bf9c1ecd66ff3e0c34ead4620"
        );
        assert_eq!(
            hex::encode(mem.leaves()[3]),
            "acaa04663a8547a2f70c60cc18f9378796b13c4f9a08f70d6adae662365b30c6"
        );
        assert_eq!(
            hexes(inclusion_proof(&mem, 3, 7).unwrap()),
            [
                "cba8c596120bdb69debbd923d92cba948bde7c7d06a465a1bb7d98d3116038fa",
                "28fb81e496897e0ce886f08602392e9239b65c659041e5202163e58ad898f444",
                "1f3f95843413191fe7521996b6b1e4147d703b1702c475a478ad25a6f6b415b4",
            ]
        );
        assert_eq!(
            hexes(consistency_proof(&mem, 3, 7).unwrap()),
            [
                "cba8c596120bdb69debbd923d92cba948bde7c7d06a465a1bb7d98d3116038fa",
                "acaa04663a8547a2f70c60cc18f9378796b13c4f9a08f70d6adae662365b30c6",
                "28fb81e496897e0ce886f08602392e9239b65c659041e5202163e58ad898f444",
                "1f3f95843413191fe7521996b6b1e4147d703b1702c475a478ad25a6f6b415b4",
            ]
        );
    }
}
