// Package duework is Kassa's one queue of scheduled work: renewals, retries,
// reconciliations, deliveries — everything that is "do this at that time,
// exactly once".
//
// Domains schedule work inside their own transactions (Schedule), so a
// change and its follow-up commit together. A row says only when to look at
// a subject; the domain's tables stay the source of truth, and a handler
// that finds its subject changed simply reports the work done.
//
// A row is due at due_at by its account's clock and runs at run_at by the
// wall clock (due_at minus the account's clock offset). One claim loop takes
// the earliest runnable rows across all accounts, its cost growing with the
// work that is due, never with the number of accounts:
//
//   - Tx kinds run inside the claiming transaction (each in a savepoint):
//     the work, its events and its reschedule commit together, and a crash
//     rolls all of it back.
//   - Call kinds call out (gateway, SMTP, webhooks). The claim takes a lease
//     and commits; the handler runs outside any transaction with its own
//     idempotency key; the outcome is written afterwards. A runner that dies
//     leaves the lease to expire, and the work runs again.
//
// Failures are retried with backoff per item, so one failing kind or
// account never holds up the others. Handlers see the item's DueAt as "now",
// so what they stamp reads as it would have on time.
//
// The queue knows no domain: internal/app registers each kind's handler.
package duework

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

// Item is one piece of scheduled work as a handler sees it.
type Item struct {
	Seq       int64
	AccountID string
	Kind      string
	SubjectID string
	// DueAt is when the work was due by the account's clock: the handler's "now".
	DueAt time.Time
	// RunAt is when it runs by the wall clock (the lease's end while leased).
	RunAt time.Time
	// Attempts counts the failed runs before this one (and, for Call kinds,
	// includes this one).
	Attempts    int
	LastError   string
	LeasedUntil *time.Time
	LeasedBy    string
	version     int64
}

// TxHandler does a Tx kind's work inside the claiming transaction. It
// returns the time the same work is due again, or the zero time when it is
// finished; an error rolls back what it wrote and retries the item later.
type TxHandler func(ctx context.Context, tx *store.Tx, it Item) (next time.Time, err error)

// CallHandler does a Call kind's work outside any transaction, recording its
// own outcome in transactions of its own. Its return values mean what a
// TxHandler's do.
type CallHandler func(ctx context.Context, it Item) (next time.Time, err error)

// RecordingHandler does a Call kind's work outside any transaction and
// returns how to record its outcome: record runs inside the transaction
// that also finishes the item, so the outcome and the queue's bookkeeping
// commit together. An error from either retries the item later.
type RecordingHandler func(ctx context.Context, it Item) (record func(ctx context.Context, tx *store.Tx) (next time.Time, err error), err error)

// Kind is a kind of work and its handler: exactly one of Tx, Call and
// CallRecord.
type Kind struct {
	Name       string
	Tx         TxHandler
	Call       CallHandler
	CallRecord RecordingHandler
	// Lease is how long a runner holds a Call item before another may take
	// it over; 0 means DefaultLease. It must exceed the call's own timeout.
	Lease time.Duration
	// OwnTransaction runs each item of a Tx kind in a transaction of its
	// own instead of in the claim's batch: for work that locks rows of
	// other tables (a renewal locks a customer, then the invoice counter),
	// which two batches holding such locks across many items would take in
	// opposite orders and deadlock on.
	OwnTransaction bool
}

// Queue timing.
const (
	DefaultLease = 5 * time.Minute
	// DefaultBatch is how many items one claim takes.
	DefaultBatch = 200
	// unknownKindDelay postpones items whose kind this process does not know
	// (another version of Kassa may).
	unknownKindDelay = time.Minute
	// MaxBackoff caps the wait before retrying a failed item.
	MaxBackoff = time.Hour
	// callSlots bounds the Call handlers running at once in one process.
	callSlots = 32
)

// Backoff is the wait before retrying an item that failed for the n-th
// time: 10 s, 20 s, 40 s … at most MaxBackoff.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// Queue runs the due work of the registered kinds.
type Queue struct {
	db      *store.DB
	wall    clock.Clock
	logger  *slog.Logger
	worker  string
	batch   int
	metrics *metrics

	mu    sync.RWMutex
	kinds map[string]Kind

	slots chan struct{}
	calls sync.WaitGroup
	// outstanding counts the leased calls not finished yet; room is
	// signalled when it falls to half the lease window, so that the loop
	// claims the next calls while the last ones still run.
	outstanding atomic.Int64
	room        chan struct{}
	turn        atomic.Uint64
}

