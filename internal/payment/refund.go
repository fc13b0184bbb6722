package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

// RefundParams is the body of POST /transactions/{id}/refund. An absent
// amount is what remains refundable; an amount is never null, so a null one
// is refused rather than read as "everything".
type RefundParams struct {
	Amount *int64  `json:"amount" null:"never"`
	Reason *string `json:"reason"`
}

// Refund reasons.
var refundReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true}

// Refund statuses. A failed refund releases its reserved amount.
const (
	refundPending     = "pending"
	refundSucceeded   = "succeeded"
	refundFailed      = "failed"
	refundUnconfirmed = "unconfirmed"
)

type refund struct {
	id, chargeID, gateway, chargeRef string
	amount                           int64
	currency, reason, status         string
	checks                           int
}

func (r *refund) request() gateway.RefundRequest {
	return gateway.RefundRequest{ChargeRef: r.chargeRef, Amount: r.amount, Currency: strings.ToUpper(r.currency),
		IdempotencyKey: r.id, Reason: r.reason}
}

func (p *RefundParams) validate() error {
	if p.Amount != nil && *p.Amount <= 0 {
		return apperr.Invalidf("amount must be a positive integer number of minor units")
	}
	if p.Amount != nil && billing.CheckCharge(*p.Amount) != nil {
		return apperr.Invalidf("amount must not be greater than %d", billing.MaxChargeAmount)
	}
	if p.Reason != nil && !refundReasons[*p.Reason] {
		return apperr.Invalidf("reason must be one of the following values: duplicate, fraudulent, requested_by_customer")
	}
	return nil
}

// Refund returns money of a charge, in full (the default) or in part;
// several partial refunds may follow each other, never more in total than
// was charged, also when requests race: the amount is reserved under the
// charge's row lock before the gateway is called (outside any transaction,
// with the refund's id as idempotency key), then the refund is finalized.
// A refund the gateway approves becomes a negative balance transaction,
// which is returned; a charge refunded in full turns status refunded.
func (s *Service) Refund(ctx context.Context, sc account.Scope, chargeID string, p RefundParams) (*Transaction, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return nil, err
	}
	var r *refund
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		r, err = reserveRefund(ctx, tx, sc, g.Name(), chargeID, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("refund %s: %w", chargeID, err)
	}
	res, callErr := g.Refund(ctx, r.request())
	txn, status, err := s.finishRefund(ctx, sc, r.id, res, callErr)
	if err != nil {
		return nil, fmt.Errorf("refund %s: %w", chargeID, err)
	}
	switch {
	case status == refundSucceeded:
		return txn, nil
	case status == refundUnconfirmed:
		return nil, apperr.New(apperr.BadGateway, "REFUND_UNCONFIRMED",
			"The payment gateway did not confirm the refund; it is being checked again and stays reserved meanwhile")
	case callErr != nil && errors.Is(callErr, gateway.ErrInvalidRequest):
		return nil, apperr.BadRequestf("REFUND_REJECTED", "The payment gateway refused the refund: %v", callErr)
	case callErr != nil:
		return nil, &apperr.Error{Kind: apperr.BadGateway, Code: "GATEWAY_ERROR", Message: "The payment gateway could not refund the charge", Err: callErr}
	default:
		msg := res.Message
		if msg == "" {
			msg = "The refund was declined"
		}
		return nil, apperr.New(apperr.PaymentFailed, "REFUND_DECLINED", msg)
	}
}

// reserveRefund checks a refund against what remains of the charge and
// inserts it pending. The charge's row lock serializes concurrent refunds.
func reserveRefund(ctx context.Context, tx *store.Tx, sc account.Scope, gatewayName, chargeID string, p RefundParams) (*refund, error) {
	charge, err := getTransaction(ctx, tx, sc, chargeID, tx.Dialect.ForUpdate())
	if err != nil {
		return nil, err
	}
	if charge.Type != TypeCharge {
		return nil, apperr.BadRequestf("NOT_A_CHARGE", "Transaction %s is a %s; only charges can be refunded", charge.ID, charge.Type)
	}
	a, err := attemptByID(ctx, tx, sc, charge.attemptID, "")
	if err != nil {
		return nil, err
	}
	if a.Gateway != gatewayName {
		return nil, apperr.BadRequestf("GATEWAY_MISMATCH",
			"Transaction %s was charged through the %s gateway; the account now uses %s", charge.ID, a.Gateway, gatewayName)
	}
	var reserved int64
	if err := tx.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds
		WHERE account_id = $1 AND charge_id = $2 AND status <> $3`, sc.AccountID, charge.ID, refundFailed).Scan(&reserved); err != nil {
		return nil, fmt.Errorf("sum refunds: %w", err)
	}
	remaining := charge.Amount - reserved
	if remaining <= 0 {
		return nil, apperr.BadRequestf("CHARGE_ALREADY_REFUNDED", "Transaction %s has already been refunded in full", charge.ID)
	}
	amount := remaining
	if p.Amount != nil {
		amount = *p.Amount
	}
	if amount > remaining {
		return nil, apperr.BadRequestf("REFUND_EXCEEDS_CHARGE",
			"amount %d is more than the %d that remains refundable of transaction %s (charged %d, refunded or being refunded %d)",
			amount, remaining, charge.ID, charge.Amount, reserved)
	}
	r := &refund{id: id.New(id.Transaction), chargeID: charge.ID, gateway: a.Gateway, chargeRef: a.ChargeRef,
		amount: amount, currency: charge.Currency, reason: str(p.Reason), status: refundPending}
	now := sc.Now().Unix()
	if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (id, account_id, charge_id, gateway, charge_ref, amount,
		currency, reason, status, due_at, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
		r.id, sc.AccountID, r.chargeID, r.gateway, r.chargeRef, r.amount, r.currency, nonEmpty(r.reason), r.status,
		now+int64(pendingGrace/time.Second), now); err != nil {
		return nil, fmt.Errorf("insert refund: %w", err)
	}
	due := sc.Now().Add(pendingGrace)
	if err := scheduleCheck(ctx, tx, sc, KindReconcileRefund, r.id, &due); err != nil {
		return nil, err
	}
	return r, nil
}

const refundColumns = `id, charge_id, gateway, charge_ref, amount, currency, COALESCE(reason, ''), status, checks`

func scanRefund(row interface{ Scan(...any) error }) (*refund, error) {
	r := &refund{}
	if err := row.Scan(&r.id, &r.chargeID, &r.gateway, &r.chargeRef, &r.amount, &r.currency, &r.reason, &r.status, &r.checks); err != nil {
		return nil, err
	}
	return r, nil
}

func getRefund(ctx context.Context, q store.Querier, sc account.Scope, refundID, lock string) (*refund, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM refunds WHERE account_id = $1 AND id = $2`+lock,
		sc.AccountID, refundID),
		func(r store.Row) (*refund, error) { return scanRefund(r) },
		func() error { return apperr.NotFoundf("Refund %s not found", refundID) }, "refund "+refundID)
}

