package httpapi

import (
	"net/http"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/subscription"
)

// subscriptionRoutes mounts the Subscriptions operations of the contract
// and the upcoming-invoice extension.
func (s *Server) subscriptionRoutes() {
	s.handle("GET /subscriptions", s.listSubscriptions)
	s.handle("POST /subscriptions", s.createSubscription)
	s.handle("GET /subscriptions/{id}", s.getSubscription)
	s.handle("PATCH /subscriptions/{id}", s.updateSubscription)
	s.handle("DELETE /subscriptions/{id}", s.cancelSubscription)
	s.handle("POST /subscriptions/{id}/pause", s.pauseSubscription)
	s.handle("POST /subscriptions/{id}/resume", s.resumeSubscription)
	s.handle("GET /subscriptions/{id}/upcoming-invoice", s.upcomingInvoice)
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Subscriptions.List(r.Context(), sc, subscription.ListParams{Page: page, Search: search}))
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p subscription.CreateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.Subscriptions.Create(r.Context(), sc, p))
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Subscriptions.Get(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) updateSubscription(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p subscription.UpdateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Subscriptions.Update(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) cancelSubscription(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Subscriptions.Cancel(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) pauseSubscription(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Subscriptions.Pause(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) resumeSubscription(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Subscriptions.Resume(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) upcomingInvoice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Subscriptions.Upcoming(r.Context(), sc, r.PathValue("id")))
}
