package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/store"
)

// catEvents returns the account's outbox event types, oldest first.
func catEvents(t *testing.T, env *apitest.Env, accountID string) []event.Stored {
	t.Helper()
	evs, err := event.List(context.Background(), env.App.DB.Read(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func catEventTypes(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	var out []string
	for _, e := range catEvents(t, env, env.AccountID) {
		out = append(out, e.Type)
	}
	return out
}

// catEventData decodes the data of the last event of type typ.
func catEventData(t *testing.T, env *apitest.Env, typ string) map[string]any {
	t.Helper()
	evs := catEvents(t, env, env.AccountID)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != typ {
			continue
		}
		var env struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		if err := json.Unmarshal(evs[i].Payload, &env); err != nil {
			t.Fatal(err)
		}
		if env.Event != typ {
			t.Fatalf("envelope event %q, want %q", env.Event, typ)
		}
		return env.Data
	}
	t.Fatalf("no %s event", typ)
	return nil
}

type catPage struct {
	Data []map[string]any `json:"data"`
	Meta struct {
		Page, Take, ItemsTotal, PagesTotal int
	} `json:"meta"`
}

func catList(t *testing.T, env *apitest.Env, path string, search string) catPage {
	t.Helper()
	if search != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "search=" + url.QueryEscape(search)
	}
	var p catPage
	env.Get(path).Want(t, 200).JSON(t, &p)
	return p
}

func catIDs(p catPage) []string {
	var out []string
	for _, d := range p.Data {
		out = append(out, d["id"].(string))
	}
	return out
}

func monthly(name string) map[string]any {
	return map[string]any{
		"name": name, "currency": "USD", "unit_amount": 2999, "type": "recurring",
		"recurring": map[string]any{"interval": "month", "interval_count": 1}, "tax_behavior": "exclusive",
	}
}

func oneTime(currency string, amount int64) map[string]any {
	return map[string]any{"currency": currency, "unit_amount": amount, "type": "one_time", "recurring": nil}
}

func TestProductLifecycle(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		body := monthly("  Gold Plan ")
		body["currency"] = "eur"
		body["description"] = "Premium Plan - Monthly"
		body["tax_code"] = "txcd_10000000"
		prod := env.Post("/v1/products", body).Want(t, 201).Map(t)
		pid := prod["id"].(string)
		if !strings.HasPrefix(pid, "prod_") || len(pid) != 29 {
			t.Fatalf("id %q", pid)
		}
		if prod["object"] != "product" || prod["name"] != "Gold Plan" || prod["active"] != true ||
			prod["description"] != "Premium Plan - Monthly" || prod["tax_code"] != "txcd_10000000" ||
			prod["livemode"] != false || prod["updated"] != prod["created"] {
			t.Fatalf("created %v", prod)
		}
		priceID, _ := prod["default_price"].(string)
		if !strings.HasPrefix(priceID, "price_") {
			t.Fatalf("default_price %v", prod["default_price"])
		}
		price := env.Get("/v1/prices/"+priceID).Want(t, 200).Map(t)
		rec, _ := price["recurring"].(map[string]any)
		if price["object"] != "price" || price["product"] != pid || price["currency"] != "EUR" ||
			price["unit_amount"].(float64) != 2999 || price["unit_amount_decimal"] != "2999" ||
			price["type"] != "recurring" || price["tax_behavior"] != "exclusive" || price["active"] != true ||
			price["description"] != "Premium Plan - Monthly" || rec["interval"] != "month" || rec["interval_count"].(float64) != 1 ||
			price["link"] != "http://127.0.0.1:8080/checkout/"+priceID {
			t.Fatalf("default price %v", price)
		}
		if got := env.Get("/products/"+pid).Want(t, 200).Map(t); got["name"] != "Gold Plan" || got["default_price"] != priceID {
			t.Fatalf("get %v", got)
		}
		if got := strings.Join(catEventTypes(t, env), ","); got != "product.created,price.created" {
			t.Fatalf("events after create: %s", got)
		}
		if d := catEventData(t, env, "product.created"); d["default_price"] != priceID || d["object"] != "product" {
			t.Fatalf("product.created data %v", d)
		}
		if d := catEventData(t, env, "price.created"); d["id"] != priceID || d["currency"] != "EUR" {
			t.Fatalf("price.created data %v", d)
		}

		// PATCH is partial: name is optional (G-10).
		got := env.Patch("/v1/products/"+pid, map[string]any{"description": "Updated"}).Want(t, 200).Map(t)
		if got["name"] != "Gold Plan" || got["description"] != "Updated" || got["tax_code"] != "txcd_10000000" {
			t.Fatalf("after description patch %v", got)
		}
		got = env.Patch("/v1/products/"+pid, map[string]any{"name": "gold plan", "tax_code": "txcd_20030000"}).Want(t, 200).Map(t)
		if got["name"] != "gold plan" || got["description"] != "Updated" || got["tax_code"] != "txcd_20030000" {
			t.Fatalf("after name patch %v", got)
		}
		env.Patch("/v1/products/"+pid, map[string]any{"tax_code": "txcd_12345678"}).Want(t, 400)
		env.Patch("/v1/products/"+pid, map[string]any{"name": " "}).Want(t, 400)
		// The renamed product keeps its name taken; a second product may not have it in any case.
		other := env.Post("/v1/products", monthly("Silver")).Want(t, 201).Map(t)["id"].(string)
		res := env.Patch("/v1/products/"+other, map[string]any{"name": "GOLD PLAN"}).Want(t, 400)
		if m := res.Map(t); m["error"] != "PRODUCT_NAME_TAKEN" || !strings.Contains(m["message"].(string), "name must be unique") {
			t.Fatalf("duplicate rename: %s", res.Body)
		}

		// Deactivate and activate (extensions).
		got = env.Post("/v1/products/"+pid+"/deactivate", nil).Want(t, 200).Map(t)
		if got["active"] != false {
			t.Fatalf("deactivated %v", got)
		}
		env.Post("/v1/products/"+pid+"/deactivate", nil).Want(t, 200) // no change, no event
		if catList(t, env, "/v1/products", `{"active":false}`).Meta.ItemsTotal != 1 {
			t.Fatal("inactive filter")
		}
		got = env.Post("/products/"+pid+"/activate", nil).Want(t, 200).Map(t)
		if got["active"] != true {
			t.Fatalf("activated %v", got)
		}

		// A second price; then delete the product: both prices go, price events first.
		second := env.Post("/v1/prices/"+pid, oneTime("EUR", 500)).Want(t, 201).Map(t)["id"].(string)
		before := len(catEvents(t, env, env.AccountID))
		res = env.Delete("/v1/products/"+pid).Want(t, 200)
		var del map[string]any
		res.JSON(t, &del)
		if del["id"] != pid || del["deleted"] != true || len(del) != 2 {
			t.Fatalf("delete answered %s", res.Body)
		}
		var tail []string
		for _, e := range catEvents(t, env, env.AccountID)[before:] {
			tail = append(tail, e.Type)
		}
		if got := strings.Join(tail, ","); got != "price.deleted,price.deleted,product.deleted" {
			t.Fatalf("delete events %s", got)
		}
		env.Get("/v1/products/"+pid).Want(t, 404)
		env.Get("/v1/prices/"+priceID).Want(t, 404)
		env.Get("/v1/prices/"+second).Want(t, 404)
		env.Delete("/v1/products/"+pid).Want(t, 404)
		env.Patch("/v1/products/"+pid, map[string]any{"name": "x"}).Want(t, 404)
		env.Post("/v1/products/"+pid+"/activate", nil).Want(t, 404)
		env.Post("/v1/prices/"+pid, oneTime("EUR", 1)).Want(t, 404)
		if ids := catIDs(catList(t, env, "/v1/prices", "")); len(ids) != 1 { // Silver's price only
			t.Fatalf("prices after delete: %v", ids)
		}
		// The name of a deleted product is free again.
		env.Post("/v1/products", monthly("Gold Plan")).Want(t, 201)

		want := map[string]int{"product.created": 3, "price.created": 4, "product.updated": 4, "price.deleted": 2, "product.deleted": 1}
		counts := map[string]int{}
		for _, typ := range catEventTypes(t, env) {
			counts[typ]++
		}
		for typ, n := range want {
			if counts[typ] != n {
				t.Errorf("%s events: %d, want %d (all: %v)", typ, counts[typ], n, counts)
			}
		}
	})
}

func TestProductBadInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		env.Post("/v1/products", monthly("Taken")).Want(t, 201)
		start := len(catEvents(t, env, env.AccountID))
		with := func(changes map[string]any) map[string]any {
			b := monthly("Fresh")
			for k, v := range changes {
				if v == nil {
					delete(b, k)
				} else {
					b[k] = v
				}
			}
			return b
		}
		cases := []struct {
			name string
			body any
			want string
		}{
			{"missing name", with(map[string]any{"name": nil}), "name should not be empty"},
			{"blank name", with(map[string]any{"name": "  "}), "name should not be empty"},
			{"long name", with(map[string]any{"name": strings.Repeat("n", 101)}), "name must be shorter than or equal to 100"},
			{"duplicate name", with(map[string]any{"name": "tAKEN "}), "name must be unique"},
			{"negative amount", with(map[string]any{"unit_amount": -1}), "unit_amount must not be less than 0"},
			{"fractional amount", `{"name":"F","currency":"USD","unit_amount":10.5,"type":"one_time"}`, "unit_amount must be an integer number"},
			{"amount too big", with(map[string]any{"unit_amount": 100_000_000}), "unit_amount must not be greater than 99999999"},
			{"amount as string", with(map[string]any{"unit_amount": "100"}), "unit_amount must be an integer number"},
			{"missing amount", with(map[string]any{"unit_amount": nil}), "unit_amount should not be empty"},
			{"unknown currency", with(map[string]any{"currency": "XYZ"}), "currency must be an ISO 4217 currency code"},
			{"missing currency", with(map[string]any{"currency": nil}), "currency should not be empty"},
			{"recurring without recurring", with(map[string]any{"recurring": nil}), "recurring should not be empty when type is recurring"},
			{"one_time with recurring", with(map[string]any{"type": "one_time"}), "recurring must be null or absent when type is one_time"},
			{"unknown type", with(map[string]any{"type": "metered"}), "type must be one of the following values"},
			{"unknown interval", with(map[string]any{"recurring": map[string]any{"interval": "fortnight"}}), "recurring.interval must be one of"},
			{"missing interval", with(map[string]any{"recurring": map[string]any{"interval_count": 2}}), "recurring.interval should not be empty"},
			{"interval_count 0", with(map[string]any{"recurring": map[string]any{"interval": "day", "interval_count": 0}}), "recurring.interval_count must not be less than 1"},
			{"interval_count 366", with(map[string]any{"recurring": map[string]any{"interval": "day", "interval_count": 366}}), "recurring.interval_count must not be greater than 365"},
			{"interval_count fractional", with(map[string]any{"recurring": map[string]any{"interval": "day", "interval_count": 1.5}}), "recurring.interval_count must be an integer number"},
			{"unknown recurring field", with(map[string]any{"recurring": map[string]any{"interval": "day", "usage_type": "metered"}}), "property usage_type should not exist"},
			{"bad tax_behavior", with(map[string]any{"tax_behavior": "both"}), "tax_behavior must be one of the following values: exclusive, inclusive"},
			{"unknown tax code", with(map[string]any{"tax_code": "txcd_12345678"}), "tax_code must be one of the product tax codes"},
			{"long description", with(map[string]any{"description": strings.Repeat("d", 256)}), "description must be shorter than or equal to 255"},
			{"unknown field", with(map[string]any{"colour": "red"}), "property colour should not exist"},
			{"wrong type", with(map[string]any{"name": 5}), "name must be a string"},
			{"not an object", `[1]`, "request body must be a JSON object"},
		}
		for _, tc := range cases {
			m := env.Post("/v1/products", tc.body).Want(t, 400).Map(t)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tc.want) {
				t.Errorf("%s: message %q, want it to contain %q", tc.name, msg, tc.want)
			}
		}
		// Nothing was written.
		if n := catList(t, env, "/v1/products", "").Meta.ItemsTotal; n != 1 {
			t.Fatalf("products after bad input: %d", n)
		}
		if n := catList(t, env, "/v1/prices", "").Meta.ItemsTotal; n != 1 {
			t.Fatalf("prices after bad input: %d", n)
		}
		if n := len(catEvents(t, env, env.AccountID)); n != start {
			t.Fatalf("events after bad input: %d, want %d", n, start)
		}
		// tax_behavior defaults to exclusive; interval_count to 1.
		b := with(map[string]any{"tax_behavior": nil, "recurring": map[string]any{"interval": "year"}})
		prod := env.Post("/v1/products", b).Want(t, 201).Map(t)
		price := env.Get("/v1/prices/"+prod["default_price"].(string)).Want(t, 200).Map(t)
		if price["tax_behavior"] != "exclusive" || price["recurring"].(map[string]any)["interval_count"].(float64) != 1 || prod["tax_code"] != "txcd_00000000" {
			t.Fatalf("defaults: %v %v", prod, price)
		}
	})
}