// finishRefund stores the gateway's answer to a refund and returns its
// status (and transaction, when it succeeded). Finishing again changes nothing.
func (s *Service) finishRefund(ctx context.Context, sc account.Scope, refundID string, res gateway.RefundResult, callErr error) (*Transaction, string, error) {
	var txn *Transaction
	var status string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		txn = nil
		r, err := getRefund(ctx, tx, sc, refundID, tx.Dialect.ForUpdate())
		if err != nil {
			return err
		}
		status = r.status
		switch r.status {
		case refundSucceeded:
			txn, err = getTransaction(ctx, tx, sc, r.id, "")
			return err
		case refundFailed:
			return nil
		}
		now := sc.Now()
		var dueAt *int64
		var checkAt *time.Time
		message := res.Message
		switch {
		case callErr != nil:
			status, message = refundFailed, callErr.Error()
		case res.Outcome == gateway.Approved:
			status = refundSucceeded
			if txn, err = s.refundTransaction(ctx, tx, sc, r, now.Unix()); err != nil {
				return err
			}
		case res.Outcome == gateway.Declined:
			status = refundFailed
		case res.Outcome == gateway.Unconfirmed:
			status = refundUnconfirmed
			checkAt = ptr(now.Add(backoff(r.checks)))
			dueAt = ptr(checkAt.Unix())
		default:
			return fmt.Errorf("refund %s: unknown outcome %q", r.id, res.Outcome)
		}
		_, err = tx.ExecContext(ctx, `UPDATE refunds SET status = $1, refund_ref = $2, message = $3, due_at = $4, updated = $5
			WHERE account_id = $6 AND id = $7`, status, nonEmpty(res.RefundRef), nonEmpty(message), dueAt, now.Unix(), sc.AccountID, r.id)
		if err != nil {
			return fmt.Errorf("update refund %s: %w", r.id, err)
		}
		return scheduleCheck(ctx, tx, sc, KindReconcileRefund, r.id, checkAt)
	})
	return txn, status, err
}

// refundTransaction writes the refund's balance transaction and adds the
// amount to the charge's refunded total.
func (s *Service) refundTransaction(ctx context.Context, tx *store.Tx, sc account.Scope, r *refund, now int64) (*Transaction, error) {
	charge, err := getTransaction(ctx, tx, sc, r.chargeID, tx.Dialect.ForUpdate())
	if err != nil {
		return nil, err
	}
	txn := &Transaction{
		ID: r.id, Object: "balance_transaction", Type: TypeRefund, Status: StatusSucceeded,
		Amount: -r.amount, Fee: 0, FeeDetails: []string{}, Net: -r.amount, Currency: charge.Currency,
		AvailableOn: now, BalanceType: "default", PaymentMethod: charge.PaymentMethod,
		Description: ptr("Refund of " + charge.ID), Invoice: charge.Invoice, Customer: charge.Customer,
		SourceType: charge.SourceType, AmountCharged: -r.amount, SourceTransaction: &charge.ID,
		RefundReason: nonEmpty(r.reason), Created: now,
	}
	if err := insertTransaction(ctx, tx, sc.AccountID, txn); err != nil {
		return nil, err
	}
	refunded := charge.AmountRefunded + r.amount
	status := charge.Status
	if refunded >= charge.Amount {
		status = StatusRefunded
	}
	if _, err := tx.ExecContext(ctx, `UPDATE balance_transactions SET amount_refunded = $1, status = $2
		WHERE account_id = $3 AND id = $4`, refunded, status, sc.AccountID, charge.ID); err != nil {
		return nil, fmt.Errorf("update charge %s: %w", charge.ID, err)
	}
	return txn, nil
}
