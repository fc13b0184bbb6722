// Package strictjson reads JSON sent by clients more strictly than
// encoding/json does. encoding/json lets a duplicate key overwrite the first
// one and turns invalid UTF-8 and lone surrogate escapes ("\ud800") into
// U+FFFD without a word; Kassa would then store text the client never sent.
// Parse refuses both, naming the field by its path.
//
// Paths join object keys with dots and put array indexes in brackets:
// items[0].tax[1].
package strictjson

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/kassahq/kassa/internal/apperr"
)

// Field is the path of key inside the object at path.
func Field(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index is the path of element i of the array at path.
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Parse reads one JSON value into the form encoding/json gives it with
// UseNumber (map[string]any, []any, string, json.Number, bool or nil). The
// syntax must already be valid (json.Valid): Parse checks what encoding/json
// does not. Errors are apperr.Invalid and name the path, below root (""
// for a request body, "search" for a query parameter).
func Parse(data []byte, root string) (any, error) {
	p := &parser{data: data}
	v, err := p.value(root)
	if err != nil {
		return nil, err
	}
	if p.ws(); p.pos != len(p.data) {
		return nil, errSyntax
	}
	return v, nil
}

var errSyntax = apperr.Invalidf("malformed JSON")

type parser struct {
	data []byte
	pos  int
}

func (p *parser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *parser) value(path string) (any, error) {
	p.ws()
	switch c := p.peek(); c {
	case '{':
		return p.object(path)
	case '[':
		return p.array(path)
	case '"':
		s, bad := p.str()
		switch {
		case bad == nulChar:
			return nil, apperr.Invalidf("%s must not contain the NUL character (\\u0000)", where(path))
		case bad != "":
			return nil, apperr.Invalidf("%s must be valid UTF-8 text (%s)", where(path), bad)
		}
		return s, nil
	case 't':
		return p.literal("true", true)
	case 'f':
		return p.literal("false", false)
	case 'n':
		return p.literal("null", nil)
	case 0:
		return nil, errSyntax
	default:
		start := p.pos
		for p.pos < len(p.data) && isNumberByte(p.data[p.pos]) {
			p.pos++
		}
		if p.pos == start {
			return nil, errSyntax
		}
		return json.Number(p.data[start:p.pos]), nil
	}
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func (p *parser) literal(word string, v any) (any, error) {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return nil, errSyntax
	}
	p.pos += len(word)
	return v, nil
}

func (p *parser) object(path string) (any, error) {
	p.pos++ // {
	obj := map[string]any{}
	if p.ws(); p.peek() == '}' {
		p.pos++
		return obj, nil
	}
	for {
		if p.ws(); p.peek() != '"' {
			return nil, errSyntax
		}
		key, bad := p.str()
		if bad != "" {
			return nil, apperr.Invalidf("%s has a property name that is not valid text (%s)", where(path), bad)
		}
		at := Field(path, key)
		if _, dup := obj[key]; dup {
			return nil, apperr.Invalidf("%s must not be given more than once", at)
		}
		if p.ws(); p.peek() != ':' {
			return nil, errSyntax
		}
		p.pos++
		v, err := p.value(at)
		if err != nil {
			return nil, err
		}
		obj[key] = v
		p.ws()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return obj, nil
		default:
			return nil, errSyntax
		}
	}
}

func (p *parser) array(path string) (any, error) {
	p.pos++ // [
	arr := []any{}
	if p.ws(); p.peek() == ']' {
		p.pos++
		return arr, nil
	}
	for {
		v, err := p.value(Index(path, len(arr)))
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.ws()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, errSyntax
		}
	}
}

// nulChar is what str reports for a string holding U+0000.
const nulChar = "NUL character"

// str reads the string literal at pos. bad says why its text is not valid
// Unicode, or holds U+0000, when it does.
func (p *parser) str() (s string, bad string) {
	start := p.pos
	p.pos++ // "
	escaped := false
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '"':
			raw := p.data[start+1 : p.pos]
			p.pos++
			return decodeString(p.data[start:p.pos], raw, escaped)
		case '\\':
			escaped = true
			p.pos += 2
		default:
			p.pos++
		}
	}
	return "", "unterminated string"
}

func decodeString(literal, raw []byte, escaped bool) (string, string) {
	if !utf8.Valid(raw) {
		return "", "invalid byte sequence"
	}
	if !escaped {
		return string(raw), ""
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++
			continue
		}
		r := hex4(raw[i+2:])
		switch {
		case r == 0:
			return "", nulChar
		case r >= 0xD800 && r <= 0xDBFF:
			// A high surrogate must be followed by a low one.
			if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if low := hex4(raw[i+8:]); low >= 0xDC00 && low <= 0xDFFF {
					i += 11
					continue
				}
			}
			return "", "lone surrogate \\u" + string(raw[i+2:i+6])
		case r >= 0xDC00 && r <= 0xDFFF:
			return "", "lone surrogate \\u" + string(raw[i+2:i+6])
		}
		i += 5
	}
	var s string
	if err := json.Unmarshal(literal, &s); err != nil {
		return "", "malformed escape"
	}
	return s, ""
}

// hex4 reads four hex digits (valid JSON guarantees them after \u).
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}

func where(path string) string {
	if path == "" {
		return "request body"
	}
	return path
}
