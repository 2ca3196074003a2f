//! The log as C2SP tlog-tiles: tile coordinates and paths, which tiles a tree size has,
//! tile and entry-bundle contents, and a [`HashReader`] backed by tiles.
//!
//! Tiles have height 8: a tile at level `L` holds up to 256 consecutive hashes of tree
//! level `8L` (level 0 tiles hold leaf hashes). See the crate docs, "Tiles".

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::merkle::{node_hash, Hash, HashReader, MerkleError};

/// The height of every tile: a full tile holds `2^8` hashes.
pub const TILE_HEIGHT: u8 = 8;

/// The width of a full tile (and of a full entry bundle).
pub const TILE_WIDTH: u16 = 256;

/// One tile: `width` hashes of tree level `8 * level`, starting at hash
/// `index * 256` of that level. Width 256 is a full tile, less a partial one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    /// The tile level `L` (tree level `8L`).
    pub level: u8,
    /// The tile index `N` within its level.
    pub index: u64,
    /// How many hashes it holds, 1 to 256.
    pub width: u16,
}

impl TileId {
    /// The tile's path under the log's prefix: `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut out = format!("tile/{}/", self.level);
        push_index(&mut out, self.index);
        push_partial(&mut out, self.width);
        out
    }

    /// Reads a path written by [`TileId::path`] (not the entries path).
    pub fn from_path(path: &str) -> Result<Self, TileError> {
        let bad = || TileError::BadPath {
            path: path.chars().take(120).collect(),
        };
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (level, rest) = rest.split_once('/').ok_or_else(bad)?;
        let level: u8 = parse_small(level).ok_or_else(bad)?;
        if level > 63 {
            return Err(bad());
        }
        let (index, width) = parse_index_width(rest).ok_or_else(bad)?;
        Ok(Self {
            level,
            index,
            width,
        })
    }

    /// How many bytes the tile holds: 32 per hash.
    pub fn len_bytes(&self) -> usize {
        usize::from(self.width) * 32
    }
}

/// One entry bundle: `width` entries from entry `index * 256` (entry index = leaf index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleId {
    /// The bundle index `N`.
    pub index: u64,
    /// How many entries it holds, 1 to 256.
    pub width: u16,
}

impl BundleId {
    /// The bundle's path under the log's prefix: `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut out = String::from("tile/entries/");
        push_index(&mut out, self.index);
        push_partial(&mut out, self.width);
        out
    }

    /// Reads a path written by [`BundleId::path`].
    pub fn from_path(path: &str) -> Result<Self, TileError> {
        let bad = || TileError::BadPath {
            path: path.chars().take(120).collect(),
        };
        let rest = path.strip_prefix("tile/entries/").ok_or_else(bad)?;
        let (index, width) = parse_index_width(rest).ok_or_else(bad)?;
        Ok(Self { index, width })
    }
}

/// Why a tile path, tile or bundle could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The path is not a tile or entry bundle path.
    #[error("{path:?} is not a tlog-tiles tile or entry bundle path")]
    BadPath { path: String },
    /// A tile's bytes are not its width times 32.
    #[error("tile {path} must be {expected} bytes, got {got}")]
    TileLength {
        path: String,
        expected: usize,
        got: usize,
    },
    /// An entry bundle is cut off or has an entry of the wrong length.
    #[error("entry bundle is malformed at byte {offset}")]
    BundleMalformed { offset: usize },
}

