package licensefile_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/freight-portal/freight/licensefile"
)

// verified returns fullLicense as Verify returns it.
func verified(t *testing.T) *licensefile.License {
	t.Helper()
	l, err := licensefile.Verify(MustSign(t, fullLicense()), trustedKeys)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestValid(t *testing.T) {
	// not_before 2026-03-01T00:00:00Z (inclusive), expires_at
	// 2027-03-01T00:00:00Z (exclusive).
	full := verified(t)
	open := verified(t)
	open.ExpiresAt = nil
	for _, tc := range []struct {
		lic  *licensefile.License
		now  string
		want error
	}{
		{full, "2026-02-28T23:59:59.999999999Z", licensefile.ErrNotYetValid},
		{full, "2026-03-01T00:00:00Z", nil},
		{full, "2026-03-01T00:59:59+01:00", licensefile.ErrNotYetValid}, // 23:59:59Z the day before
		{full, "2026-09-01T12:00:00Z", nil},
		{full, "2027-02-28T23:59:59.999999999Z", nil},
		{full, "2027-03-01T00:00:00Z", licensefile.ErrExpired},
		{full, "2027-03-01T01:00:00+01:00", licensefile.ErrExpired}, // the same instant
		{full, "2099-01-01T00:00:00Z", licensefile.ErrExpired},
		{open, "2026-02-28T23:59:59Z", licensefile.ErrNotYetValid},
		{open, "9999-12-31T23:59:59Z", nil},
		{nil, "2026-09-01T12:00:00Z", licensefile.ErrMalformed},
	} {
		name := "expires"
		switch tc.lic {
		case open:
			name = "never expires"
		case nil:
			name = "nil"
		}
		t.Run(name+"/"+tc.now, func(t *testing.T) {
			err := tc.lic.Valid(date(tc.now))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Valid = %v, want nil", err)
				}
				return
			}
			wantErr(t, "Valid", err, tc.want)
		})
	}
}

