package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/event"
)

func countEvents(t *testing.T, env *apitest.Env, accountID, typ string) int {
	t.Helper()
	evs, err := event.List(context.Background(), env.App.DB.Read(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if typ == "" || e.Type == typ {
			n++
		}
	}
	return n
}

func customerCount(t *testing.T, env *apitest.Env) int {
	t.Helper()
	var page struct {
		Meta struct{ ItemsTotal int } `json:"meta"`
	}
	env.Get("/v1/customers").Want(t, 200).JSON(t, &page)
	return page.Meta.ItemsTotal
}

func TestCustomerLifecycle(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		body := map[string]any{
			"name": "John Doe", "email": "john@example.com", "description": "first", "phone": "+1 555",
			"currency": "eur",
			"address":  []any{map[string]any{"line1": "1 Main St", "city": "Springfield", "country": "US", "postal_code": "12345", "state": "IL"}},
			"shipping": map[string]any{"name": "John", "phone": "+1 555", "address": map[string]any{"line1": "2 Dock Rd", "city": "Shelbyville"}},
		}
		c := env.Post("/v1/customers", body).Want(t, http.StatusCreated).Map(t)
		id := c["id"].(string)
		if !strings.HasPrefix(id, "cus_") || len(id) != 28 {
			t.Fatalf("id %q", id)
		}
		if c["object"] != "customer" || c["currency"] != "EUR" || c["email"] != "john@example.com" || c["livemode"] != false {
			t.Fatalf("created %v", c)
		}
		// Served at the root as well as under /v1.
		got := env.Get("/customers/"+id).Want(t, 200).Map(t)
		if got["name"] != "John Doe" || got["shipping"].(map[string]any)["address"].(map[string]any)["city"] != "Shelbyville" {
			t.Fatalf("got %v", got)
		}

		// PATCH with the contract's camelCase blocks.
		res := env.Patch("/v1/customers/"+id, map[string]any{
			"name":            "Jane Doe",
			"billingAddress":  map[string]any{"address1": "9 Elm St", "postalCode": "99999", "email": "billing@example.com", "phone": "+1 999"},
			"shippingAddress": map[string]any{"shippingCity": "Capital City"},
		}).Want(t, 200)
		if strings.TrimSpace(string(res.Body)) != "1" {
			t.Fatalf("PATCH answered %s, want 1", res.Body)
		}
		got = env.Get("/v1/customers/"+id).Want(t, 200).Map(t)
		addr := got["address"].([]any)[0].(map[string]any)
		if got["name"] != "Jane Doe" || addr["line1"] != "9 Elm St" || addr["postal_code"] != "99999" || addr["city"] != "Springfield" ||
			got["billing_email"] != "billing@example.com" || got["phone"] != "+1 999" ||
			got["shipping"].(map[string]any)["address"].(map[string]any)["city"] != "Capital City" {
			t.Fatalf("after patch %v", got)
		}
		// PATCH with create-style fields too.
		env.Patch("/v1/customers/"+id, map[string]any{"description": "vip", "address": []any{}}).Want(t, 200)
		got = env.Get("/v1/customers/"+id).Want(t, 200).Map(t)
		if got["description"] != "vip" || len(got["address"].([]any)) != 0 {
			t.Fatalf("after second patch %v", got)
		}

		res = env.Delete("/v1/customers/"+id).Want(t, 200)
		if strings.TrimSpace(string(res.Body)) != "1" {
			t.Fatalf("DELETE answered %s", res.Body)
		}
		env.Get("/v1/customers/"+id).Want(t, 404)
		env.Delete("/v1/customers/"+id).Want(t, 404)
		env.Patch("/v1/customers/"+id, map[string]any{"name": "x"}).Want(t, 404)

		for typ, want := range map[string]int{"customer.created": 1, "customer.updated": 2, "customer.deleted": 1} {
			if n := countEvents(t, env, env.AccountID, typ); n != want {
				t.Errorf("%s events: %d, want %d", typ, n, want)
			}
		}
	})
}

func TestCustomerBadInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		cases := []struct {
			name string
			body any
			want string
		}{
			{"missing name", `{"email":"a@example.com"}`, "name should not be empty"},
			{"blank name", `{"name":"   "}`, "name should not be empty"},
			{"name not a string", `{"name":123}`, "name must be a string"},
			{"unknown field", `{"name":"A","colour":"red"}`, "property colour should not exist"},
			{"malformed JSON", `{"name":"A",`, "malformed JSON"},
			{"not an object", `["A"]`, "request body must be a JSON object"},
			{"empty body", ``, "request body must be a JSON object"},
			{"bad email", `{"name":"A","email":"nope"}`, "email must be an email"},
			{"bad currency", `{"name":"A","currency":"XYZ"}`, "currency must be an ISO 4217 currency code"},
			{"address not an array", `{"name":"A","address":{"city":"x"}}`, "address must be an array"},
			{"address field type", `{"name":"A","address":[{"city":5}]}`, "address[0].city must be a string"},
			{"shipping without phone", `{"name":"A","shipping":{"name":"A","address":{}}}`, "shipping.phone should not be empty"},
			{"oversize body", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, "request body must not be larger than"},
			{"name too long", `{"name":"` + strings.Repeat("a", 101) + `"}`, "name must be shorter than or equal to 100 characters"},
		}
		for _, tc := range cases {
			res := env.Post("/v1/customers", tc.body).Want(t, http.StatusBadRequest)
			m := res.Map(t)
			if !strings.Contains(m["message"].(string), tc.want) {
				t.Errorf("%s: message %q, want it to contain %q", tc.name, m["message"], tc.want)
			}
			if m["statusCode"].(float64) != 400 || m["path"] != "/v1/customers" || m["timestamp"] == "" {
				t.Errorf("%s: error body %v", tc.name, m)
			}
		}
		// PATCH validates too.
		res := env.Post("/v1/customers", map[string]any{"name": "A"}).Want(t, 201).Map(t)
		id := res["id"].(string)
		for body, want := range map[string]string{
			`{"billingAddress":{"postalCode":"12345678901234567"}}`: "billingAddress.postalCode must be shorter than or equal to 16",
			`{"email":"x"}`:                 "email must be an email",
			`{"name":""}`:                   "name should not be empty",
			`{"shippingAddress":{"x":1}}`:   "property x should not exist",
			`{"billingAddress":"street 1"}`: "billingAddress must be an object",
		} {
			msg := env.Patch("/v1/customers/"+id, body).Want(t, 400).Message(t)
			if !strings.Contains(msg, want) {
				t.Errorf("PATCH %s: message %q, want %q", body, msg, want)
			}
		}
		// Nothing was written by any refused request.
		if n := customerCount(t, env); n != 1 {
			t.Fatalf("customers after bad input: %d, want 1", n)
		}
		if n := countEvents(t, env, env.AccountID, ""); n != 1 {
			t.Fatalf("events after bad input: %d, want 1", n)
		}
	})
}

func TestAuthentication(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		res := env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Key: "-"}).Want(t, 400)
		if !strings.Contains(res.Message(t), "Missing apiKey header") || res.Map(t)["error"] != "Bad Request" {
			t.Fatalf("missing key: %s", res.Body)
		}
		env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Key: "sk_test_short"}).Want(t, 400)
		env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Headers: map[string]string{"Authorization": "Bearer " + env.Key}, Key: "-"}).Want(t, 400)
		res = env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Key: "sk_test_" + strings.Repeat("A", 32)}).Want(t, 401)
		if res.Message(t) != "Invalid API key" || res.Map(t)["error"] != "Unauthorized" {
			t.Fatalf("unknown key: %s", res.Body)
		}
		// A revoked key stops working.
		ctx := context.Background()
		k, secret, err := env.App.Accounts.CreateKey(ctx, env.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Key: secret}).Want(t, 200)
		if err := env.App.Accounts.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Key: secret}).Want(t, 401)
	})
}

func TestCrossAccountIsolation(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		id := env.Post("/v1/customers", map[string]any{"name": "Alice of A"}).Want(t, 201).Map(t)["id"].(string)
		_, keyB := env.NewAccount("B")
		as := func(method, path string, body any) *apitest.Response {
			return env.Do(apitest.Request{Method: method, Path: path, Key: keyB, Body: body})
		}
		as("GET", "/v1/customers/"+id, nil).Want(t, 404)
		as("PATCH", "/v1/customers/"+id, map[string]any{"name": "stolen"}).Want(t, 404)
		as("DELETE", "/v1/customers/"+id, nil).Want(t, 404)
		as("GET", "/v1/customers/"+id+"/payment-methods", nil).Want(t, 404)
		var page struct {
			Data []map[string]any `json:"data"`
		}
		as("GET", "/v1/customers", nil).Want(t, 200).JSON(t, &page)
		if len(page.Data) != 0 {
			t.Fatalf("B sees A's customers: %v", page.Data)
		}
		var found []map[string]any
		as("GET", "/v1/customers/search?search=Alice", nil).Want(t, 200).JSON(t, &found)
		if len(found) != 0 {
			t.Fatalf("B's search finds A's customers: %v", found)
		}
		// A's customer is untouched.
		if got := env.Get("/v1/customers/"+id).Want(t, 200).Map(t); got["name"] != "Alice of A" {
			t.Fatalf("A's customer changed: %v", got)
		}
	})
}

