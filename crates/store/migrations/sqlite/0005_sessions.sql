-- countersign schema, version 5 (SQLite): console sessions (issue 12). A session is
-- kept server-side so it works across replicas and can be ended; the browser holds
-- only the secret, and the table only its sha256.

CREATE TABLE console_sessions (
    id                TEXT PRIMARY KEY,
    secret_hash       TEXT NOT NULL UNIQUE,
    user_id           TEXT NOT NULL REFERENCES users(id),
    method            TEXT NOT NULL,       -- token | oidc
    created_at        TEXT NOT NULL,
    authenticated_at  TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    ended_at          TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (user_id, created_at);