func TestPriceLifecycle(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		prod := env.Post("/v1/products", monthly("Plan")).Want(t, 201).Map(t)
		pid, first := prod["id"].(string), prod["default_price"].(string)

		p := oneTime("usd", 9999)
		p["description"] = "One-time purchase"
		p["tax_behavior"] = "inclusive"
		price := env.Post("/v1/prices/"+pid, p).Want(t, 201).Map(t)
		id := price["id"].(string)
		if price["recurring"] != nil || price["type"] != "one_time" || price["currency"] != "USD" || price["tax_behavior"] != "inclusive" ||
			price["active"] != true || price["product"] != pid || price["description"] != "One-time purchase" {
			t.Fatalf("created %v", price)
		}
		// recurring is always present, null for one-time prices.
		if raw := env.Get("/v1/prices/"+id).Want(t, 200).Body; !strings.Contains(string(raw), `"recurring":null`) {
			t.Fatalf("recurring missing: %s", raw)
		}
		// The product keeps its default price.
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["default_price"] != first {
			t.Fatalf("default changed: %v", got)
		}

		// Active price: only the description may change.
		got := env.Patch("/v1/prices/"+id+"/active", map[string]any{"description": "Lifetime"}).Want(t, 200).Map(t)
		if got["description"] != "Lifetime" || got["unit_amount"].(float64) != 9999 {
			t.Fatalf("active patch %v", got)
		}
		res := env.Patch("/v1/prices/"+id+"/active", map[string]any{"description": "x", "unit_amount": 1}).Want(t, 400)
		if m := res.Map(t); m["error"] != "PRICE_ACTIVE" || !strings.HasPrefix(m["message"].(string), "unit_amount cannot change") {
			t.Fatalf("active patch with amount: %s", res.Body)
		}
		env.Patch("/v1/prices/"+id+"/active", map[string]any{"nickname": "x"}).Want(t, 400)
		full := map[string]any{"currency": "USD", "unit_amount": 3999, "type": "recurring",
			"recurring": map[string]any{"interval": "week", "interval_count": 2}, "tax_behavior": "exclusive"}
		if res := env.Patch("/v1/prices/"+id+"/inactive", full).Want(t, 400); res.Map(t)["error"] != "PRICE_ACTIVE" {
			t.Fatalf("inactive patch on active price: %s", res.Body)
		}

		got = env.Post("/v1/prices/"+id+"/deactivate", nil).Want(t, 200).Map(t)
		if got["active"] != false {
			t.Fatalf("deactivated %v", got)
		}
		if res := env.Patch("/v1/prices/"+id+"/active", map[string]any{"description": "y"}).Want(t, 400); res.Map(t)["error"] != "PRICE_INACTIVE" {
			t.Fatalf("active patch on inactive price: %s", res.Body)
		}
		// Validation applies to the full update too; nothing changes when refused.
		bad := map[string]any{"currency": "USD", "unit_amount": 1, "type": "recurring", "tax_behavior": "exclusive"}
		env.Patch("/v1/prices/"+id+"/inactive", bad).Want(t, 400)
		got = env.Patch("/v1/prices/"+id+"/inactive", full).Want(t, 200).Map(t)
		rec := got["recurring"].(map[string]any)
		if got["unit_amount"].(float64) != 3999 || got["unit_amount_decimal"] != "3999" || got["type"] != "recurring" ||
			rec["interval"] != "week" || rec["interval_count"].(float64) != 2 || got["tax_behavior"] != "exclusive" ||
			got["description"] != "Lifetime" || got["active"] != false {
			t.Fatalf("inactive patch %v", got)
		}
		if d := catEventData(t, env, "price.updated"); d["unit_amount"].(float64) != 3999 {
			t.Fatalf("price.updated data %v", d)
		}
		got = env.Post("/prices/"+id+"/activate", nil).Want(t, 200).Map(t)
		if got["active"] != true {
			t.Fatalf("activated %v", got)
		}

		// Deleting the default price clears default_price; the next price becomes the default.
		before := len(catEvents(t, env, env.AccountID))
		res = env.Delete("/v1/prices/"+first).Want(t, 200)
		if m := res.Map(t); m["id"] != first || m["deleted"] != true {
			t.Fatalf("delete answered %s", res.Body)
		}
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["default_price"] != nil {
			t.Fatalf("default after delete: %v", got["default_price"])
		}
		env.Get("/v1/prices/"+first).Want(t, 404)
		env.Delete("/v1/prices/"+first).Want(t, 404)
		env.Patch("/v1/prices/"+first+"/active", map[string]any{"description": "x"}).Want(t, 404)
		env.Patch("/v1/prices/"+first+"/inactive", full).Want(t, 404)
		env.Post("/v1/prices/"+first+"/activate", nil).Want(t, 404)
		third := env.Post("/v1/prices/"+pid, oneTime("USD", 1)).Want(t, 201).Map(t)["id"].(string)
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["default_price"] != third {
			t.Fatalf("default after new price: %v", got["default_price"])
		}
		var tail []string
		for _, e := range catEvents(t, env, env.AccountID)[before:] {
			tail = append(tail, e.Type)
		}
		if got := strings.Join(tail, ","); got != "price.deleted,product.updated,price.created,product.updated" {
			t.Fatalf("events: %s", got)
		}
		// Deleting a price that is not the default leaves the product alone.
		env.Delete("/v1/prices/"+id).Want(t, 200)
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["default_price"] != third {
			t.Fatalf("default after deleting another price: %v", got["default_price"])
		}
		env.Post("/v1/prices/prod_unknown", oneTime("USD", 1)).Want(t, 404)
		env.Get("/v1/prices/price_unknown").Want(t, 404)
	})
}

func TestPriceCurrencies(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		pid := env.Post("/v1/products", monthly("Multi")).Want(t, 201).Map(t)["id"].(string)
		for _, c := range []struct {
			in, out string
			amount  int64
		}{{"jpy", "JPY", 1000}, {"KWD", "KWD", 1234}, {"Eur", "EUR", 0}, {"usd", "USD", 99_999_999}} {
			got := env.Post("/v1/prices/"+pid, oneTime(c.in, c.amount)).Want(t, 201).Map(t)
			if got["currency"] != c.out || int64(got["unit_amount"].(float64)) != c.amount ||
				got["unit_amount_decimal"] != fmt.Sprint(c.amount) {
				t.Errorf("%s: %v", c.in, got)
			}
		}
		for _, c := range []string{"XYZ", "US", "usdd", "XXX"} {
			msg := env.Post("/v1/prices/"+pid, oneTime(c, 1)).Want(t, 400).Message(t)
			if !strings.Contains(msg, "currency must be an ISO 4217 currency code") {
				t.Errorf("%s: %q", c, msg)
			}
		}
		if n := catList(t, env, "/v1/prices", `{"currency":"jpy"}`).Meta.ItemsTotal; n != 1 {
			t.Fatalf("currency filter jpy: %d", n)
		}
		if n := catList(t, env, "/v1/prices", `{"currency":"usd,kwd"}`).Meta.ItemsTotal; n != 3 {
			t.Fatalf("currency filter usd,kwd: %d", n)
		}
	})
}

// usageRule is a test PriceUsage whose answers the test controls.
type usageRule struct {
	mu   sync.Mutex
	uses map[string]string // price id → use
	only catalog.Change    // 0: every change
}

func (u *usageRule) set(priceID, use string, only catalog.Change) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.uses == nil {
		u.uses = map[string]string{}
	}
	u.uses[priceID], u.only = use, only
}

func (u *usageRule) check(ctx context.Context, tx *store.Tx, accountID, priceID string, change catalog.Change) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.only != 0 && change != u.only {
		return "", nil
	}
	return u.uses[priceID], nil
}

