package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/freight-portal/freight/licensefile"
)

// licenseVerifyFlags declares "freight license verify", which checks a
// license file offline with the vendor's public keys, as the vendor's own
// software would, and describes it.
func licenseVerifyFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c struct {
		publicKey, secret, at, hardwareID string
	}
	fs.StringVar(&c.publicKey, "public-key", "", "the portal's license keys: the JSON of /.well-known/freight-license-keys.json, saved to a file (required)")
	fs.StringVar(&c.secret, "secret", "", "the customer's secret, for an encrypted license file")
	fs.StringVar(&c.at, "at", "", "check validity at this RFC 3339 time instead of now")
	fs.StringVar(&c.hardwareID, "hardware-id", "", "also check that the license is bound to this dongle serial or machine id")
	return func(_ context.Context, stdout, _ io.Writer) error {
		if c.publicKey == "" {
			return errors.New("license verify: -public-key is required")
		}
		data, err := readLicenseArg(fs)
		if err != nil {
			return err
		}
		keys, err := loadLicenseKeys(c.publicKey)
		if err != nil {
			return err
		}
		now := time.Now()
		if c.at != "" {
			if now, err = time.Parse(time.RFC3339, c.at); err != nil {
				return fmt.Errorf("license verify: -at must be an RFC 3339 time like 2027-01-31T00:00:00Z")
			}
		}
		var l *licensefile.License
		if c.secret != "" {
			secret, err := licensefile.ParseSecret(c.secret)
			if err != nil {
				return fmt.Errorf("license verify: -secret: %w", err)
			}
			l, err = licensefile.VerifyEncrypted(data, keys, secret)
			if err != nil {
				return fmt.Errorf("the license file is not valid: %w", err)
			}
		} else if l, err = licensefile.Verify(data, keys); err != nil {
			return fmt.Errorf("the license file is not valid: %w", err)
		}
		describeLicense(stdout, l)
		if err := l.Valid(now); err != nil {
			return fmt.Errorf("the license is genuine but not valid at %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		if c.hardwareID != "" && !l.BoundTo(c.hardwareID) {
			return fmt.Errorf("the license is genuine but not bound to %q", c.hardwareID)
		}
		fmt.Fprintf(stdout, "\nThe license is genuine and valid at %s.\n", now.UTC().Format(time.RFC3339))
		return nil
	}
}

// licenseInspectFlags declares "freight license inspect", which shows a
// license file's contents without checking its signature.
func licenseInspectFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	return func(_ context.Context, stdout, _ io.Writer) error {
		data, err := readLicenseArg(fs)
		if err != nil {
			return err
		}
		env, err := licensefile.Inspect(data)
		if err != nil {
			return fmt.Errorf("the file is not a license file: %w", err)
		}
		fmt.Fprintln(stdout, "NOT VERIFIED: this shows what the file says, not whether it is genuine.")
		fmt.Fprintf(stdout, "Format        version %d, %s, key %s, encryption %s\n\n", env.Version, env.Algorithm, env.KeyID, env.Encryption)
		l, err := env.UnverifiedLicense()
		if errors.Is(err, licensefile.ErrEncrypted) {
			fmt.Fprintln(stdout, "The contents are encrypted; verify with -secret to read them.")
			return nil
		} else if err != nil {
			return fmt.Errorf("the payload is malformed: %w", err)
		}
		describeLicense(stdout, l)
		return nil
	}
}

func readLicenseArg(fs *flag.FlagSet) ([]byte, error) {
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("name one license file (see -h)")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// License files are small; a bound keeps a wrong argument harmless.
	data, err := io.ReadAll(io.LimitReader(f, 2<<20))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// loadLicenseKeys reads the keys document the portal publishes.
func loadLicenseKeys(path string) (map[string]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Keys []struct {
			ID        string `json:"kid"`
			Algorithm string `json:"alg"`
			Key       []byte `json:"key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s is not the portal's keys document (/.well-known/freight-license-keys.json): %w", path, err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		if k.Algorithm != "Ed25519" || len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: key %q is not an Ed25519 public key", path, k.ID)
		}
		keys[k.ID] = ed25519.PublicKey(k.Key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no keys", path)
	}
	return keys, nil
}

// describeLicense prints a verified license in words.
func describeLicense(w io.Writer, l *licensefile.License) {
	fmt.Fprintf(w, "License       %s (signed with key %s)\n", l.ID, l.KeyID)
	fmt.Fprintf(w, "Organization  %s (%s)\n", l.Organization.Name, l.Organization.ID)
	fmt.Fprintf(w, "Product       %s\n", l.Product)
	var feats []string
	for _, f := range l.Features {
		s := f.Name
		if f.Value != "" {
			s += "=" + f.Value
		}
		if f.Limit != nil {
			s += fmt.Sprintf(" (limit %d)", *f.Limit)
		}
		feats = append(feats, s)
	}
	if len(feats) == 0 {
		feats = []string{"none"}
	}
	fmt.Fprintf(w, "Features      %s\n", strings.Join(feats, ", "))
	if l.Seats == 0 {
		fmt.Fprintln(w, "Seats         unlimited")
	} else {
		fmt.Fprintf(w, "Seats         %d\n", l.Seats)
	}
	if len(l.HardwareIDs) == 0 {
		fmt.Fprintln(w, "Hardware      not bound")
	} else {
		fmt.Fprintf(w, "Hardware      bound to %s\n", strings.Join(l.HardwareIDs, ", "))
	}
	until := "no expiry"
	if l.ExpiresAt != nil {
		until = "until " + l.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Valid         from %s, %s\n", l.NotBefore.UTC().Format(time.RFC3339), until)
	if l.MaintenanceUntil != nil {
		fmt.Fprintf(w, "Maintenance   releases published until %s\n", l.MaintenanceUntil.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Issued        %s\n", l.IssuedAt.UTC().Format(time.RFC3339))
}
