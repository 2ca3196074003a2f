-- countersign schema, version 1 (SQLite).
-- Times are RFC 3339 UTC text with microseconds, so text order is time order.
-- Structured values (attributes, bundles, checklist answers) are canonical JSON text.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    roles       TEXT NOT NULL,           -- JSON array of role names
    created_at  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,    -- sha256 hex of the secret; the secret is never stored
    label       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE systems (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL
);

CREATE TABLE releases (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    system_id        TEXT NOT NULL REFERENCES systems(id),
    decision_owner   TEXT NOT NULL REFERENCES users(id),
    created_by       TEXT NOT NULL REFERENCES users(id),
    attributes       TEXT NOT NULL,
    status           TEXT NOT NULL,
    current_revision INTEGER NOT NULL,
    environment      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE revisions (
    release_id      TEXT NOT NULL REFERENCES releases(id),
    number          INTEGER NOT NULL,
    bundle          TEXT NOT NULL,
    bundle_digest   TEXT NOT NULL,
    artifact_digest TEXT NOT NULL,
    tier            TEXT NOT NULL,
    matched_rules   TEXT NOT NULL,
    profile_digest  TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users(id),
    created_at      TEXT NOT NULL,
    submitted_by    TEXT REFERENCES users(id),
    submitted_at    TEXT,
    PRIMARY KEY (release_id, number)
);
CREATE INDEX revisions_artifact ON revisions(artifact_digest);

CREATE TABLE reviews (
    id            TEXT PRIMARY KEY,
    release_id    TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    role          TEXT NOT NULL,
    reviewer      TEXT NOT NULL REFERENCES users(id),
    verdict       TEXT NOT NULL,
    answers       TEXT NOT NULL,
    conditions    TEXT,
    comment       TEXT,
    bundle_digest TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number),
    UNIQUE (release_id, revision, role)
);

CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    content    BLOB NOT NULL
);

CREATE TABLE evidence (
    id            TEXT PRIMARY KEY,
    release_id    TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    size          INTEGER NOT NULL,
    attached_by   TEXT NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number)
);

CREATE TABLE acceptances (
    id            TEXT PRIMARY KEY,
    release_id    TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    gap           TEXT NOT NULL,
    justification TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    accepted_by   TEXT NOT NULL REFERENCES users(id),
    bundle_digest TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number)
);

CREATE TABLE decisions (
    id            TEXT PRIMARY KEY,
    release_id    TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    decision      TEXT NOT NULL,
    environment   TEXT NOT NULL,
    comment       TEXT NOT NULL,
    decided_by    TEXT NOT NULL REFERENCES users(id),
    bundle_digest TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number),
    UNIQUE (release_id, revision)
);

CREATE TABLE deployments (
    id          TEXT PRIMARY KEY,
    release_id  TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    action      TEXT NOT NULL,   -- promote | rollback | retire
    environment TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number)
);

CREATE TABLE ledger_entries (
    seq            INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    payload        TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);

-- The signed head of the chain: one row, updated with every append.
CREATE TABLE ledger_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- The checkpoint signing key. See ARCHITECTURE.md for what this does and does not protect.
CREATE TABLE ledger_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE idempotency (
    actor        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (actor, key)
);
