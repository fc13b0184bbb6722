package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/kassahq/kassa/internal/apperr"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"statusCode":500,"message":"encode response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorBody is the contract's error shape. Validation errors carry no code.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Error      string `json:"error,omitempty"`
	Timestamp  string `json:"timestamp"`
	Path       string `json:"path"`
	// DeclineCode accompanies 402 PAYMENT_DECLINED (an extension).
	DeclineCode string `json:"decline_code,omitempty"`
}

// httpError is a transport-level error (unknown route, body too large).
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

var kindStatus = map[apperr.Kind]int{
	apperr.Invalid:       http.StatusBadRequest,
	apperr.BadRequest:    http.StatusBadRequest,
	apperr.Unauthorized:  http.StatusUnauthorized,
	apperr.Forbidden:     http.StatusForbidden,
	apperr.NotFound:      http.StatusNotFound,
	apperr.Conflict:      http.StatusConflict,
	apperr.PaymentFailed: http.StatusPaymentRequired,
	apperr.Unprocessable: http.StatusUnprocessableEntity,
	apperr.TooLarge:      http.StatusRequestEntityTooLarge,
	apperr.BadGateway:    http.StatusBadGateway,
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{Timestamp: s.Clock.Now().UTC().Format("2006-01-02T15:04:05.000Z"), Path: r.URL.RequestURI()}
	var he *httpError
	if ae, ok := apperr.As(err); ok && ae.Kind != apperr.Internal {
		body.StatusCode = kindStatus[ae.Kind]
		body.Message = ae.Message
		body.Error = ae.Code
		body.DeclineCode = ae.DeclineCode
		if body.Error == "" && ae.Kind != apperr.Invalid {
			body.Error = http.StatusText(body.StatusCode)
		}
	} else if errors.As(err, &he) {
		body.StatusCode, body.Message, body.Error = he.status, he.message, he.code
		if body.Error == "" {
			body.Error = http.StatusText(he.status)
		}
	} else {
		s.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", safePath(r.URL.Path),
			"request_id", requestID(r.Context()), "err", err)
		body.StatusCode = http.StatusInternalServerError
		body.Message = "Internal server error"
		body.Error = "Internal Server Error"
	}
	writeJSON(w, body.StatusCode, body)
}

// reply returns a function that answers v with status, or hands err on to
// the error writer; handlers end with `return reply(w, 200)(s.X.Get(…))`.
func reply(w http.ResponseWriter, status int) func(v any, err error) error {
	return func(v any, err error) error {
		if err != nil {
			return err
		}
		writeJSON(w, status, v)
		return nil
	}
}
