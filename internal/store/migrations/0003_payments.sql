-- Payments: payment methods, charge attempts, balance transactions, refunds.

-- A reusable way to pay, held by the gateway. Only the gateway's reference
-- and display details are kept: never a full card number.
CREATE TABLE payment_methods (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    -- NULL once detached; detached_from keeps who it belonged to.
    customer_id TEXT,
    detached_from TEXT,
    gateway TEXT NOT NULL,
    gateway_ref TEXT NOT NULL,
    gateway_customer_ref TEXT,
    type TEXT NOT NULL,
    card_brand TEXT,
    card_last4 TEXT,
    card_exp_month INTEGER,
    card_exp_year INTEGER,
    wallet_type TEXT,
    bank_account %JSON%,
    billing_details %JSON% NOT NULL,
    created BIGINT NOT NULL,
    detached_at BIGINT
);
CREATE INDEX payment_methods_account ON payment_methods (account_id, seq);
CREATE INDEX payment_methods_customer ON payment_methods (account_id, customer_id);

-- The gateway-side customer each Kassa customer was given, per gateway.
CREATE TABLE gateway_customers (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    customer_id TEXT NOT NULL,
    gateway TEXT NOT NULL,
    ref TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (account_id, customer_id, gateway)
);

-- One try to take money. The caller's idempotency key is unique per account,
-- so a key can never start a second attempt.
CREATE TABLE payment_attempts (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    idempotency_key TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    payment_method_id TEXT NOT NULL,
    invoice_id TEXT,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    description TEXT,
    gateway TEXT NOT NULL,
    -- pending | succeeded | declined | unconfirmed
    status TEXT NOT NULL,
    charge_ref TEXT,
    decline_code TEXT,
    message TEXT,
    transaction_id TEXT,
    -- When the reconciler should look at it next (pending and unconfirmed only).
    due_at BIGINT,
    checks INTEGER NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX payment_attempts_due ON payment_attempts (account_id, status, due_at);
CREATE INDEX payment_attempts_invoice ON payment_attempts (account_id, invoice_id);

-- Money that moved: charges (positive) and refunds (negative).
CREATE TABLE balance_transactions (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    fee_details %JSON% NOT NULL,
    net BIGINT NOT NULL,
    currency TEXT NOT NULL,
    available_on BIGINT NOT NULL,
    payment_method_id TEXT NOT NULL,
    description TEXT,
    invoice_id TEXT,
    customer_id TEXT,
    source_type TEXT NOT NULL,
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    -- Charges: the attempt that took the money (at most one transaction each).
    attempt_id TEXT UNIQUE,
    -- Refunds: the charge refunded and why.
    source_transaction_id TEXT,
    refund_reason TEXT,
    created BIGINT NOT NULL
);
CREATE INDEX balance_transactions_account ON balance_transactions (account_id, created, seq);
CREATE INDEX balance_transactions_invoice ON balance_transactions (account_id, invoice_id);

-- A refund reserves its amount here before the gateway is asked, so that
-- concurrent refunds never return more than was charged. Its id becomes the
-- refund transaction's id once the gateway approves it.
CREATE TABLE refunds (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    charge_id TEXT NOT NULL,
    -- The gateway and its id of the charge, to ask again with the same key.
    gateway TEXT NOT NULL,
    charge_ref TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT,
    -- pending | succeeded | failed | unconfirmed; failed releases the amount.
    status TEXT NOT NULL,
    refund_ref TEXT,
    message TEXT,
    due_at BIGINT,
    checks INTEGER NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX refunds_charge ON refunds (charge_id);
CREATE INDEX refunds_due ON refunds (account_id, status, due_at);
