package strictjson_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/strictjson"
)

func TestParseMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `"x"`, `12.5e-3`, `-0`, `true`, `false`, `null`,
		`{"a":[1,{"b":null,"c":"d"}],"e":"\u00e9\ud83d\ude00\n\"\\\/","f":{}}`,
		" {\t\"a\" :\r\n [ ] } ",
		`"\\ud800"`, // an escaped backslash, not an escape
		`{"é":"ü","":""}`,
	} {
		got, err := strictjson.Parse([]byte(in), "")
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		var want any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want %#v", in, got, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"a":2}`:                             "a must not be given more than once",
		`{"a":1,"\u0061":2}`:                        "a must not be given more than once",
		`{"items":[{"price":"x","price":"y"}]}`:     "items[0].price must not be given more than once",
		`{"a":{"b":{"c":[0,{"d":1,"d":1}]}}}`:       "a.b.c[1].d must not be given more than once",
		`{"name":"a\ud800b"}`:                       `name must be valid UTF-8 text (lone surrogate \ud800)`,
		`{"name":"\udc00"}`:                         `name must be valid UTF-8 text (lone surrogate \udc00)`,
		`{"name":"\ud800\u0041"}`:                   `name must be valid UTF-8 text (lone surrogate \ud800)`,
		`{"name":"x\uD83D"}`:                        `name must be valid UTF-8 text (lone surrogate \uD83D)`,
		"{\"items\":[{\"tax\":[\"ok\",\"\xff\"]}]}": "items[0].tax[1] must be valid UTF-8 text (invalid byte sequence)",
		"{\"a\xc3\":1}":                             "request body has a property name that is not valid text (invalid byte sequence)",
		`{"memo":"a\u0000"}`:                        `memo must not contain the NUL character (\u0000)`,
		`{"a":[{"\u0000":1}]}`:                      `a[0] has a property name that is not valid text (NUL character)`,
		`{"a":{"\udfff":1}}`:                        `a has a property name that is not valid text (lone surrogate \udfff)`,
	} {
		_, err := strictjson.Parse([]byte(in), "")
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	if _, err := strictjson.Parse([]byte(`{"status":"a","status":"b"}`), "search"); err == nil || err.Error() != "search.status must not be given more than once" {
		t.Errorf("under a root: %v", err)
	}
}
