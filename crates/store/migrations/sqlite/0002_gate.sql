-- Lineage (I6): registered datasets and training runs; deadlines (I5): escalations.

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
