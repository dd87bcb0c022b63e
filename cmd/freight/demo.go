package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/password"
)

// demoInfo is the content of demo.json: what a newcomer or a script needs
// to use the demo.
type demoInfo struct {
	URL       string         `json:"url"`
	Admin     demoAccount    `json:"admin"`
	Customers []demoCustomer `json:"customers"`
	Product   demoProductIDs `json:"product"`
	Release   demoReleaseIDs `json:"release"`
	Artifacts []demoArtifact `json:"artifacts"`
}

type demoProductIDs struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
}

type demoReleaseIDs struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

type demoArtifact struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	Platform string `json:"platform"`
	Arch     string `json:"arch"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

type demoAccount struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

type demoCustomer struct {
	Org string `json:"org"`
	demoAccount
}

func demoFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c serveConfig
	c.flags(fs, defaultDemoDir())
	// The demo runs on embedded defaults only.
	fs.Lookup("database").Usage = "ignored by demo: it always uses SQLite in the data directory"
	fs.Lookup("blobs").Usage = "ignored by demo: it always keeps files in the data directory"
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		c.db.database = ""
		if err := os.MkdirAll(c.db.dataDir, 0o700); err != nil {
			return err
		}
		c.blobs = ""
		logger := c.log.logger(stderr)
		db, err := openDB(ctx, &c.db, logger)
		if err != nil {
			return err
		}
		defer db.Close()
		blobs, err := c.openBlobs(ctx, logger)
		if err != nil {
			return err
		}
		path := filepath.Join(c.db.dataDir, "demo.json")
		info, err := seedDemo(ctx, db, blobs, path)
		if err != nil {
			return fmt.Errorf("seeding demo data: %w", err)
		}
		return c.listenAndServe(ctx, db, blobs, logger, func(url string) {
			info.URL = url
			if err := writeDemoInfo(path, info); err != nil {
				logger.Error("writing demo.json", "err", err)
			}
			printDemo(stdout, info, path)
		})
	}
}

// The demo world: a vendor admin, two customers with one member each, and
// a product with a published release that both customers are entitled to.
const (
	demoAdminEmail = "admin@vendor.example"
	demoProduct    = "millwright"
	demoVersion    = "1.0.0"
)

var demoCustomers = []struct{ slug, name, email string }{
	{"acme", "Acme Manufacturing", "alice@acme.example"},
	{"globex", "Globex Corporation", "bob@globex.example"},
}

// seedDemo makes sure the demo data exists and returns its credentials.
// Running it again reuses what is there: accounts and tokens from an
// earlier demo.json stay valid; missing or broken ones are replaced.
func seedDemo(ctx context.Context, st freight.Store, blobs freight.BlobStore, path string) (*demoInfo, error) {
	var prev demoInfo
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &prev); err != nil {
			return nil, fmt.Errorf("%s is not valid JSON; delete it to start over: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	info := &demoInfo{}
	err := st.Tx(ctx, func(tx freight.Store) error {
		admin, err := ensureUser(ctx, tx, demoAdminEmail, "Vendor Admin", freight.RoleAdmin)
		if err != nil {
			return err
		}
		if info.Admin, err = demoCredentials(ctx, tx, admin, "", freight.RoleAdmin, prev.Admin); err != nil {
			return err
		}
		product, err := ensureDemoProduct(ctx, tx, blobs, info)
		if err != nil {
			return err
		}
		for i, c := range demoCustomers {
			org, err := tx.OrganizationBySlug(ctx, c.slug)
			if freight.ErrorCode(err) == freight.ENOTFOUND {
				org = &freight.Organization{Slug: c.slug, Name: c.name}
				if err = tx.CreateOrganization(ctx, org); err == nil {
					err = audit(ctx, tx, "organization.create", "organization", org.ID, org.ID, org)
				}
			}
			if err != nil {
				return err
			}
			user, err := tx.UserByEmail(ctx, c.email)
			if freight.ErrorCode(err) == freight.ENOTFOUND {
				user = &freight.User{Email: c.email, Name: c.name + " user"}
				if err = tx.CreateUser(ctx, user); err == nil {
					err = audit(ctx, tx, "user.create", "user", user.ID, "", user)
				}
			}
			if err != nil {
				return err
			}
			if err := tx.PutMembership(ctx, &freight.Membership{UserID: user.ID, OrgID: org.ID, Role: freight.RoleMember}); err != nil {
				return err
			}
			err = hasEntitlement(ctx, tx, org.ID, product.ID)
			if freight.ErrorCode(err) == freight.ENOTFOUND {
				e := &freight.Entitlement{OrgID: org.ID, ProductID: product.ID, Channels: []freight.Channel{freight.ChannelStable}}
				if err = tx.CreateEntitlement(ctx, e); err == nil {
					err = audit(ctx, tx, "entitlement.create", "entitlement", e.ID, org.ID, e)
				}
			}
			if err != nil {
				return err
			}
			var prevAccount demoAccount
			if i < len(prev.Customers) && prev.Customers[i].Org == c.slug {
				prevAccount = prev.Customers[i].demoAccount
			}
			acct, err := demoCredentials(ctx, tx, user, org.ID, freight.RoleMember, prevAccount)
			if err != nil {
				return err
			}
			info.Customers = append(info.Customers, demoCustomer{Org: c.slug, demoAccount: acct})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// The demo release's files: generated, so that downloads can be tried at
// once, and deterministic, so that a second run finds them in place.
var demoFiles = []struct {
	name, platform, arch string
	size                 int64
}{
	{"millwright-1.0.0-windows-x86_64.msi", "windows", "x86_64", 48 << 20},
	{"millwright-1.0.0-linux-x86_64.tar.gz", "linux", "x86_64", 40 << 20},
	{"millwright-1.0.0-macos-arm64.dmg", "macos", "arm64", 32 << 20},
}

// demoBytes returns the content of a demo file: size pseudo-random bytes
// seeded by its name.
func demoBytes(name string, size int64) io.Reader {
	seed := sha256.Sum256([]byte(name))
	return io.LimitReader(mrand.NewChaCha8(seed), size)
}

// ensureDemoFiles stores the demo files of release r, each under the blob
// lock like an upload, and records them as available artifacts.
func ensureDemoFiles(ctx context.Context, tx freight.Store, blobs freight.BlobStore, r *freight.Release, info *demoInfo) error {
	have := map[string]*freight.Artifact{}
	as, _, err := tx.Artifacts(ctx, freight.ArtifactFilter{ReleaseID: r.ID})
	if err != nil {
		return err
	}
	for _, a := range as {
		have[a.Filename] = a
	}
	for _, f := range demoFiles {
		a := have[f.name]
		if a == nil || a.State != freight.ArtifactAvailable {
			h := sha256.New()
			if _, err := io.Copy(h, demoBytes(f.name, f.size)); err != nil {
				return err
			}
			digest := hex.EncodeToString(h.Sum(nil))
			if err := tx.LockBlob(ctx, digest, "demo", time.Now().Add(time.Minute)); err != nil {
				return err
			}
			if err := blobs.Put(ctx, digest, f.size, demoBytes(f.name, f.size)); err != nil {
				return err
			}
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
			if err != nil {
				return err
			}
		} else if _, err := blobs.Stat(ctx, a.SHA256); err != nil {
			return fmt.Errorf("the blob of %s is missing from the data directory (%w); delete the directory to start over", a.Filename, err)
		}
		info.Artifacts = append(info.Artifacts, demoArtifact{ID: a.ID, Filename: a.Filename, Platform: a.Platform, Arch: a.Arch, Size: a.Size, SHA256: a.SHA256})
	}
	return nil
}

func ensureDemoProduct(ctx context.Context, tx freight.Store, blobs freight.BlobStore, info *demoInfo) (*freight.Product, error) {
	p, err := tx.ProductBySlug(ctx, demoProduct)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		p = &freight.Product{Slug: demoProduct, Name: "Millwright CAM", Description: "Toolpath planning for five-axis milling."}
		if err = tx.CreateProduct(ctx, p); err == nil {
			err = audit(ctx, tx, "product.create", "product", p.ID, "", p)
		}
	}
	if err != nil {
		return nil, err
	}
	r, err := tx.ReleaseByVersion(ctx, p.ID, demoVersion)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		r = &freight.Release{ProductID: p.ID, Version: demoVersion, Channel: freight.ChannelStable,
			Notes: "First release.\n\n- Five-axis roughing and finishing\n- Post-processors for Fanuc and Heidenhain\n"}
		if err = tx.CreateRelease(ctx, r); err == nil {
			err = audit(ctx, tx, "release.create", "release", r.ID, "", r)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := ensureDemoFiles(ctx, tx, blobs, r, info); err != nil {
		return nil, err
	}
	info.Product = demoProductIDs{ID: p.ID, Slug: p.Slug}
	info.Release = demoReleaseIDs{ID: r.ID, Version: r.Version}
	if r.State == freight.ReleaseDraft {
		r, err = tx.UpdateRelease(ctx, r.ID, func(r *freight.Release) error {
			now := time.Now()
			r.State, r.PublishedAt = freight.ReleasePublished, &now
			return nil
		})
		if err == nil {
			err = audit(ctx, tx, "release.publish", "release", r.ID, "", r)
		}
	}
	return p, err
}

// hasEntitlement answers nil if org is entitled to product, ENOTFOUND if not.
func hasEntitlement(ctx context.Context, tx freight.Store, orgID, productID string) error {
	es, _, err := tx.Entitlements(ctx, freight.EntitlementFilter{OrgID: orgID, ProductID: productID})
	if err == nil && len(es) == 0 {
		err = freight.Errorf(freight.ENOTFOUND, "entitlement not found")
	}
	return err
}

// demoCredentials returns a password and token for user: the previous ones
// when they still work, new ones otherwise.
func demoCredentials(ctx context.Context, tx freight.Store, u *freight.User, orgID string, role freight.Role, prev demoAccount) (demoAccount, error) {
	acct := demoAccount{Email: u.Email, Password: prev.Password, Token: prev.Token}
	ok := false
	if acct.Password != "" && u.PasswordHash != "" {
		var err error
		if ok, err = password.Verify(ctx, acct.Password, u.PasswordHash); err != nil && !errors.Is(err, password.ErrMalformed) {
			return acct, err
		}
	}
	if !ok {
		acct.Password = rand.Text()[:16]
		hash, err := password.Hash(ctx, acct.Password, password.Default)
		if err != nil {
			return acct, err
		}
		if _, err := tx.UpdateUser(ctx, u.ID, func(u *freight.User) error { u.PasswordHash = hash; return nil }); err != nil {
			return acct, err
		}
	}
	if tokenWorks(ctx, tx, acct.Token, u.ID) {
		return acct, nil
	}
	now := time.Now()
	expires := now.AddDate(1, 0, 0)
	t := &freight.Token{Name: "demo", UserID: u.ID, Role: role, OrgID: orgID, ExpiresAt: &expires, CreatedBy: "system"}
	secret, err := freight.IssueToken(ctx, tx, t, now)
	if err != nil {
		return acct, err
	}
	acct.Token = secret
	return acct, audit(ctx, tx, "token.create", "token", t.ID, orgID, t)
}

func tokenWorks(ctx context.Context, st freight.Store, secret, userID string) bool {
	id, hash, ok := freight.ParseTokenSecret(secret)
	if !ok {
		return false
	}
	t, err := st.Token(ctx, id)
	return err == nil && freight.MatchSecretHash(hash, t.SecretHash) && t.Active(time.Now().Add(24*time.Hour)) && t.UserID == userID
}

// writeDemoInfo writes demo.json atomically and readable by its owner only:
// it holds passwords and tokens.
func writeDemoInfo(path string, info *demoInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".demo-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func printDemo(w io.Writer, info *demoInfo, path string) {
	fmt.Fprintf(w, "Freight demo is running at %s\n\n", info.URL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Vendor admin\t%s\tpassword %s\n\t\ttoken %s\n", info.Admin.Email, info.Admin.Password, info.Admin.Token)
	for _, c := range info.Customers {
		fmt.Fprintf(tw, "Customer %s\t%s\tpassword %s\n\t\ttoken %s\n", c.Org, c.Email, c.Password, c.Token)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTry: curl -H \"Authorization: Bearer %s\" %s/api/v1/organizations\n", info.Admin.Token, info.URL)
	fmt.Fprintf(w, "The same details are in %s. Stop with Ctrl-C.\n", path)
}