/// Appends `N` as three-digit groups, all but the last prefixed with `x`:
/// 1234067 is `x001/x234/067`.
fn push_index(out: &mut String, n: u64) {
    let mut groups = [0u16; 7];
    let mut count = 0;
    let mut rest = n;
    loop {
        groups[count] = (rest % 1000) as u16;
        count += 1;
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    for (i, g) in groups[..count].iter().rev().enumerate() {
        if i + 1 < count {
            let _ = write!(out, "x{g:03}/");
        } else {
            let _ = write!(out, "{g:03}");
        }
    }
}

fn push_partial(out: &mut String, width: u16) {
    if width < TILE_WIDTH {
        let _ = write!(out, ".p/{width}");
    }
}

/// A decimal without sign or leading zeros (except `0` itself).
fn parse_small<T: std::str::FromStr>(s: &str) -> Option<T> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Reads `x001/x234/067[.p/<W>]`.
fn parse_index_width(s: &str) -> Option<(u64, u16)> {
    let (index_part, width) = match s.split_once(".p/") {
        Some((i, w)) => {
            let w: u16 = parse_small(w)?;
            if w == 0 || w >= TILE_WIDTH {
                return None;
            }
            (i, w)
        }
        None => (s, TILE_WIDTH),
    };
    let parts: Vec<&str> = index_part.split('/').collect();
    let (last, init) = parts.split_last()?;
    let mut n: u64 = 0;
    for (i, part) in init.iter().enumerate() {
        let digits = part.strip_prefix('x')?;
        let g = three_digits(digits)?;
        // No leading `x000` group: the encoding is unique.
        if i == 0 && g == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(g)?;
    }
    n = n.checked_mul(1000)?.checked_add(three_digits(last)?)?;
    Some((n, width))
}

fn three_digits(s: &str) -> Option<u64> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Every tile of the tree of `size`: full tiles and the one partial tile per level, in
/// level then index order. A static server serves all of them; full tiles never change.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut level: u8 = 0;
    loop {
        let count = hashes_at_tile_level(size, level);
        if count == 0 {
            return out;
        }
        for index in 0..count / u64::from(TILE_WIDTH) {
            out.push(TileId {
                level,
                index,
                width: TILE_WIDTH,
            });
        }
        let rem = (count % u64::from(TILE_WIDTH)) as u16;
        if rem > 0 {
            out.push(TileId {
                level,
                index: count / u64::from(TILE_WIDTH),
                width: rem,
            });
        }
        level += 1;
    }
}

/// The tile that holds tree hash `(8 * level, hash_index)` in the tree of `size`,
/// partial when the tree does not fill it. `None` when the tree has no such hash.
pub fn tile_for(size: u64, level: u8, hash_index: u64) -> Option<TileId> {
    let count = hashes_at_tile_level(size, level);
    if hash_index >= count {
        return None;
    }
    let index = hash_index / u64::from(TILE_WIDTH);
    let start = index * u64::from(TILE_WIDTH);
    let width = (count - start).min(u64::from(TILE_WIDTH)) as u16;
    Some(TileId {
        level,
        index,
        width,
    })
}

/// The entry bundles of a log of `size` entries, in order.
pub fn bundles_for_size(size: u64) -> Vec<BundleId> {
    let w = u64::from(TILE_WIDTH);
    let mut out: Vec<BundleId> = (0..size / w)
        .map(|index| BundleId {
            index,
            width: TILE_WIDTH,
        })
        .collect();
    let rem = (size % w) as u16;
    if rem > 0 {
        out.push(BundleId {
            index: size / w,
            width: rem,
        });
    }
    out
}

/// How many complete hashes tree level `8 * level` has in a tree of `size`.
fn hashes_at_tile_level(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// A tile's contents: its hashes concatenated, read from `r`.
pub fn tile_data<R: HashReader + ?Sized>(r: &R, tile: TileId) -> Result<Vec<u8>, MerkleError> {
    let tree_level =
        tile.level
            .checked_mul(TILE_HEIGHT)
            .ok_or_else(|| MerkleError::MissingNode {
                level: u8::MAX,
                index: tile.index,
                reason: format!("tile {} is above the top of any tree", tile.path()),
            })?;
    let start = tile.index * u64::from(TILE_WIDTH);
    let mut out = Vec::with_capacity(tile.len_bytes());
    for i in 0..u64::from(tile.width) {
        out.extend_from_slice(&r.subtree(tree_level, start + i)?);
    }
    Ok(out)
}

/// An entry bundle: each entry as a big-endian u16 length and its bytes. The ledger's
/// bundle entries are the 32 raw bytes of each entry's hash (the leaf data).
pub fn entry_bundle(entry_hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry_hashes.len() * 34);
    for h in entry_hashes {
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(h);
    }
    out
}

/// Splits an entry bundle into its entries.
pub fn parse_entry_bundle(data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let malformed = TileError::BundleMalformed { offset: at };
        let len = data.get(at..at + 2).ok_or(malformed.clone())?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let entry = data.get(at + 2..at + 2 + len).ok_or(malformed)?;
        out.push(entry);
        at += 2 + len;
    }
    Ok(out)
}

