// Package catalog owns what an account sells: products, their prices and the
// product tax-code catalogue. Flat-rate pricing only: a price is one amount in
// one currency, charged once (one_time) or every interval (recurring).
//
// Products and prices are deleted softly: they vanish from the API (and a
// product's name becomes free again) but rows that referenced them earlier
// stay valid. Deletion is refused while something live uses a price; the
// domains that use prices say so through a PriceUsage registered with
// AddPriceUsage.
package catalog

import (
	"context"
	"strings"
	"sync"

	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxcode"
)

// DefaultPublicURL is the base of price checkout links when none is configured.
const DefaultPublicURL = "http://127.0.0.1:8080"

// Change names what is about to happen to a price, so that a PriceUsage can
// tell whether its use of the price forbids it.
type Change int

// The changes a PriceUsage is asked about.
const (
	// Deleting: the price, or its product, is being deleted.
	Deleting Change = iota + 1
	// Rewriting: an inactive price's amount, currency, type or period are
	// being replaced (PATCH /prices/{id}/inactive).
	Rewriting
)

func (c Change) String() string {
	switch c {
	case Deleting:
		return "deleting"
	case Rewriting:
		return "rewriting"
	}
	return "changing"
}

// PriceUsage reports whether something still needs a price as it is. It
// returns a short phrase naming the use ("subscription sub_123", "2 open
// invoices") when the change must be refused, or "" when nothing it knows of
// stands in the way. Subscriptions refuse both changes while not ended;
// invoices refuse deletion while open or draft. It runs inside the
// transaction that makes the change, after the price row is locked.
type PriceUsage func(ctx context.Context, tx *store.Tx, accountID, priceID string, change Change) (use string, err error)

// Service manages products and prices.
type Service struct {
	db      *store.DB
	baseURL string

	mu     sync.RWMutex
	usages []PriceUsage
}

// NewService returns a catalog Service. publicURL is the base of the hosted
// checkout links prices carry ("" means DefaultPublicURL).
func NewService(db *store.DB, publicURL string) *Service {
	publicURL = strings.TrimRight(strings.TrimSpace(publicURL), "/")
	if publicURL == "" {
		publicURL = DefaultPublicURL
	}
	return &Service{db: db, baseURL: publicURL}
}

// AddPriceUsage registers a rule consulted before a price is deleted or
// rewritten.
func (s *Service) AddPriceUsage(u PriceUsage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usages = append(s.usages, u)
}

// CheckoutURL is the hosted checkout link of a price.
func (s *Service) CheckoutURL(priceID string) string { return s.baseURL + "/checkout/" + priceID }

// priceInUse asks every registered PriceUsage about the price and returns the
// first use that forbids the change ("" when none does).
func (s *Service) priceInUse(ctx context.Context, tx *store.Tx, accountID, priceID string, change Change) (string, error) {
	s.mu.RLock()
	usages := s.usages
	s.mu.RUnlock()
	for _, u := range usages {
		use, err := u(ctx, tx, accountID, priceID, change)
		if err != nil || use != "" {
			return use, err
		}
	}
	return "", nil
}

// TaxCodes returns the product tax codes whose code or name contains q
// (case-insensitively; every code when q is blank), as code → name.
func TaxCodes(q string) map[string]string {
	found := taxcode.Search(q)
	out := make(map[string]string, len(found))
	for _, c := range found {
		out[c.Code] = c.Name
	}
	return out
}

// Validation helpers shared by products and prices.

// maxSearchValues bounds a list-valued search key ("ids": "prod_a,prod_b"):
// each value becomes a query parameter, and the databases cap those.
const maxSearchValues = 100

// searchList reads a list-valued search key, refusing overlong lists.
func searchList(search listing.Search, key string) ([]string, error) {
	values, err := search.List(key)
	if err != nil {
		return nil, err
	}
	if len(values) > maxSearchValues {
		return nil, apperr.Invalidf("search.%s must not list more than %d values", key, maxSearchValues)
	}
	return values, nil
}

// optional turns an empty string into "no value".

// sameText reports whether two optional texts are equal.

// lockRows is the row-lock suffix for rows of the given table aliases, so
// that joined rows (the account) are not locked along with them.
func lockRows(tx *store.Tx, aliases string) string {
	return tx.Dialect.ForUpdateOf(aliases)
}

// shareRows is the shared-lock suffix: the rows cannot change or be deleted
// until the transaction ends, but other readers are not held up.
func shareRows(tx *store.Tx, aliases string) string {
	return tx.Dialect.ForShareOf(aliases)
}
