package taxrate_test

import (
	"context"
	"encoding/json"
	"github.com/kassahq/kassa/internal/account"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxrate"
)

func ptr[T any](v T) *T { return &v }

func TestGetTx(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		sc := env.ScopeOf(env.AccountID)
		created, err := env.App.TaxRates.Create(ctx, sc, taxrate.CreateParams{TaxType: ptr(taxrate.VAT), Country: ptr("nl"),
			Percentage: json.RawMessage("21.0000"), Inclusive: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if created.Percentage != "21" || created.Country != "NL" || created.DisplayName != "VAT" || !created.Active {
			t.Fatalf("created %+v", created)
		}
		load := func(accountID, id string) (*taxrate.TaxRate, error) {
			var r *taxrate.TaxRate
			err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
				var err error
				r, err = taxrate.GetTx(ctx, tx, account.Scope{AccountID: accountID}, id)
				return err
			})
			return r, err
		}
		r, err := load(env.AccountID, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rate.ID != created.ID || !r.Rate.Inclusive || r.Rate.Percentage.String() != "21" || r.Percentage != "21" {
			t.Fatalf("loaded %+v (rate %+v)", r, r.Rate)
		}
		if err := r.CheckUsable(); err != nil {
			t.Fatal(err)
		}
		if _, err := env.App.TaxRates.Update(ctx, sc, r.ID, taxrate.UpdateParams{TaxType: ptr(taxrate.VAT), Active: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		r, _ = load(env.AccountID, created.ID)
		if e, ok := apperr.As(r.CheckUsable()); !ok || e.Code != "TAX_RATE_INACTIVE" {
			t.Fatalf("inactive rate: %v", r.CheckUsable())
		}
		other, _ := env.NewAccount("other")
		if _, err := load(other, created.ID); !apperr.IsKind(err, apperr.NotFound) {
			t.Fatalf("other account: %v", err)
		}
		if _, err := load(env.AccountID, "txr_nope"); !apperr.IsKind(err, apperr.NotFound) {
			t.Fatalf("unknown: %v", err)
		}

		// The percentage is exact: 4 decimal places survive storage unchanged.
		fine, err := env.App.TaxRates.Create(ctx, sc, taxrate.CreateParams{TaxType: ptr(taxrate.SalesTax), Country: ptr("US"),
			Percentage: json.RawMessage("7.0625"), Inclusive: ptr(false)})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := load(env.AccountID, fine.ID); err != nil || r.Rate.Percentage.String() != "7.0625" || r.Rate.Inclusive {
			t.Fatalf("7.0625: %+v %v", r, err)
		}
	})
}

func TestValidCountry(t *testing.T) {
	for code, want := range map[string]bool{
		"US": true, "DE": true, "GB": true, "AU": true, "IN": true, "JP": true, "BR": true, "ZW": true, "AX": true,
		"UK": false, "EU": false, "XK": false, "ZZ": false, "us": false, "": false, "USA": false, "U": false,
	} {
		if got := taxrate.ValidCountry(code); got != want {
			t.Errorf("ValidCountry(%q) = %t, want %t", code, got, want)
		}
	}
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if taxrate.ValidCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Fatalf("%d countries, want the 249 ISO 3166-1 assignments", n)
	}
}
