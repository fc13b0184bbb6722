package payment

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
)

// AttemptStatus is where a charge attempt stands.
type AttemptStatus string

// Attempt statuses. Succeeded and declined are final; pending and
// unconfirmed are the reconciler's business.
const (
	AttemptPending     AttemptStatus = "pending"
	AttemptSucceeded   AttemptStatus = "succeeded"
	AttemptDeclined    AttemptStatus = "declined"
	AttemptUnconfirmed AttemptStatus = "unconfirmed"
)

// Final reports whether the status can no longer change.
func (st AttemptStatus) Final() bool { return st == AttemptSucceeded || st == AttemptDeclined }

// Attempt is one try to take money from a payment method.
type Attempt struct {
	ID              string        `json:"id"`
	Status          AttemptStatus `json:"status"`
	CustomerID      string        `json:"customer"`
	PaymentMethodID string        `json:"payment_method"`
	InvoiceID       string        `json:"invoice,omitempty"`
	Amount          int64         `json:"amount"`
	Currency        string        `json:"currency"` // upper-case
	Description     string        `json:"description,omitempty"`
	IdempotencyKey  string        `json:"-"`
	Gateway         string        `json:"gateway"`
	ChargeRef       string        `json:"charge_ref,omitempty"`
	DeclineCode     string        `json:"decline_code,omitempty"`
	Message         string        `json:"message,omitempty"`
	TransactionID   string        `json:"transaction,omitempty"`
	Created         int64         `json:"created"`
	Updated         int64         `json:"updated"`

	pmRef, pmCustomerRef string
	checks               int
}

// ChargeParams describe a charge.
type ChargeParams struct {
	CustomerID      string
	PaymentMethodID string // "" charges the customer's default payment method
	Amount          int64  // minor units
	Currency        string // ISO 4217, any case
	Description     string
	InvoiceID       string
	// FallBackToDefault charges the customer's default instead of a
	// PaymentMethodID that was detached since it was chosen (an invoice's
	// default_payment_method may be), rather than refusing the charge.
	FallBackToDefault bool
	// IdempotencyKey is required, one per attempt: the same key never
	// starts a second attempt (unique per account).
	IdempotencyKey string
}

// minimumCharge is the smallest amount gateways accept, in minor units
// (Stripe's minimum charge amounts). Other currencies need at least 50
// minor units.
var minimumCharge = map[string]int64{
	"USD": 50, "EUR": 50, "AUD": 50, "BRL": 50, "CAD": 50, "CHF": 50, "INR": 50, "NZD": 50, "SGD": 50,
	"GBP": 30, "AED": 200, "BGN": 100, "CZK": 1500, "DKK": 250, "HKD": 400, "HUF": 17500, "JPY": 50,
	"MXN": 1000, "MYR": 200, "NOK": 300, "PLN": 200, "RON": 200, "SEK": 300, "THB": 1000,
}

// MinimumCharge returns the smallest chargeable amount of a currency.
func MinimumCharge(currency string) int64 {
	if m, ok := minimumCharge[strings.ToUpper(currency)]; ok {
		return m
	}
	return 50
}

func (p *ChargeParams) validate() (string, error) {
	switch {
	case p.IdempotencyKey == "":
		return "", apperr.Invalidf("an idempotency key is required for every charge")
	case len(p.IdempotencyKey) > 255:
		return "", apperr.Invalidf("idempotency key must be shorter than or equal to 255 characters")
	case strings.TrimSpace(p.CustomerID) == "":
		return "", apperr.Invalidf("customer should not be empty")
	case p.Amount <= 0:
		return "", apperr.Invalidf("amount must be a positive integer number of minor units")
	}
	cur, err := billing.NormalizeCurrency(p.Currency)
	if err != nil {
		return "", apperr.Invalidf("currency must be an ISO 4217 currency code, got %q", p.Currency)
	}
	if m := MinimumCharge(cur); p.Amount < m {
		return "", apperr.BadRequestf("AMOUNT_TOO_SMALL", "amount must be at least %s (%d %s minor units)",
			billing.FormatAmount(m, cur), m, cur)
	}
	if err := billing.CheckCharge(p.Amount); err != nil {
		return "", apperr.BadRequestf("AMOUNT_TOO_LARGE", "amount must not be greater than %s (%d %s minor units), the most one charge may take",
			billing.FormatAmount(billing.MaxChargeAmount, cur), billing.MaxChargeAmount, cur)
	}
	return cur, nil
}

