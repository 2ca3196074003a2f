-- countersign schema, version 7: friction against rubber-stamping (issue 12), a
-- release's own ledger entries, and the releases in review (the console's inbox).
--
-- `reviews.friction`: the friction rules the review was accepted under (a JSON array
-- of rule names, e.g. ["min_review_seconds","confirm_digest"]), which the
-- accountability report counts. Reviews from before this version were under none.
ALTER TABLE reviews ADD COLUMN friction TEXT NOT NULL DEFAULT '[]';

-- A subject's ledger entries, newest first, read by key (the console's release page).
CREATE INDEX ledger_entries_subject ON ledger_entries (subject, seq);

-- The releases in review, without reading every release.
CREATE INDEX releases_status ON releases (status, created_at);