func TestCustomerListPaginationAndSearch(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		names := []string{"Charlie", "alice", "Bob", "Dave", "Eve"}
		for i, n := range names {
			env.Post("/v1/customers", map[string]any{"name": n, "email": fmt.Sprintf("%s%d@example.com", strings.ToLower(n), i)}).Want(t, 201)
		}
		type page struct {
			Data []map[string]any `json:"data"`
			Meta struct {
				Page, Take, ItemsTotal, PagesTotal int
			} `json:"meta"`
		}
		var p page
		env.Get("/v1/customers?take=2&page=2").Want(t, 200).JSON(t, &p)
		if len(p.Data) != 2 || p.Meta.Page != 2 || p.Meta.Take != 2 || p.Meta.ItemsTotal != 5 || p.Meta.PagesTotal != 3 {
			t.Fatalf("page 2: %+v", p)
		}
		if p.Data[0]["name"] != "Bob" { // created order, ascending by default
			t.Fatalf("page 2 starts with %v", p.Data[0]["name"])
		}
		env.Get("/v1/customers?take=2&page=9").Want(t, 200).JSON(t, &p)
		if len(p.Data) != 0 || p.Meta.ItemsTotal != 5 || p.Meta.PagesTotal != 3 {
			t.Fatalf("page past the end: %+v", p)
		}
		for q, want := range map[string]string{
			"take=0": "take must not be less than 1", "take=51": "take must not be greater than 50",
			"page=0": "page must not be less than 1", "take=abc": "take must be an integer number",
			"order=UP": "order must be one of", "sortingField=phone": "sortingField must be one of",
			"search=%7Bbad": "search must be a JSON object",
		} {
			if msg := env.Get("/v1/customers?"+q).Want(t, 400).Message(t); !strings.Contains(msg, want) {
				t.Errorf("%s: %q, want %q", q, msg, want)
			}
		}
		env.Get("/v1/customers?sortingField=name&order=DESC").Want(t, 200).JSON(t, &p)
		if p.Data[0]["name"] != "Eve" || p.Data[4]["name"] != "alice" {
			t.Fatalf("name DESC: %v … %v", p.Data[0]["name"], p.Data[4]["name"])
		}
		env.Get("/v1/customers?search="+urlQuery(`{"name":"ALI"}`)).Want(t, 200).JSON(t, &p)
		if p.Meta.ItemsTotal != 1 || p.Data[0]["name"] != "alice" {
			t.Fatalf("JSON search: %+v", p)
		}
		env.Get("/v1/customers?search=bob").Want(t, 200).JSON(t, &p)
		if p.Meta.ItemsTotal != 1 {
			t.Fatalf("text search: %+v", p)
		}
		var found []map[string]any
		env.Get("/v1/customers/search?search=LI").Want(t, 200).JSON(t, &found)
		if len(found) != 2 { // Charlie and alice
			t.Fatalf("quick search: %v", found)
		}
		env.Get("/v1/customers/search?search=nobody").Want(t, 200).JSON(t, &found)
		if len(found) != 0 {
			t.Fatalf("quick search for nobody: %v", found)
		}
	})
}

// Searches fold non-ASCII letters the same way on both engines (issue #9,
// item 18): SQLite's own LOWER knows only ASCII.
func TestCustomerSearchFoldsUnicode(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		env.Post("/v1/customers", map[string]any{"name": "ÖLÇÜx", "email": "ÉLODIE@example.com"}).Want(t, 201)
		env.Post("/v1/customers", map[string]any{"name": "Other"}).Want(t, 201)
		var p struct {
			Data []map[string]any `json:"data"`
			Meta struct {
				ItemsTotal int `json:"itemsTotal"`
			} `json:"meta"`
		}
		for _, q := range []string{`{"name":"ölçüx"}`, `{"name":"ÖLÇÜ"}`, `{"email":"élodie@"}`} {
			env.Get("/v1/customers?search="+urlQuery(q)).Want(t, 200).JSON(t, &p)
			if p.Meta.ItemsTotal != 1 || p.Data[0]["name"] != "ÖLÇÜx" {
				t.Errorf("search %s: %+v", q, p)
			}
		}
		var found []map[string]any
		env.Get("/v1/customers/search?search="+urlQuery("çü")).Want(t, 200).JSON(t, &found)
		if len(found) != 1 {
			t.Errorf("quick search çü: %v", found)
		}
	})
}

