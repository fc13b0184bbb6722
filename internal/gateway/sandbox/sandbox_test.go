package sandbox_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/gateway/sandbox"
)

var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func newGateway() *sandbox.Gateway {
	return sandbox.New(func() time.Time { return t0 })
}

func TestAttachEveryTestInstrument(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	cards := []struct {
		token, number, brand, last4 string
	}{
		{"tok_visa", "4242424242424242", "visa", "4242"},
		{"tok_mastercard", "5555555555554444", "mastercard", "4444"},
		{"tok_amex", "378282246310005", "amex", "0005"},
		{"tok_chargeDeclined", "4000000000000002", "visa", "0002"},
		{"tok_chargeDeclinedInsufficientFunds", "4000000000009995", "visa", "9995"},
		{"tok_chargeDeclinedExpiredCard", "4000000000000069", "visa", "0069"},
		{"tok_processingError", "4000000000000119", "visa", "0119"},
	}
	for _, c := range cards {
		for _, token := range []string{c.token, c.number} {
			t.Run(token, func(t *testing.T) {
				pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: token, CustomerRef: "cus_sbx_1"})
				if err != nil {
					t.Fatal(err)
				}
				want := gateway.PaymentMethod{
					Ref: c.token, CustomerRef: "cus_sbx_1", Type: gateway.TypeCard,
					Card: &gateway.Card{Brand: c.brand, Last4: c.last4, ExpMonth: 12, ExpYear: 2031},
				}
				if !reflect.DeepEqual(pm, want) {
					t.Fatalf("attach %s:\n got %+v %+v\nwant %+v %+v", token, pm, pm.Card, want, want.Card)
				}
				if strings.Contains(pm.Ref, c.number) {
					t.Fatalf("card number kept in ref %q", pm.Ref)
				}
			})
		}
	}

	t.Run("tok_us_bank_account", func(t *testing.T) {
		pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: "tok_us_bank_account", CustomerRef: "cus_sbx_1"})
		if err != nil {
			t.Fatal(err)
		}
		want := gateway.PaymentMethod{
			Ref: "tok_us_bank_account", CustomerRef: "cus_sbx_1", Type: gateway.TypeUSBankAccount,
			BankAccount: &gateway.BankAccount{
				BankName: "STRIPE TEST BANK", Last4: "6789", RoutingNumber: "110000000",
				Fingerprint: "LstWJFsCK7P349Bg", AccountHolderType: "individual", AccountType: "checking",
			},
		}
		if !reflect.DeepEqual(pm, want) {
			t.Fatalf("got %+v %+v, want %+v %+v", pm, pm.BankAccount, want, want.BankAccount)
		}
	})
}

func TestAttachCardExtrasAndAliases(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{
		Token: "4242 4242 4242 4242", CustomerRef: "cus_x",
		CardExp: "0829", WalletType: gateway.WalletApplePay, CardNumberMasked: "424242******4242",
	})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Ref != "tok_visa" || pm.Card.ExpMonth != 8 || pm.Card.ExpYear != 2029 || pm.Card.WalletType != "apple_pay" {
		t.Fatalf("got %+v %+v", pm, pm.Card)
	}
	for alias, want := range map[string]string{
		"pm_card_visa":                      "tok_visa",
		"pm_card_chargeDeclined":            "tok_chargeDeclined",
		"tok_chargeDeclinedProcessingError": "tok_processingError",
		"pm_usBankAccount":                  "tok_us_bank_account",
	} {
		pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: alias, CustomerRef: "cus_x"})
		if err != nil || pm.Ref != want {
			t.Errorf("attach %s = %q, %v; want %s", alias, pm.Ref, err, want)
		}
	}
}

