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
		"378282246310005":         "****0005", // 15 digits (Amex)
		"6011111111111117":        "****1117",
		"4222222222222":           "****2222",             // 13 digits
		"424242424242":            "****4242",             // 12 digits
		"4242424242424241":        "4242424242424241",     // fails the Luhn check
		"424242424243":            "424242424243",         // 12 digits, fails the Luhn check
		"42424242424":             "42424242424",          // 11 digits
		"42424242424242424242":    "42424242424242424242", // 20 digits
		"1234567":                 "1234567",
		// Card-like digits inside an id or a token are not a card number.
		"x4000000000000119y":                   "x4000000000000119y",
		"cus_4242424242424242":                 "cus_4242424242424242",
		"tok_4242424242424242":                 "tok_4242424242424242",
		"12345678-1234-1234-1234-123456789012": "12345678-1234-1234-1234-123456789012",
		"373f788d-3ed4-4242-4242-424242424242": "373f788d-3ed4-4242-4242-424242424242",
	} {
		if got := gateway.RedactToken(in); got != want {
			t.Errorf("RedactToken(%q) = %q, want %q", in, got, want)
		}
	}
	if got := gateway.RedactToken(strings.Repeat("é", 100)); len([]rune(got)) != 65 {
		t.Errorf("long token not cut: %d runes", len([]rune(got)))
	}
	// Every test card number of the sandbox is redacted.
	for _, n := range []string{"4242424242424242", "5555555555554444", "378282246310005", "4000000000000002",
		"4000000000009995", "4000000000000069", "4000000000000119", "4000000000000077"} {
		if got := gateway.RedactCardNumber(n); got != "****"+n[len(n)-4:] {
			t.Errorf("RedactCardNumber(%q) = %q", n, got)
		}
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
