-- Invoices and their lines. Amounts are integer minor units of the invoice
-- currency; totals are the exact sums of the lines, computed once by
-- internal/billing when the invoice is built and stored as they were billed.
CREATE TABLE invoices (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    customer_id TEXT NOT NULL,
    subscription_id TEXT,
    -- draft | open | paid | void
    status TEXT NOT NULL,
    -- Assigned at finalization: gap-free per account.
    number TEXT,
    collection_method TEXT NOT NULL,
    billing_reason TEXT NOT NULL,
    currency TEXT NOT NULL,
    due_date BIGINT,
    default_payment_method TEXT,
    -- What the invoice was addressed to and from, as it was at creation.
    customer_name TEXT NOT NULL,
    customer_email TEXT,
    customer_phone TEXT,
    customer_address %JSON%,
    account_name TEXT NOT NULL,
    account_country TEXT NOT NULL,
    subtotal BIGINT NOT NULL,
    subtotal_excluding_tax BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    total BIGINT NOT NULL,
    total_excluding_tax BIGINT NOT NULL,
    amount_due BIGINT NOT NULL,
    amount_paid BIGINT NOT NULL DEFAULT 0,
    -- One entry per tax rate: [{tax_rate, percentage, inclusive, amount, taxable_amount}].
    tax_amounts %JSON% NOT NULL,
    attempt_count BIGINT NOT NULL DEFAULT 0,
    -- The charge attempt in flight, if any: no second charge starts meanwhile.
    pending_attempt TEXT,
    period_start BIGINT,
    period_end BIGINT,
    memo TEXT,
    footer TEXT,
    finalized_at BIGINT,
    paid_at BIGINT,
    voided_at BIGINT,
    -- Dashboard labels (not statuses): written off, marked uncollectible.
    written_off_at BIGINT,
    uncollectible_at BIGINT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    UNIQUE (account_id, number)
);
CREATE INDEX invoices_account_created ON invoices (account_id, created);
CREATE INDEX invoices_account_customer ON invoices (account_id, customer_id);

CREATE TABLE invoice_lines (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    invoice_id TEXT NOT NULL REFERENCES invoices(id),
    price_id TEXT,
    description TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_amount BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    amount_excluding_tax BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    inclusive BOOLEAN NOT NULL,
    period_start BIGINT,
    period_end BIGINT,
    -- [{tax_rate, percentage, inclusive, amount, taxable_amount}]
    taxes %JSON% NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id, seq);
CREATE INDEX invoice_lines_price ON invoice_lines (account_id, price_id);

-- Payments recorded by hand (cash, bank transfer): they settle invoices but
-- never passed through a gateway, so they are not balance transactions.
CREATE TABLE invoice_external_payments (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    invoice_id TEXT NOT NULL REFERENCES invoices(id),
    amount BIGINT NOT NULL,
    reference TEXT,
    created BIGINT NOT NULL
);
CREATE INDEX invoice_external_payments_invoice ON invoice_external_payments (invoice_id);

-- Outgoing email, written in the same transaction as the change it tells
-- of and delivered by a worker.
CREATE TABLE emails (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- queued | sent | failed | skipped
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    due_at BIGINT NOT NULL,
    created BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX emails_due ON emails (status, due_at);
