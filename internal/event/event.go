// Package event writes domain events to the outbox table. A change and the
// event announcing it commit in the same transaction, so nothing is announced
// that did not happen and nothing that happened goes unannounced. The same
// transaction queues the event's webhook deliveries, which send the stored
// envelope as it is.
package event

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/webhook"
)

// Envelope is the body a webhook destination receives. Type repeats Event
// for receivers that read `type`.
type Envelope struct {
	ID        string `json:"id"`
	Event     string `json:"event"`
	Type      string `json:"type"`
	CreatedAt string `json:"createdAt"`
	Data      any    `json:"data"`
}

// Record stores one event of type typ with data (the object after the change).
func Record(ctx context.Context, tx *store.Tx, sc account.Scope, typ string, data any) error {
	now := sc.Now()
	env := Envelope{
		ID:        id.New(id.Event),
		Event:     typ,
		Type:      typ,
		CreatedAt: now.UTC().Format(time.RFC3339),
		Data:      data,
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, account_id, type, payload, created) VALUES ($1, $2, $3, $4, $5)`,
		env.ID, sc.AccountID, typ, string(payload), now.Unix()); err != nil {
		return fmt.Errorf("record %s event: %w", typ, err)
	}
	return webhook.Enqueue(ctx, tx, sc, env.ID, typ)
}

// Stored is an event as kept in the outbox.
type Stored struct {
	ID      string
	Type    string
	Payload json.RawMessage
	Created int64
}

// List returns an account's events, oldest first (tests and the dashboard read them).
func List(ctx context.Context, q store.Querier, accountID string) ([]Stored, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, type, payload, created FROM events WHERE account_id = $1 ORDER BY seq`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var e Stored
		var payload string
		if err := rows.Scan(&e.ID, &e.Type, &payload, &e.Created); err != nil {
			return nil, err
		}
		e.Payload = json.RawMessage(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Event is an event as the API shows it: the envelope its webhooks send.
type Event = json.RawMessage

// ListParams filters the events API.
type ListParams struct {
	Page   listing.Params
	Search listing.Search
}

// Service reads events back: the events API, for merchants to catch up on
// what their webhooks missed.
type Service struct{ db *store.DB }

// NewService returns a Service.
func NewService(db *store.DB) *Service { return &Service{db: db} }

// List returns a page of an account's events, newest first, by type (one
// or several) and created range.
func (s *Service) List(ctx context.Context, sc account.Scope, p ListParams) (listing.Page[Event], error) {
	q := s.db.Read()
	w := &listing.Where{}
	w.Add("account_id = ?", sc.AccountID)
	for _, key := range []string{"type", "event"} {
		types, err := p.Search.List(key)
		if err != nil {
			return listing.Page[Event]{}, err
		}
		w.In("type", types)
	}
	if err := p.Search.Range(w, "created", "created"); err != nil {
		return listing.Page[Event]{}, err
	}
	return listing.Fetch(ctx, q, listing.Query{What: "events", Columns: "payload", From: " FROM events", OrderBy: "seq DESC"},
		w, p.Page, func(r listing.Row) (Event, error) {
			var payload string
			err := r.Scan(&payload)
			return Event(payload), err
		})
}

// Get returns one event of the account.
func (s *Service) Get(ctx context.Context, sc account.Scope, eventID string) (Event, error) {
	return store.One(s.db.Read().QueryRowContext(ctx, `SELECT payload FROM events WHERE account_id = $1 AND id = $2`, sc.AccountID, eventID),
		func(r store.Row) (Event, error) {
			var payload string
			err := r.Scan(&payload)
			return Event(payload), err
		}, func() error { return apperr.NotFoundf("Event %s not found", eventID) }, "event "+eventID)
}
