// Package webhook verifies (and produces) the signature Kassa puts on every
// webhook delivery, so a merchant's receiver can tell a genuine delivery from
// a forged or replayed one. It depends on the standard library only.
//
// # The signature
//
// Each delivery is a POST whose body is a JSON event envelope. It carries the
// header
//
//	Chaching-Signature: t=1735689600,v1=2226a358e3313d5f0040fdfa3eb1f77015c7d6746d8599bf012fe2264a7fd4d2
//
// (this one signs the body {"id":"evt_1","event":"customer.created"} with the
// secret whsec_test), where t is the Unix time in seconds of the delivery
// attempt (each retry is signed afresh) and v1 is the lower-case hex
// HMAC-SHA256, keyed with the account's webhook signing secret (the whole
// "whsec_…" string, prefix included, as returned by GET /account/keys), of the
// timestamp, a full stop and the raw body bytes:
//
//	v1 = hex(HMAC-SHA256(secret, t + "." + body))
//
// The header may carry several v1 values, in any order: for 24 hours after the
// signing secret is rolled Kassa signs every delivery with both the new and
// the old secret, so a receiver that still knows only one of them keeps
// working. A delivery is genuine when any v1 value matches. Schemes other than
// v1 (for example v0=) are ignored.
//
// # Verifying in Go
//
// Read the raw body before decoding it (re-encoding parsed JSON does not give
// the same bytes back), then call [Verify]:
//
//	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//	if err != nil {
//		http.Error(w, "cannot read body", http.StatusBadRequest)
//		return
//	}
//	err = webhook.Verify(body, r.Header.Get(webhook.HeaderName), secret, webhook.DefaultTolerance)
//	if err != nil {
//		http.Error(w, "bad signature", http.StatusBadRequest)
//		return
//	}
//	// decode body, handle the event, answer 2xx quickly
//
// The tolerance bounds how far the signed timestamp may be from the
// receiver's clock, in either direction, which limits how long a captured
// delivery can be replayed. [DefaultTolerance] is five minutes; a tolerance of
// zero (or less) disables the check. Because deliveries are retried and are
// at least once, a receiver should also ignore an event id it has already
// processed.
//
// The errors are [ErrNoSignature] (the header is missing or malformed),
// [ErrTimestamp] (the timestamp is outside the tolerance) and [ErrMismatch]
// (no v1 value matches the secret); test for them with [errors.Is].
//
// # Verifying from a shell
//
// With the body saved byte for byte in body.json and t taken from the header:
//
//	t=1735689600
//	secret='whsec_...'
//	{ printf '%s.' "$t"; cat body.json; } | openssl dgst -sha256 -hmac "$secret" -hex
//
// or, when the body is in a shell variable (which cannot hold NUL bytes and
// loses trailing newlines in command substitution):
//
//	printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$secret" -hex
//
// openssl prints "SHA2-256(stdin)= <hex>" (older versions "(stdin)= <hex>");
// the hex part must equal one of the v1 values. Add -r to get just
// "<hex> *stdin".
//
// # Signing
//
// [Sign] builds the header value. Kassa's delivery code uses it; merchants
// can use it to produce deliveries in their own tests.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HeaderName is the HTTP header that carries the signature.
const HeaderName = "Chaching-Signature"

// DefaultTolerance is the recommended maximum distance between the signed
// timestamp and the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Errors returned by [Verify] and [VerifyAt], possibly wrapped with detail;
// test for them with [errors.Is].
var (
	// ErrNoSignature: the header is missing or malformed (no t, an
	// unparseable t, or no v1 value).
	ErrNoSignature = errors.New("webhook: missing or malformed signature header")
	// ErrTimestamp: the signed timestamp is older or newer than the tolerance
	// allows.
	ErrTimestamp = errors.New("webhook: signature timestamp outside tolerance")
	// ErrMismatch: no v1 value matches the body signed with the secret.
	ErrMismatch = errors.New("webhook: signature mismatch")
)

// Verify checks that header (the value of the [HeaderName] header) is a valid
// signature of body made with secret at a time within tolerance of now. It
// returns nil for a genuine delivery, otherwise an error that [errors.Is]
// [ErrNoSignature], [ErrTimestamp] or [ErrMismatch]. A tolerance of zero or
// less disables the timestamp check. body must be the raw request body, byte
// for byte.
func Verify(body []byte, header, secret string, tolerance time.Duration) error {
	return VerifyAt(body, header, secret, tolerance, time.Now())
}

// VerifyAt is [Verify] with the receiver's clock reading given as now.
//
// The header is split on ',' and each part on its first '='; whitespace
// around parts, keys and values is ignored. It must contain exactly one t
// (decimal Unix seconds) and at least one v1; other keys are ignored. The
// signed payload uses the t value exactly as it appears in the header. Each v1
// is compared in constant time with [hmac.Equal]. An empty secret never
// matches.
func VerifyAt(body []byte, header, secret string, tolerance time.Duration, now time.Time) error {
	ts, unix, sigs, err := parseHeader(header)
	if err != nil {
		return err
	}
	if tolerance > 0 {
		signed := time.Unix(unix, 0)
		if d := now.Sub(signed); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed at %s, %s from now, tolerance %s",
				ErrTimestamp, signed.UTC().Format(time.RFC3339), d.Truncate(time.Second), tolerance)
		}
	}
	if secret == "" {
		return fmt.Errorf("%w: empty secret", ErrMismatch)
	}
	expected := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err != nil {
			continue
		}
		if hmac.Equal(got, expected) {
			ok = true // keep going: the time taken does not depend on which one matched
		}
	}
	if !ok {
		return ErrMismatch
	}
	return nil
}

// parseHeader returns the raw t value, its numeric value and the v1 values.
func parseHeader(header string) (ts string, unix int64, sigs []string, err error) {
	if strings.TrimSpace(header) == "" {
		return "", 0, nil, fmt.Errorf("%w: header is empty", ErrNoSignature)
	}
	haveT := false
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, found := strings.Cut(part, "=")
		if !found {
			continue // not key=value; tolerated like an unknown scheme
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "t":
			if haveT {
				return "", 0, nil, fmt.Errorf("%w: more than one t", ErrNoSignature)
			}
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || v == "" || v[0] < '0' || v[0] > '9' {
				return "", 0, nil, fmt.Errorf("%w: t is not a Unix time in seconds", ErrNoSignature)
			}
			ts, unix, haveT = v, n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !haveT {
		return "", 0, nil, fmt.Errorf("%w: no t", ErrNoSignature)
	}
	if len(sigs) == 0 {
		return "", 0, nil, fmt.Errorf("%w: no v1", ErrNoSignature)
	}
	return ts, unix, sigs, nil
}

// Sign returns the value of the [HeaderName] header for body delivered at t:
// "t=<unix seconds>,v1=<hex>" with one v1 per secret, secret first and then
// extraSecrets in the given order. Kassa signs with the current secret and,
// for 24 hours after a roll, also with the previous one as an extra secret.
// Empty extra secrets are skipped. The sub-second part of t is dropped.
func Sign(secret string, t time.Time, body []byte, extraSecrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.Grow(len("t=") + len(ts) + (1+len(extraSecrets))*(len(",v1=")+2*sha256.Size))
	b.WriteString("t=")
	b.WriteString(ts)
	for i, s := range append([]string{secret}, extraSecrets...) {
		if i > 0 && s == "" {
			continue
		}
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// mac is HMAC-SHA256(secret, ts + "." + body).
func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
