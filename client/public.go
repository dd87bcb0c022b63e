package client

import (
	"context"
	"encoding/json"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/signing"
)

// Health is the answer of the health checks.
type Health struct {
	Status  string `json:"status"` // "ok" or "ready"
	Version string `json:"version,omitempty"`
}

// Health answers whether the portal's process serves requests, with its
// version.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.Do(ctx, "GET", "/healthz", nil, &h)
}

// Ready answers whether the portal reaches its database and blob store;
// an error with EUNAVAILABLE says which it lost.
func (c *Client) Ready(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.Do(ctx, "GET", "/readyz", nil, &h)
}

// PublicKeys answers the public keys that verify offline what the portal
// signs: download URLs (freight.KeyGrants, "" too) or license files
// (freight.KeyLicenses). They need no token.
func (c *Client) PublicKeys(ctx context.Context, purpose string) ([]signing.PublicKey, error) {
	path := "/.well-known/freight-keys.json"
	switch purpose {
	case "", freight.KeyGrants:
	case freight.KeyLicenses:
		path = "/.well-known/freight-license-keys.json"
	default:
		return nil, freight.FieldError("purpose", "must be grants or licenses")
	}
	var doc struct {
		Keys []signing.PublicKey `json:"keys"`
	}
	return doc.Keys, c.Do(ctx, "GET", path, nil, &doc)
}

// OpenAPI answers the description of the API in OpenAPI 3.1, as JSON.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	b, err := c.getBody(ctx, "/api/openapi.json")
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, &freight.Error{Code: freight.EINTERNAL, Message: "the server's answer is not the JSON expected"}
	}
	return b, nil
}
