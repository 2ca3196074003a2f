-- Lineage (I6): datasets and training runs; deadlines (I5): escalations; webhooks and their outbox.

CREATE TABLE datasets (
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    digest         TEXT NOT NULL,
    source         TEXT NOT NULL,
    classification TEXT NOT NULL,
    permitted_uses TEXT NOT NULL,  -- JSON array of strings
    registered_by  TEXT NOT NULL REFERENCES users(id),
    created_at     TEXT NOT NULL,
    approved_by    TEXT REFERENCES users(id),
    approved_at    TEXT,
    PRIMARY KEY (name, version)
);

CREATE TABLE training_runs (
    id              TEXT PRIMARY KEY,
    code_commit     TEXT NOT NULL,
    datasets        TEXT NOT NULL,  -- JSON array of name@version
    parameters      TEXT NOT NULL,  -- JSON object
    trainer         TEXT NOT NULL REFERENCES users(id),
    artifact_digest TEXT NOT NULL,
    registered_by   TEXT NOT NULL REFERENCES users(id),
    created_at      TEXT NOT NULL
);

CREATE INDEX training_runs_by_artifact ON training_runs (artifact_digest);

-- Deadlines (I5): a review past its due time escalates to the decision owner, once
-- per (release, revision, role).
CREATE TABLE escalations (
    id           TEXT PRIMARY KEY,
    release_id   TEXT NOT NULL REFERENCES releases(id),
    revision     INTEGER NOT NULL,
    role         TEXT NOT NULL,
    due_at       TEXT NOT NULL,
    escalated_to TEXT NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    UNIQUE (release_id, revision, role)
);

-- Webhooks: subscriptions, the transactional outbox of events, per-subscription
-- delivery state, and every delivery attempt.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,  -- JSON array of event types
    secret     TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL
);

CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL,  -- JSON
    created_at TEXT NOT NULL
);

CREATE TABLE deliveries (
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id),
    event_id        TEXT NOT NULL REFERENCES events(id),
    state           TEXT NOT NULL,  -- pending, delivered, dead
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
);

CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

CREATE TABLE delivery_attempts (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks(id),
    event_id    TEXT NOT NULL REFERENCES events(id),
    attempt     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    status_code INTEGER NOT NULL,  -- 0 when no HTTP response
    error       TEXT NOT NULL,
    outcome     TEXT NOT NULL      -- delivered, retry, dead
);

CREATE INDEX delivery_attempts_by_webhook ON delivery_attempts (webhook_id);
