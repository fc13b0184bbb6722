// Package invoice owns invoices: building them with exact totals, their
// lifecycle (draft → open → paid | void), numbering, paying them through the
// payment pipeline, and rendering them as PDF.
//
// Totals come from internal/billing, line by line, and are stored as billed:
// a paid or void invoice never changes, and every total is the exact sum of
// its lines.
package invoice

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
)

// Statuses.
const (
	StatusDraft = "draft"
	StatusOpen  = "open"
	StatusPaid  = "paid"
	StatusVoid  = "void"
)

// Collection methods.
const (
	ChargeAutomatically = "charge_automatically"
	SendInvoice         = "send_invoice"
)

// Invoice is the API object (InvoicesPublicDto plus Kassa's extensions).
type Invoice struct {
	ID                   string              `json:"id"`
	Object               string              `json:"object"`
	AccountCountry       string              `json:"account_country"`
	AccountName          string              `json:"account_name"`
	AmountDue            int64               `json:"amount_due"`
	AmountPaid           int64               `json:"amount_paid"`
	AmountRemaining      int64               `json:"amount_remaining"`
	SurchargeAmount      int64               `json:"surcharge_amount"`
	AmountCharged        int64               `json:"amount_charged"`
	AttemptCount         int64               `json:"attempt_count"`
	Attempted            bool                `json:"attempted"`
	BillingReason        string              `json:"billing_reason"`
	CollectionMethod     string              `json:"collection_method"`
	Created              int64               `json:"created"`
	Currency             string              `json:"currency"`
	Customer             string              `json:"customer"`
	CustomerAddress      *customer.Address   `json:"customer_address"`
	CustomerEmail        *string             `json:"customer_email"`
	CustomerName         string              `json:"customer_name"`
	CustomerPhone        *string             `json:"customer_phone"`
	DefaultPaymentMethod *string             `json:"default_payment_method"`
	DueDate              *int64              `json:"due_date"`
	HostedInvoiceURL     string              `json:"hosted_invoice_url"`
	Lines                []Line              `json:"lines"`
	Livemode             bool                `json:"livemode"`
	Number               *string             `json:"number"`
	Paid                 bool                `json:"paid"`
	PaymentPlan          *string             `json:"payment_plan"`
	Installment          *string             `json:"installment"`
	PeriodEnd            *int64              `json:"period_end"`
	PeriodStart          *int64              `json:"period_start"`
	Status               string              `json:"status"`
	StatusTransitions    StatusTransitions   `json:"status_transitions"`
	Subscription         *string             `json:"subscription"`
	Subtotal             int64               `json:"subtotal"`
	SubtotalExcludingTax int64               `json:"subtotal_excluding_tax"`
	Tax                  int64               `json:"tax"`
	Total                int64               `json:"total"`
	TotalExcludingTax    int64               `json:"total_excluding_tax"`
	TotalTaxes           *TotalTax           `json:"total_taxes"`
	TotalTaxAmounts      []TaxAmount         `json:"total_tax_amounts"`
	WrittenOffAt         *int64              `json:"written_off_at"`
	UncollectibleAt      *int64              `json:"marked_uncollectible_at"`
	Memo                 *string             `json:"memo"`
	Footer               *string             `json:"footer"`
	NextPaymentAttempt   *NextPaymentAttempt `json:"next_payment_attempt,omitempty"`
}

// NextPaymentAttempt is present only in webhook payloads of automatic
// charges (the dunning schedule sets it); API responses never carry it.
type NextPaymentAttempt struct{ At *int64 }

// MarshalJSON writes the time or null.
func (n NextPaymentAttempt) MarshalJSON() ([]byte, error) { return json.Marshal(n.At) }

// StatusTransitions records when the invoice changed status.
type StatusTransitions struct {
	FinalizedAt *int64 `json:"finalized_at"`
	PaidAt      *int64 `json:"paid_at"`
	VoidedAt    *int64 `json:"voided_at"`
}

// TotalTax is the contract's single total_taxes object, filled when the
// invoice has exactly one tax rate.
type TotalTax struct {
	Amount        int64  `json:"amount"`
	TaxBehavior   string `json:"tax_behavior"`
	TaxRate       string `json:"tax_rate"`
	TaxableAmount int64  `json:"taxable_amount"`
}

// TaxAmount is one tax rate's share of a line or of the invoice.
type TaxAmount struct {
	TaxRate       string      `json:"tax_rate"`
	Percentage    json.Number `json:"percentage"`
	DisplayName   string      `json:"display_name"`
	TaxBehavior   string      `json:"tax_behavior"`
	Amount        int64       `json:"amount"`
	TaxableAmount int64       `json:"taxable_amount"`
}

