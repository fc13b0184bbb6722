package stripegw_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/gateway/stripegw"
)

// These tests script Stripe's answers with a local fake, to cover the
// mapping of outcomes stripe-mock's fixtures never produce (success with
// fees, declines, 5xx, dropped connections) and to check what is sent.

var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

type call struct {
	method, path, idempotencyKey string
	form                         url.Values
}

type fake struct {
	t      *testing.T
	mu     sync.Mutex
	calls  []call
	routes map[string]func(w http.ResponseWriter, r *http.Request)
}

func newFake(t *testing.T, routes map[string]func(w http.ResponseWriter, r *http.Request)) (*fake, *stripegw.Gateway) {
	f := &fake{t: t, routes: routes}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	g, err := stripegw.New(stripegw.Config{
		SecretKey:         "sk_test_123",
		BackendURL:        srv.URL,
		MaxNetworkRetries: new(int64), // no retries: each scripted answer is seen once
		Now:               func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, g
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.calls = append(f.calls, call{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), r.Form})
	f.mu.Unlock()
	h, ok := f.routes[r.Method+" "+r.URL.Path]
	if !ok {
		f.t.Errorf("unexpected call %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	h(w, r)
}

func (f *fake) called(method, path string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.method == method && c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// hangUp drops the connection without an answer, as a network failure would
// after the request was sent.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

const succeededIntent = `{
  "id": "pi_ok", "object": "payment_intent", "status": "succeeded", "amount": 1000, "currency": "usd",
  "metadata": {"kassa_idempotency_key": "key-1"},
  "latest_charge": {
    "id": "ch_ok", "object": "charge",
    "payment_method_details": {"type": "card"},
    "balance_transaction": {
      "id": "txn_1", "object": "balance_transaction", "amount": 1000, "fee": 59, "net": 941,
      "available_on": 1773705600, "currency": "usd",
      "fee_details": [{"amount": 59, "currency": "usd", "description": "Stripe processing fees", "type": "stripe_fee"}]
    }
  }
}`

func chargeReq() gateway.ChargeRequest {
	return gateway.ChargeRequest{
		Amount: 1000, Currency: "USD", PaymentMethodRef: "pm_1", CustomerRef: "cus_1",
		IdempotencyKey: "key-1", Description: "Invoice 42",
	}
}

func TestChargeApprovedSendsTheRightRequest(t *testing.T) {
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/payment_intents": reply(200, succeededIntent),
	})
	res, err := g.Charge(context.Background(), chargeReq())
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.ChargeResult{
		Outcome: gateway.Approved, ChargeRef: "pi_ok", Message: "Payment succeeded.", Fee: 59,
		FeeDetails: []string{"Stripe processing fees: 0.59 USD"}, Source: "card",
		AvailableOn: time.Unix(1773705600, 0).UTC(),
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("\n got %+v\nwant %+v", res, want)
	}

	calls := f.called("POST", "/v1/payment_intents")
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.idempotencyKey != "key-1" {
		t.Errorf("Idempotency-Key %q", c.idempotencyKey)
	}
	for k, v := range map[string]string{
		"amount": "1000", "currency": "usd", "confirm": "true", "off_session": "true",
		"customer": "cus_1", "payment_method": "pm_1", "description": "Invoice 42",
		"metadata[kassa_idempotency_key]": "key-1", "expand[0]": "latest_charge.balance_transaction",
		"automatic_payment_methods[enabled]": "true", "automatic_payment_methods[allow_redirects]": "never",
	} {
		if got := c.form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestChargeDeclines(t *testing.T) {
	tests := []struct {
		name, body string
		code, msg  string
		ref        string
	}{
		{"insufficient funds", `{"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
			"message": "Your card has insufficient funds.", "payment_intent": {"id": "pi_d1", "status": "requires_payment_method"}}}`,
			"insufficient_funds", "Your card has insufficient funds.", "pi_d1"},
		{"generic", `{"error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
			"message": "Your card was declined."}}`, "card_declined", "Your card was declined.", ""},
		{"expired", `{"error": {"type": "card_error", "code": "expired_card", "decline_code": "expired_card",
			"message": "Your card has expired."}}`, "expired_card", "Your card has expired.", ""},
		{"authentication", `{"error": {"type": "card_error", "code": "authentication_required", "decline_code": "authentication_required",
			"message": "Your card was declined. This transaction requires authentication."}}`,
			"authentication_required", "Your card was declined. This transaction requires authentication.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
				"POST /v1/payment_intents": reply(402, tt.body),
			})
			res, err := g.Charge(context.Background(), chargeReq())
			if err != nil {
				t.Fatal(err)
			}
			want := gateway.ChargeResult{Outcome: gateway.Declined, ChargeRef: tt.ref, DeclineCode: tt.code, Message: tt.msg, Source: "card"}
			if !reflect.DeepEqual(res, want) {
				t.Fatalf("\n got %+v\nwant %+v", res, want)
			}
		})
	}
}

func TestChargeIntentStatuses(t *testing.T) {
	tests := []struct {
		body string
		want gateway.ChargeResult
	}{
		{`{"id": "pi_p", "status": "processing", "payment_method": {"id": "pm_b", "type": "us_bank_account"}}`,
			gateway.ChargeResult{Outcome: gateway.Unconfirmed, ChargeRef: "pi_p", Message: "The payment is processing.", Source: "bank_account"}},
		{`{"id": "pi_r", "status": "requires_payment_method", "last_payment_error": {"type": "card_error", "code": "card_declined",
			"decline_code": "do_not_honor", "message": "Your card was declined."}}`,
			gateway.ChargeResult{Outcome: gateway.Declined, ChargeRef: "pi_r", DeclineCode: "do_not_honor", Message: "Your card was declined.", Source: "card"}},
		{`{"id": "pi_a", "status": "requires_action"}`,
			gateway.ChargeResult{Outcome: gateway.Declined, ChargeRef: "pi_a", DeclineCode: "authentication_required",
				Message: "This payment requires the customer's authentication.", Source: "card"}},
		{`{"id": "pi_c", "status": "requires_capture"}`,
			gateway.ChargeResult{Outcome: gateway.Unconfirmed, ChargeRef: "pi_c", Message: "Unexpected payment status requires_capture.", Source: "card"}},
	}
	for _, tt := range tests {
		_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
			"POST /v1/payment_intents": reply(200, tt.body),
		})
		res, err := g.Charge(context.Background(), chargeReq())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res, tt.want) {
			t.Errorf("\n got %+v\nwant %+v", res, tt.want)
		}
	}
}

