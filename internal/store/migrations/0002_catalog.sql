-- The catalog: products and their prices, and tax rates.
--
-- Products and prices are deleted softly (deleted_at): the API forgets them,
-- but what was sold on them earlier keeps a valid reference.
CREATE TABLE products (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    -- The trimmed, lower-cased name: product names are unique per account
    -- whatever their case.
    name_key TEXT NOT NULL,
    description TEXT,
    tax_code TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    default_price TEXT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE UNIQUE INDEX products_account_name ON products (account_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX products_account_created ON products (account_id, created);

CREATE TABLE prices (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    product_id TEXT NOT NULL REFERENCES products(id),
    active BOOLEAN NOT NULL,
    -- Upper-case ISO 4217 code; unit_amount is in its minor units.
    currency TEXT NOT NULL,
    unit_amount BIGINT NOT NULL,
    type TEXT NOT NULL,
    -- Both set for recurring prices, both NULL for one-time prices.
    recurring_interval TEXT,
    recurring_interval_count INTEGER,
    tax_behavior TEXT NOT NULL,
    description TEXT,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX prices_account_created ON prices (account_id, created);
CREATE INDEX prices_product ON prices (product_id);

CREATE TABLE tax_rates (
    seq %PK%,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    tax_type TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    country TEXT NOT NULL,
    -- Exact decimal text ("7.25"), never a float. Immutable, like inclusive
    -- and country: a rate an invoice used never changes after the fact.
    percentage TEXT NOT NULL,
    inclusive BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX tax_rates_account_created ON tax_rates (account_id, created);