// Line is one invoice line.
type Line struct {
	ID                 string      `json:"id"`
	Object             string      `json:"object"`
	Description        string      `json:"description"`
	Price              *string     `json:"price"`
	Quantity           int64       `json:"quantity"`
	UnitAmount         int64       `json:"unit_amount"`
	Amount             int64       `json:"amount"`
	AmountExcludingTax int64       `json:"amount_excluding_tax"`
	Tax                int64       `json:"tax"`
	TaxBehavior        string      `json:"tax_behavior"`
	Currency           string      `json:"currency"`
	Period             *Period     `json:"period"`
	Taxes              []TaxAmount `json:"taxes"`
}

// Period is the service period a line bills.
type Period struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Service manages invoices.
type Service struct {
	db        *store.DB
	payments  *payment.Service
	publicURL string
	logger    *slog.Logger
}

// NewService returns the invoice Service and hooks it into the catalog (an
// invoice that is not settled keeps its prices from being deleted) and the
// payment pipeline (a charge that resolves later settles its invoice).
func NewService(db *store.DB, catalogs *catalog.Service, payments *payment.Service, publicURL string, logger *slog.Logger) *Service {
	s := &Service{db: db, payments: payments, publicURL: publicURL, logger: logger}
	catalogs.AddPriceUsage(s.priceUsage)
	payments.OnResolved(s.onAttemptResolved)
	return s
}

// priceUsage refuses deleting a price that a draft or open invoice bills.
func (s *Service) priceUsage(ctx context.Context, tx *store.Tx, accountID, priceID string, change catalog.Change) (string, error) {
	if change != catalog.Deleting {
		return "", nil
	}
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT i.id) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
		WHERE l.account_id = $1 AND l.price_id = $2 AND i.status IN ('draft', 'open')`, accountID, priceID).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("count invoices of price %s: %w", priceID, err)
	}
	if n > 0 {
		return fmt.Sprintf("%d draft or open invoice(s)", n), nil
	}
	return "", nil
}

func notFound(invoiceID string) error { return apperr.NotFoundf("Invoice %s not found", invoiceID) }

const invoiceColumns = `i.id, i.customer_id, i.subscription_id, i.status, i.number, i.collection_method, i.billing_reason,
	i.currency, i.due_date, i.default_payment_method, i.customer_name, i.customer_email, i.customer_phone,
	i.customer_address, i.account_name, i.account_country, i.subtotal, i.subtotal_excluding_tax, i.tax, i.total,
	i.total_excluding_tax, i.amount_due, i.amount_paid, i.tax_amounts, i.attempt_count, i.period_start, i.period_end,
	i.memo, i.footer, i.finalized_at, i.paid_at, i.voided_at, i.written_off_at, i.uncollectible_at, i.created`

func (s *Service) scanInvoice(row interface{ Scan(...any) error }, livemode bool) (*Invoice, error) {
	inv := &Invoice{Object: "invoice", Livemode: livemode}
	var address *string
	var taxAmounts string
	err := row.Scan(&inv.ID, &inv.Customer, &inv.Subscription, &inv.Status, &inv.Number, &inv.CollectionMethod,
		&inv.BillingReason, &inv.Currency, &inv.DueDate, &inv.DefaultPaymentMethod, &inv.CustomerName, &inv.CustomerEmail,
		&inv.CustomerPhone, &address, &inv.AccountName, &inv.AccountCountry, &inv.Subtotal, &inv.SubtotalExcludingTax,
		&inv.Tax, &inv.Total, &inv.TotalExcludingTax, &inv.AmountDue, &inv.AmountPaid, &taxAmounts, &inv.AttemptCount,
		&inv.PeriodStart, &inv.PeriodEnd, &inv.Memo, &inv.Footer, &inv.StatusTransitions.FinalizedAt,
		&inv.StatusTransitions.PaidAt, &inv.StatusTransitions.VoidedAt, &inv.WrittenOffAt, &inv.UncollectibleAt, &inv.Created)
	if err != nil {
		return nil, err
	}
	if address != nil {
		inv.CustomerAddress = &customer.Address{}
		if err := json.Unmarshal([]byte(*address), inv.CustomerAddress); err != nil {
			return nil, fmt.Errorf("decode address of invoice %s: %w", inv.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(taxAmounts), &inv.TotalTaxAmounts); err != nil {
		return nil, fmt.Errorf("decode tax amounts of invoice %s: %w", inv.ID, err)
	}
	inv.derive(s.publicURL)
	return inv, nil
}

// billTo addresses the invoice to its customer as the customer is now: the
// name, the billing email (else the email), the phone and the first address.
func (inv *Invoice) billTo(c *customer.Customer) {
	inv.CustomerName, inv.CustomerEmail, inv.CustomerPhone, inv.CustomerAddress = c.Name, c.BillingEmail, c.Phone, nil
	if inv.CustomerEmail == nil {
		inv.CustomerEmail = c.Email
	}
	if len(c.Address) > 0 {
		a := c.Address[0]
		inv.CustomerAddress = &a
	}
}

// showCurrentDetails gives drafts their customers' details as they are now:
// as Stripe does, an invoice copies them when it is finalized and keeps
// them from then on. A draft whose customer was deleted shows what it
// stored last.
func (s *Service) showCurrentDetails(ctx context.Context, q store.Querier, sc account.Scope, invoices ...*Invoice) error {
	var ids []string
	seen := map[string]bool{}
	for _, inv := range invoices {
		if inv.Status == StatusDraft && !seen[inv.Customer] {
			seen[inv.Customer] = true
			ids = append(ids, inv.Customer)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	customers, err := customer.LiveByID(ctx, q, sc, ids)
	if err != nil {
		return err
	}
	for _, inv := range invoices {
		if c := customers[inv.Customer]; c != nil && inv.Status == StatusDraft {
			inv.billTo(c)
		}
	}
	return nil
}

// derive fills the fields that follow from the stored ones.
func (inv *Invoice) derive(publicURL string) {
	inv.AmountRemaining = inv.AmountDue - inv.AmountPaid
	inv.AmountCharged = inv.AmountPaid
	inv.Paid = inv.Status == StatusPaid
	inv.Attempted = inv.AttemptCount > 0
	inv.HostedInvoiceURL = publicURL + "/checkout/" + inv.ID
	if inv.TotalTaxAmounts == nil {
		inv.TotalTaxAmounts = []TaxAmount{}
	}
	inv.TotalTaxes = nil
	if len(inv.TotalTaxAmounts) == 1 {
		t := inv.TotalTaxAmounts[0]
		inv.TotalTaxes = &TotalTax{Amount: t.Amount, TaxBehavior: t.TaxBehavior, TaxRate: t.TaxRate, TaxableAmount: t.TaxableAmount}
	}
}

func (s *Service) loadLines(ctx context.Context, q store.Querier, invoices ...*Invoice) error {
	if len(invoices) == 0 {
		return nil
	}
	byID := make(map[string]*Invoice, len(invoices))
	args := make([]any, len(invoices))
	marks := make([]byte, 0, len(invoices)*4)
	for i, inv := range invoices {
		byID[inv.ID] = inv
		inv.Lines = []Line{}
		args[i] = inv.ID
		if i > 0 {
			marks = append(marks, ',')
		}
		marks = append(marks, fmt.Sprintf("$%d", i+1)...)
	}
	rows, err := q.QueryContext(ctx, `SELECT invoice_id, id, price_id, description, quantity, unit_amount, amount,
		amount_excluding_tax, tax, inclusive, period_start, period_end, taxes
		FROM invoice_lines WHERE invoice_id IN (`+string(marks)+`) ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("load invoice lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var invoiceID, taxes string
		var inclusive bool
		var start, end *int64
		l := Line{Object: "line_item"}
		if err := rows.Scan(&invoiceID, &l.ID, &l.Price, &l.Description, &l.Quantity, &l.UnitAmount, &l.Amount,
			&l.AmountExcludingTax, &l.Tax, &inclusive, &start, &end, &taxes); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(taxes), &l.Taxes); err != nil {
			return fmt.Errorf("decode taxes of line %s: %w", l.ID, err)
		}
		if l.Taxes == nil {
			l.Taxes = []TaxAmount{}
		}
		l.TaxBehavior = behavior(inclusive)
		if start != nil && end != nil {
			l.Period = &Period{Start: *start, End: *end}
		}
		inv := byID[invoiceID]
		l.Currency = inv.Currency
		inv.Lines = append(inv.Lines, l)
	}
	return rows.Err()
}

