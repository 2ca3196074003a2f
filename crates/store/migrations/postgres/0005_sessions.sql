-- countersign schema, version 5 (PostgreSQL): console sessions (issue 12). A session is
-- kept server-side so it works across replicas and can be ended; the browser holds
-- only the secret, and the table only its sha256.

CREATE TABLE console_sessions (
    id                TEXT COLLATE "C" PRIMARY KEY,
    secret_hash       TEXT NOT NULL UNIQUE,
    user_id           TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    method            TEXT NOT NULL,       -- token | oidc
    created_at        TEXT COLLATE "C" NOT NULL,
    authenticated_at  TEXT COLLATE "C" NOT NULL,
    expires_at        TEXT COLLATE "C" NOT NULL,
    ended_at          TEXT COLLATE "C"
);
CREATE INDEX console_sessions_user ON console_sessions (user_id, created_at);
