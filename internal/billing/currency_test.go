package billing

import (
	"strings"
	"testing"
)

func TestNormalizeCurrency(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"USD", "USD", true},
		{"usd", "USD", true},
		{"Jpy", "JPY", true},
		{"kwd", "KWD", true},
		{"ILS", "ILS", true},
		{"XYZ", "", false},
		{"", "", false},
		{"US", "", false},
		{"USDX", "", false},
		{" usd", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeCurrency(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeCurrency(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+tt.in+`"`) {
			t.Errorf("NormalizeCurrency(%q) error %q does not name the code", tt.in, err)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{"USD", 2}, {"usd", 2}, {"EUR", 2}, {"ILS", 2},
		{"JPY", 0}, {"KRW", 0},
		{"KWD", 3}, {"BHD", 3},
		{"XYZ", -1}, {"", -1},
	}
	for _, tt := range tests {
		if got := MinorUnits(tt.code); got != tt.want {
			t.Errorf("MinorUnits(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	const nbsp = "\u00a0"
	tests := []struct {
		amount int64
		code   string
		want   string
	}{
		{1000, "USD", "$10.00"},
		{1000, "usd", "$10.00"},
		{5, "USD", "$0.05"},
		{-1050, "USD", "-$10.50"},
		{123456789, "USD", "$1,234,567.89"},
		{1000, "JPY", "¥1,000"},
		{1234, "KWD", "KWD" + nbsp + "1.234"},
		{1000, "EUR", "€10.00"},
		{1000, "ILS", "₪10.00"},
		{1000, "XYZ", "1000 XYZ"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.amount, tt.code); got != tt.want {
			t.Errorf("FormatAmount(%d, %q) = %q, want %q", tt.amount, tt.code, got, tt.want)
		}
	}
}

func TestMajorString(t *testing.T) {
	tests := []struct {
		amount int64
		code   string
		want   string
	}{
		{1000, "USD", "10.00"},
		{5, "USD", "0.05"},
		{0, "USD", "0.00"},
		{-1050, "USD", "-10.50"},
		{1000, "JPY", "1000"},
		{1234, "KWD", "1.234"},
		{1000, "XYZ", "1000"},
	}
	for _, tt := range tests {
		if got := MajorString(tt.amount, tt.code); got != tt.want {
			t.Errorf("MajorString(%d, %q) = %q, want %q", tt.amount, tt.code, got, tt.want)
		}
	}
}
