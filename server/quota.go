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
	ans, err := s.orgUsage(ctx, o.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// orgUsage reads an organization's caps and its usage of the current day
// and month, for the API and the console's pages alike.
func (s *Server) orgUsage(ctx context.Context, orgID string) (orgUsage, error) {
	q, err := s.store.OrgQuota(ctx, orgID)
	if err != nil {
		return orgUsage{}, err
	}
	ans := orgUsage{OrgID: orgID, Quota: q}
	now := s.now()
	for _, p := range []struct {
		period freight.LimitPeriod
		w      *quotaWindow
	}{{freight.LimitDay, &ans.Day}, {freight.LimitMonth, &ans.Month}} {
		start := freight.LimitWindowStart(p.period, now)
		u, err := s.store.OrgUsage(ctx, orgID, p.period, start)
		if err != nil {
			return orgUsage{}, err
		}
		*p.w = quotaWindow{Start: start, ResetsAt: freight.LimitWindowEnd(p.period, now), Downloads: u.Downloads, Bytes: u.Bytes}
	}
	return ans, nil
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

// quotaView is an organization's quota as its pages show it: on the
// console's page of the organization, where an admin changes the caps
// (CanEdit), and read-only on the organization's own page.
type quotaView struct {
	orgUsage
	CanEdit bool
}

// quotaWindowView is one window of a quotaView: its caps, what is used of
// them and when it resets. Key names the window's fields in the API
// (daily_…, monthly_…).
type quotaWindowView struct {
	Name, Key, Unit string
	Caps            freight.Usage
	Used            quotaWindow
}

// CapGB is the byte cap in gigabytes, as the form asks for it; "" for
// none.
func (w quotaWindowView) CapGB() string { return gigabytes(w.Caps.Bytes) }

// Windows are the day and the month, in that order.
func (q quotaView) Windows() []quotaWindowView {
	return []quotaWindowView{
		{Name: "Today (UTC)", Key: "daily", Unit: "day", Caps: q.Quota.Caps(freight.LimitDay), Used: q.Day},
		{Name: "This month (UTC)", Key: "monthly", Unit: "month", Caps: q.Quota.Caps(freight.LimitMonth), Used: q.Month},
	}
}

// Capped reports whether any cap is set.
func (q quotaView) Capped() bool { return q.Quota != freight.Quota{} }

func (s *Server) quotaView(ctx context.Context, orgID string, canEdit bool) (quotaView, error) {
	u, err := s.orgUsage(ctx, orgID)
	return quotaView{orgUsage: u, CanEdit: canEdit}, err
}
