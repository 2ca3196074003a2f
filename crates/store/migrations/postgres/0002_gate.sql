-- Lineage (I6): registered datasets and training runs; deadlines (I5): escalations.

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
