package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/payment"
)

// inputFixture is one object of each kind, to send bad bodies at.
type inputFixture struct {
	customer, product, price, rate, charge string
}

func newInputFixture(t *testing.T, env *apitest.Env) inputFixture {
	t.Helper()
	var f inputFixture
	f.customer = newCustomer(t, env, "", "Input Holder")
	prod := env.Post("/v1/products", map[string]any{"name": "Input", "currency": "USD", "unit_amount": 1000, "type": "one_time"}).Want(t, 201).Map(t)
	f.product, f.price = prod["id"].(string), prod["default_price"].(string)
	f.rate = env.Post("/v1/taxRates", map[string]any{"tax_type": "VAT", "country": "DE", "percentage": 19, "inclusive": false}).
		Want(t, 201).Map(t)["id"].(string)
	attach(t, env, "tok_visa", f.customer)
	_, charge, _, err := env.App.Payments.Charge(context.Background(), env.ScopeOf(env.AccountID),
		payment.ChargeParams{CustomerID: f.customer, Amount: 1000, Currency: "usd", IdempotencyKey: "input-fixture"})
	if err != nil || charge == nil {
		t.Fatalf("charge %+v %v", charge, err)
	}
	f.charge = charge.ID
	return f
}

// writes counts what a refused request must not have added or changed.
func writes(t *testing.T, env *apitest.Env) [3]int {
	t.Helper()
	return [3]int{countEvents(t, env, env.AccountID, ""), rowCount(t, env, "refunds"), rowCount(t, env, "invoices")}
}

// sendRaw sends body as is to each endpoint that takes a JSON body and wants
// a 400 whose message contains want (with FIELD replaced by the endpoint's
// field), and nothing written.
func sendRaw(t *testing.T, env *apitest.Env, f inputFixture, body func(field string) string, want string) {
	t.Helper()
	for _, ep := range []struct {
		method, path, field, rest string
	}{
		{"POST", "/v1/customers", "name", ``},
		{"PATCH", "/v1/customers/" + f.customer, "description", ``},
		{"POST", "/v1/products", "name", `,"currency":"USD","unit_amount":1,"type":"one_time"`},
		{"PATCH", "/v1/products/" + f.product, "description", ``},
		{"POST", "/v1/prices/" + f.product, "description", `,"currency":"USD","unit_amount":1,"type":"one_time"`},
		{"PATCH", "/v1/prices/" + f.price + "/active", "description", ``},
		{"POST", "/v1/taxRates", "display_name", `,"tax_type":"Custom","country":"US","percentage":1,"inclusive":false`},
		{"PATCH", "/v1/taxRates/" + f.rate, "display_name", `,"tax_type":"Custom"`},
		{"POST", "/v1/invoices", "memo", `,"customer":"` + f.customer + `","collection_method":"charge_automatically","items":[{"price":"` + f.price + `","quantity":1}]`},
		{"POST", "/v1/payment-methods/tok_mastercard/attach", "customerId", ``},
		{"POST", "/v1/transactions/" + f.charge + "/refund", "reason", ``},
	} {
		before := writes(t, env)
		b := body(ep.field)
		b = b[:len(b)-1] + ep.rest + "}"
		res := env.Do(apitest.Request{Method: ep.method, Path: ep.path, Body: b})
		w := strings.ReplaceAll(want, "FIELD", ep.field)
		if res.Status != http.StatusBadRequest || !strings.Contains(res.Message(t), w) {
			t.Errorf("%s %s %q: %d %s, want 400 containing %q", ep.method, ep.path, b, res.Status, res.Body, w)
		}
		if after := writes(t, env); after != before {
			t.Errorf("%s %s %q wrote something: %v → %v", ep.method, ep.path, b, before, after)
		}
	}
}