func TestPriceUsageGuard(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		rule := &usageRule{}
		env.App.Catalog.AddPriceUsage(rule.check)
		prod := env.Post("/v1/products", monthly("Used")).Want(t, 201).Map(t)
		pid, used := prod["id"].(string), prod["default_price"].(string)
		free := env.Post("/v1/prices/"+pid, oneTime("USD", 5)).Want(t, 201).Map(t)["id"].(string)
		rule.set(used, "subscription sub_test", 0)
		start := len(catEvents(t, env, env.AccountID))

		res := env.Delete("/v1/products/"+pid).Want(t, 400)
		if m := res.Map(t); m["error"] != "PRODUCT_IN_USE" || !strings.Contains(m["message"].(string), "subscription sub_test") {
			t.Fatalf("product delete: %s", res.Body)
		}
		res = env.Delete("/v1/prices/"+used).Want(t, 400)
		if m := res.Map(t); m["error"] != "PRICE_IN_USE" || !strings.Contains(m["message"].(string), used) {
			t.Fatalf("price delete: %s", res.Body)
		}
		env.Post("/v1/prices/"+used+"/deactivate", nil).Want(t, 200) // deactivating is always allowed
		full := map[string]any{"currency": "USD", "unit_amount": 1, "type": "one_time", "tax_behavior": "exclusive"}
		if res := env.Patch("/v1/prices/"+used+"/inactive", full).Want(t, 400); res.Map(t)["error"] != "PRICE_IN_USE" {
			t.Fatalf("inactive patch of used price: %s", res.Body)
		}
		// Nothing was deleted and only the deactivation was announced.
		env.Get("/v1/products/"+pid).Want(t, 200)
		env.Get("/v1/prices/"+used).Want(t, 200)
		if got := catEventTypes(t, env)[start:]; len(got) != 1 || got[0] != "price.updated" {
			t.Fatalf("events: %v", got)
		}
		// An unused price of the same product can go.
		env.Delete("/v1/prices/"+free).Want(t, 200)
		// A use that only forbids deletion lets an inactive price be rewritten.
		rule.set(used, "invoice 123", catalog.Deleting)
		env.Patch("/v1/prices/"+used+"/inactive", full).Want(t, 200)
		env.Delete("/v1/prices/"+used).Want(t, 400)
		rule.set(used, "", 0)
		env.Delete("/v1/products/"+pid).Want(t, 200)
	})
}

func TestCatalogLists(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		var prods []string
		for i := 0; i < 5; i++ {
			b := monthly(fmt.Sprintf("P%d", i))
			if i%2 == 1 {
				b["tax_code"] = "txcd_20030000"
			}
			prods = append(prods, env.Post("/v1/products", b).Want(t, 201).Map(t)["id"].(string))
			if i == 2 {
				env.Post("/v1/test-clock/advance", map[string]any{"seconds": 3600}).Want(t, 200)
			}
		}
		later := env.Get("/v1/products/"+prods[3]).Want(t, 200).Map(t)["created"].(float64)

		p := catList(t, env, "/v1/products?take=2&page=1", "")
		if p.Meta.ItemsTotal != 5 || p.Meta.PagesTotal != 3 || p.Meta.Take != 2 || len(p.Data) != 2 {
			t.Fatalf("page 1: %+v", p.Meta)
		}
		if ids := catIDs(p); ids[0] != prods[4] || ids[1] != prods[3] { // newest first
			t.Fatalf("order: %v", ids)
		}
		if ids := catIDs(catList(t, env, "/v1/products?take=2&page=3", "")); len(ids) != 1 || ids[0] != prods[0] {
			t.Fatalf("last page: %v", ids)
		}
		if p := catList(t, env, "/v1/products?take=2&page=4", ""); len(p.Data) != 0 || p.Meta.ItemsTotal != 5 {
			t.Fatalf("past the end: %+v", p)
		}
		if n := catList(t, env, "/v1/products?take=50", "").Meta.ItemsTotal; n != 5 {
			t.Fatalf("take=50: %d", n)
		}
		for _, path := range []string{"/v1/products", "/v1/prices", "/v1/taxRates"} {
			for q, want := range map[string]string{
				"take=0": "take must not be less than 1", "take=51": "take must not be greater than 50",
				"page=0": "page must not be less than 1", "page=x": "page must be an integer number",
				"search=" + url.QueryEscape("{bad"):               "search must be a JSON object",
				"search=plain":                                    "search must be a JSON object",
				"search=" + url.QueryEscape(`{"active":"maybe"}`): "search.active must be a boolean",
			} {
				if msg := env.Get(path+"?"+q).Want(t, 400).Message(t); !strings.Contains(msg, want) {
					t.Errorf("%s?%s: %q, want %q", path, q, msg, want)
				}
			}
		}
		if ids := catIDs(catList(t, env, "/v1/products", `{"tax_code":"txcd_20030000"}`)); len(ids) != 2 {
			t.Fatalf("tax_code filter: %v", ids)
		}
		if ids := catIDs(catList(t, env, "/v1/products", `{"ids":"`+prods[0]+`,`+prods[2]+`, prod_nope"}`)); len(ids) != 2 || ids[0] != prods[2] {
			t.Fatalf("ids filter: %v", ids)
		}
		if ids := catIDs(catList(t, env, "/v1/products", fmt.Sprintf(`{"created[gte]":%d}`, int64(later)))); len(ids) != 2 {
			t.Fatalf("created[gte]: %v", ids)
		}
		if ids := catIDs(catList(t, env, "/v1/products", fmt.Sprintf(`{"created[lt]":%d,"active":true}`, int64(later)))); len(ids) != 3 {
			t.Fatalf("created[lt]: %v", ids)
		}
		env.Post("/v1/products/"+prods[1]+"/deactivate", nil).Want(t, 200)
		if ids := catIDs(catList(t, env, "/v1/products", `{"active":true}`)); len(ids) != 4 {
			t.Fatalf("active filter: %v", ids)
		}

		// Prices: type, inclusive, product, created.
		one := oneTime("EUR", 100)
		one["tax_behavior"] = "inclusive"
		env.Post("/v1/prices/"+prods[0], one).Want(t, 201)
		if ids := catIDs(catList(t, env, "/v1/prices", `{"type":"one_time"}`)); len(ids) != 1 {
			t.Fatalf("type filter: %v", ids)
		}
		if n := catList(t, env, "/v1/prices", `{"type":"recurring","inclusive":false}`).Meta.ItemsTotal; n != 5 {
			t.Fatalf("type+inclusive filter: %d", n)
		}
		if n := catList(t, env, "/v1/prices", `{"inclusive":true}`).Meta.ItemsTotal; n != 1 {
			t.Fatalf("inclusive filter: %d", n)
		}
		if p := catList(t, env, "/v1/prices", `{"product":"`+prods[0]+`"}`); p.Meta.ItemsTotal != 2 || p.Data[0]["type"] != "one_time" {
			t.Fatalf("product filter: %+v", p)
		}
		if n := catList(t, env, "/v1/prices", fmt.Sprintf(`{"created[gt]":%d}`, int64(later)-1)).Meta.ItemsTotal; n != 3 {
			t.Fatalf("prices created[gt]: %d", n)
		}
		if msg := env.Get("/v1/prices?search="+url.QueryEscape(`{"type":"metered"}`)).Want(t, 400).Message(t); !strings.Contains(msg, "search.type") {
			t.Fatalf("bad type filter: %q", msg)
		}
	})
}

