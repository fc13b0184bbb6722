// Package apitest starts a real Kassa (app.Open + httptest) on a real
// database and talks HTTP to it. Every test built on it runs on SQLite and,
// when KASSA_TEST_DATABASE_URL is set, on PostgreSQL too (in a schema of its
// own). Every response is validated against Kassa's OpenAPI document.
package apitest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/app"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/openapi"
	"github.com/kassahq/kassa/internal/testclock"
)

// Engine is a database engine a test runs on.
type Engine struct {
	Name string
	url  func(t testing.TB) string
}

// URL returns the address of a fresh, empty database of the engine, dropped
// when t ends: for tests that run Kassa's processes themselves.
func (e Engine) URL(t testing.TB) string { return e.url(t) }

// PostgresURL is the PostgreSQL server tests use, if any.
func PostgresURL() string { return os.Getenv("KASSA_TEST_DATABASE_URL") }

// Engines returns SQLite, plus PostgreSQL when KASSA_TEST_DATABASE_URL is set.
func Engines() []Engine {
	out := []Engine{{Name: "sqlite", url: func(t testing.TB) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "kassa.db")
	}}}
	if PostgresURL() != "" {
		out = append(out, Engine{Name: "postgres", url: freshSchema})
	}
	return out
}

// freshSchema creates an empty schema for one test and returns a URL whose
// connections use it.
func freshSchema(t testing.TB) string {
	base := PostgresURL()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	schema := "kt_" + strings.ToLower(id.Random(12))
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse KASSA_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Each runs fn once per engine as a subtest.
func Each(t *testing.T, fn func(t *testing.T, env *Env)) {
	t.Helper()
	if os.Getenv("KASSA_REQUIRE_POSTGRES") == "1" && PostgresURL() == "" {
		t.Fatal("KASSA_REQUIRE_POSTGRES=1 but KASSA_TEST_DATABASE_URL is not set")
	}
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			fn(t, New(t, e))
		})
	}
}

// Env is a running Kassa with a default test account.
type Env struct {
	T      testing.TB
	Engine string
	App    *app.App
	Server *httptest.Server
	// Key is the default account's API key; AccountID its id.
	Key       string
	AccountID string
}

// New starts Kassa on a fresh database of engine e.
func New(t testing.TB, e Engine) *Env {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("KASSA_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := app.Open(ctx, app.Config{DatabaseURL: e.url(t), Logger: logger})
	if err != nil {
		t.Fatalf("open app on %s: %v", e.Name, err)
	}
	boot, err := a.Accounts.Bootstrap(ctx)
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &Env{T: t, Engine: e.Name, App: a, Server: srv, Key: boot.Secret, AccountID: boot.Account.ID}
}

// NewAccount creates another test account and returns its key.
func (env *Env) NewAccount(name string) (accountID, key string) {
	env.T.Helper()
	c, err := env.App.Accounts.Create(context.Background(), name, false)
	if err != nil {
		env.T.Fatalf("create account: %v", err)
	}
	return c.Account.ID, c.Secret
}

// ScopeOf is an account's scope as of now (its test clock included), for
// tests that call services directly.
func (env *Env) ScopeOf(accountID string) account.Scope {
	env.T.Helper()
	a, err := env.App.Accounts.Get(context.Background(), accountID)
	if err != nil {
		env.T.Fatalf("load account %s: %v", accountID, err)
	}
	return env.App.Accounts.ScopeOf(a)
}

// RunDue runs an account's due work up to its clock's now, as a worker
// would, and returns how many items ran.
func (env *Env) RunDue(accountID string) int {
	env.T.Helper()
	adv, err := env.App.Queue.RunAccount(context.Background(), accountID, env.ScopeOf(accountID).Now(), testclock.MaxSteps)
	if err != nil {
		env.T.Fatalf("run due work of %s: %v", accountID, err)
	}
	return adv.Ran
}

// Response is an HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as an object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Message returns the error body's message.
func (r *Response) Message(t testing.TB) string {
	t.Helper()
	m, _ := r.Map(t)["message"].(string)
	return m
}

// Request describes one call.
type Request struct {
	Method  string
	Path    string
	Key     string // empty: the env's default key; "-": no key header
	Body    any    // marshalled as JSON; a string or []byte is sent as is
	Headers map[string]string
}

// Do sends req and validates the response against the OpenAPI document.
func (env *Env) Do(req Request) *Response {
	env.T.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			env.T.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(req.Method, env.Server.URL+req.Path, body)
	if err != nil {
		env.T.Fatalf("build request: %v", err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch req.Key {
	case "":
		hr.Header.Set("cc-api-key", env.Key)
	case "-":
	default:
		hr.Header.Set("cc-api-key", req.Key)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	res, err := env.Server.Client().Do(hr)
	if err != nil {
		env.T.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		env.T.Fatalf("read response: %v", err)
	}
	out := &Response{Status: res.StatusCode, Header: res.Header, Body: raw}
	if err := ValidateResponse(hr, out); err != nil {
		env.T.Errorf("%s %s → %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.Path, out.Status, err, raw)
	}
	return out
}

// Get, Post, Patch, Put and Delete are shorthands for Do with the default key.
func (env *Env) Get(path string) *Response { return env.Do(Request{Method: "GET", Path: path}) }

// Post sends a JSON body.
func (env *Env) Post(path string, body any) *Response {
	return env.Do(Request{Method: "POST", Path: path, Body: body})
}

// Patch sends a JSON body.
func (env *Env) Patch(path string, body any) *Response {
	return env.Do(Request{Method: "PATCH", Path: path, Body: body})
}

// Put sends a JSON body (or none).
func (env *Env) Put(path string, body any) *Response {
	return env.Do(Request{Method: "PUT", Path: path, Body: body})
}

// Delete sends a DELETE.
func (env *Env) Delete(path string) *Response { return env.Do(Request{Method: "DELETE", Path: path}) }

// Want fails the test unless the response has status want.
func (r *Response) Want(t testing.TB, want int) *Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

var (
	routerOnce sync.Once
	router     routers.Router
	routerErr  error
)

func docRouter() (routers.Router, error) {
	routerOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openapi.Document)
		if err != nil {
			routerErr = fmt.Errorf("load OpenAPI document: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			routerErr = fmt.Errorf("OpenAPI document is invalid: %w", err)
			return
		}
		doc.Servers = openapi3.Servers{{URL: "/"}}
		router, routerErr = legacy.NewRouter(doc)
	})
	return router, routerErr
}

// ValidateResponse checks a response against the operation the request
// matched in the OpenAPI document. Statuses the operation does not list are
// errors, except 404/405 for unknown routes and 5xx.
func ValidateResponse(req *http.Request, res *Response) error {
	r, err := docRouter()
	if err != nil {
		return err
	}
	probe := req.Clone(context.Background())
	probe.URL.Path = strings.TrimPrefix(probe.URL.Path, "/v1")
	probe.URL.Host, probe.URL.Scheme, probe.Host = "", "", ""
	route, params, err := r.FindRoute(probe)
	if err != nil {
		// Not an operation of the document (health, metrics, unknown routes).
		return nil
	}
	if _, documented := route.Operation.Responses.Map()[fmt.Sprint(res.Status)]; !documented {
		if res.Status >= 500 {
			return fmt.Errorf("server error %d", res.Status)
		}
		return fmt.Errorf("status %d is not documented for %s %s", res.Status, route.Method, route.Path)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  res.Status,
		Header:  res.Header,
		Body:    io.NopCloser(bytes.NewReader(res.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), input)
}
