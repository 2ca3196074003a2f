-- countersign schema, version 1 (PostgreSQL). The same logical schema as
-- migrations/sqlite/0001_init.sql; the backends must stay interchangeable.
--
-- Times are RFC 3339 UTC text with exactly six fractional digits (the ledger's time
-- form), so every value round-trips exactly and text order is time order.
-- Structured values (attributes, bundles, checklist answers, ledger payloads) are
-- canonical JSON text, not jsonb: jsonb reorders keys and rejects \u0000, and the
-- stored text must come back byte for byte.
-- Identifier and time columns use the "C" collation, so ORDER BY is byte order, as in
-- SQLite, whatever the database's locale.
-- Integers are BIGINT (sequence numbers, revision numbers, sizes); blob content is BYTEA.

CREATE TABLE users (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    roles       TEXT NOT NULL,           -- JSON array of role names
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE api_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,    -- sha256 hex of the secret; the secret is never stored
    label       TEXT NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE systems (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    owner_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE releases (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id               TEXT COLLATE "C" PRIMARY KEY,
    title            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    system_id        TEXT COLLATE "C" NOT NULL REFERENCES systems(id),
    decision_owner   TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_by       TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    attributes       TEXT NOT NULL,
    status           TEXT NOT NULL,
    current_revision BIGINT NOT NULL,
    environment      TEXT,
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL
);

CREATE TABLE revisions (
    release_id      TEXT COLLATE "C" NOT NULL REFERENCES releases(id),
    number          BIGINT NOT NULL,
    bundle          TEXT NOT NULL,
    bundle_digest   TEXT NOT NULL,
    artifact_digest TEXT NOT NULL,
    tier            TEXT NOT NULL,
    matched_rules   TEXT NOT NULL,
    profile_digest  TEXT NOT NULL,
    created_by      TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at      TEXT COLLATE "C" NOT NULL,
    submitted_by    TEXT COLLATE "C" REFERENCES users(id),
    submitted_at    TEXT COLLATE "C",
    PRIMARY KEY (release_id, number)
);
CREATE INDEX revisions_artifact ON revisions(artifact_digest);

CREATE TABLE reviews (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id            TEXT COLLATE "C" PRIMARY KEY,
    release_id    TEXT COLLATE "C" NOT NULL,
    revision      BIGINT NOT NULL,
    role          TEXT NOT NULL,
    reviewer      TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    verdict       TEXT NOT NULL,
    answers       TEXT NOT NULL,
    conditions    TEXT,
    comment       TEXT,
    bundle_digest TEXT NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number),
    UNIQUE (release_id, revision, role)
);

CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    content    BYTEA NOT NULL
);

CREATE TABLE evidence (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id            TEXT COLLATE "C" PRIMARY KEY,
    release_id    TEXT COLLATE "C" NOT NULL,
    revision      BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    size          BIGINT NOT NULL,
    attached_by   TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at    TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number)
);
CREATE INDEX evidence_release ON evidence(release_id, revision);

CREATE TABLE acceptances (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id            TEXT COLLATE "C" PRIMARY KEY,
    release_id    TEXT COLLATE "C" NOT NULL,
    revision      BIGINT NOT NULL,
    gap           TEXT NOT NULL,
    justification TEXT NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    accepted_by   TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    bundle_digest TEXT NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number)
);
CREATE INDEX acceptances_release ON acceptances(release_id, revision);

CREATE TABLE decisions (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id            TEXT COLLATE "C" PRIMARY KEY,
    release_id    TEXT COLLATE "C" NOT NULL,
    revision      BIGINT NOT NULL,
    decision      TEXT NOT NULL,
    environment   TEXT NOT NULL,
    comment       TEXT NOT NULL,
    decided_by    TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    bundle_digest TEXT NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number),
    UNIQUE (release_id, revision)
);

CREATE TABLE deployments (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id          TEXT COLLATE "C" PRIMARY KEY,
    release_id  TEXT COLLATE "C" NOT NULL,
    revision    BIGINT NOT NULL,
    action      TEXT NOT NULL,   -- promote | rollback | retire
    environment TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at  TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY (release_id, revision) REFERENCES revisions(release_id, number)
);
CREATE INDEX deployments_release ON deployments(release_id);

CREATE TABLE ledger_entries (
    seq            BIGINT PRIMARY KEY,
    at             TEXT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    payload        TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);

-- The signed head of the chain: one row, updated with every append. No row means an
-- empty ledger. Writers serialize on a transaction-scoped advisory lock (see
-- src/postgres.rs), so replicas sharing this database build one linear chain.
CREATE TABLE ledger_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- The checkpoint signing key. See ARCHITECTURE.md for what this does and does not protect.
CREATE TABLE ledger_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE idempotency (
    actor        TEXT COLLATE "C" NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (actor, key)
);
