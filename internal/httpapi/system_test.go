package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/httpapi"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

func TestHealthMetricsAndOpenAPI(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		env.Do(apitest.Request{Method: "GET", Path: "/healthz", Key: "-"}).Want(t, 200)
		env.Do(apitest.Request{Method: "GET", Path: "/readyz", Key: "-"}).Want(t, 200)
		env.Get("/v1/customers").Want(t, 200)
		m := env.Do(apitest.Request{Method: "GET", Path: "/metrics", Key: "-"}).Want(t, 200)
		if !strings.Contains(string(m.Body), `kassa_http_requests_total{code="200",method="GET",route="/customers"}`) {
			t.Fatalf("metrics lack the request counter:\n%.2000s", m.Body)
		}
		doc := env.Do(apitest.Request{Method: "GET", Path: "/openapi.json", Key: "-"}).Want(t, 200)
		if !strings.Contains(string(doc.Body), `"/customers/{externalKey}"`) {
			t.Fatal("openapi.json lacks the customer routes")
		}
		if env.Get("/v1/customers").Header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
	})
}

func TestTestClock(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		before := time.Now().Unix()
		res := env.Post("/v1/test-clock/advance", map[string]any{"seconds": 86400}).Want(t, 200).Map(t)
		now := int64(res["now"].(float64))
		if now < before+86400 || now > time.Now().Unix()+86400+5 {
			t.Fatalf("advanced to %d, want about %d", now, before+86400)
		}
		c := env.Post("/v1/customers", map[string]any{"name": "Later"}).Want(t, 201).Map(t)
		if created := int64(c["created"].(float64)); created < now {
			t.Fatalf("customer created at %d, before the account clock %d", created, now)
		}
		target := now + 30*86400
		res = env.Post("/v1/test-clock/advance", map[string]any{"to": target}).Want(t, 200).Map(t)
		if got := int64(res["now"].(float64)); got < target || got > target+5 {
			t.Fatalf("advanced to %d, want %d", got, target)
		}
		for body, want := range map[string]string{
			`{"seconds":0}`:             "seconds must be a positive integer",
			`{}`:                        "give exactly one of seconds or to",
			`{"seconds":1,"to":1}`:      "give exactly one of seconds or to",
			`{"to":1}`:                  "to must be later than the account's current time",
			`{"seconds":"soon"}`:        "seconds must be an integer number",
			`{"seconds":1,"minutes":1}`: "property minutes should not exist",
		} {
			if msg := env.Post("/v1/test-clock/advance", body).Want(t, 400).Message(t); !strings.Contains(msg, want) {
				t.Errorf("%s: %q, want %q", body, msg, want)
			}
		}
		// Another account's clock did not move.
		_, keyB := env.NewAccount("B")
		cb := env.Do(apitest.Request{Method: "POST", Path: "/v1/customers", Key: keyB, Body: map[string]any{"name": "B"}}).Want(t, 201).Map(t)
		if created := int64(cb["created"].(float64)); created > time.Now().Unix()+5 {
			t.Fatalf("account B's clock moved: %d", created)
		}
		// Live keys have no test clock.
		live, err := env.App.Accounts.Create(context.Background(), "Live", true)
		if err != nil {
			t.Fatal(err)
		}
		res2 := env.Do(apitest.Request{Method: "POST", Path: "/v1/test-clock/advance", Key: live.Secret, Body: map[string]any{"seconds": 5}}).Want(t, 403)
		if res2.Map(t)["error"] != "TEST_CLOCK_LIVEMODE" {
			t.Fatalf("live advance: %s", res2.Body)
		}
	})
}

