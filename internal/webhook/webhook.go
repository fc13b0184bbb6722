// Package webhook tells merchants' systems about every change: destinations
// (where to send), deliveries (one event to one destination, the log) and
// the account's signing secret.
//
// Fan-out happens inside the transaction that records the event
// (Enqueue, called by event.Record): each active destination gets a
// delivery row and a due-work item in that transaction, so an event is
// never lost, and a destination disabled when the event happened never
// gets it. Deliveries run on the due-work queue (KindDeliver): the exact
// bytes of the stored envelope, signed anew at each attempt, retried per
// the policy in policy.go, the attempt recorded in the transaction that
// finishes the queue item.
package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/netguard"
	"github.com/kassahq/kassa/internal/store"
)

// KindDeliver is the due-work kind of one delivery attempt.
const KindDeliver = "webhook.deliver"

// Delivery statuses.
const (
	StatusPending = "pending"
	StatusRetry   = "retry"
	StatusSuccess = "success"
	StatusFailure = "failure"
)

// Destination is where an account's events are sent.
type Destination struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	URL     string `json:"url"`
	Active  bool   `json:"active"`
	Created int64  `json:"created"`
	Updated int64  `json:"updated"`
}

// Delivery is one event's delivery to one destination: a log entry.
type Delivery struct {
	ID             string          `json:"id"`
	Object         string          `json:"object"`
	Destination    string          `json:"destination"`
	EventID        string          `json:"event_id"`
	Event          string          `json:"event"`
	Payload        json.RawMessage `json:"payload"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	ResponseStatus *int            `json:"response_status"`
	LastError      *string         `json:"last_error"`
	LastAttemptAt  *int64          `json:"last_attempt_at"`
	NextAttemptAt  *int64          `json:"next_attempt_at"`
	Created        int64           `json:"created"`
}

// Service manages destinations, logs and secrets, and delivers.
type Service struct {
	db *store.DB
	// allowPrivate lets live-mode destinations point at private and
	// loopback addresses (KASSA_WEBHOOK_ALLOW_PRIVATE).
	allowPrivate bool
	sender       *sender
}

// NewService returns a Service. allowPrivate lifts the live-mode guard
// against private, loopback and link-local destinations; wall is the real
// clock that dates each attempt's signature.
func NewService(db *store.DB, allowPrivate bool, wall clock.Clock) *Service {
	return &Service{db: db, allowPrivate: allowPrivate, sender: newSender(allowPrivate, wall)}
}

// guarded reports whether sc's destinations must be public addresses.
func (s *Service) guarded(sc account.Scope) bool { return sc.Livemode && !s.allowPrivate }

// DestinationParams is the body of create and update.
type DestinationParams struct {
	URL *string `json:"url"`
}

func (s *Service) checkURL(ctx context.Context, sc account.Scope, p DestinationParams) (string, error) {
	if p.URL == nil || strings.TrimSpace(*p.URL) == "" {
		return "", apperr.Invalidf("url should not be empty")
	}
	u, err := netguard.CheckURL(strings.TrimSpace(*p.URL))
	if err != nil {
		return "", apperr.Invalidf("%v", err)
	}
	if s.guarded(sc) {
		if err := netguard.CheckHost(ctx, nil, u.Hostname()); err != nil {
			return "", apperr.Invalidf("%v: live-mode webhooks go to public addresses only", err)
		}
	}
	return u.String(), nil
}

const destinationColumns = `id, url, active, created, updated`

func scanDestination(row store.Row) (*Destination, error) {
	d := &Destination{Object: "webhook_destination"}
	if err := row.Scan(&d.ID, &d.URL, &d.Active, &d.Created, &d.Updated); err != nil {
		return nil, err
	}
	return d, nil
}

// CreateDestination adds an active destination: it receives every event
// from the moment it exists.
func (s *Service) CreateDestination(ctx context.Context, sc account.Scope, p DestinationParams) (*Destination, error) {
	u, err := s.checkURL(ctx, sc, p)
	if err != nil {
		return nil, err
	}
	now := sc.Now().Unix()
	d := &Destination{ID: id.New(id.Destination), Object: "webhook_destination", URL: u, Active: true, Created: now, Updated: now}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := ensureSecret(ctx, tx, sc); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_destinations (id, account_id, url, active, created, updated)
			VALUES ($1, $2, $3, $4, $5, $5)`, d.ID, sc.AccountID, d.URL, true, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create webhook destination: %w", err)
	}
	return d, nil
}

