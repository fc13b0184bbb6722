package invoice

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/invoicepdf"
)

// PDF renders the invoice as a PDF document.
func (s *Service) PDF(ctx context.Context, sc account.Scope, invoiceID string) ([]byte, *Invoice, error) {
	inv, err := s.Get(ctx, sc, invoiceID)
	if err != nil {
		return nil, nil, err
	}
	seller, err := account.GetProfile(ctx, s.db.Read(), sc.AccountID)
	if err != nil {
		return nil, nil, err
	}
	doc := invoicepdf.Document{
		Status: inv.Status, Currency: inv.Currency, Created: unixTime(&inv.Created),
		DueDate: unixTime(inv.DueDate), PaidAt: unixTime(inv.StatusTransitions.PaidAt),
		Seller: invoicepdf.Party{Name: inv.AccountName, Email: seller.Email, AddressLines: seller.Address.Lines()},
		// The address lines of the profile already end with the country when set.
		BrandColor: seller.BrandColor,
		Buyer:      invoicepdf.Party{Name: inv.CustomerName, Email: deref(inv.CustomerEmail), Phone: deref(inv.CustomerPhone)},
		Subtotal:   inv.Subtotal, Tax: inv.Tax, Total: inv.Total, AmountPaid: inv.AmountPaid,
		AmountDue: inv.AmountDue, AmountRemaining: inv.AmountRemaining,
		Memo: deref(inv.Memo), Footer: deref(inv.Footer),
	}
	if inv.Number != nil {
		doc.Number = *inv.Number
	} else {
		doc.Number = "Draft"
	}
	if len(doc.Seller.AddressLines) == 0 && inv.AccountCountry != "" {
		doc.Seller.AddressLines = []string{inv.AccountCountry}
	}
	if a := inv.CustomerAddress; a != nil {
		doc.Buyer.AddressLines = addressLines(deref(a.Line1), deref(a.Line2),
			strings.TrimSpace(strings.Join([]string{deref(a.PostalCode), deref(a.City), deref(a.State)}, " ")), deref(a.Country))
	}
	labels := map[string]string{}
	for _, t := range inv.TotalTaxAmounts {
		label := fmt.Sprintf("%s %s%%", t.DisplayName, t.Percentage)
		labels[t.TaxRate] = label
		doc.Taxes = append(doc.Taxes, invoicepdf.TaxLine{Label: label, Inclusive: t.TaxBehavior == "inclusive",
			Amount: t.Amount, TaxableAmount: t.TaxableAmount})
	}
	for _, l := range inv.Lines {
		line := invoicepdf.Line{Description: l.Description, Quantity: l.Quantity, UnitAmount: l.UnitAmount, Amount: l.Amount}
		if l.Period != nil {
			line.PeriodStart, line.PeriodEnd = time.Unix(l.Period.Start, 0).UTC(), time.Unix(l.Period.End, 0).UTC()
		}
		for _, t := range l.Taxes {
			line.TaxLabels = append(line.TaxLabels, labels[t.TaxRate])
		}
		doc.Lines = append(doc.Lines, line)
	}
	pdf, err := invoicepdf.Render(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("render invoice %s: %w", inv.ID, err)
	}
	return pdf, inv, nil
}

func unixTime(t *int64) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(*t, 0).UTC()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func addressLines(lines ...string) []string {
	var out []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