// New returns a Queue on db; wall is the real clock (test accounts' clocks
// are offsets of it).
func New(db *store.DB, wall clock.Clock, logger *slog.Logger) *Queue {
	host, _ := os.Hostname()
	return &Queue{
		db: db, wall: wall, logger: logger, batch: DefaultBatch,
		worker:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), strings.ToLower(id.Random(6))),
		metrics: newMetrics(db, wall),
		kinds:   map[string]Kind{},
		slots:   make(chan struct{}, callSlots),
		room:    make(chan struct{}, 1),
	}
}

// Worker names this runner in leases and probes.
func (q *Queue) Worker() string { return q.worker }

// Register adds a kind. Registering a name twice, or a kind with not
// exactly one handler, is a programming error.
func (q *Queue) Register(k Kind) {
	handlers := 0
	for _, set := range []bool{k.Tx != nil, k.Call != nil, k.CallRecord != nil} {
		if set {
			handlers++
		}
	}
	if handlers != 1 || k.Name == "" {
		panic(fmt.Sprintf("duework: kind %q needs exactly one of Tx, Call and CallRecord", k.Name))
	}
	if k.Lease <= 0 {
		k.Lease = DefaultLease
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.kinds[k.Name]; dup {
		panic(fmt.Sprintf("duework: kind %q registered twice", k.Name))
	}
	q.kinds[k.Name] = k
}

func (q *Queue) kind(name string) (Kind, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	k, ok := q.kinds[name]
	return k, ok
}

// Schedule puts work on the queue inside tx: kind for subjectID, due at due
// by the account's clock. Work already scheduled for the same kind and
// subject is moved to the new time, its failures forgotten and any lease
// dropped: a runner still busy with it finds, when it finishes, that the
// work was scheduled anew, and leaves the new schedule alone.
//
// On PostgreSQL the account row is share-locked until tx ends, so a
// concurrent test-clock advance cannot shift the account's work between the
// offset read here and this row's commit.
func Schedule(ctx context.Context, tx *store.Tx, accountID, kind, subjectID string, due time.Time) error {
	var offset int64
	err := tx.QueryRowContext(ctx, `SELECT clock_offset FROM accounts WHERE id = $1`+tx.Dialect.ForShare(), accountID).Scan(&offset)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("schedule %s %s: account clock: %w", kind, subjectID, err)
	}
	dueAt := due.Unix()
	_, err = tx.ExecContext(ctx, `INSERT INTO due_work (account_id, kind, subject_id, due_at, run_at, created)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (kind, subject_id) DO UPDATE SET account_id = excluded.account_id, due_at = excluded.due_at,
			run_at = excluded.run_at, attempts = 0, last_error = NULL, leased_until = NULL, leased_by = NULL,
			version = due_work.version + 1`,
		accountID, kind, subjectID, dueAt, dueAt-offset, dueAt)
	if err != nil {
		return fmt.Errorf("schedule %s %s: %w", kind, subjectID, err)
	}
	return nil
}

// Cancel removes scheduled work inside tx; there may be none.
func Cancel(ctx context.Context, tx *store.Tx, kind, subjectID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM due_work WHERE kind = $1 AND subject_id = $2`, kind, subjectID); err != nil {
		return fmt.Errorf("cancel %s %s: %w", kind, subjectID, err)
	}
	return nil
}

// Shift moves the wall-clock run times of an account's work by -delta
// inside tx, the transaction that moves the account's clock forward by
// delta. Leased rows keep their lease's end.
func Shift(ctx context.Context, tx *store.Tx, accountID string, delta time.Duration, wallNow time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE due_work SET run_at = run_at - $1
		WHERE account_id = $2 AND (leased_until IS NULL OR leased_until <= $3)`,
		int64(delta/time.Second), accountID, wallNow.Unix())
	if err != nil {
		return fmt.Errorf("shift due work of %s: %w", accountID, err)
	}
	return nil
}