// ListDestinations returns every destination of the account, oldest first.
func (s *Service) ListDestinations(ctx context.Context, sc account.Scope) ([]*Destination, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+destinationColumns+` FROM webhook_destinations
		WHERE account_id = $1 AND deleted_at IS NULL ORDER BY seq`, sc.AccountID)
	if err != nil {
		return nil, fmt.Errorf("list webhook destinations: %w", err)
	}
	defer rows.Close()
	out := []*Destination{}
	for rows.Next() {
		d, err := scanDestination(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func getDestination(ctx context.Context, q store.Querier, sc account.Scope, destID, lock string) (*Destination, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+destinationColumns+` FROM webhook_destinations
		WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL`+lock, sc.AccountID, destID),
		scanDestination, func() error { return apperr.NotFoundf("Webhook destination %s not found", destID) },
		"webhook destination "+destID)
}

// GetDestination returns one destination of the account.
func (s *Service) GetDestination(ctx context.Context, sc account.Scope, destID string) (*Destination, error) {
	return getDestination(ctx, s.db.Read(), sc, destID, "")
}

// change runs fn on the locked destination and stores what fn set.
func (s *Service) change(ctx context.Context, sc account.Scope, destID string, fn func(d *Destination) error) (*Destination, error) {
	var out *Destination
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		d, err := getDestination(ctx, tx, sc, destID, tx.Dialect.ForUpdate())
		if err != nil {
			return err
		}
		before := *d
		if err := fn(d); err != nil {
			return err
		}
		if *d != before {
			d.Updated = sc.Now().Unix()
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_destinations SET url = $1, active = $2, updated = $3
				WHERE account_id = $4 AND id = $5`, d.URL, d.Active, d.Updated, sc.AccountID, d.ID); err != nil {
				return fmt.Errorf("update webhook destination %s: %w", d.ID, err)
			}
		}
		out = d
		return nil
	})
	return out, err
}

// UpdateDestination changes a destination's URL.
func (s *Service) UpdateDestination(ctx context.Context, sc account.Scope, destID string, p DestinationParams) (*Destination, error) {
	if !id.ValidPrefixed(destID) {
		return nil, apperr.NotFoundf("Webhook destination %s not found", destID)
	}
	u, err := s.checkURL(ctx, sc, p)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, sc, destID, func(d *Destination) error { d.URL = u; return nil })
}

// SetActive enables or disables a destination. A disabled destination gets
// nothing, and is not sent later what happened while it was disabled.
func (s *Service) SetActive(ctx context.Context, sc account.Scope, destID string, active bool) (*Destination, error) {
	return s.change(ctx, sc, destID, func(d *Destination) error { d.Active = active; return nil })
}

// Deleted is the answer to a deletion.
type Deleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// DeleteDestination removes a destination; its deliveries stay in the log,
// and those not made yet are not made.
func (s *Service) DeleteDestination(ctx context.Context, sc account.Scope, destID string) (*Deleted, error) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := getDestination(ctx, tx, sc, destID, tx.Dialect.ForUpdate()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_destinations SET deleted_at = $1, active = $2 WHERE account_id = $3 AND id = $4`,
			sc.Now().Unix(), false, sc.AccountID, destID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Deleted{ID: destID, Deleted: true}, nil
}

// Enqueue fans an event out to every active destination of the account
// inside tx, the transaction that records the event: a delivery row and a
// due-work item each, due at once.
func Enqueue(ctx context.Context, tx *store.Tx, sc account.Scope, eventID, eventType string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM webhook_destinations
		WHERE account_id = $1 AND active = $2 AND deleted_at IS NULL ORDER BY seq`, sc.AccountID, true)
	if err != nil {
		return fmt.Errorf("webhook destinations of %s: %w", sc.AccountID, err)
	}
	var dests []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return err
		}
		dests = append(dests, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := sc.Now()
	for _, dest := range dests {
		if _, err := newDelivery(ctx, tx, sc, dest, eventID, eventType, now); err != nil {
			return err
		}
	}
	return nil
}

func newDelivery(ctx context.Context, tx *store.Tx, sc account.Scope, destID, eventID, eventType string, now time.Time) (string, error) {
	deliveryID := id.New(id.Delivery)
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, account_id, destination_id, event_id, event_type,
		status, next_attempt_at, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		deliveryID, sc.AccountID, destID, eventID, eventType, StatusPending, now.Unix()); err != nil {
		return "", fmt.Errorf("queue %s for %s: %w", eventID, destID, err)
	}
	return deliveryID, duework.Schedule(ctx, tx, sc.AccountID, KindDeliver, deliveryID, now)
}

const deliveryColumns = `d.id, d.destination_id, d.event_id, d.event_type, e.payload, d.status, d.attempts,
	d.response_status, d.last_error, d.last_attempt_at, d.next_attempt_at, d.created`

const deliveryFrom = ` FROM webhook_deliveries d JOIN events e ON e.id = d.event_id`

func scanDelivery(row store.Row) (*Delivery, error) {
	d := &Delivery{Object: "webhook_delivery"}
	var payload string
	var status, last, next sql.NullInt64
	var lastErr sql.NullString
	if err := row.Scan(&d.ID, &d.Destination, &d.EventID, &d.Event, &payload, &d.Status, &d.Attempts,
		&status, &lastErr, &last, &next, &d.Created); err != nil {
		return nil, err
	}
	d.Payload = json.RawMessage(payload)
	if status.Valid {
		v := int(status.Int64)
		d.ResponseStatus = &v
	}
	if lastErr.Valid {
		d.LastError = &lastErr.String
	}
	if last.Valid {
		d.LastAttemptAt = &last.Int64
	}
	if next.Valid {
		d.NextAttemptAt = &next.Int64
	}
	return d, nil
}

// LogParams filters the delivery log.
type LogParams struct {
	Page   listing.Params
	Search listing.Search
}

var logStatuses = map[string]bool{StatusPending: true, StatusRetry: true, StatusSuccess: true, StatusFailure: true}

// Logs returns the account's deliveries, newest first, by event type,
// status or destination.
func (s *Service) Logs(ctx context.Context, sc account.Scope, p LogParams) (listing.Page[*Delivery], error) {
	w := &listing.Where{}
	w.Add("d.account_id = ?", sc.AccountID)
	for key, column := range map[string]string{"event": "d.event_type", "status": "d.status", "destination": "d.destination_id", "event_id": "d.event_id"} {
		v, ok, err := p.Search.String(key)
		if err != nil {
			return listing.Page[*Delivery]{}, err
		}
		if !ok {
			continue
		}
		if key == "status" && !logStatuses[v] {
			return listing.Page[*Delivery]{}, apperr.Invalidf("search.status must be one of the following values: pending, retry, success, failure")
		}
		w.Add(column+" = ?", v)
	}
	if err := p.Search.Range(w, "created", "d.created"); err != nil {
		return listing.Page[*Delivery]{}, err
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "webhook deliveries", Columns: deliveryColumns, From: deliveryFrom,
		OrderBy: "d.seq DESC"}, w, p.Page, scanDelivery)
}

func getDelivery(ctx context.Context, q store.Querier, accountID, deliveryID string) (*Delivery, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+` WHERE d.account_id = $1 AND d.id = $2`,
		accountID, deliveryID), scanDelivery,
		func() error { return apperr.NotFoundf("Webhook delivery %s not found", deliveryID) }, "webhook delivery "+deliveryID)
}

// GetDelivery returns one log entry.
func (s *Service) GetDelivery(ctx context.Context, sc account.Scope, deliveryID string) (*Delivery, error) {
	return getDelivery(ctx, s.db.Read(), sc.AccountID, deliveryID)
}

// Redeliver sends a failed delivery's event again to its destination: a new
// delivery (a new attempt series) with the same event id and bytes.
func (s *Service) Redeliver(ctx context.Context, sc account.Scope, deliveryID string) (*Delivery, error) {
	var newID string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		d, err := getDelivery(ctx, tx, sc.AccountID, deliveryID)
		if err != nil {
			return err
		}
		if d.Status != StatusFailure {
			return apperr.BadRequestf("DELIVERY_NOT_FAILED", "Webhook delivery %s is %s; only a failed delivery can be sent again", d.ID, d.Status)
		}
		dest, err := getDestination(ctx, tx, sc, d.Destination, "")
		if apperr.IsKind(err, apperr.NotFound) {
			return apperr.BadRequestf("DESTINATION_DELETED", "Webhook destination %s was deleted", d.Destination)
		}
		if err != nil {
			return err
		}
		if !dest.Active {
			return apperr.BadRequestf("DESTINATION_DISABLED", "Webhook destination %s is disabled; enable it first", dest.ID)
		}
		newID, err = newDelivery(ctx, tx, sc, dest.ID, d.EventID, d.Event, sc.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.GetDelivery(ctx, sc, newID)
}

// Keys is the answer of GET /account/keys. Kassa keeps API keys only as
// hashes, so it cannot sign with one as Chaching does: webhooks are signed
// with WebhookSecret instead, and no API secret is shown again.
type Keys struct {
	Object        string `json:"object"`
	WebhookSecret string `json:"webhook_secret"`
	// PreviousWebhookSecret still signs deliveries, next to the new one,
	// until PreviousExpiresAt (the 24 hours after a roll).
	PreviousWebhookSecret *string `json:"previous_webhook_secret"`
	PreviousExpiresAt     *int64  `json:"previous_webhook_secret_expires_at"`
	Livemode              bool    `json:"livemode"`
}

// RollOverlap is how long the previous secret keeps signing after a roll.
const RollOverlap = 24 * time.Hour

type secrets struct {
	current       string
	previous      string
	previousUntil int64
}

// active returns the secrets that sign at t: the current one, and the
// previous one during the overlap after a roll.
func (s secrets) active(t time.Time) []string {
	if s.previous != "" && t.Unix() < s.previousUntil {
		return []string{s.current, s.previous}
	}
	return []string{s.current}
}

func newSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("webhook: crypto/rand failed: " + err.Error())
	}
	return id.WebhookSecret + "_" + hex.EncodeToString(b)
}

func loadSecrets(ctx context.Context, q store.Querier, accountID, lock string) (secrets, error) {
	var s secrets
	var prev sql.NullString
	var until sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT secret, previous_secret, previous_until FROM webhook_secrets WHERE account_id = $1`+lock,
		accountID).Scan(&s.current, &prev, &until)
	s.previous, s.previousUntil = prev.String, until.Int64
	return s, err
}