func TestAttachCreatesDerivedCustomer(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	attach := func(c gateway.Customer) string {
		t.Helper()
		pm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: "tok_visa", Customer: c})
		if err != nil {
			t.Fatal(err)
		}
		return pm.CustomerRef
	}
	a := attach(gateway.Customer{ID: "cus_a", Email: "a@example.com"})
	if !strings.HasPrefix(a, "cus_sbx_") || len(a) != len("cus_sbx_")+24 {
		t.Fatalf("customer ref %q", a)
	}
	if again := attach(gateway.Customer{ID: "cus_a", Email: "a@example.com"}); again != a {
		t.Fatalf("same customer got %q then %q", a, again)
	}
	if b := attach(gateway.Customer{ID: "cus_b", Email: "a@example.com"}); b == a {
		t.Fatalf("different customers share %q", a)
	}
}

func TestAttachRejects(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	// Numbers that can be card numbers (Luhn-valid) are never echoed.
	for _, token := range []string{"tok_nope", "pm_123", "4111111111111111", "4000000000000036"} {
		_, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{Token: token, CustomerRef: "cus_x"})
		if !errors.Is(err, gateway.ErrInvalidToken) {
			t.Errorf("attach %s: err %v, want ErrInvalidToken", token, err)
		}
		if err != nil && len(token) > 12 && strings.Contains(err.Error(), token) {
			t.Errorf("error echoes the card number: %v", err)
		}
	}
	bad := []gateway.AttachRequest{
		{Token: ""},
		{Token: "tok_visa", CardNumberMasked: "4242424242424242"},
		{Token: "tok_visa", CardExp: "1329"},
		{Token: "tok_visa", WalletType: "samsung_pay"},
	}
	for _, req := range bad {
		_, err := g.AttachPaymentMethod(ctx, req)
		if !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Errorf("attach %+v: err %v, want ErrInvalidRequest", req, err)
		}
		if err != nil && strings.Contains(err.Error(), "4242424242424242") {
			t.Errorf("error echoes the card number: %v", err)
		}
	}
}

func TestDetach(t *testing.T) {
	g := newGateway()
	if err := g.DetachPaymentMethod(context.Background(), "tok_visa"); err != nil {
		t.Fatal(err)
	}
	if err := g.DetachPaymentMethod(context.Background(), "pm_unknown"); !errors.Is(err, gateway.ErrNoSuchPaymentMethod) {
		t.Fatalf("err %v, want ErrNoSuchPaymentMethod", err)
	}
}

func charge(pm string, amount int64, currency, key string) gateway.ChargeRequest {
	return gateway.ChargeRequest{
		Amount: amount, Currency: currency, PaymentMethodRef: pm,
		CustomerRef: "cus_x", IdempotencyKey: key, Description: "Invoice 42",
	}
}

