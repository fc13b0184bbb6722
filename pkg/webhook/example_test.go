package webhook_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/kassahq/kassa/pkg/webhook"
)

// A receiver reads the raw body, verifies the signature and only then decodes
// and handles the event.
func Example() {
	secret := "whsec_test" // from GET /account/keys; keep it out of source code

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		err = webhook.Verify(body, r.Header.Get(webhook.HeaderName), secret, webhook.DefaultTolerance)
		switch {
		case errors.Is(err, webhook.ErrTimestamp):
			log.Printf("webhook: stale or future delivery (check the clock): %v", err)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		case err != nil:
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		// Decode body with encoding/json, skip an event id already handled
		// (deliveries are at least once), then answer 2xx quickly.
		w.WriteHeader(http.StatusNoContent)
	})

	// Simulate two deliveries: one signed by Kassa, one forged.
	body := []byte(`{"id":"evt_1","event":"customer.created","data":{}}`)
	for _, header := range []string{
		webhook.Sign(secret, time.Now(), body),
		webhook.Sign("whsec_guess", time.Now(), body),
	} {
		req := httptest.NewRequest(http.MethodPost, "/kassa/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderName, header)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 400
}

// During a secret roll the header carries one v1 per secret; either verifies.
func ExampleSign() {
	body := []byte(`{"id":"evt_1","event":"customer.created"}`)
	t := time.Unix(1735689600, 0)
	header := webhook.Sign("whsec_new", t, body, "whsec_old")

	fmt.Println(webhook.VerifyAt(body, header, "whsec_new", webhook.DefaultTolerance, t))
	fmt.Println(webhook.VerifyAt(body, header, "whsec_old", webhook.DefaultTolerance, t))
	fmt.Println(webhook.VerifyAt(body, header, "whsec_other", webhook.DefaultTolerance, t))
	// Output:
	// <nil>
	// <nil>
	// webhook: signature mismatch
}

func ExampleVerifyAt() {
	header := "t=1735689600,v1=2226a358e3313d5f0040fdfa3eb1f77015c7d6746d8599bf012fe2264a7fd4d2"
	body := []byte(`{"id":"evt_1","event":"customer.created"}`)

	fmt.Println(webhook.VerifyAt(body, header, "whsec_test", webhook.DefaultTolerance, time.Unix(1735689660, 0)))
	err := webhook.VerifyAt(body, header, "whsec_test", webhook.DefaultTolerance, time.Unix(1735689600+3600, 0))
	fmt.Println(errors.Is(err, webhook.ErrTimestamp))
	// Output:
	// <nil>
	// true
}
