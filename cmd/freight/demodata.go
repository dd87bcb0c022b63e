package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/freight-portal/freight"
)

// The demo catalogue. Files are generated, so that downloads can be tried
// at once, and deterministic, so that a second run finds them in place.
// Release ages are relative to the first run.
type demoProductSpec struct {
	slug, name, description string
	releases                []demoReleaseSpec
}

type demoReleaseSpec struct {
	version string
	channel freight.Channel
	age     time.Duration // published this long before the first run
	notes   string
	files   []demoFileSpec
}

type demoFileSpec struct {
	name, platform, arch string
	size                 int64
}

const day = 24 * time.Hour

var demoCatalog = []demoProductSpec{
	{"millwright", "Millwright CAM", "Toolpath planning for five-axis milling.", []demoReleaseSpec{
		{"1.0.0", freight.ChannelStable, 60 * day, "First release.\n\n- Five-axis roughing and finishing\n- Post-processors for Fanuc and Heidenhain\n", []demoFileSpec{
			{"millwright-1.0.0-windows-x86_64.msi", "windows", "x86_64", 48 << 20},
			{"millwright-1.0.0-linux-x86_64.tar.gz", "linux", "x86_64", 40 << 20},
			{"millwright-1.0.0-macos-arm64.dmg", "macos", "arm64", 32 << 20},
		}},
		{"1.1.0", freight.ChannelStable, 5 * day, "- Adaptive clearing\n- Faster simulation\n", []demoFileSpec{
			{"millwright-1.1.0-windows-x86_64.msi", "windows", "x86_64", 40 << 20},
			{"millwright-1.1.0-linux-x86_64.tar.gz", "linux", "x86_64", 36 << 20},
		}},
		{"1.2.0-rc.1", freight.ChannelRC, 1 * day, "Release candidate: new tool library.\n", []demoFileSpec{
			{"millwright-1.2.0-rc.1-windows-x86_64.msi", "windows", "x86_64", 40 << 20},
		}},
	}},
	{"lathe", "Lathe Studio", "Turning and mill-turn programming.", []demoReleaseSpec{
		{"2.0.0", freight.ChannelStable, 20 * day, "Lathe Studio 2.\n", []demoFileSpec{
			{"lathe-2.0.0-windows-x86_64.msi", "windows", "x86_64", 32 << 20},
		}},
	}},
}

// demoEntitlements make the two customers' catalogues differ at a glance:
// acme has Lathe Studio and a maintenance period that ended before
// Millwright 1.1.0; globex follows the rc channel and sees 1.2.0-rc.1.
var demoEntitlements = map[string][]struct {
	product     string
	channels    []freight.Channel
	maintenance time.Duration // before the first run; 0 for none
}{
	"acme": {
		{"millwright", []freight.Channel{freight.ChannelStable}, 10 * day},
		{"lathe", []freight.Channel{freight.ChannelStable}, 0},
	},
	"globex": {
		{"millwright", []freight.Channel{freight.ChannelRC}, 0},
	},
}

// demoProductInfo lists a product of the demo in demo.json.
type demoProductInfo struct {
	ID       string            `json:"id"`
	Slug     string            `json:"slug"`
	Releases []demoReleaseInfo `json:"releases"`
}

type demoReleaseInfo struct {
	ID        string         `json:"id"`
	Version   string         `json:"version"`
	Channel   string         `json:"channel"`
	Artifacts []demoArtifact `json:"artifacts"`
}

// demoEpoch is the first run's time, from which release ages count: the
// publication time of the first release plus its age.
func demoEpoch(ctx context.Context, tx freight.Store) (time.Time, error) {
	p, err := tx.ProductBySlug(ctx, demoCatalog[0].slug)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return time.Now(), nil
	} else if err != nil {
		return time.Time{}, err
	}
	r, err := tx.ReleaseByVersion(ctx, p.ID, demoCatalog[0].releases[0].version)
	if freight.ErrorCode(err) == freight.ENOTFOUND || err == nil && r.PublishedAt == nil {
		return time.Now(), nil
	} else if err != nil {
		return time.Time{}, err
	}
	return r.PublishedAt.Add(demoCatalog[0].releases[0].age), nil
}

