package payment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
)

// Balance transaction types and statuses.
const (
	TypeCharge = "charge"
	TypeRefund = "refund"

	StatusSucceeded = "succeeded"
	StatusRefunded  = "refunded" // a charge refunded in full
)

// Transaction is a balance transaction: money that moved. Charges are
// positive, refunds negative; net = amount − fee.
type Transaction struct {
	ID            string   `json:"id"`
	Object        string   `json:"object"`
	Type          string   `json:"type"`
	Status        string   `json:"status"`
	Amount        int64    `json:"amount"`
	Fee           int64    `json:"fee"`
	FeeDetails    []string `json:"fee_details"`
	Net           int64    `json:"net"`
	Currency      string   `json:"currency"` // lower-case
	AvailableOn   int64    `json:"available_on"`
	BalanceType   string   `json:"balance_type"`
	ExchangeRate  *float64 `json:"exchange_rate"`
	PaymentMethod string   `json:"payment_method"`
	Description   *string  `json:"description"`
	Created       int64    `json:"created"`
	// Extensions.
	Invoice           *string `json:"invoice"`
	Customer          *string `json:"customer"`
	SourceType        string  `json:"source_type"`
	SurchargeAmount   int64   `json:"surcharge_amount"`
	AmountCharged     int64   `json:"amount_charged"`
	AmountRefunded    int64   `json:"amount_refunded"`
	SourceTransaction *string `json:"source_transaction"`
	RefundReason      *string `json:"refund_reason"`

	attemptID string
}

func insertTransaction(ctx context.Context, tx *store.Tx, accountID string, t *Transaction) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO balance_transactions (id, account_id, type, status, amount, fee,
		fee_details, net, currency, available_on, payment_method_id, description, invoice_id, customer_id,
		source_type, amount_refunded, attempt_id, source_transaction_id, refund_reason, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		t.ID, accountID, t.Type, t.Status, t.Amount, t.Fee, encodeStrings(t.FeeDetails), t.Net, t.Currency,
		t.AvailableOn, t.PaymentMethod, t.Description, t.Invoice, t.Customer, t.SourceType, t.AmountRefunded,
		nonEmpty(t.attemptID), t.SourceTransaction, t.RefundReason, t.Created)
	if err != nil {
		return fmt.Errorf("insert balance transaction: %w", err)
	}
	return nil
}

const txnColumns = `t.id, t.type, t.status, t.amount, t.fee, t.fee_details, t.net, t.currency, t.available_on,
	t.payment_method_id, t.description, t.invoice_id, t.customer_id, t.source_type, t.amount_refunded,
	COALESCE(t.attempt_id, ''), t.source_transaction_id, t.refund_reason, t.created`

func scanTransaction(row interface{ Scan(...any) error }) (*Transaction, error) {
	t := &Transaction{Object: "balance_transaction", BalanceType: "default"}
	var details string
	if err := row.Scan(&t.ID, &t.Type, &t.Status, &t.Amount, &t.Fee, &details, &t.Net, &t.Currency, &t.AvailableOn,
		&t.PaymentMethod, &t.Description, &t.Invoice, &t.Customer, &t.SourceType, &t.AmountRefunded,
		&t.attemptID, &t.SourceTransaction, &t.RefundReason, &t.Created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(details), &t.FeeDetails); err != nil {
		return nil, fmt.Errorf("decode fee details of %s: %w", t.ID, err)
	}
	if t.FeeDetails == nil {
		t.FeeDetails = []string{}
	}
	// No gateway adds surcharges (G-60): what was charged is the amount.
	t.AmountCharged = t.Amount
	return t, nil
}

// transactionNotFound names the id asked for, redacted like a token.
func transactionNotFound(txnID string) error {
	return apperr.NotFoundf("Transaction %s not found", gateway.RedactToken(txnID))
}

