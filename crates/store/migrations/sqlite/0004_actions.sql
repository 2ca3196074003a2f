-- countersign schema, version 4 (SQLite): runtime decisions, step-up approval
-- requests, the action log and context openings (issue 6). Each action and approval
-- is a JSON document (`body`) beside the columns that queries filter on.

CREATE TABLE actions (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    system_id    TEXT NOT NULL,
    task         TEXT NOT NULL,
    decision     TEXT NOT NULL,            -- allow | deny | step_up
    review_state TEXT,                     -- pending | reviewed | NULL
    decided_at   TEXT NOT NULL,
    body         TEXT NOT NULL             -- JSON ActionRecord
);
CREATE INDEX actions_agent ON actions (agent_id, decided_at);
CREATE INDEX actions_system ON actions (system_id, decided_at);
CREATE INDEX actions_task ON actions (task, decided_at);
CREATE INDEX actions_review ON actions (review_state, decided_at);

CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    action_id   TEXT NOT NULL REFERENCES actions(id),
    agent_id    TEXT NOT NULL,
    assignee_id TEXT NOT NULL REFERENCES users(id),
    state       TEXT NOT NULL,             -- pending | approved | denied | expired | used
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    body        TEXT NOT NULL              -- JSON ApprovalRecord
);
CREATE INDEX approvals_assignee ON approvals (assignee_id, state);
CREATE INDEX approvals_state ON approvals (state, expires_at);

CREATE TABLE context_views (
    kind            TEXT NOT NULL,         -- release | approval
    subject         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id),
    first_opened_at TEXT NOT NULL,
    PRIMARY KEY (kind, subject, user_id)
);