// sameRequest refuses a key reused for a different charge.
func (a *Attempt) sameRequest(p ChargeParams, cur string) error {
	if a.CustomerID != p.CustomerID || a.Amount != p.Amount || a.Currency != cur || a.InvoiceID != p.InvoiceID ||
		(p.PaymentMethodID != "" && !p.FallBackToDefault && p.PaymentMethodID != a.PaymentMethodID) {
		return apperr.New(apperr.Unprocessable, "IDEMPOTENCY_KEY_REUSED",
			"This idempotency key was already used for a different charge")
	}
	return nil
}

// PrepareCharge checks a charge and writes its pending attempt inside the
// caller's transaction. The payment method must be attached to the customer,
// and the amount at least the currency's minimum; refusals are 4xx and write
// nothing. The same IdempotencyKey again returns the existing attempt.
func (s *Service) PrepareCharge(ctx context.Context, tx *store.Tx, sc account.Scope, p ChargeParams) (*Attempt, error) {
	cur, err := p.validate()
	if err != nil {
		return nil, err
	}
	if a, err := attemptByKey(ctx, tx, sc, p.IdempotencyKey); err == nil {
		if err := a.sameRequest(p, cur); err != nil {
			return nil, err
		}
		return a, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	c, err := customer.GetTx(ctx, tx, sc, p.CustomerID)
	if err != nil {
		return nil, err
	}
	pmID := p.PaymentMethodID
	if pmID == "" {
		if c.DefaultPaymentMethod == nil {
			return nil, apperr.BadRequestf("NO_PAYMENT_METHOD", "Customer %s has no default payment method", c.ID)
		}
		pmID = *c.DefaultPaymentMethod
	}
	pm, err := getMethod(ctx, tx, sc, pmID, "")
	if err != nil {
		return nil, err
	}
	if pm.Customer == nil && p.FallBackToDefault && pmID == p.PaymentMethodID {
		if c.DefaultPaymentMethod == nil {
			return nil, apperr.BadRequestf("NO_PAYMENT_METHOD",
				"Payment method %s was detached and customer %s has no default payment method; attach one (it becomes the default)", pm.ID, c.ID)
		}
		if pm, err = getMethod(ctx, tx, sc, *c.DefaultPaymentMethod, ""); err != nil {
			return nil, err
		}
	}
	switch {
	case pm.Customer == nil:
		return nil, apperr.BadRequestf("PAYMENT_METHOD_DETACHED", "Payment method %s is detached and cannot be charged", pm.ID)
	case *pm.Customer != c.ID:
		return nil, apperr.BadRequestf("PAYMENT_METHOD_NOT_CUSTOMERS", "Payment method %s does not belong to customer %s", pm.ID, c.ID)
	case pm.Type == gateway.TypeUSBankAccount && cur != "USD":
		return nil, apperr.BadRequestf("CURRENCY_NOT_SUPPORTED", "us_bank_account payment methods can only be charged in USD")
	}
	acct, err := account.GetTx(ctx, tx, sc.AccountID)
	if err != nil {
		return nil, err
	}
	if err := gatewayConfigured(acct); err != nil {
		return nil, err
	}
	if gw := acct.Gateway; gw != pm.gateway {
		return nil, apperr.BadRequestf("GATEWAY_MISMATCH",
			"Payment method %s was attached through the %s gateway; the account now uses %s", pm.ID, pm.gateway, gw)
	}
	now := sc.Now().Unix()
	a := &Attempt{
		ID: id.New(id.Attempt), Status: AttemptPending, CustomerID: c.ID, PaymentMethodID: pm.ID, InvoiceID: p.InvoiceID,
		Amount: p.Amount, Currency: cur, Description: p.Description, IdempotencyKey: p.IdempotencyKey, Gateway: pm.gateway,
		Created: now, Updated: now, pmRef: pm.ref, pmCustomerRef: pm.customerRef,
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO payment_attempts (id, account_id, idempotency_key, customer_id,
		payment_method_id, invoice_id, amount, currency, description, gateway, status, due_at, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
		ON CONFLICT (account_id, idempotency_key) DO NOTHING`,
		a.ID, sc.AccountID, a.IdempotencyKey, a.CustomerID, a.PaymentMethodID, nonEmpty(a.InvoiceID), a.Amount,
		a.Currency, nonEmpty(a.Description), a.Gateway, a.Status, now+int64(pendingGrace/time.Second), now)
	if err != nil {
		return nil, fmt.Errorf("insert payment attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// A concurrent transaction inserted the key first and committed.
		existing, err := attemptByKey(ctx, tx, sc, p.IdempotencyKey)
		if err != nil {
			return nil, fmt.Errorf("load payment attempt: %w", err)
		}
		if err := existing.sameRequest(p, cur); err != nil {
			return nil, err
		}
		return existing, nil
	}
	due := sc.Now().Add(pendingGrace)
	if err := scheduleCheck(ctx, tx, sc, KindReconcileAttempt, a.ID, &due); err != nil {
		return nil, err
	}
	return a, nil
}

const attemptColumns = `a.id, a.status, a.customer_id, a.payment_method_id, COALESCE(a.invoice_id, ''), a.amount, a.currency,
	COALESCE(a.description, ''), a.idempotency_key, a.gateway, COALESCE(a.charge_ref, ''), COALESCE(a.decline_code, ''),
	COALESCE(a.message, ''), COALESCE(a.transaction_id, ''), a.created, a.updated, a.checks,
	pm.gateway_ref, COALESCE(pm.gateway_customer_ref, '')`

const attemptFrom = ` FROM payment_attempts a JOIN payment_methods pm ON pm.id = a.payment_method_id`

func scanAttempt(row interface{ Scan(...any) error }) (*Attempt, error) {
	a := &Attempt{}
	err := row.Scan(&a.ID, &a.Status, &a.CustomerID, &a.PaymentMethodID, &a.InvoiceID, &a.Amount, &a.Currency,
		&a.Description, &a.IdempotencyKey, &a.Gateway, &a.ChargeRef, &a.DeclineCode, &a.Message, &a.TransactionID,
		&a.Created, &a.Updated, &a.checks, &a.pmRef, &a.pmCustomerRef)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func attemptByKey(ctx context.Context, q store.Querier, sc account.Scope, key string) (*Attempt, error) {
	return scanAttempt(q.QueryRowContext(ctx, `SELECT `+attemptColumns+attemptFrom+`
		WHERE a.account_id = $1 AND a.idempotency_key = $2`, sc.AccountID, key))
}

func attemptByID(ctx context.Context, q store.Querier, sc account.Scope, attemptID, lock string) (*Attempt, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+attemptColumns+attemptFrom+`
		WHERE a.account_id = $1 AND a.id = $2`+lock, sc.AccountID, attemptID),
		func(r store.Row) (*Attempt, error) { return scanAttempt(r) },
		func() error { return apperr.NotFoundf("Payment attempt %s not found", attemptID) }, "payment attempt "+attemptID)
}

// GetAttempt returns one of the account's payment attempts.
func (s *Service) GetAttempt(ctx context.Context, sc account.Scope, attemptID string) (*Attempt, error) {
	return attemptByID(ctx, s.db.Read(), sc, attemptID, "")
}

// ListAttempts returns a page of the charge attempts made for an invoice,
// oldest first: approved, declined and unconfirmed alike.
func (s *Service) ListAttempts(ctx context.Context, sc account.Scope, invoiceID string, p listing.Params) (listing.Page[*Attempt], error) {
	w := &listing.Where{}
	w.Add("a.account_id = ?", sc.AccountID)
	w.Add("a.invoice_id = ?", invoiceID)
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "payment attempts", Columns: attemptColumns, From: attemptFrom,
		OrderBy: "a.seq"}, w, p, func(r listing.Row) (*Attempt, error) { return scanAttempt(r) })
}

// chargeRequest is the gateway request of an attempt: always the same for
// the same attempt, so a replay under its key is accepted.
func (a *Attempt) chargeRequest() gateway.ChargeRequest {
	return gateway.ChargeRequest{
		Amount: a.Amount, Currency: a.Currency, PaymentMethodRef: a.pmRef, CustomerRef: a.pmCustomerRef,
		IdempotencyKey: a.ID, Description: a.Description,
	}
}

// errorResult turns a gateway error into the outcome it means: the gateway
// contract says no money moved, so the attempt is declined.
func errorResult(err error) gateway.ChargeResult {
	code := "gateway_error"
	if errors.Is(err, gateway.ErrInvalidRequest) || errors.Is(err, gateway.ErrNoSuchPaymentMethod) || errors.Is(err, gateway.ErrInvalidToken) {
		code = "invalid_request"
	}
	return gateway.ChargeResult{Outcome: gateway.Declined, DeclineCode: code, Message: err.Error()}
}

// errGatewayChanged: the account switched gateways after the attempt was
// prepared. Its outcome cannot be known through the new one.
var errGatewayChanged = errors.New("the account's gateway changed since the attempt was prepared")

// Send asks the account's gateway to carry out the attempt, outside any
// transaction, with the attempt's id as idempotency key. A finished attempt
// returns its stored result without calling the gateway. Gateway errors come
// back as declined results (no money moved); an error means the gateway
// could not be asked and the attempt is left to the reconciler.
func (s *Service) Send(ctx context.Context, sc account.Scope, a *Attempt) (gateway.ChargeResult, error) {
	cur, err := s.GetAttempt(ctx, sc, a.ID)
	if err != nil {
		return gateway.ChargeResult{}, err
	}
	if cur.Status.Final() {
		return s.storedResult(ctx, sc, cur)
	}
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return gateway.ChargeResult{}, err
	}
	if g.Name() != cur.Gateway {
		return gateway.ChargeResult{}, fmt.Errorf("send attempt %s: %w", cur.ID, errGatewayChanged)
	}
	res, err := g.Charge(ctx, cur.chargeRequest())
	if err != nil {
		return errorResult(err), nil
	}
	return res, nil
}

// storedResult rebuilds the gateway's answer for a finished attempt.
func (s *Service) storedResult(ctx context.Context, sc account.Scope, a *Attempt) (gateway.ChargeResult, error) {
	res := gateway.ChargeResult{ChargeRef: a.ChargeRef, DeclineCode: a.DeclineCode, Message: a.Message}
	if a.Status == AttemptDeclined {
		res.Outcome = gateway.Declined
		return res, nil
	}
	txn, err := s.GetTransaction(ctx, sc, a.TransactionID)
	if err != nil {
		return gateway.ChargeResult{}, err
	}
	res.Outcome, res.Fee, res.FeeDetails = gateway.Approved, txn.Fee, txn.FeeDetails
	res.Source, res.AvailableOn = txn.SourceType, time.Unix(txn.AvailableOn, 0).UTC()
	return res, nil
}

// Record stores a gateway outcome in the caller's transaction: the attempt
// becomes succeeded, declined or unconfirmed, and an approval writes exactly
// one charge transaction. Recording again after a final outcome changes
// nothing and returns the stored transaction. On reaching a final outcome
// the OnResolved hooks run in the same transaction. a is updated in place.
func (s *Service) Record(ctx context.Context, tx *store.Tx, sc account.Scope, a *Attempt, res gateway.ChargeResult) (*Transaction, error) {
	cur, err := attemptByID(ctx, tx, sc, a.ID, tx.Dialect.ForUpdate())
	if err != nil {
		return nil, err
	}
	if cur.Status.Final() {
		*a = *cur
		if cur.Status == AttemptSucceeded {
			return getTransaction(ctx, tx, sc, cur.TransactionID, "")
		}
		return nil, nil
	}
	now := sc.Now()
	cur.ChargeRef, cur.DeclineCode, cur.Message, cur.Updated = res.ChargeRef, res.DeclineCode, res.Message, now.Unix()
	var txn *Transaction
	var dueAt *int64
	var checkAt *time.Time
	switch res.Outcome {
	case gateway.Approved:
		cur.Status, cur.DeclineCode = AttemptSucceeded, ""
		txn = chargeTransaction(sc, cur, res)
		if err := insertTransaction(ctx, tx, sc.AccountID, txn); err != nil {
			return nil, err
		}
		cur.TransactionID = txn.ID
	case gateway.Declined:
		cur.Status = AttemptDeclined
	case gateway.Unconfirmed:
		cur.Status = AttemptUnconfirmed
		checkAt = ptr(now.Add(backoff(cur.checks)))
		dueAt = ptr(checkAt.Unix())
	default:
		return nil, fmt.Errorf("record attempt %s: unknown outcome %q", cur.ID, res.Outcome)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE payment_attempts SET status = $1, charge_ref = $2, decline_code = $3,
		message = $4, transaction_id = $5, due_at = $6, updated = $7 WHERE account_id = $8 AND id = $9`,
		cur.Status, nonEmpty(cur.ChargeRef), nonEmpty(cur.DeclineCode), nonEmpty(cur.Message), nonEmpty(cur.TransactionID),
		dueAt, cur.Updated, sc.AccountID, cur.ID); err != nil {
		return nil, fmt.Errorf("record attempt %s: %w", cur.ID, err)
	}
	if err := scheduleCheck(ctx, tx, sc, KindReconcileAttempt, cur.ID, checkAt); err != nil {
		return nil, err
	}
	if cur.Status.Final() {
		for _, hook := range s.resolvedHooks() {
			if err := hook(ctx, tx, sc, cur, txn); err != nil {
				return nil, err
			}
		}
	}
	*a = *cur
	return txn, nil
}

func chargeTransaction(sc account.Scope, a *Attempt, res gateway.ChargeResult) *Transaction {
	now := sc.Now().Unix()
	availableOn := now
	if !res.AvailableOn.IsZero() {
		availableOn = res.AvailableOn.Unix()
	}
	source := res.Source
	if source == "" {
		source = gateway.SourceCard
	}
	details := res.FeeDetails
	if details == nil {
		details = []string{}
	}
	return &Transaction{
		ID: id.New(id.Transaction), Object: "balance_transaction", Type: TypeCharge, Status: StatusSucceeded,
		Amount: a.Amount, Fee: res.Fee, FeeDetails: details, Net: res.Net(a.Amount),
		Currency: strings.ToLower(a.Currency), AvailableOn: availableOn, BalanceType: "default",
		PaymentMethod: a.PaymentMethodID, Description: nonEmpty(a.Description), Invoice: nonEmpty(a.InvoiceID),
		Customer: &a.CustomerID, SourceType: source, AmountCharged: a.Amount, Created: now, attemptID: a.ID,
	}
}

// Charge prepares (in its own transaction), sends and records a charge, for
// callers with nothing else to commit. A decline is a result, not an error.
func (s *Service) Charge(ctx context.Context, sc account.Scope, p ChargeParams) (*Attempt, *Transaction, gateway.ChargeResult, error) {
	var a *Attempt
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		a, err = s.PrepareCharge(ctx, tx, sc, p)
		return err
	})
	if err != nil {
		return nil, nil, gateway.ChargeResult{}, err
	}
	res, err := s.Send(ctx, sc, a)
	if err != nil {
		return a, nil, gateway.ChargeResult{}, err
	}
	var txn *Transaction
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		txn, err = s.Record(ctx, tx, sc, a, res)
		return err
	})
	if err != nil {
		return a, nil, res, err
	}
	return a, txn, res, nil
}

// encodeStrings stores a string list as JSON text.
func encodeStrings(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
