package catalog_test

import (
	"context"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxcode"
)

func ptr[T any](v T) *T { return &v }

func priceTx(t *testing.T, env *apitest.Env, accountID, priceID string) (*catalog.PriceInfo, error) {
	t.Helper()
	var info *catalog.PriceInfo
	err := env.App.DB.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		info, err = catalog.GetPriceTx(context.Background(), tx, accountID, priceID)
		return err
	})
	return info, err
}

func TestGetPriceTx(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		sc := env.ScopeOf(env.AccountID)
		svc := env.App.Catalog
		prod, err := svc.CreateProduct(ctx, sc, catalog.CreateProductParams{
			Name: ptr("Box"), TaxCode: ptr("txcd_99999999"),
			Currency: ptr("kwd"), UnitAmount: ptr(int64(1234)), Type: ptr("recurring"),
			Recurring: &catalog.RecurringParams{Interval: ptr("year")}, TaxBehavior: ptr("inclusive"), Description: ptr("Yearly box"),
		})
		if err != nil {
			t.Fatal(err)
		}
		info, err := priceTx(t, env, env.AccountID, *prod.DefaultPrice)
		if err != nil {
			t.Fatal(err)
		}
		want := catalog.PriceInfo{ID: *prod.DefaultPrice, Active: true, Currency: "KWD", UnitAmount: 1234, Type: catalog.Recurrent,
			TaxBehavior: catalog.Inclusive, ProductID: prod.ID, ProductName: "Box", ProductActive: true, TaxCode: "txcd_99999999"}
		if info.ID != want.ID || info.Active != want.Active || info.Currency != want.Currency || info.UnitAmount != want.UnitAmount ||
			info.Type != want.Type || info.TaxBehavior != want.TaxBehavior || info.ProductID != want.ProductID ||
			info.ProductName != want.ProductName || !info.ProductActive || info.TaxCode != want.TaxCode ||
			info.Recurring == nil || *info.Recurring != (catalog.Recurring{Interval: "year", IntervalCount: 1}) ||
			info.Description == nil || *info.Description != "Yearly box" || info.ProductDescription == nil || !info.Inclusive() {
			t.Fatalf("got %+v, want %+v", info, want)
		}
		if err := info.CheckSellable(); err != nil {
			t.Fatal(err)
		}

		// Inactive price, then inactive product: not sellable, with a code.
		if _, err := svc.SetPriceActive(ctx, sc, info.ID, false); err != nil {
			t.Fatal(err)
		}
		info, _ = priceTx(t, env, env.AccountID, info.ID)
		if e, ok := apperr.As(info.CheckSellable()); !ok || e.Code != "PRICE_INACTIVE" {
			t.Fatalf("inactive price: %v", info.CheckSellable())
		}
		if _, err := svc.SetPriceActive(ctx, sc, info.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetProductActive(ctx, sc, prod.ID, false); err != nil {
			t.Fatal(err)
		}
		info, _ = priceTx(t, env, env.AccountID, info.ID)
		if e, ok := apperr.As(info.CheckSellable()); !ok || e.Code != "PRODUCT_INACTIVE" {
			t.Fatalf("inactive product: %v", info.CheckSellable())
		}

		// Another account's price, an unknown price and a deleted price are not found.
		other, _ := env.NewAccount("other")
		for _, c := range []struct{ account, price string }{{other, info.ID}, {env.AccountID, "price_nope"}} {
			if _, err := priceTx(t, env, c.account, c.price); !apperr.IsKind(err, apperr.NotFound) {
				t.Errorf("%s/%s: %v", c.account, c.price, err)
			}
		}
		one, err := svc.CreatePrice(ctx, sc, prod.ID, catalog.PriceParams{Currency: ptr("JPY"), UnitAmount: ptr(int64(500)), Type: ptr("one_time")})
		if err != nil {
			t.Fatal(err)
		}
		if info, err := priceTx(t, env, env.AccountID, one.ID); err != nil || info.Recurring != nil || info.TaxBehavior != catalog.Exclusive {
			t.Fatalf("one-time price: %+v %v", info, err)
		}
		if err := svc.DeletePrice(ctx, sc, one.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := priceTx(t, env, env.AccountID, one.ID); !apperr.IsKind(err, apperr.NotFound) {
			t.Fatalf("deleted price: %v", err)
		}
	})
}

func TestCheckoutLinks(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		sc := env.ScopeOf(env.AccountID)
		prod, err := env.App.Catalog.CreateProduct(ctx, sc, catalog.CreateProductParams{Name: ptr("Linked"),
			Currency: ptr("USD"), UnitAmount: ptr(int64(1)), Type: ptr("one_time")})
		if err != nil {
			t.Fatal(err)
		}
		for base, want := range map[string]string{
			"":                         catalog.DefaultPublicURL + "/checkout/",
			"https://pay.example.com/": "https://pay.example.com/checkout/",
			" https://x.test/kassa// ": "https://x.test/kassa/checkout/",
		} {
			p, err := catalog.NewService(env.App.DB, base).GetPrice(ctx, sc, *prod.DefaultPrice)
			if err != nil {
				t.Fatal(err)
			}
			if p.Link != want+p.ID {
				t.Errorf("base %q: link %q", base, p.Link)
			}
		}
	})
}

func TestTaxCodes(t *testing.T) {
	if n := len(catalog.TaxCodes("")); n != len(taxcode.All()) {
		t.Fatalf("all codes: %d", n)
	}
	got := catalog.TaxCodes("txcd_00000000")
	if len(got) != 1 || got[taxcode.Default] == "" {
		t.Fatalf("default code: %v", got)
	}
	if got := catalog.TaxCodes("zzzz-nothing"); got == nil || len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}
}

func TestChangeNames(t *testing.T) {
	if catalog.Deleting.String() != "deleting" || catalog.Rewriting.String() != "rewriting" {
		t.Fatal(catalog.Deleting, catalog.Rewriting)
	}
}
