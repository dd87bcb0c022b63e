package server_test

import (
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/licensefile"
)

// licenseKeys fetches the published license keys as licensefile wants them.
func (s *shop) licenseKeys() map[string]ed25519.PublicKey {
	s.t.Helper()
	var doc struct {
		Keys []struct {
			Kid string
			Key []byte
		}
	}
	s.must(http.StatusOK, "GET", "/.well-known/freight-license-keys.json", "", nil).decode(s.t, &doc)
	keys := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		keys[k.Kid] = k.Key
	}
	return keys
}

func TestLicenses(t *testing.T) {
	s := newShop(t)
	prodID := mustProductID(t, s.env)
	expires := s.clock.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second)
	var l freight.License
	s.must(http.StatusCreated, "POST", "/api/v1/licenses", s.token, map[string]any{
		"org_id": s.acme.ID, "product_id": prodID, "seats": 5, "hardware_ids": []string{"DONGLE-0042"},
		"features":   []map[string]any{{"name": "cam.5axis"}, {"name": "post.fanuc", "limit": 3}},
		"expires_at": expires,
	}).decode(t, &l)
	if l.State != freight.LicenseActive || l.KeyID == "" || l.Seats != 5 {
		t.Fatalf("issued %+v", l)
	}

	t.Run("MemberDownloadsAndVerifiesOffline", func(t *testing.T) {
		r := s.must(http.StatusOK, "GET", "/api/v1/licenses/"+l.ID+"/file", s.acmeTok, nil)
		if !strings.Contains(string(r.body), "BEGIN FREIGHT LICENSE") || !strings.Contains(r.header.Get("Content-Disposition"), "cad-acme.lic") {
			t.Fatalf("file answer: %q, %q", r.header.Get("Content-Disposition"), r.body)
		}
		lf, err := licensefile.Verify(r.body, s.licenseKeys())
		if err != nil {
			t.Fatal(err)
		}
		if lf.ID != l.ID || lf.Organization.ID != s.acme.ID || lf.Product != "cad" || !lf.HasFeature("cam.5axis") ||
			!lf.BoundTo("dongle-0042") || lf.BoundTo("DONGLE-9") || lf.ExpiresAt == nil || !lf.ExpiresAt.Equal(expires) {
			t.Errorf("verified license %+v does not say what was issued", lf)
		}
		if f, ok := lf.Feature("post.fanuc"); !ok || f.Limit == nil || *f.Limit != 3 {
			t.Errorf("feature post.fanuc = %+v", f)
		}
		// A grant key does not verify licenses: the keyrings are separate.
		var gk struct{ Keys []struct{ Kid string } }
		s.must(http.StatusOK, "GET", "/.well-known/freight-keys.json", "", nil).decode(t, &gk)
		for _, k := range gk.Keys {
			if _, ok := s.licenseKeys()[k.Kid]; ok {
				t.Errorf("key %s signs both grants and licenses", k.Kid)
			}
		}
	})
	t.Run("Encrypted", func(t *testing.T) {
		secret := licensefile.NewSecret()
		var el freight.License
		s.must(http.StatusCreated, "POST", "/api/v1/licenses", s.token, map[string]any{
			"org_id": s.acme.ID, "product_id": prodID, "features": []map[string]any{{"name": "secret.feature"}},
			"secret": licensefile.EncodeSecret(secret),
		}).decode(t, &el)
		file := s.must(http.StatusOK, "GET", "/api/v1/licenses/"+el.ID+"/file", s.acmeTok, nil).body
		if strings.Contains(string(file), "secret.feature") {
			t.Error("the encrypted file shows its contents")
		}
		if _, err := licensefile.Verify(file, s.licenseKeys()); err == nil {
			t.Error("an encrypted file verified without its secret")
		}
		lf, err := licensefile.VerifyEncrypted(file, s.licenseKeys(), secret)
		if err != nil || !lf.HasFeature("secret.feature") {
			t.Errorf("VerifyEncrypted with the secret: %v", err)
		}
		if _, err := licensefile.VerifyEncrypted(file, s.licenseKeys(), licensefile.NewSecret()); err == nil {
			t.Error("another secret opened the file")
		}
		wantError(t, s.do("POST", "/api/v1/licenses", s.token, map[string]any{"org_id": s.acme.ID, "product_id": prodID, "secret": "short"}),
			http.StatusBadRequest, freight.EINVALID, "secret")
		s.must(http.StatusOK, "POST", "/api/v1/licenses/"+el.ID+"/revoke", s.token, nil)
	})
	t.Run("Tenancy", func(t *testing.T) {
		wantError(t, s.do("GET", "/api/v1/licenses/"+l.ID+"/file", s.globexTok, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		wantError(t, s.do("GET", "/api/v1/licenses/"+l.ID, s.globexTok, nil), http.StatusNotFound, freight.ENOTFOUND, "")
		var list struct{ Items []freight.License }
		s.must(http.StatusOK, "GET", "/api/v1/licenses", s.globexTok, nil).decode(t, &list)
		if len(list.Items) != 0 {
			t.Errorf("globex lists %d licenses, want none", len(list.Items))
		}
		wantError(t, s.do("GET", "/api/v1/licenses?org_id="+s.acme.ID, s.globexTok, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
		s.must(http.StatusOK, "GET", "/api/v1/licenses?state=active", s.acmeTok, nil).decode(t, &list)
		if len(list.Items) != 1 {
			t.Errorf("acme lists %d active licenses, want 1", len(list.Items))
		}
		wantError(t, s.do("POST", "/api/v1/licenses", s.acmeAdminTok, map[string]any{"org_id": s.acme.ID, "product_id": prodID}), http.StatusForbidden, freight.EFORBIDDEN, "")
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"org_id": "org_00000000000000000000000000", "product_id": prodID},
			{"org_id": s.acme.ID, "product_id": "prd_00000000000000000000000000"},
			{"org_id": s.acme.ID, "product_id": prodID, "seats": -1},
			{"org_id": s.acme.ID, "product_id": prodID, "features": []map[string]any{{"name": ""}}},
			{"org_id": s.acme.ID, "product_id": prodID, "expires_at": "2001-01-01T00:00:00Z"},
		} {
			if r := s.do("POST", "/api/v1/licenses", s.token, body); r.status != http.StatusBadRequest {
				t.Errorf("issuing %v: status %d, want 400: %s", body, r.status, r.body)
			}
		}
	})
	t.Run("AmendKeepsTheOld", func(t *testing.T) {
		var amended freight.License
		s.must(http.StatusCreated, "POST", "/api/v1/licenses/"+l.ID+"/amend", s.token, map[string]any{"seats": 10}).decode(t, &amended)
		if amended.ID == l.ID || amended.SupersedesID != l.ID || amended.Seats != 10 || len(amended.Features) != 2 || len(amended.HardwareIDs) != 1 {
			t.Errorf("amendment %+v, want a new license with 10 seats and the rest kept", amended)
		}
		var old freight.License
		s.must(http.StatusOK, "GET", "/api/v1/licenses/"+l.ID, s.token, nil).decode(t, &old)
		if old.State != freight.LicenseSuperseded {
			t.Errorf("the amended license is %s, want superseded", old.State)
		}
		wantError(t, s.do("POST", "/api/v1/licenses/"+l.ID+"/amend", s.token, map[string]any{"seats": 11}), http.StatusConflict, freight.ECONFLICT, "")
		wantError(t, s.do("POST", "/api/v1/licenses/"+amended.ID+"/amend", s.token, map[string]any{"org_id": s.globex.ID}), http.StatusBadRequest, freight.EINVALID, "")
		l = amended
	})
	t.Run("RevokeAndList", func(t *testing.T) {
		s.must(http.StatusOK, "POST", "/api/v1/licenses/"+l.ID+"/revoke", s.token, map[string]any{"reason": "contract ended"})
		wantError(t, s.do("POST", "/api/v1/licenses/"+l.ID+"/revoke", s.token, nil), http.StatusConflict, freight.ECONFLICT, "")
		var rl struct {
			Revoked []struct {
				ID        string
				RevokedAt time.Time `json:"revoked_at"`
			}
		}
		s.must(http.StatusOK, "GET", "/api/v1/license-revocations", "", nil).decode(t, &rl)
		if len(rl.Revoked) != 2 || rl.Revoked[0].ID != l.ID && rl.Revoked[1].ID != l.ID {
			t.Errorf("revocation list = %+v, want %s", rl.Revoked, l.ID)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		var log struct{ Items []freight.AuditEvent }
		s.must(http.StatusOK, "GET", "/api/v1/audit?target_type=license", s.token, nil).decode(t, &log)
		got := map[string]int{}
		for _, e := range log.Items {
			got[e.Action]++
		}
		if got["license.issue"] != 2 || got["license.amend"] != 1 || got["license.revoke"] != 2 || got["license.download"] < 1 {
			t.Errorf("license audit events %v", got)
		}
	})
}

// TestLicenseKeyRotation checks that files signed before a rotation keep
// verifying with the published keys until their key is retired.
func TestLicenseKeyRotation(t *testing.T) {
	s := newShop(t)
	prodID := mustProductID(t, s.env)
	issue := func() []byte {
		var l freight.License
		s.must(http.StatusCreated, "POST", "/api/v1/licenses", s.token, map[string]any{"org_id": s.acme.ID, "product_id": prodID}).decode(t, &l)
		return s.must(http.StatusOK, "GET", "/api/v1/licenses/"+l.ID+"/file", s.token, nil).body
	}
	s.grant(s.acmeTok) // creates the first grant key
	before := issue()
	oldKeys := s.licenseKeys()
	var k freight.SigningKey
	s.must(http.StatusOK, "POST", "/api/v1/keys/rotate?purpose=licenses", s.token, nil).decode(t, &k)
	after := issue()
	keys := s.licenseKeys()
	if len(keys) != 2 {
		t.Fatalf("%d published license keys after rotation, want 2", len(keys))
	}
	for name, f := range map[string][]byte{"before": before, "after": after} {
		if _, err := licensefile.Verify(f, keys); err != nil {
			t.Errorf("the file issued %s the rotation does not verify: %v", name, err)
		}
	}
	if _, err := licensefile.Verify(after, oldKeys); err == nil {
		t.Error("the new file verified with the old keys only")
	}
	// Grant keys did not rotate.
	var gk struct{ Items []freight.SigningKey }
	s.must(http.StatusOK, "GET", "/api/v1/keys", s.token, nil).decode(t, &gk)
	if len(gk.Items) != 1 {
		t.Errorf("%d grant keys, want 1: rotating license keys must not touch them", len(gk.Items))
	}
	var old string
	for kid := range oldKeys {
		old = kid
	}
	s.must(http.StatusOK, "POST", "/api/v1/keys/"+old+"/retire?purpose=licenses", s.token, nil)
	s.clock.Add(time.Minute)
	if _, err := licensefile.Verify(before, s.licenseKeys()); err == nil {
		t.Error("a file signed with a retired key still verifies with the published keys")
	}
}
