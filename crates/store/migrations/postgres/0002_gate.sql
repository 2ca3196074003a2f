-- Lineage (I6): datasets and training runs; deadlines (I5): escalations; webhooks and their outbox.

CREATE TABLE datasets (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    name           TEXT COLLATE "C" NOT NULL,
    version        TEXT COLLATE "C" NOT NULL,
    digest         TEXT NOT NULL,
    source         TEXT NOT NULL,
    classification TEXT NOT NULL,
    permitted_uses TEXT NOT NULL,  -- JSON array of strings
    registered_by  TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at     TEXT COLLATE "C" NOT NULL,
    approved_by    TEXT COLLATE "C" REFERENCES users(id),
    approved_at    TEXT COLLATE "C",
    PRIMARY KEY (name, version)
);

CREATE TABLE training_runs (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id              TEXT COLLATE "C" PRIMARY KEY,
    code_commit     TEXT NOT NULL,
    datasets        TEXT NOT NULL,  -- JSON array of name@version
    parameters      TEXT NOT NULL,  -- JSON object
    trainer         TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    artifact_digest TEXT COLLATE "C" NOT NULL,
    registered_by   TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at      TEXT COLLATE "C" NOT NULL
);

CREATE INDEX training_runs_by_artifact ON training_runs (artifact_digest);

-- Deadlines (I5): a review past its due time escalates to the decision owner, once
-- per (release, revision, role).
CREATE TABLE escalations (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id           TEXT COLLATE "C" PRIMARY KEY,
    release_id   TEXT COLLATE "C" NOT NULL REFERENCES releases(id),
    revision     BIGINT NOT NULL,
    role         TEXT COLLATE "C" NOT NULL,
    due_at       TEXT COLLATE "C" NOT NULL,
    escalated_to TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at   TEXT COLLATE "C" NOT NULL,
    UNIQUE (release_id, revision, role)
);

-- Webhooks: subscriptions, the transactional outbox of events, per-subscription
-- delivery state, and every delivery attempt.
CREATE TABLE webhooks (
    ord BIGSERIAL NOT NULL,  -- insertion order, the tie-break for equal times
    id         TEXT COLLATE "C" PRIMARY KEY,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,  -- JSON array of event types
    secret     TEXT NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE events (
    ord BIGSERIAL NOT NULL,
    id         TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C" NOT NULL,
    payload    TEXT NOT NULL,  -- JSON
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE deliveries (
    ord BIGSERIAL NOT NULL,
    webhook_id      TEXT COLLATE "C" NOT NULL REFERENCES webhooks(id),
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events(id),
    state           TEXT COLLATE "C" NOT NULL,  -- pending, delivered, dead
    attempts        BIGINT NOT NULL,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
);

CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

CREATE TABLE delivery_attempts (
    ord BIGSERIAL NOT NULL,
    id          TEXT COLLATE "C" PRIMARY KEY,
    webhook_id  TEXT COLLATE "C" NOT NULL REFERENCES webhooks(id),
    event_id    TEXT COLLATE "C" NOT NULL REFERENCES events(id),
    attempt     BIGINT NOT NULL,
    at          TEXT COLLATE "C" NOT NULL,
    status_code BIGINT NOT NULL,  -- 0 when no HTTP response
    error       TEXT NOT NULL,
    outcome     TEXT COLLATE "C" NOT NULL   -- delivered, retry, dead
);

CREATE INDEX delivery_attempts_by_webhook ON delivery_attempts (webhook_id);
