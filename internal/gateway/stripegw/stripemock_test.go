package stripegw_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/gateway/stripegw"
	"github.com/kassahq/kassa/internal/gateway/stripegw/stripemock"
)

// stripe-mock (github.com/stripe/stripe-mock, v0.203.0) serves Stripe's API
// from its OpenAPI spec with canned fixtures. It is stateless, so these tests
// check that our requests are accepted and that the answers are mapped, not
// amounts. One stripe-mock serves the whole package: it takes a second or so
// to load its spec.

var (
	mockOnce sync.Once
	mockURL  string
	mockErr  error
	mockStop func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mockStop != nil {
		mockStop()
	}
	os.Exit(code)
}

// stripeMock returns the base URL of a running stripe-mock. Without the
// binary the test is skipped, unless KASSA_REQUIRE_STRIPE_MOCK=1 (CI), where
// it fails.
func stripeMock(t *testing.T) string {
	t.Helper()
	bin := stripemock.Binary()
	if bin == "" {
		msg := "stripe-mock not installed (" + stripemock.Install + ")"
		if os.Getenv("KASSA_REQUIRE_STRIPE_MOCK") == "1" {
			t.Fatal(msg + " and KASSA_REQUIRE_STRIPE_MOCK=1")
		}
		t.Skip(msg)
	}
	mockOnce.Do(func() { mockURL, mockStop, mockErr = stripemock.Start(bin) })
	if mockErr != nil {
		t.Fatalf("start stripe-mock: %v", mockErr)
	}
	return mockURL
}

func mockGateway(t *testing.T, now time.Time) *stripegw.Gateway {
	t.Helper()
	g, err := stripegw.New(stripegw.Config{
		SecretKey:  "sk_test_123",
		BackendURL: stripeMock(t),
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestStripeMockAttach(t *testing.T) {
	ctx := context.Background()
	g := mockGateway(t, t0)

	t.Run("card token, new customer", func(t *testing.T) {
		pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{
			Token:    "tok_visa",
			Customer: gateway.Customer{ID: "cus_kassa1", Name: "Jenny Rosen", Email: "jenny@example.com"},
			Zip:      "94107",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(pm.Ref, "pm_") || pm.CustomerRef == "" || pm.Type != gateway.TypeCard {
			t.Fatalf("payment method %+v", pm)
		}
		if pm.Card == nil || pm.Card.Brand == "" || len(pm.Card.Last4) != 4 || pm.Card.ExpYear == 0 {
			t.Fatalf("card %+v", pm.Card)
		}
	})

	t.Run("payment method, existing customer", func(t *testing.T) {
		pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: "pm_123", CustomerRef: "cus_123", WalletType: "google_pay"})
		if err != nil {
			t.Fatal(err)
		}
		if pm.Ref != "pm_123" || pm.CustomerRef != "cus_123" {
			t.Fatalf("payment method %+v", pm)
		}
		if pm.Card == nil || pm.Card.WalletType != "google_pay" {
			t.Fatalf("card %+v", pm.Card)
		}
	})

	t.Run("raw card number refused before any call", func(t *testing.T) {
		_, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: "4242424242424242", CustomerRef: "cus_123"})
		if !errors.Is(err, gateway.ErrInvalidToken) || strings.Contains(err.Error(), "4242424242424242") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestStripeMockDetach(t *testing.T) {
	if err := mockGateway(t, t0).DetachPaymentMethod(context.Background(), "pm_123"); err != nil {
		t.Fatal(err)
	}
}

func TestStripeMockChargeAndStatus(t *testing.T) {
	ctx := context.Background()
	g := mockGateway(t, t0)
	req := gateway.ChargeRequest{
		Amount: 1000, Currency: "USD", PaymentMethodRef: "pm_123", CustomerRef: "cus_123",
		IdempotencyKey: "kassa-test-" + t.Name(), Description: "Invoice 42",
	}

	res, err := g.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock's fixture PaymentIntent is in requires_payment_method.
	if res.Outcome != gateway.Declined || !strings.HasPrefix(res.ChargeRef, "pi_") || res.DeclineCode == "" || res.Message == "" {
		t.Fatalf("charge %+v", res)
	}

	t.Run("replay within the window", func(t *testing.T) {
		st, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: req, SentAt: t0.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if st.Outcome != gateway.Declined || !strings.HasPrefix(st.ChargeRef, "pi_") {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("by ref", func(t *testing.T) {
		st, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: req, ChargeRef: "pi_123"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Outcome == "" || !strings.HasPrefix(st.ChargeRef, "pi_") {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("search after the key expired", func(t *testing.T) {
		// The fixture's search result carries no kassa key, so nothing matches.
		st, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: req, SentAt: t0.Add(-48 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if st.Outcome != gateway.Declined || st.DeclineCode != gateway.CodeChargeNotFound {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("invalid request is an error", func(t *testing.T) {
		bad := req
		bad.Currency = "usd"
		if _, err := g.Charge(ctx, bad); !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestStripeMockRefund(t *testing.T) {
	ctx := context.Background()
	g := mockGateway(t, t0)
	for _, ref := range []string{"pi_123", "ch_123"} {
		r, err := g.Refund(ctx, gateway.RefundRequest{
			ChargeRef: ref, Amount: 500, Currency: "USD", IdempotencyKey: "refund-" + ref, Reason: "requested_by_customer",
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != gateway.Approved || !strings.HasPrefix(r.RefundRef, "re_") {
			t.Fatalf("refund of %s: %+v", ref, r)
		}
	}
	// A reason Stripe does not know goes to metadata, not to the request.
	if _, err := g.Refund(ctx, gateway.RefundRequest{ChargeRef: "pi_123", Amount: 1, Currency: "USD", IdempotencyKey: "r", Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
}
