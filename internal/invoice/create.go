package invoice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxrate"
)

// ItemParams is one requested line: a price, a quantity and its tax rates.
type ItemParams struct {
	Price    *string  `json:"price"`
	Quantity *int64   `json:"quantity"`
	Tax      []string `json:"tax"`
}

// CreateParams is the body of POST /invoices (memo and footer are extensions).
type CreateParams struct {
	CollectionMethod     *string      `json:"collection_method"`
	Customer             *string      `json:"customer"`
	Items                []ItemParams `json:"items"`
	DueDate              *int64       `json:"due_date"`
	DefaultPaymentMethod *string      `json:"default_payment_method"`
	Memo                 *string      `json:"memo"`
	Footer               *string      `json:"footer"`
}

// DefaultDaysUntilDue is the due date of a send_invoice invoice created
// without one.
const DefaultDaysUntilDue = 30

// MaxDueDateYears bounds due_date: at most this many years after the
// invoice's creation (and never before it).
const MaxDueDateYears = 5

// CheckItems checks requested lines, of an invoice or a subscription: at
// least one and at most most, each with a price id, a quantity within the
// bounds and at most MaxTaxRatesPerLine distinct tax rate ids. Messages
// name the element (items[1].quantity).
func CheckItems(items []ItemParams, most int) error {
	switch {
	case items == nil:
		return apperr.Invalidf("items should not be empty")
	case len(items) == 0:
		return apperr.Invalidf("items must contain at least 1 element")
	case len(items) > most:
		return apperr.Invalidf("items must contain no more than %d elements", most)
	}
	for i, it := range items {
		switch {
		case it.Price == nil || *it.Price == "":
			return apperr.Invalidf("items[%d].price should not be empty", i)
		case !priceIDPattern.MatchString(*it.Price):
			return apperr.Invalidf("items[%d].price must match /^[a-z]+_[a-zA-Z0-9]+$/ regular expression", i)
		case it.Quantity == nil:
			return apperr.Invalidf("items[%d].quantity should not be empty", i)
		case *it.Quantity < 1:
			return apperr.Invalidf("items[%d].quantity must not be less than 1", i)
		case *it.Quantity > billing.MaxQuantity:
			return apperr.Invalidf("items[%d].quantity must not be greater than %d", i, billing.MaxQuantity)
		case len(it.Tax) > billing.MaxTaxRatesPerLine:
			return apperr.Invalidf("items[%d].tax must contain no more than %d elements", i, billing.MaxTaxRatesPerLine)
		}
		seen := map[string]bool{}
		for j, t := range it.Tax {
			// An empty id would otherwise be looked up, and not found (404).
			if strings.TrimSpace(t) == "" {
				return apperr.Invalidf("items[%d].tax[%d] should not be empty", i, j)
			}
			if seen[t] {
				return apperr.Invalidf("items[%d].tax lists %s twice", i, t)
			}
			seen[t] = true
		}
	}
	return nil
}

// maxItems bounds the lines of one invoice.
const maxItems = 100

// priceIDPattern is the contract's pattern for an item's price id.
var priceIDPattern = regexp.MustCompile(`^[a-z]+_[a-zA-Z0-9]+$`)

func (p *CreateParams) validate(now time.Time) error {
	switch {
	case p.CollectionMethod == nil:
		return apperr.Invalidf("collection_method should not be empty")
	case *p.CollectionMethod != ChargeAutomatically && *p.CollectionMethod != SendInvoice:
		return apperr.Invalidf("collection_method must be one of the following values: charge_automatically, send_invoice")
	case p.Customer == nil || *p.Customer == "":
		return apperr.Invalidf("customer should not be empty")
	}
	if err := CheckItems(p.Items, maxItems); err != nil {
		return err
	}
	if *p.CollectionMethod == ChargeAutomatically && p.DueDate != nil {
		return apperr.Invalidf("due_date can only be set when collection_method is send_invoice")
	}
	if *p.CollectionMethod == SendInvoice && p.DefaultPaymentMethod != nil {
		return apperr.Invalidf("default_payment_method can only be set when collection_method is charge_automatically")
	}
	if p.DueDate != nil {
		// now is the invoice's creation time.
		latest := now.AddDate(MaxDueDateYears, 0, 0).Unix()
		switch {
		case *p.DueDate < now.Unix():
			return apperr.Invalidf("due_date must not be before the invoice's creation (%d)", now.Unix())
		case *p.DueDate > latest:
			return apperr.Invalidf("due_date must not be more than %d years after the invoice's creation (at most %d)", MaxDueDateYears, latest)
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"memo", p.Memo}, {"footer", p.Footer}} {
		if f.v != nil && len([]rune(*f.v)) > 5000 {
			return apperr.Invalidf("%s must be shorter than or equal to 5000 characters", f.name)
		}
	}
	return nil
}

