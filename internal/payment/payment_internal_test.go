package payment

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/gateway"
)

func TestBackoff(t *testing.T) {
	for checks, want := range map[int]time.Duration{
		-1: 0, 0: 0, 1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 32 * time.Minute, 7: time.Hour, 50: time.Hour,
	} {
		if got := backoff(checks); got != want {
			t.Errorf("backoff(%d) = %v, want %v", checks, got, want)
		}
	}
}

func TestMinimumCharge(t *testing.T) {
	for cur, want := range map[string]int64{"USD": 50, "usd": 50, "EUR": 50, "GBP": 30, "JPY": 50, "HUF": 17500, "MXN": 1000, "ISK": 50} {
		if got := MinimumCharge(cur); got != want {
			t.Errorf("MinimumCharge(%s) = %d, want %d", cur, got, want)
		}
	}
}

func TestChargeParamsValidate(t *testing.T) {
	ok := ChargeParams{CustomerID: "cus_1", Amount: 50, Currency: "usd", IdempotencyKey: "k"}
	if cur, err := ok.validate(); err != nil || cur != "USD" {
		t.Fatalf("valid params: %q, %v", cur, err)
	}
	for name, tc := range map[string]struct {
		mutate func(*ChargeParams)
		kind   apperr.Kind
		code   string
	}{
		"no key":        {func(p *ChargeParams) { p.IdempotencyKey = "" }, apperr.Invalid, ""},
		"no customer":   {func(p *ChargeParams) { p.CustomerID = " " }, apperr.Invalid, ""},
		"zero":          {func(p *ChargeParams) { p.Amount = 0 }, apperr.Invalid, ""},
		"negative":      {func(p *ChargeParams) { p.Amount = -1 }, apperr.Invalid, ""},
		"bad currency":  {func(p *ChargeParams) { p.Currency = "usdollar" }, apperr.Invalid, ""},
		"below minimum": {func(p *ChargeParams) { p.Amount = 49 }, apperr.BadRequest, "AMOUNT_TOO_SMALL"},
		"jpy minimum":   {func(p *ChargeParams) { p.Currency, p.Amount = "JPY", 49 }, apperr.BadRequest, "AMOUNT_TOO_SMALL"},
	} {
		p := ok
		tc.mutate(&p)
		_, err := p.validate()
		if e, isApp := apperr.As(err); !isApp || e.Kind != tc.kind || e.Code != tc.code {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAttachParamsValidate(t *testing.T) {
	s := func(v string) *string { return &v }
	cus := s("cus_1")
	for _, p := range []AttachParams{
		{CustomerID: cus},
		{CustomerID: cus, CardNumber: s("411111******1111"), CardExp: s("0129"), WalletType: s("google_pay"), Zipcode: s("10001")},
	} {
		if err := p.validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []AttachParams{
		{},
		{CustomerID: s("")},
		{CustomerID: cus, CardNumber: s("4111111111111111")},
		{CustomerID: cus, CardNumber: s("411111*1111")},
		{CustomerID: cus, CardExp: s("1329")},
		{CustomerID: cus, CardExp: s("129")},
		{CustomerID: cus, WalletType: s("paypal")},
		{CustomerID: cus, Zipcode: s("12345678901234567")},
	} {
		if err := p.validate(); !apperr.IsKind(err, apperr.Invalid) {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestRefundParamsValidate(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	r := func(v string) *string { return &v }
	for _, p := range []RefundParams{{}, {Amount: n(1)}, {Reason: r("duplicate")}, {Reason: r("fraudulent")}, {Reason: r("requested_by_customer")}} {
		if err := p.validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []RefundParams{{Amount: n(0)}, {Amount: n(-1)}, {Reason: r("")}, {Reason: r("because")}} {
		if err := p.validate(); !apperr.IsKind(err, apperr.Invalid) {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestErrorResult(t *testing.T) {
	for err, code := range map[error]string{
		fmt.Errorf("x: %w", gateway.ErrInvalidRequest):      "invalid_request",
		fmt.Errorf("x: %w", gateway.ErrNoSuchPaymentMethod): "invalid_request",
		errors.New("stripe: 401"):                           "gateway_error",
	} {
		res := errorResult(err)
		if res.Outcome != gateway.Declined || res.DeclineCode != code || res.Message == "" {
			t.Errorf("%v: %+v", err, res)
		}
	}
}