func TestConcurrentCreatesLoseNothing(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res := env.Post("/v1/customers", map[string]any{"name": fmt.Sprintf("c%d", i)})
				if res.Status != 201 {
					errs <- fmt.Sprintf("create %d: %d %s", i, res.Status, res.Body)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if got := customerCount(t, env); got != n {
			t.Fatalf("customers: %d, want %d", got, n)
		}
		if got := countEvents(t, env, env.AccountID, "customer.created"); got != n {
			t.Fatalf("events: %d, want %d", got, n)
		}
	})
}

func TestIdempotency(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		post := func(key string, body any) *apitest.Response {
			return env.Do(apitest.Request{Method: "POST", Path: "/v1/customers", Body: body, Headers: map[string]string{"Idempotency-Key": key}})
		}
		first := post("key-1", map[string]any{"name": "Once", "email": "once@example.com"}).Want(t, 201)
		// Same request, key order and spacing aside: replayed.
		again := post("key-1", `{ "email": "once@example.com", "name": "Once" }`).Want(t, 201)
		if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %s (%v), first %s", again.Body, again.Header, first.Body)
		}
		// Also through the root mount: same endpoint.
		env.Do(apitest.Request{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Once", "email": "once@example.com"},
			Headers: map[string]string{"Idempotency-Key": "key-1"}}).Want(t, 201)
		if res := post("key-1", map[string]any{"name": "Other"}).Want(t, 422); res.Map(t)["error"] != "IDEMPOTENCY_KEY_REUSED" {
			t.Fatalf("reuse: %s", res.Body)
		}
		if res := post("has space", map[string]any{"name": "x"}).Want(t, 400); res.Map(t)["error"] != "IDEMPOTENCY_KEY_INVALID" {
			t.Fatalf("invalid key: %s", res.Body)
		}
		post(strings.Repeat("k", 256), map[string]any{"name": "x"}).Want(t, 400)
		// A refused request does not burn the key.
		post("key-2", map[string]any{}).Want(t, 400)
		post("key-2", map[string]any{"name": "Fixed"}).Want(t, 201)
		// Keys are per account: B may use key-1 for its own request.
		_, keyB := env.NewAccount("B")
		env.Do(apitest.Request{Method: "POST", Path: "/v1/customers", Key: keyB, Body: map[string]any{"name": "B's"},
			Headers: map[string]string{"Idempotency-Key": "key-1"}}).Want(t, 201)
		if n := customerCount(t, env); n != 2 {
			t.Fatalf("customers: %d, want 2 (Once, Fixed)", n)
		}

		// 20 concurrent requests with one key create one customer.
		const n = 20
		var wg sync.WaitGroup
		statuses := make(chan *apitest.Response, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- post("burst", map[string]any{"name": "Burst"})
			}()
		}
		wg.Wait()
		close(statuses)
		var created string
		for res := range statuses {
			switch res.Status {
			case 201:
				id := res.Map(t)["id"].(string)
				if created != "" && id != created {
					t.Fatalf("two customers for one key: %s and %s", created, id)
				}
				created = id
			case 409:
				if res.Map(t)["error"] != "IDEMPOTENCY_KEY_IN_PROGRESS" {
					t.Fatalf("409 body %s", res.Body)
				}
			default:
				t.Fatalf("burst answered %d %s", res.Status, res.Body)
			}
		}
		if n := customerCount(t, env); n != 3 {
			t.Fatalf("customers after burst: %d, want 3", n)
		}
		if n := countEvents(t, env, env.AccountID, "customer.created"); n != 3 {
			t.Fatalf("customer.created events: %d, want 3", n)
		}
	})
}

