package store

import "testing"

func TestRewriteParams(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT $1`:                                     `SELECT ?1`,
		`WHERE b = $2 AND a = $1`:                       `WHERE b = ?2 AND a = ?1`,
		`SELECT '$1', "p$2", $3`:                        `SELECT '$1', "p$2", ?3`,
		`SELECT 'it''s $2', $1`:                         `SELECT 'it''s $2', ?1`,
		"SELECT $1 -- don't $2\nFROM t WHERE x = $3":    "SELECT ?1 -- don't $2\nFROM t WHERE x = ?3",
		`SELECT /* it's $1 */ $2`:                       `SELECT /* it's $1 */ ?2`,
		`SELECT $10, $1`:                                `SELECT ?10, ?1`,
		`SELECT 'unterminated $1`:                       `SELECT 'unterminated $1`,
		`SELECT x FROM t`:                               `SELECT x FROM t`,
		`SELECT json_extract(x, '$.a') FROM t WHERE $1`: `SELECT json_extract(x, '$.a') FROM t WHERE ?1`,
	} {
		if got := rewriteParams(in); got != want {
			t.Errorf("rewriteParams(%q) = %q, want %q", in, got, want)
		}
	}
}
