package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/httpapi"
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
		"/v1/customers/cus_abc":                             "/v1/customers/cus_abc",
		"/v1/invoices/84c413b1-cda9-4637-a75d-352e36274bf2": "/v1/invoices/84c413b1-cda9-4637-a75d-352e36274bf2",
	} {
		if got := httpapi.SafePathForTest(in); got != want {
			t.Errorf("safePath(%q) = %q, want %q", in, got, want)
		}
	}
}
