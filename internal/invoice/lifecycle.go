package invoice

import (
	"context"
	"fmt"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/mail"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
)

// finalizeTx turns a draft into an open invoice with the next number. The
// customer's details are copied now and frozen from then on (Stripe's rule);
// a deleted customer's are those the draft stored last. An invoice with
// nothing due is paid as it is finalized: paid, status paid and nothing
// remaining go together (G-22).
func (s *Service) finalizeTx(ctx context.Context, tx *store.Tx, sc account.Scope, inv *Invoice) error {
	// The customer's row is locked before the account's (numbering), the
	// order invoice creation takes them in.
	c, err := customer.GetTx(ctx, tx, sc, inv.Customer)
	switch {
	case err == nil:
		inv.billTo(c)
	case !apperr.IsKind(err, apperr.NotFound):
		return err
	}
	address, err := encodeAddress(inv.CustomerAddress)
	if err != nil {
		return err
	}
	number, err := account.NextInvoiceNumber(ctx, tx, sc.AccountID)
	if err != nil {
		return err
	}
	now := sc.Now().Unix()
	if _, err := tx.ExecContext(ctx, `UPDATE invoices SET status = 'open', number = $1, finalized_at = $2, updated = $2,
		customer_name = $3, customer_email = $4, customer_phone = $5, customer_address = $6
		WHERE account_id = $7 AND id = $8 AND status = 'draft'`, number, now,
		inv.CustomerName, inv.CustomerEmail, inv.CustomerPhone, address, sc.AccountID, inv.ID); err != nil {
		return fmt.Errorf("finalize invoice %s: %w", inv.ID, err)
	}
	inv.Status, inv.Number, inv.StatusTransitions.FinalizedAt = StatusOpen, &number, &now
	inv.derive(s.publicURL)
	if err := event.Record(ctx, tx, sc, "invoice.finalized", inv); err != nil {
		return err
	}
	if inv.AmountDue == 0 {
		return s.settleTx(ctx, tx, sc, inv, 0)
	}
	return nil
}

// sendTx emails the invoice with its payment link. Without an email address
// there is nobody to send it to, and no invoice.sent.
func (s *Service) sendTx(ctx context.Context, tx *store.Tx, sc account.Scope, inv *Invoice) error {
	if inv.Status != StatusOpen {
		return nil // paid on finalization: there is nothing to ask for
	}
	if inv.CustomerEmail == nil || *inv.CustomerEmail == "" {
		return nil
	}
	due := ""
	if inv.DueDate != nil {
		due = "\nDue: " + unixDate(*inv.DueDate)
	}
	body := fmt.Sprintf("Hello %s,\n\n%s sent you invoice %s for %s.%s\n\nPay it online: %s\n",
		inv.CustomerName, inv.AccountName, *inv.Number, billing.FormatAmount(inv.AmountRemaining, inv.Currency), due, inv.HostedInvoiceURL)
	if inv.Memo != nil {
		body += "\n" + *inv.Memo + "\n"
	}
	if inv.Footer != nil {
		body += "\n" + *inv.Footer + "\n"
	}
	err := mail.Enqueue(ctx, tx, sc, mail.Message{Kind: "invoice.sent", To: *inv.CustomerEmail,
		Subject: fmt.Sprintf("Invoice %s from %s", *inv.Number, inv.AccountName), Body: body})
	if err != nil {
		return err
	}
	return event.Record(ctx, tx, sc, "invoice.sent", inv)
}

// Finalize commits a draft: it gets its number and becomes open.
func (s *Service) Finalize(ctx context.Context, sc account.Scope, invoiceID string) (*Invoice, error) {
	return s.change(ctx, sc, invoiceID, func(tx *store.Tx, inv *Invoice) error {
		if inv.Status != StatusDraft {
			return apperr.BadRequestf("INVOICE_NOT_DRAFT", "Invoice %s is %s; only a draft can be finalized", inv.ID, inv.Status)
		}
		if err := s.finalizeTx(ctx, tx, sc, inv); err != nil {
			return err
		}
		if inv.CollectionMethod == SendInvoice {
			return s.sendTx(ctx, tx, sc, inv)
		}
		return nil
	})
}

