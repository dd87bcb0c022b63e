package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// Organization quotas: caps on the grants an organization receives per
// UTC day and calendar month, and on the bytes those grants name (see
// freight.Quota). Every grant to an organization is charged to the usage
// of both windows in the transaction that records it, whether or not a
// cap is set, so that usage is there to see before anyone sets a cap; the
// store's conditional upsert keeps racing grants, on any replica, from
// passing a cap together. The cost is two single-row upserts in a
// transaction the grant needed anyway.

// quotaWindow is the usage of one window as the API shows it.
type quotaWindow struct {
	Start     time.Time `json:"start"`
	ResetsAt  time.Time `json:"resets_at"`
	Downloads int64     `json:"downloads"`
	Bytes     int64     `json:"bytes"`
}

// orgUsage answers GET /api/v1/organizations/{org}/usage.
type orgUsage struct {
	OrgID string        `json:"org_id"`
	Quota freight.Quota `json:"quota"`
	Day   quotaWindow   `json:"day"`
	Month quotaWindow   `json:"month"`
}

func (s *Server) getOrgUsage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	q, err := s.store.OrgQuota(ctx, o.ID)
	if err != nil {
		return err
	}
	ans := orgUsage{OrgID: o.ID, Quota: q}
	now := s.now()
	for _, p := range []struct {
		period freight.LimitPeriod
		w      *quotaWindow
	}{{freight.LimitDay, &ans.Day}, {freight.LimitMonth, &ans.Month}} {
		start := freight.LimitWindowStart(p.period, now)
		u, err := s.store.OrgUsage(ctx, o.ID, p.period, start)
		if err != nil {
			return err
		}
		*p.w = quotaWindow{Start: start, ResetsAt: freight.LimitWindowEnd(p.period, now), Downloads: u.Downloads, Bytes: u.Bytes}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (s *Server) putOrgQuota(w http.ResponseWriter, r *http.Request) error {
	var q freight.Quota
	if err := s.decode(w, r, &q); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	err := s.change(r, "organization.quota", "organization", func(tx freight.Store) (audited, error) {
		o, err := organizationRef(r.Context(), tx, r.PathValue("org"))
		if err != nil {
			return audited{}, err
		}
		before, err := tx.OrgQuota(r.Context(), o.ID)
		if err != nil {
			return audited{}, err
		}
		if err := tx.SetOrgQuota(r.Context(), o.ID, q); err != nil {
			return audited{}, err
		}
		return audited{id: o.ID, orgID: o.ID, details: diff{Before: before, After: q}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

// chargeQuota charges one grant of size bytes to the organization's day
// and month, on tx, the transaction that records the grant. A window whose
// cap is reached refuses with ERATELIMIT and the time until it resets; a
// file larger than a byte cap by itself is refused with EFORBIDDEN, since
// no wait would help.
func (s *Server) chargeQuota(ctx context.Context, tx freight.Store, orgID string, size int64, now time.Time) error {
	q, err := tx.OrgQuota(ctx, orgID)
	if err != nil {
		return err
	}
	add := freight.Usage{Downloads: 1, Bytes: size}
	for _, p := range freight.QuotaPeriods {
		caps := q.Caps(p)
		_, err := tx.ChargeUsage(ctx, orgID, p, freight.LimitWindowStart(p, now), add, caps)
		if freight.ErrorCode(err) != freight.ETOOLARGE {
			if err != nil {
				return err
			}
			continue
		}
		word := map[freight.LimitPeriod]string{freight.LimitDay: "daily", freight.LimitMonth: "monthly"}[p]
		if add.Exceeds(freight.Usage{}, caps) {
			return freight.Errorf(freight.EFORBIDDEN, "this file (%d bytes) is larger than your organization's %s download quota of %d bytes", size, word, caps.Bytes)
		}
		end := freight.LimitWindowEnd(p, now)
		e := freight.Errorf(freight.ERATELIMIT, "your organization's %s download quota (%s) is used up: it resets at %s, in %d seconds",
			word, capsText(caps), end.Format(time.RFC3339), freight.Seconds(end.Sub(now)))
		e.RetryAfter = end.Sub(now)
		return e
	}
	return nil
}

// capsText writes the caps of a window for people.
func capsText(c freight.Usage) string {
	switch {
	case c.Downloads > 0 && c.Bytes > 0:
		return fmt.Sprintf("%d downloads, %d bytes", c.Downloads, c.Bytes)
	case c.Downloads > 0:
		return fmt.Sprintf("%d downloads", c.Downloads)
	}
	return fmt.Sprintf("%d bytes", c.Bytes)
}
