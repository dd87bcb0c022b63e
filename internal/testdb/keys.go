package testdb

import (
	"testing"

	"github.com/freight-portal/freight/seal"
)

// SealKeys returns a new random key, with the id "test", for the secrets a
// store seals (sqlstore.DB.SealWith). Stores that share a database must
// share the keys too.
func SealKeys(tb testing.TB) *seal.Keys {
	tb.Helper()
	line, err := seal.NewKeyLine("test")
	if err != nil {
		tb.Fatal(err)
	}
	k, err := seal.Parse(line)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
