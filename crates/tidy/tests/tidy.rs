//! Tidy: structural rules of the source tree that a reviewer would otherwise have to
//! remember (STYLE.md, "Lints"), kept by reading the files, as rust-analyzer's
//! `xtask/src/tidy.rs` does. No dependencies: a small lexer that blanks comments and
//! literals, enough of Rust's paths to follow `use`, and Tarjan's algorithm.
//!
//! - `every_source_file_has_a_module_doc`: every `.rs` file under `crates/*/src` and
//!   `bench/src` starts with a `//!` module doc (after any `#![...]` attributes).
//! - `sql_stays_in_the_store`: no `sqlx` and no SQL statement in a string literal
//!   outside `crates/store/src`, except in the test files listed in [`SQL_ALLOWED`]; no
//!   crate but the store depends on sqlx outside its dev-dependencies.
//! - `no_new_module_cycles`: the file-level import graph of every crate target has no
//!   cycle beyond those in [`KNOWN_CYCLES`], and no entry there is out of date.
//! - `handlers_do_not_touch_the_store`: no transaction and no store call in
//!   `crates/server/src/api` or the console's pages (`crates/server/src/console`).
//!
//! Each detector has unit tests on small in-memory examples (`mod detectors`), one that
//! must be flagged and one that must not, so no rule can pass by finding nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------
// Rule c: the cycles that exist today

/// The cycles of the file-level import graph that are tolerated: each entry is the
/// sorted files of one strongly connected component. Issue 11 removed the last one;
/// the list stays empty.
///
/// A component found in the tree passes when all its files are in one entry (a cycle
/// that shrinks is progress); any other component is a new cycle and fails. An entry
/// with no component left inside it fails too: delete it, so the list only shrinks.
/// Never add an entry; break the new cycle instead.
const KNOWN_CYCLES: &[&[&str]] = &[];

// ---------------------------------------------------------------------------------
// Rule b: who may talk SQL to the database

/// Test files outside `crates/store/src` that may hold SQL: each damages the database
/// behind the store's back on purpose. A path ending in `/` allows a directory.
const SQL_ALLOWED: &[(&str, &str)] = &[
    (
        "crates/store/tests/",
        "the store's own suite: migration tests edit schema_migrations and drop tables",
    ),
    (
        "crates/cli/tests/ledger_verify.rs",
        "edits, deletes and reorders ledger rows so `ledger verify --db` must catch it",
    ),
    (
        "crates/server/tests/api/harness.rs",
        "installs a failing trigger on ledger_entries (fault injection: no state change \
         without its ledger entry)",
    ),
];

/// Members whose files the SQL rule does not read: the tidy check's own examples hold
/// SQL and `sqlx` on purpose.
const SQL_SKIPPED_MEMBERS: &[&str] = &["crates/tidy"];

// ---------------------------------------------------------------------------------
// The checks

