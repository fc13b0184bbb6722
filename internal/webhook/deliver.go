package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/netguard"
	"github.com/kassahq/kassa/internal/store"
)

// The delivery policy (the digest's G-06): a 2xx is success; a network
// error, a timeout, 408, 429 and 5xx are retried after about 15 s, 45 s,
// 2 min, 10 min and 30 min (±20 %), six attempts in all; any other answer,
// every 3xx included (redirects are not followed), fails at once.
var retryDelays = []time.Duration{15 * time.Second, 45 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute}

// MaxAttempts is the most attempts one delivery makes.
var MaxAttempts = len(retryDelays) + 1

const (
	// attemptTimeout bounds one attempt, connection and answer.
	attemptTimeout = 10 * time.Second
	// keptBody is how much of a receiver's answer the log keeps.
	keptBody = 2048
	// SignatureHeader carries t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
	SignatureHeader = "Chaching-Signature"
)

// jittered spreads a delay ±20 % so that retries to one receiver do not
// arrive in lockstep.
func jittered(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}

func retryable(status int, callErr error) bool {
	if callErr != nil {
		return true
	}
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// sign returns the signature header value for body at t, one v1 per secret.
func sign(t time.Time, body []byte, secrets []string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	parts := []string{"t=" + ts}
	for _, s := range secrets {
		mac := hmac.New(sha256.New, []byte(s))
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		parts = append(parts, "v1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(parts, ",")
}

// sender holds the HTTP clients: one that reaches any address (test mode,
// or KASSA_WEBHOOK_ALLOW_PRIVATE), one that refuses private addresses after
// DNS resolution (live mode).
type sender struct {
	open, guarded *http.Client
	wall          func() time.Time
}

func newSender(allowPrivate bool, wall clock.Clock) *sender {
	client := func(d *net.Dialer) *http.Client {
		tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: attemptTimeout, ResponseHeaderTimeout: attemptTimeout, ForceAttemptHTTP2: true}
		return &http.Client{Transport: tr, Timeout: attemptTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s := &sender{open: client(&net.Dialer{Timeout: attemptTimeout}), wall: wall.Now}
	s.guarded = s.open
	if !allowPrivate {
		s.guarded = client(netguard.Dialer(attemptTimeout))
	}
	return s
}

type target struct {
	delivery  *Delivery
	url       string
	active    bool
	deleted   bool
	secrets   secrets
	accountID string
}

// loadTarget reads, in one query, what an attempt needs: the delivery and
// its envelope, the destination, and the account's signing secrets.
func loadTarget(ctx context.Context, q store.Querier, accountID, deliveryID string) (*target, error) {
	t := &target{accountID: accountID}
	var deletedAt, until sql.NullInt64
	var previous sql.NullString
	d, err := store.One(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+`, w.url, w.active, w.deleted_at,
		s.secret, s.previous_secret, s.previous_until`+deliveryFrom+`
		JOIN webhook_destinations w ON w.id = d.destination_id
		JOIN webhook_secrets s ON s.account_id = d.account_id
		WHERE d.account_id = $1 AND d.id = $2`, accountID, deliveryID),
		func(r store.Row) (*Delivery, error) {
			return scanDelivery(withExtra{r, []any{&t.url, &t.active, &deletedAt, &t.secrets.current, &previous, &until}})
		},
		func() error { return apperr.NotFoundf("Webhook delivery %s not found", deliveryID) }, "webhook delivery "+deliveryID)
	if err != nil {
		return nil, err
	}
	t.delivery, t.deleted = d, deletedAt.Valid
	t.secrets.previous, t.secrets.previousUntil = previous.String, until.Int64
	return t, nil
}

// withExtra scans a row's leading columns with a row scanner and the rest
// into extra.
type withExtra struct {
	row   store.Row
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// attempt is what one try brought back.
type attempt struct {
	at       time.Time // real time, as signed
	status   int
	body     string
	err      error
	duration time.Duration
}

// Deliver makes one attempt of a delivery (the KindDeliver handler, on the
// account's scope frozen at the attempt's due time) and returns how to
// record it: in the transaction that finishes the queue item.
func (s *Service) Deliver(ctx context.Context, sc account.Scope, deliveryID string) (func(context.Context, *store.Tx) (time.Time, error), error) {
	t, err := loadTarget(ctx, s.db.Read(), sc.AccountID, deliveryID)
	if err != nil {
		return nil, err
	}
	d := t.delivery
	if d.Status == StatusSuccess || d.Status == StatusFailure {
		return func(context.Context, *store.Tx) (time.Time, error) { return time.Time{}, nil }, nil
	}
	if t.deleted || !t.active {
		reason := "the destination was disabled before the delivery"
		if t.deleted {
			reason = "the destination was deleted before the delivery"
		}
		return func(ctx context.Context, tx *store.Tx) (time.Time, error) {
			return time.Time{}, s.recordOutcome(ctx, tx, sc, d, 0, nil, StatusFailure, reason, time.Time{})
		}, nil
	}
	a := s.post(ctx, sc, t)
	return func(ctx context.Context, tx *store.Tx) (time.Time, error) {
		return s.record(ctx, tx, sc, d, a)
	}, nil
}

func (s *Service) post(ctx context.Context, sc account.Scope, t *target) attempt {
	body := []byte(t.delivery.Payload)
	a := attempt{at: s.sender.wall()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kassa-Webhooks/1")
	req.Header.Set(SignatureHeader, sign(a.at, body, t.secrets.active(sc.Now())))
	client := s.sender.open
	if s.guarded(sc) {
		client = s.sender.guarded
	}
	start := time.Now()
	res, err := client.Do(req)
	a.duration = time.Since(start)
	if err != nil {
		a.err = err
		return a
	}
	defer res.Body.Close()
	a.status = res.StatusCode
	kept, _ := io.ReadAll(io.LimitReader(res.Body, keptBody))
	a.body = strings.ToValidUTF8(string(kept), "?")
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // lets the connection be reused
	return a
}

// record stores an attempt and decides what comes next: nothing (success,
// failure) or another attempt, due after the retry delay by the account's
// clock, so that a test clock drives the retries.
func (s *Service) record(ctx context.Context, tx *store.Tx, sc account.Scope, d *Delivery, a attempt) (time.Time, error) {
	var errText *string
	if a.err != nil {
		msg := describe(a.err)
		errText = &msg
	}
	var status *int
	if a.err == nil {
		status = &a.status
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, attempted_at, response_status, response_body, error, duration_ms)
		VALUES ($1, $2, $3, $4, $5, $6)`, d.ID, a.at.Unix(), status, a.body, errText, a.duration.Milliseconds()); err != nil {
		return time.Time{}, fmt.Errorf("record attempt of %s: %w", d.ID, err)
	}
	attempts := d.Attempts + 1
	outcome, reason := StatusSuccess, ""
	var next time.Time
	switch {
	case a.err == nil && a.status >= 200 && a.status < 300:
	case retryable(a.status, a.err) && attempts < MaxAttempts:
		outcome = StatusRetry
		next = sc.Now().Add(jittered(retryDelays[attempts-1]))
	default:
		outcome = StatusFailure
	}
	if errText != nil {
		reason = *errText
	} else if outcome != StatusSuccess {
		reason = fmt.Sprintf("the destination answered %d", a.status)
	}
	return next, s.recordOutcome(ctx, tx, sc, d, 1, status, outcome, reason, next)
}

// recordOutcome updates a delivery after attempted (0 or 1) attempts.
func (s *Service) recordOutcome(ctx context.Context, tx *store.Tx, sc account.Scope, d *Delivery, attempted int, status *int, outcome, reason string, next time.Time) error {
	var nextAt *int64
	if !next.IsZero() {
		v := next.Unix()
		nextAt = &v
	}
	var lastErr *string
	if reason != "" {
		lastErr = &reason
	}
	_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1, attempts = attempts + $2, response_status = COALESCE($3, response_status),
		last_error = $4, last_attempt_at = $5, next_attempt_at = $6 WHERE id = $7 AND status IN ($8, $9)`,
		outcome, attempted, status, lastErr, sc.Now().Unix(), nextAt, d.ID, StatusPending, StatusRetry)
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", d.ID, err)
	}
	return nil
}

// describe turns a transport error into a short, stable message.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, netguard.ErrForbiddenAddress):
		return "refused: the destination resolves to a private address"
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s", attemptTimeout)
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}
