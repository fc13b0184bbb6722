// Package idempotency remembers the outcome of mutating requests sent with an
// Idempotency-Key, so a client can retry safely: the same key and request get
// the stored answer replayed, a different request under the same key is
// refused, and a retry while the first request still runs is told so.
// Keys are scoped to account and endpoint and kept for 24 hours.
package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/kassahq/kassa/internal/store"
)

// Retention is how long a key is remembered.
const Retention = 24 * time.Hour

// Stale is how long a first request may run before its key reports that it
// never completed.
const Stale = 10 * time.Minute

var keyPattern = regexp.MustCompile(`^[\x21-\x7E]{1,255}$`)

// ValidKey reports whether k is an acceptable key: 1–255 printable ASCII
// characters without spaces.
func ValidKey(k string) bool { return keyPattern.MatchString(k) }

// Verdict is what Begin decided.
type Verdict int

// Verdicts.
const (
	Proceed    Verdict = iota // first use: run the request, then Complete or Abandon
	Replay                    // same request finished before: send Status and Body
	InProgress                // same key still running
	Reused                    // same key, different request
	Incomplete                // the first request never finished
)

// Result of Begin.
type Result struct {
	Verdict Verdict
	Status  int
	Body    []byte
}

// Store keeps keys in the database.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns a Store; now is the real clock (retention is wall time).
func NewStore(db *store.DB, now func() time.Time) *Store { return &Store{db: db, now: now} }

// Begin claims key for a request whose fingerprint is hash.
func (s *Store) Begin(ctx context.Context, accountID, endpoint, key, hash string) (Result, error) {
	var res Result
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		ins, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (account_id, endpoint, idem_key, request_hash, state, created_at)
			VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT DO NOTHING`, accountID, endpoint, key, hash, now.Unix())
		if err != nil {
			return err
		}
		if n, _ := ins.RowsAffected(); n == 1 {
			res = Result{Verdict: Proceed}
			return nil
		}
		var storedHash, state string
		var status sql.NullInt64
		var body sql.NullString
		var created int64
		err = tx.QueryRowContext(ctx, `SELECT request_hash, state, response_status, response_body, created_at
			FROM idempotency_keys WHERE account_id = $1 AND endpoint = $2 AND idem_key = $3`+tx.Dialect.ForUpdate(),
			accountID, endpoint, key).Scan(&storedHash, &state, &status, &body, &created)
		if err != nil {
			return err
		}
		age := now.Sub(time.Unix(created, 0))
		switch {
		case age > Retention:
			// Expired: the key starts afresh.
			_, err = tx.ExecContext(ctx, `UPDATE idempotency_keys SET request_hash = $1, state = 'running',
				response_status = NULL, response_body = NULL, created_at = $2
				WHERE account_id = $3 AND endpoint = $4 AND idem_key = $5`, hash, now.Unix(), accountID, endpoint, key)
			res = Result{Verdict: Proceed}
			return err
		case storedHash != hash:
			res = Result{Verdict: Reused}
		case state == "running" && age > Stale:
			res = Result{Verdict: Incomplete}
		case state == "running":
			res = Result{Verdict: InProgress}
		default:
			res = Result{Verdict: Replay, Status: int(status.Int64), Body: []byte(body.String)}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("idempotency key %q: %w", key, err)
	}
	return res, nil
}

// Complete stores the response of a request that ran.
func (s *Store) Complete(ctx context.Context, accountID, endpoint, key string, status int, body []byte) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', response_status = $1, response_body = $2
			WHERE account_id = $3 AND endpoint = $4 AND idem_key = $5`, status, string(body), accountID, endpoint, key)
		return err
	})
}

// Abandon forgets a key whose request was refused as bad input, so the
// client can fix the request and retry with the same key.
func (s *Store) Abandon(ctx context.Context, accountID, endpoint, key string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE account_id = $1 AND endpoint = $2 AND idem_key = $3`,
			accountID, endpoint, key)
		return err
	})
}

// Sweep deletes keys past retention.
func (s *Store) Sweep(ctx context.Context) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, s.now().Add(-Retention).Unix())
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("sweep idempotency keys: %w", err)
	}
	return nil
}
