package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// Config holds the settings of the HTTP layer.
type Config struct {
	// MaxBodyBytes bounds JSON request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// Version is reported by /healthz.
	Version string
	// Now is the clock; nil means time.Now. Tests replace it.
	Now func() time.Time
}

// Server serves Freight's HTTP API over a Store.
type Server struct {
	store   freight.Store
	logger  *slog.Logger
	maxBody int64
	version string
	now     func() time.Time
	handler http.Handler
}

// New returns a Server. The logger should be wrapped with LogHandler so
// that request ids appear in every line.
func New(store freight.Store, logger *slog.Logger, cfg Config) *Server {
	s := &Server{store: store, logger: logger, maxBody: cfg.MaxBodyBytes, version: cfg.Version, now: cfg.Now}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.handler = s.routes()
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// change runs fn in a transaction and records an audit event for it in the
// same transaction, so that no change lands without its record. fn returns
// the target's id, the organization concerned (or "") and the details.
func (s *Server) change(r *http.Request, action, targetType string, fn func(tx freight.Store) (target audited, err error)) error {
	ctx := r.Context()
	p := principal(ctx)
	return s.store.Tx(ctx, func(tx freight.Store) error {
		t, err := fn(tx)
		if err != nil {
			return err
		}
		details, err := json.Marshal(t.details)
		if err != nil {
			return freight.Internal(err)
		}
		return tx.CreateAuditEvent(ctx, &freight.AuditEvent{
			Time:       s.now(),
			Actor:      p.Actor(),
			TokenID:    p.TokenID,
			Action:     action,
			TargetType: targetType,
			TargetID:   t.id,
			OrgID:      t.orgID,
			IP:         clientIP(r),
			RequestID:  RequestID(ctx),
			Details:    details,
		})
	})
}

// audited describes the target of a change for its audit event. details
// must never hold a secret; the domain types keep theirs out of JSON.
type audited struct {
	id, orgID string
	details   any
}