func TestChargeUnknownOutcomes(t *testing.T) {
	tests := map[string]func(http.ResponseWriter, *http.Request){
		"500 api_error":   reply(500, `{"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}`),
		"502 not json":    reply(502, `<html>bad gateway</html>`),
		"429 rate limit":  reply(429, `{"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}}`),
		"key in use":      reply(409, `{"error": {"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "in use"}}`),
		"connection lost": hangUp,
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){"POST /v1/payment_intents": h})
			res, err := g.Charge(context.Background(), chargeReq())
			if err != nil {
				t.Fatalf("want a result, got error %v", err)
			}
			if res.Outcome != gateway.Unconfirmed || res.Message == "" {
				t.Fatalf("result %+v", res)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
			"POST /v1/payment_intents": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
		})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		res, err := g.Charge(ctx, chargeReq())
		if err != nil || res.Outcome != gateway.Unconfirmed {
			t.Fatalf("%+v, %v", res, err)
		}
	})
}

func TestChargeInvalidRequests(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       error
	}{
		{"no such payment method", `{"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "payment_method",
			"message": "No such PaymentMethod: 'pm_1'"}}`, 400, gateway.ErrNoSuchPaymentMethod},
		{"key reused with other params", `{"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}}`,
			400, gateway.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
				"POST /v1/payment_intents": reply(tt.status, tt.body),
			})
			_, err := g.Charge(context.Background(), chargeReq())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("bad key is not an invalid request", func(t *testing.T) {
		_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
			"POST /v1/payment_intents": reply(401, `{"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}`),
		})
		_, err := g.Charge(context.Background(), chargeReq())
		if err == nil || errors.Is(err, gateway.ErrInvalidRequest) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("validated before sending", func(t *testing.T) {
		f, g := newFake(t, nil)
		req := chargeReq()
		req.IdempotencyKey = ""
		if _, err := g.Charge(context.Background(), req); !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Fatalf("err %v", err)
		}
		if len(f.calls) != 0 {
			t.Fatalf("sent %d calls", len(f.calls))
		}
	})
}