// builtLine is a line with its computed amounts, before it is stored.
type builtLine struct {
	Line
	inclusive bool
	calc      billing.Line
}

// Create builds an invoice from prices and tax rates, as a draft. A
// send_invoice invoice is finalized and sent at once.
func (s *Service) Create(ctx context.Context, sc account.Scope, p CreateParams) (*Invoice, error) {
	now := sc.Now()
	if err := p.validate(now); err != nil {
		return nil, err
	}
	if p.DefaultPaymentMethod != nil {
		// The method must be one of the customer's (checked again when charged).
		if _, err := s.payments.GetCustomerMethod(ctx, sc, *p.Customer, *p.DefaultPaymentMethod); err != nil {
			return nil, err
		}
	}
	var inv *Invoice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		inv, err = s.build(ctx, tx, sc, p, now)
		if err != nil {
			return err
		}
		if err := event.Record(ctx, tx, sc, "invoice.created", inv); err != nil {
			return err
		}
		if inv.CollectionMethod == SendInvoice {
			if err := s.finalizeTx(ctx, tx, sc, inv); err != nil {
				return err
			}
			return s.sendTx(ctx, tx, sc, inv)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create invoice: %w", err)
	}
	return inv, nil
}

func (s *Service) build(ctx context.Context, tx *store.Tx, sc account.Scope, p CreateParams, now time.Time) (*Invoice, error) {
	cust, err := customer.GetTx(ctx, tx, sc, *p.Customer)
	if err != nil {
		return nil, err
	}
	acct, err := account.GetTx(ctx, tx, sc.AccountID)
	if err != nil {
		return nil, err
	}
	inv := &Invoice{
		ID: id.UUID(), Object: "invoice", Status: StatusDraft, Livemode: sc.Livemode,
		CollectionMethod: *p.CollectionMethod, BillingReason: "manual", Customer: cust.ID,
		AccountName: acct.Name, AccountCountry: acct.Country, DefaultPaymentMethod: p.DefaultPaymentMethod,
		DueDate: p.DueDate, Memo: p.Memo, Footer: p.Footer, Created: now.Unix(),
	}
	// Stored for the draft's sake only: drafts are shown with the customer's
	// current details, and finalizing copies them again.
	inv.billTo(cust)
	if inv.CollectionMethod == SendInvoice && inv.DueDate == nil {
		due := now.AddDate(0, 0, DefaultDaysUntilDue).Unix()
		inv.DueDate = &due
	}
	lines := make([]builtLine, 0, len(p.Items))
	for i, item := range p.Items {
		l, err := buildLine(ctx, tx, sc, i, item, now)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			inv.Currency = l.Currency
		} else if l.Currency != inv.Currency {
			return nil, apperr.Invalidf("items[%d].price is in %s but the invoice is in %s: all items must share one currency", i, l.Currency, inv.Currency)
		}
		lines = append(lines, l)
	}
	if err := s.complete(ctx, tx, sc, inv, lines, now); err != nil {
		return nil, err
	}
	return inv, nil
}

// complete totals a new invoice's lines, which must add up within the
// ceilings, and stores it.
func (s *Service) complete(ctx context.Context, tx *store.Tx, sc account.Scope, inv *Invoice, lines []builtLine, now time.Time) error {
	calcs := make([]billing.Line, len(lines))
	for i, l := range lines {
		calcs[i] = l.calc
		inv.Lines = append(inv.Lines, l.Line)
	}
	totals := billing.Sum(calcs)
	if err := totals.CheckTotal(); err != nil {
		return apperr.Invalidf("items add up to an invoice total of %d, taxes included: an invoice's total must not be greater than %d (minor units)",
			totals.Total, billing.MaxInvoiceTotal)
	}
	inv.Subtotal, inv.SubtotalExcludingTax, inv.Tax = totals.Subtotal, totals.SubtotalExcludingTax, totals.Tax
	inv.Total, inv.TotalExcludingTax, inv.AmountDue = totals.Total, totals.TotalExcludingTax, totals.Total
	inv.TotalTaxAmounts = taxAmounts(totals.Rates, lines)
	start, end := now.Unix(), now.Unix()
	for _, l := range inv.Lines {
		if l.Period != nil {
			start, end = min(start, l.Period.Start), max(end, l.Period.End)
		}
	}
	if inv.PeriodStart == nil {
		inv.PeriodStart, inv.PeriodEnd = &start, &end
	}
	inv.derive(s.publicURL)
	return insertInvoice(ctx, tx, sc, inv, lines)
}

