-- One queue of scheduled work for every kind (reconciliation, email, later
-- renewals, retries and webhook deliveries). Domain tables stay the source
-- of truth; a row here only says when to look at a subject.
CREATE TABLE due_work (
    seq %PK%,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    -- When it is due by the account's clock (Unix seconds).
    due_at BIGINT NOT NULL,
    -- When to run it by the wall clock: due_at minus the account's clock
    -- offset, or the end of the lease while a runner holds it.
    run_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    leased_until BIGINT,
    leased_by TEXT,
    -- Bumped by every schedule and lease, so that a runner finishing late
    -- never deletes work scheduled again meanwhile.
    version BIGINT NOT NULL DEFAULT 1,
    created BIGINT NOT NULL,
    UNIQUE (kind, subject_id)
);
CREATE INDEX due_work_run ON due_work (run_at);
CREATE INDEX due_work_account ON due_work (account_id, due_at);

-- What the old per-table scans would have picked up moves onto the queue.
INSERT INTO due_work (account_id, kind, subject_id, due_at, run_at, created)
SELECT p.account_id, 'payment.reconcile_attempt', p.id, p.due_at, p.due_at - a.clock_offset, p.created
FROM payment_attempts p JOIN accounts a ON a.id = p.account_id
WHERE p.status IN ('pending', 'unconfirmed') AND p.due_at IS NOT NULL;

INSERT INTO due_work (account_id, kind, subject_id, due_at, run_at, created)
SELECT r.account_id, 'payment.reconcile_refund', r.id, r.due_at, r.due_at - a.clock_offset, r.created
FROM refunds r JOIN accounts a ON a.id = r.account_id
WHERE r.status IN ('pending', 'unconfirmed') AND r.due_at IS NOT NULL;

INSERT INTO due_work (account_id, kind, subject_id, due_at, run_at, created)
SELECT e.account_id, 'email.deliver', e.id, e.due_at, e.due_at - a.clock_offset, e.created
FROM emails e JOIN accounts a ON a.id = e.account_id
WHERE e.status IN ('queued', 'sending');

DROP INDEX payment_attempts_due;
DROP INDEX refunds_due;
DROP INDEX emails_due;

-- The invoice-number counter has a row of its own, so that finalizing an
-- invoice does not hold the account row locked.
CREATE TABLE invoice_counters (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    seq BIGINT NOT NULL
);
INSERT INTO invoice_counters (account_id, seq) SELECT id, invoice_seq FROM accounts;

-- Runs of the kassa.probe kind: a canary that shows which worker ran what,
-- and when (kassa work probe; the queue's own tests). due_at is the time
-- the run saw as now.
CREATE TABLE work_probes (
    seq %PK%,
    subject_id TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    worker TEXT NOT NULL,
    ran_at BIGINT NOT NULL
);
CREATE INDEX work_probes_subject ON work_probes (subject_id);
