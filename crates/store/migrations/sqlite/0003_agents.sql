-- countersign schema, version 3 (SQLite): agents, grants and just-in-time credentials
-- (issue 5). Version 2 is reserved for another change; the runner accepts the gap.
-- Same conventions as 0001: RFC 3339 UTC text times, JSON text for structured values.

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    use_case    TEXT NOT NULL,
    environment TEXT NOT NULL,
    release_id  TEXT NOT NULL REFERENCES releases(id),
    public_key  TEXT NOT NULL UNIQUE,    -- base64url Ed25519 key: one identity, never reused
    status      TEXT NOT NULL,           -- active | suspended
    created_by  TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (name, environment)
);
CREATE INDEX agents_release ON agents (release_id);

CREATE TABLE grants (
    id                       TEXT PRIMARY KEY,
    agent_id                 TEXT NOT NULL REFERENCES agents(id),
    system_id                TEXT NOT NULL REFERENCES systems(id),
    terms                    TEXT NOT NULL,  -- JSON: actions, resources, constraints, expiry
    expires_at               TEXT NOT NULL,
    requested_at             TEXT NOT NULL,
    system_owner_approved_by TEXT,
    system_owner_approved_at TEXT,
    agent_owner_approved_by  TEXT,
    agent_owner_approved_at  TEXT,
    certified_by             TEXT,
    certified_at             TEXT,
    revoked_by               TEXT,
    revoked_at               TEXT,
    revoke_reason            TEXT
);
CREATE INDEX grants_agent ON grants (agent_id);

-- Client assertion ids seen, so an assertion cannot be replayed within its lifetime.
CREATE TABLE assertion_jtis (
    agent_id   TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (agent_id, jti)
);

-- Credential signing keys, shared by every replica. A retired key stays published
-- until every token it signed has expired.
CREATE TABLE credential_keys (
    kid        TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);

CREATE TABLE credentials (
    jti           TEXT PRIMARY KEY,
    kid           TEXT NOT NULL REFERENCES credential_keys(kid),
    agent_id      TEXT NOT NULL REFERENCES agents(id),
    subject       TEXT NOT NULL,
    owner_id      TEXT NOT NULL REFERENCES users(id),
    task          TEXT NOT NULL,
    scopes        TEXT NOT NULL,          -- JSON array of system:action:resource
    grant_ids     TEXT NOT NULL,          -- JSON array
    release_id    TEXT NOT NULL REFERENCES releases(id),
    parent_jti    TEXT REFERENCES credentials(jti),
    depth         INTEGER NOT NULL,
    issued_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX credentials_agent ON credentials (agent_id);
CREATE INDEX credentials_release ON credentials (release_id);

CREATE TABLE credential_grants (
    jti      TEXT NOT NULL REFERENCES credentials(jti),
    grant_id TEXT NOT NULL REFERENCES grants(id),
    PRIMARY KEY (jti, grant_id)
);
CREATE INDEX credential_grants_grant ON credential_grants (grant_id);