func behavior(inclusive bool) string {
	if inclusive {
		return catalog.Inclusive
	}
	return catalog.Exclusive
}

func (s *Service) get(ctx context.Context, q store.Querier, sc account.Scope, invoiceID, lock string) (*Invoice, error) {
	inv, err := store.One(q.QueryRowContext(ctx, `SELECT `+invoiceColumns+` FROM invoices i
		WHERE i.account_id = $1 AND i.id = $2`+lock, sc.AccountID, invoiceID),
		func(r store.Row) (*Invoice, error) { return s.scanInvoice(r, sc.Livemode) },
		func() error { return notFound(invoiceID) }, "invoice "+invoiceID)
	if err != nil {
		return nil, err
	}
	if err := s.loadLines(ctx, q, inv); err != nil {
		return nil, err
	}
	if err := s.showCurrentDetails(ctx, q, sc, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// Get returns an invoice of the account.
func (s *Service) Get(ctx context.Context, sc account.Scope, invoiceID string) (*Invoice, error) {
	return s.get(ctx, s.db.Read(), sc, invoiceID, "")
}

// getTx loads an invoice inside tx, locking its row (PostgreSQL) so that
// concurrent changes to the same invoice take turns.
func (s *Service) getTx(ctx context.Context, tx *store.Tx, sc account.Scope, invoiceID string) (*Invoice, error) {
	return s.get(ctx, tx, sc, invoiceID, tx.Dialect.ForUpdate())
}