func TestTaxCodesEndpoint(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		var all map[string]string
		env.Get("/v1/products/taxCodes").Want(t, 200).JSON(t, &all)
		if len(all) != 637 || all["txcd_00000000"] == "" || all["txcd_92010001"] == "" {
			t.Fatalf("%d codes", len(all))
		}
		var found map[string]string
		env.Get("/v1/products/taxCodes?search=SHIPPING").Want(t, 200).JSON(t, &found)
		if len(found) == 0 || len(found) == len(all) || found["txcd_92010001"] == "" {
			t.Fatalf("search shipping: %v", found)
		}
		env.Get("/products/taxCodes?search=TXCD_9201").Want(t, 200).JSON(t, &found)
		if _, ok := found["txcd_92010001"]; !ok {
			t.Fatalf("search by code: %v", found)
		}
		res := env.Get("/v1/products/taxCodes?search=no-such-category").Want(t, 200)
		if strings.TrimSpace(string(res.Body)) != "{}" {
			t.Fatalf("no match: %s", res.Body)
		}
		env.Do(apitest.Request{Method: "GET", Path: "/v1/products/taxCodes", Key: "-"}).Want(t, 400)
	})
}

func TestTaxRateLifecycle(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		res := env.Post("/v1/taxRates", map[string]any{"tax_type": "Sales tax", "country": "us", "percentage": 8.875, "inclusive": false,
			"description": "NYC"}).Want(t, 201)
		if !strings.Contains(string(res.Body), `"percentage":8.875`) {
			t.Fatalf("percentage not exact: %s", res.Body)
		}
		r := res.Map(t)
		id := r["id"].(string)
		if !strings.HasPrefix(id, "txr_") || r["object"] != "tax_rate" || r["display_name"] != "Sales tax" || r["country"] != "US" ||
			r["active"] != true || r["inclusive"] != false || r["tax_type"] != "Sales tax" || r["description"] != "NYC" {
			t.Fatalf("created %v", r)
		}
		// Exact decimal text goes in as given: no float on the way.
		res = env.Post("/v1/taxRates", `{"tax_type":"VAT","country":"DE","percentage":19.00,"inclusive":true,"active":false}`).Want(t, 201)
		if !strings.Contains(string(res.Body), `"percentage":19,`) {
			t.Fatalf("19.00: %s", res.Body)
		}
		vat := res.Map(t)
		if vat["active"] != false || vat["inclusive"] != true || vat["display_name"] != "VAT" {
			t.Fatalf("vat %v", vat)
		}
		res = env.Post("/v1/taxRates", `{"tax_type":"Custom","display_name":" City levy ","country":"GB","percentage":0.0725,"inclusive":false}`).Want(t, 201)
		if !strings.Contains(string(res.Body), `"percentage":0.0725`) || res.Map(t)["display_name"] != "City levy" {
			t.Fatalf("custom: %s", res.Body)
		}
		for _, pct := range []string{"0", "100", "7.25", "33.3333"} {
			res := env.Post("/v1/taxRates", `{"tax_type":"GST","country":"AU","inclusive":true,"percentage":`+pct+`}`).Want(t, 201)
			if !strings.Contains(string(res.Body), `"percentage":`+pct+`,`) {
				t.Errorf("%s: %s", pct, res.Body)
			}
		}
		got := env.Get("/v1/taxRates/"+id).Want(t, 200)
		if !strings.Contains(string(got.Body), `"percentage":8.875`) {
			t.Fatalf("get: %s", got.Body)
		}
		if d := catEventData(t, env, "tax.created"); d["object"] != "tax_rate" || d["tax_type"] != "GST" { // the last rate created
			t.Fatalf("tax.created data %v", d)
		}

		// PATCH: tax_type required; display_name that was the type's label follows the type.
		upd := env.Patch("/v1/taxRates/"+id, map[string]any{"tax_type": "VAT", "description": "changed"}).Want(t, 200).Map(t)
		if upd["tax_type"] != "VAT" || upd["display_name"] != "VAT" || upd["description"] != "changed" || upd["percentage"].(float64) != 8.875 {
			t.Fatalf("patch %v", upd)
		}
		upd = env.Patch("/v1/taxRates/"+id, map[string]any{"tax_type": "Custom", "display_name": "Special", "active": false}).Want(t, 200).Map(t)
		if upd["tax_type"] != "Custom" || upd["display_name"] != "Special" || upd["active"] != false {
			t.Fatalf("patch custom %v", upd)
		}
		if d := catEventData(t, env, "tax.updated"); d["display_name"] != "Special" || d["active"] != false || d["percentage"].(float64) != 8.875 {
			t.Fatalf("tax.updated data %v", d)
		}
		start := len(catEvents(t, env, env.AccountID))
		for field, v := range map[string]any{"percentage": 9, "inclusive": true, "country": "CA"} {
			res := env.Patch("/v1/taxRates/"+id, map[string]any{"tax_type": "VAT", field: v}).Want(t, 400)
			if m := res.Map(t); m["error"] != "TAX_RATE_IMMUTABLE" || !strings.HasPrefix(m["message"].(string), field+" cannot change") ||
				!strings.Contains(m["message"].(string), "create a new tax rate") {
				t.Errorf("%s: %s", field, res.Body)
			}
		}
		for body, want := range map[string]string{
			`{"description":"x"}`:              "tax_type should not be empty",
			`{"tax_type":"Custom"}`:            "display_name should not be empty when tax_type is Custom",
			`{"tax_type":"Levy"}`:              "tax_type must be one of the following values",
			`{"tax_type":"VAT","active":"no"}`: "active must be a boolean value",
			`{"tax_type":"VAT","rate":1}`:      "property rate should not exist",
		} {
			if msg := env.Patch("/v1/taxRates/"+id, body).Want(t, 400).Message(t); !strings.Contains(msg, want) {
				t.Errorf("PATCH %s: %q, want %q", body, msg, want)
			}
		}
		if n := len(catEvents(t, env, env.AccountID)); n != start {
			t.Fatalf("refused patches wrote events: %d, want %d", n, start)
		}
		if got := env.Get("/v1/taxRates/"+id).Want(t, 200).Map(t); got["percentage"].(float64) != 8.875 || got["country"] != "US" || got["inclusive"] != false {
			t.Fatalf("rate changed: %v", got)
		}
		env.Get("/v1/taxRates/txr_unknown").Want(t, 404)
		env.Patch("/v1/taxRates/txr_unknown", map[string]any{"tax_type": "VAT"}).Want(t, 404)

		// Lists: newest first, filters.
		if p := catList(t, env, "/v1/taxRates", ""); p.Meta.ItemsTotal != 7 || p.Data[6]["id"] != id {
			t.Fatalf("list: %+v", p.Meta)
		}
		if n := catList(t, env, "/v1/taxRates", `{"inclusive":true}`).Meta.ItemsTotal; n != 5 {
			t.Fatalf("inclusive filter: %d", n)
		}
		if n := catList(t, env, "/v1/taxRates", `{"active":false}`).Meta.ItemsTotal; n != 2 {
			t.Fatalf("active filter: %d", n)
		}
		if n := catList(t, env, "/v1/taxRates?take=3&page=3", `{"created[gte]":0}`); n.Meta.PagesTotal != 3 || len(n.Data) != 1 {
			t.Fatalf("paging: %+v", n.Meta)
		}
	})
}

func TestTaxRateBadInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		base := `"tax_type":"Sales tax","country":"US","inclusive":false`
		cases := []struct {
			body, want string
		}{
			{`{` + base + `,"percentage":-1}`, "percentage must not be negative"},
			{`{` + base + `,"percentage":100.01}`, "percentage must not be greater than 100"},
			{`{` + base + `,"percentage":1.23456}`, "percentage must not have more than 4 decimal places"},
			{`{` + base + `,"percentage":"7.25"}`, "percentage must be a number"},
			{`{` + base + `,"percentage":true}`, "percentage must be a number"},
			{`{` + base + `}`, "percentage should not be empty"},
			{`{` + base + `,"percentage":null}`, "percentage should not be empty"},
			{`{"tax_type":"Custom","country":"US","inclusive":false,"percentage":5}`, "display_name should not be empty when tax_type is Custom"},
			{`{"tax_type":"Custom","display_name":" ","country":"US","inclusive":false,"percentage":5}`, "display_name should not be empty"},
			{`{"tax_type":"Excise","country":"US","inclusive":false,"percentage":5}`, "tax_type must be one of the following values: Sales tax, VAT, GST, Custom"},
			{`{"country":"US","inclusive":false,"percentage":5}`, "tax_type should not be empty"},
			{`{"tax_type":"VAT","country":"XX","inclusive":false,"percentage":5}`, "country must be an ISO 3166-1 alpha-2 country code"},
			{`{"tax_type":"VAT","country":"USA","inclusive":false,"percentage":5}`, "country must be an ISO 3166-1 alpha-2 country code"},
			{`{"tax_type":"VAT","country":"UK","inclusive":false,"percentage":5}`, "country must be an ISO 3166-1 alpha-2 country code"},
			{`{"tax_type":"VAT","inclusive":false,"percentage":5}`, "country should not be empty"},
			{`{"tax_type":"VAT","country":"FR","percentage":5}`, "inclusive should not be empty"},
			{`{"tax_type":"VAT","country":"FR","percentage":5,"inclusive":"yes"}`, "inclusive must be a boolean value"},
			{`{"tax_type":"VAT","country":"FR","percentage":5,"inclusive":true,"jurisdiction":"x"}`, "property jurisdiction should not exist"},
			{`{"tax_type":1,"country":"FR","percentage":5,"inclusive":true}`, "tax_type must be a string"},
		}
		for _, tc := range cases {
			if msg := env.Post("/v1/taxRates", tc.body).Want(t, 400).Message(t); !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %q, want %q", tc.body, msg, tc.want)
			}
		}
		if n := catList(t, env, "/v1/taxRates", "").Meta.ItemsTotal; n != 0 {
			t.Fatalf("tax rates after bad input: %d", n)
		}
		if n := len(catEvents(t, env, env.AccountID)); n != 0 {
			t.Fatalf("events after bad input: %d", n)
		}
	})
}

func TestCatalogCrossAccount(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		prod := env.Post("/v1/products", monthly("Shared name")).Want(t, 201).Map(t)
		pid, price := prod["id"].(string), prod["default_price"].(string)
		rate := env.Post("/v1/taxRates", map[string]any{"tax_type": "VAT", "country": "FR", "percentage": 20, "inclusive": true}).Want(t, 201).Map(t)["id"].(string)
		accountB, keyB := env.NewAccount("B")
		as := func(method, path string, body any) *apitest.Response {
			return env.Do(apitest.Request{Method: method, Path: path, Key: keyB, Body: body})
		}
		as("GET", "/v1/products/"+pid, nil).Want(t, 404)
		as("PATCH", "/v1/products/"+pid, map[string]any{"name": "stolen"}).Want(t, 404)
		as("DELETE", "/v1/products/"+pid, nil).Want(t, 404)
		as("POST", "/v1/products/"+pid+"/deactivate", nil).Want(t, 404)
		as("POST", "/v1/prices/"+pid, oneTime("USD", 1)).Want(t, 404)
		as("GET", "/v1/prices/"+price, nil).Want(t, 404)
		as("DELETE", "/v1/prices/"+price, nil).Want(t, 404)
		as("PATCH", "/v1/prices/"+price+"/active", map[string]any{"description": "x"}).Want(t, 404)
		as("PATCH", "/v1/prices/"+price+"/inactive", oneTime("USD", 1)).Want(t, 404)
		as("POST", "/v1/prices/"+price+"/deactivate", nil).Want(t, 404)
		as("GET", "/v1/taxRates/"+rate, nil).Want(t, 404)
		as("PATCH", "/v1/taxRates/"+rate, map[string]any{"tax_type": "GST"}).Want(t, 404)
		for _, path := range []string{"/v1/products", "/v1/prices", "/v1/taxRates", "/v1/products?search=" + url.QueryEscape(`{"ids":"`+pid+`"}`)} {
			var p catPage
			as("GET", path, nil).Want(t, 200).JSON(t, &p)
			if len(p.Data) != 0 || p.Meta.ItemsTotal != 0 {
				t.Errorf("B sees A's objects at %s: %v", path, p.Data)
			}
		}
		// Names are unique per account only.
		as("POST", "/v1/products", monthly("SHARED NAME")).Want(t, 201)
		// A's objects are untouched and B's refused calls wrote nothing for A.
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["name"] != "Shared name" || got["active"] != true {
			t.Fatalf("A's product changed: %v", got)
		}
		env.Get("/v1/prices/"+price).Want(t, 200)
		if got := env.Get("/v1/taxRates/"+rate).Want(t, 200).Map(t); got["tax_type"] != "VAT" {
			t.Fatalf("A's rate changed: %v", got)
		}
		if n := len(catEvents(t, env, accountB)); n != 2 { // B's product.created + price.created
			t.Fatalf("B's events: %d", n)
		}
		if n := len(catEvents(t, env, env.AccountID)); n != 3 {
			t.Fatalf("A's events: %d", n)
		}
	})
}

