// Package openapi embeds Kassa's OpenAPI document, served at /openapi.json
// and used by the tests to validate every response. Regenerate it with
// `go generate ./internal/openapi` after changing a file in overlay/.
package openapi

import _ "embed"

//go:generate go run ./gen -contract ../../../shared/reference/chaching-openapi.json -overlay overlay -out openapi.json

// Document is the OpenAPI 3 document as JSON.
//
//go:embed openapi.json
var Document []byte