// ensureSecret returns the account's secrets, creating the first one.
func ensureSecret(ctx context.Context, tx *store.Tx, sc account.Scope) (secrets, error) {
	s, err := loadSecrets(ctx, tx, sc.AccountID, tx.Dialect.ForUpdate())
	if errors.Is(err, sql.ErrNoRows) {
		s = secrets{current: newSecret()}
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_secrets (account_id, secret, rolled_at) VALUES ($1, $2, $3)
			ON CONFLICT (account_id) DO NOTHING`, sc.AccountID, s.current, sc.Now().Unix())
		if err == nil {
			s, err = loadSecrets(ctx, tx, sc.AccountID, "")
		}
	}
	if err != nil {
		return secrets{}, fmt.Errorf("webhook secret of %s: %w", sc.AccountID, err)
	}
	return s, nil
}

func (s *Service) keys(sc account.Scope, sec secrets) *Keys {
	k := &Keys{Object: "account_keys", WebhookSecret: sec.current, Livemode: sc.Livemode}
	if sec.previous != "" && sc.Now().Unix() < sec.previousUntil {
		k.PreviousWebhookSecret, k.PreviousExpiresAt = &sec.previous, &sec.previousUntil
	}
	return k
}

// Keys returns the account's webhook signing secret (made on first use).
func (s *Service) Keys(ctx context.Context, sc account.Scope) (*Keys, error) {
	var sec secrets
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		sec, err = ensureSecret(ctx, tx, sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.keys(sc, sec), nil
}

// RollSecret replaces the signing secret; for RollOverlap deliveries carry
// signatures with both, so receivers can switch without losing any.
func (s *Service) RollSecret(ctx context.Context, sc account.Scope) (*Keys, error) {
	var sec secrets
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := ensureSecret(ctx, tx, sc)
		if err != nil {
			return err
		}
		now := sc.Now()
		sec = secrets{current: newSecret(), previous: old.current, previousUntil: now.Add(RollOverlap).Unix()}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_secrets SET secret = $1, previous_secret = $2, previous_until = $3, rolled_at = $4
			WHERE account_id = $5`, sec.current, sec.previous, sec.previousUntil, now.Unix(), sc.AccountID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("roll webhook secret: %w", err)
	}
	return s.keys(sc, sec), nil
}