// change runs fn on the locked invoice and returns it as committed.
func (s *Service) change(ctx context.Context, sc account.Scope, invoiceID string, fn func(tx *store.Tx, inv *Invoice) error) (*Invoice, error) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		inv, err := s.getTx(ctx, tx, sc, invoiceID)
		if err != nil {
			return err
		}
		return fn(tx, inv)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, sc, invoiceID)
}

func (s *Service) pendingAttempt(ctx context.Context, tx *store.Tx, sc account.Scope, invoiceID string) (string, error) {
	var pending *string
	if err := tx.QueryRowContext(ctx, `SELECT pending_attempt FROM invoices WHERE account_id = $1 AND id = $2`,
		sc.AccountID, invoiceID).Scan(&pending); err != nil {
		return "", fmt.Errorf("load pending attempt of %s: %w", invoiceID, err)
	}
	if pending == nil {
		return "", nil
	}
	return *pending, nil
}

func errInProgress(invoiceID string) error {
	return apperr.Conflictf("PAYMENT_IN_PROGRESS", "A payment of invoice %s is in progress; its outcome is being confirmed", invoiceID)
}

func checkPayable(inv *Invoice) error {
	switch inv.Status {
	case StatusPaid:
		return apperr.BadRequestf("INVOICE_ALREADY_PAID", "Invoice %s is already paid", inv.ID)
	case StatusVoid:
		return apperr.BadRequestf("INVOICE_VOID", "Invoice %s is void and cannot be paid", inv.ID)
	}
	return nil
}

