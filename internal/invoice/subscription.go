package invoice

import (
	"context"
	"encoding/json"
	"fmt"

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

// Billing reasons of subscription invoices.
const (
	ReasonSubscription       = "subscription"
	ReasonSubscriptionUpdate = "subscription_update"
)

// BillLine is one line of a subscription invoice: an item for a period, or
// a proration of one.
type BillLine struct {
	PriceID  string
	Quantity int64
	Tax      []string
	Period   Period
	// Amount, when set, replaces the price's amount for the quantity: a
	// proration, negative for a credit. Its taxes are computed on it.
	Amount *int64
	// Description replaces the price's own description when set.
	Description string
}

// Bill is a subscription invoice to create.
type Bill struct {
	Customer     string
	Subscription string
	Reason       string
	Lines        []BillLine
	Period       Period
	// Credit is what the subscription holds from earlier downgrades: it is
	// used up to the invoice's total.
	Credit int64
}

// CreditLeft is the part of a subscription's credit a bill did not use,
// plus any credit it made (lines adding up to less than zero).
type CreditLeft = int64

// Descriptions of the credit lines, so that every total stays the exact
// sum of its lines.
const (
	creditUsed    = "Credit from earlier changes"
	creditCarried = "Credit carried to the next invoice"
)

// CreateForSubscriptionTx builds a subscription's invoice inside tx, records
// invoice.created and finalizes it (invoice.finalized; an invoice with
// nothing due is paid then). It does not charge: the caller schedules the
// charge. A bill that adds up to less than zero is brought to zero by a
// line carrying the difference, returned as credit for the next invoice.
func (s *Service) CreateForSubscriptionTx(ctx context.Context, tx *store.Tx, sc account.Scope, b Bill) (*Invoice, CreditLeft, error) {
	inv, left, err := s.buildBill(ctx, tx, sc, b)
	if err != nil {
		return nil, 0, err
	}
	if err := event.Record(ctx, tx, sc, "invoice.created", inv); err != nil {
		return nil, 0, err
	}
	if err := s.finalizeTx(ctx, tx, sc, inv); err != nil {
		return nil, 0, err
	}
	return inv, left, nil
}

// PreviewForSubscriptionTx builds the draft a bill would make, inside a
// transaction the caller rolls back: the upcoming invoice.
func (s *Service) PreviewForSubscriptionTx(ctx context.Context, tx *store.Tx, sc account.Scope, b Bill) (*Invoice, error) {
	inv, _, err := s.buildBill(ctx, tx, sc, b)
	return inv, err
}

func (s *Service) buildBill(ctx context.Context, tx *store.Tx, sc account.Scope, b Bill) (*Invoice, CreditLeft, error) {
	now := sc.Now()
	cust, err := customer.GetTx(ctx, tx, sc, b.Customer)
	if err != nil {
		return nil, 0, err
	}
	acct, err := account.GetTx(ctx, tx, sc.AccountID)
	if err != nil {
		return nil, 0, err
	}
	subID := b.Subscription
	inv := &Invoice{
		ID: id.UUID(), Object: "invoice", Status: StatusDraft, Livemode: sc.Livemode,
		CollectionMethod: ChargeAutomatically, BillingReason: b.Reason, Customer: cust.ID, Subscription: &subID,
		AccountName: acct.Name, AccountCountry: acct.Country, Created: now.Unix(),
		PeriodStart: &b.Period.Start, PeriodEnd: &b.Period.End,
	}
	inv.billTo(cust)
	lines := make([]builtLine, 0, len(b.Lines)+1)
	var total int64
	for i, bl := range b.Lines {
		l, err := buildBillLine(ctx, tx, sc, i, bl)
		if err != nil {
			return nil, 0, err
		}
		if i == 0 {
			inv.Currency = l.Currency
		} else if l.Currency != inv.Currency {
			return nil, 0, fmt.Errorf("subscription %s bills in %s and %s", subID, inv.Currency, l.Currency)
		}
		total += l.calc.Total
		lines = append(lines, l)
	}
	left := b.Credit
	switch {
	case total < 0:
		lines = append(lines, creditLine(creditCarried, -total, inv.Currency, b.Period))
		left += -total
	case total > 0 && left > 0:
		used := min(left, total)
		lines = append(lines, creditLine(creditUsed, -used, inv.Currency, b.Period))
		left -= used
	}
	if err := s.complete(ctx, tx, sc, inv, lines, now); err != nil {
		return nil, 0, err
	}
	return inv, left, nil
}

// creditLine is an untaxed line moving credit in or out of an invoice.
func creditLine(description string, amount int64, currency string, p Period) builtLine {
	period := p
	return builtLine{calc: billing.Line{Amount: amount, Net: amount, Total: amount}, Line: Line{
		ID: id.New(id.LineItem), Object: "line_item", Description: description, Quantity: 1, UnitAmount: amount,
		Amount: amount, AmountExcludingTax: amount, TaxBehavior: behavior(false), Currency: currency,
		Period: &period, Taxes: []TaxAmount{},
	}}
}

// buildBillLine prices one subscription line. Existing subscriptions keep
// their terms: a price or tax rate deactivated since still bills.
func buildBillLine(ctx context.Context, tx *store.Tx, sc account.Scope, i int, bl BillLine) (builtLine, error) {
	price, err := catalog.GetPriceTx(ctx, tx, sc.AccountID, bl.PriceID)
	if err != nil {
		return builtLine{}, err
	}
	rates := make([]billing.Rate, 0, len(bl.Tax))
	names := map[string]string{}
	for _, taxID := range bl.Tax {
		r, err := taxrate.GetTx(ctx, tx, sc, taxID)
		if err != nil {
			return builtLine{}, err
		}
		rates = append(rates, r.Rate)
		names[r.ID] = r.DisplayName
	}
	if err := billing.CheckBehavior(price.Inclusive(), rates); err != nil {
		return builtLine{}, behaviorError(i, price, rates, err)
	}
	amount, err := billing.ItemAmount(billing.Standard, price.UnitAmount, bl.Quantity)
	if err != nil {
		return builtLine{}, apperr.Invalidf("items[%d]: %v", i, err)
	}
	if bl.Amount != nil {
		amount = *bl.Amount
	}
	// A credit is the negative of the same line charged: taxes included.
	negative := amount < 0
	calc, err := billing.ComputeLine(abs(amount), rates)
	if err != nil {
		return builtLine{}, apperr.Invalidf("items[%d]: %v", i, err)
	}
	if negative {
		calc = negate(calc)
	}
	priceID := price.ID
	description := bl.Description
	if description == "" {
		description = describe(price)
	}
	period := bl.Period
	unit := price.UnitAmount
	if bl.Amount != nil {
		unit = calc.Amount
	}
	l := builtLine{calc: calc, inclusive: price.Inclusive(), Line: Line{
		ID: id.New(id.LineItem), Object: "line_item", Description: description,
		Price: &priceID, Quantity: bl.Quantity, UnitAmount: unit, Amount: calc.Amount,
		AmountExcludingTax: calc.Net, Tax: calc.Tax, TaxBehavior: behavior(price.Inclusive()), Currency: price.Currency,
		Period: &period, Taxes: []TaxAmount{},
	}}
	if bl.Amount != nil {
		l.Quantity = 1
	}
	for _, t := range calc.Taxes {
		l.Taxes = append(l.Taxes, TaxAmount{TaxRate: t.RateID, Percentage: json.Number(t.Percentage.String()),
			DisplayName: names[t.RateID], TaxBehavior: behavior(t.Inclusive), Amount: t.Amount, TaxableAmount: t.TaxableAmount})
	}
	return l, nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func negate(l billing.Line) billing.Line {
	l.Amount, l.Net, l.Tax, l.Total = -l.Amount, -l.Net, -l.Tax, -l.Total
	taxes := make([]billing.LineTax, len(l.Taxes))
	for i, t := range l.Taxes {
		t.Amount, t.TaxableAmount = -t.Amount, -t.TaxableAmount
		taxes[i] = t
	}
	l.Taxes = taxes
	return l
}
