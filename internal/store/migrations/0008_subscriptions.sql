-- Subscriptions. state is the lifecycle (scheduled | trial | active |
-- cancelled | expired); paused is a hold on top of it; status is what the
-- API shows, derived from both by precedence and stored for search.
CREATE TABLE subscriptions (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    paused BOOLEAN NOT NULL,
    currency TEXT NOT NULL,
    interval_unit TEXT NOT NULL,
    interval_count BIGINT NOT NULL,
    -- Σ unit_amount × quantity of the items, for search by amount.
    amount BIGINT NOT NULL,
    collection_method TEXT NOT NULL,
    start_date BIGINT NOT NULL,
    end_date BIGINT,
    trial_start BIGINT,
    trial_end BIGINT,
    -- Periods are billing_cycle_anchor + k × interval; period_index is the
    -- k of the last period billed (NULL before the first).
    billing_cycle_anchor BIGINT NOT NULL,
    period_index BIGINT,
    current_period_start BIGINT,
    current_period_end BIGINT,
    cancel_at BIGINT,
    cancel_at_period_end BOOLEAN NOT NULL,
    canceled_at BIGINT,
    ended_at BIGINT,
    paused_at BIGINT,
    latest_invoice TEXT,
    -- Credit from downgrades, used by the next invoices (minor units).
    credit BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX subscriptions_account ON subscriptions (account_id, created, seq);
CREATE INDEX subscriptions_customer ON subscriptions (account_id, customer_id);

CREATE TABLE subscription_items (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    price_id TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    tax %JSON% NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX subscription_items_subscription ON subscription_items (subscription_id, seq);
CREATE INDEX subscription_items_price ON subscription_items (account_id, price_id);

-- One row per billed period: the key that makes a renewal impossible to
-- repeat.
CREATE TABLE subscription_periods (
    subscription_id TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    invoice_id TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, period_start)
);

-- Proration lines waiting for the next invoice (create_prorations).
CREATE TABLE subscription_prorations (
    seq %PK%,
    subscription_id TEXT NOT NULL,
    price_id TEXT NOT NULL,
    description TEXT NOT NULL,
    amount BIGINT NOT NULL,
    tax %JSON% NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX subscription_prorations_subscription ON subscription_prorations (subscription_id, seq);
