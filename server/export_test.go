package server

import (
	"context"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/jobs"
)

// OpenAPIDocument is the embedded description, for the tests that check
// the server against it.
var OpenAPIDocument = openAPIDocument

// Emit queues an event on tx as a change of the server would, for the
// tests of what a failing change leaves behind.
func (s *Server) Emit(ctx context.Context, tx freight.Store, typ, orgID string, data any) error {
	_, err := s.emitToOrg(ctx, tx, typ, data, orgID)
	return err
}

// RouteGroups is the table of routes whose rate-limit group is declared
// rather than derived, for the test that checks it names real routes.
var RouteGroups = routeGroups

// HandleJob runs the handler of j's kind on j as the worker that claimed
// it would, and nothing else: the tests of a worker that dies after its
// handler returned, before the queue records the outcome.
func (s *Server) HandleJob(ctx context.Context, j *freight.Job) error {
	switch j.Kind {
	case releaseNotifyKind:
		return s.releaseNotifyJob(ctx, j)
	case resetRequestKind:
		return s.resetRequestJob(ctx, j)
	case verifyUploadKind:
		return s.verifyUploadJob(ctx, j)
	}
	panic("HandleJob: no handler for " + j.Kind)
}

// VerifyUploads runs the due verify-upload jobs, and no other job, in the
// calling goroutine, as a worker of its own: for the tests that complete
// uploads on a server whose queue does not run.
func (s *Server) VerifyUploads(ctx context.Context) (int, error) {
	q := jobs.New(s.store, s.logger, jobs.Config{Now: s.now, Worker: "verify-uploads"})
	q.Handle(verifyUploadKind, s.verifyUploadJob)
	return q.RunDue(ctx)
}