func TestChargeStatusByRef(t *testing.T) {
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /v1/payment_intents/pi_ok": reply(200, succeededIntent),
	})
	res, err := g.ChargeStatus(context.Background(), gateway.StatusRequest{ChargeRequest: chargeReq(), ChargeRef: "pi_ok", SentAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != gateway.Approved || res.ChargeRef != "pi_ok" || res.Fee != 59 {
		t.Fatalf("%+v", res)
	}
	if got := f.called("GET", "/v1/payment_intents/pi_ok")[0].form.Get("expand[0]"); got != "latest_charge.balance_transaction" {
		t.Fatalf("expand %q", got)
	}
}

func TestChargeStatusReplaysWithTheSameKey(t *testing.T) {
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/payment_intents": reply(200, succeededIntent),
	})
	ctx := context.Background()
	req := chargeReq()
	if _, err := g.Charge(ctx, req); err != nil {
		t.Fatal(err)
	}
	res, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: req, SentAt: t0.Add(-22 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != gateway.Approved || res.ChargeRef != "pi_ok" {
		t.Fatalf("%+v", res)
	}
	calls := f.called("POST", "/v1/payment_intents")
	if len(calls) != 2 {
		t.Fatalf("%d creates", len(calls))
	}
	// Stripe replays only a byte-for-byte identical request.
	if calls[0].idempotencyKey != calls[1].idempotencyKey || !reflect.DeepEqual(calls[0].form, calls[1].form) {
		t.Fatalf("replay differs:\n%v %v\n%v %v", calls[0].idempotencyKey, calls[0].form, calls[1].idempotencyKey, calls[1].form)
	}
}

func TestChargeStatusSearchesWhenReplayCannotTell(t *testing.T) {
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		// Stripe stores a 5xx answer and replays it.
		"POST /v1/payment_intents": reply(500, `{"error": {"type": "api_error", "message": "boom"}}`),
		"GET /v1/payment_intents/search": reply(200, `{"object": "search_result", "has_more": false, "data": [
			{"id": "pi_other", "status": "succeeded", "metadata": {"kassa_idempotency_key": "key-10"}},
			`+succeededIntent+`]}`),
	})
	res, err := g.ChargeStatus(context.Background(), gateway.StatusRequest{ChargeRequest: chargeReq(), SentAt: t0.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != gateway.Approved || res.ChargeRef != "pi_ok" || res.Fee != 59 {
		t.Fatalf("%+v", res)
	}
	s := f.called("GET", "/v1/payment_intents/search")
	if len(s) != 1 || s[0].form.Get("query") != "metadata['kassa_idempotency_key']:'key-1'" {
		t.Fatalf("search %+v", s)
	}
}

func TestChargeStatusAfterTheKeyExpired(t *testing.T) {
	ctx := context.Background()

	t.Run("found", func(t *testing.T) {
		f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
			"GET /v1/payment_intents/search": reply(200, `{"object": "search_result", "data": [`+succeededIntent+`]}`),
		})
		res, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: chargeReq(), SentAt: t0.Add(-30 * time.Hour)})
		if err != nil || res.Outcome != gateway.Approved || res.ChargeRef != "pi_ok" {
			t.Fatalf("%+v, %v", res, err)
		}
		// Replaying an expired key would charge again: it must not happen.
		if n := len(f.called("POST", "/v1/payment_intents")); n != 0 {
			t.Fatalf("%d creates", n)
		}
	})

	t.Run("never reached Stripe", func(t *testing.T) {
		_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
			"GET /v1/payment_intents/search": reply(200, `{"object": "search_result", "data": []}`),
		})
		res, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: chargeReq(), SentAt: t0.Add(-30 * time.Hour)})
		if err != nil || res.Outcome != gateway.Declined || res.DeclineCode != gateway.CodeChargeNotFound {
			t.Fatalf("%+v, %v", res, err)
		}
	})

	t.Run("search unreachable", func(t *testing.T) {
		_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){"GET /v1/payment_intents/search": hangUp})
		res, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: chargeReq(), SentAt: t0.Add(-30 * time.Hour)})
		if err != nil || res.Outcome != gateway.Unconfirmed {
			t.Fatalf("%+v, %v", res, err)
		}
	})
}

