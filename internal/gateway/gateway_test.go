package gateway_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/gateway"
)

func TestRedactToken(t *testing.T) {
	for in, want := range map[string]string{
		"tok_visa":                "tok_visa",
		"pm_1Q0PsIJvEtkwdCNYMSaV": "pm_1Q0PsIJvEtkwdCNYMSaV",
		"4242424242424242":        "****4242",
		"4242 4242 4242 4242":     "****4242",
		"4000-0000-0000-0002":     "****0002",
		"x4000000000000119y":      "x****0119y",
		"1234567":                 "1234567",
	} {
		if got := gateway.RedactToken(in); got != want {
			t.Errorf("RedactToken(%q) = %q, want %q", in, got, want)
		}
	}
	if got := gateway.RedactToken(strings.Repeat("é", 100)); len([]rune(got)) != 65 {
		t.Errorf("long token not cut: %d runes", len([]rune(got)))
	}
}

func TestCurrencyDigits(t *testing.T) {
	for code, want := range map[string]int{"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3} {
		if got, err := gateway.CurrencyDigits(code); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", code, got, err, want)
		}
	}
	for _, bad := range []string{"", "usd", "US", "XYZ", "USDD"} {
		if _, err := gateway.CurrencyDigits(bad); !errors.Is(err, gateway.ErrInvalidRequest) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := gateway.ChargeRequest{Amount: 1, Currency: "USD", PaymentMethodRef: "pm_1", IdempotencyKey: "k"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	attach := gateway.AttachRequest{Token: "tok_visa", CardNumberMasked: "424242******4242", CardExp: "1230", WalletType: "google_pay"}
	if err := attach.Validate(); err != nil {
		t.Fatal(err)
	}
	attach.CardNumberMasked = "4242424242424242"
	err := attach.Validate()
	if !errors.Is(err, gateway.ErrInvalidRequest) || strings.Contains(err.Error(), "4242424242424242") {
		t.Fatalf("unmasked card number: %v", err)
	}
}
