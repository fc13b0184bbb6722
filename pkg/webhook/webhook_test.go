package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	secret    = "whsec_new"
	oldSecret = "whsec_old"
)

var (
	body = []byte(`{"id":"evt_1","event":"customer.created","data":{"id":"cus_1"}}`)
	now  = time.Unix(1735689600, 0)
)

// refMAC computes the v1 value directly with crypto/hmac, independently of
// the package's code.
func refMAC(key string, t int64, b []byte) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(strconv.FormatInt(t, 10) + "." + string(b)))
	return hex.EncodeToString(h.Sum(nil))
}

func TestVerifyAt(t *testing.T) {
	ts := now.Unix()
	tsS := strconv.FormatInt(ts, 10)
	good := refMAC(secret, ts, body)
	old := refMAC(oldSecret, ts, body)
	other := refMAC("whsec_other", ts, body)

	tests := []struct {
		name      string
		header    string
		body      []byte
		secret    string
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{name: "good", header: "t=" + tsS + ",v1=" + good},
		{name: "good, upper-case hex", header: "t=" + tsS + ",v1=" + strings.ToUpper(good)},
		{name: "tampered body", header: "t=" + tsS + ",v1=" + good, body: []byte(`{"id":"evt_1","event":"customer.deleted","data":{"id":"cus_1"}}`), want: ErrMismatch},
		{name: "body with trailing newline", header: "t=" + tsS + ",v1=" + good, body: append(append([]byte{}, body...), '\n'), want: ErrMismatch},
		{name: "wrong secret", header: "t=" + tsS + ",v1=" + good, secret: "whsec_wrong", want: ErrMismatch},
		{name: "empty secret", header: "t=" + tsS + ",v1=" + refMAC("", ts, body), secret: "-", want: ErrMismatch},
		{name: "tampered timestamp", header: "t=" + strconv.FormatInt(ts+1, 10) + ",v1=" + good, want: ErrMismatch},
		{name: "two v1, new first, verify with new", header: "t=" + tsS + ",v1=" + good + ",v1=" + old},
		{name: "two v1, old first, verify with new", header: "t=" + tsS + ",v1=" + old + ",v1=" + good},
		{name: "two v1, verify with old", header: "t=" + tsS + ",v1=" + good + ",v1=" + old, secret: oldSecret},
		{name: "two v1, neither matches", header: "t=" + tsS + ",v1=" + old + ",v1=" + other, want: ErrMismatch},
		{name: "v1 before t", header: "v1=" + good + ",t=" + tsS},
		{name: "v0 ignored", header: "t=" + tsS + ",v0=" + other + ",v1=" + good},
		{name: "only v0", header: "t=" + tsS + ",v0=" + good, want: ErrNoSignature},
		{name: "v1 not hex", header: "t=" + tsS + ",v1=zz" + good[2:], want: ErrMismatch},
		{name: "v1 truncated", header: "t=" + tsS + ",v1=" + good[:62], want: ErrMismatch},
		{name: "v1 empty", header: "t=" + tsS + ",v1=", want: ErrMismatch},
		{name: "whitespace around parts", header: "  t = " + tsS + " ,\tv1= " + good + " , v1 =" + old + "  "},
		{name: "empty parts", header: ",t=" + tsS + ",,v1=" + good + ","},
		{name: "stale", header: "t=" + tsS + ",v1=" + good, tolerance: DefaultTolerance, now: now.Add(DefaultTolerance + time.Second), want: ErrTimestamp},
		{name: "future", header: "t=" + tsS + ",v1=" + good, tolerance: DefaultTolerance, now: now.Add(-DefaultTolerance - time.Second), want: ErrTimestamp},
		{name: "at the edge, old", header: "t=" + tsS + ",v1=" + good, tolerance: DefaultTolerance, now: now.Add(DefaultTolerance)},
		{name: "at the edge, future", header: "t=" + tsS + ",v1=" + good, tolerance: DefaultTolerance, now: now.Add(-DefaultTolerance)},
		{name: "tolerance 0 skips the time check", header: "t=" + tsS + ",v1=" + good, now: now.Add(1000 * time.Hour)},
		{name: "stale and wrong secret", header: "t=" + tsS + ",v1=" + other, tolerance: time.Minute, now: now.Add(time.Hour), want: ErrTimestamp},
		{name: "missing t", header: "v1=" + good, want: ErrNoSignature},
		{name: "two t", header: "t=" + tsS + ",t=" + tsS + ",v1=" + good, want: ErrNoSignature},
		{name: "t not a number", header: "t=abc,v1=" + good, want: ErrNoSignature},
		{name: "t signed", header: "t=+" + tsS + ",v1=" + good, want: ErrNoSignature},
		{name: "t empty", header: "t=,v1=" + good, want: ErrNoSignature},
		{name: "t out of range", header: "t=99999999999999999999,v1=" + good, want: ErrNoSignature},
		{name: "missing v1", header: "t=" + tsS, want: ErrNoSignature},
		{name: "empty header", header: "", want: ErrNoSignature},
		{name: "blank header", header: "   ", want: ErrNoSignature},
		{name: "garbage header", header: "garbage", want: ErrNoSignature},
		{name: "garbage with separators", header: "=,=,,==", want: ErrNoSignature},
		{name: "semicolons instead of commas", header: "t=" + tsS + ";v1=" + good, want: ErrNoSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.body
			if b == nil {
				b = body
			}
			s := tc.secret
			switch s {
			case "":
				s = secret
			case "-":
				s = ""
			}
			n := tc.now
			if n.IsZero() {
				n = now
			}
			err := VerifyAt(b, tc.header, s, tc.tolerance, n)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyAt(%q) = %v, want nil", tc.header, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAt(%q) = %v, want %v", tc.header, err, tc.want)
			}
			for _, other := range []error{ErrNoSignature, ErrTimestamp, ErrMismatch} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("VerifyAt(%q) = %v, is also %v", tc.header, err, other)
				}
			}
		})
	}
}

