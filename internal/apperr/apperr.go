// Package apperr is the error vocabulary shared by the domain packages and the
// HTTP layer. Domain code says what went wrong (a Kind, a stable Code and a
// message naming the problem); httpapi alone decides the status code.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the transport.
type Kind int

// Kinds of errors.
const (
	Internal   Kind = iota
	Invalid         // bad input: 400 without an error code
	BadRequest      // a request that cannot be carried out (wrong state, rule): 400 with a code
	Unauthorized
	Forbidden
	NotFound
	Conflict
	PaymentFailed // gateway decline: 402
	Unprocessable
	TooLarge
	BadGateway
)

// Error is a domain error with a machine-readable code.
type Error struct {
	Kind    Kind
	Code    string // e.g. PAYMENT_DECLINED; empty for plain validation errors
	Message string
	// DeclineCode is the gateway's reason for a declined payment.
	DeclineCode string
	Err         error // wrapped cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Invalidf reports bad input; the message names the field.
func Invalidf(format string, args ...any) *Error {
	return &Error{Kind: Invalid, Message: fmt.Sprintf(format, args...)}
}

// BadRequestf reports a request refused by a rule or state, with a code.
func BadRequestf(code, format string, args ...any) *Error {
	return &Error{Kind: BadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf reports an unknown (or another account's) object.
func NotFoundf(format string, args ...any) *Error {
	return &Error{Kind: NotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflictf reports a state conflict.
func Conflictf(code, format string, args ...any) *Error {
	return &Error{Kind: Conflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// New builds an error of any kind.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == k
}