// Text that is not valid Unicode is refused, naming the field, on every
// endpoint: encoding/json would store U+FFFD in its place.
func TestInvalidTextIsRefused(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newInputFixture(t, env)
		sendRaw(t, env, f, func(field string) string { return "{\"" + field + "\":\"ab\xffcd\"}" },
			"FIELD must be valid UTF-8 text (invalid byte sequence)")
		sendRaw(t, env, f, func(field string) string { return `{"` + field + `":"ab\ud800cd"}` },
			`FIELD must be valid UTF-8 text (lone surrogate \ud800)`)
		sendRaw(t, env, f, func(field string) string { return `{"` + field + `":"\udfffx"}` },
			`FIELD must be valid UTF-8 text (lone surrogate \udfff)`)
		// PostgreSQL cannot store U+0000 in text, SQLite can: refused on both.
		sendRaw(t, env, f, func(field string) string { return `{"` + field + `":"a\u0000b"}` },
			`FIELD must not contain the NUL character (\u0000)`)

		// Nested, in arrays, and in property names.
		for body, want := range map[string]string{
			`{"name":"A","address":[{"city":"ok"},{"city":"\ud83d"}]}`: `address[1].city must be valid UTF-8 text (lone surrogate \ud83d)`,
			"{\"name\":\"A\",\"shipping\":{\"name\":\"\xc3\x28\"}}":    `shipping.name must be valid UTF-8 text (invalid byte sequence)`,
			"{\"name\":\"A\",\"\xe2\x82\":\"x\"}":                      `request body has a property name that is not valid text`,
		} {
			if msg := env.Post("/v1/customers", body).Want(t, 400).Message(t); msg != want && !strings.HasPrefix(msg, want) {
				t.Errorf("%q: %q, want %q", body, msg, want)
			}
		}
		if msg := env.Get("/v1/customers?search="+urlQuery(`{"name":"\ud800"}`)).Want(t, 400).Message(t); !strings.Contains(msg, `search.name must be valid UTF-8 text`) {
			t.Errorf("search: %q", msg)
		}

		// A surrogate pair is one character, and is kept.
		c := env.Post("/v1/customers", `{"name":"Smile \ud83d\ude00","description":"caf\u00e9"}`).Want(t, 201).Map(t)
		if c["name"] != "Smile 😀" || c["description"] != "café" {
			t.Fatalf("pair: %v", c)
		}
		if got := env.Get("/v1/customers/"+c["id"].(string)).Want(t, 200).Map(t); got["name"] != "Smile 😀" {
			t.Fatalf("stored pair: %v", got)
		}
	})
}

// A path or query that is not valid text is a 400 on both engines
// (PostgreSQL answered 500: it refuses such text in a query).
func TestInvalidURLTextIsRefused(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		for path, want := range map[string]string{
			"/v1/customers/cus_%FF":             "the path must be valid UTF-8 text without NUL characters",
			"/v1/customers/%00":                 "the path must be valid UTF-8 text without NUL characters",
			"/v1/invoices/%ED%A0%80":            "the path must be valid UTF-8 text without NUL characters",
			"/v1/customers/search?search=%FF":   "query parameter search must be valid UTF-8 text without NUL characters",
			"/v1/customers?search=a%00":         "query parameter search must be valid UTF-8 text without NUL characters",
			"/v1/products?take=5&%C3=1":         `query parameter "\xc3" must be valid UTF-8 text without NUL characters`,
			"/v1/transactions?search=%7B%7D%FF": "query parameter search must be valid UTF-8 text without NUL characters",
		} {
			if msg := env.Get(path).Want(t, 400).Message(t); msg != want {
				t.Errorf("%s: %q, want %q", path, msg, want)
			}
		}
		// Not before authentication.
		if m := env.Do(apitest.Request{Method: "GET", Path: "/v1/customers/%FF", Key: "sk_test_" + strings.Repeat("x", 32)}).Want(t, 401).Message(t); m != "Invalid API key" {
			t.Errorf("unknown key: %q", m)
		}
		env.Get("/v1/customers/search?search=%C3%A9").Want(t, 200)
	})
}

