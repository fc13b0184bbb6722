package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/worker"
)

// ReconcileTask is the worker task that settles what was left open: charge
// attempts whose outcome the gateway did not confirm, and attempts left
// pending for over a minute (a crash between PrepareCharge and Record); the
// same for refunds. Each is asked about again under its original idempotency
// key, so nothing is charged or refunded twice, and the answer recorded.
// Outcomes still unconfirmed are asked about again after 1, 2, 4 … minutes,
// at most an hour apart.
func (s *Service) ReconcileTask() worker.Task { return reconciler{s} }

type reconciler struct{ s *Service }

func (reconciler) Name() string { return "payment reconciliation" }

func (r reconciler) RunDue(ctx context.Context, sc account.Scope) error {
	return errors.Join(r.s.reconcileAttempts(ctx, sc), r.s.reconcileRefunds(ctx, sc))
}

// maxClaim bounds the rows one pass takes on.
const maxClaim = 50

// claim takes the due rows of table (payment_attempts or refunds) for this
// pass: their due_at moves a lease ahead and their check count goes up, so
// concurrent runners skip them. It returns the ids claimed.
func (s *Service) claim(ctx context.Context, sc account.Scope, table string) ([]string, error) {
	now := sc.Now().Unix()
	const due = ` WHERE account_id = $1 AND status IN ('pending', 'unconfirmed') AND due_at <= $2`
	// Most passes find nothing: ask the read handle before taking a write lock.
	var n int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+due, sc.AccountID, now).Scan(&n); err != nil {
		return nil, fmt.Errorf("count due %s: %w", table, err)
	}
	if n == 0 {
		return nil, nil
	}
	var ids []string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		ids = ids[:0]
		lock := ""
		if tx.Dialect == store.Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM `+table+due+fmt.Sprintf(` ORDER BY due_at LIMIT %d`, maxClaim)+lock,
			sc.AccountID, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET due_at = $1, checks = checks + 1 WHERE account_id = $2 AND id = $3`,
				now+int64(lease/time.Second), sc.AccountID, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due %s: %w", table, err)
	}
	return ids, nil
}

// postpone leaves a claimed row for later, when its gateway cannot be asked.
func (s *Service) postpone(ctx context.Context, sc account.Scope, table, rowID string, checks int) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE `+table+` SET due_at = $1 WHERE account_id = $2 AND id = $3`,
			sc.Now().Add(max(backoff(checks), time.Minute)).Unix(), sc.AccountID, rowID)
		return err
	})
}

func (s *Service) reconcileAttempts(ctx context.Context, sc account.Scope) error {
	ids, err := s.claim(ctx, sc, "payment_attempts")
	if err != nil || len(ids) == 0 {
		return err
	}
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return err
	}
	var errs []error
	for _, attemptID := range ids {
		a, err := s.GetAttempt(ctx, sc, attemptID)
		if err != nil {
			errs = append(errs, fmt.Errorf("load attempt %s: %v", attemptID, err))
			continue
		}
		if a.Status.Final() {
			continue
		}
		if a.Gateway != g.Name() {
			// Money may have moved through the old gateway: never guess.
			errs = append(errs, s.postpone(ctx, sc, "payment_attempts", a.ID, a.checks))
			continue
		}
		res, err := g.ChargeStatus(ctx, gatewayStatusRequest(a))
		if err != nil {
			res = errorResult(err)
		}
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			_, err := s.Record(ctx, tx, sc, a, res)
			return err
		}); err != nil {
			// %v: a failure here is the server's, whatever its cause's kind.
			errs = append(errs, fmt.Errorf("record attempt %s: %v", a.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) reconcileRefunds(ctx context.Context, sc account.Scope) error {
	ids, err := s.claim(ctx, sc, "refunds")
	if err != nil || len(ids) == 0 {
		return err
	}
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return err
	}
	var errs []error
	for _, refundID := range ids {
		r, err := getRefund(ctx, s.db.Read(), sc, refundID, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("load refund %s: %v", refundID, err))
			continue
		}
		if r.status != refundPending && r.status != refundUnconfirmed {
			continue
		}
		if r.gateway != g.Name() {
			errs = append(errs, s.postpone(ctx, sc, "refunds", r.id, r.checks))
			continue
		}
		// Refunding again under the same key returns the first answer.
		res, callErr := g.Refund(ctx, r.request())
		if _, _, err := s.finishRefund(ctx, sc, r.id, res, callErr); err != nil {
			errs = append(errs, fmt.Errorf("finish refund %s: %v", r.id, err))
		}
	}
	return errors.Join(errs...)
}

// gatewayStatusRequest asks about an attempt as it was sent; it is dated
// from the attempt's creation, which precedes the send by moments.
func gatewayStatusRequest(a *Attempt) gateway.StatusRequest {
	return gateway.StatusRequest{ChargeRequest: a.chargeRequest(), ChargeRef: a.ChargeRef, SentAt: time.Unix(a.Created, 0).UTC()}
}
