package billing

import (
	"errors"
	"strings"
	"testing"

	"github.com/govalues/decimal"
)

func TestParsePercentage(t *testing.T) {
	valid := []struct{ in, want string }{
		{"7.25", "7.25"},
		{"17", "17"},
		{"8.875", "8.875"},
		{"0", "0"},
		{"100", "100"},
		{"100.0000", "100"},
		{"7.0625", "7.0625"},
		{"7.250000", "7.25"}, // trailing zeros are not precision
		{"0.0001", "0.0001"},
	}
	for _, tt := range valid {
		got, err := ParsePercentage(tt.in)
		if err != nil {
			t.Errorf("ParsePercentage(%q): %v", tt.in, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("ParsePercentage(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}

	invalid := []struct{ in, msg string }{
		{"-1", "percentage must not be negative"},
		{"-0.0001", "percentage must not be negative"},
		{"100.0001", "percentage must not be greater than 100"},
		{"101", "percentage must not be greater than 100"},
		{"7.12345", "percentage must not have more than 4 decimal places"},
		{"abc", "is not a number"},
		{"", "percentage must not be empty"},
	}
	for _, tt := range invalid {
		_, err := ParsePercentage(tt.in)
		if !errors.Is(err, ErrInvalidPercentage) {
			t.Errorf("ParsePercentage(%q) error = %v, want ErrInvalidPercentage", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParsePercentage(%q) error %q, want it to say %q", tt.in, err, tt.msg)
		}
	}
}

func TestPercentFee(t *testing.T) {
	tests := []struct {
		amount  int64
		percent string
		want    int64
	}{
		{1000, "2.9", 29},
		{1050, "2.9", 30},   // 30.45
		{1500, "2.9", 44},   // 43.5 rounds up
		{-1500, "2.9", -44}, // refunds mirror the fee
		{0, "2.9", 0},
		{1, "49.9999", 0},
		{1, "50", 1},
		{12345, "0", 0},
	}
	for _, tt := range tests {
		if got := PercentFee(tt.amount, decimal.MustParse(tt.percent)); got != tt.want {
			t.Errorf("PercentFee(%d, %s) = %d, want %d", tt.amount, tt.percent, got, tt.want)
		}
	}
}
