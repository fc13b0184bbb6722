package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/store"
)

// Due-work kinds of the payment domain. An attempt or refund gets one when
// it is created pending (in case the request that sends it dies before
// recording the outcome) and again each time its outcome is unconfirmed;
// reaching a final outcome cancels it. The reconciler asks the gateway again
// under the original idempotency key, so nothing is charged or refunded
// twice, and records the answer.
const (
	KindReconcileAttempt = "payment.reconcile_attempt"
	KindReconcileRefund  = "payment.reconcile_refund"
)

// scheduleCheck schedules (or, for a final outcome, cancels) the
// reconciliation of an attempt or refund inside tx.
func scheduleCheck(ctx context.Context, tx *store.Tx, sc account.Scope, kind, subjectID string, due *time.Time) error {
	if due == nil {
		return duework.Cancel(ctx, tx, kind, subjectID)
	}
	return duework.Schedule(ctx, tx, sc.AccountID, kind, subjectID, *due)
}

// countCheck notes one more check of a row (payment_attempts or refunds):
// the count sets the backoff of the next.
func (s *Service) countCheck(ctx context.Context, sc account.Scope, table, rowID string) (int, error) {
	var checks int
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE `+table+` SET checks = checks + 1 WHERE account_id = $1 AND id = $2 RETURNING checks`,
			sc.AccountID, rowID).Scan(&checks)
	})
	return checks, err
}

// ReconcileAttempt settles one charge attempt left pending or unconfirmed:
// the handler of KindReconcileAttempt. It returns when to look again, or
// the zero time when recording the answer scheduled what comes next.
func (s *Service) ReconcileAttempt(ctx context.Context, sc account.Scope, attemptID string) (time.Time, error) {
	a, err := s.GetAttempt(ctx, sc, attemptID)
	if apperr.IsKind(err, apperr.NotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if a.Status.Final() {
		return time.Time{}, nil
	}
	checks, err := s.countCheck(ctx, sc, "payment_attempts", a.ID)
	if err != nil {
		return time.Time{}, fmt.Errorf("count check of %s: %w", a.ID, err)
	}
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return time.Time{}, err
	}
	if a.Gateway != g.Name() {
		// Money may have moved through the old gateway: never guess.
		return sc.Now().Add(max(backoff(checks), time.Minute)), nil
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
		return time.Time{}, fmt.Errorf("record attempt %s: %v", a.ID, err)
	}
	return time.Time{}, nil
}

// ReconcileRefund settles one refund left pending or unconfirmed: the
// handler of KindReconcileRefund. Refunding again under the same key
// returns the first answer.
func (s *Service) ReconcileRefund(ctx context.Context, sc account.Scope, refundID string) (time.Time, error) {
	r, err := getRefund(ctx, s.db.Read(), sc, refundID, "")
	if apperr.IsKind(err, apperr.NotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if r.status != refundPending && r.status != refundUnconfirmed {
		return time.Time{}, nil
	}
	checks, err := s.countCheck(ctx, sc, "refunds", r.id)
	if err != nil {
		return time.Time{}, fmt.Errorf("count check of %s: %w", r.id, err)
	}
	r.checks = checks
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return time.Time{}, err
	}
	if r.gateway != g.Name() {
		return sc.Now().Add(max(backoff(checks), time.Minute)), nil
	}
	res, callErr := g.Refund(ctx, r.request())
	if _, _, err := s.finishRefund(ctx, sc, r.id, res, callErr); err != nil {
		return time.Time{}, fmt.Errorf("finish refund %s: %v", r.id, err)
	}
	return time.Time{}, nil
}

// gatewayStatusRequest asks about an attempt as it was sent; it is dated
// from the attempt's creation, which precedes the send by moments.
func gatewayStatusRequest(a *Attempt) gateway.StatusRequest {
	return gateway.StatusRequest{ChargeRequest: a.chargeRequest(), ChargeRef: a.ChargeRef, SentAt: time.Unix(a.Created, 0).UTC()}
}
