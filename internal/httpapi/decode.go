package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/listing"
)

// readBody reads the request body within the size limit.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, apperr.Invalidf("request body must not be larger than %d bytes", s.MaxBodyBytes)
	}
	if err != nil {
		return nil, apperr.Invalidf("request body could not be read: %v", err)
	}
	return body, nil
}

// decode reads a JSON object into dst, refusing unknown properties and
// ill-typed values with a message that names the field.
func (s *Server) decode(r *http.Request, dst any) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(body, dst)
}

func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return apperr.Invalidf("request body must be a JSON object")
	}
	if trimmed[0] != '{' {
		return apperr.Invalidf("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeDecodeError(err)
	}
	if dec.More() {
		return apperr.Invalidf("request body must contain exactly one JSON object")
	}
	return nil
}

func describeDecodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return apperr.Invalidf("malformed JSON at offset %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Invalidf("malformed JSON: unexpected end of input")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apperr.Invalidf("request body must be a JSON object")
		}
		return apperr.Invalidf("%s must be %s", typ.Field, kindName(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Invalidf("property %s should not exist", name)
	}
	return apperr.Invalidf("invalid JSON body: %v", err)
}

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean value"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return fmt.Sprintf("of type %s", t)
}

// listQuery reads the page, take and search parameters of a list request.
// With allowText a search that is not a JSON object is free text.
func listQuery(r *http.Request, allowText bool) (listing.Params, listing.Search, error) {
	q := r.URL.Query()
	page, err := listing.ParseParams(q)
	if err != nil {
		return page, listing.Search{}, err
	}
	search, err := listing.ParseSearch(q.Get("search"), allowText)
	return page, search, err
}
