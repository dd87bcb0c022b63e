package server

import (
	"context"
	"net/http"

	"github.com/freight-portal/freight"
)

// releaseInput holds the fields a caller sets on a release. The version is
// fixed at creation; the channel may change only while the release is a
// draft, because it decides who sees a published release.
type releaseInput struct {
	Version *string          `json:"version"`
	Channel *freight.Channel `json:"channel"`
	Notes   *string          `json:"notes"`
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	prod, err := productRef(r.Context(), s.store, r.PathValue("product"))
	if err != nil {
		return err
	}
	f := freight.ReleaseFilter{Page: pg, ProductID: prod.ID, State: freight.ReleaseState(q.Get("state")), Channel: freight.Channel(q.Get("channel"))}
	switch f.State {
	case "", freight.ReleaseDraft, freight.ReleasePublished, freight.ReleaseYanked:
	default:
		return freight.FieldError("state", "must be draft, published or yanked")
	}
	if f.Channel != "" && !f.Channel.Valid() {
		return freight.FieldError("channel", "must be one of stable, rc, beta, alpha, dev")
	}
	rs, next, err := s.store.Releases(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, rs, next)
	return nil
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) error {
	var in releaseInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	rel := freight.Release{Channel: freight.ChannelStable, State: freight.ReleaseDraft}
	if in.Version != nil {
		rel.Version = *in.Version
	}
	if in.Channel != nil {
		rel.Channel = *in.Channel
	}
	if in.Notes != nil {
		rel.Notes = *in.Notes
	}
	if err := rel.Validate(); err != nil {
		return err
	}
	err := s.change(r, "release.create", "release", func(tx freight.Store) (audited, error) {
		prod, err := productRef(r.Context(), tx, r.PathValue("product"))
		if err != nil {
			return audited{}, err
		}
		rel.ProductID = prod.ID
		if err := tx.CreateRelease(r.Context(), &rel); err != nil {
			return audited{}, err
		}
		return audited{id: rel.ID, details: &rel}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &rel)
	return nil
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	rel, err := s.store.Release(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

func (s *Server) updateRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	body, err := s.patchBody(w, r, &releaseInput{})
	if err != nil {
		return err
	}
	return s.transitionRelease(w, r, id, "release.update", func(_ freight.Store, rel *freight.Release) error {
		var in releaseInput
		if err := decodeBytes(body, &in); err != nil {
			return err
		}
		if in.Version != nil && *in.Version != rel.Version {
			return freight.FieldError("version", "cannot change; delete the draft and create a new release")
		}
		if in.Channel != nil && *in.Channel != rel.Channel {
			if rel.State != freight.ReleaseDraft {
				return freight.FieldError("channel", "can change only while the release is a draft")
			}
			rel.Channel = *in.Channel
		}
		if in.Notes != nil {
			rel.Notes = *in.Notes
		}
		return nil
	})
}

func (s *Server) publishRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	return s.transitionRelease(w, r, id, "release.publish", func(tx freight.Store, rel *freight.Release) error {
		if rel.State != freight.ReleaseDraft {
			return freight.Errorf(freight.ECONFLICT, "release %s is %s; only a draft can be published", rel.Version, rel.State)
		}
		if err := allAvailable(r.Context(), tx, rel); err != nil {
			return err
		}
		now := s.now()
		rel.State = freight.ReleasePublished
		rel.PublishedAt = &now
		if err := s.queuePrefetchOf(r.Context(), tx, rel); err != nil {
			return err
		}
		return s.queueReleaseNotify(r, tx, rel)
	})
}

// queuePrefetchOf enqueues, on tx, the reconciliation of the prefetch rows
// for a release that is being published or yanked, when its product
// prefetches; a product that does not has no rows to change.
func (s *Server) queuePrefetchOf(ctx context.Context, tx freight.Store, rel *freight.Release) error {
	prod, err := tx.Product(ctx, rel.ProductID)
	if err != nil {
		return err
	}
	if !prod.PrefetchEdges {
		return nil
	}
	return s.queueEdgePrefetch(ctx, tx, freight.EdgePrefetchScope{ReleaseID: rel.ID})
}

type yankInput struct {
	Reason string `json:"reason"`
}

func (s *Server) yankRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	// The reason is optional, so an empty body is fine.
	var in yankInput
	if err := s.decodeOptional(w, r, &in); err != nil {
		return err
	}
	return s.transitionRelease(w, r, id, "release.yank", func(tx freight.Store, rel *freight.Release) error {
		if rel.State != freight.ReleasePublished {
			return freight.Errorf(freight.ECONFLICT, "release %s is %s; only a published release can be yanked", rel.Version, rel.State)
		}
		now := s.now()
		rel.State = freight.ReleaseYanked
		rel.YankedAt = &now
		rel.YankReason = in.Reason
		// Edges stop being asked for its files, and may no longer fetch
		// them without a download's grant.
		return s.queuePrefetchOf(r.Context(), tx, rel)
	})
}

// transitionRelease applies fn to a release under the row lock, validates
// the result, audits it and answers it.
func (s *Server) transitionRelease(w http.ResponseWriter, r *http.Request, id, action string, fn func(tx freight.Store, rel *freight.Release) error) error {
	var before, after *freight.Release
	err := s.change(r, action, "release", func(tx freight.Store) (audited, error) {
		var err error
		after, err = tx.UpdateRelease(r.Context(), id, func(rel *freight.Release) error {
			b := *rel
			before = &b
			if err := fn(tx, rel); err != nil {
				return err
			}
			return rel.Validate()
		})
		if err != nil {
			return audited{}, err
		}
		switch action {
		case "release.publish":
			_, err = s.emitRelease(r.Context(), tx, freight.EventReleasePublished, after)
		case "release.yank":
			_, err = s.emitRelease(r.Context(), tx, freight.EventReleaseYanked, after)
		}
		if err != nil {
			return audited{}, err
		}
		return audited{id: id, details: diff{Before: before, After: after}}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusOK, after)
	return nil
}

func (s *Server) deleteRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	err = s.change(r, "release.delete", "release", func(tx freight.Store) (audited, error) {
		rel, err := tx.Release(r.Context(), id)
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteRelease(r.Context(), id); err != nil {
			return audited{}, err
		}
		return audited{id: id, details: rel}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	if _, err := s.store.Release(r.Context(), id); err != nil {
		return err
	}
	as, next, err := s.store.Artifacts(r.Context(), freight.ArtifactFilter{Page: pg, ReleaseID: id})
	if err != nil {
		return err
	}
	writeList(w, as, next)
	return nil
}

// allAvailable refuses to publish a release with a file that is still
// uploading, or failed: customers would see a file they cannot download.
// It runs under the release's row lock, which adding an artifact takes too.
func allAvailable(ctx context.Context, tx freight.Store, rel *freight.Release) error {
	f := freight.ArtifactFilter{ReleaseID: rel.ID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		as, next, err := tx.Artifacts(ctx, f)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.State != freight.ArtifactAvailable {
				return freight.Errorf(freight.ECONFLICT, "release %s cannot be published: %s is %s", rel.Version, a.Filename, a.State)
			}
		}
		if next == "" {
			return nil
		}
		f.After = next
	}
}
