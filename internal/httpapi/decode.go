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
	"github.com/kassahq/kassa/internal/strictjson"
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

// decode reads a JSON object into dst, refusing duplicate keys, invalid
// text, unknown properties, ill-typed values and null where a field cannot
// take it, with a message that names the field.
func (s *Server) decode(r *http.Request, dst any) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(body, dst)
}

func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return apperr.Invalidf("request body must be a JSON object")
	}
	if !json.Valid(trimmed) {
		return syntaxError(trimmed)
	}
	// encoding/json takes the last of duplicate keys and replaces invalid
	// text with U+FFFD; strictjson refuses both.
	generic, err := strictjson.Parse(trimmed, "")
	if err != nil {
		return err
	}
	if err := checkValue(generic, reflect.TypeOf(dst), ""); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeDecodeError(err)
	}
	return nil
}

// syntaxError describes why a body is not one valid JSON value.
func syntaxError(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return describeDecodeError(err)
	}
	return apperr.Invalidf("request body must contain exactly one JSON object")
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	valueTypedType  = reflect.TypeFor[valueTyped]()
)

// valueTyped is a field type that decodes itself (field.Clearable,
// field.Patch) but says what its non-null value must be.
type valueTyped interface{ JSONValueType() reflect.Type }

// checkValue checks a parsed JSON value against the Go type it will be
// decoded into, before encoding/json does, naming the bad element by its
// full path (encoding/json drops array indexes: items.quantity for
// items[0].quantity). It refuses:
//   - object keys that name no field of a struct exactly (encoding/json
//     matches case-insensitively; the contract does not);
//   - values of the wrong JSON type;
//   - null where the Go type cannot hold it (encoding/json would ignore it).
//
// Types that decode themselves accept anything; they check their own input.
func checkValue(v any, t reflect.Type, path string) error {
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			return nil
		}
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		return apperr.Invalidf("%s must not be null", path)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(valueTypedType) {
		return checkValue(v, reflect.Zero(t).Interface().(valueTyped).JSONValueType(), path)
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	ok := true
	switch t.Kind() {
	case reflect.Struct:
		obj, isObj := v.(map[string]any)
		if !isObj {
			ok = false
			break
		}
		fields := fieldsOf(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, known := fields[k]
			if !known {
				prefix := ""
				if path != "" {
					prefix = path + "."
				}
				return apperr.Invalidf("%sproperty %s should not exist", prefix, k)
			}
			at := strictjson.Field(path, k)
			if obj[k] == nil && f.neverNull {
				return apperr.Invalidf("%s must not be null", at)
			}
			if err := checkValue(obj[k], f.typ, at); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, isObj := v.(map[string]any)
		if !isObj {
			ok = false
			break
		}
		for k, e := range obj {
			if err := checkValue(e, t.Elem(), strictjson.Field(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, isArr := v.([]any)
		if !isArr {
			ok = false
			break
		}
		for i, e := range arr {
			if err := checkValue(e, t.Elem(), strictjson.Index(path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		_, ok = v.(string)
	case reflect.Bool:
		_, ok = v.(bool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, isNum := v.(json.Number)
		_, err := strconv.ParseInt(string(n), 10, t.Bits())
		ok = isNum && err == nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, isNum := v.(json.Number)
		_, err := strconv.ParseUint(string(n), 10, t.Bits())
		ok = isNum && err == nil
	case reflect.Float32, reflect.Float64:
		n, isNum := v.(json.Number)
		_, err := strconv.ParseFloat(string(n), t.Bits())
		ok = isNum && err == nil
	}
	if !ok {
		if path == "" {
			return apperr.Invalidf("request body must be a JSON object")
		}
		return apperr.Invalidf("%s must be %s", path, kindName(t))
	}
	return nil
}

// fieldInfo is what the decoder needs to know of one struct field.
type fieldInfo struct {
	typ reflect.Type
	// neverNull: the field may be absent but not null (tag null:"never").
	neverNull bool
}

// fieldCache holds each decoded type's JSON fields, worked out once.
var fieldCache sync.Map // reflect.Type → map[string]fieldInfo

func fieldsOf(t reflect.Type) map[string]fieldInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]fieldInfo)
	}
	fields := map[string]fieldInfo{}
	jsonFields(t, fields)
	fieldCache.Store(t, fields)
	return fields
}

// jsonFields adds the JSON fields of t (embedded structs included).
func jsonFields(t reflect.Type, out map[string]fieldInfo) {
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
		out[name] = fieldInfo{typ: f.Type, neverNull: f.Tag.Get("null") == "never"}
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