func TestBoundTo(t *testing.T) {
	bound := verified(t) // "3f9a1c0e7b2d4a68", "DONGLE-4711"
	unbound := verified(t)
	unbound.HardwareIDs = nil
	kelvin := verified(t)
	kelvin.HardwareIDs = []string{"k1"}
	for _, tc := range []struct {
		name string
		lic  *licensefile.License
		id   string
		want bool
	}{
		{"listed", bound, "DONGLE-4711", true},
		{"other listed", bound, "3f9a1c0e7b2d4a68", true},
		{"lower case", bound, "dongle-4711", true},
		{"upper case hex", bound, "3F9A1C0E7B2D4A68", true},
		{"spaces around", bound, "  DONGLE-4711 ", true},
		{"line break after", bound, "DONGLE-4711\r\n", true},
		{"tab before", bound, "\tDONGLE-4711", true},
		{"not listed", bound, "DONGLE-4712", false},
		{"prefix", bound, "DONGLE-471", false},
		{"longer", bound, "DONGLE-47111", false},
		{"space inside", bound, "DONGLE -4711", false},
		{"other separator", bound, "DONGLE_4711", false},
		{"non-breaking space around", bound, "\u00a0DONGLE-4711", false},
		{"empty", bound, "", false},
		{"only spaces", bound, "   ", false},
		{"Unicode folding is not ASCII folding", kelvin, "\u212a1", false}, // KELVIN SIGN folds to k in Unicode
		{"unbound, any id", unbound, "anything", true},
		{"unbound, empty id", unbound, "", true},
		{"nil license", nil, "DONGLE-4711", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.lic.BoundTo(tc.id); got != tc.want {
				t.Errorf("BoundTo(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
	if !bound.Bound() || unbound.Bound() || (*licensefile.License)(nil).Bound() {
		t.Errorf("Bound() = %v, %v, %v for bound, unbound, nil; want true, false, false",
			bound.Bound(), unbound.Bound(), (*licensefile.License)(nil).Bound())
	}
}

func TestFeatures(t *testing.T) {
	l := verified(t)
	for _, tc := range []struct {
		name      string
		want      bool
		wantValue string
		wantLimit string
	}{
		{"export", true, "pdf,step", "none"},
		{"cam", true, "5-axis", "4"},
		{"api-calls", true, "", "0"},
		{"simulation", true, "", "none"},
		{"Export", false, "", "none"},
		{"export ", false, "", "none"},
		{"", false, "", "none"},
		{"render", false, "", "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := l.Feature(tc.name)
			if ok != tc.want || l.HasFeature(tc.name) != tc.want {
				t.Fatalf("Feature(%q) ok = %v, HasFeature = %v; want %v", tc.name, ok, l.HasFeature(tc.name), tc.want)
			}
			limit := "none"
			if f.Limit != nil {
				limit = fmt.Sprint(*f.Limit)
			}
			if f.Value != tc.wantValue || limit != tc.wantLimit {
				t.Errorf("Feature(%q) = value %q limit %s, want %q %s", tc.name, f.Value, limit, tc.wantValue, tc.wantLimit)
			}
		})
	}
	var nl *licensefile.License
	if _, ok := nl.Feature("export"); ok || nl.HasFeature("export") {
		t.Errorf("a nil license has a feature")
	}
}

func TestAllowsSeats(t *testing.T) {
	l := verified(t) // 25 seats
	unlimited := verified(t)
	unlimited.Seats = 0
	for _, tc := range []struct {
		lic  *licensefile.License
		n    int
		want bool
	}{
		{l, 0, true}, {l, 1, true}, {l, 25, true}, {l, 26, false}, {l, 1 << 40, false},
		{unlimited, 1, true}, {unlimited, 1 << 40, true},
		{nil, 1, false},
	} {
		if got := tc.lic.AllowsSeats(tc.n); got != tc.want {
			seats := -1
			if tc.lic != nil {
				seats = tc.lic.Seats
			}
			t.Errorf("AllowsSeats(%d) with %d seats = %v, want %v", tc.n, seats, got, tc.want)
		}
	}
}

func TestCoversRelease(t *testing.T) {
	l := verified(t) // maintenance until 2026-12-31T23:59:59Z, inclusive
	perpetual := verified(t)
	perpetual.MaintenanceUntil = nil
	for _, tc := range []struct {
		lic       *licensefile.License
		published string
		want      bool
	}{
		{l, "2020-01-01T00:00:00Z", true},
		{l, "2026-12-31T23:59:58Z", true},
		{l, "2026-12-31T23:59:59Z", true},
		{l, "2027-01-01T00:59:59+01:00", true}, // the same instant
		{l, "2026-12-31T23:59:59.000000001Z", false},
		{l, "2027-01-01T00:00:00Z", false},
		{perpetual, "9999-12-31T23:59:59Z", true},
		{nil, "2020-01-01T00:00:00Z", false},
	} {
		if got := tc.lic.CoversRelease(date(tc.published)); got != tc.want {
			t.Errorf("CoversRelease(%s) = %v, want %v (maintenance %v)", tc.published, got, tc.want, tc.lic != nil && tc.lic.MaintenanceUntil != nil)
		}
	}
}

func TestSecretText(t *testing.T) {
	s := licensefile.NewSecret()
	if len(s) != licensefile.SecretSize {
		t.Fatalf("NewSecret: %d bytes", len(s))
	}
	text := licensefile.EncodeSecret(secret)
	if want := "U1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1M"; text != want {
		t.Errorf("EncodeSecret = %q, want %q", text, want)
	}
	for _, in := range []string{text, " " + text + "\n", "\t" + text + "\r\n"} {
		got, err := licensefile.ParseSecret(in)
		if err != nil || string(got) != string(secret) {
			t.Errorf("ParseSecret(%q) = %x, %v; want %x", in, got, err, secret)
		}
	}
	for _, in := range []string{"", text[:42], text + "A", text + "=", "U1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1N", // trailing bits
		"U1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1+", text[:20] + " " + text[20:]} {
		_, err := licensefile.ParseSecret(in)
		if !errors.Is(err, licensefile.ErrWrongSecret) {
			t.Errorf("ParseSecret(%q) error = %v, want ErrWrongSecret", in, err)
		}
	}
}

func TestInspect(t *testing.T) {
	plain := MustSign(t, fullLicense())
	e := MustInspect(t, plain)
	if e.Version != 1 || e.Algorithm != "ed25519" || e.KeyID != "k1" || e.Encryption != "none" || e.Encrypted() || len(e.Signature) != 64 {
		t.Errorf("Inspect = %+v", e)
	}
	got, err := e.UnverifiedLicense()
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonOf(t, got), jsonOf(t, verified(t)); g != w {
		t.Errorf("UnverifiedLicense =\n%s\nwant\n%s", g, w)
	}
	// Inspect does not check the signature: that is the point of its name.
	forged := editFile(t, plain, func(e *licensefile.Envelope) {}, privOther)
	if _, err := MustInspect(t, forged).UnverifiedLicense(); err != nil {
		t.Errorf("UnverifiedLicense of a forged file: %v", err)
	}
	enc := MustInspect(t, MustSignEncrypted(t, fullLicense()))
	if !enc.Encrypted() || enc.Encryption != "aes-256-gcm" {
		t.Errorf("Inspect(encrypted) = %+v", enc)
	}
	_, err = enc.UnverifiedLicense()
	wantErr(t, "UnverifiedLicense(encrypted)", err, licensefile.ErrEncrypted)
	_, err = licensefile.Inspect([]byte("junk"))
	wantErr(t, "Inspect(junk)", err, licensefile.ErrMalformed)
}