// buildLine prices one item: its amount, period and taxes.
func buildLine(ctx context.Context, tx *store.Tx, sc account.Scope, i int, item ItemParams, now time.Time) (builtLine, error) {
	price, err := catalog.GetPriceTx(ctx, tx, sc.AccountID, *item.Price)
	if err != nil {
		return builtLine{}, err
	}
	if err := price.CheckSellable(); err != nil {
		return builtLine{}, err
	}
	rates := make([]billing.Rate, 0, len(item.Tax))
	names := map[string]string{}
	for _, taxID := range item.Tax {
		r, err := taxrate.GetTx(ctx, tx, sc, taxID)
		if err != nil {
			return builtLine{}, err
		}
		if err := r.CheckUsable(); err != nil {
			return builtLine{}, err
		}
		rates = append(rates, r.Rate)
		names[r.ID] = r.DisplayName
	}
	if err := billing.CheckBehavior(price.Inclusive(), rates); err != nil {
		return builtLine{}, behaviorError(i, price, rates, err)
	}
	amount, err := billing.BoundedLineAmount(price.UnitAmount, *item.Quantity)
	if err != nil {
		return builtLine{}, lineCeilingError(i, price, *item.Quantity, err)
	}
	calc, err := billing.ComputeLine(amount, rates)
	if err != nil {
		return builtLine{}, apperr.Invalidf("items[%d]: %v", i, err)
	}
	priceID := price.ID
	l := builtLine{calc: calc, inclusive: price.Inclusive(), Line: Line{
		ID: id.New(id.LineItem), Object: "line_item", Description: describe(price),
		Price: &priceID, Quantity: *item.Quantity, UnitAmount: price.UnitAmount, Amount: calc.Amount,
		AmountExcludingTax: calc.Net, Tax: calc.Tax, TaxBehavior: behavior(price.Inclusive()), Currency: price.Currency,
		Taxes: []TaxAmount{},
	}}
	for _, t := range calc.Taxes {
		l.Taxes = append(l.Taxes, TaxAmount{TaxRate: t.RateID, Percentage: json.Number(t.Percentage.String()),
			DisplayName: names[t.RateID], TaxBehavior: behavior(t.Inclusive), Amount: t.Amount, TaxableAmount: t.TaxableAmount})
	}
	if price.Recurring != nil {
		// A recurring price on a one-off invoice bills one period from now.
		end := billing.AddInterval(now, billing.Interval{Unit: price.Recurring.Interval, Count: price.Recurring.IntervalCount})
		l.Period = &Period{Start: now.Unix(), End: end.Unix()}
	}
	return l, nil
}

// lineCeilingError names the request field behind a line beyond a ceiling.
func lineCeilingError(i int, price *catalog.PriceInfo, quantity int64, err error) error {
	var ce *billing.CeilingError
	if !errors.As(err, &ce) {
		return apperr.Invalidf("items[%d]: %v", i, err)
	}
	switch ce.Field {
	case "unit_amount":
		// Only a price stored before its ceiling was enforced gets here.
		return apperr.Invalidf("items[%d].price %s has a unit_amount of %d: a line's unit_amount must not be greater than %d",
			i, price.ID, price.UnitAmount, billing.MaxUnitAmount)
	case "quantity":
		return apperr.Invalidf("items[%d].quantity must not be greater than %d", i, billing.MaxQuantity)
	}
	return apperr.Invalidf("items[%d].quantity must not be greater than %d with price %s: unit_amount %d × quantity %d = %d, and a line's amount must not be greater than %d (minor units)",
		i, billing.MaxLineAmount/price.UnitAmount, price.ID, price.UnitAmount, quantity, ce.Value, billing.MaxLineAmount)
}

