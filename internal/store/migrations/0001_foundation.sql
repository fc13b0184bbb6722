-- Companies own accounts; an account is the tenant boundary of every object.
CREATE TABLE companies (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    brand_color TEXT,
    created BIGINT NOT NULL
);

CREATE TABLE accounts (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    company_id TEXT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    -- Seconds added to the real time to get this account's time (test mode only).
    clock_offset BIGINT NOT NULL DEFAULT 0,
    country TEXT NOT NULL DEFAULT 'US',
    address %JSON%,
    email TEXT,
    invoice_prefix TEXT NOT NULL DEFAULT 'INV-',
    invoice_seq BIGINT NOT NULL DEFAULT 0,
    gateway TEXT NOT NULL DEFAULT 'sandbox',
    gateway_secret TEXT,
    created BIGINT NOT NULL
);

CREATE TABLE api_keys (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    livemode BOOLEAN NOT NULL,
    -- SHA-256 of the secret; the secret itself is shown once and never stored.
    key_hash TEXT NOT NULL UNIQUE,
    -- First and last characters, to tell keys apart in listings.
    hint TEXT NOT NULL,
    created BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE customers (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    email TEXT,
    description TEXT,
    phone TEXT,
    currency TEXT NOT NULL,
    address %JSON% NOT NULL,
    shipping %JSON%,
    billing_email TEXT,
    default_payment_method TEXT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX customers_account_created ON customers (account_id, created);

-- The event outbox: written in the same transaction as the change it announces.
CREATE TABLE events (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    type TEXT NOT NULL,
    -- The exact envelope that webhook deliveries send.
    payload %JSON% NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX events_account ON events (account_id, seq);

CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- running until the first request finishes, then done.
    state TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, endpoint, idem_key)
);
