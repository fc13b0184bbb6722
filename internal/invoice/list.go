package invoice

import (
	"context"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/listing"
)

// ListParams filter GET /invoices.
type ListParams struct {
	Page   listing.Params
	Search listing.Search
}

var statuses = map[string]bool{StatusDraft: true, StatusOpen: true, StatusPaid: true, StatusVoid: true}

// List returns a page of the account's invoices, newest first. Search keys:
// status (comma list of draft, open, paid, void), customer, subscription,
// total[gt|gte|lt|lte] (also as amount[…]), created[gt|gte|lt|lte].
func (s *Service) List(ctx context.Context, sc account.Scope, p ListParams) (listing.Page[*Invoice], error) {
	var empty listing.Page[*Invoice]
	w := &listing.Where{}
	w.Add("i.account_id = ?", sc.AccountID)
	st, err := p.Search.List("status")
	if err != nil {
		return empty, err
	}
	for i, v := range st {
		v = strings.ToLower(v)
		st[i] = v
		if !statuses[v] {
			return empty, apperr.Invalidf("search.status must be a comma-separated list of draft, open, paid, void")
		}
	}
	w.In("i.status", st)
	for key, column := range map[string]string{"customer": "i.customer_id", "subscription": "i.subscription_id"} {
		v, ok, err := p.Search.String(key)
		if err != nil {
			return empty, err
		}
		if ok {
			w.Add(column+" = ?", v)
		}
	}
	for key, column := range map[string]string{"created": "i.created", "total": "i.total", "amount": "i.total", "amount_due": "i.amount_due"} {
		if err := p.Search.Range(w, key, column); err != nil {
			return empty, err
		}
	}
	page, err := listing.Fetch(ctx, s.db.Read(), listing.Query{What: "invoices", Columns: invoiceColumns,
		From: " FROM invoices i", OrderBy: "i.created DESC, i.seq DESC"}, w, p.Page,
		func(r listing.Row) (*Invoice, error) { return s.scanInvoice(r, sc.Livemode) })
	if err != nil {
		return empty, err
	}
	if err := s.loadLines(ctx, s.db.Read(), page.Data...); err != nil {
		return empty, err
	}
	if err := s.showCurrentDetails(ctx, s.db.Read(), sc, page.Data...); err != nil {
		return empty, err
	}
	return page, nil
}

func unixDate(t int64) string { return time.Unix(t, 0).UTC().Format("Jan 2, 2006") }