func TestVerifyUsesNow(t *testing.T) {
	fresh := Sign(secret, time.Now(), body)
	if err := Verify(body, fresh, secret, DefaultTolerance); err != nil {
		t.Fatalf("Verify(fresh) = %v", err)
	}
	stale := Sign(secret, time.Now().Add(-time.Hour), body)
	if err := Verify(body, stale, secret, DefaultTolerance); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("Verify(stale) = %v, want ErrTimestamp", err)
	}
	if err := Verify(body, stale, secret, 0); err != nil {
		t.Fatalf("Verify(stale, tolerance 0) = %v", err)
	}
}

// TestSignMatchesIndependentHMAC checks Sign's output against HMACs computed
// with crypto/hmac directly and against a vector computed with openssl:
//
//	printf '%s.%s' 1735689600 '{"id":"evt_1","event":"customer.created"}' | openssl dgst -sha256 -hmac whsec_test -hex
func TestSignMatchesIndependentHMAC(t *testing.T) {
	const vector = "t=1735689600,v1=2226a358e3313d5f0040fdfa3eb1f77015c7d6746d8599bf012fe2264a7fd4d2"
	if got := Sign("whsec_test", time.Unix(1735689600, 0), []byte(`{"id":"evt_1","event":"customer.created"}`)); got != vector {
		t.Errorf("Sign(openssl vector) = %q, want %q", got, vector)
	}

	at := now.Add(700 * time.Millisecond) // sub-second part is dropped
	ts := now.Unix()

	got := Sign(secret, at, body)
	want := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + refMAC(secret, ts, body)
	if got != want {
		t.Errorf("Sign(one secret) = %q, want %q", got, want)
	}

	got = Sign(secret, at, body, oldSecret)
	want = "t=" + strconv.FormatInt(ts, 10) + ",v1=" + refMAC(secret, ts, body) + ",v1=" + refMAC(oldSecret, ts, body)
	if got != want {
		t.Errorf("Sign(two secrets) = %q, want %q", got, want)
	}

	got = Sign(secret, at, body, "")
	want = "t=" + strconv.FormatInt(ts, 10) + ",v1=" + refMAC(secret, ts, body)
	if got != want {
		t.Errorf("Sign(empty extra secret) = %q, want %q", got, want)
	}

	got = Sign(secret, at, nil)
	want = "t=" + strconv.FormatInt(ts, 10) + ",v1=" + refMAC(secret, ts, nil)
	if got != want {
		t.Errorf("Sign(empty body) = %q, want %q", got, want)
	}

	for _, h := range []string{Sign(secret, at, body, oldSecret), Sign(oldSecret, at, body, secret)} {
		for _, s := range []string{secret, oldSecret} {
			if err := VerifyAt(body, h, s, DefaultTolerance, now); err != nil {
				t.Errorf("VerifyAt(%q, %s) = %v", h, s, err)
			}
		}
		if err := VerifyAt(body, h, "whsec_other", DefaultTolerance, now); !errors.Is(err, ErrMismatch) {
			t.Errorf("VerifyAt(%q, other secret) = %v, want ErrMismatch", h, err)
		}
	}
}

func TestSignIsLowerCaseHex(t *testing.T) {
	h := Sign(secret, now, body, oldSecret)
	for part := range strings.SplitSeq(h, ",") {
		k, v, _ := strings.Cut(part, "=")
		if k != "v1" {
			continue
		}
		if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
			t.Errorf("v1 %q is not 64 lower-case hex digits", v)
		}
	}
}

func FuzzVerifyAt(f *testing.F) {
	f.Add("t=1735689600,v1=" + refMAC(secret, 1735689600, body))
	f.Add("t=1,v1=,v0=x,,=")
	f.Fuzz(func(t *testing.T, header string) {
		err := VerifyAt(body, header, secret, DefaultTolerance, now)
		if err != nil && !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrTimestamp) && !errors.Is(err, ErrMismatch) {
			t.Fatalf("VerifyAt(%q) = %v: not one of the sentinel errors", header, err)
		}
	})
}