// ensureDemoCatalog creates what is missing of the demo catalogue and fills
// info; it returns the products by slug.
func ensureDemoCatalog(ctx context.Context, tx freight.Store, blobs freight.BlobStore, info *demoInfo) (map[string]*freight.Product, error) {
	epoch, err := demoEpoch(ctx, tx)
	if err != nil {
		return nil, err
	}
	products := map[string]*freight.Product{}
	for _, ps := range demoCatalog {
		p, err := tx.ProductBySlug(ctx, ps.slug)
		if freight.ErrorCode(err) == freight.ENOTFOUND {
			p = &freight.Product{Slug: ps.slug, Name: ps.name, Description: ps.description}
			if err = tx.CreateProduct(ctx, p); err == nil {
				err = audit(ctx, tx, "product.create", "product", p.ID, "", p)
			}
		}
		if err != nil {
			return nil, err
		}
		products[ps.slug] = p
		pi := demoProductInfo{ID: p.ID, Slug: p.Slug}
		for _, rs := range ps.releases {
			ri, err := ensureDemoRelease(ctx, tx, blobs, p, rs, epoch)
			if err != nil {
				return nil, err
			}
			pi.Releases = append(pi.Releases, ri)
		}
		info.Products = append(info.Products, pi)
	}
	first := info.Products[0].Releases[0]
	info.Product = demoProductIDs{ID: info.Products[0].ID, Slug: info.Products[0].Slug}
	info.Release = demoReleaseIDs{ID: first.ID, Version: first.Version}
	info.Artifacts = first.Artifacts
	return products, nil
}

func ensureDemoRelease(ctx context.Context, tx freight.Store, blobs freight.BlobStore, p *freight.Product, rs demoReleaseSpec, epoch time.Time) (demoReleaseInfo, error) {
	r, err := tx.ReleaseByVersion(ctx, p.ID, rs.version)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		r = &freight.Release{ProductID: p.ID, Version: rs.version, Channel: rs.channel, Notes: rs.notes}
		if err = tx.CreateRelease(ctx, r); err == nil {
			err = audit(ctx, tx, "release.create", "release", r.ID, "", r)
		}
	}
	if err != nil {
		return demoReleaseInfo{}, err
	}
	arts, err := ensureDemoFiles(ctx, tx, blobs, r, rs.files)
	if err != nil {
		return demoReleaseInfo{}, err
	}
	if r.State == freight.ReleaseDraft {
		at := epoch.Add(-rs.age)
		r, err = tx.UpdateRelease(ctx, r.ID, func(r *freight.Release) error {
			r.State, r.PublishedAt = freight.ReleasePublished, &at
			return nil
		})
		if err == nil {
			err = audit(ctx, tx, "release.publish", "release", r.ID, "", r)
		}
		if err != nil {
			return demoReleaseInfo{}, err
		}
	}
	return demoReleaseInfo{ID: r.ID, Version: r.Version, Channel: string(r.Channel), Artifacts: arts}, nil
}

// demoBytes returns the content of a demo file: size pseudo-random bytes
// seeded by its name.
func demoBytes(name string, size int64) io.Reader {
	seed := sha256.Sum256([]byte(name))
	return io.LimitReader(mrand.NewChaCha8(seed), size)
}