// A key given twice is refused at any depth, on every endpoint: encoding/json
// would silently keep the last one.
func TestDuplicateKeysAreRefused(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newInputFixture(t, env)
		sendRaw(t, env, f, func(field string) string { return `{"` + field + `":"a","` + field + `":"b"}` },
			"FIELD must not be given more than once")
		// The same key spelled with an escape is the same key.
		sendRaw(t, env, f, func(field string) string { return `{"` + field + `":"a","\u` + hex4(field[0]) + field[1:] + `":"b"}` },
			"FIELD must not be given more than once")

		before := writes(t, env)
		for path, body := range map[string]string{
			"items[0].quantity must not be given more than once": `{"customer":"` + f.customer + `","collection_method":"charge_automatically","items":[{"price":"` + f.price + `","quantity":1,"quantity":2}]}`,
			"items[1].price must not be given more than once":    `{"customer":"` + f.customer + `","collection_method":"charge_automatically","items":[{"price":"` + f.price + `","quantity":1},{"price":"` + f.price + `","price":"` + f.price + `","quantity":1}]}`,
			"customer must not be given more than once":          `{"customer":"` + f.customer + `","customer":"cus_other","collection_method":"charge_automatically","items":[{"price":"` + f.price + `","quantity":1}]}`,
		} {
			if msg := env.Post("/v1/invoices", body).Want(t, 400).Message(t); msg != path {
				t.Errorf("%s: %q", body, msg)
			}
		}
		if msg := env.Post("/v1/customers", `{"name":"A","shipping":{"name":"A","phone":"1","address":{"city":"X","city":"Y"}}}`).Want(t, 400).Message(t); msg != "shipping.address.city must not be given more than once" {
			t.Errorf("deep: %q", msg)
		}
		if after := writes(t, env); after != before {
			t.Errorf("refused bodies wrote something: %v → %v", before, after)
		}
		if msg := env.Get("/v1/transactions?search="+urlQuery(`{"type":"charge","type":"refund"}`)).Want(t, 400).Message(t); msg != "search.type must not be given more than once" {
			t.Errorf("search: %q", msg)
		}
		// Keys that differ only in case are two keys; the wrong-cased one is unknown.
		if msg := env.Post("/v1/customers", `{"name":"A","Name":"B"}`).Want(t, 400).Message(t); msg != "property Name should not exist" {
			t.Errorf("case: %q", msg)
		}
	})
}

func hex4(c byte) string {
	const digits = "0123456789abcdef"
	return "00" + string(digits[c>>4]) + string(digits[c&15])
}

// Messages name the element by its full path, array indexes included.
func TestMessagesKeepArrayIndexes(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newInputFixture(t, env)
		item := `{"price":"` + f.price + `","quantity":1}`
		inv := func(items string) string {
			return `{"customer":"` + f.customer + `","collection_method":"charge_automatically","items":[` + items + `]}`
		}
		before := writes(t, env)
		for body, want := range map[string]string{
			inv(item + `,{"price":"` + f.price + `","quantity":"2"}`):                                       "items[1].quantity must be an integer number",
			inv(item + `,{"price":"` + f.price + `","quantity":2.5}`):                                       "items[1].quantity must be an integer number",
			inv(`{"price":"` + f.price + `","quantity":1e30}`):                                              "items[0].quantity must be an integer number",
			inv(`{"price":7,"quantity":1}`):                                                                 "items[0].price must be a string",
			inv(item + `,` + item + `,{"price":"` + f.price + `","quantity":1,"tax":["` + f.rate + `",5]}`): "items[2].tax[1] must be a string",
			inv(item + `,{"price":"` + f.price + `","quantity":1,"tax":"` + f.rate + `"}`):                  "items[1].tax must be an array",
			inv(item + `,5`): "items[1] must be an object",
			inv(item + `,{"price":"` + f.price + `","qty":1}`): "items[1].property qty should not exist",
		} {
			if msg := env.Post("/v1/invoices", body).Want(t, 400).Message(t); msg != want {
				t.Errorf("%s: %q, want %q", body, msg, want)
			}
		}
		if after := writes(t, env); after != before {
			t.Errorf("refused bodies wrote something: %v → %v", before, after)
		}
		if msg := env.Post("/v1/customers", `{"name":"A","address":[{"city":"X"},{"city":"Y","line1":["1"]}]}`).Want(t, 400).Message(t); msg != "address[1].line1 must be a string" {
			t.Errorf("address: %q", msg)
		}
	})
}
