package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// healthz answers 200 while the process serves requests.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

// readyz answers 200 when the database and the blob store answer, 503
// otherwise, so that a load balancer stops sending traffic to a replica that
// lost either. The blob store is asked for one listed blob: a read that
// touches the store itself, is cheap on every backend, and needs no blob to
// exist.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.logger.WarnContext(ctx, "readiness check failed", "check", "database", "err", err)
		s.writeError(w, r, &freight.Error{Code: freight.EUNAVAILABLE, Message: "database unreachable", Err: err})
		return
	}
	if s.blobs != nil {
		if _, _, err := s.blobs.List(ctx, "", 1); err != nil {
			s.logger.WarnContext(ctx, "readiness check failed", "check", "blob store", "err", err)
			s.writeError(w, r, &freight.Error{Code: freight.EUNAVAILABLE, Message: "blob store unreachable", Err: err})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	err := freight.Errorf(freight.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path)
	// A browser asking for a page gets a page; API clients get JSON.
	if !strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.pageError(w, r, freight.Errorf(freight.ENOTFOUND, "There is no page at this address."))
		return
	}
	s.writeError(w, r, err)
}
