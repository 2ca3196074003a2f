-- countersign schema, version 3 (PostgreSQL): agents, grants and just-in-time credentials
-- (issue 5). Version 2 is reserved for another change; the runner accepts the gap.
-- Same conventions as 0001: RFC 3339 UTC text times, JSON text for structured values.

CREATE TABLE agents (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    use_case    TEXT NOT NULL,
    environment TEXT NOT NULL,
    release_id  TEXT COLLATE "C" NOT NULL REFERENCES releases(id),
    public_key  TEXT NOT NULL UNIQUE,    -- base64url Ed25519 key: one identity, never reused
    status      TEXT NOT NULL,           -- active | suspended
    created_by  TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    UNIQUE (name, environment)
);
CREATE INDEX agents_release ON agents (release_id);

CREATE TABLE grants (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id                       TEXT COLLATE "C" PRIMARY KEY,
    agent_id                 TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    system_id                TEXT COLLATE "C" NOT NULL REFERENCES systems(id),
    terms                    TEXT NOT NULL,  -- JSON: actions, resources, constraints, expiry
    expires_at               TEXT COLLATE "C" NOT NULL,
    requested_at             TEXT COLLATE "C" NOT NULL,
    system_owner_approved_by TEXT COLLATE "C",
    system_owner_approved_at TEXT COLLATE "C",
    agent_owner_approved_by  TEXT COLLATE "C",
    agent_owner_approved_at  TEXT COLLATE "C",
    certified_by             TEXT COLLATE "C",
    certified_at             TEXT COLLATE "C",
    revoked_by               TEXT COLLATE "C",
    revoked_at               TEXT COLLATE "C",
    revoke_reason            TEXT
);
CREATE INDEX grants_agent ON grants (agent_id);

-- Client assertion ids seen, so an assertion cannot be replayed within its lifetime.
CREATE TABLE assertion_jtis (
    agent_id   TEXT COLLATE "C" NOT NULL,
    jti        TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (agent_id, jti)
);

-- Credential signing keys, shared by every replica. A retired key stays published
-- until every token it signed has expired.
CREATE TABLE credential_keys (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    kid        TEXT COLLATE "C" PRIMARY KEY,
    public_key TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    retired_at TEXT COLLATE "C"
);

CREATE TABLE credentials (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    jti           TEXT COLLATE "C" PRIMARY KEY,
    kid           TEXT COLLATE "C" NOT NULL REFERENCES credential_keys(kid),
    agent_id      TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    subject       TEXT COLLATE "C" NOT NULL,
    owner_id      TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    task          TEXT NOT NULL,
    scopes        TEXT NOT NULL,          -- JSON array of system:action:resource
    grant_ids     TEXT NOT NULL,          -- JSON array
    release_id    TEXT COLLATE "C" NOT NULL REFERENCES releases(id),
    parent_jti    TEXT COLLATE "C" REFERENCES credentials(jti),
    depth         BIGINT NOT NULL,
    issued_at     TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    revoked_at    TEXT COLLATE "C",
    revoked_by    TEXT COLLATE "C",
    revoke_reason TEXT
);
CREATE INDEX credentials_agent ON credentials (agent_id);
CREATE INDEX credentials_release ON credentials (release_id);

CREATE TABLE credential_grants (
    jti      TEXT COLLATE "C" NOT NULL REFERENCES credentials(jti),
    grant_id TEXT COLLATE "C" NOT NULL REFERENCES grants(id),
    PRIMARY KEY (jti, grant_id)
);
CREATE INDEX credential_grants_grant ON credential_grants (grant_id);