// ensureDemoFiles stores the files of release r, each under the blob lock
// like an upload, and records them as available artifacts.
func ensureDemoFiles(ctx context.Context, tx freight.Store, blobs freight.BlobStore, r *freight.Release, files []demoFileSpec) ([]demoArtifact, error) {
	have := map[string]*freight.Artifact{}
	as, _, err := tx.Artifacts(ctx, freight.ArtifactFilter{ReleaseID: r.ID})
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		have[a.Filename] = a
	}
	var out []demoArtifact
	for _, f := range files {
		a := have[f.name]
		if a == nil || a.State != freight.ArtifactAvailable {
			if a, err = storeDemoFile(ctx, tx, blobs, r, a, f); err != nil {
				return nil, err
			}
		} else if _, err := blobs.Stat(ctx, a.SHA256); err != nil {
			return nil, fmt.Errorf("the blob of %s is missing from the data directory (%w); delete the directory to start over", a.Filename, err)
		}
		out = append(out, demoArtifact{ID: a.ID, Filename: a.Filename, Platform: a.Platform, Arch: a.Arch, Size: a.Size, SHA256: a.SHA256})
	}
	return out, nil
}

func storeDemoFile(ctx context.Context, tx freight.Store, blobs freight.BlobStore, r *freight.Release, a *freight.Artifact, f demoFileSpec) (*freight.Artifact, error) {
	h := sha256.New()
	if _, err := io.Copy(h, demoBytes(f.name, f.size)); err != nil {
		return nil, err
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if err := tx.LockBlob(ctx, digest, "demo", time.Now().Add(time.Minute)); err != nil {
		return nil, err
	}
	if err := blobs.Put(ctx, digest, f.size, demoBytes(f.name, f.size)); err != nil {
		return nil, err
	}
	var err error
	if a == nil {
		a = &freight.Artifact{ReleaseID: r.ID, Filename: f.name, Platform: f.platform, Arch: f.arch, Size: f.size, SHA256: digest, State: freight.ArtifactAvailable}
		err = tx.CreateArtifact(ctx, a)
	} else {
		a, err = tx.UpdateArtifact(ctx, a.ID, func(a *freight.Artifact) error {
			a.SHA256, a.State, a.Error = digest, freight.ArtifactAvailable, ""
			return nil
		})
	}
	if err == nil {
		err = audit(ctx, tx, "artifact.available", "artifact", a.ID, "", a)
	}
	if err == nil {
		err = tx.UnlockBlob(ctx, digest, "demo")
	}
	return a, err
}

// ensureDemoEntitlements brings an organization's entitlements to the
// demo's: created when missing, put back when changed.
func ensureDemoEntitlements(ctx context.Context, tx freight.Store, org *freight.Organization, products map[string]*freight.Product) error {
	epoch, err := demoEpoch(ctx, tx)
	if err != nil {
		return err
	}
	for _, spec := range demoEntitlements[org.Slug] {
		p := products[spec.product]
		var until *time.Time
		if spec.maintenance > 0 {
			t := epoch.Add(-spec.maintenance).UTC().Truncate(time.Second)
			until = &t
		}
		es, _, err := tx.Entitlements(ctx, freight.EntitlementFilter{OrgID: org.ID, ProductID: p.ID})
		if err != nil {
			return err
		}
		if len(es) == 0 {
			e := &freight.Entitlement{OrgID: org.ID, ProductID: p.ID, Channels: spec.channels, MaintenanceUntil: until}
			if err = tx.CreateEntitlement(ctx, e); err == nil {
				err = audit(ctx, tx, "entitlement.create", "entitlement", e.ID, org.ID, e)
			}
			if err != nil {
				return err
			}
			continue
		}
		e := es[0]
		same := slices.Equal(e.Channels, spec.channels) && (e.MaintenanceUntil == nil) == (until == nil) &&
			(until == nil || e.MaintenanceUntil.Equal(*until))
		if same {
			continue
		}
		if e, err = tx.UpdateEntitlement(ctx, e.ID, func(e *freight.Entitlement) error {
			e.Channels, e.MaintenanceUntil = spec.channels, until
			return nil
		}); err == nil {
			err = audit(ctx, tx, "entitlement.update", "entitlement", e.ID, org.ID, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