func TestAttachMapsTokensAndMethods(t *testing.T) {
	ctx := context.Background()
	const bankPM = `{"id": "pm_bank", "object": "payment_method", "type": "us_bank_account", "customer": "cus_new",
		"us_bank_account": {"bank_name": "STRIPE TEST BANK", "last4": "6789", "routing_number": "110000000",
		"fingerprint": "LstWJFsCK7P349Bg", "account_holder_type": "individual", "account_type": "checking"}}`
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/customers":                      reply(200, `{"id": "cus_new", "object": "customer"}`),
		"POST /v1/payment_methods/pm_bank/attach": reply(200, bankPM),
	})
	pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{
		Token: "pm_bank", Customer: gateway.Customer{ID: "cus_k1", Name: "Jenny", Email: "j@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.PaymentMethod{Ref: "pm_bank", CustomerRef: "cus_new", Type: "us_bank_account", BankAccount: &gateway.BankAccount{
		BankName: "STRIPE TEST BANK", Last4: "6789", RoutingNumber: "110000000", Fingerprint: "LstWJFsCK7P349Bg",
		AccountHolderType: "individual", AccountType: "checking",
	}}
	if !reflect.DeepEqual(pm, want) {
		t.Fatalf("\n got %+v\nwant %+v", pm, want)
	}
	cust := f.called("POST", "/v1/customers")[0].form
	if cust.Get("name") != "Jenny" || cust.Get("email") != "j@example.com" || cust.Get("metadata[kassa_customer_id]") != "cus_k1" {
		t.Fatalf("customer form %v", cust)
	}
	if got := f.called("POST", "/v1/payment_methods/pm_bank/attach")[0].form.Get("customer"); got != "cus_new" {
		t.Fatalf("attached to %q", got)
	}
}

func TestAttachCardToken(t *testing.T) {
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/payment_methods": reply(200, `{"id": "pm_card", "type": "card"}`),
		"POST /v1/payment_methods/pm_card/attach": reply(200, `{"id": "pm_card", "type": "card", "customer": "cus_1",
			"card": {"brand": "amex", "last4": "0005", "exp_month": 8, "exp_year": 2030, "wallet": {"type": "apple_pay"}}}`),
	})
	pm, err := g.AttachPaymentMethod(context.Background(), gateway.AttachRequest{Token: "tok_amex", CustomerRef: "cus_1", Zip: "94107"})
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.PaymentMethod{Ref: "pm_card", CustomerRef: "cus_1", Type: "card",
		Card: &gateway.Card{Brand: "amex", Last4: "0005", ExpMonth: 8, ExpYear: 2030, WalletType: "apple_pay"}}
	if !reflect.DeepEqual(pm, want) {
		t.Fatalf("\n got %+v %+v\nwant %+v %+v", pm, pm.Card, want, want.Card)
	}
	form := f.called("POST", "/v1/payment_methods")[0].form
	if form.Get("type") != "card" || form.Get("card[token]") != "tok_amex" || form.Get("billing_details[address][postal_code]") != "94107" {
		t.Fatalf("create form %v", form)
	}
	if n := len(f.called("POST", "/v1/customers")); n != 0 {
		t.Fatalf("created %d customers for an existing one", n)
	}
}

func TestAttachUnknownToken(t *testing.T) {
	missing := reply(404, `{"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "card[token]", "message": "No such token: 'tok_nope'"}}`)
	_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/payment_methods":                missing,
		"POST /v1/payment_methods/pm_nope/attach": missing,
	})
	for _, token := range []string{"tok_nope", "pm_nope", "src_123", "4000 0000 0000 0002"} {
		_, err := g.AttachPaymentMethod(context.Background(), gateway.AttachRequest{Token: token, CustomerRef: "cus_1"})
		if !errors.Is(err, gateway.ErrInvalidToken) {
			t.Errorf("%s: err %v, want ErrInvalidToken", token, err)
		}
		if err != nil && strings.Contains(err.Error(), "0000 0002") {
			t.Errorf("error echoes the card number: %v", err)
		}
	}
}