// The clock only moves forward, at most 10 years per call and never past
// the end of year 9999; a refused advance changes nothing (issue #9, item 1).
func TestTestClockBounds(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		start := int64(env.Post("/v1/test-clock/advance", map[string]any{"seconds": 1}).Want(t, 200).Map(t)["now"].(float64))
		for _, body := range []string{
			`{"seconds":9223372036854775807}`,
			`{"seconds":-1}`,
			`{"seconds":316224001}`, // 10 years of 366 days, and a second
			`{"to":9000000000000000000}`,
			`{"to":-5}`,
			`{"to":253402300800}`, // 10000-01-01
			`{"seconds":18446744073709551616}`,
		} {
			res := env.Post("/v1/test-clock/advance", body)
			if res.Status != 400 {
				t.Fatalf("%s: %d %s", body, res.Status, res.Body)
			}
		}
		// Nothing moved: the next advance starts from where the clock was.
		res := env.Post("/v1/test-clock/advance", map[string]any{"seconds": 10}).Want(t, 200).Map(t)
		if now := int64(res["now"].(float64)); now < start+10 || now > start+15 {
			t.Fatalf("after refused advances the clock reads %d, want about %d", now, start+10)
		}
		if res["status"] != "ready" {
			t.Fatalf("advance status %v", res["status"])
		}
		// The largest step is allowed, and objects keep positive times.
		res = env.Post("/v1/test-clock/advance", map[string]any{"seconds": 10 * 366 * 86400}).Want(t, 200).Map(t)
		c := env.Post("/v1/customers", map[string]any{"name": "Future"}).Want(t, 201).Map(t)
		if created := c["created"].(float64); created < res["now"].(float64) {
			t.Fatalf("created %v before the clock %v", created, res["now"])
		}
	})
}

func TestSafePathHidesCardNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/payment-methods/4242424242424242/attach":       "/v1/payment-methods/****4242/attach",
		"/v1/payment-methods/4242 4242 4242 4242/attach":    "/v1/payment-methods/****4242/attach",
		"/v1/payment-methods/4000-0000-0000-0002/detach":    "/v1/payment-methods/****0002/detach",
		"/v1/transactions/378282246310005":                  "/v1/transactions/****0005",
		"/v1/customers/cus_abc":                             "/v1/customers/cus_abc",
		"/v1/invoices/84c413b1-cda9-4637-a75d-352e36274bf2": "/v1/invoices/84c413b1-cda9-4637-a75d-352e36274bf2",
		// The report's case: digits across a UUID's dashes.
		"/v1/invoices/373f788d-3ed4-4242-4242-424242424f2b": "/v1/invoices/373f788d-3ed4-4242-4242-424242424f2b",
		"/v1/invoices/12345678-1234-4234-8234-123456789012": "/v1/invoices/12345678-1234-4234-8234-123456789012",
		"/v1/customers/cus_Ab4242424242424242Cdefgh":        "/v1/customers/cus_Ab4242424242424242Cdefgh",
		"/v1/payment-methods/4242424242424241/attach":       "/v1/payment-methods/4242424242424241/attach", // not Luhn-valid
	} {
		if got := httpapi.SafePathForTest(in); got != want {
			t.Errorf("safePath(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"search=4242424242424242&take=5":     "search=****4242&take=5",
		"q=4242+4242+4242+4242":              "q=****4242",
		"q=4242%204242%204242%204242&x":      "q=****4242&x",
		"customer=cus_4242424242424242":      "customer=cus_4242424242424242",
		"search=%7B%22ids%22%3A%22prod_1%22": "search=%7B%22ids%22%3A%22prod_1%22",
	} {
		if got := httpapi.SafeQueryForTest(in); got != want {
			t.Errorf("safeQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// No id Kassa issues is ever redacted as if it were a card number, however
// many digits it happens to hold: logs and idempotency keys must name the
// real object.
func TestSafePathKeepsEveryIDFormat(t *testing.T) {
	prefixes := []string{id.Company, id.Account, id.APIKey, id.Customer, id.Product, id.Price, id.TaxRate,
		id.Subscription, id.Transaction, id.PaymentMethod, id.Event, id.Attempt, id.LineItem,
		"expay", "em", // external payments, emails
		"ch_sbx", "re_sbx", "cus_sbx", // sandbox refs
	}
	var ids []string
	for range 2000 {
		for _, p := range prefixes {
			ids = append(ids, id.New(p))
		}
		ids = append(ids, id.UUID(), "sk_test_"+id.Random(32), "sk_live_"+id.Random(32),
			"req_"+id.Random(12)+"_"+strconv.FormatUint(rand.Uint64(), 36), "pm_1"+id.Random(23))
	}
	// The worst cases: every random character a digit.
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rand.IntN(10))
		}
		return string(b)
	}
	for range 2000 {
		for _, p := range prefixes {
			ids = append(ids, p+"_"+digits(24), p+"_"+digits(16))
		}
		u := digits(32)
		ids = append(ids, u[:8]+"-"+u[8:12]+"-"+u[12:16]+"-"+u[16:20]+"-"+u[20:])
	}
	ids = append(ids, "cus_4242424242424242", "txn_4000000000000002", "pm_4242424242424242xyz")
	for _, v := range ids {
		for _, path := range []string{"/v1/customers/" + v, "/v1/invoices/" + v + "/pay", "/v1/payment-methods/" + v + "/attach"} {
			if got := httpapi.SafePathForTest(path); got != path {
				t.Fatalf("safePath(%q) = %q", path, got)
			}
		}
		if got := httpapi.SafeQueryForTest("customer=" + v); got != "customer="+v {
			t.Fatalf("safeQuery(customer=%s) = %q", v, got)
		}
		if got := gateway.RedactToken(v); got != v {
			t.Fatalf("RedactToken(%q) = %q", v, got)
		}
	}
}

// Access logs, error bodies and idempotency keys keep ids whole, digits and
// all, and still hide card numbers.
func TestIDsWithDigitsStayWhole(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		var logs bytes.Buffer
		var mu sync.Mutex
		a := env.App
		api := httpapi.New(httpapi.Deps{DB: a.DB, Clock: a.Clock, Logger: slog.New(slog.NewTextHandler(&lockedWriter{&mu, &logs}, nil)),
			AccessLog: true, Accounts: a.Accounts, Customers: a.Customers, Payments: a.Payments, Catalog: a.Catalog,
			TaxRates: a.TaxRates, Invoices: a.Invoices, Idempotency: a.Idempotency, TestClock: a.TestClock})
		serve := func(method, path string) {
			req := httptest.NewRequest(method, path, nil)
			req.Header.Set("cc-api-key", env.Key)
			api.ServeHTTP(httptest.NewRecorder(), req)
		}
		const invoiceID = "373f788d-3ed4-4242-4242-424242424f2b"
		serve("GET", "/v1/invoices/"+invoiceID)
		serve("GET", "/v1/payment-methods/4242424242424242")
		mu.Lock()
		logged := logs.String()
		mu.Unlock()
		if !strings.Contains(logged, "path=/v1/invoices/"+invoiceID+" ") {
			t.Errorf("access log mangles the invoice id:\n%s", logged)
		}
		if !strings.Contains(logged, "path=/v1/payment-methods/****4242 ") || strings.Contains(logged, "4242424242424242") {
			t.Errorf("access log shows the card number:\n%s", logged)
		}

		// A customer whose id happens to hold a card-like run of digits.
		const cusID = "cus_Ab4242424242424242Cdefgh"
		created := env.Post("/v1/customers", map[string]any{"name": "Digits"}).Want(t, 201).Map(t)["id"].(string)
		if err := a.DB.InTx(context.Background(), func(tx *store.Tx) error {
			_, err := tx.ExecContext(context.Background(), `UPDATE customers SET id = $1 WHERE id = $2`, cusID, created)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		patch := apitest.Request{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"description": "d"},
			Headers: map[string]string{"Idempotency-Key": "digits-1"}}
		env.Do(patch).Want(t, 200)
		var endpoint string
		if err := a.DB.Read().QueryRowContext(context.Background(), `SELECT endpoint FROM idempotency_keys WHERE idem_key = $1`, "digits-1").Scan(&endpoint); err != nil {
			t.Fatal(err)
		}
		if endpoint != "PATCH /customers/"+cusID {
			t.Errorf("idempotency endpoint %q", endpoint)
		}
		if res := env.Do(patch).Want(t, 200); res.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("not replayed: %v", res.Header)
		}

		// Error bodies of the routes that redact card numbers keep ids whole.
		for path, msg := range map[string]string{
			"/v1/transactions/txn_Ab4242424242424242Cdefgh":                         "Transaction txn_Ab4242424242424242Cdefgh not found",
			"/v1/payment-methods/pm_4000000000000002Abcdefgh":                       "Payment method pm_4000000000000002Abcdefgh not found",
			"/v1/customers/" + cusID + "/payment-methods/pm_4000000000000002Abcdef": "Payment method pm_4000000000000002Abcdef not found",
		} {
			res := env.Get(path).Want(t, 404).Map(t)
			if res["message"] != msg || res["path"] != path {
				t.Errorf("GET %s: %v", path, res)
			}
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