func getTransaction(ctx context.Context, q store.Querier, sc account.Scope, txnID, lock string) (*Transaction, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+txnColumns+` FROM balance_transactions t
		WHERE t.account_id = $1 AND t.id = $2`+lock, sc.AccountID, txnID),
		func(r store.Row) (*Transaction, error) { return scanTransaction(r) },
		func() error { return transactionNotFound(txnID) }, "transaction "+txnID)
}

// GetTransaction returns one of the account's balance transactions.
func (s *Service) GetTransaction(ctx context.Context, sc account.Scope, txnID string) (*Transaction, error) {
	return getTransaction(ctx, s.db.Read(), sc, txnID, "")
}

// TransactionListParams filter GET /transactions. InvoiceID, when set,
// restricts the list to one invoice (the invoice-scoped endpoint).
type TransactionListParams struct {
	Page      listing.Params
	Search    listing.Search
	InvoiceID string
}

// Search values of type: what Kassa records, plus the rest of the
// contract's vocabulary (payouts, transfers, adjustments), which Kassa never
// records and so matches nothing.
var searchTypes = []string{TypeCharge, TypeRefund, "payout", "transfer", "adjustment"}

// searchStatuses are exactly the statuses a transaction reports. Stripe's
// pending and available are not among them: whether funds are available
// follows from available_on and the account's clock, so a status filter on
// them could only ever match nothing.
var searchStatuses = []string{StatusSucceeded, StatusRefunded}

// searchHints explain, per key, why a value the contract knows is refused.
var searchHints = map[string]string{
	"status": "; funds are pending until available_on and available from then (by the account's clock): filter with available_on[gt] or available_on[lte]",
}

// searchEnum reads a list-valued search key whose values must be among
// allowed, in any case; it returns them lower-case.
func searchEnum(s listing.Search, key string, allowed []string) ([]string, error) {
	vals, err := s.List(key)
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		vals[i] = strings.ToLower(v)
		if !slices.Contains(allowed, vals[i]) {
			return nil, apperr.Invalidf("search.%s must be a comma-separated list of %s%s", key, strings.Join(allowed, ", "), searchHints[key])
		}
	}
	return vals, nil
}

// ListTransactions returns a page of the account's balance transactions,
// newest first. Search keys: type, status (comma lists), customer, invoice,
// payment_method, created, amount and available_on [gt|gte|lt|lte].
func (s *Service) ListTransactions(ctx context.Context, sc account.Scope, p TransactionListParams) (listing.Page[*Transaction], error) {
	var empty listing.Page[*Transaction]
	w := &listing.Where{}
	w.Add("t.account_id = ?", sc.AccountID)
	if p.InvoiceID != "" {
		w.Add("t.invoice_id = ?", p.InvoiceID)
	}
	for _, f := range []struct {
		key     string
		allowed []string
	}{{"type", searchTypes}, {"status", searchStatuses}} {
		vals, err := searchEnum(p.Search, f.key, f.allowed)
		if err != nil {
			return empty, err
		}
		w.In("t."+f.key, vals)
	}
	for key, col := range map[string]string{"customer": "t.customer_id", "invoice": "t.invoice_id", "payment_method": "t.payment_method_id"} {
		v, ok, err := p.Search.String(key)
		if err != nil {
			return empty, err
		}
		if ok {
			w.Add(col+" = ?", v)
		}
	}
	if err := p.Search.Range(w, "created", "t.created"); err != nil {
		return empty, err
	}
	if err := p.Search.Range(w, "amount", "t.amount"); err != nil {
		return empty, err
	}
	if err := p.Search.Range(w, "available_on", "t.available_on"); err != nil {
		return empty, err
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "transactions", Columns: txnColumns,
		From: " FROM balance_transactions t", OrderBy: "t.created DESC, t.seq DESC"}, w, p.Page,
		func(r listing.Row) (*Transaction, error) { return scanTransaction(r) })
}

// SourceTypes split a balance by where the money came from.
type SourceTypes struct {
	Card        int64 `json:"card"`
	BankAccount int64 `json:"bank_account"`
	FPX         int64 `json:"fpx"`
}

