package server

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/web"
)

// The organization's pages are for its org-admins (permOrgAdmin), and
// show the organization the session acts in, and nothing of any other:
// every list below is read with the principal's own OrgID. Their forms
// call the organization's API routes, which check the same again.

type memberView struct {
	User *freight.User
	Role freight.Role
	Self bool
}

type orgPage struct {
	Org     *freight.Organization
	Members []memberView
	Tokens  tokenSection
	// Invitations are the organization's pending invitations.
	Invitations []invitationAnswer
	Quota       quotaView
}

// orgPage shows an organization's members (roles, removal, invitations,
// pending ones with their withdrawal), its service-account tokens and its
// download quota.
func (s *Server) orgPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	o, err := s.store.Organization(ctx, p.OrgID)
	if err != nil {
		return err
	}
	body := orgPage{Org: o}
	if body.Members, err = s.orgMembers(ctx, o.ID, p.UserID); err != nil {
		return err
	}
	if body.Invitations, err = s.pendingInvitations(ctx, o.ID); err != nil {
		return err
	}
	body.Tokens = tokenSection{API: "/api/v1/organizations/" + o.ID + "/tokens", Key: "svc", Done: "/org#tokens",
		Empty: "Your organization has no service-account tokens.", Expiries: tokenExpiries(s.now())}
	ts, err := s.activeTokens(ctx, freight.TokenFilter{OrgID: o.ID})
	if err != nil {
		return err
	}
	// Personal tokens of members are theirs to manage.
	body.Tokens.Tokens = slices.DeleteFunc(ts, func(t *freight.Token) bool { return t.UserID != "" })
	slices.SortStableFunc(body.Tokens.Tokens, func(a, b *freight.Token) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if body.Quota, err = s.quotaView(ctx, o.ID, false); err != nil {
		return err
	}
	return s.render(w, r, p, "org", o.Name, "org", body)
}

// orgMembers lists the members of an organization by email; self marks
// the viewer.
func (s *Server) orgMembers(ctx context.Context, orgID, self string) ([]memberView, error) {
	var out []memberView
	f := freight.MembershipFilter{OrgID: orgID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ms, next, err := s.store.Memberships(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			u, err := s.store.User(ctx, m.UserID)
			if err != nil {
				return nil, err
			}
			out = append(out, memberView{User: u, Role: m.Role, Self: u.ID == self})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(out, func(a, b memberView) int {
		return cmp.Compare(strings.ToLower(a.User.Email), strings.ToLower(b.User.Email))
	})
	return out, nil
}

// tokenExpiries are the choices of a new token's expiry.
func tokenExpiries(now time.Time) []expiryOption {
	var out []expiryOption
	for _, e := range []struct {
		label   string
		days    int
		initial bool
	}{{"in 30 days", 30, false}, {"in 90 days", 90, true}, {"in a year", 365, false}} {
		at := now.Add(time.Duration(e.days) * 24 * time.Hour).UTC()
		out = append(out, expiryOption{Label: e.label + " (" + at.Format("2 Jan 2006") + ")", Value: at.Format(time.RFC3339), Default: e.initial})
	}
	return out
}

// nameOf is a label the download history shows for an id.
type nameOf struct{ ID, Name string }

type orgDownloadsPage struct {
	Org      *freight.Organization
	From, To string
	Total    analyticsCounts
	Rate     string
	Files    figureTable
	// Names label the ids of the history, which the script reads from
	// the API: files, members and service tokens of the organization.
	Names  []nameOf
	LogCSV string
}

// orgDownloadsPage shows an organization's downloads: the last 30 days'
// figures and top files (from the analytics, kept to the organization),
// and the history, which the page's script pages through from
// GET /api/v1/downloads.
func (s *Server) orgDownloadsPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	o, err := s.store.Organization(ctx, p.OrgID)
	if err != nil {
		return err
	}
	q, err := s.parseAnalyticsQuery(ctx, p, url.Values{"group": {string(freight.GroupArtifact)}, "limit": {"10"}})
	if err != nil {
		return err
	}
	a, err := s.downloadFigures(ctx, q)
	if err != nil {
		return err
	}
	v := q.values()
	v.Set("format", "csv")
	body := orgDownloadsPage{Org: o, From: a.From, To: a.To, Total: a.Total,
		Files:  figureTable{Caption: "Files downloaded", Column: "File", Rows: a.Rows, CSV: "/api/v1/analytics/downloads?" + v.Encode()},
		LogCSV: "/api/v1/downloads?format=csv"}
	if a.Total.Downloads > 0 {
		body.Rate = formatPercent(a.Total.CompletionRate)
	}

	// The names the history may need: every file the organization ever
	// downloaded (the 500 most downloaded), its members and its tokens.
	files, err := s.store.DownloadStats(ctx, freight.DownloadStatsFilter{Group: freight.GroupArtifact, OrgID: o.ID, Limit: freight.MaxPageSize})
	if err != nil {
		return err
	}
	for _, f := range files.Rows {
		name := f.Name
		if f.Version != "" {
			name += " (" + f.Version + ")"
		}
		body.Names = append(body.Names, nameOf{f.Key, name})
	}
	members, err := s.orgMembers(ctx, o.ID, p.UserID)
	if err != nil {
		return err
	}
	for _, m := range members {
		body.Names = append(body.Names, nameOf{m.User.ID, m.User.Email})
	}
	tf := freight.TokenFilter{OrgID: o.ID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ts, next, err := s.store.Tokens(ctx, tf)
		if err != nil {
			return err
		}
		for _, t := range ts {
			body.Names = append(body.Names, nameOf{t.ID, "token " + t.Name})
		}
		if next == "" {
			break
		}
		tf.After = next
	}
	return s.render(w, r, p, "org-downloads", o.Name+": downloads", "org", body)
}

// formatPercent writes a rate as a whole percentage.
func formatPercent(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" }

// orgChoices lists the organizations a person belongs to, by name, for
// the header's switcher; none for vendor staff and tokens, who act in no
// organization or in one only.
func (s *Server) orgChoices(ctx context.Context, p freight.Principal) ([]web.OrgChoice, error) {
	if p.UserID == "" || p.SessionID == "" || p.Role.IsVendor() {
		return nil, nil
	}
	var out []web.OrgChoice
	f := freight.MembershipFilter{UserID: p.UserID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ms, next, err := s.store.Memberships(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			o, err := s.store.Organization(ctx, m.OrgID)
			if err != nil {
				return nil, err
			}
			out = append(out, web.OrgChoice{ID: o.ID, Name: o.Name, Current: o.ID == p.OrgID})
		}
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(out, func(a, b web.OrgChoice) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}