/// Reads tiles from storage or a tile server.
pub trait TileReader {
    /// The bytes of one tile, as written by [`tile_data`].
    fn read_tile(&self, tile: TileId) -> Result<Vec<u8>, MerkleError>;
}

/// A [`HashReader`] over the tiles of a tree of known size.
///
/// It does not check the tiles against a root: the root or proof computed from them
/// must be checked against a signed checkpoint, which fails if any tile hash is wrong.
#[derive(Clone, Debug)]
pub struct TileHashReader<T> {
    size: u64,
    tiles: T,
}

impl<T: TileReader> TileHashReader<T> {
    /// Reads the tree of `size` from `tiles`.
    pub fn new(size: u64, tiles: T) -> Self {
        Self { size, tiles }
    }
}

impl<T: TileReader> HashReader for TileHashReader<T> {
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        let missing = |reason: String| MerkleError::MissingNode {
            level,
            index,
            reason,
        };
        let tile_level = level / TILE_HEIGHT;
        let within = level % TILE_HEIGHT;
        // The subtree is the 2^within hashes of tree level 8 * tile_level from `first`.
        let count = 1u64 << within;
        let last = index
            .checked_mul(count)
            .and_then(|first| first.checked_add(count - 1))
            .ok_or_else(|| missing("index out of range".into()))?;
        let first = last - (count - 1);
        let tile = tile_for(self.size, tile_level, last)
            .ok_or_else(|| missing(format!("not complete in a tree of size {}", self.size)))?;
        let data = self.tiles.read_tile(tile)?;
        if data.len() != tile.len_bytes() {
            return Err(missing(format!(
                "tile {} has {} bytes, expected {}",
                tile.path(),
                data.len(),
                tile.len_bytes()
            )));
        }
        let offset = (first - tile.index * u64::from(TILE_WIDTH)) as usize;
        let mut row: Vec<Hash> = data[offset * 32..(offset + count as usize) * 32]
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        while row.len() > 1 {
            row = row
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        row.pop().ok_or_else(|| missing("empty tile".into()))
    }
}

/// The tiles a computation over the tree of `size` reads through a [`TileHashReader`].
///
/// Which nodes a root or proof needs depends only on sizes and indexes, never on hash
/// values, so running `compute` against a reader that records what it is asked for
/// (and answers zeros) finds them. A store with asynchronous IO fetches these tiles,
/// then runs the computation again over a [`TileHashReader`] backed by them.
pub fn tiles_needed<T>(size: u64, compute: impl FnOnce(&dyn HashReader) -> T) -> Vec<TileId> {
    let recorder = Recorder {
        size,
        seen: RefCell::new(BTreeSet::new()),
    };
    let _ = compute(&recorder);
    recorder.seen.into_inner().into_iter().collect()
}

/// Records the tiles each subtree read would load.
struct Recorder {
    size: u64,
    seen: RefCell<BTreeSet<TileId>>,
}

