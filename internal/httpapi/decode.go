package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

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
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return describeDecodeError(err)
	}
	if dec.More() {
		return apperr.Invalidf("request body must contain exactly one JSON object")
	}
	// encoding/json matches keys to fields case-insensitively; the contract
	// does not, so {"Name": …} is an unknown property, not name.
	if err := checkKeys(generic, reflect.TypeOf(dst), ""); err != nil {
		return err
	}
	dec = json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeDecodeError(err)
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkKeys refuses object keys that name no field of t exactly, naming
// nested ones by their path as class-validator does ("address.0.property
// zip should not exist"). Types that decode themselves, maps and
// interfaces accept any key.
func checkKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := fieldsOf(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				prefix := ""
				if path != "" {
					prefix = path + "."
				}
				return apperr.Invalidf("%sproperty %s should not exist", prefix, k)
			}
			if err := checkKeys(obj[k], ft, joinPath(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			if err := checkKeys(e, t.Elem(), joinPath(path, strconv.Itoa(i))); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldCache holds each decoded type's JSON field names, worked out once.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	jsonFields(t, fields)
	fieldCache.Store(t, fields)
	return fields
}

// jsonFields adds the JSON names of t's fields (embedded structs included).
func jsonFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				jsonFields(ft, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
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
