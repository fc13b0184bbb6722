-- Webhook destinations of an account: every event goes to all active ones.
CREATE TABLE webhook_destinations (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    url TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX webhook_destinations_account ON webhook_destinations (account_id, seq);

-- One delivery of one event to one destination: the log entry. A
-- redelivery is a new row for the same event and destination.
CREATE TABLE webhook_deliveries (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    destination_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- pending | retry | success | failure
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    response_status INTEGER,
    last_error TEXT,
    last_attempt_at BIGINT,
    next_attempt_at BIGINT,
    created BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_account ON webhook_deliveries (account_id, seq);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Every attempt of a delivery, with what the receiver answered.
CREATE TABLE webhook_attempts (
    seq %PK%,
    delivery_id TEXT NOT NULL,
    attempted_at BIGINT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, seq);

-- The signing secret of each account's webhooks; after a roll the previous
-- one is sent alongside until previous_until (by the account's clock).
CREATE TABLE webhook_secrets (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_until BIGINT,
    rolled_at BIGINT NOT NULL
);

CREATE INDEX events_account_type ON events (account_id, type, created);