func TestUnknownRoutesAndIDs(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		res := env.Get("/v1/customers/cus_doesnotexist").Want(t, 404)
		if m := res.Map(t); m["error"] != "Not Found" || !strings.Contains(m["message"].(string), "cus_doesnotexist") {
			t.Fatalf("unknown customer: %s", res.Body)
		}
		if res := env.Get("/v1/nothing-here").Want(t, 404); res.Map(t)["statusCode"].(float64) != 404 {
			t.Fatalf("unknown route: %s", res.Body)
		}
		env.Get("/v1/customers/cus_nope/payment-methods").Want(t, 404)
		env.Get("/v1/customers/cus_nope/payment-methods/pm_nope").Want(t, 404)
	})
}

func urlQuery(s string) string {
	r := strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", ":", "%3A", " ", "%20", ",", "%2C")
	return r.Replace(s)
}

// Field names are matched exactly (encoding/json alone would take "NAME"
// for name), unknown nested properties are named by their path, and a
// refused body writes nothing.
func TestCustomerFieldNamesAreExact(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		for body, want := range map[string]string{
			`{"NAME":"Shouty"}`:                                                        "property NAME should not exist",
			`{"name":"A","Email":"a@example.com"}`:                                     "property Email should not exist",
			`{"name":"A","address":[{"city":"X","zip":"1"}]}`:                          "address[0].property zip should not exist",
			`{"name":"A","shipping":{"name":"A","phone":"1","address":{"Line1":"x"}}}`: "shipping.address.property Line1 should not exist",
		} {
			msg := env.Post("/v1/customers", body).Want(t, 400).Message(t)
			if msg != want {
				t.Errorf("POST %s: message %q, want %q", body, msg, want)
			}
		}
		id := env.Post("/v1/customers", map[string]any{"name": "Exact"}).Want(t, 201).Map(t)["id"].(string)
		for body, want := range map[string]string{
			`{"Name":"Renamed"}`:                       "property Name should not exist",
			`{"billingAddress":{"PostalCode":"1"}}`:    "billingAddress.property PostalCode should not exist",
			`{"shippingAddress":{"shippingcity":"x"}}`: "shippingAddress.property shippingcity should not exist",
		} {
			if msg := env.Patch("/v1/customers/"+id, body).Want(t, 400).Message(t); msg != want {
				t.Errorf("PATCH %s: message %q, want %q", body, msg, want)
			}
		}
		// DELETE takes no body: one with properties is refused, null or {} is not.
		if msg := env.Do(apitest.Request{Method: "DELETE", Path: "/v1/customers/" + id, Body: `{"force":true}`}).Want(t, 400).Message(t); msg != "property force should not exist" {
			t.Errorf("DELETE with a body: %q", msg)
		}
		if got := env.Get("/v1/customers/" + id).Map(t); got["name"] != "Exact" {
			t.Fatalf("a refused request changed the customer: %v", got)
		}
		if n := customerCount(t, env); n != 1 {
			t.Fatalf("customers: %d, want 1", n)
		}
		if n := countEvents(t, env, env.AccountID, ""); n != 1 {
			t.Fatalf("events: %d, want 1", n)
		}
		env.Do(apitest.Request{Method: "DELETE", Path: "/v1/customers/" + id, Body: "null"}).Want(t, 200)
	})
}

// Searching for % or _ finds those characters; they are not wildcards.
// A page too far out to compute an offset for is empty, not the first.
func TestCustomerSearchIsLiteralAndFarPagesAreEmpty(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		for _, n := range []string{"50% Off Ltd", "a_b Corp", "axb Corp", `Back\slash`, "Élise Öztürk"} {
			env.Post("/v1/customers", map[string]any{"name": n}).Want(t, 201)
		}
		var p struct {
			Data []map[string]any `json:"data"`
			Meta struct{ ItemsTotal int }
		}
		for search, want := range map[string]string{"%25": "50% Off Ltd", "a_b": "a_b Corp", "_": "a_b Corp", `%5C`: `Back\slash`,
			// Non-ASCII text as written finds itself on both engines.
			"%C3%89lise": "Élise Öztürk", "%C3%96zt%C3%BCrk": "Élise Öztürk"} {
			env.Get("/v1/customers?search="+search).Want(t, 200).JSON(t, &p)
			if p.Meta.ItemsTotal != 1 || p.Data[0]["name"] != want {
				t.Errorf("search %s: %+v, want only %q", search, p, want)
			}
			var found []map[string]any
			env.Get("/v1/customers/search?search="+search).Want(t, 200).JSON(t, &found)
			if len(found) != 1 || found[0]["name"] != want {
				t.Errorf("quick search %s: %v, want only %q", search, found, want)
			}
		}
		env.Get("/v1/customers?search=%7B%22name%22%3A%22%25%22%7D").Want(t, 200).JSON(t, &p)
		if p.Meta.ItemsTotal != 1 {
			t.Errorf("JSON name search for %%: %+v", p)
		}
		env.Get("/v1/customers?page=9223372036854775807").Want(t, 200).JSON(t, &p)
		if len(p.Data) != 0 || p.Meta.ItemsTotal != 5 {
			t.Fatalf("far page: %+v", p)
		}
	})
}

