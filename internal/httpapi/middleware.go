package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/idempotency"
)

type ctxKey int

const requestIDKey ctxKey = 0

func requestID(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey).(string)
	return v
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Request ids need to be unique, not secret: a random per-process prefix and
// a counter avoid reading the system's random source on every request.
var (
	requestIDPrefix = "req_" + id.Random(12) + "_"
	requestCounter  atomic.Uint64
)

func newRequestID() string {
	return requestIDPrefix + strconv.FormatUint(requestCounter.Add(1), 36)
}

// withRequestID gives every request an id (the caller's X-Request-Id when sane).
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || !requestIDPattern.MatchString(rid) {
			rid = newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, rid)))
	})
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (rec *statusRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *statusRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += n
	return n, err
}

func (s *Server) withAccessLog(next http.Handler) http.Handler {
	if !s.AccessLog {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", safePath(r.URL.Path)),
			slog.Int("status", rec.status), slog.Int("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}

func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) withMetrics(method, route string, next http.Handler) http.Handler {
	latency := s.latency.WithLabelValues(method, route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		latency.Observe(time.Since(start).Seconds())
		s.requests.WithLabelValues(method, route, strconv.Itoa(rec.status)).Inc()
	})
}

// bufferedResponse captures a response so it can be stored before it is sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// withIdempotency runs h, honouring an Idempotency-Key on mutating requests.
func (s *Server) withIdempotency(sc account.Scope, route string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, has := r.Header["Idempotency-Key"]
		if r.Method == http.MethodGet || !has {
			if err := h(w, r, sc); err != nil {
				s.writeError(w, r, err)
			}
			return
		}
		if len(key) != 1 || !idempotency.ValidKey(key[0]) {
			s.writeError(w, r, apperr.New(apperr.BadRequest, "IDEMPOTENCY_KEY_INVALID",
				"Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"))
			return
		}
		body, err := s.readBody(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		endpoint := r.Method + " " + safePath(strings.TrimPrefix(r.URL.Path, "/v1"))
		res, err := s.Idempotency.Begin(r.Context(), sc.AccountID, endpoint, key[0], fingerprint(r, body))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		switch res.Verdict {
		case idempotency.Replay:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(res.Status)
			_, _ = w.Write(res.Body)
			return
		case idempotency.InProgress:
			s.writeError(w, r, apperr.Conflictf("IDEMPOTENCY_KEY_IN_PROGRESS", "A request with this Idempotency-Key is still being processed"))
			return
		case idempotency.Reused:
			s.writeError(w, r, apperr.New(apperr.Unprocessable, "IDEMPOTENCY_KEY_REUSED",
				"This Idempotency-Key was already used with a different request"))
			return
		case idempotency.Incomplete:
			s.writeError(w, r, apperr.New(apperr.BadGateway, "IDEMPOTENCY_REQUEST_INCOMPLETE",
				"The first request with this Idempotency-Key never completed; retry with a new key"))
			return
		}
		buf := &bufferedResponse{header: w.Header()}
		func() {
			defer func() {
				if p := recover(); p != nil {
					buf.body.Reset()
					buf.status = 0
					s.writeError(buf, r, fmt.Errorf("panic: %v", p))
				}
			}()
			if err := h(buf, r, sc); err != nil {
				s.writeError(buf, r, err)
			}
		}()
		// A refused request (4xx other than 402) is not remembered: the
		// client fixes it and may retry with the same key.
		ctx := context.WithoutCancel(r.Context())
		if buf.status >= 400 && buf.status < 500 && buf.status != http.StatusPaymentRequired {
			err = s.Idempotency.Abandon(ctx, sc.AccountID, endpoint, key[0])
		} else {
			err = s.Idempotency.Complete(ctx, sc.AccountID, endpoint, key[0], buf.status, buf.body.Bytes())
		}
		if err != nil {
			s.Logger.ErrorContext(ctx, "store idempotent response", "err", err)
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
	})
}

// fingerprint identifies a request: method, path, query and the body with
// JSON normalised (key order and whitespace do not matter).
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s?%s\n", r.Method, strings.TrimPrefix(r.URL.Path, "/v1"), r.URL.RawQuery)
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil {
		canonical, _ := json.Marshal(v)
		h.Write(canonical)
	} else {
		h.Write(body)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// safePath hides the card numbers a path may carry (the sandbox accepts
// test card numbers where tokens go) before the path is logged or stored.
// Only a whole segment that can be a card number is hidden; ids and UUIDs
// stay as they are, so logs and idempotency keys name the real object.
func safePath(path string) string {
	if !strings.ContainsAny(path, "0123456789") {
		return path
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = gateway.RedactCardNumber(seg)
	}
	return strings.Join(segs, "/")
}

// safeQuery hides every query value that can be a card number, as safePath
// does for path segments; the rest of the query is kept byte for byte.
func safeQuery(rawQuery string) string {
	if !strings.ContainsAny(rawQuery, "0123456789") {
		return rawQuery
	}
	pairs := strings.Split(rawQuery, "&")
	for i, pair := range pairs {
		key, value, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			continue
		}
		if red := gateway.RedactCardNumber(v); red != v {
			pairs[i] = key + "=" + red
		}
	}
	return strings.Join(pairs, "&")
}
