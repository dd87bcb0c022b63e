// Package server is Freight's HTTP adapter: the JSON API under /api/v1, the
// health endpoints, and the middleware every request passes through
// (request ids, logging, panic recovery, authentication).
//
// Every route is listed in routes.go. Handlers decode with decode, answer
// with writeJSON, and report failures with writeError, which is the one place
// that maps freight error codes to HTTP statuses.
package server