// Sorting by email puts customers without one in the same place on both
// engines: first ascending, last descending.
func TestCustomerSortByEmailAgreesAcrossEngines(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		env.Post("/v1/customers", map[string]any{"name": "With", "email": "b@example.com"}).Want(t, 201)
		env.Post("/v1/customers", map[string]any{"name": "Without"}).Want(t, 201)
		env.Post("/v1/customers", map[string]any{"name": "Also with", "email": "A@example.com"}).Want(t, 201)
		var p struct {
			Data []map[string]any `json:"data"`
		}
		env.Get("/v1/customers?sortingField=email").Want(t, 200).JSON(t, &p)
		if len(p.Data) != 3 || p.Data[0]["name"] != "Without" || p.Data[1]["name"] != "Also with" {
			t.Fatalf("email ASC: %v", p.Data)
		}
		env.Get("/v1/customers?sortingField=email&order=DESC").Want(t, 200).JSON(t, &p)
		if p.Data[0]["name"] != "With" || p.Data[2]["name"] != "Without" {
			t.Fatalf("email DESC: %v", p.Data)
		}
	})
}

// TestReadsNeverReturnReplacedCustomers: whatever caching sits behind GET,
// once an update has answered, every later read sees it, with readers
// hammering the same customer meanwhile.
func TestReadsNeverReturnReplacedCustomers(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		id := env.Post("/v1/customers", map[string]any{"name": "v0"}).Want(t, 201).Map(t)["id"].(string)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						env.Get("/v1/customers/" + id)
					}
				}
			}()
		}
		for i := 1; i <= 40; i++ {
			name := fmt.Sprintf("v%d", i)
			env.Patch("/v1/customers/"+id, map[string]any{"name": name}).Want(t, 200)
			if got := env.Get("/v1/customers/"+id).Want(t, 200).Map(t)["name"]; got != name {
				close(stop)
				wg.Wait()
				t.Fatalf("after updating to %s, GET answered %v", name, got)
			}
		}
		// The default payment method is written by the payment domain.
		env.Post("/v1/payment-methods/tok_visa/attach", map[string]any{"customerId": id}).Want(t, 200)
		if got := env.Get("/v1/customers/" + id).Map(t)["default_payment_method"]; got == nil {
			t.Error("GET after attach lacks the default payment method")
		}
		env.Delete("/v1/customers/"+id).Want(t, 200)
		env.Get("/v1/customers/"+id).Want(t, 404)
		close(stop)
		wg.Wait()
	})
}

// Two cc-api-key headers are a 400, whichever keys they hold: the request
// must not run as whichever account comes first.
func TestRepeatedAPIKeyHeaderIsRefused(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		accountB, keyB := env.NewAccount("B")
		for _, keys := range [][]string{{env.Key, keyB}, {keyB, env.Key}, {env.Key, env.Key}} {
			for _, method := range []string{"GET", "POST"} {
				req, err := http.NewRequest(method, env.Server.URL+"/v1/customers", strings.NewReader(`{"name":"Twice"}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Add("cc-api-key", keys[0])
				req.Header["CC-API-KEY"] = []string{keys[1]} // sent as a second line, in other case
				res, err := env.Server.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				out := &apitest.Response{Status: res.StatusCode, Header: res.Header, Body: raw}
				if err := apitest.ValidateResponse(req, out); err != nil {
					t.Errorf("%s: %v", method, err)
				}
				if out.Status != 400 || out.Message(t) != "cc-api-key header must be sent exactly once" || out.Map(t)["error"] != "Bad Request" {
					t.Errorf("%s with two keys: %d %s", method, out.Status, raw)
				}
			}
		}
		if n := customerCount(t, env); n != 0 {
			t.Fatalf("account A has %d customers", n)
		}
		if n := countEvents(t, env, accountB, "customer.created"); n != 0 {
			t.Fatalf("account B has %d customers", n)
		}
		// One header still works.
		env.Do(apitest.Request{Method: "GET", Path: "/v1/customers", Key: keyB}).Want(t, 200)
	})
}
