-- countersign schema, version 6 (PostgreSQL): people's identities at an OpenID Connect
-- provider (issue 12). A person signed in through a provider is matched by the
-- provider's `sub` once linked here; the first sign-in links it (by verified email,
-- or by just-in-time provisioning).

CREATE TABLE user_identities (
    issuer      TEXT COLLATE "C" NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    email       TEXT NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