// Pay charges what is left to pay on the invoice through the gateway,
// finalizing a draft first. The charge goes to the invoice's payment method
// or, when there is none or it was detached since, the customer's default;
// the invoice keeps naming its choice, the attempt names the method charged.
// Approved: the invoice is paid. Declined: a 402 error, the invoice stays
// open. Unconfirmed: a 502 error; the reconciler settles it later. One
// charge at a time per invoice, each attempt with its own idempotency key,
// so an invoice is never charged twice.
func (s *Service) Pay(ctx context.Context, sc account.Scope, invoiceID string) (*Invoice, error) {
	var attempt *payment.Attempt
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		inv, err := s.getTx(ctx, tx, sc, invoiceID)
		if err != nil {
			return err
		}
		if err := checkPayable(inv); err != nil {
			return err
		}
		pending, err := s.pendingAttempt(ctx, tx, sc, inv.ID)
		if err != nil {
			return err
		}
		if pending != "" {
			return errInProgress(inv.ID)
		}
		// The customer's row is locked before the account's (numbering), the
		// order invoice creation takes them in.
		if _, err := customer.GetTx(ctx, tx, sc, inv.Customer); apperr.IsKind(err, apperr.NotFound) {
			// The invoice stays for the record; there is nobody left to charge.
			return apperr.BadRequestf("CUSTOMER_DELETED", "Invoice %s cannot be paid: its customer %s was deleted", inv.ID, inv.Customer)
		} else if err != nil {
			return err
		}
		if inv.Status == StatusDraft {
			if err := s.finalizeTx(ctx, tx, sc, inv); err != nil {
				return err
			}
			if inv.Status == StatusPaid {
				return nil
			}
		}
		if inv.AmountRemaining == 0 {
			// Nothing to charge: a zero invoice is paid by finalizing it.
			return s.settleTx(ctx, tx, sc, inv, 0)
		}
		pm := ""
		if inv.DefaultPaymentMethod != nil {
			pm = *inv.DefaultPaymentMethod
		}
		attempt, err = s.payments.PrepareCharge(ctx, tx, sc, payment.ChargeParams{
			// A chosen method detached since falls back to the customer's
			// default: the invoice stays payable (never a dead end).
			CustomerID: inv.Customer, PaymentMethodID: pm, FallBackToDefault: true, Amount: inv.AmountRemaining, Currency: inv.Currency,
			Description: "Payment for invoice " + *inv.Number, InvoiceID: inv.ID,
			IdempotencyKey: fmt.Sprintf("invoice:%s:attempt:%d", inv.ID, inv.AttemptCount+1),
		})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE invoices SET attempt_count = attempt_count + 1, pending_attempt = $1, updated = $2
			WHERE account_id = $3 AND id = $4`, attempt.ID, sc.Now().Unix(), sc.AccountID, inv.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if attempt == nil {
		return s.Get(ctx, sc, invoiceID)
	}
	// From here on the charge is carried through even if the caller hangs
	// up: a half-sent charge is left to the reconciler, a finished one is
	// recorded now.
	ctx = context.WithoutCancel(ctx)
	res, sendErr := s.payments.Send(ctx, sc, attempt)
	if sendErr != nil {
		// The attempt stays pending; the reconciler asks the gateway later.
		s.logger.Error("invoice charge not sent", "invoice", invoiceID, "attempt", attempt.ID, "err", sendErr)
		return nil, &apperr.Error{Kind: apperr.BadGateway, Code: "PAYMENT_UNCONFIRMED",
			Message: "The payment gateway could not be reached; the payment's outcome will be confirmed later", Err: sendErr}
	}
	if err := s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := s.payments.Record(ctx, tx, sc, attempt, res)
		return err
	}); err != nil {
		return nil, fmt.Errorf("record payment of invoice %s: %w", invoiceID, err)
	}
	switch res.Outcome {
	case gateway.Declined:
		msg := res.Message
		if msg == "" {
			msg = "The payment was declined"
		}
		return nil, &apperr.Error{Kind: apperr.PaymentFailed, Code: "PAYMENT_DECLINED", Message: msg, DeclineCode: res.DeclineCode}
	case gateway.Unconfirmed:
		return nil, apperr.New(apperr.BadGateway, "PAYMENT_UNCONFIRMED",
			"The payment's outcome is not confirmed yet; the invoice is settled once the gateway confirms it")
	}
	return s.Get(ctx, sc, invoiceID)
}

// onAttemptResolved applies a charge's final outcome to its invoice, in
// the transaction that records the outcome: whether the charge was sent by
// Pay or confirmed later by the reconciler.
func (s *Service) onAttemptResolved(ctx context.Context, tx *store.Tx, sc account.Scope, a *payment.Attempt, txn *payment.Transaction) error {
	if a.InvoiceID == "" {
		return nil
	}
	inv, err := s.getTx(ctx, tx, sc, a.InvoiceID)
	if apperr.IsKind(err, apperr.NotFound) {
		// Not one of ours (a charge made for another purpose): the payment
		// record stands on its own.
		s.logger.Warn("charge names an unknown invoice", "attempt", a.ID, "invoice", a.InvoiceID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("invoice of attempt %s: %w", a.ID, err)
	}
	// A new attempt clears the written-off label (it counts again if it fails).
	if _, err := tx.ExecContext(ctx, `UPDATE invoices SET pending_attempt = NULL, written_off_at = NULL
		WHERE account_id = $1 AND id = $2 AND (pending_attempt = $3 OR pending_attempt IS NULL)`,
		sc.AccountID, inv.ID, a.ID); err != nil {
		return fmt.Errorf("clear pending attempt of %s: %w", inv.ID, err)
	}
	inv.WrittenOffAt = nil
	if a.Status != payment.AttemptSucceeded {
		return event.Record(ctx, tx, sc, "invoice.payment_failed", inv)
	}
	if inv.Status == StatusPaid || inv.Status == StatusVoid {
		// Cannot happen while pending attempts block voiding and paying;
		// the money is recorded as a transaction either way.
		s.logger.Error("charge succeeded on a settled invoice", "invoice", inv.ID, "attempt", a.ID)
		return nil
	}
	return s.settleTx(ctx, tx, sc, inv, a.Amount)
}

// settleTx adds amount to what was paid; when nothing remains the invoice
// is paid. It records invoice.payment_succeeded.
func (s *Service) settleTx(ctx context.Context, tx *store.Tx, sc account.Scope, inv *Invoice, amount int64) error {
	now := sc.Now().Unix()
	inv.AmountPaid += amount
	status := inv.Status
	var paidAt *int64
	if inv.AmountPaid >= inv.AmountDue {
		status, paidAt = StatusPaid, &now
	}
	if _, err := tx.ExecContext(ctx, `UPDATE invoices SET amount_paid = $1, status = $2, paid_at = COALESCE($3, paid_at), updated = $4
		WHERE account_id = $5 AND id = $6`, inv.AmountPaid, status, paidAt, now, sc.AccountID, inv.ID); err != nil {
		return fmt.Errorf("settle invoice %s: %w", inv.ID, err)
	}
	inv.Status = status
	if paidAt != nil {
		inv.StatusTransitions.PaidAt = paidAt
	}
	inv.derive(s.publicURL)
	return event.Record(ctx, tx, sc, "invoice.payment_succeeded", inv)
}

// Void cancels a draft or open invoice for good. An invoice with a payment
// recorded against it cannot be voided (as Stripe refuses): the money would
// be left belonging to nothing.
func (s *Service) Void(ctx context.Context, sc account.Scope, invoiceID string) (*Invoice, error) {
	return s.change(ctx, sc, invoiceID, func(tx *store.Tx, inv *Invoice) error {
		switch {
		case inv.Status == StatusPaid:
			return apperr.BadRequestf("INVOICE_ALREADY_PAID", "Invoice %s is paid and cannot be voided", inv.ID)
		case inv.Status == StatusVoid:
			return apperr.BadRequestf("INVOICE_VOID", "Invoice %s is already void", inv.ID)
		case inv.AmountPaid > 0:
			return apperr.BadRequestf("INVOICE_HAS_PAYMENTS",
				"Invoice %s has %s paid and cannot be voided: collect the %s remaining or mark it uncollectible instead",
				inv.ID, billing.FormatAmount(inv.AmountPaid, inv.Currency), billing.FormatAmount(inv.AmountRemaining, inv.Currency))
		}
		pending, err := s.pendingAttempt(ctx, tx, sc, inv.ID)
		if err != nil {
			return err
		}
		if pending != "" {
			return errInProgress(inv.ID)
		}
		now := sc.Now().Unix()
		_, err = tx.ExecContext(ctx, `UPDATE invoices SET status = 'void', voided_at = $1, updated = $1
			WHERE account_id = $2 AND id = $3`, now, sc.AccountID, inv.ID)
		return err
	})
}

// WriteOff labels an open invoice written off: it stays open and payable,
// but dunning leaves it alone until a new payment attempt.
func (s *Service) WriteOff(ctx context.Context, sc account.Scope, invoiceID string) (*Invoice, error) {
	return s.change(ctx, sc, invoiceID, func(tx *store.Tx, inv *Invoice) error {
		if inv.Status != StatusOpen {
			return apperr.BadRequestf("INVOICE_NOT_OPEN", "Invoice %s is %s; only an open invoice can be written off", inv.ID, inv.Status)
		}
		if inv.CollectionMethod == SendInvoice && inv.AttemptCount == 0 {
			return apperr.BadRequestf("INVOICE_NOT_ATTEMPTED", "Invoice %s was sent for payment and not attempted yet; it cannot be written off", inv.ID)
		}
		if inv.WrittenOffAt != nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE invoices SET written_off_at = $1, updated = $1 WHERE account_id = $2 AND id = $3`,
			sc.Now().Unix(), sc.AccountID, inv.ID)
		return err
	})
}

