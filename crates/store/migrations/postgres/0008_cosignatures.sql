-- countersign schema, version 8: witnesses' cosignatures of the ledger's checkpoints
-- (issue 14, C2SP tlog-cosignature). The server verifies each one over a checkpoint
-- of its own log (a tree size it had, with that size's root) before storing it, and
-- appends the cosignatures of a checkpoint when it serves that checkpoint.
--
-- witness:  the witness's verifier key (vkey: name+key id+base64 key)
-- line:     the cosignature line as it appears in the note (em dash, name, base64)
-- cosigned_at: the timestamp inside the cosignature (RFC 3339)
CREATE TABLE ledger_cosignatures (
    witness     TEXT NOT NULL,
    tree_size   BIGINT NOT NULL,
    root        TEXT NOT NULL,
    line        TEXT NOT NULL,
    cosigned_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (witness, tree_size)
);

CREATE INDEX ledger_cosignatures_size ON ledger_cosignatures (tree_size);
