// Command gen builds Kassa's OpenAPI document (internal/openapi/openapi.json)
// from the Chaching contract and Kassa's overlay.
//
// The contract supplies the wire shapes; its prose is dropped. Then:
// JavaScript-style /regex/ patterns become plain patterns; every optional
// property of a schema becomes nullable (Kassa always emits optional fields,
// as null when unset); the generic PageDto becomes a typed {data, meta}
// envelope per list; error responses get the error body schema; and
// the overlay files (Kassa's summaries, extension fields and endpoints, one
// file per domain) are merged on top.
//
//	go run ./internal/openapi/gen -contract ../shared/reference/chaching-openapi.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type obj = map[string]any

var prose = map[string]bool{"description": true, "summary": true, "example": true, "examples": true}

func main() {
	contract := flag.String("contract", "../shared/reference/chaching-openapi.json", "the Chaching contract")
	overlay := flag.String("overlay", "internal/openapi/overlay", "directory of Kassa's additions (*.json, merged in name order)")
	out := flag.String("out", "internal/openapi/openapi.json", "output file")
	flag.Parse()
	if err := run(*contract, *overlay, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func load(path string) (obj, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var o obj
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

func run(contractPath, overlayDir, outPath string) error {
	doc, err := load(contractPath)
	if err != nil {
		return err
	}
	overlays, err := filepath.Glob(filepath.Join(overlayDir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(overlays)
	strip(doc, false)
	delete(doc, "tags")
	doc["servers"] = []any{obj{"url": "/v1"}, obj{"url": "/"}}
	schemas := doc["components"].(obj)["schemas"].(obj)
	for _, s := range schemas {
		makeOptionalNullable(s.(obj))
	}
	typeEnvelopes(doc["paths"].(obj))
	describeResponses(doc["paths"].(obj))
	for _, path := range overlays {
		over, err := load(path)
		if err != nil {
			return err
		}
		merge(doc, over)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(outPath, buf.Bytes(), 0o644)
}

// strip removes prose and fixes /regex/ patterns. Inside "properties" the
// keys are field names, which are kept whatever they are called.
func strip(v any, inProperties bool) {
	switch t := v.(type) {
	case obj:
		for k, child := range t {
			if !inProperties && prose[k] {
				if _, isString := child.(string); isString || k == "examples" || k == "example" {
					delete(t, k)
					continue
				}
			}
			if k == "pattern" && !inProperties {
				if p, ok := child.(string); ok && len(p) > 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
					t[k] = p[1 : len(p)-1]
				}
			}
			strip(child, k == "properties" && !inProperties)
		}
		// The contract leaves some arrays untyped (invoice lines, generic
		// envelopes); an array schema needs items to be valid.
		if t["type"] == "array" && t["items"] == nil && !inProperties {
			t["items"] = obj{}
		}
	case []any:
		for _, e := range t {
			strip(e, false)
		}
	}
}

func makeOptionalNullable(schema obj) {
	props, ok := schema["properties"].(obj)
	if !ok {
		return
	}
	required := map[string]bool{}
	if req, ok := schema["required"].([]any); ok {
		for _, r := range req {
			required[r.(string)] = true
		}
	}
	for name, p := range props {
		if required[name] {
			continue
		}
		prop := p.(obj)
		if ref, ok := prop["$ref"]; ok {
			props[name] = obj{"allOf": []any{obj{"$ref": ref}}, "nullable": true}
			continue
		}
		prop["nullable"] = true
	}
}

// envelopeItems names the item schema of each list that the contract types
// as the generic PageDto (or, for customers, as a bare array: G-08).
var envelopeItems = map[string]string{
	"/customers": "CustomersPublicDto",
	"/customers/{externalKey}/payment-methods": "PaymentMethodPublicDto",
	"/transactions":               "TransactionPublicDto",
	"/invoices":                   "InvoicesPublicDto",
	"/invoices/{id}/transactions": "TransactionPublicDto",
	"/taxRates":                   "TaxesPublicDto",
	"/subscriptions":              "SubscriptionsPublicDto",
	"/payment-methods":            "PaymentMethodPublicDto",
	"/products":                   "ProductPublicDto",
	"/prices":                     "PricePublicDto",
}

func envelope(item string) obj {
	return obj{
		"type":     "object",
		"required": []any{"data", "meta"},
		"properties": obj{
			"data": obj{"type": "array", "items": obj{"$ref": "#/components/schemas/" + item}},
			"meta": obj{"$ref": "#/components/schemas/PageMetaDto"},
		},
	}
}

func typeEnvelopes(paths obj) {
	for path, item := range envelopeItems {
		get, ok := paths[path].(obj)["get"].(obj)
		if !ok {
			continue
		}
		ok200 := get["responses"].(obj)["200"].(obj)
		ok200["content"] = obj{"application/json": obj{"schema": envelope(item)}}
	}
}

func describeResponses(paths obj) {
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, path := range keys {
		for method, op := range paths[path].(obj) {
			responses, ok := op.(obj)["responses"].(obj)
			if !ok {
				continue
			}
			// Kassa answers these on every operation (G-45, G-59), and the
			// idempotency answers on every mutating one.
			extra := []string{"400", "401"}
			if strings.Contains(path, "{") {
				extra = append(extra, "404")
			}
			if method != "get" {
				extra = append(extra, "409", "422", "502")
			}
			for _, code := range extra {
				if _, ok := responses[code]; !ok {
					responses[code] = obj{}
				}
			}
			for code, r := range responses {
				resp := r.(obj)
				if code >= "400" {
					resp["description"] = "Error"
					resp["content"] = obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/ErrorDto"}}}
				} else {
					resp["description"] = "Success"
				}
			}
		}
	}
}

// merge copies src into dst: objects merge key by key, null deletes the
// key, anything else replaces.
func merge(dst, src obj) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sv, ok := v.(obj); ok {
			if dv, ok := dst[k].(obj); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}
