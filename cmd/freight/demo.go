package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
	// Product, Release and Artifacts name the release every customer sees;
	// Products lists the whole catalogue.
	Product   demoProductIDs    `json:"product"`
	Release   demoReleaseIDs    `json:"release"`
	Artifacts []demoArtifact    `json:"artifacts"`
	Products  []demoProductInfo `json:"products"`
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
		// The demo serves plain http on this machine: a Secure cookie
		// would never come back.
		c.insecureCookies = true
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
// the catalogue in demodata.go, which the two customers see differently.
const demoAdminEmail = "admin@vendor.example"

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
		products, err := ensureDemoCatalog(ctx, tx, blobs, info)
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
				user = &freight.User{Email: c.email, Name: c.name + " user", EmailVerified: true}
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
			if err := ensureDemoEntitlements(ctx, tx, org, products); err != nil {
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
	return writeFileAtomic(path, append(b, '\n'), 0o600)
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