func TestChargeOutcomes(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	cardFee := []string{"Card processing: 2.9% + 0.30 USD"}
	tests := []struct {
		pm   string
		want gateway.ChargeResult
	}{
		{"tok_visa", gateway.ChargeResult{Outcome: gateway.Approved, Message: "Payment succeeded.", Fee: 59, FeeDetails: cardFee,
			Source: "card", AvailableOn: t0.Add(48 * time.Hour)}},
		{"tok_mastercard", gateway.ChargeResult{Outcome: gateway.Approved, Message: "Payment succeeded.", Fee: 59, FeeDetails: cardFee,
			Source: "card", AvailableOn: t0.Add(48 * time.Hour)}},
		{"tok_amex", gateway.ChargeResult{Outcome: gateway.Approved, Message: "Payment succeeded.", Fee: 59, FeeDetails: cardFee,
			Source: "card", AvailableOn: t0.Add(48 * time.Hour)}},
		{"tok_chargeDeclined", gateway.ChargeResult{Outcome: gateway.Declined, DeclineCode: "card_declined",
			Message: "Your card was declined.", Source: "card"}},
		{"tok_chargeDeclinedInsufficientFunds", gateway.ChargeResult{Outcome: gateway.Declined, DeclineCode: "insufficient_funds",
			Message: "Your card has insufficient funds.", Source: "card"}},
		{"tok_chargeDeclinedExpiredCard", gateway.ChargeResult{Outcome: gateway.Declined, DeclineCode: "expired_card",
			Message: "Your card has expired.", Source: "card"}},
		{"tok_processingError", gateway.ChargeResult{Outcome: gateway.Unconfirmed, DeclineCode: "processing_error",
			Message: "An error occurred while processing your card. Try again in a little bit.", Source: "card"}},
		{"tok_us_bank_account", gateway.ChargeResult{Outcome: gateway.Approved, Message: "Payment succeeded.", Fee: 8,
			FeeDetails: []string{"ACH Direct Debit: 0.8%, capped at 5.00 USD"}, Source: "bank_account",
			AvailableOn: t0.Add(96 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.pm, func(t *testing.T) {
			key := "attempt-" + tt.pm
			got, err := g.Charge(ctx, charge(tt.pm, 1000, "USD", key))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.ChargeRef = sandbox.ChargeRef(key)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFees(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	tests := []struct {
		pm       string
		amount   int64
		currency string
		fee      int64
	}{
		{"tok_visa", 1000, "USD", 59},   // 29 + 30
		{"tok_visa", 1, "USD", 30},      // 0.029 + 30 → 30
		{"tok_visa", 50, "USD", 31},     // 1.45 + 30 → 31.45 → 31
		{"tok_visa", 100, "USD", 33},    // 2.9 + 30 → 32.9 → 33
		{"tok_visa", 1050, "USD", 60},   // 30.45 + 30 → 60.45 → 60
		{"tok_visa", 1069, "USD", 61},   // 31.001 + 30 → 61
		{"tok_visa", 1500, "USD", 74},   // 43.5 + 30 → 73.5 → 74
		{"tok_visa", 2500, "USD", 103},  // 72.5 + 30 → 102.5 → 103 (half-up; half-even gives 102)
		{"tok_visa", 1000, "EUR", 59},   // same exponent, same fee
		{"tok_visa", 1000, "JPY", 29},   // 29 + 0.3 → 29.3 → 29
		{"tok_visa", 1010, "JPY", 30},   // 29.29 + 0.3 → 29.59 → 30
		{"tok_visa", 10000, "KWD", 590}, // 290 + 300 fils
		{"tok_us_bank_account", 2000, "USD", 16},
		{"tok_us_bank_account", 1, "USD", 0},       // 0.008 → 0
		{"tok_us_bank_account", 62, "USD", 0},      // 0.496 → 0
		{"tok_us_bank_account", 63, "USD", 1},      // 0.504 → 1
		{"tok_us_bank_account", 1062, "USD", 8},    // 8.496 → 8
		{"tok_us_bank_account", 1063, "USD", 9},    // 8.504 → 9
		{"tok_us_bank_account", 62500, "USD", 500}, // exactly the cap
		{"tok_us_bank_account", 100000, "USD", 500},
		{"tok_us_bank_account", 10_000_000_00, "USD", 500},
	}
	for _, tt := range tests {
		got, err := g.Charge(ctx, charge(tt.pm, tt.amount, tt.currency, "k"))
		if err != nil {
			t.Fatalf("%s %d %s: %v", tt.pm, tt.amount, tt.currency, err)
		}
		if got.Fee != tt.fee {
			t.Errorf("%s %d %s: fee %d, want %d", tt.pm, tt.amount, tt.currency, got.Fee, tt.fee)
		}
		if got.Net(tt.amount) != tt.amount-tt.fee {
			t.Errorf("net %d", got.Net(tt.amount))
		}
	}
	got, _ := g.Charge(ctx, charge("tok_visa", 1000, "USD", "k"))
	if got.Net(1000) != 941 {
		t.Fatalf("net of 1000 USD = %d, want 941", got.Net(1000))
	}
}

func TestSettlementFollowsTheClock(t *testing.T) {
	ctx := context.Background()
	now := t0
	g := sandbox.New(func() time.Time { return now })
	a, _ := g.Charge(ctx, charge("tok_visa", 1000, "USD", "a"))
	now = now.Add(30 * 24 * time.Hour) // a test clock advanced by a month
	b, _ := g.Charge(ctx, charge("tok_visa", 1000, "USD", "b"))
	ach, _ := g.Charge(ctx, charge("tok_us_bank_account", 1000, "USD", "c"))
	if want := t0.Add(2 * 24 * time.Hour); !a.AvailableOn.Equal(want) {
		t.Errorf("card settles %v, want %v", a.AvailableOn, want)
	}
	if want := now.Add(2 * 24 * time.Hour); !b.AvailableOn.Equal(want) {
		t.Errorf("card settles %v, want %v", b.AvailableOn, want)
	}
	if want := now.Add(4 * 24 * time.Hour); !ach.AvailableOn.Equal(want) {
		t.Errorf("ach settles %v, want %v", ach.AvailableOn, want)
	}
}

func TestChargeIsDeterministic(t *testing.T) {
	ctx := context.Background()
	first, _ := newGateway().Charge(ctx, charge("tok_visa", 1000, "USD", "inv_1/attempt_1"))
	// A fresh gateway stands for a restart: nothing is remembered, the
	// answer is the same.
	again, _ := newGateway().Charge(ctx, charge("tok_visa", 1000, "USD", "inv_1/attempt_1"))
	other, _ := newGateway().Charge(ctx, charge("tok_visa", 1000, "USD", "inv_1/attempt_2"))
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("same key, different answers:\n%+v\n%+v", first, again)
	}
	if first.ChargeRef == other.ChargeRef {
		t.Fatalf("different keys share charge %s", first.ChargeRef)
	}
	if first.ChargeRef != sandbox.ChargeRef("inv_1/attempt_1") {
		t.Fatalf("charge ref %q, want %q", first.ChargeRef, sandbox.ChargeRef("inv_1/attempt_1"))
	}
	// sha256("abc") = ba7816bf8f01cfea414140de5dae2223…
	if got := sandbox.ChargeRef("abc"); got != "ch_sbx_ba7816bf8f01cfea414140de" {
		t.Fatalf("ChargeRef(abc) = %s", got)
	}
}

func TestChargeRejects(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	tests := []struct {
		name string
		req  gateway.ChargeRequest
		want error
	}{
		{"zero amount", charge("tok_visa", 0, "USD", "k"), gateway.ErrInvalidRequest},
		{"negative amount", charge("tok_visa", -5, "USD", "k"), gateway.ErrInvalidRequest},
		{"unknown currency", charge("tok_visa", 100, "XYZ", "k"), gateway.ErrInvalidRequest},
		{"lower-case currency", charge("tok_visa", 100, "usd", "k"), gateway.ErrInvalidRequest},
		{"no key", charge("tok_visa", 100, "USD", ""), gateway.ErrInvalidRequest},
		{"long key", charge("tok_visa", 100, "USD", strings.Repeat("k", 256)), gateway.ErrInvalidRequest},
		{"no payment method", charge("", 100, "USD", "k"), gateway.ErrInvalidRequest},
		{"unknown payment method", charge("pm_nope", 100, "USD", "k"), gateway.ErrNoSuchPaymentMethod},
		{"raw card number", charge("4242424242424242", 100, "USD", "k"), gateway.ErrNoSuchPaymentMethod},
		{"ach in euros", charge("tok_us_bank_account", 100, "EUR", "k"), gateway.ErrInvalidRequest},
	}
	for _, tt := range tests {
		_, err := g.Charge(ctx, tt.req)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "4242424242424242") {
			t.Errorf("%s: error echoes the card number: %v", tt.name, err)
		}
	}
}

func TestChargeStatus(t *testing.T) {
	ctx := context.Background()
	g := newGateway()

	t.Run("processing error resolves to declined", func(t *testing.T) {
		req := charge("tok_processingError", 1000, "USD", "pe-1")
		first, err := g.Charge(ctx, req)
		if err != nil || first.Outcome != gateway.Unconfirmed {
			t.Fatalf("charge: %+v, %v", first, err)
		}
		st, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: req, ChargeRef: first.ChargeRef, SentAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		want := gateway.ChargeResult{Outcome: gateway.Declined, ChargeRef: first.ChargeRef, DeclineCode: "processing_error",
			Message: "An error occurred while processing your card. Try again in a little bit.", Source: "card"}
		if !reflect.DeepEqual(st, want) {
			t.Fatalf("\n got %+v\nwant %+v", st, want)
		}
	})

	t.Run("approved stays approved, same result", func(t *testing.T) {
		req := charge("tok_visa", 1000, "USD", "ok-1")
		first, _ := g.Charge(ctx, req)
		later := sandbox.New(func() time.Time { return t0.Add(time.Hour) }) // restarted, clock moved on
		st, err := later.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: req, SentAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st, first) {
			t.Fatalf("\n got %+v\nwant %+v", st, first)
		}
	})

	t.Run("declined stays declined", func(t *testing.T) {
		st, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: charge("tok_chargeDeclinedInsufficientFunds", 1000, "USD", "d-1")})
		if err != nil || st.Outcome != gateway.Declined || st.DeclineCode != "insufficient_funds" {
			t.Fatalf("%+v, %v", st, err)
		}
	})

	t.Run("ref of another key", func(t *testing.T) {
		_, err := g.ChargeStatus(ctx, gateway.StatusRequest{ChargeRequest: charge("tok_visa", 1000, "USD", "x"), ChargeRef: sandbox.ChargeRef("y")})
		if !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Fatalf("err %v, want ErrInvalidRequest", err)
		}
	})
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	g := newGateway()
	ch, _ := g.Charge(ctx, charge("tok_visa", 1000, "USD", "c"))
	req := gateway.RefundRequest{ChargeRef: ch.ChargeRef, Amount: 400, Currency: "USD", IdempotencyKey: "r1", Reason: "requested_by_customer"}
	a, err := g.Refund(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Outcome != gateway.Approved || a.RefundRef != "re_sbx_"+sandbox.ChargeRef("r1")[len("ch_sbx_"):] || a.RefundRef != sandbox.RefundRef("r1") {
		t.Fatalf("refund %+v", a)
	}
	b, _ := newGateway().Refund(ctx, req)
	if b != a {
		t.Fatalf("same key, different refunds: %+v %+v", a, b)
	}
	req.IdempotencyKey = "r2"
	if c, _ := g.Refund(ctx, req); c.RefundRef == a.RefundRef {
		t.Fatalf("different keys share refund %s", a.RefundRef)
	}
	for _, bad := range []gateway.RefundRequest{
		{ChargeRef: "ch_other", Amount: 1, Currency: "USD", IdempotencyKey: "k"},
		{ChargeRef: ch.ChargeRef, Amount: 0, Currency: "USD", IdempotencyKey: "k"},
		{ChargeRef: ch.ChargeRef, Amount: 1, Currency: "???", IdempotencyKey: "k"},
		{ChargeRef: ch.ChargeRef, Amount: 1, Currency: "USD"},
		{Amount: 1, Currency: "USD", IdempotencyKey: "k"},
	} {
		if _, err := g.Refund(ctx, bad); !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Errorf("refund %+v: err %v, want ErrInvalidRequest", bad, err)
		}
	}
}

func TestNewNeedsAClock(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(nil) did not panic")
		}
	}()
	sandbox.New(nil)
}

func TestName(t *testing.T) {
	var g gateway.Gateway = newGateway()
	if g.Name() != "sandbox" {
		t.Fatal(g.Name())
	}
}