const itemColumns = `seq, account_id, kind, subject_id, due_at, run_at, attempts, COALESCE(last_error, ''),
	leased_until, COALESCE(leased_by, ''), version`

func scanItems(rows *sql.Rows) ([]Item, error) {
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		var due, run int64
		var leased sql.NullInt64
		if err := rows.Scan(&it.Seq, &it.AccountID, &it.Kind, &it.SubjectID, &due, &run, &it.Attempts, &it.LastError,
			&leased, &it.LeasedBy, &it.version); err != nil {
			return nil, err
		}
		it.DueAt, it.RunAt = time.Unix(due, 0).UTC(), time.Unix(run, 0).UTC()
		if leased.Valid {
			t := time.Unix(leased.Int64, 0).UTC()
			it.LeasedUntil = &t
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// List returns scheduled work in run order, of one account or ("") of all.
func List(ctx context.Context, q store.Querier, accountID string, limit int) ([]Item, error) {
	query := `SELECT ` + itemColumns + ` FROM due_work`
	args := []any{}
	if accountID != "" {
		query += ` WHERE account_id = $1`
		args = append(args, accountID)
	}
	query += fmt.Sprintf(` ORDER BY run_at, seq LIMIT %d`, max(limit, 1))
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list due work: %w", err)
	}
	return scanItems(rows)
}

// runTx runs a Tx item in a savepoint of tx and records its outcome there.
func (q *Queue) runTx(ctx context.Context, tx *store.Tx, k Kind, it Item) error {
	var next time.Time
	herr := tx.Savepoint(ctx, func() error {
		var err error
		next, err = safely(func() (time.Time, error) { return k.Tx(ctx, tx, it) })
		return err
	})
	if herr != nil {
		q.metrics.failed.WithLabelValues(it.Kind).Inc()
		q.logger.Warn("due work failed", "kind", it.Kind, "subject", it.SubjectID, "account", it.AccountID, "err", herr)
		return q.fail(ctx, tx, it, it.Attempts+1, herr)
	}
	q.metrics.done.WithLabelValues(it.Kind).Inc()
	return finish(ctx, tx, it, next)
}

// safely turns a handler's panic into an error, so that one bad item cannot
// take the runner down.
func safely(fn func() (time.Time, error)) (next time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

// finish removes finished work or schedules it again, unless it was
// scheduled anew meanwhile (the version moved on).
func finish(ctx context.Context, tx *store.Tx, it Item, next time.Time) error {
	var err error
	if next.IsZero() {
		_, err = tx.ExecContext(ctx, `DELETE FROM due_work WHERE seq = $1 AND version = $2`, it.Seq, it.version)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE due_work SET due_at = $1,
			run_at = $1 - COALESCE((SELECT a.clock_offset FROM accounts a WHERE a.id = due_work.account_id), 0),
			attempts = 0, last_error = NULL, leased_until = NULL, leased_by = NULL, version = version + 1
			WHERE seq = $2 AND version = $3`, next.Unix(), it.Seq, it.version)
	}
	if err != nil {
		return fmt.Errorf("finish %s %s: %w", it.Kind, it.SubjectID, err)
	}
	return nil
}

// fail records a failed run and retries it after Backoff(attempts); the
// retry is due then by the account's clock too.
func (q *Queue) fail(ctx context.Context, tx *store.Tx, it Item, attempts int, cause error) error {
	return q.postpone(ctx, tx, it, attempts, Backoff(attempts), cause.Error())
}

func (q *Queue) postpone(ctx context.Context, tx *store.Tx, it Item, attempts int, wait time.Duration, reason string) error {
	runAt := q.wall.Now().Add(wait).Unix()
	const maxError = 2000
	if len(reason) > maxError {
		reason = reason[:maxError]
	}
	_, err := tx.ExecContext(ctx, `UPDATE due_work SET attempts = $1, last_error = $2, run_at = $3,
		due_at = $3 + COALESCE((SELECT a.clock_offset FROM accounts a WHERE a.id = due_work.account_id), 0),
		leased_until = NULL, leased_by = NULL, version = version + 1
		WHERE seq = $4 AND version = $5`, attempts, strings.ToValidUTF8(reason, "?"), runAt, it.Seq, it.version)
	if err != nil {
		return fmt.Errorf("postpone %s %s: %w", it.Kind, it.SubjectID, err)
	}
	return nil
}

// lease takes a Call item for this runner; it returns the item as leased.
func (q *Queue) lease(ctx context.Context, tx *store.Tx, k Kind, it Item) (Item, error) {
	until := q.wall.Now().Add(k.Lease)
	_, err := tx.ExecContext(ctx, `UPDATE due_work SET attempts = attempts + 1, leased_until = $1, leased_by = $2,
		run_at = $1, version = version + 1 WHERE seq = $3 AND version = $4`, until.Unix(), q.worker, it.Seq, it.version)
	if err != nil {
		return it, fmt.Errorf("lease %s %s: %w", it.Kind, it.SubjectID, err)
	}
	it.Attempts++
	it.version++
	it.LeasedUntil, it.LeasedBy, it.RunAt = &until, q.worker, until
	return it, nil
}

// call runs a leased Call item and records its outcome.
func (q *Queue) call(ctx context.Context, k Kind, it Item) error {
	callCtx, cancel := context.WithTimeout(ctx, k.Lease)
	var next time.Time
	var record func(context.Context, *store.Tx) (time.Time, error)
	var herr error
	if k.CallRecord != nil {
		_, herr = safely(func() (time.Time, error) {
			var err error
			record, err = k.CallRecord(callCtx, it)
			return time.Time{}, err
		})
	} else {
		next, herr = safely(func() (time.Time, error) { return k.Call(callCtx, it) })
	}
	cancel()
	// The outcome is written even while shutting down.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer wcancel()
	var err error
	if herr == nil && record != nil {
		err = q.db.InTx(wctx, func(tx *store.Tx) error {
			n, rerr := safely(func() (time.Time, error) { return record(wctx, tx) })
			if rerr != nil {
				return rerr
			}
			return finish(wctx, tx, it, n)
		})
		if err != nil {
			herr, err = fmt.Errorf("record: %w", err), nil
		}
	}
	if herr != nil || record == nil {
		err = q.db.InTx(wctx, func(tx *store.Tx) error {
			if herr != nil {
				return q.fail(wctx, tx, it, it.Attempts, herr)
			}
			return finish(wctx, tx, it, next)
		})
	}
	if herr != nil {
		q.metrics.failed.WithLabelValues(it.Kind).Inc()
		q.logger.Warn("due work failed", "kind", it.Kind, "subject", it.SubjectID, "account", it.AccountID, "err", herr)
	} else if err == nil {
		q.metrics.done.WithLabelValues(it.Kind).Inc()
	}
	return err
}

// release gives a leased item back untouched, for a runner that stops
// before starting it.
func (q *Queue) release(ctx context.Context, it Item) error {
	// Released while shutting down: the context is cancelled already.
	ctx = context.WithoutCancel(ctx)
	return q.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE due_work SET attempts = attempts - 1, leased_until = NULL, leased_by = NULL,
			run_at = due_at - COALESCE((SELECT a.clock_offset FROM accounts a WHERE a.id = due_work.account_id), 0),
			version = version + 1 WHERE seq = $1 AND version = $2`, it.Seq, it.version)
		return err
	})
}

