// Package freight holds the domain of the Freight download portal: the types
// (organizations, users, products, releases, artifacts, entitlements, API
// tokens, audit events), their validation rules, the error type shared by
// every layer, and the interfaces that adapters implement.
//
// The root package imports no adapter. Storage lives in sqlstore, the HTTP
// API in server, and the binary in cmd/freight; each of them depends on this
// package, never the other way round.
package freight