impl HashReader for Recorder {
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        let count = 1u64 << (level % TILE_HEIGHT);
        let last = index
            .checked_mul(count)
            .and_then(|first| first.checked_add(count - 1));
        if let Some(tile) = last.and_then(|l| tile_for(self.size, level / TILE_HEIGHT, l)) {
            self.seen.borrow_mut().insert(tile);
        }
        Ok([0; 32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, inclusion_proof, leaf_hash, root_at, MemoryTree};
    use std::collections::BTreeMap;

    #[test]
    fn paths_match_the_spec_examples() {
        let t = |level, index, width| TileId {
            level,
            index,
            width,
        };
        assert_eq!(t(4, 1_234_067, 256).path(), "tile/4/x001/x234/067");
        assert_eq!(t(4, 1_234_067, 1).path(), "tile/4/x001/x234/067.p/1");
        assert_eq!(t(0, 0, 256).path(), "tile/0/000");
        assert_eq!(t(0, 1000, 7).path(), "tile/0/x001/000.p/7");
        assert_eq!(
            BundleId {
                index: 1_234_067,
                width: 256
            }
            .path(),
            "tile/entries/x001/x234/067"
        );
        for tile in [t(4, 1_234_067, 1), t(0, 0, 256), t(63, u64::MAX, 255)] {
            assert_eq!(TileId::from_path(&tile.path()).unwrap(), tile);
        }
        for bad in [
            "tile/0/1",
            "tile/0/x000/001",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/0/001.p/01",
            "tile/64/001",
            "tile/00/001",
            "tile/entries/001",
            "tile/0/001/",
        ] {
            assert!(TileId::from_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BundleId::from_path("tile/entries/x001/002.p/3").unwrap(),
            BundleId {
                index: 1002,
                width: 3
            }
        );
    }

    #[test]
    fn tiles_cover_a_tree() {
        assert!(tiles_for_size(0).is_empty());
        let paths: Vec<String> = tiles_for_size(70_000).iter().map(TileId::path).collect();
        // 70000 = 273 full level-0 tiles + 112; 273 level-8 hashes = 1 full + 17; 1 at level 16.
        assert_eq!(paths.len(), 273 + 1 + 1 + 1 + 1);
        assert_eq!(paths[272], "tile/0/272");
        assert_eq!(paths[273], "tile/0/273.p/112");
        assert_eq!(paths[274], "tile/1/000");
        assert_eq!(paths[275], "tile/1/001.p/17");
        assert_eq!(paths[276], "tile/2/000.p/1");
        assert_eq!(bundles_for_size(513).len(), 3);
        assert_eq!(bundles_for_size(513)[2].width, 1);
    }

    struct Mem(BTreeMap<String, Vec<u8>>);
    impl TileReader for Mem {
        fn read_tile(&self, tile: TileId) -> Result<Vec<u8>, MerkleError> {
            self.0
                .get(&tile.path())
                .cloned()
                .ok_or(MerkleError::MissingNode {
                    level: tile.level,
                    index: tile.index,
                    reason: "no such tile".into(),
                })
        }
    }

    #[test]
    fn a_tree_read_from_its_tiles_has_the_same_roots_and_proofs() {
        for size in [1u64, 255, 256, 257, 1000, 65_536 + 300] {
            let mem = MemoryTree::from_leaves((0..size).map(|i| leaf_hash(&i.to_le_bytes())));
            let tiles: BTreeMap<String, Vec<u8>> = tiles_for_size(size)
                .into_iter()
                .map(|t| (t.path(), tile_data(&mem, t).unwrap()))
                .collect();
            let reader = TileHashReader::new(size, Mem(tiles));
            assert_eq!(root_at(&reader, size).unwrap(), mem.root(), "size {size}");
            for index in [0, size / 2, size - 1] {
                assert_eq!(
                    inclusion_proof(&reader, index, size).unwrap(),
                    inclusion_proof(&mem, index, size).unwrap()
                );
            }
        }
    }

    #[test]
    fn entry_bundles_round_trip() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let data = entry_bundle(&[a, b]);
        assert_eq!(data.len(), 68);
        assert_eq!(&data[..2], &[0, 32]);
        assert_eq!(parse_entry_bundle(&data).unwrap(), vec![&a[..], &b[..]]);
        assert_eq!(
            parse_entry_bundle(&data[..67]).unwrap_err(),
            TileError::BundleMalformed { offset: 34 }
        );
    }

    #[test]
    fn the_tiles_a_proof_needs_are_enough_to_make_it() {
        let size = 70_000u64;
        let mem = MemoryTree::from_leaves((0..size).map(|i| leaf_hash(&i.to_le_bytes())));
        for (index, first) in [(0u64, 1u64), (12_345, 40_000), (69_999, 69_999)] {
            let needed = tiles_needed(size, |r| {
                let _ = inclusion_proof(r, index, size);
                let _ = consistency_proof(r, first, size);
                let _ = root_at(r, size);
            });
            assert!(needed.len() <= 12, "{needed:?}");
            let only: BTreeMap<String, Vec<u8>> = needed
                .iter()
                .map(|t| (t.path(), tile_data(&mem, *t).unwrap()))
                .collect();
            let reader = TileHashReader::new(size, Mem(only));
            assert_eq!(
                inclusion_proof(&reader, index, size).unwrap(),
                inclusion_proof(&mem, index, size).unwrap()
            );
            assert_eq!(
                consistency_proof(&reader, first, size).unwrap(),
                consistency_proof(&mem, first, size).unwrap()
            );
            assert_eq!(root_at(&reader, size).unwrap(), mem.root());
        }
    }
}
