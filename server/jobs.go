package server

import (
	"net/http"

	"github.com/freight-portal/freight"
)

// listJobs lists background jobs, newest first, for admins: what is
// queued, running, done or dead, with attempts and the last error. The
// payloads stay out of the answer: they may hold mail links.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.JobFilter{Page: pg, State: freight.JobState(q.Get("state")), Kind: q.Get("kind")}
	if f.State != "" && !freight.ValidJobState(f.State) {
		return freight.FieldError("state", "must be queued, running, done or dead")
	}
	if f.Kind != "" && !freight.ValidJobKind(f.Kind) {
		return freight.FieldError("kind", "is not a kind of job")
	}
	list, next, err := s.store.Jobs(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, list, next)
	return nil
}

// retryJob queues a dead job again with a fresh count of attempts.
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("job")
	if !freight.ValidID(freight.PrefixJob, id) {
		return freight.Errorf(freight.ENOTFOUND, "job not found")
	}
	var j *freight.Job
	err := s.change(r, "job.retry", "job", func(tx freight.Store) (audited, error) {
		var err error
		if j, err = tx.RetryJob(r.Context(), id, s.now()); err != nil {
			return audited{}, err
		}
		return audited{id: j.ID, details: map[string]any{"kind": j.Kind, "last_error": j.LastError}}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusOK, j)
	return nil
}
