package server

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/freight-portal/freight"
)

// The vendor console's product pages: products, their releases of every
// state, and one release with its files and the browser upload. Like
// every page they only read; their forms and buttons call the JSON API
// (web/static/console.js), which decides again. What a page offers
// follows what the caller may do, so that support, who reads everything,
// gets no button that would fail, and a publisher token narrowed to some
// products sees only those.

// consoleSees reports whether p may see a product in the console: every
// product for vendor staff, only its own for a narrowed publisher token.
func consoleSees(p freight.Principal, productID string) bool {
	return len(p.Products) == 0 || slices.Contains(p.Products, productID)
}

// consoleProduct resolves the {product} of a console page, answering
// ENOTFOUND for a product the caller may not see, as for a missing one.
func (s *Server) consoleProduct(ctx context.Context, p freight.Principal, ref string) (*freight.Product, error) {
	prod, err := productRef(ctx, s.store, ref)
	if err != nil {
		return nil, err
	}
	if !consoleSees(p, prod.ID) {
		return nil, freight.Errorf(freight.ENOTFOUND, "product not found")
	}
	return prod, nil
}

// allReleases returns every release of a product, newest first (by the
// catalog's order: published or created time, then version).
func (s *Server) allReleases(ctx context.Context, productID string) ([]*freight.Release, error) {
	var out []*freight.Release
	f := freight.ReleaseFilter{ProductID: productID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		rs, next, err := s.store.Releases(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(out, func(a, b *freight.Release) int { return newer(b, a) })
	return out, nil
}

// allArtifacts returns every artifact of a release, by file name.
func (s *Server) allArtifacts(ctx context.Context, releaseID string) ([]*freight.Artifact, error) {
	var out []*freight.Artifact
	f := freight.ArtifactFilter{ReleaseID: releaseID, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		as, next, err := s.store.Artifacts(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(out, func(a, b *freight.Artifact) int { return cmp.Compare(a.Filename, b.Filename) })
	return out, nil
}

type consoleProductRow struct {
	*freight.Product
	Releases, Drafts int
	// Latest is the newest published release; Newest the newest of any
	// state, shown when nothing is published yet.
	Latest, Newest *freight.Release
}

type consolePage struct {
	Products []consoleProductRow
	// CanCreate: the caller may create products (a publisher token
	// narrowed to some products may not).
	CanCreate bool
}

// consolePage lists the products with their number of releases and the
// latest one.
func (s *Server) consolePage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	body := consolePage{CanCreate: p.CanPublish() && len(p.Products) == 0}
	f := freight.ProductFilter{Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ps, next, err := s.store.Products(ctx, f)
		if err != nil {
			return err
		}
		for _, prod := range ps {
			if !consoleSees(p, prod.ID) {
				continue
			}
			rels, err := s.allReleases(ctx, prod.ID)
			if err != nil {
				return err
			}
			row := consoleProductRow{Product: prod, Releases: len(rels)}
			for _, rel := range rels {
				if row.Newest == nil {
					row.Newest = rel
				}
				switch rel.State {
				case freight.ReleaseDraft:
					row.Drafts++
				case freight.ReleasePublished:
					if row.Latest == nil {
						row.Latest = rel
					}
				}
			}
			body.Products = append(body.Products, row)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(body.Products, func(a, b consoleProductRow) int {
		return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return s.render(w, r, p, "console", "Console", "console", body)
}

type consoleReleaseRow struct {
	*freight.Release
	Files int
}

type consoleProductPage struct {
	Product  *freight.Product
	Releases []consoleReleaseRow
	Channels []freight.Channel
	// CanPublish: the caller may change the product and its releases.
	// CanDelete: the caller may delete the product, which has no release.
	CanPublish, CanDelete bool
}

// consoleProductPage shows a product with its releases of every state,
// newest first, and the forms that change it.
func (s *Server) consoleProductPage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	prod, err := s.consoleProduct(ctx, p, r.PathValue("product"))
	if err != nil {
		return err
	}
	rels, err := s.allReleases(ctx, prod.ID)
	if err != nil {
		return err
	}
	body := consoleProductPage{Product: prod, Channels: freight.Channels, CanPublish: p.MayPublishTo(prod.ID),
		CanDelete: p.CanAdminister() && len(rels) == 0}
	for _, rel := range rels {
		as, err := s.allArtifacts(ctx, rel.ID)
		if err != nil {
			return err
		}
		body.Releases = append(body.Releases, consoleReleaseRow{Release: rel, Files: len(as)})
	}
	return s.render(w, r, p, "console-product", prod.Name, "console", body)
}

type consoleArtifact struct {
	*freight.Artifact
	// Received is how many bytes of an unfinished upload the portal has,
	// and Percent the same as a whole percentage; -1 when unknown.
	Received int64
	Percent  int
}

type consoleReleasePage struct {
	Product   *freight.Product
	Release   *freight.Release
	Artifacts []consoleArtifact
	Channels  []freight.Channel
	// Pending counts the files that are not available yet: the release
	// cannot be published while there are any.
	Pending int
	// CanEdit: the caller may change this draft, add files to it, publish
	// or delete it. CanYank: the caller may withdraw this published
	// release.
	CanEdit, CanYank bool
}

// consoleReleasePage shows one release of any state with its notes and
// files, and for those who may publish it, the upload form and the
// publish, yank and delete buttons its state allows.
func (s *Server) consoleReleasePage(w http.ResponseWriter, r *http.Request, p freight.Principal) error {
	ctx := r.Context()
	id, err := pathID(r, "release", freight.PrefixRelease, "release")
	if err != nil {
		return err
	}
	rel, err := s.store.Release(ctx, id)
	if err != nil {
		return err
	}
	if !consoleSees(p, rel.ProductID) {
		return freight.Errorf(freight.ENOTFOUND, "release not found")
	}
	prod, err := s.store.Product(ctx, rel.ProductID)
	if err != nil {
		return err
	}
	may := p.MayPublishTo(prod.ID)
	body := consoleReleasePage{Product: prod, Release: rel, Channels: freight.Channels,
		CanEdit: may && rel.State == freight.ReleaseDraft, CanYank: may && rel.State == freight.ReleasePublished}
	as, err := s.allArtifacts(ctx, rel.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		ca := consoleArtifact{Artifact: a, Received: -1, Percent: -1}
		if a.State != freight.ArtifactAvailable {
			body.Pending++
		}
		if a.State == freight.ArtifactUploading && may {
			if ca.Received, err = s.received(ctx, a); err != nil {
				return err
			}
			if ca.Received >= 0 && a.Size > 0 {
				ca.Percent = int(ca.Received * 100 / a.Size)
			}
		}
		body.Artifacts = append(body.Artifacts, ca)
	}
	return s.render(w, r, p, "console-release", prod.Name+" "+rel.Version, "console", body)
}

// received returns how many bytes of an artifact's open upload the blob
// store holds, or -1 when it has no open upload.
func (s *Server) received(ctx context.Context, a *freight.Artifact) (int64, error) {
	ups, _, err := s.store.Uploads(ctx, freight.UploadFilter{ArtifactID: a.ID, State: freight.UploadOpen, Page: freight.Page{Limit: 1}})
	if err != nil || len(ups) == 0 {
		return -1, err
	}
	mp, ok := s.blobs.(freight.MultipartStore)
	if !ok {
		return -1, nil
	}
	parts, err := mp.ListParts(ctx, ups[0].BackendID)
	if err != nil {
		// The page still helps without the figure: the upload resumes
		// all the same, asking the API.
		s.logger.WarnContext(ctx, "listing the parts of an upload", "upload_id", ups[0].ID, "err", err)
		return -1, nil
	}
	var n int64
	for _, part := range parts {
		n += part.Size
	}
	return n, nil
}