// MarkUncollectible labels an open invoice uncollectible (the dunning
// outcome); it stays open and can still be paid.
func (s *Service) MarkUncollectible(ctx context.Context, sc account.Scope, invoiceID string) (*Invoice, error) {
	return s.change(ctx, sc, invoiceID, func(tx *store.Tx, inv *Invoice) error {
		if inv.Status != StatusOpen {
			return apperr.BadRequestf("INVOICE_NOT_OPEN", "Invoice %s is %s; only an open invoice can be marked uncollectible", inv.ID, inv.Status)
		}
		if inv.UncollectibleAt != nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE invoices SET uncollectible_at = $1, updated = $1 WHERE account_id = $2 AND id = $3`,
			sc.Now().Unix(), sc.AccountID, inv.ID)
		return err
	})
}

// ExternalPaymentParams is the body of POST /invoices/{id}/payments.
type ExternalPaymentParams struct {
	Amount    *int64  `json:"amount"`
	Reference *string `json:"reference"`
}

// RecordExternalPayment records money received outside any gateway (cash,
// bank transfer) against an open invoice; partial payments are allowed.
func (s *Service) RecordExternalPayment(ctx context.Context, sc account.Scope, invoiceID string, p ExternalPaymentParams) (*Invoice, error) {
	switch {
	case p.Amount == nil:
		return nil, apperr.Invalidf("amount should not be empty")
	case *p.Amount <= 0:
		return nil, apperr.Invalidf("amount must be a positive integer")
	case *p.Amount > billing.MaxInvoiceTotal:
		return nil, apperr.Invalidf("amount must not be greater than %d", billing.MaxInvoiceTotal)
	case p.Reference != nil && len(*p.Reference) > 255:
		return nil, apperr.Invalidf("reference must be shorter than or equal to 255 characters")
	}
	return s.change(ctx, sc, invoiceID, func(tx *store.Tx, inv *Invoice) error {
		if err := checkPayable(inv); err != nil {
			return err
		}
		if inv.Status == StatusDraft {
			return apperr.BadRequestf("INVOICE_NOT_OPEN", "Invoice %s is a draft; finalize it before recording payments", inv.ID)
		}
		pending, err := s.pendingAttempt(ctx, tx, sc, inv.ID)
		if err != nil {
			return err
		}
		if pending != "" {
			return errInProgress(inv.ID)
		}
		if *p.Amount > inv.AmountRemaining {
			return apperr.BadRequestf("AMOUNT_TOO_LARGE", "amount %d is more than the %d remaining on invoice %s", *p.Amount, inv.AmountRemaining, inv.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invoice_external_payments (id, account_id, invoice_id, amount, reference, created)
			VALUES ($1, $2, $3, $4, $5, $6)`, id.New("expay"), sc.AccountID, inv.ID, *p.Amount, p.Reference, sc.Now().Unix()); err != nil {
			return fmt.Errorf("record external payment: %w", err)
		}
		return s.settleTx(ctx, tx, sc, inv, *p.Amount)
	})
}