func TestCatalogConcurrentNames(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		const n = 10
		var wg sync.WaitGroup
		statuses := make(chan int, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := "Race"
				if i%2 == 1 {
					name = "RACE"
				}
				statuses <- env.Post("/v1/products", monthly(name)).Status
			}(i)
		}
		wg.Wait()
		close(statuses)
		created := 0
		for s := range statuses {
			switch s {
			case 201:
				created++
			case 400:
			default:
				t.Errorf("status %d", s)
			}
		}
		if created != 1 {
			t.Fatalf("%d products created with one name", created)
		}
		if got := strings.Join(catEventTypes(t, env), ","); got != "product.created,price.created" {
			t.Fatalf("events: %s", got)
		}
	})
}

func TestCatalogConcurrentDeletes(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		for round := 0; round < 3; round++ {
			prod := env.Post("/v1/products", monthly(fmt.Sprintf("Doomed %d", round))).Want(t, 201).Map(t)
			pid := prod["id"].(string)
			prices := []string{prod["default_price"].(string)}
			for i := 0; i < 3; i++ {
				prices = append(prices, env.Post("/v1/prices/"+pid, oneTime("USD", int64(i))).Want(t, 201).Map(t)["id"].(string))
			}
			var wg sync.WaitGroup
			statuses := make(chan string, 10)
			run := func(method, path string, body any) {
				defer wg.Done()
				res := env.Do(apitest.Request{Method: method, Path: path, Body: body})
				if res.Status >= 500 {
					statuses <- fmt.Sprintf("%s %s: %d %s", method, path, res.Status, res.Body)
				}
			}
			wg.Add(2 + len(prices))
			go run("DELETE", "/v1/products/"+pid, nil)
			go run("POST", "/v1/prices/"+pid, oneTime("USD", 9))
			for _, id := range prices {
				go run("DELETE", "/v1/prices/"+id, nil)
			}
			wg.Wait()
			close(statuses)
			for s := range statuses {
				t.Error(s)
			}
			env.Get("/v1/products/"+pid).Want(t, 404)
		}
		// Every price was deleted exactly once.
		seen := map[string]int{}
		for _, e := range catEvents(t, env, env.AccountID) {
			if e.Type == "price.deleted" {
				var v struct {
					Data struct{ ID string } `json:"data"`
				}
				if err := json.Unmarshal(e.Payload, &v); err != nil {
					t.Fatal(err)
				}
				seen[v.Data.ID]++
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s deleted %d times", id, n)
			}
		}
		if n := catList(t, env, "/v1/prices", "").Meta.ItemsTotal; n != 0 {
			t.Errorf("%d prices left", n)
		}
	})
}

// Type errors in a product body name the JSON field, never the Go path of
// the embedded price fields ("PriceParams.unit_amount").
func TestProductTypeErrorsNameJSONFields(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		for _, tc := range []struct{ body, want string }{
			{`{"name":"A","currency":"USD","unit_amount":"100","type":"one_time"}`, "unit_amount must be an integer number"},
			{`{"name":"A","currency":"USD","unit_amount":10.5,"type":"one_time"}`, "unit_amount must be an integer number"},
			{`{"name":"A","currency":5,"unit_amount":100,"type":"one_time"}`, "currency must be a string"},
			{`{"name":"A","currency":"USD","unit_amount":100,"type":true}`, "type must be a string"},
			{`{"name":"A","currency":"USD","unit_amount":100,"type":"recurring","recurring":"monthly"}`, "recurring must be an object"},
			{`{"name":"A","currency":"USD","unit_amount":100,"type":"recurring","recurring":{"interval":"day","interval_count":"2"}}`, "recurring.interval_count must be an integer number"},
			{`{"name":"A","currency":"USD","unit_amount":100,"type":"one_time","tax_behavior":1}`, "tax_behavior must be a string"},
			{`{"name":"A","currency":"USD","unit_amount":100,"type":"one_time","description":[]}`, "description must be a string"},
		} {
			msg := env.Post("/v1/products", tc.body).Want(t, 400).Message(t)
			if !strings.HasPrefix(msg, tc.want) {
				t.Errorf("%s: message %q, want it to start with %q", tc.body, msg, tc.want)
			}
		}
		if n := catList(t, env, "/v1/products", "").Meta.ItemsTotal; n != 0 {
			t.Fatalf("products after bad input: %d", n)
		}
	})
}

// A PATCH that changes nothing answers the object as it is: it neither
// moves `updated` nor announces an update that did not happen.
func TestCatalogUnchangedUpdatesAnnounceNothing(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		body := monthly("Same")
		body["description"] = "Kept"
		prod := env.Post("/v1/products", body).Want(t, 201).Map(t)
		pid, priceID := prod["id"].(string), prod["default_price"].(string)
		other := oneTime("USD", 700)
		other["description"] = "Spare"
		spare := env.Post("/v1/prices/"+pid, other).Want(t, 201).Map(t)["id"].(string)
		env.Post("/v1/prices/"+spare+"/deactivate", nil).Want(t, 200)
		rate := env.Post("/v1/taxRates", map[string]any{"tax_type": "VAT", "country": "US", "percentage": 5, "inclusive": false,
			"description": "Flat"}).Want(t, 201).Map(t)["id"].(string)
		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 3600}).Want(t, 200)
		start := len(catEvents(t, env, env.AccountID))

		for _, patch := range []map[string]any{{}, {"name": "Same"}, {"name": " Same ", "description": "Kept", "tax_code": "txcd_00000000"}} {
			got := env.Patch("/v1/products/"+pid, patch).Want(t, 200).Map(t)
			if got["updated"] != prod["updated"] || got["name"] != "Same" || got["description"] != "Kept" {
				t.Errorf("PATCH %v: %v", patch, got)
			}
		}
		for _, patch := range []map[string]any{{}, {"description": "Kept"}} {
			if got := env.Patch("/v1/prices/"+priceID+"/active", patch).Want(t, 200).Map(t); got["description"] != "Kept" {
				t.Errorf("PATCH active %v: %v", patch, got)
			}
		}
		env.Patch("/v1/prices/"+spare+"/inactive", oneTime("usd", 700)).Want(t, 200)
		env.Patch("/v1/taxRates/"+rate, map[string]any{"tax_type": "VAT"}).Want(t, 200)
		env.Patch("/v1/taxRates/"+rate, map[string]any{"tax_type": "VAT", "description": "Flat", "active": true}).Want(t, 200)
		if got := catEventTypes(t, env)[start:]; len(got) != 0 {
			t.Fatalf("unchanged updates announced %v", got)
		}
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["updated"] != prod["updated"] {
			t.Fatalf("updated moved: %v → %v", prod["updated"], got["updated"])
		}

		// A real change is still recorded, with the new time.
		got := env.Patch("/v1/products/"+pid, map[string]any{"name": "SAME"}).Want(t, 200).Map(t)
		// At least the hour advanced; the wall clock may also have ticked.
		if got["updated"].(float64) < prod["updated"].(float64)+3600 {
			t.Fatalf("rename: %v", got)
		}
		env.Patch("/v1/prices/"+priceID+"/active", map[string]any{"description": "New"}).Want(t, 200)
		env.Patch("/v1/prices/"+spare+"/inactive", oneTime("usd", 701)).Want(t, 200)
		env.Patch("/v1/taxRates/"+rate, map[string]any{"tax_type": "GST"}).Want(t, 200)
		if got := strings.Join(catEventTypes(t, env)[start:], ","); got != "product.updated,price.updated,price.updated,tax.updated" {
			t.Fatalf("events of real changes: %s", got)
		}
	})
}