#[test]
fn every_source_file_has_a_module_doc() {
    let root = workspace();
    let mut missing = Vec::new();
    for member in members(&root) {
        for file in rust_files(&root, &format!("{member}/src")) {
            if !has_module_doc(&read(&root, &file)) {
                missing.push(file);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not start with a `//!` module doc saying what the module is for:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn sql_stays_in_the_store() {
    let root = workspace();
    let mut found = Vec::new();
    for member in members(&root) {
        if SQL_SKIPPED_MEMBERS.contains(&member.as_str()) {
            continue;
        }
        for sub in ["src", "tests", "benches", "examples"] {
            let dir = format!("{member}/{sub}");
            if dir == "crates/store/src" {
                continue;
            }
            for file in rust_files(&root, &dir) {
                if SQL_ALLOWED
                    .iter()
                    .any(|(allowed, _)| allowed_path(allowed, &file))
                {
                    continue;
                }
                for (line, what) in sql_findings(&read(&root, &file)) {
                    found.push(format!("{file}:{line}: {what}"));
                }
            }
        }
        if member != "crates/store" {
            let manifest = format!("{member}/Cargo.toml");
            for line in sqlx_dependencies(&read(&root, &manifest)) {
                found.push(format!(
                    "{manifest}:{line}: sqlx outside [dev-dependencies]"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside crates/store/src (only the store knows sqlx; move the query into a \
         store method, or, for a test that must damage the database behind the store's \
         back, add the file to SQL_ALLOWED with the reason):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn no_new_module_cycles() {
    let root = workspace();
    let files = all_source_files(&root);
    let mut found: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for member in members(&root) {
        for target_root in target_roots(&root, &member) {
            let graph = Graph::build(&target_root, &files);
            for scc in graph.cycles() {
                let report = graph.describe(&scc);
                found.entry(scc).or_insert(report);
            }
        }
    }
    let (new, stale) = judge(&found, KNOWN_CYCLES);
    let all: Vec<&String> = found.values().collect();
    assert!(
        new.is_empty() && stale.is_empty(),
        "module import cycles changed.\n\nNew cycles (break them: move what both sides \
         need into a leaf module):\n{}\nKNOWN_CYCLES entries that no longer exist \
         (delete them):\n  {}\n\nEvery cycle in the graph today:\n{}",
        join_or_none(&new),
        if stale.is_empty() {
            "(none)".to_owned()
        } else {
            stale.join("\n  ")
        },
        join_or_none(&all),
    );
}

#[test]
fn handlers_do_not_touch_the_store() {
    let root = workspace();
    let mut found = Vec::new();
    for dir in ["crates/server/src/api", "crates/server/src/console"] {
        for file in rust_files(&root, dir) {
            for (line, what) in store_access(&read(&root, &file)) {
                found.push(format!("{file}:{line}: {what}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "handlers open transactions or call the store (a handler extracts, calls one \
         application function and maps the result; the unit of work belongs to app/):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_wire_contract_depends_on_core_only() {
    // The CLI and any client read and write `countersign-api`; it must not pull in the
    // store, the server, axum or sqlx.
    const ALLOWED: &[&str] = &[
        "countersign-core",
        "serde",
        "serde_json",
        "chrono",
        "utoipa",
    ];
    let root = workspace();
    let manifest = read(&root, "crates/api/Cargo.toml");
    let extra: Vec<String> = runtime_dependencies(&manifest)
        .into_iter()
        .filter(|d| !ALLOWED.contains(&d.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "crates/api depends on {extra:?}; the wire contract may depend on {ALLOWED:?} only"
    );
}

#[test]
fn the_mcp_gateway_is_a_client_of_the_server() {
    // The gateway is a policy enforcement point: it asks the server over HTTP and
    // never reaches past it into the store, the server's code or the database.
    const FORBIDDEN: &[&str] = &[
        "countersign-store",
        "countersign-server",
        "countersign-policy",
        "countersign-ledger",
        "sqlx",
        "axum",
    ];
    let root = workspace();
    let manifest = read(&root, "crates/mcp/Cargo.toml");
    let found: Vec<String> = runtime_dependencies(&manifest)
        .into_iter()
        .filter(|d| FORBIDDEN.contains(&d.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "crates/mcp depends on {found:?}; the MCP gateway is a client of the server's API and \
         may not depend on {FORBIDDEN:?}"
    );
}

/// The names of a manifest's `[dependencies]` (not dev or build dependencies).
fn runtime_dependencies(manifest: &str) -> Vec<String> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            if let Some(name) = section.strip_prefix("dependencies.") {
                out.push(name.to_owned());
            }
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        if section == "dependencies" && !key.is_empty() && !key.starts_with('#') {
            out.push(key.to_owned());
        }
    }
    out
}

/// The found components (with their reports) that lie in no known entry, and the known
/// entries with no found component inside them.
fn judge<'f>(
    found: &'f BTreeMap<Vec<String>, String>,
    known: &[&[&str]],
) -> (Vec<&'f String>, Vec<String>) {
    let within = |scc: &[String], k: &[&str]| scc.iter().all(|f| k.contains(&f.as_str()));
    let new = found
        .iter()
        .filter(|(scc, _)| !known.iter().any(|k| within(scc, k)))
        .map(|(_, report)| report)
        .collect();
    let stale = known
        .iter()
        .filter(|k| !found.keys().any(|scc| within(scc, k)))
        .map(|k| k.join(", "))
        .collect();
    (new, stale)
}

fn join_or_none(reports: &[&String]) -> String {
    if reports.is_empty() {
        return "  (none)\n".to_owned();
    }
    reports.iter().map(|r| r.as_str()).collect()
}

// ---------------------------------------------------------------------------------
// The tree

/// The workspace root: two levels above this crate.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `p` relative to `root`, with `/` separators.
fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The workspace members: every `crates/<name>` with a manifest, and `bench`.
fn members(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| relative(root, &p))
        .collect();
    out.push("bench".to_owned());
    out.sort();
    out
}

/// Every `.rs` file under `dir` (relative to `root`), sorted.
fn rust_files(root: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(relative(root, &p));
            }
        }
    }
    out.sort();
    out
}

/// Every file under the members' `src`, by path.
fn all_source_files(root: &Path) -> BTreeMap<String, String> {
    members(root)
        .iter()
        .flat_map(|m| rust_files(root, &format!("{m}/src")))
        .map(|f| {
            let text = read(root, &f);
            (f, text)
        })
        .collect()
}

/// A member's crate roots: `src/lib.rs`, `src/main.rs`, `src/bin/*.rs` and the paths
/// of `[lib]` and `[[bin]]` sections in its manifest.
fn target_roots(root: &Path, member: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    for f in ["src/lib.rs", "src/main.rs"] {
        if root.join(member).join(f).is_file() {
            out.insert(format!("{member}/{f}"));
        }
    }
    let bin = format!("{member}/src/bin");
    for f in rust_files(root, &bin) {
        let inside = &f[bin.len() + 1..];
        if !inside.contains('/')
            || (inside.ends_with("/main.rs") && inside.matches('/').count() == 1)
        {
            out.insert(f);
        }
    }
    let manifest = read(root, &format!("{member}/Cargo.toml"));
    let mut section = String::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[lib]" || section == "[[bin]]" {
            if let Some(path) = line
                .strip_prefix("path")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
            {
                out.insert(format!("{member}/{}", path.trim().trim_matches('"')));
            }
        }
    }
    out.into_iter().collect()
}

/// Whether `file` is covered by an allowed path (a file, or a directory ending in `/`).
fn allowed_path(allowed: &str, file: &str) -> bool {
    if allowed.ends_with('/') {
        file.starts_with(allowed)
    } else {
        file == allowed
    }
}

// ---------------------------------------------------------------------------------
// Rule a: module docs

/// Whether the file's first line, after blank lines and `#![...]` attributes, is a
/// `//!` doc comment.
fn has_module_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with("#!["))
        .is_some_and(|l| l.starts_with("//!"))
}

// ---------------------------------------------------------------------------------
// Rule b: SQL

/// `sqlx` in the code (not in comments or strings) and string literals holding SQL
/// statements, with their lines.
fn sql_findings(text: &str) -> Vec<(usize, String)> {
    let lexed = lex(text);
    let mut out = Vec::new();
    for t in tokens(&lexed.code) {
        if t.tok == Tok::Ident("sqlx".to_owned()) {
            out.push((t.line, "uses sqlx".to_owned()));
        }
    }
    for s in &lexed.strings {
        if let Some(statement) = sql_statement(&s.text) {
            out.push((s.line, format!("a string literal holds {statement}")));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The kind of SQL statement `literal` holds, if any: `SELECT … FROM`, `INSERT INTO`,
/// `UPDATE … SET`, `DELETE FROM`, `CREATE TABLE`, `ALTER TABLE` or `DROP TABLE`.
/// Keywords count in capitals only, as this code base writes SQL, so prose such as
/// "select a file from the list" is not SQL.
fn sql_statement(literal: &str) -> Option<&'static str> {
    let words: Vec<&str> = literal
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let pair = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    if pair("INSERT", "INTO") {
        return Some("INSERT INTO");
    }
    if pair("DELETE", "FROM") {
        return Some("DELETE FROM");
    }
    if pair("CREATE", "TABLE") {
        return Some("CREATE TABLE");
    }
    if pair("ALTER", "TABLE") {
        return Some("ALTER TABLE");
    }
    if pair("DROP", "TABLE") {
        return Some("DROP TABLE");
    }
    if words.windows(3).any(|w| w[0] == "UPDATE" && w[2] == "SET") {
        return Some("UPDATE … SET");
    }
    let select = words.iter().position(|w| *w == "SELECT")?;
    words[select..].contains(&"FROM").then_some("SELECT … FROM")
}

/// Lines of a manifest that depend on sqlx outside `[dev-dependencies]`.
fn sqlx_dependencies(manifest: &str) -> Vec<usize> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, line) in manifest.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            // `[dependencies.sqlx]`
            if section.ends_with("dependencies.sqlx") && !section.contains("dev-dependencies") {
                out.push(i + 1);
            }
            continue;
        }
        let runtime = section == "dependencies"
            || section == "build-dependencies"
            || (section.starts_with("target.") && section.ends_with(".dependencies"));
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        if runtime && key == "sqlx" {
            out.push(i + 1);
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Rule d: handlers and the store

/// What in `text`'s code (not comments or strings) opens a transaction or touches the
/// store, with its line: `.store.`, `store.read()`, `store.write()`, `.commit()`, and
/// any method called on a transaction (`tx.name(`). A handler may hand the unit of
/// work's open transaction to an application function (`app::users::create(tx, …)`),
/// never use it itself. Whitespace between tokens is ignored, so a chain split over
/// lines is caught.
fn store_access(text: &str) -> Vec<(usize, &'static str)> {
    let code = lex(text).code;
    // The code without whitespace, each character with its line.
    let mut line = 1;
    let mut squeezed = Vec::new();
    for c in code.chars() {
        if c == '\n' {
            line += 1;
        } else if !c.is_whitespace() {
            squeezed.push((c, line));
        }
    }
    let chars: Vec<char> = squeezed.iter().map(|(c, _)| *c).collect();
    let patterns: [(&str, &str, bool); 4] = [
        // (needle without whitespace, as reported, must not continue an identifier)
        (".store.", ".store.", false),
        ("store.read()", "store.read()", false),
        ("store.write()", "store.write()", false),
        (".commit()", ".commit()", false),
    ];
    let mut out = Vec::new();
    // `tx.name(`: a method called on a transaction (`tx` a whole identifier).
    for start in 0..chars.len().saturating_sub(3) {
        if chars[start..start + 3] != ['t', 'x', '.']
            || (start > 0 && (is_ident(chars[start - 1]) || chars[start - 1] == '.'))
        {
            continue;
        }
        let name = chars[start + 3..]
            .iter()
            .take_while(|c| is_ident(**c))
            .count();
        if name > 0 && chars.get(start + 3 + name) == Some(&'(') {
            out.push((squeezed[start].1, "a call on a transaction (tx.…)"));
        }
    }
    for (needle, shown, whole) in patterns {
        let needle: Vec<char> = needle.chars().collect();
        for start in 0..chars.len().saturating_sub(needle.len() - 1) {
            if chars[start..start + needle.len()] != needle[..] {
                continue;
            }
            if whole
                && chars
                    .get(start + needle.len())
                    .is_some_and(|c| is_ident(*c))
            {
                continue;
            }
            // `store.read()` inside `.store.read()` is reported once, as `.store.`.
            if needle[0] == 's'
                && start > 0
                && (chars[start - 1] == '.' || is_ident(chars[start - 1]))
            {
                continue;
            }
            out.push((squeezed[start].1, shown));
        }
    }
    out.sort();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------
// Lexing

/// A file with comments and literals blanked out (newlines kept, so lines still
/// match), and its string literals.
struct Lexed {
    code: String,
    strings: Vec<Literal>,
}

struct Literal {
    line: usize,
    text: String,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Code being written, with the current line.
struct Out {
    code: String,
    line: usize,
}

impl Out {
    fn push(&mut self, c: char) {
        if c == '\n' {
            self.line += 1;
        }
        self.code.push(c);
    }

    /// Writes spaces for `chars`, keeping their newlines.
    fn blank(&mut self, chars: &[char]) {
        for &c in chars {
            self.push(if c == '\n' { '\n' } else { ' ' });
        }
    }
}

fn lex(text: &str) -> Lexed {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Out {
        code: String::with_capacity(text.len()),
        line: 1,
    };
    let mut strings = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && is_ident(chars[i - 1]);
        // Line comment.
        if c == '/' && next == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            out.blank(&chars[i..end]);
            i = end;
            continue;
        }
        // Block comment, nested.
        if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < chars.len() && depth > 0 {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            out.blank(&chars[i..j]);
            i = j;
            continue;
        }
        // Raw string: r"…", r#"…"#, br"…", cr#"…"#.
        if !after_ident && matches!(c, 'r' | 'b' | 'c') {
            if let Some((quote, hashes)) = raw_string_start(&chars, i) {
                let closing: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let end = (quote + 1..chars.len())
                    .find(|&j| chars[j..].starts_with(&closing))
                    .unwrap_or(chars.len());
                strings.push(Literal {
                    line: out.line,
                    text: chars[quote + 1..end].iter().collect(),
                });
                let stop = (end + closing.len()).min(chars.len());
                out.blank(&chars[i..stop]);
                i = stop;
                continue;
            }
        }
        // String.
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let end = j.min(chars.len());
            strings.push(Literal {
                line: out.line,
                text: chars[i + 1..end].iter().collect(),
            });
            let stop = (end + 1).min(chars.len());
            out.blank(&chars[i..stop]);
            i = stop;
            continue;
        }
        // Character literal (a lifetime or label is left as code).
        if c == '\'' {
            let end = if next == Some('\\') {
                (i + 3..chars.len()).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            if let Some(end) = end {
                out.blank(&chars[i..=end]);
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    Lexed {
        code: out.code,
        strings,
    }
}

/// At `i`, the start of a raw string (`r`, `br` or `cr`, hashes, a quote): the
/// position of its opening quote and the number of hashes.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if matches!(chars[j], 'b' | 'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((j + hashes, hashes))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Identifiers, `::` and punctuation of lexed code; numbers are dropped.
fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            // A raw identifier `r#name` is `name`.
            if c == 'r'
                && chars.get(i + 1) == Some(&'#')
                && chars
                    .get(i + 2)
                    .is_some_and(|c| c.is_alphabetic() || *c == '_')
            {
                i += 2;
            }
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                line,
            });
        } else if c.is_ascii_digit() {
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token {
                tok: Tok::Sep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Rule c: the module import graph
//
// One graph per crate target (a library, a binary): its files are the modules declared
// from the crate root with `mod x;` (x.rs, x/mod.rs, or, below a non-root file f.rs,
// f/x.rs). Test-only code is not part of it: `#[cfg(test)] mod x;` files and
// `#[cfg(test)] mod tests { … }` blocks are skipped.
//
// An edge a -> b means code in a names something in b: a `use` leaf or a path in
// code starting with `crate::`, `super::`, `self::` or a child module's name, mapped to
// the file of its longest module prefix. Rules, chosen so the graph shows what code
// needs rather than how names are exported:
// - A name used through a re-export leads to the file that defines it: when lib.rs
//   says `pub use error::StoreError`, `crate::StoreError` is an edge to error.rs, not to
//   lib.rs. Today 20 edges are such `crate::SomeReexport` paths into a root: 12 in the
//   ledger (checkpoint.rs, entry.rs and verify.rs naming `crate::Entry`, `Head`,
//   `GENESIS_SEQ`, `entry_hash`, `parse_time`, `LedgerError`, `LedgerPublicKey`,
//   `SignedHead`, `VerifyError`, `VerifyErrorKind`) and 8 in the store
//   (`crate::StoreError` in migrate, postgres, rows, sql/ledger, sql/mod, sqlite,
//   testing and time). Counted as edges to lib.rs, with lib.rs's `pub use` lines as
//   edges back, they would put those modules into one cycle with their lib.rs and the
//   graph would say nothing.
// - So a visible `use` (`pub`, `pub(crate)`, …) is a facade, not an edge, unless the
//   file's own code uses the name; a public glob (`pub use records::*`) is never one.
// - Items defined in a root are real dependencies on it and kept: the server's
//   `AppState`, the store's `Store` and `Tx`, the policy crate's `ActionSlot`, the CLI's
//   clap enums. The cycles they close are in KNOWN_CYCLES.
// - `mod x;` is not an edge: declaring a child is not using it.

/// One file of a target, scanned.
#[derive(Default)]
struct FileInfo {
    /// Its module path (`[]` for the crate root).
    module: Vec<String>,
    /// Names it defines (types, functions, constants, macros, statics).
    defs: BTreeSet<String>,
    /// `mod x;` declarations and whether each is `#[cfg(test)]`.
    children: Vec<(String, bool)>,
    /// Inline modules (not test-only), by full module path.
    inline: BTreeSet<Vec<String>>,
    imports: Vec<Import>,
    paths: Vec<PathRef>,
    /// How often each identifier occurs outside `use` declarations.
    used: BTreeMap<String, usize>,
}

/// One leaf of a `use` tree.
struct Import {
    /// The module (file or inline) the `use` is in.
    module: Vec<String>,
    /// The path as written, e.g. `crate gate Finding`.
    path: Vec<String>,
    /// The name it binds; `None` for a glob.
    name: Option<String>,
    public: bool,
    line: usize,
}

/// A path in code, e.g. `crate::app::decide::run`.
struct PathRef {
    module: Vec<String>,
    path: Vec<String>,
    line: usize,
}

const ITEM_KEYWORDS: &[&str] = &[
    "struct", "enum", "trait", "fn", "type", "const", "static", "union",
];
const KEYWORDS: &[&str] = &[
    "as", "async", "const", "crate", "dyn", "enum", "extern", "fn", "for", "impl", "mod", "move",
    "mut", "pub", "ref", "self", "Self", "static", "struct", "super", "trait", "type", "union",
    "unsafe", "use", "where",
];

fn ident(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn is(t: Option<&Token>, tok: &Tok) -> bool {
    t.is_some_and(|t| t.tok == *tok)
}

/// The index just past the bracket matching the one at `open`.
fn matching(toks: &[Token], open: usize, left: char, right: char) -> usize {
    let mut depth = 0;
    for (j, t) in toks.iter().enumerate().skip(open) {
        if t.tok == Tok::Punct(left) {
            depth += 1;
        } else if t.tok == Tok::Punct(right) {
            depth -= 1;
            if depth == 0 {
                return j + 1;
            }
        }
    }
    toks.len()
}

/// Whether the `use` at `i` has a visibility (`pub`, `pub(crate)`, …).
fn is_public(toks: &[Token], i: usize) -> bool {
    let Some(mut k) = i.checked_sub(1) else {
        return false;
    };
    if toks[k].tok == Tok::Punct(')') {
        let mut depth = 0;
        loop {
            match toks[k].tok {
                Tok::Punct(')') => depth += 1,
                Tok::Punct('(') => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            let Some(prev) = k.checked_sub(1) else {
                return false;
            };
            k = prev;
        }
        let Some(prev) = k.checked_sub(1) else {
            return false;
        };
        k = prev;
    }
    ident(toks.get(k)) == Some("pub")
}

/// The leaves of a `use` tree: each full path and the name it binds (`None` for `*`).
fn use_leaves(toks: &[Token]) -> Vec<(Vec<String>, Option<String>, usize)> {
    fn tree(
        toks: &[Token],
        pos: &mut usize,
        mut path: Vec<String>,
        out: &mut Vec<(Vec<String>, Option<String>, usize)>,
    ) {
        if is(toks.get(*pos), &Tok::Sep) {
            *pos += 1;
        }
        while let Some(t) = toks.get(*pos) {
            match &t.tok {
                Tok::Ident(s) => {
                    path.push(s.clone());
                    *pos += 1;
                    if is(toks.get(*pos), &Tok::Sep) {
                        *pos += 1;
                        continue;
                    }
                    if path.last().is_some_and(|s| s == "self") {
                        path.pop();
                    }
                    let mut name = path.last().cloned();
                    if ident(toks.get(*pos)) == Some("as") {
                        name = ident(toks.get(*pos + 1)).map(str::to_owned);
                        *pos += 2;
                    }
                    out.push((path, name, t.line));
                    return;
                }
                Tok::Punct('*') => {
                    *pos += 1;
                    out.push((path, None, t.line));
                    return;
                }
                Tok::Punct('{') => {
                    *pos += 1;
                    while *pos < toks.len() {
                        if is(toks.get(*pos), &Tok::Punct('}')) {
                            *pos += 1;
                            return;
                        }
                        let before = *pos;
                        tree(toks, pos, path.clone(), out);
                        if is(toks.get(*pos), &Tok::Punct(',')) {
                            *pos += 1;
                        }
                        if *pos == before {
                            *pos += 1;
                        }
                    }
                    return;
                }
                _ => return,
            }
        }
    }
    let mut out = Vec::new();
    let mut pos = 0;
    tree(toks, &mut pos, Vec::new(), &mut out);
    out
}

/// Scans one file whose module path is `module`.
fn scan(module: &[String], text: &str) -> FileInfo {
    let toks = tokens(&lex(text).code);
    let mut info = FileInfo {
        module: module.to_vec(),
        ..FileInfo::default()
    };
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut test_only = false;
    let mut in_use = vec![false; toks.len()];
    let current = |inline: &[(String, usize)]| -> Vec<String> {
        module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect()
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        match &t.tok {
            Tok::Punct('#') => {
                let open = if is(toks.get(i + 1), &Tok::Punct('!')) {
                    i + 2
                } else {
                    i + 1
                };
                if is(toks.get(open), &Tok::Punct('[')) {
                    let end = matching(&toks, open, '[', ']');
                    let inner: Vec<&Tok> = toks[open + 1..end - 1].iter().map(|t| &t.tok).collect();
                    if inner
                        == [
                            &Tok::Ident("cfg".into()),
                            &Tok::Punct('('),
                            &Tok::Ident("test".into()),
                            &Tok::Punct(')'),
                        ]
                    {
                        test_only = true;
                    }
                    i = end;
                    continue;
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    if is(toks.get(i + 2), &Tok::Punct(';')) {
                        info.children.push((name.to_owned(), test_only));
                        test_only = false;
                        i += 3;
                        continue;
                    }
                    if is(toks.get(i + 2), &Tok::Punct('{')) {
                        if test_only {
                            test_only = false;
                            i = matching(&toks, i + 2, '{', '}');
                            continue;
                        }
                        inline.push((name.to_owned(), depth));
                        info.inline.insert(current(&inline));
                        depth += 1;
                        i += 3;
                        continue;
                    }
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                let end = (i..toks.len())
                    .find(|&j| toks[j].tok == Tok::Punct(';'))
                    .unwrap_or(toks.len());
                let public = is_public(&toks, i);
                let leaves = if test_only {
                    Vec::new()
                } else {
                    use_leaves(&toks[i + 1..end])
                };
                for (path, name, line) in leaves {
                    info.imports.push(Import {
                        module: current(&inline),
                        path,
                        name,
                        public,
                        line,
                    });
                }
                in_use[i..end].iter_mut().for_each(|u| *u = true);
                test_only = false;
                i = end + 1;
                continue;
            }
            Tok::Ident(kw) if ITEM_KEYWORDS.contains(&kw.as_str()) => {
                if let Some(name) = ident(toks.get(i + 1)).filter(|n| !KEYWORDS.contains(n)) {
                    info.defs.insert(name.to_owned());
                }
            }
            Tok::Ident(kw) if kw == "macro_rules" => {
                if let Some(name) = ident(toks.get(i + 2)) {
                    info.defs.insert(name.to_owned());
                }
            }
            Tok::Ident(first) => {
                let starts_path = is(toks.get(i + 1), &Tok::Sep)
                    && !i
                        .checked_sub(1)
                        .and_then(|k| toks.get(k))
                        .is_some_and(|p| matches!(p.tok, Tok::Sep | Tok::Punct('$' | '.')));
                let here = current(&inline);
                let relative = matches!(first.as_str(), "crate" | "super" | "self")
                    || (inline.is_empty() && info.children.iter().any(|(c, _)| c == first))
                    || info
                        .inline
                        .contains(&[here.clone(), vec![first.clone()]].concat());
                if starts_path && relative {
                    let mut path = vec![first.clone()];
                    let mut j = i + 1;
                    while is(toks.get(j), &Tok::Sep) {
                        match ident(toks.get(j + 1)) {
                            Some(s) => path.push(s.to_owned()),
                            None => break,
                        }
                        j += 2;
                    }
                    info.paths.push(PathRef {
                        module: here,
                        path,
                        line: t.line,
                    });
                    i = j;
                    continue;
                }
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                test_only = false;
            }
            Tok::Punct(';') => test_only = false,
            _ => {}
        }
        i += 1;
    }
    for (t, in_use) in toks.iter().zip(in_use) {
        if let (Tok::Ident(s), false) = (&t.tok, in_use) {
            *info.used.entry(s.clone()).or_default() += 1;
        }
    }
    info
}

/// Where an edge was seen: the line and the path as written.
#[derive(Clone)]
struct Witness {
    line: usize,
    path: String,
}

/// The file-level import graph of one crate target.
struct Graph {
    /// Module path -> file.
    modules: BTreeMap<Vec<String>, String>,
    /// File -> scanned file.
    files: BTreeMap<String, FileInfo>,
    /// File -> file it names -> the first place it does.
    edges: BTreeMap<String, BTreeMap<String, Witness>>,
}

impl Graph {
    /// The graph of the target whose root is `root`, reading files from `sources`.
    fn build(root: &str, sources: &BTreeMap<String, String>) -> Graph {
        let mut graph = Graph {
            modules: BTreeMap::new(),
            files: BTreeMap::new(),
            edges: BTreeMap::new(),
        };
        let mut queue = VecDeque::from([(root.to_owned(), Vec::<String>::new())]);
        while let Some((file, module)) = queue.pop_front() {
            let Some(text) = sources.get(&file) else {
                continue;
            };
            if graph.files.contains_key(&file) {
                continue;
            }
            let info = scan(&module, text);
            let is_dir_owner = module.is_empty() || file.ends_with("/mod.rs");
            let dir = if is_dir_owner {
                file.rsplit_once('/').map_or("", |(d, _)| d).to_owned()
            } else {
                file.trim_end_matches(".rs").to_owned()
            };
            for (child, test_only) in &info.children {
                if *test_only {
                    continue;
                }
                let found = [format!("{dir}/{child}.rs"), format!("{dir}/{child}/mod.rs")]
                    .into_iter()
                    .find(|f| sources.contains_key(f));
                if let Some(f) = found {
                    let mut m = module.clone();
                    m.push(child.clone());
                    queue.push_back((f, m));
                }
            }
            graph.modules.insert(module, file.clone());
            graph.files.insert(file, info);
        }
        graph.connect();
        graph
    }

    /// `path` as written in `module` of `info`, made absolute (from the crate root);
    /// `None` for a path into another crate.
    fn absolute(info: &FileInfo, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        let mut out = match first.as_str() {
            "crate" => return Some(path[1..].to_vec()),
            "self" => return Some([module, &path[1..]].concat()),
            "super" => {
                let mut m = module.to_vec();
                let supers = path.iter().take_while(|s| *s == "super").count();
                for _ in 0..supers {
                    m.pop()?;
                }
                m.extend_from_slice(&path[supers..]);
                return Some(m);
            }
            _ => module.to_vec(),
        };
        let child_of_file =
            module == info.module.as_slice() && info.children.iter().any(|(c, _)| c == first);
        let inline = info.inline.contains(&[module, &path[..1]].concat());
        if !(child_of_file || inline) {
            return None;
        }
        out.extend_from_slice(path);
        Some(out)
    }

    /// Whether `file` defines `name` or binds it by an explicit `use`.
    fn provides(&self, file: &str, name: &str) -> bool {
        self.files.get(file).is_some_and(|f| {
            f.defs.contains(name)
                || f.imports
                    .iter()
                    .any(|i| i.module == f.module && i.name.as_deref() == Some(name))
        })
    }

    /// The file an absolute path leads to: the file of its longest module prefix, and,
    /// when the next name is re-exported there rather than defined, where the
    /// re-export leads.
    fn file_of(&self, abs: &[String], hops: usize) -> Option<String> {
        let (k, file) = (0..=abs.len())
            .rev()
            .find_map(|k| self.modules.get(&abs[..k]).map(|f| (k, f.clone())))?;
        if k == abs.len() || hops > 8 {
            return Some(file);
        }
        let info = &self.files[&file];
        let name = &abs[k];
        if info.defs.contains(name) || info.inline.contains(&abs[..=k]) {
            return Some(file);
        }
        let own = |i: &&Import| i.module == info.module;
        if let Some(import) = info
            .imports
            .iter()
            .filter(own)
            .find(|i| i.name.as_deref() == Some(name))
        {
            return match Self::absolute(info, &info.module, &import.path) {
                Some(target) => self
                    .file_of(&[target, abs[k + 1..].to_vec()].concat(), hops + 1)
                    .or(Some(file)),
                None => Some(file),
            };
        }
        for glob in info.imports.iter().filter(own).filter(|i| i.name.is_none()) {
            let Some(source) = Self::absolute(info, &info.module, &glob.path) else {
                continue;
            };
            if let Some(source_file) = self.modules.get(&source) {
                if self.provides(source_file, name) {
                    return self
                        .file_of(&[source, abs[k..].to_vec()].concat(), hops + 1)
                        .or(Some(file));
                }
            }
        }
        Some(file)
    }

    fn connect(&mut self) {
        let mut edges: BTreeMap<String, BTreeMap<String, Witness>> = BTreeMap::new();
        for (file, info) in &self.files {
            let mut add = |to: Option<String>, line: usize, path: &[String]| {
                if let Some(to) = to.filter(|t| t != file) {
                    edges
                        .entry(file.clone())
                        .or_default()
                        .entry(to)
                        .or_insert(Witness {
                            line,
                            path: path.join("::"),
                        });
                }
            };
            for import in &info.imports {
                let Some(abs) = Self::absolute(info, &import.module, &import.path) else {
                    continue;
                };
                let facade = import.public
                    && import
                        .name
                        .as_ref()
                        .is_none_or(|n| info.used.get(n).copied().unwrap_or(0) == 0);
                if facade {
                    continue;
                }
                let to = match import.name {
                    None => self.modules.get(&abs).cloned(),
                    Some(_) => self.file_of(&abs, 0),
                };
                let shown = [
                    import.path.clone(),
                    vec![import.name.clone().unwrap_or("*".into())],
                ]
                .concat();
                let shown = if import.name.is_some() {
                    &import.path
                } else {
                    &shown
                };
                add(to, import.line, shown);
            }
            for path in &info.paths {
                if let Some(abs) = Self::absolute(info, &path.module, &path.path) {
                    add(self.file_of(&abs, 0), path.line, &path.path);
                }
            }
        }
        self.edges = edges;
    }

    /// Strongly connected components with more than one file (Tarjan), each sorted.
    fn cycles(&self) -> Vec<Vec<String>> {
        struct State<'g> {
            edges: &'g BTreeMap<String, BTreeMap<String, Witness>>,
            index: BTreeMap<&'g str, usize>,
            low: BTreeMap<&'g str, usize>,
            stack: Vec<&'g str>,
            on_stack: BTreeSet<&'g str>,
            out: Vec<Vec<String>>,
        }
        fn visit<'g>(s: &mut State<'g>, v: &'g str) {
            let n = s.index.len();
            s.index.insert(v, n);
            s.low.insert(v, n);
            s.stack.push(v);
            s.on_stack.insert(v);
            if let Some(next) = s.edges.get(v) {
                for w in next.keys() {
                    let w = w.as_str();
                    if !s.index.contains_key(w) {
                        visit(s, w);
                        let low = s.low[v].min(s.low[w]);
                        s.low.insert(v, low);
                    } else if s.on_stack.contains(w) {
                        let low = s.low[v].min(s.index[w]);
                        s.low.insert(v, low);
                    }
                }
            }
            if s.low[v] == s.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    scc.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    s.out.push(scc);
                }
            }
        }
        let mut s = State {
            edges: &self.edges,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            out: Vec::new(),
        };
        for v in self.files.keys() {
            if !s.index.contains_key(v.as_str()) {
                visit(&mut s, v);
            }
        }
        s.out.sort();
        s.out
    }

    /// A component, one shortest cycle through its first file, and every edge inside it
    /// with where it is seen.
    fn describe(&self, scc: &[String]) -> String {
        let members: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
        let inside = |from: &str| -> Vec<(&str, &Witness)> {
            self.edges
                .get(from)
                .map(|next| {
                    next.iter()
                        .filter(|(to, _)| members.contains(to.as_str()))
                        .map(|(to, w)| (to.as_str(), w))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Breadth first from the first file back to it.
        let start = scc[0].as_str();
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut cycle = vec![start];
        'search: while let Some(v) = queue.pop_front() {
            for (w, _) in inside(v) {
                if w == start {
                    let mut back = vec![v];
                    let mut at = v;
                    while at != start {
                        at = parent[at];
                        back.push(at);
                    }
                    back.reverse();
                    cycle = back;
                    cycle.push(start);
                    break 'search;
                }
                if !parent.contains_key(w) && w != start {
                    parent.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        let mut out = format!(
            "  cycle: {}\n  files: {}\n",
            cycle.join(" -> "),
            scc.join(", ")
        );
        out.push_str("  edges:\n");
        for from in scc {
            for (to, w) in inside(from) {
                out.push_str(&format!("    {from}:{} -> {to} ({})\n", w.line, w.path));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------
// The detectors on small examples

mod detectors {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(p, t)| (format!("c/src/{p}"), (*t).to_owned()))
            .collect()
    }

    fn cycles_of(files: &[(&str, &str)]) -> Vec<Vec<String>> {
        Graph::build("c/src/lib.rs", &crate_of(files)).cycles()
    }

    #[test]
    fn a_file_without_a_module_doc_is_flagged() {
        assert!(!has_module_doc("use std::fs;\n\n//! Too late.\n"));
        assert!(!has_module_doc(
            "/// An item doc, not a module doc.\nfn f() {}\n"
        ));
        assert!(!has_module_doc(""));
    }

    #[test]
    fn a_file_with_a_module_doc_is_not_flagged() {
        assert!(has_module_doc("//! Users.\n\nuse std::fs;\n"));
        assert!(has_module_doc(
            "#![allow(clippy::unwrap_used)]\n\n//! After an inner attribute.\n"
        ));
    }

    #[test]
    fn sql_and_sqlx_outside_the_store_are_flagged() {
        let text = r#"
use sqlx::Connection;
fn f() {
    let q = "SELECT id, name FROM users WHERE id = ?";
    let r = r"INSERT INTO users (id) VALUES (?)";
    let u = "UPDATE ledger_entries
             SET actor = 'x'";
    let d = "DELETE FROM ledger_head";
    let c = "CREATE TABLE t (id TEXT)";
}
"#;
        let found: Vec<usize> = sql_findings(text).into_iter().map(|(l, _)| l).collect();
        assert_eq!(found, [2, 4, 5, 6, 8, 9], "{:?}", sql_findings(text));
    }

    #[test]
    fn prose_comments_and_other_words_are_not_sql() {
        let text = r#"
//! Uses sqlx? No: this comment says SELECT id FROM users and "DELETE FROM x".
/// Select a file from the list, insert into the form, update the set.
fn f() -> &'static str {
    let c = 'x';
    let s = "select a file from the list; update the record set";
    let t = "SELECT the best option"; // no FROM
    "INSERT the coin"
}
"#;
        assert_eq!(sql_findings(text), vec![]);
    }

    #[test]
    fn sqlx_as_a_runtime_dependency_is_flagged() {
        let manifest = "[dependencies]\nserde = \"1\"\nsqlx.workspace = true\n\n\
                        [dev-dependencies]\nsqlx.workspace = true\n";
        assert_eq!(sqlx_dependencies(manifest), vec![3]);
        assert_eq!(
            sqlx_dependencies("[dev-dependencies]\nsqlx = \"0.8\"\n"),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn a_cycle_between_two_files_is_found() {
        let cycles = cycles_of(&[
            ("lib.rs", "//! Root.\nmod a;\nmod b;\n"),
            ("a.rs", "use crate::b::B;\npub struct A(B);\n"),
            (
                "b.rs",
                "pub struct B;\nfn f() { let _ = super::a::A(B); }\n",
            ),
        ]);
        assert_eq!(cycles, vec![vec!["c/src/a.rs", "c/src/b.rs"]]);
    }

    #[test]
    fn a_cycle_through_mod_rs_and_a_child_file_is_found() {
        let cycles = cycles_of(&[
            ("lib.rs", "pub mod app;\n"),
            (
                "app/mod.rs",
                "pub mod run;\npub struct Ctx;\nfn go() { run::start(); }\n",
            ),
            ("app/run.rs", "use super::Ctx;\npub fn start() {}\n"),
        ]);
        assert_eq!(cycles, vec![vec!["c/src/app/mod.rs", "c/src/app/run.rs"]]);
    }

    #[test]
    fn one_way_edges_re_exports_and_test_modules_make_no_cycle() {
        let cycles = cycles_of(&[
            // The root re-exports; modules name the re-export, which leads to a.rs.
            ("lib.rs", "mod a;\nmod b;\npub use a::A;\npub use b::*;\n"),
            (
                "a.rs",
                "pub struct A;\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n    use super::*;\n}\n",
            ),
            // "crate::a" in a comment or a string is no edge.
            ("b.rs", "use crate::A;\npub struct B(A);\n// crate::b\nconst S: &str = \"crate::b::B\";\n"),
        ]);
        assert_eq!(cycles, Vec::<Vec<String>>::new());
        let graph = Graph::build(
            "c/src/lib.rs",
            &crate_of(&[
                ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
                ("a.rs", "pub struct A;\n"),
                ("b.rs", "use crate::A;\n"),
            ]),
        );
        // `crate::A` is followed through the re-export to a.rs.
        let from_b: Vec<&String> = graph.edges["c/src/b.rs"].keys().collect();
        assert_eq!(from_b, ["c/src/a.rs"]);
    }

    #[test]
    fn a_root_item_used_by_a_child_the_root_calls_is_a_cycle() {
        let cycles = cycles_of(&[
            (
                "lib.rs",
                "mod app;\npub struct AppState;\npub fn router() { app::routes(); }\n",
            ),
            ("app.rs", "use crate::AppState;\npub fn routes() {}\n"),
        ]);
        assert_eq!(cycles, vec![vec!["c/src/app.rs", "c/src/lib.rs"]]);
    }

    #[test]
    fn a_new_cycle_and_a_stale_entry_fail_a_shrinking_one_does_not() {
        let found = |sccs: &[&[&str]]| -> BTreeMap<Vec<String>, String> {
            sccs.iter()
                .map(|s| (s.iter().map(|f| (*f).to_owned()).collect(), s.join(" ")))
                .collect()
        };
        let known: &[&[&str]] = &[&["a.rs", "b.rs", "c.rs"], &["x.rs", "y.rs"]];
        // The same cycles, or a cycle within a known one: nothing to report.
        let today = found(&[&["a.rs", "b.rs", "c.rs"], &["x.rs", "y.rs"]]);
        assert_eq!(judge(&today, known), (vec![], vec![]));
        let shrunk = found(&[&["a.rs", "b.rs"], &["x.rs", "y.rs"]]);
        assert_eq!(judge(&shrunk, known), (vec![], vec![]));
        // A cycle reaching a file outside its known entry is new; a known entry with
        // nothing left inside it is stale.
        let grown = found(&[&["a.rs", "b.rs", "d.rs"]]);
        let (new, stale) = judge(&grown, known);
        assert_eq!(new, ["a.rs b.rs d.rs"]);
        assert_eq!(stale, ["a.rs, b.rs, c.rs", "x.rs, y.rs"]);
    }

    #[test]
    fn handlers_touching_the_store_are_flagged() {
        let text = r#"
async fn create(State(s): State<AppState>) -> Result<Json<View>, Problem> {
    let mut tx = s
        .store
        .write()
        .await?;
    let r = app::create(&mut *tx).await?;
    tx.commit().await?;
    let t: Box<dyn Tx> = store.read().await?;
    let u = tx
        .list_users()
        .await?;
}
"#;
        let found: Vec<(usize, &str)> = store_access(text);
        assert_eq!(
            found,
            vec![
                (4, ".store."),
                (8, ".commit()"),
                (8, "a call on a transaction (tx.…)"),
                (9, "store.read()"),
                (10, "a call on a transaction (tx.…)"),
            ]
        );
    }

    #[test]
    fn handlers_calling_one_app_function_are_not_flagged() {
        let text = r#"
//! Handlers. They never call `.store.write()` or `tx.commit()` themselves.
async fn create(State(s): State<AppState>, cmd: Cmd<NewUser>) -> Result<Json<View>, Problem> {
    let user = app::users::create(&s.app, cmd).await?; // not s.store.write()
    let restore = Restore::default();
    let label = "call .commit() on a Tx";
    let t: Box<dyn Txn> = restore.commit_message();
    let v = s.query(move |tx| Box::pin(app::users::list(tx, &ctx))).await?;
    let n = actx.now;
    Ok(Json(user.into()))
}
"#;
        assert_eq!(store_access(text), vec![]);
    }

    #[test]
    fn the_lexer_blanks_comments_and_literals_and_keeps_lines() {
        let text =
            "a /* x\n /* nested */ y */ b // c\n\"s\\\"t\" r#\"raw \"q\"\"# 'c' '\\'' 'life\nz";
        let lexed = lex(text);
        let toks: Vec<String> = tokens(&lexed.code)
            .into_iter()
            .map(|t| match t.tok {
                Tok::Ident(s) => format!("{}:{s}", t.line),
                other => format!("{}:{other:?}", t.line),
            })
            .collect();
        assert_eq!(toks, ["1:a", "2:b", "3:Punct('\\'')", "3:life", "4:z"]);
        let strings: Vec<&str> = lexed.strings.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(strings, ["s\\\"t", "raw \"q\""]);
    }
}
