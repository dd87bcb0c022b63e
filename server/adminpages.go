package server

import (
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// The vendor console's pages for customers and operations: organizations
// (with their members, entitlements and licenses), users, licenses, edges
// and the audit log. Like every page they only read, straight from the
// store; their forms and buttons call the JSON API (web/static/admin.js).
// CanAdmin and the like tell a template which buttons the API would
// accept from the reader, so that support and publishers get no button
// that can only fail.

// collect reads every page of a store listing.
func collect[T any](list func(freight.Page) ([]T, string, error)) ([]T, error) {
	pg := freight.Page{Limit: freight.MaxPageSize}
	var out []T
	for {
		items, next, err := list(pg)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		pg.After = next
	}
}

// matches reports whether any of the fields contains the search, ignoring
// case; an empty search matches everything.
func matches(search string, fields ...string) bool {
	if search == "" {
		return true
	}
	search = strings.ToLower(search)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), search) {
			return true
		}
	}
	return false
}

// consolePageSize is how many rows the long console lists show at once.
const consolePageSize = 50

func (s *Server) allOrganizations(ctx context.Context) ([]*freight.Organization, error) {
	orgs, err := collect(func(pg freight.Page) ([]*freight.Organization, string, error) {
		return s.store.Organizations(ctx, freight.OrganizationFilter{Page: pg})
	})
	slices.SortFunc(orgs, func(a, b *freight.Organization) int {
		return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return orgs, err
}

func (s *Server) allProducts(ctx context.Context) ([]*freight.Product, error) {
	prods, err := collect(func(pg freight.Page) ([]*freight.Product, string, error) {
		return s.store.Products(ctx, freight.ProductFilter{Page: pg})
	})
	slices.SortFunc(prods, func(a, b *freight.Product) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return prods, err
}

// orgRow is an organization in the console's list.
type orgRow struct {
	*freight.Organization
	Products []string // names of the products it is entitled to
}

type consoleOrgsPage struct {
	Orgs        []orgRow
	Total       int // organizations before filtering
	Query       string
	Region      string
	MFA         string // "", "required" or "optional"
	Regions     []string
	CanAdmin    bool
	RegionHint  string
	FilterError string
}

// consoleOrganizationsPage lists the organizations, searched by name or
// slug and filtered by region and second-factor policy.
func (s *Server) consoleOrganizationsPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	body := consoleOrgsPage{Query: strings.TrimSpace(q.Get("q")), Region: q.Get("region"), MFA: q.Get("mfa"), CanAdmin: p.CanAdminister()}
	orgs, err := s.allOrganizations(ctx)
	if err != nil {
		return err
	}
	prods, err := s.allProducts(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, pr := range prods {
		names[pr.ID] = pr.Name
	}
	ents, err := collect(func(pg freight.Page) ([]*freight.Entitlement, string, error) {
		return s.store.Entitlements(ctx, freight.EntitlementFilter{Page: pg})
	})
	if err != nil {
		return err
	}
	entitled := map[string][]string{}
	for _, e := range ents {
		if n := names[e.ProductID]; !slices.Contains(entitled[e.OrgID], n) {
			entitled[e.OrgID] = append(entitled[e.OrgID], n)
		}
	}
	body.Total = len(orgs)
	regions := map[string]bool{}
	for _, o := range orgs {
		if o.Region != "" {
			regions[o.Region] = true
		}
		if !matches(body.Query, o.Name, o.Slug) ||
			body.Region != "" && o.Region != body.Region ||
			body.MFA == "required" && !o.RequireMFA || body.MFA == "optional" && o.RequireMFA {
			continue
		}
		ps := entitled[o.ID]
		slices.Sort(ps)
		body.Orgs = append(body.Orgs, orgRow{o, ps})
	}
	for reg := range regions {
		body.Regions = append(body.Regions, reg)
	}
	slices.Sort(body.Regions)
	return s.render(w, r, p, "admin-organizations", "Organizations", "console", body)
}

type memberRow struct {
	User *freight.User
	Role freight.Role
}

type entitlementRow struct {
	*freight.Entitlement
	Product *freight.Product
}

// dateValue is a time as a date field shows it (UTC), or "".
func dateValue(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// Follows reports whether the entitlement follows channel c, for the
// checkboxes of its form.
func (e entitlementRow) Follows(c freight.Channel) bool { return slices.Contains(e.Channels, c) }

// Maintenance, From and Until are the entitlement's maintenance date and
// access window as its form's date fields show them.
func (e entitlementRow) Maintenance() string { return dateValue(e.MaintenanceUntil) }
func (e entitlementRow) From() string        { return dateValue(e.NotBefore) }
func (e entitlementRow) Until() string       { return dateValue(e.NotAfter) }

// BytesGB is the byte limit in gigabytes, as the form asks for it; "" for
// none.
func (e entitlementRow) BytesGB() string { return gigabytes(e.Limits.Bytes) }

// gigabytes writes a byte count in gigabytes for a form's field, which
// scales it back (data-scale); "" for 0, which is no limit.
func gigabytes(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64)
}

// Period is the period of the limits, as the form's select names it.
func (e entitlementRow) Period() string { return string(e.Limits.Period) }

// PeriodText says over which period the limits count.
func (e entitlementRow) PeriodText() string {
	switch e.Limits.Period {
	case freight.LimitDay:
		return "per day"
	case freight.LimitWeek:
		return "per week"
	case freight.LimitMonth:
		return "per month"
	}
	return "in total"
}

// entitlementForm is what the fields of an entitlement's form show: a
// saved entitlement's values, or a new one's defaults.
type entitlementForm struct {
	Key      string // the prefix of the fields' ids
	New      bool
	Row      entitlementRow
	Products []*freight.Product
	Channels []freight.Channel
}

// NewForm is the form that adds an entitlement, to a product the
// organization holds none for (there is one per product).
func (b consoleOrgPage) NewForm() entitlementForm {
	f := entitlementForm{Key: "new", New: true, Row: entitlementRow{Entitlement: &freight.Entitlement{}}, Channels: b.Channels}
	for _, pr := range b.Products {
		if !slices.ContainsFunc(b.Entitlements, func(e entitlementRow) bool { return e.ProductID == pr.ID }) {
			f.Products = append(f.Products, pr)
		}
	}
	return f
}

// EditForm is the form that changes a saved entitlement.
func (b consoleOrgPage) EditForm(e entitlementRow) entitlementForm {
	return entitlementForm{Key: e.ID, Row: e, Channels: b.Channels}
}

type consoleOrgPage struct {
	Org          *freight.Organization
	Members      []memberRow
	Entitlements []entitlementRow
	Products     []*freight.Product
	Channels     []freight.Channel
	Catalog      []catalogEntry
	Licenses     []consoleLicense
	CanAdmin     bool
	// Invitations are the organization's pending invitations; an admin
	// withdraws them.
	Invitations []invitationAnswer
	Quota       quotaView
}

// consoleOrganizationPage shows one organization: its details, members
// and pending invitations, entitlements with the releases they admit now,
// and licenses.
func (s *Server) consoleOrganizationPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	org, err := organizationRef(ctx, s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	body := consoleOrgPage{Org: org, Channels: freight.Channels, CanAdmin: p.CanAdminister()}
	users, err := collect(func(pg freight.Page) ([]*freight.User, string, error) {
		return s.store.Users(ctx, freight.UserFilter{Page: pg, OrgID: org.ID})
	})
	if err != nil {
		return err
	}
	ms, err := collect(func(pg freight.Page) ([]*freight.Membership, string, error) {
		return s.store.Memberships(ctx, freight.MembershipFilter{Page: pg, OrgID: org.ID})
	})
	if err != nil {
		return err
	}
	roles := map[string]freight.Role{}
	for _, m := range ms {
		roles[m.UserID] = m.Role
	}
	for _, u := range users {
		body.Members = append(body.Members, memberRow{User: u, Role: roles[u.ID]})
	}
	slices.SortFunc(body.Members, func(a, b memberRow) int { return cmp.Compare(a.User.Email, b.User.Email) })
	if body.Invitations, err = s.pendingInvitations(ctx, org.ID); err != nil {
		return err
	}
	if body.Quota, err = s.quotaView(ctx, org.ID, body.CanAdmin); err != nil {
		return err
	}

	if body.Products, err = s.allProducts(ctx); err != nil {
		return err
	}
	byID := map[string]*freight.Product{}
	for _, pr := range body.Products {
		byID[pr.ID] = pr
	}
	ents, err := s.entitlementsOf(ctx, memberOf(org))
	if err != nil {
		return err
	}
	for _, e := range ents {
		body.Entitlements = append(body.Entitlements, entitlementRow{e, byID[e.ProductID]})
	}
	if body.Catalog, err = s.orgCatalog(ctx, org, ents); err != nil {
		return err
	}
	ls, err := collect(func(pg freight.Page) ([]*freight.License, string, error) {
		return s.store.Licenses(ctx, freight.LicenseFilter{Page: pg, OrgID: org.ID})
	})
	if err != nil {
		return err
	}
	for _, l := range ls {
		body.Licenses = append(body.Licenses, consoleLicense{License: l, Org: org, Product: byID[l.ProductID]})
	}
	return s.render(w, r, p, "admin-organization", org.Name, "console", body)
}

// userRow is a user in the console's list, with the organizations it
// belongs to.
type userRow struct {
	*freight.User
	Orgs []userOrg
	Self bool
}

type userOrg struct {
	Org  *freight.Organization
	Role freight.Role
}

type consoleUsersPage struct {
	Users       []userRow
	Total       int
	Query       string
	Kind        string // "", "staff" or "customer"
	Status      string // "", "active" or "disabled"
	VendorRoles []freight.Role
	CanAdmin    bool
}

// consoleUsersPage lists vendor staff and customer users, searched by
// email or name and filtered by kind and status.
func (s *Server) consoleUsersPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	body := consoleUsersPage{Query: strings.TrimSpace(q.Get("q")), Kind: q.Get("kind"), Status: q.Get("status"), CanAdmin: p.CanAdminister(),
		VendorRoles: []freight.Role{freight.RoleAdmin, freight.RolePublisher, freight.RoleSupport}}
	users, err := collect(func(pg freight.Page) ([]*freight.User, string, error) {
		return s.store.Users(ctx, freight.UserFilter{Page: pg, VendorOnly: body.Kind == "staff"})
	})
	if err != nil {
		return err
	}
	ms, err := collect(func(pg freight.Page) ([]*freight.Membership, string, error) {
		return s.store.Memberships(ctx, freight.MembershipFilter{Page: pg})
	})
	if err != nil {
		return err
	}
	orgs, err := s.allOrganizations(ctx)
	if err != nil {
		return err
	}
	byID := map[string]*freight.Organization{}
	for _, o := range orgs {
		byID[o.ID] = o
	}
	memberships := map[string][]userOrg{}
	for _, m := range ms {
		if o := byID[m.OrgID]; o != nil {
			memberships[m.UserID] = append(memberships[m.UserID], userOrg{o, m.Role})
		}
	}
	body.Total = len(users)
	for _, u := range users {
		if body.Kind == "customer" && u.VendorRole != "" ||
			body.Status == "active" && u.Disabled || body.Status == "disabled" && !u.Disabled ||
			!matches(body.Query, u.Email, u.Name) {
			continue
		}
		body.Users = append(body.Users, userRow{User: u, Orgs: memberships[u.ID], Self: u.ID == p.UserID})
	}
	slices.SortFunc(body.Users, func(a, b userRow) int {
		// Staff first, then customers; by email within each.
		if c := cmp.Compare(b2i(a.VendorRole == ""), b2i(b.VendorRole == "")); c != 0 {
			return c
		}
		return cmp.Compare(a.Email, b.Email)
	})
	return s.render(w, r, p, "admin-users", "Users", "console", body)
}

// consoleLicense is a license with its organization and product.
type consoleLicense struct {
	*freight.License
	Org     *freight.Organization
	Product *freight.Product
}

// FeatureLines is the license's features as its amendment form writes
// them: one per line, name, name=value, with <=limit when there is one.
func (l consoleLicense) FeatureLines() string {
	var b strings.Builder
	for _, f := range l.Features {
		b.WriteString(f.Name)
		if f.Value != "" {
			b.WriteString("=" + f.Value)
		}
		if f.Limit != nil {
			b.WriteString("<=" + strconv.FormatInt(*f.Limit, 10))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Expires and Maintenance are the license's dates as date fields show
// them.
func (l consoleLicense) Expires() string     { return dateValue(l.ExpiresAt) }
func (l consoleLicense) Maintenance() string { return dateValue(l.MaintenanceUntil) }

type consoleLicensesPage struct {
	Licenses []consoleLicense
	Orgs     []*freight.Organization
	Products []*freight.Product
	OrgID    string
	Product  string
	State    string
	States   []freight.LicenseState
	Next     template.URL // the query of the next page; "" on the last
	CanAdmin bool
}

// Blank is a license with nothing set, for the fields of the issue form.
func (consoleLicensesPage) Blank() consoleLicense {
	return consoleLicense{License: &freight.License{}}
}

// consoleLicensesPage lists the licenses of every organization, newest
// first, filtered by organization, product and state, a page at a time.
func (s *Server) consoleLicensesPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	body := consoleLicensesPage{OrgID: q.Get("org"), Product: q.Get("product"), State: q.Get("state"), CanAdmin: p.CanAdminister(),
		States: []freight.LicenseState{freight.LicenseActive, freight.LicenseSuperseded, freight.LicenseRevoked}}
	var err error
	if body.Orgs, err = s.allOrganizations(ctx); err != nil {
		return err
	}
	if body.Products, err = s.allProducts(ctx); err != nil {
		return err
	}
	orgs := map[string]*freight.Organization{}
	for _, o := range body.Orgs {
		orgs[o.ID] = o
	}
	prods := map[string]*freight.Product{}
	for _, pr := range body.Products {
		prods[pr.ID] = pr
	}
	f := freight.LicenseFilter{OrgID: body.OrgID, ProductID: body.Product, State: freight.LicenseState(body.State),
		Page: freight.Page{Limit: consolePageSize, After: q.Get("after")}}
	ls, next, err := s.store.Licenses(ctx, f)
	if err != nil {
		return err
	}
	for _, l := range ls {
		body.Licenses = append(body.Licenses, consoleLicense{License: l, Org: orgs[l.OrgID], Product: prods[l.ProductID]})
	}
	if next != "" {
		nq := url.Values{"org": {body.OrgID}, "product": {body.Product}, "state": {body.State}, "after": {next}}
		body.Next = template.URL("/console/licenses?" + nq.Encode())
	}
	return s.render(w, r, p, "admin-licenses", "Licenses", "console", body)
}

// HitPercent is the edge's hit ratio for people: "87%", or "none yet".
func (e edgeView) HitPercent() string {
	if e.Stats.Hits+e.Stats.Misses == 0 {
		return "none yet"
	}
	return strconv.FormatFloat(e.HitRatio*100, 'f', 0, 64) + "%"
}

type consoleEdgesPage struct {
	Edges         []edgeView
	HealthTimeout string // "90 seconds"
	CanAdmin      bool
}

// consoleEdgesPage lists the edge nodes with their health and cache
// figures, as GET /api/v1/edges answers them.
func (s *Server) consoleEdgesPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	es, err := collect(func(pg freight.Page) ([]*freight.Edge, string, error) {
		return s.store.Edges(ctx, freight.EdgeFilter{Page: pg})
	})
	if err != nil {
		return err
	}
	body := consoleEdgesPage{HealthTimeout: strconv.Itoa(int(s.cfg.EdgeHealthTimeout.Seconds())) + " seconds", CanAdmin: p.CanAdminister()}
	if body.Edges, err = s.viewEdges(ctx, es); err != nil {
		return err
	}
	slices.SortStableFunc(body.Edges, func(a, b edgeView) int {
		if c := cmp.Compare(a.Region, b.Region); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return s.render(w, r, p, "admin-edges", "Edges", "console", body)
}

// auditRow is an audit event with names for its ids.
type auditRow struct {
	*freight.AuditEvent
	ActorName string
	Org       *freight.Organization
	Pretty    string // the details, indented
}

type consoleAuditPage struct {
	Events  []auditRow
	Orgs    []*freight.Organization
	Actions []string
	Actor   string
	Action  string
	OrgID   string
	Since   string
	Until   string
	Next    template.URL // the query of the next (older) page; "" on the last
	Paged   bool         // this is not the first page
	Error   string       // what is wrong with the filters
}

// auditActions are the actions the filter suggests; others can be typed.
var auditActions = []string{
	"auth.signin", "auth.signout", "edge.create", "edge.delete", "entitlement.create", "entitlement.delete", "entitlement.update",
	"invitation.create", "license.amend", "license.download", "license.issue", "license.revoke", "membership.delete", "membership.put",
	"organization.create", "organization.delete", "organization.update", "product.create", "product.delete", "product.update",
	"release.create", "release.delete", "release.publish", "release.yank", "settings.update", "token.create", "token.revoke",
	"user.create", "user.delete", "user.update",
}

// consoleAuditPage shows the audit log, newest first, filtered by actor
// (email or id), action, organization and days, a page at a time.
func (s *Server) consoleAuditPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	body := consoleAuditPage{Actions: auditActions, Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		OrgID: q.Get("org"), Since: q.Get("since"), Until: q.Get("until"), Paged: q.Get("after") != ""}
	var err error
	if body.Orgs, err = s.allOrganizations(ctx); err != nil {
		return err
	}
	orgs := map[string]*freight.Organization{}
	for _, o := range body.Orgs {
		orgs[o.ID] = o
	}
	f := freight.AuditFilter{Action: body.Action, OrgID: body.OrgID, Actor: body.Actor,
		Page: freight.Page{Limit: consolePageSize, After: q.Get("after")}}
	if strings.Contains(body.Actor, "@") {
		u, err := s.store.UserByEmail(ctx, strings.ToLower(body.Actor))
		switch freight.ErrorCode(err) {
		case "":
			f.Actor = u.ID
		case freight.ENOTFOUND:
			body.Error = "No user has the email address " + body.Actor + "."
		default:
			return err
		}
	}
	if body.Since != "" {
		if f.Since, err = time.Parse("2006-01-02", body.Since); err != nil {
			body.Error = "Enter the first day as a date, like 2026-01-31."
		}
	}
	if body.Until != "" {
		day, err := time.Parse("2006-01-02", body.Until)
		if err != nil {
			body.Error = "Enter the last day as a date, like 2026-01-31."
		}
		f.Until = day.AddDate(0, 0, 1) // the whole last day
	}
	if body.Error != "" {
		return s.render(w, r, p, "admin-audit", "Audit log", "console", body)
	}
	events, next, err := s.store.AuditEvents(ctx, f)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, ev := range events {
		row := auditRow{AuditEvent: ev, ActorName: ev.Actor, Org: orgs[ev.OrgID]}
		if strings.HasPrefix(ev.Actor, freight.PrefixUser+"_") {
			name, ok := names[ev.Actor]
			if !ok {
				name = ev.Actor
				if u, err := s.store.User(ctx, ev.Actor); err == nil {
					name = u.Email
				} else if freight.ErrorCode(err) != freight.ENOTFOUND {
					return err
				}
				names[ev.Actor] = name
			}
			row.ActorName = name
		}
		if len(ev.Details) > 0 {
			var v any
			if json.Unmarshal(ev.Details, &v) == nil {
				if b, err := json.MarshalIndent(v, "", "  "); err == nil {
					row.Pretty = string(b)
				}
			}
		}
		body.Events = append(body.Events, row)
	}
	if next != "" {
		nq := url.Values{"actor": {body.Actor}, "action": {body.Action}, "org": {body.OrgID}, "since": {body.Since}, "until": {body.Until}, "after": {next}}
		body.Next = template.URL("/console/audit?" + nq.Encode())
	}
	return s.render(w, r, p, "admin-audit", "Audit log", "console", body)
}