// BalanceItem is the balance of one currency.
type BalanceItem struct {
	Amount      int64       `json:"amount"`
	Currency    string      `json:"currency"`
	SourceTypes SourceTypes `json:"source_types"`
}

// PrefundingItem is money held back for refunds and disputes.
type PrefundingItem struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Prefunding is what Kassa holds back: nothing, it pays out nothing itself.
type Prefunding struct {
	Available []PrefundingItem `json:"available"`
	Pending   []PrefundingItem `json:"pending"`
}

// Balance is the API object of GET /balance.
type Balance struct {
	Object                     string        `json:"object"`
	Available                  []BalanceItem `json:"available"`
	Pending                    []BalanceItem `json:"pending"`
	Livemode                   bool          `json:"livemode"`
	RefundAndDisputePrefunding Prefunding    `json:"refund_and_dispute_prefunding"`
}

// DefaultBalanceCurrency is reported, at zero, before any money moved.
const DefaultBalanceCurrency = "usd"

// Balance sums the account's net amounts per currency at sc.Now(): money
// of charges still before their available_on is pending, the rest
// available; refunds reduce the available balance at once. Every currency
// that ever moved has an entry in both lists; with none yet, both hold one
// zero entry in usd. Figures are exact up to ±billing.MaxSafeAmount and
// clamped there, so that JavaScript clients read them exactly.
func (s *Service) Balance(ctx context.Context, sc account.Scope) (*Balance, error) {
	// The high and low parts of net are summed apart so that no sum can
	// overflow, whatever the rows hold (see billing.PartsDivisor).
	rows, err := s.db.Read().QueryContext(ctx, `SELECT currency, source_type,
		CAST(COALESCE(SUM(CASE WHEN available_on <= $2 THEN net / $3 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN available_on <= $2 THEN net % $3 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN available_on > $2 THEN net / $3 ELSE 0 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(CASE WHEN available_on > $2 THEN net % $3 ELSE 0 END), 0) AS BIGINT)
		FROM balance_transactions WHERE account_id = $1 GROUP BY currency, source_type`,
		sc.AccountID, sc.Now().Unix(), int64(billing.PartsDivisor))
	if err != nil {
		return nil, fmt.Errorf("sum balance: %w", err)
	}
	defer rows.Close()
	available, pending := map[string]*BalanceItem{}, map[string]*BalanceItem{}
	add := func(m map[string]*BalanceItem, cur, source string, amount int64) {
		it := m[cur]
		if it == nil {
			it = &BalanceItem{Currency: cur}
			m[cur] = it
		}
		it.Amount = billing.AddSafe(it.Amount, amount)
		if source == gateway.SourceBankAccount {
			it.SourceTypes.BankAccount = billing.AddSafe(it.SourceTypes.BankAccount, amount)
		} else {
			it.SourceTypes.Card = billing.AddSafe(it.SourceTypes.Card, amount)
		}
	}
	for rows.Next() {
		var cur, source string
		var availHi, availLo, pendHi, pendLo int64
		if err := rows.Scan(&cur, &source, &availHi, &availLo, &pendHi, &pendLo); err != nil {
			return nil, err
		}
		add(available, cur, source, billing.JoinParts(availHi, availLo))
		add(pending, cur, source, billing.JoinParts(pendHi, pendLo))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(available) == 0 {
		add(available, DefaultBalanceCurrency, gateway.SourceCard, 0)
		add(pending, DefaultBalanceCurrency, gateway.SourceCard, 0)
	}
	b := &Balance{Object: "balance", Livemode: sc.Livemode}
	currencies := make([]string, 0, len(available))
	for cur := range available {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		b.Available = append(b.Available, *available[cur])
		b.Pending = append(b.Pending, *pending[cur])
		b.RefundAndDisputePrefunding.Available = append(b.RefundAndDisputePrefunding.Available, PrefundingItem{Currency: cur})
		b.RefundAndDisputePrefunding.Pending = append(b.RefundAndDisputePrefunding.Pending, PrefundingItem{Currency: cur})
	}
	return b, nil
}
