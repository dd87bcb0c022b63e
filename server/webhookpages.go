package server

import (
	"context"
	"net/http"

	"github.com/freight-portal/freight"
)

// The webhook pages: the vendor's webhooks in the console, for its admins,
// and an organization's on its own pages, for its org-admins. Both show
// the same template and send their forms to the same API routes as the Go
// client, the vendor's under /api/v1/webhooks and the organization's under
// /api/v1/organizations/{org}/webhooks, which check the caller again. The
// organization's page reads the organization the session acts in only, so
// that nobody sees another scope's webhooks here.

// recentDeliveries is how many deliveries of each webhook a page shows.
const recentDeliveries = 5

type webhookRow struct {
	*freight.Webhook
	// Deliveries are the newest deliveries, newest first; Last the newest
	// one, or nil.
	Deliveries []*freight.WebhookDelivery
	Last       *freight.WebhookDelivery
}

type webhookEvent struct{ Name, Text string }

type webhooksPage struct {
	// Org is the organization whose webhooks these are; nil for the
	// vendor's.
	Org   *freight.Organization
	Hooks []webhookRow
	// API is the route of the scope's webhooks, and Path the page's own.
	API, Path string
	Events    []webhookEvent
}

// webhookEvents describes the event types a webhook may subscribe to, in
// the order of freight.WebhookEvents.
var webhookEvents = map[string]string{
	freight.EventReleasePublished:   "a release becomes downloadable",
	freight.EventReleaseYanked:      "a published release is withdrawn",
	freight.EventArtifactDownloaded: "a download of a file completes",
	freight.EventLicenseIssued:      "a license is issued",
	freight.EventLicenseRevoked:     "a license is revoked",
}

// consoleWebhooksPage lists the vendor's webhooks for its admins.
func (s *Server) consoleWebhooksPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	body, err := s.webhooksPage(r.Context(), nil)
	if err != nil {
		return err
	}
	return s.render(w, r, p, "webhooks", "Webhooks", "console", body)
}

// orgWebhooksPage lists the webhooks of the organization the org-admin
// acts in.
func (s *Server) orgWebhooksPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	o, err := s.store.Organization(ctx, p.OrgID)
	if err != nil {
		return err
	}
	body, err := s.webhooksPage(ctx, o)
	if err != nil {
		return err
	}
	return s.render(w, r, p, "webhooks", o.Name+": webhooks", "org", body)
}

// webhooksPage reads the webhooks of one scope, the vendor's when o is
// nil, with their recent deliveries.
func (s *Server) webhooksPage(ctx context.Context, o *freight.Organization) (webhooksPage, error) {
	body := webhooksPage{Org: o, API: "/api/v1/webhooks", Path: "/console/webhooks"}
	f := freight.WebhookFilter{VendorOnly: true}
	if o != nil {
		body.API, body.Path = "/api/v1/organizations/"+o.ID+"/webhooks", "/org/webhooks"
		f = freight.WebhookFilter{OrgID: o.ID}
	}
	for _, e := range freight.WebhookEvents() {
		body.Events = append(body.Events, webhookEvent{e, webhookEvents[e]})
	}
	hooks, err := collect(func(pg freight.Page) ([]*freight.Webhook, string, error) {
		f.Page = pg
		return s.store.Webhooks(ctx, f)
	})
	if err != nil {
		return body, err
	}
	for _, h := range hooks {
		ds, _, err := s.store.WebhookDeliveries(ctx, freight.WebhookDeliveryFilter{WebhookID: h.ID, Page: freight.Page{Limit: recentDeliveries}})
		if err != nil {
			return body, err
		}
		row := webhookRow{Webhook: h, Deliveries: ds}
		if len(ds) > 0 {
			row.Last = ds[0]
		}
		body.Hooks = append(body.Hooks, row)
	}
	return body, nil
}

// webhookForm is what the fields of a webhook's form show: a saved
// webhook's values, or a new one's defaults when Hook is nil.
type webhookForm struct {
	Key    string // the prefix of the fields' ids
	Hook   *freight.Webhook
	Events []webhookEvent
}

// Form is the form of a saved webhook, or of a new one for nil.
func (b webhooksPage) Form(h *freight.Webhook) webhookForm {
	f := webhookForm{Key: "new", Hook: h, Events: b.Events}
	if h != nil {
		f.Key = h.ID
	}
	return f
}

// secretBox is where a page shows a signing secret, once.
type secretBox struct{ ID, Done string }

// Secret is the box of the secret of a webhook (by id), or of a new one
// ("new").
func (b webhooksPage) Secret(key string) secretBox {
	return secretBox{ID: "secret-" + key, Done: b.Path}
}