func TestDetach(t *testing.T) {
	f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /v1/payment_methods/pm_1/detach": reply(200, `{"id": "pm_1", "type": "card", "customer": null}`),
		"POST /v1/payment_methods/pm_x/detach": reply(404, `{"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such PaymentMethod: 'pm_x'"}}`),
	})
	ctx := context.Background()
	if err := g.DetachPaymentMethod(ctx, "pm_1"); err != nil {
		t.Fatal(err)
	}
	if len(f.called("POST", "/v1/payment_methods/pm_1/detach")) != 1 {
		t.Fatal("detach not sent")
	}
	if err := g.DetachPaymentMethod(ctx, "pm_x"); !errors.Is(err, gateway.ErrNoSuchPaymentMethod) {
		t.Fatalf("err %v", err)
	}
}

func TestRefund(t *testing.T) {
	tests := []struct {
		name string
		h    func(http.ResponseWriter, *http.Request)
		want gateway.RefundResult
	}{
		{"succeeded", reply(200, `{"id": "re_1", "status": "succeeded"}`), gateway.RefundResult{RefundRef: "re_1", Outcome: gateway.Approved, Message: "Refund succeeded."}},
		{"pending", reply(200, `{"id": "re_2", "status": "pending"}`), gateway.RefundResult{RefundRef: "re_2", Outcome: gateway.Approved, Message: "Refund pending."}},
		{"failed", reply(200, `{"id": "re_3", "status": "failed", "failure_reason": "expired_or_canceled_card"}`),
			gateway.RefundResult{RefundRef: "re_3", Outcome: gateway.Declined, Message: "Refund failed: expired_or_canceled_card."}},
		{"5xx", reply(503, `{"error": {"type": "api_error", "message": "unavailable"}}`), gateway.RefundResult{Outcome: gateway.Unconfirmed}},
		{"connection lost", hangUp, gateway.RefundResult{Outcome: gateway.Unconfirmed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){"POST /v1/refunds": tt.h})
			res, err := g.Refund(context.Background(), gateway.RefundRequest{
				ChargeRef: "pi_ok", Amount: 400, Currency: "USD", IdempotencyKey: "rk-1", Reason: "duplicate",
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.Outcome == gateway.Unconfirmed {
				res.Message = "" // transport detail
			}
			if res != tt.want {
				t.Fatalf("\n got %+v\nwant %+v", res, tt.want)
			}
			c := f.called("POST", "/v1/refunds")[0]
			if c.idempotencyKey != "rk-1" || c.form.Get("payment_intent") != "pi_ok" || c.form.Get("amount") != "400" || c.form.Get("reason") != "duplicate" {
				t.Fatalf("refund sent %v %v", c.idempotencyKey, c.form)
			}
		})
	}

	t.Run("charge ref and unknown reason", func(t *testing.T) {
		f, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){"POST /v1/refunds": reply(200, `{"id": "re_1", "status": "succeeded"}`)})
		if _, err := g.Refund(context.Background(), gateway.RefundRequest{ChargeRef: "ch_1", Amount: 1, Currency: "USD", IdempotencyKey: "k", Reason: "goodwill"}); err != nil {
			t.Fatal(err)
		}
		form := f.called("POST", "/v1/refunds")[0].form
		if form.Get("charge") != "ch_1" || form.Has("payment_intent") || form.Has("reason") || form.Get("metadata[kassa_refund_reason]") != "goodwill" {
			t.Fatalf("refund form %v", form)
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, g := newFake(t, map[string]func(http.ResponseWriter, *http.Request){"POST /v1/refunds": reply(400,
			`{"error": {"type": "invalid_request_error", "code": "charge_already_refunded", "message": "Charge ch_1 has already been refunded."}}`)})
		_, err := g.Refund(context.Background(), gateway.RefundRequest{ChargeRef: "ch_1", Amount: 1, Currency: "USD", IdempotencyKey: "k"})
		if !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestNew(t *testing.T) {
	if _, err := stripegw.New(stripegw.Config{Now: func() time.Time { return t0 }}); err == nil {
		t.Error("no secret key accepted")
	}
	if _, err := stripegw.New(stripegw.Config{SecretKey: "sk_test_1"}); err == nil {
		t.Error("no clock accepted")
	}
	g, err := stripegw.New(stripegw.Config{SecretKey: "sk_test_1", Now: func() time.Time { return t0 }})
	if err != nil || g.Name() != "stripe" {
		t.Fatalf("%v, %v", g, err)
	}
}
