package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// page reads ?limit= and ?after= .
func page(q url.Values) (freight.Page, error) {
	var p freight.Page
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > freight.MaxPageSize {
			return p, freight.FieldError("limit", "must be an integer from 1 to %d", freight.MaxPageSize)
		}
		p.Limit = n
	}
	p.After = q.Get("after")
	if len(p.After) > 200 {
		return p, freight.FieldError("after", "is not a cursor returned by this API")
	}
	return p, nil
}

// queryTime reads an optional RFC 3339 time from the query.
func queryTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, freight.FieldError(name, "must be an RFC 3339 time like 2026-01-31T12:00:00Z")
	}
	return t, nil
}

// queryID reads an optional id of the given type from the query.
func queryID(q url.Values, name, prefix string) (string, error) {
	v := q.Get(name)
	if v != "" && !freight.ValidID(prefix, v) {
		return "", freight.FieldError(name, "is not a valid %s id", prefix)
	}
	return v, nil
}

// pathID reads a path value that must be an id of the given type. A
// malformed id answers 404 like a missing one: it names nothing.
func pathID(r *http.Request, name, prefix, what string) (string, error) {
	v := r.PathValue(name)
	if !freight.ValidID(prefix, v) {
		return "", freight.Errorf(freight.ENOTFOUND, "%s not found", what)
	}
	return v, nil
}

// organizationRef resolves an organization by id or by slug, so that
// people can write /organizations/acme.
func organizationRef(ctx context.Context, st freight.Store, ref string) (*freight.Organization, error) {
	if strings.HasPrefix(ref, freight.PrefixOrganization+"_") {
		return st.Organization(ctx, ref)
	}
	return st.OrganizationBySlug(ctx, ref)
}

// productRef resolves a product by id or by slug.
func productRef(ctx context.Context, st freight.Store, ref string) (*freight.Product, error) {
	if strings.HasPrefix(ref, freight.PrefixProduct+"_") {
		return st.Product(ctx, ref)
	}
	return st.ProductBySlug(ctx, ref)
}