// behaviorError says what disagrees on line i: two of its tax rates (one
// inclusive, one exclusive), or its price and its rates.
func behaviorError(i int, price *catalog.PriceInfo, rates []billing.Rate, err error) error {
	if errors.Is(err, billing.ErrMixedTaxBehavior) {
		for j := 1; j < len(rates); j++ {
			if rates[j].Inclusive != rates[0].Inclusive {
				return apperr.Invalidf("items[%d].tax mixes an %s tax rate (%s) with an %s one (%s): a line's tax rates must be all inclusive or all exclusive",
					i, behavior(rates[0].Inclusive), rates[0].ID, behavior(rates[j].Inclusive), rates[j].ID)
			}
		}
	}
	return apperr.Invalidf("items[%d]: price %s is tax %s but its tax rates are %s: a line's price and tax rates must agree on inclusive or exclusive tax",
		i, price.ID, price.TaxBehavior, behavior(!price.Inclusive()))
}

func describe(p *catalog.PriceInfo) string {
	d := p.ProductName
	if p.Description != nil && *p.Description != "" && !strings.EqualFold(*p.Description, p.ProductName) {
		d += " — " + *p.Description
	}
	return d
}

// taxAmounts lists the invoice's tax per rate, in first-seen order.
func taxAmounts(rates []billing.RateTotal, lines []builtLine) []TaxAmount {
	names := map[string]string{}
	for _, l := range lines {
		for _, t := range l.Taxes {
			names[t.TaxRate] = t.DisplayName
		}
	}
	out := make([]TaxAmount, 0, len(rates))
	for _, r := range rates {
		out = append(out, TaxAmount{TaxRate: r.RateID, Percentage: json.Number(r.Percentage.String()), DisplayName: names[r.RateID],
			TaxBehavior: behavior(r.Inclusive), Amount: r.Amount, TaxableAmount: r.TaxableAmount})
	}
	return out
}

// encodeAddress is the customer_address column of an invoice.
func encodeAddress(a *customer.Address) (*string, error) {
	if a == nil {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func insertInvoice(ctx context.Context, tx *store.Tx, sc account.Scope, inv *Invoice, lines []builtLine) error {
	address, err := encodeAddress(inv.CustomerAddress)
	if err != nil {
		return err
	}
	taxes, err := json.Marshal(inv.TotalTaxAmounts)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO invoices (id, account_id, customer_id, subscription_id, status, collection_method,
		billing_reason, currency, due_date, default_payment_method, customer_name, customer_email, customer_phone,
		customer_address, account_name, account_country, subtotal, subtotal_excluding_tax, tax, total, total_excluding_tax,
		amount_due, tax_amounts, period_start, period_end, memo, footer, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
		$24, $25, $26, $27, $28, $28)`,
		inv.ID, sc.AccountID, inv.Customer, inv.Subscription, inv.Status, inv.CollectionMethod, inv.BillingReason,
		inv.Currency, inv.DueDate, inv.DefaultPaymentMethod, inv.CustomerName, inv.CustomerEmail, inv.CustomerPhone,
		address, inv.AccountName, inv.AccountCountry, inv.Subtotal, inv.SubtotalExcludingTax, inv.Tax, inv.Total,
		inv.TotalExcludingTax, inv.AmountDue, string(taxes), inv.PeriodStart, inv.PeriodEnd, inv.Memo, inv.Footer, inv.Created)
	if err != nil {
		return fmt.Errorf("insert invoice: %w", err)
	}
	for _, l := range lines {
		taxes, err := json.Marshal(l.Taxes)
		if err != nil {
			return err
		}
		var start, end *int64
		if l.Period != nil {
			start, end = &l.Period.Start, &l.Period.End
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invoice_lines (id, account_id, invoice_id, price_id, description,
			quantity, unit_amount, amount, amount_excluding_tax, tax, inclusive, period_start, period_end, taxes)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			l.ID, sc.AccountID, inv.ID, l.Price, l.Description, l.Quantity, l.UnitAmount, l.Amount, l.AmountExcludingTax,
			l.Tax, l.inclusive, start, end, string(taxes)); err != nil {
			return fmt.Errorf("insert invoice line: %w", err)
		}
	}
	return nil
}
