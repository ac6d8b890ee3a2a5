-- The manager's alerts with one-click actions, the manager's message to the
-- tenant, batch approvals (issue #16 items 3, 4 and 6).

-- A person's email address: the property's managers (users with the manager
-- role on it) are alerted there, each with links that act as them.
ALTER TABLE users
    ADD COLUMN email text NOT NULL DEFAULT '' CHECK (email = '' OR (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254));

-- When the property's managers are reminded before an automatic release:
-- days before the release date, largest first (NULL: 10, 5 and 1 days).
ALTER TABLE properties
    ADD COLUMN reminder_days integer[] CHECK (reminder_days IS NULL OR
        (cardinality(reminder_days) <= 10 AND 0 < ALL (reminder_days) AND 120 >= ALL (reminder_days)));

-- Each use of a manager's one-click link ("Release now", "Extend a week"),
-- by the SHA-256 of the link's token: a link acts once. The row is written
-- before the decision is sent (the decision's idempotency key is the link's),
-- and removed again only when the server could not reach the lease's
-- workflow, so the link may be tried again.
CREATE TABLE manager_link_uses (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    lease_id   text NOT NULL REFERENCES leases (lease_id),
    user_name  text NOT NULL,
    action     text NOT NULL CHECK (action IN ('release', 'extend')),
    used_at    timestamptz NOT NULL DEFAULT now(),
    result     text NOT NULL DEFAULT ''
);
CREATE INDEX manager_link_uses_lease_idx ON manager_link_uses (lease_id);

-- The manager's own words to the tenant, written with a decision (keep,
-- release, decline): its audit row is the decision. The tenant's next email
-- shows the newest message of a decision the lease's workflow took.
CREATE TABLE decision_messages (
    audit_id   bigint PRIMARY KEY REFERENCES audit_log (audit_id),
    lease_id   text NOT NULL REFERENCES leases (lease_id),
    message    text NOT NULL CHECK (message <> '' AND length(message) <= 4000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decision_messages_lease_idx ON decision_messages (lease_id, audit_id);

---- create above / drop below ----
DROP TABLE decision_messages;
DROP TABLE manager_link_uses;
ALTER TABLE properties DROP COLUMN reminder_days;
ALTER TABLE users DROP COLUMN email;
