package httpapi

import (
	"net/http"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/webhook"
)

// webhookRoutes mounts destinations, the delivery log, events and the
// account's signing keys.
func (s *Server) webhookRoutes() {
	s.handle("POST /webhook/destination", s.createDestination)
	s.handle("GET /webhook/destination", s.listDestinations)
	s.handle("GET /webhook/destination/{id}", s.getDestination)
	s.handle("PUT /webhook/destination/{id}", s.updateDestination)
	s.handle("DELETE /webhook/destination/{id}", s.deleteDestination)
	s.handle("PATCH /webhook/destination/{id}/enable", s.setDestinationActive(true))
	s.handle("PATCH /webhook/destination/{id}/disable", s.setDestinationActive(false))
	s.handle("GET /webhook/logs", s.listDeliveries)
	s.handle("GET /webhook/logs/{id}", s.getDelivery)
	s.handle("POST /webhook/logs/{id}/redeliver", s.redeliver)
	s.handle("GET /events", s.listEvents)
	s.handle("GET /events/{id}", s.getEvent)
	s.handle("GET /account/keys", s.accountKeys)
	s.handle("POST /account/keys/webhook-secret/roll", s.rollWebhookSecret)
}

func (s *Server) createDestination(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p webhook.DestinationParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.Webhooks.CreateDestination(r.Context(), sc, p))
}

func (s *Server) listDestinations(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.ListDestinations(r.Context(), sc))
}

func (s *Server) getDestination(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.GetDestination(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) updateDestination(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p webhook.DestinationParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Webhooks.UpdateDestination(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) deleteDestination(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.DeleteDestination(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) setDestinationActive(active bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		return reply(w, http.StatusOK)(s.Webhooks.SetActive(r.Context(), sc, r.PathValue("id"), active))
	}
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Webhooks.Logs(r.Context(), sc, webhook.LogParams{Page: page, Search: search}))
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.GetDelivery(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) redeliver(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.Redeliver(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Events.List(r.Context(), sc, event.ListParams{Page: page, Search: search}))
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Events.Get(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) accountKeys(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.Keys(r.Context(), sc))
}

func (s *Server) rollWebhookSecret(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Webhooks.RollSecret(r.Context(), sc))
}
