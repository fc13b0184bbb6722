package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
)

// BenchmarkGetCustomer measures GET /v1/customers/{id} through the whole
// handler stack (auth, routing, metrics, SQLite read, JSON) without a network.
func BenchmarkGetCustomer(b *testing.B) {
	env := apitest.New(b, apitest.Engines()[0])
	id := env.Post("/v1/customers", map[string]any{"name": "Bench", "email": "b@example.com",
		"address": []any{map[string]any{"line1": "1 Main St", "city": "Springfield"}}}).Want(b, 201).Map(b)["id"].(string)
	h := env.App.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/v1/customers/"+id, nil)
			req.Header.Set("cc-api-key", env.Key)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
