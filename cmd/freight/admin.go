package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/freight-portal/freight"
)

// createAdminFlags declares "freight create-admin", which bootstraps a
// fresh installation: there is no API call that can create the first admin.
func createAdminFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c struct {
		config, email, name string
		lifetime            time.Duration
		db                  dbConfig
		log                 logConfig
	}
	fs.StringVar(&c.config, "config", "", "TOML config file whose keys are these flag names")
	fs.StringVar(&c.email, "email", "", "email address of the admin (required)")
	fs.StringVar(&c.name, "name", "", "display name of the admin, when it is created")
	fs.DurationVar(&c.lifetime, "token-lifetime", 90*24*time.Hour, "lifetime of the new token")
	c.db.flags(fs, "freight-data")
	c.log.flags(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if c.email == "" {
			return fmt.Errorf("create-admin: -email is required")
		}
		if c.lifetime <= 0 {
			return fmt.Errorf("create-admin: -token-lifetime must be positive")
		}
		db, err := openDB(ctx, &c.db, c.log.logger(stderr))
		if err != nil {
			return err
		}
		defer db.Close()
		var secret string
		err = db.Tx(ctx, func(tx freight.Store) error {
			u, err := ensureUser(ctx, tx, c.email, c.name, freight.RoleAdmin)
			if err != nil {
				return err
			}
			now := time.Now()
			expires := now.Add(c.lifetime)
			t := &freight.Token{Name: "created by freight create-admin", UserID: u.ID, Role: freight.RoleAdmin, ExpiresAt: &expires, CreatedBy: "system"}
			if secret, err = freight.IssueToken(ctx, tx, t, now); err != nil {
				return err
			}
			return audit(ctx, tx, "token.create", "token", t.ID, "", map[string]string{"user_id": u.ID, "via": "create-admin"})
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Admin %s. API token (shown once, keep it safe):\n%s\n", c.email, secret)
		return nil
	}
}

// ensureUser returns the user with the given email, creating it with the
// vendor role if it does not exist. An existing user must already hold
// the role: this helper never promotes anyone silently.
func ensureUser(ctx context.Context, st freight.Store, email, name string, role freight.Role) (*freight.User, error) {
	email, err := freight.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := st.UserByEmail(ctx, email)
	if err == nil {
		if u.VendorRole != role {
			return nil, fmt.Errorf("user %s exists with vendor role %q, not %q", email, u.VendorRole, role)
		}
		return u, nil
	}
	if freight.ErrorCode(err) != freight.ENOTFOUND {
		return nil, err
	}
	u = &freight.User{Email: email, Name: name, VendorRole: role, EmailVerified: true}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, audit(ctx, st, "user.create", "user", u.ID, "", u)
}

// audit records a change made by the command line, as the system.
func audit(ctx context.Context, st freight.Store, action, targetType, targetID, orgID string, details any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	return st.CreateAuditEvent(ctx, &freight.AuditEvent{
		Time: time.Now(), Actor: "system", Action: action, TargetType: targetType, TargetID: targetID, OrgID: orgID, Details: b,
	})
}
