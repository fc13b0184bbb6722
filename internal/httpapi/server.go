// Package httpapi is the Chaching-compatible REST API: routing, auth,
// decoding, errors, pagination and idempotency, written once. Handlers are
// thin: decode, call one service method, encode.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/idempotency"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/openapi"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/subscription"
	"github.com/kassahq/kassa/internal/taxrate"
	"github.com/kassahq/kassa/internal/testclock"
	"github.com/kassahq/kassa/internal/webhook"
)

// DefaultMaxBodyBytes bounds request bodies.
const DefaultMaxBodyBytes = 1 << 20

// Deps are the services the API calls.
type Deps struct {
	DB            *store.DB
	Clock         clock.Clock // real time: error timestamps, idempotency retention
	Logger        *slog.Logger
	Accounts      *account.Service
	Customers     *customer.Service
	Payments      *payment.Service
	Catalog       *catalog.Service
	TaxRates      *taxrate.Service
	Invoices      *invoice.Service
	Idempotency   *idempotency.Store
	TestClock     *testclock.Service
	Webhooks      *webhook.Service
	Events        *event.Service
	Subscriptions *subscription.Service
	// Metrics is the registry /metrics serves, with the metrics of the
	// rest of the process; nil means a registry of the API's own.
	Metrics      *prometheus.Registry
	MaxBodyBytes int64
	AccessLog    bool
}

// Server is the HTTP API.
type Server struct {
	Deps
	mux      *http.ServeMux
	ops      *http.ServeMux // health and metrics only
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the API and registers every route.
func New(d Deps) *Server {
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	s := &Server{Deps: d, mux: http.NewServeMux(), registry: d.Metrics}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kassa_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"method", "route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kassa_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method", "route"})
	s.registry.MustRegister(s.requests, s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.ops = http.NewServeMux()
	for _, mux := range []*http.ServeMux{s.mux, s.ops} {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		mux.HandleFunc("GET /readyz", s.ready)
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	}
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Document)
	})
	s.routes()
	return s
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Ops is the handler of a process that serves no API: health and metrics.
func (s *Server) Ops() http.Handler { return s.ops }

// ServeHTTP answers unknown routes with the contract's JSON error body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.withRequestID(s.withAccessLog(s.withRecover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.writeError(w, r, &httpError{status: http.StatusNotFound, message: "Cannot " + r.Method + " " + r.URL.Path})
			return
		}
		s.mux.ServeHTTP(w, r)
	}))))
	h.ServeHTTP(w, r)
}

// handlerFunc is an authenticated API handler.
type handlerFunc func(w http.ResponseWriter, r *http.Request, sc account.Scope) error

// handle registers pattern ("GET /customers/{id}") at the root and under /v1.
func (s *Server) handle(pattern string, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	route := path
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := s.authenticate(r)
		if err == nil {
			err = checkURLText(r.URL)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.withIdempotency(sc, route, h).ServeHTTP(w, r)
	})
	handler = s.withMetrics(method, route, handler)
	s.mux.Handle(method+" "+path, handler)
	s.mux.Handle(method+" /v1"+path, handler)
}

// checkURLText refuses a path or query value that is not valid UTF-8 or
// holds U+0000: PostgreSQL refuses such text in a query (a 500), where
// SQLite would look it up and find nothing.
func checkURLText(u *url.URL) error {
	if !validText(u.Path) {
		return apperr.Invalidf("the path must be valid UTF-8 text without NUL characters")
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			if name := k; !validText(k) || !validText(v) {
				if !validText(k) {
					name = strconv.Quote(k)
				}
				return apperr.Invalidf("query parameter %s must be valid UTF-8 text without NUL characters", name)
			}
		}
	}
	return nil
}

func validText(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// authenticate resolves the cc-api-key header (the only credential, G-01).
// Two keys (perhaps of two accounts) leave it unclear whose request it is:
// refused rather than settled by taking the first.
func (s *Server) authenticate(r *http.Request) (account.Scope, error) {
	if len(r.Header.Values("cc-api-key")) > 1 {
		return account.Scope{}, apperr.New(apperr.BadRequest, "", "cc-api-key header must be sent exactly once")
	}
	return s.Accounts.Authenticate(r.Context(), r.Header.Get("cc-api-key"))
}