type leased struct {
	kind Kind
	item Item
}

// RunDue makes one pass of the claim loop: it claims up to a batch of the
// earliest runnable items of every account, runs the Tx ones in the claiming
// transaction and starts the Call ones (Wait waits for them). It returns how
// many items it claimed.
func (q *Queue) RunDue(ctx context.Context) (int, error) {
	now := q.wall.Now().Unix()
	var calls []leased
	var claimed []Item
	// Work taken on is finished even when ctx ends mid-batch.
	txCtx := context.WithoutCancel(ctx)
	txKinds, callKinds := q.kindNames()
	// Calls are leased only as far as they can start soon: a lease taken
	// for an item that then waits for a slot would delay it by a whole
	// lease if this process died, and could run out while it waits.
	room := 2*callSlots - int(q.outstanding.Load())
	// Call kinds take turns at being first, so that one kind's backlog
	// does not keep taking all the room from the others.
	if n := len(callKinds); n > 0 {
		first := int(q.turn.Add(1) % uint64(n))
		callKinds = append(callKinds[first:], callKinds[:first]...)
	}
	err := q.db.InTx(txCtx, func(tx *store.Tx) error {
		calls, claimed = calls[:0], claimed[:0]
		for _, kind := range txKinds {
			if k, _ := q.kind(kind); k.OwnTransaction {
				continue
			}
			items, err := claimKind(txCtx, tx, now, kind, q.batch)
			if err != nil {
				return err
			}
			claimed = append(claimed, items...)
		}
		left := room
		for _, kind := range callKinds {
			if left <= 0 {
				break
			}
			items, err := claimKind(txCtx, tx, now, kind, left)
			if err != nil {
				return err
			}
			left -= len(items)
			claimed = append(claimed, items...)
		}
		for _, it := range claimed {
			c, err := q.take(txCtx, tx, it)
			if err != nil {
				return err
			}
			if c != nil {
				calls = append(calls, *c)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, it := range claimed {
		q.metrics.claimed.WithLabelValues(it.Kind).Inc()
	}
	for _, c := range calls {
		q.startCall(ctx, c)
	}
	n, err := q.runAlone(txCtx, now, txKinds)
	return len(claimed) + n, err
}

// runAlone runs up to a batch of the runnable items of the OwnTransaction
// kinds, each claimed, run and committed in a transaction of its own.
func (q *Queue) runAlone(ctx context.Context, now int64, kinds []string) (int, error) {
	ran := 0
	for _, kind := range kinds {
		k, _ := q.kind(kind)
		if !k.OwnTransaction {
			continue
		}
		for ran < q.batch {
			var got bool
			err := q.db.InTx(ctx, func(tx *store.Tx) error {
				items, err := claimKind(ctx, tx, now, kind, 1)
				if err != nil || len(items) == 0 {
					got = false
					return err
				}
				got = true
				q.metrics.claimed.WithLabelValues(kind).Inc()
				return q.runTx(ctx, tx, k, items[0])
			})
			if err != nil {
				return ran, err
			}
			if !got {
				break
			}
			ran++
		}
	}
	return ran, nil
}

// claimKind locks up to limit runnable items of one kind, earliest first,
// passing over those another runner holds (the (kind, run_at, seq) index
// reads just those).
func claimKind(ctx context.Context, tx *store.Tx, now int64, kind string, limit int) ([]Item, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM due_work WHERE kind = $1 AND run_at <= $2
		ORDER BY run_at, seq LIMIT $3`+tx.Dialect.SkipLocked(), kind, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim due work: %w", err)
	}
	items, err := scanItems(rows)
	if err != nil {
		return nil, fmt.Errorf("claim due work: %w", err)
	}
	return items, nil
}

// kindNames lists the registered kinds, those run in the claiming
// transaction and those that call out. A runner claims only kinds it
// knows; another version of Kassa takes the rest.
func (q *Queue) kindNames() (tx, call []string) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	for name, k := range q.kinds {
		if k.Tx != nil {
			tx = append(tx, name)
		} else {
			call = append(call, name)
		}
	}
	sort.Strings(tx)
	sort.Strings(call)
	return tx, call
}

// take handles one claimed item inside the claiming transaction: a Tx item
// runs, a Call item is leased and returned, an unknown kind is postponed.
func (q *Queue) take(ctx context.Context, tx *store.Tx, it Item) (*leased, error) {
	k, ok := q.kind(it.Kind)
	switch {
	case !ok:
		return nil, q.postpone(ctx, tx, it, it.Attempts, unknownKindDelay, "no handler for kind "+it.Kind+" in worker "+q.worker)
	case k.Tx != nil:
		return nil, q.runTx(ctx, tx, k, it)
	default:
		l, err := q.lease(ctx, tx, k, it)
		if err != nil {
			return nil, err
		}
		return &leased{k, l}, nil
	}
}

func (q *Queue) startCall(ctx context.Context, c leased) {
	q.calls.Add(1)
	q.outstanding.Add(1)
	go func() {
		defer q.calls.Done()
		defer func() {
			if q.outstanding.Add(-1) == callSlots {
				select {
				case q.room <- struct{}{}:
				default:
				}
			}
		}()
		select {
		case q.slots <- struct{}{}:
		case <-ctx.Done():
			if err := q.release(ctx, c.item); err != nil {
				q.logger.Error("release due work", "kind", c.item.Kind, "subject", c.item.SubjectID, "err", err)
			}
			return
		}
		defer func() { <-q.slots }()
		if err := q.call(ctx, c.kind, c.item); err != nil {
			q.logger.Error("record due work", "kind", c.item.Kind, "subject", c.item.SubjectID, "err", err)
		}
	}()
}

// Wait waits for the Call handlers started by RunDue.
func (q *Queue) Wait() { q.calls.Wait() }

// busyPoll is how soon the loop looks again after a pass that found work:
// while work keeps coming, it starts within this of falling due.
const busyPoll = 50 * time.Millisecond

// Run runs the claim loop until ctx ends: a full batch is followed at once
// by the next, a pass that found some work by another after busyPoll, and
// an idle loop looks again after interval. On return, every item it
// claimed has finished or been released.
func (q *Queue) Run(ctx context.Context, interval time.Duration) {
	defer q.Wait()
	failures := 0
	for ctx.Err() == nil {
		n, err := q.RunDue(ctx)
		wait := interval
		switch {
		case err != nil:
			failures++
			wait = min(interval*time.Duration(1<<min(failures, 6)), time.Minute)
			q.logger.Error("due work pass failed", "err", err)
		case n >= q.batch:
			failures = 0
			continue
		case n > 0:
			failures = 0
			wait = min(interval, busyPoll)
		default:
			failures = 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-q.room:
		}
	}
}

// Advance reports what RunAccount did.
type Advance struct {
	// Ran is the number of items run.
	Ran int
	// Remaining counts the items still due by the target time: more than
	// the step cap allowed, left to the claim loop.
	Remaining int
}

// RunAccount runs one account's work due by its clock up to until, in due
// order, including the work that running it schedules, until none is left or
// maxSteps items have run. Items another runner holds under a lease are
// left to it. The test clock calls it after moving an account's clock.
func (q *Queue) RunAccount(ctx context.Context, accountID string, until time.Time, maxSteps int) (Advance, error) {
	var res Advance
	const perTx = 100
	empty := 0
	for res.Ran < maxSteps && empty < 10 {
		var call *leased
		ran := 0
		err := q.db.InTx(ctx, func(tx *store.Tx) error {
			call, ran = nil, 0
			for ran < perTx && res.Ran+ran < maxSteps {
				// One at a time, each query seeing what the last item
				// scheduled: strict due order.
				rows, err := tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM due_work
					WHERE account_id = $1 AND due_at <= $2 AND (leased_until IS NULL OR leased_until <= $3)
					ORDER BY due_at, seq LIMIT 1`+tx.Dialect.ForUpdate(), accountID, until.Unix(), q.wall.Now().Unix())
				if err != nil {
					return fmt.Errorf("claim due work of %s: %w", accountID, err)
				}
				items, err := scanItems(rows)
				if err != nil {
					return fmt.Errorf("claim due work of %s: %w", accountID, err)
				}
				if len(items) == 0 {
					return nil
				}
				ran++
				q.metrics.claimed.WithLabelValues(items[0].Kind).Inc()
				c, err := q.take(ctx, tx, items[0])
				if err != nil {
					return err
				}
				if c != nil {
					call = c // run it before anything due after it
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Ran += ran
		if call != nil {
			if err := q.call(ctx, call.kind, call.item); err != nil {
				return res, err
			}
		}
		if ran == 0 {
			empty++
			// A locked row another runner deleted meanwhile makes LIMIT 1
			// return nothing on PostgreSQL: look again without locking.
			n, err := q.countDue(ctx, accountID, until)
			if err != nil || n == 0 {
				return res, err
			}
		} else {
			empty = 0
		}
	}
	n, err := q.countDue(ctx, accountID, until)
	res.Remaining = n
	return res, err
}

func (q *Queue) countDue(ctx context.Context, accountID string, until time.Time) (int, error) {
	var n int
	err := q.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM due_work
		WHERE account_id = $1 AND due_at <= $2 AND (leased_until IS NULL OR leased_until <= $3)`,
		accountID, until.Unix(), q.wall.Now().Unix()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count due work of %s: %w", accountID, err)
	}
	return n, nil
}