// In a partial update, null clears a nullable field (description), or puts
// back the default (tax_code); absent leaves it alone.
func TestCatalogNullClearsOnUpdate(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		body := monthly("Nullable")
		body["description"] = "Old"
		body["tax_code"] = "txcd_10000000"
		prod := env.Post("/v1/products", body).Want(t, 201).Map(t)
		pid, priceID := prod["id"].(string), prod["default_price"].(string)

		got := env.Patch("/v1/products/"+pid, `{"name":"Nullable 2"}`).Want(t, 200).Map(t)
		if got["description"] != "Old" || got["tax_code"] != "txcd_10000000" {
			t.Fatalf("absent fields changed: %v", got)
		}
		got = env.Patch("/v1/products/"+pid, `{"description":null,"tax_code":null}`).Want(t, 200).Map(t)
		if got["description"] != nil || got["tax_code"] != "txcd_00000000" {
			t.Fatalf("null did not clear: %v", got)
		}
		if d := catEventData(t, env, "product.updated"); d["description"] != nil || d["tax_code"] != "txcd_00000000" {
			t.Fatalf("product.updated data %v", d)
		}
		env.Patch("/v1/products/"+pid, `{"description":"Back"}`).Want(t, 200)
		if got := env.Patch("/v1/products/"+pid, `{"description":""}`).Want(t, 200).Map(t); got["description"] != nil {
			t.Fatalf("empty description: %v", got)
		}
		for body, want := range map[string]string{
			`{"description":5}`:       "description must be a string",
			`{"tax_code":false}`:      "tax_code must be a string",
			`{"tax_code":""}`:         "tax_code must be one of the product tax codes",
			`{"description":{"a":1}}`: "description must be a string",
		} {
			if msg := env.Patch("/v1/products/"+pid, body).Want(t, 400).Message(t); !strings.HasPrefix(msg, want) {
				t.Errorf("PATCH %s: %q, want %q", body, msg, want)
			}
		}

		env.Patch("/v1/prices/"+priceID+"/active", `{"description":"Priced"}`).Want(t, 200)
		if got := env.Patch("/v1/prices/"+priceID+"/active", `{"description":null}`).Want(t, 200).Map(t); got["description"] != nil {
			t.Fatalf("price description not cleared: %v", got)
		}
		if msg := env.Patch("/v1/prices/"+priceID+"/active", `{"description":1}`).Want(t, 400).Message(t); !strings.HasPrefix(msg, "description must be a string") {
			t.Fatalf("price description type: %q", msg)
		}

		rate := env.Post("/v1/taxRates", map[string]any{"tax_type": "VAT", "country": "US", "percentage": 5, "inclusive": false,
			"description": "Flat"}).Want(t, 201).Map(t)["id"].(string)
		if got := env.Patch("/v1/taxRates/"+rate, `{"tax_type":"VAT"}`).Want(t, 200).Map(t); got["description"] != "Flat" {
			t.Fatalf("absent rate description changed: %v", got)
		}
		if got := env.Patch("/v1/taxRates/"+rate, `{"tax_type":"VAT","description":null}`).Want(t, 200).Map(t); got["description"] != nil {
			t.Fatalf("rate description not cleared: %v", got)
		}
		if msg := env.Patch("/v1/taxRates/"+rate, `{"tax_type":"VAT","description":7}`).Want(t, 400).Message(t); !strings.HasPrefix(msg, "description must be a string") {
			t.Fatalf("rate description type: %q", msg)
		}
	})
}

// The percentage is taken digit for digit: a value the decimal type would
// have to round is refused, never silently changed.
func TestTaxRateExactPercentages(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		base := `{"tax_type":"Sales tax","country":"US","inclusive":false,"percentage":`
		for in, want := range map[string]string{
			"1e1": "10", "0.00725e3": "7.25", "725E-2": "7.25", "12.50e-1": "1.25", "8.87500": "8.875", "0e5": "0",
			"-0.0": "0", "100.0000": "100", "1E+2": "100", "0.0001": "0.0001", "0.50": "0.5",
		} {
			res := env.Post("/v1/taxRates", base+in+`}`).Want(t, 201)
			if !strings.Contains(string(res.Body), `"percentage":`+want+`,`) {
				t.Errorf("%s: %s, want percentage %s", in, res.Body, want)
			}
		}
		for in, want := range map[string]string{
			"7.250000000000000000000001":  "percentage must not have more than 4 decimal places",
			"100.00000000000000000000001": "percentage must not have more than 4 decimal places",
			"99.99999999999999999999":     "percentage must not have more than 4 decimal places",
			"1e-5":                        "percentage must not have more than 4 decimal places",
			"1e-400":                      "percentage must not have more than 4 decimal places",
			"1e400":                       "percentage must not be greater than 100",
			"1e999999999999999999999":     "percentage must be a number from 0 to 100",
			"1000":                        "percentage must not be greater than 100",
			"100.0001":                    "percentage must not be greater than 100",
			"-0.5":                        "percentage must not be negative",
			"-1e-9":                       "percentage must not be negative",
		} {
			if msg := env.Post("/v1/taxRates", base+in+`}`).Want(t, 400).Message(t); !strings.Contains(msg, want) {
				t.Errorf("%s: %q, want %q", in, msg, want)
			}
		}
		if n := catList(t, env, "/v1/taxRates", "").Meta.ItemsTotal; n != 11 {
			t.Fatalf("%d rates, want the 11 accepted ones", n)
		}
	})
}

// A list-valued search key is bounded, so a long list is a 400, not a
// database error.
func TestCatalogSearchListsBounded(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		pid := env.Post("/v1/products", monthly("Listed")).Want(t, 201).Map(t)["id"].(string)
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = fmt.Sprintf("prod_x%d", i)
		}
		ids[99] = pid
		if got := catIDs(catList(t, env, "/v1/products", `{"ids":"`+strings.Join(ids, ",")+`"}`)); len(got) != 1 || got[0] != pid {
			t.Fatalf("100 ids: %v", got)
		}
		long := strings.Repeat("a,", 70_000) + "a"
		for _, c := range []struct{ path, key string }{
			{"/v1/products", "ids"}, {"/v1/products", "tax_code"},
			{"/v1/prices", "product"}, {"/v1/prices", "currency"}, {"/v1/prices", "type"},
		} {
			for _, v := range []string{strings.Join(append(ids, "prod_extra"), ","), long} {
				search, _ := json.Marshal(map[string]string{c.key: v})
				msg := env.Get(c.path+"?search="+url.QueryEscape(string(search))).Want(t, 400).Message(t)
				if !strings.Contains(msg, "search."+c.key+" must not list more than 100 values") {
					t.Errorf("%s %s: %q", c.path, c.key, msg)
				}
			}
		}
	})
}