// Transactions lists the balance transactions of an invoice's payments.
func (s *Service) Transactions(ctx context.Context, sc account.Scope, invoiceID string, p payment.TransactionListParams) (listing.Page[*payment.Transaction], error) {
	if _, err := s.Get(ctx, sc, invoiceID); err != nil {
		return listing.Page[*payment.Transaction]{}, err
	}
	p.InvoiceID = invoiceID
	return s.payments.ListTransactions(ctx, sc, p)
}

// Attempts lists the charge attempts of an invoice, declined and
// unconfirmed ones included (they are not balance transactions).
func (s *Service) Attempts(ctx context.Context, sc account.Scope, invoiceID string, p listing.Params) (listing.Page[*payment.Attempt], error) {
	if _, err := s.Get(ctx, sc, invoiceID); err != nil {
		return listing.Page[*payment.Attempt]{}, err
	}
	return s.payments.ListAttempts(ctx, sc, invoiceID, p)
}

// Transaction returns one balance transaction of an invoice.
func (s *Service) Transaction(ctx context.Context, sc account.Scope, invoiceID, txnID string) (*payment.Transaction, error) {
	if _, err := s.Get(ctx, sc, invoiceID); err != nil {
		return nil, err
	}
	txn, err := s.payments.GetTransaction(ctx, sc, txnID)
	if err != nil {
		if apperr.IsKind(err, apperr.NotFound) {
			return nil, apperr.NotFoundf("Transaction %s not found on invoice %s", txnID, invoiceID)
		}
		return nil, err
	}
	if txn.Invoice == nil || *txn.Invoice != invoiceID {
		return nil, apperr.NotFoundf("Transaction %s not found on invoice %s", txnID, invoiceID)
	}
	return txn, nil
}
