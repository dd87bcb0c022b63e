package licensefile_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight/licensefile"
)

// Fixed keys and secrets: the test vectors use the same ones.
var (
	seedK1       = bytes.Repeat([]byte{0x42}, 32)
	seedK2       = bytes.Repeat([]byte{0x43}, 32)
	seedOther    = bytes.Repeat([]byte{0x66}, 32)
	privK1       = ed25519.NewKeyFromSeed(seedK1)
	privK2       = ed25519.NewKeyFromSeed(seedK2)
	privOther    = ed25519.NewKeyFromSeed(seedOther)
	secret       = bytes.Repeat([]byte{0x53}, 32)
	wrongSecret  = bytes.Repeat([]byte{0x54}, 32)
	fixedNonce   = bytes.Repeat([]byte{0x4e}, 12)
	trustedKeys  = map[string]ed25519.PublicKey{"k1": pub(privK1), "k2": pub(privK2)}
	sentinelErrs = []error{
		licensefile.ErrMalformed, licensefile.ErrUnsupportedVersion, licensefile.ErrUnknownKey,
		licensefile.ErrBadSignature, licensefile.ErrEncrypted, licensefile.ErrWrongSecret,
		licensefile.ErrNotYetValid, licensefile.ErrExpired,
	}
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

// fullLicense uses every member; its lists are not sorted, as Sign sorts.
func fullLicense() *licensefile.License {
	return &licensefile.License{
		ID:           "lic_01jq3v5m8k7d2x9w4t6r0b1c3e",
		Organization: licensefile.Organization{ID: "org_01jq3tzq4n5c8v2m7x1k9d0w6a", Name: "ACME Fertigung GmbH"},
		Product:      "cad-suite",
		Features: []licensefile.Feature{
			{Name: "simulation"},
			{Name: "export", Value: "pdf,step"},
			{Name: "cam", Value: "5-axis", Limit: ptr(int64(4))},
			{Name: "api-calls", Limit: ptr(int64(0))},
		},
		Seats:            25,
		HardwareIDs:      []string{"DONGLE-4711", "3f9a1c0e7b2d4a68"},
		IssuedAt:         date("2026-03-01T09:30:00Z"),
		NotBefore:        date("2026-03-01T00:00:00Z"),
		ExpiresAt:        ptr(date("2027-03-01T00:00:00Z")),
		MaintenanceUntil: ptr(date("2026-12-31T23:59:59Z")),
	}
}

// minimalLicense has only the members that must be there.
func minimalLicense() *licensefile.License {
	return &licensefile.License{
		ID:           "L-1",
		Organization: licensefile.Organization{ID: "globex", Name: "Globex"},
		Product:      "viewer",
		IssuedAt:     date("2026-01-15T12:00:00Z"),
	}
}

// MustSign signs l with key k1.
func MustSign(tb testing.TB, l *licensefile.License) []byte {
	tb.Helper()
	file, err := licensefile.Sign(l, "k1", privK1)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return file
}

// MustSignEncrypted signs l with key k1, encrypted with secret and the fixed
// nonce.
func MustSignEncrypted(tb testing.TB, l *licensefile.License) []byte {
	tb.Helper()
	file, err := licensefile.SignEncryptedWithNonces(l, "k1", privK1, secret, bytes.NewReader(fixedNonce))
	if err != nil {
		tb.Fatalf("SignEncrypted: %v", err)
	}
	return file
}

// MustInspect takes a file apart.
func MustInspect(tb testing.TB, file []byte) *licensefile.Envelope {
	tb.Helper()
	e, err := licensefile.Inspect(file)
	if err != nil {
		tb.Fatalf("Inspect: %v", err)
	}
	return e
}

// jsonOf renders a license for comparison; times compare as instants.
func jsonOf(tb testing.TB, l *licensefile.License) string {
	tb.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// wantErr fails unless err wraps want and no other sentinel.
func wantErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("%s: error %v, want %v", what, err, want)
	}
	for _, s := range sentinelErrs {
		if s != want && errors.Is(err, s) {
			tb.Fatalf("%s: error %v wraps %v too", what, err, s)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		lic  *licensefile.License
	}{{"full", fullLicense()}, {"minimal", minimalLicense()}} {
		want, err := licensefile.Normalize(tc.lic, "k1")
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name+"/plain", func(t *testing.T) {
			file := MustSign(t, tc.lic)
			got, err := licensefile.Verify(file, trustedKeys)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
				t.Errorf("Verify =\n%s\nwant\n%s", g, w)
			}
			// VerifyEncrypted reads plain files too.
			got, err = licensefile.VerifyEncrypted(file, trustedKeys, secret)
			if err != nil {
				t.Fatalf("VerifyEncrypted(plain file): %v", err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
				t.Errorf("VerifyEncrypted(plain file) =\n%s\nwant\n%s", g, w)
			}
		})
		t.Run(tc.name+"/encrypted", func(t *testing.T) {
			file, err := licensefile.SignEncrypted(tc.lic, "k1", privK1, secret)
			if err != nil {
				t.Fatalf("SignEncrypted: %v", err)
			}
			got, err := licensefile.VerifyEncrypted(file, trustedKeys, secret)
			if err != nil {
				t.Fatalf("VerifyEncrypted: %v", err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
				t.Errorf("VerifyEncrypted =\n%s\nwant\n%s", g, w)
			}
			if bytes.Contains(MustInspect(t, file).Payload, []byte(tc.lic.Organization.Name)) {
				t.Errorf("the encrypted payload shows the organization name")
			}
			// Two files of one license differ: the nonce is random.
			again, err := licensefile.SignEncrypted(tc.lic, "k1", privK1, secret)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again, file) {
				t.Errorf("SignEncrypted made the same file twice")
			}
		})
	}
}

func TestSignNormalizes(t *testing.T) {
	l := fullLicense()
	berlin := time.FixedZone("CET", 3600)
	l.IssuedAt = date("2026-03-01T10:30:00.987654321+01:00").In(berlin)
	l.NotBefore = time.Time{}
	before := jsonOf(t, l)
	got, err := licensefile.Verify(MustSign(t, l), trustedKeys)
	if err != nil {
		t.Fatal(err)
	}
	if after := jsonOf(t, l); after != before {
		t.Errorf("Sign changed its argument:\n%s\nwas\n%s", after, before)
	}
	if want := date("2026-03-01T09:30:00Z"); !got.IssuedAt.Equal(want) || got.IssuedAt.Location() != time.UTC {
		t.Errorf("IssuedAt = %v, want %v in UTC", got.IssuedAt, want)
	}
	if !got.NotBefore.Equal(got.IssuedAt) {
		t.Errorf("NotBefore = %v, want IssuedAt %v", got.NotBefore, got.IssuedAt)
	}
	var names []string
	for _, f := range got.Features {
		names = append(names, f.Name)
	}
	if g, w := strings.Join(names, " "), "api-calls cam export simulation"; g != w {
		t.Errorf("feature order %q, want %q", g, w)
	}
	if g, w := strings.Join(got.HardwareIDs, " "), "3f9a1c0e7b2d4a68 DONGLE-4711"; g != w {
		t.Errorf("hardware id order %q, want %q", g, w)
	}
	if got.Version != 1 || got.KeyID != "k1" {
		t.Errorf("Version, KeyID = %d, %q; want 1, k1", got.Version, got.KeyID)
	}
}

func TestSignRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(l *licensefile.License)
		want   error
	}{
		{"no id", func(l *licensefile.License) { l.ID = "" }, licensefile.ErrMalformed},
		{"id with space", func(l *licensefile.License) { l.ID = "lic 1" }, licensefile.ErrMalformed},
		{"id with quote", func(l *licensefile.License) { l.ID = `lic"1` }, licensefile.ErrMalformed},
		{"id too long", func(l *licensefile.License) { l.ID = strings.Repeat("x", 129) }, licensefile.ErrMalformed},
		{"other key id", func(l *licensefile.License) { l.KeyID = "k2" }, licensefile.ErrMalformed},
		{"version 2", func(l *licensefile.License) { l.Version = 2 }, licensefile.ErrUnsupportedVersion},
		{"no organization id", func(l *licensefile.License) { l.Organization.ID = "" }, licensefile.ErrMalformed},
		{"no organization name", func(l *licensefile.License) { l.Organization.Name = "" }, licensefile.ErrMalformed},
		{"name with newline", func(l *licensefile.License) { l.Organization.Name = "ACME\nEvil" }, licensefile.ErrMalformed},
		{"name with C1 control", func(l *licensefile.License) { l.Organization.Name = "ACME\u009b31m" }, licensefile.ErrMalformed},
		{"name with U+2028", func(l *licensefile.License) { l.Organization.Name = "ACME\u2028" }, licensefile.ErrMalformed},
		{"name not UTF-8", func(l *licensefile.License) { l.Organization.Name = "ACME\xff" }, licensefile.ErrMalformed},
		{"name too long", func(l *licensefile.License) { l.Organization.Name = strings.Repeat("ä", 129) }, licensefile.ErrMalformed},
		{"no product", func(l *licensefile.License) { l.Product = "" }, licensefile.ErrMalformed},
		{"duplicate feature", func(l *licensefile.License) { l.Features[1].Name = "cam" }, licensefile.ErrMalformed},
		{"feature without name", func(l *licensefile.License) { l.Features[0].Name = "" }, licensefile.ErrMalformed},
		{"negative limit", func(l *licensefile.License) { l.Features[0].Limit = ptr(int64(-1)) }, licensefile.ErrMalformed},
		{"limit over 2^53-1", func(l *licensefile.License) { l.Features[0].Limit = ptr(int64(1) << 53) }, licensefile.ErrMalformed},
		{"value too long", func(l *licensefile.License) { l.Features[0].Value = strings.Repeat("v", 257) }, licensefile.ErrMalformed},
		{"too many features", func(l *licensefile.License) {
			l.Features = nil
			for i := range 257 {
				l.Features = append(l.Features, licensefile.Feature{Name: fmt.Sprint("f", i)})
			}
		}, licensefile.ErrMalformed},
		{"negative seats", func(l *licensefile.License) { l.Seats = -1 }, licensefile.ErrMalformed},
		{"seats over 2^31-1", func(l *licensefile.License) { l.Seats = 1 << 31 }, licensefile.ErrMalformed},
		{"duplicate hardware id", func(l *licensefile.License) { l.HardwareIDs = []string{"A", "A"} }, licensefile.ErrMalformed},
		{"hardware ids differing in case", func(l *licensefile.License) { l.HardwareIDs = []string{"ab", "AB"} }, licensefile.ErrMalformed},
		{"hardware id with space around", func(l *licensefile.License) { l.HardwareIDs = []string{" A"} }, licensefile.ErrMalformed},
		{"hardware id not ASCII", func(l *licensefile.License) { l.HardwareIDs = []string{"Ä"} }, licensefile.ErrMalformed},
		{"empty hardware id", func(l *licensefile.License) { l.HardwareIDs = []string{""} }, licensefile.ErrMalformed},
		{"no issued_at", func(l *licensefile.License) { l.IssuedAt = time.Time{} }, licensefile.ErrMalformed},
		{"before 1970", func(l *licensefile.License) { l.NotBefore = date("1969-12-31T23:59:59Z") }, licensefile.ErrMalformed},
		{"after 9999", func(l *licensefile.License) { l.ExpiresAt = ptr(date("9999-12-31T23:59:59Z").Add(time.Second)) }, licensefile.ErrMalformed},
		{"expires at not_before", func(l *licensefile.License) { l.ExpiresAt = ptr(l.NotBefore) }, licensefile.ErrMalformed},
		{"expires within the second of not_before", func(l *licensefile.License) { l.ExpiresAt = ptr(l.NotBefore.Add(time.Second - 1)) }, licensefile.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fullLicense()
			tc.change(l)
			file, err := licensefile.Sign(l, "k1", privK1)
			wantErr(t, "Sign", err, tc.want)
			if file != nil {
				t.Errorf("Sign returned a file with its error")
			}
		})
	}
	t.Run("nil license", func(t *testing.T) {
		_, err := licensefile.Sign(nil, "k1", privK1)
		wantErr(t, "Sign", err, licensefile.ErrMalformed)
	})
	t.Run("bad key id", func(t *testing.T) {
		for _, kid := range []string{"", "k.1", strings.Repeat("k", 33), "k\x00"} {
			_, err := licensefile.Sign(fullLicense(), kid, privK1)
			wantErr(t, fmt.Sprintf("Sign(kid %q)", kid), err, licensefile.ErrMalformed)
		}
	})
	t.Run("bad private key", func(t *testing.T) {
		damaged := append(ed25519.PrivateKey{}, privK1...)
		damaged[40] ^= 1
		for name, k := range map[string]ed25519.PrivateKey{"nil": nil, "short": privK1[:63], "damaged": damaged} {
			if _, err := licensefile.Sign(fullLicense(), "k1", k); err == nil {
				t.Errorf("Sign with a %s private key succeeded", name)
			}
		}
	})
	t.Run("bad secret", func(t *testing.T) {
		for _, s := range [][]byte{nil, secret[:31], append(secret, 0)} {
			_, err := licensefile.SignEncrypted(fullLicense(), "k1", privK1, s)
			wantErr(t, fmt.Sprintf("SignEncrypted(%d-byte secret)", len(s)), err, licensefile.ErrWrongSecret)
		}
	})
}

// TestLimits: the largest license the rules allow fits in a file.
func TestLimits(t *testing.T) {
	l := fullLicense()
	l.ID = strings.Repeat("i", 128)
	l.Organization = licensefile.Organization{ID: strings.Repeat("o", 128), Name: strings.Repeat(`"`, 256)}
	l.Product = strings.Repeat("p", 128)
	l.Features = nil
	for i := range 256 {
		l.Features = append(l.Features, licensefile.Feature{
			Name: fmt.Sprintf("%03d", i) + strings.Repeat("f", 125), Value: strings.Repeat(`\`, 256), Limit: ptr(int64(1)<<53 - 1),
		})
	}
	l.HardwareIDs = nil
	for i := range 1024 {
		l.HardwareIDs = append(l.HardwareIDs, fmt.Sprintf("%04d", i)+strings.Repeat("h", 124))
	}
	l.Seats = 1<<31 - 1
	for _, encrypted := range []bool{false, true} {
		var file []byte
		var err error
		if encrypted {
			file, err = licensefile.SignEncrypted(l, "k1", privK1, secret)
		} else {
			file, err = licensefile.Sign(l, "k1", privK1)
		}
		if err != nil {
			t.Fatalf("Sign (encrypted %v) of the largest license: %v", encrypted, err)
		}
		t.Logf("largest file (encrypted %v): %d bytes", encrypted, len(file))
		if _, err := licensefile.VerifyEncrypted(file, trustedKeys, secret); err != nil {
			t.Fatal(err)
		}
	}
	// One more of anything is refused.
	l.HardwareIDs = append(l.HardwareIDs, "one-more")
	_, err := licensefile.Sign(l, "k1", privK1)
	wantErr(t, "Sign(1025 hardware ids)", err, licensefile.ErrMalformed)
}

func TestVerifyErrors(t *testing.T) {
	plain := MustSign(t, fullLicense())
	encrypted := MustSignEncrypted(t, fullLicense())
	payload := MustInspect(t, plain).Payload
	plainJSON := string(licensefile.EncodeEnvelope(MustInspect(t, plain)))
	edit := func(file []byte, f func(e *licensefile.Envelope), priv ed25519.PrivateKey) []byte {
		return editFile(t, file, f, priv)
	}
	// withPayload signs p as the payload with k1.
	withPayload := func(p string) []byte {
		return edit(plain, func(e *licensefile.Envelope) { e.Payload = []byte(p) }, privK1)
	}
	replacePayload := func(old, new string) []byte {
		t.Helper()
		if !bytes.Contains(payload, []byte(old)) {
			t.Fatalf("payload %s does not contain %s", payload, old)
		}
		return withPayload(strings.Replace(string(payload), old, new, 1))
	}
	withEnvelope := func(old, new string) []byte {
		t.Helper()
		if !strings.Contains(plainJSON, old) {
			t.Fatalf("envelope %s does not contain %s", plainJSON, old)
		}
		return licensefile.ArmorBody([]byte(strings.Replace(plainJSON, old, new, 1)))
	}
	withBody := func(body string) []byte {
		return []byte(licensefile.Header + "\n" + body + "\n" + licensefile.Footer + "\n")
	}
	withPlaintext := func(p string) []byte {
		return edit(encrypted, func(e *licensefile.Envelope) {
			e.Payload = licensefile.Encrypt(e.KeyID, []byte(p), secret, fixedNonce)
		}, privK1)
	}

	for _, tc := range []struct {
		name   string
		file   []byte
		secret []byte // nil: Verify, else VerifyEncrypted
		want   error
		detail string // in the error message
	}{
		{"empty", nil, nil, licensefile.ErrMalformed, "no -----BEGIN"},
		{"no armor", []byte("hello"), nil, licensefile.ErrMalformed, "no -----BEGIN"},
		{"too large", append(bytes.Repeat([]byte(" "), licensefile.MaxFileSize+1-len(plain)), plain...), nil, licensefile.ErrMalformed, "larger than"},
		{"no END line", bytes.TrimSuffix(plain, []byte(licensefile.Footer+"\n")), nil, licensefile.ErrMalformed, "no -----END"},
		{"no BEGIN line", bytes.TrimPrefix(plain, []byte(licensefile.Header)), nil, licensefile.ErrMalformed, "before the BEGIN"},
		{"two blocks", append(append([]byte{}, plain...), plain...), nil, licensefile.ErrMalformed, "second BEGIN"},
		{"BEGIN twice", append([]byte(licensefile.Header+"\n"), plain...), nil, licensefile.ErrMalformed, "second BEGIN"},
		{"END twice", append(append([]byte{}, plain...), licensefile.Footer...), nil, licensefile.ErrMalformed, "second END"},
		{"END before BEGIN", append([]byte(licensefile.Footer+"\n"), plain...), nil, licensefile.ErrMalformed, "before the BEGIN"},
		{"email quoted", quote(plain, "> "), nil, licensefile.ErrMalformed, "line of its own"},
		{"empty body", withBody(""), nil, licensefile.ErrMalformed, "empty body"},
		{"character in body", bytes.Replace(plain, []byte("\n"), []byte("\n.\n"), 3), nil, licensefile.ErrMalformed, "line 2: character '.'"},
		{"NUL in body", bytes.Replace(plain, []byte("\n"), []byte("\n\x00\n"), 3), nil, licensefile.ErrMalformed, "character"},
		{"base64url body", withBody("eyJ2IjoxfQ-_"), nil, licensefile.ErrMalformed, "character '-'"},
		{"body without padding", withBody("eyJ2IjoxfQ"), nil, licensefile.ErrMalformed, "not base64"},
		{"body padding inside", withBody("eyJ2IjoxfQ==eyJ2IjoxfQ=="), nil, licensefile.ErrMalformed, "not base64"},
		{"body trailing bits", withBody("eyJ2IjoxfR=="), nil, licensefile.ErrMalformed, "not base64"},
		{"body not JSON", licensefile.ArmorBody([]byte("not json")), nil, licensefile.ErrMalformed, "not a JSON object"},
		{"body a JSON array", licensefile.ArmorBody([]byte("[1]")), nil, licensefile.ErrMalformed, "not a JSON object"},
		{"body JSON and more", licensefile.ArmorBody([]byte(plainJSON + "{}")), nil, licensefile.ErrMalformed, "not a JSON object"},
		{"envelope without v", withEnvelope(`{"v":1,`, `{`), nil, licensefile.ErrMalformed, "no member"},
		{"envelope v string", withEnvelope(`"v":1`, `"v":"1"`), nil, licensefile.ErrMalformed, "not an integer"},
		{"envelope v 2", withEnvelope(`"v":1`, `"v":2`), nil, licensefile.ErrUnsupportedVersion, "version 2"},
		{"envelope v 0", withEnvelope(`"v":1`, `"v":0`), nil, licensefile.ErrUnsupportedVersion, "version 0"},
		{"envelope v 1.0", withEnvelope(`"v":1`, `"v":1.0`), nil, licensefile.ErrMalformed, "not an integer"},
		{"envelope with space", withEnvelope(`"v":1,`, `"v": 1,`), nil, licensefile.ErrMalformed, "canonical"},
		{"envelope members reordered", withEnvelope(`"v":1,"alg":"ed25519"`, `"alg":"ed25519","v":1`), nil, licensefile.ErrMalformed, "canonical"},
		{"envelope member twice", withEnvelope(`"kid":"k1"`, `"kid":"k9","kid":"k1"`), nil, licensefile.ErrMalformed, "canonical"},
		{"envelope member in upper case", withEnvelope(`"kid"`, `"KID"`), nil, licensefile.ErrMalformed, "canonical"},
		{"envelope unknown member", withEnvelope(`{"v":1,`, `{"v":1,"x":0,`), nil, licensefile.ErrMalformed, "canonical"},
		{"envelope escaped", withEnvelope(`"ed25519"`, `"ed\u00325519"`), nil, licensefile.ErrMalformed, "canonical"},
		{"alg rs256", withEnvelope(`"ed25519"`, `"rs256"`), nil, licensefile.ErrMalformed, "alg"},
		{"alg none", withEnvelope(`"ed25519"`, `"none"`), nil, licensefile.ErrMalformed, "alg"},
		{"enc unknown", withEnvelope(`"enc":"none"`, `"enc":"gzip"`), nil, licensefile.ErrMalformed, "enc"},
		{"kid empty", withEnvelope(`"kid":"k1"`, `"kid":""`), nil, licensefile.ErrMalformed, "kid"},
		{"kid with dot", withEnvelope(`"kid":"k1"`, `"kid":"k.1"`), nil, licensefile.ErrMalformed, "kid"},
		{"sig without padding", withEnvelope(`=="}`, `"}`), nil, licensefile.ErrMalformed, "sig is not base64"},
		{"sig short", edit(plain, func(e *licensefile.Envelope) { e.Signature = e.Signature[:63] }, nil), nil, licensefile.ErrMalformed, "63 bytes"},
		{"sig long", edit(plain, func(e *licensefile.Envelope) { e.Signature = append(e.Signature, 0) }, nil), nil, licensefile.ErrMalformed, "65 bytes"},
		{"payload empty", edit(plain, func(e *licensefile.Envelope) { e.Payload = nil }, privK1), nil, licensefile.ErrMalformed, "empty payload"},
		{"unknown key", edit(plain, func(e *licensefile.Envelope) { e.KeyID = "k9" }, privK1), nil, licensefile.ErrUnknownKey, `"k9"`},
		{"key id moved", edit(plain, func(e *licensefile.Envelope) { e.KeyID = "k2" }, nil), nil, licensefile.ErrBadSignature, `"k2"`},
		{"signed by another key", edit(plain, func(e *licensefile.Envelope) {}, privOther), nil, licensefile.ErrBadSignature, ""},
		{"signed by k2 as k1", edit(plain, func(e *licensefile.Envelope) {}, privK2), nil, licensefile.ErrBadSignature, ""},
		{"sig zero", edit(plain, func(e *licensefile.Envelope) { clear(e.Signature) }, nil), nil, licensefile.ErrBadSignature, ""},
		{"sig S not reduced (S+L)", edit(plain, func(e *licensefile.Envelope) { addL(e.Signature[32:]) }, nil), nil, licensefile.ErrBadSignature, ""},
		{"payload changed", edit(plain, func(e *licensefile.Envelope) { e.Payload[10] ^= 1 }, nil), nil, licensefile.ErrBadSignature, ""},
		{"enc relabelled", edit(plain, func(e *licensefile.Envelope) { e.Encryption = licensefile.EncAES256GCM }, nil), nil, licensefile.ErrBadSignature, ""},
		{"payload not JSON", withPayload("license"), nil, licensefile.ErrMalformed, "not a JSON object"},
		{"payload without version", replacePayload(`"version":1,`, ``), nil, licensefile.ErrMalformed, "no member"},
		{"payload version 2", replacePayload(`"version":1`, `"version":2`), nil, licensefile.ErrUnsupportedVersion, "version 2"},
		{"payload with space", replacePayload(`"seats":25`, `"seats": 25`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload with newline", withPayload(string(payload) + "\n"), nil, licensefile.ErrMalformed, "canonical"},
		{"payload unknown member", replacePayload(`"seats":25`, `"seats":25,"cores":8`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload member twice", replacePayload(`"seats":25`, `"seats":2500,"seats":25`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload member case", replacePayload(`"seats"`, `"Seats"`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload members reordered", replacePayload(`"id":"lic_01jq3v5m8k7d2x9w4t6r0b1c3e","key_id":"k1"`, `"key_id":"k1","id":"lic_01jq3v5m8k7d2x9w4t6r0b1c3e"`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload escape", replacePayload(`"cad-suite"`, `"cad\u002dsuite"`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload HTML-escaped", replacePayload(`"ACME Fertigung GmbH"`, `"ACME \u0026 Co"`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload features null", replacePayload(`"features":[`+featuresOf(payload)+`]`, `"features":null`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload features missing", replacePayload(`"features":[`+featuresOf(payload)+`],`, ``), nil, licensefile.ErrMalformed, "canonical"},
		{"payload features unsorted", replacePayload(`{"name":"api-calls","limit":0},{"name":"cam","value":"5-axis","limit":4}`, `{"name":"cam","value":"5-axis","limit":4},{"name":"api-calls","limit":0}`), nil, licensefile.ErrMalformed, "sorted"},
		{"payload features duplicate", replacePayload(`{"name":"api-calls","limit":0}`, `{"name":"cam","limit":0}`), nil, licensefile.ErrMalformed, "sorted"},
		{"payload hardware_ids null", replacePayload(`"hardware_ids":["3f9a1c0e7b2d4a68","DONGLE-4711"]`, `"hardware_ids":null`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload hardware ids unsorted", replacePayload(`["3f9a1c0e7b2d4a68","DONGLE-4711"]`, `["DONGLE-4711","3f9a1c0e7b2d4a68"]`), nil, licensefile.ErrMalformed, "sorted"},
		{"payload hardware ids equal but case", replacePayload(`["3f9a1c0e7b2d4a68","DONGLE-4711"]`, `["DONGLE-4711","dongle-4711"]`), nil, licensefile.ErrMalformed, "case"},
		{"payload limit null", replacePayload(`"limit":0`, `"limit":null`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload limit negative", replacePayload(`"limit":0`, `"limit":-1`), nil, licensefile.ErrMalformed, "limit"},
		{"payload limit fraction", replacePayload(`"limit":0`, `"limit":0.5`), nil, licensefile.ErrMalformed, "payload"},
		{"payload limit exponent", replacePayload(`"limit":4`, `"limit":4e0`), nil, licensefile.ErrMalformed, "payload"},
		{"payload value empty", replacePayload(`"name":"api-calls"`, `"name":"api-calls","value":""`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload seats too large", replacePayload(`"seats":25`, `"seats":2147483648`), nil, licensefile.ErrMalformed, "seats"},
		{"payload seats huge", replacePayload(`"seats":25`, `"seats":99999999999999999999999`), nil, licensefile.ErrMalformed, "payload"},
		{"payload time fraction", replacePayload(`"issued_at":"2026-03-01T09:30:00Z"`, `"issued_at":"2026-03-01T09:30:00.000Z"`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload time offset", replacePayload(`"issued_at":"2026-03-01T09:30:00Z"`, `"issued_at":"2026-03-01T10:30:00+01:00"`), nil, licensefile.ErrMalformed, "issued_at"},
		{"payload time lower-case z", replacePayload(`"issued_at":"2026-03-01T09:30:00Z"`, `"issued_at":"2026-03-01T09:30:00z"`), nil, licensefile.ErrMalformed, "issued_at"},
		{"payload time not a date", replacePayload(`"issued_at":"2026-03-01T09:30:00Z"`, `"issued_at":"2026-02-30T09:30:00Z"`), nil, licensefile.ErrMalformed, "issued_at"},
		{"payload expires_at null", replacePayload(`"expires_at":"2027-03-01T00:00:00Z"`, `"expires_at":null`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload expires_at empty", replacePayload(`"expires_at":"2027-03-01T00:00:00Z"`, `"expires_at":""`), nil, licensefile.ErrMalformed, "canonical"},
		{"payload expires before not_before", replacePayload(`"expires_at":"2027-03-01T00:00:00Z"`, `"expires_at":"2025-03-01T00:00:00Z"`), nil, licensefile.ErrMalformed, "after not_before"},
		{"payload key_id differs from kid", replacePayload(`"key_id":"k1"`, `"key_id":"k2"`), nil, licensefile.ErrMalformed, "differs from envelope kid"},
		{"payload organization name empty", replacePayload(`"ACME Fertigung GmbH"`, `""`), nil, licensefile.ErrMalformed, "organization.name"},
		{"encrypted, no secret", encrypted, nil, licensefile.ErrEncrypted, ""},
		{"encrypted, wrong secret", encrypted, wrongSecret, licensefile.ErrWrongSecret, "does not decrypt"},
		{"encrypted, short secret", encrypted, secret[:16], licensefile.ErrWrongSecret, "16 bytes"},
		{"encrypted, signed by another key", edit(encrypted, func(e *licensefile.Envelope) {}, privOther), secret, licensefile.ErrBadSignature, ""},
		{"encrypted, ciphertext changed", edit(encrypted, func(e *licensefile.Envelope) { e.Payload[20] ^= 1 }, nil), secret, licensefile.ErrBadSignature, ""},
		{"encrypted, ciphertext changed and signed", edit(encrypted, func(e *licensefile.Envelope) { e.Payload[20] ^= 1 }, privK1), secret, licensefile.ErrWrongSecret, ""},
		{"encrypted, unknown key", edit(encrypted, func(e *licensefile.Envelope) { e.KeyID = "k9" }, privK1), secret, licensefile.ErrUnknownKey, ""},
		{"encrypted for another key id", edit(encrypted, func(e *licensefile.Envelope) { e.KeyID = "k2" }, privK2), secret, licensefile.ErrWrongSecret, ""},
		{"encrypted, too short", edit(encrypted, func(e *licensefile.Envelope) { e.Payload = e.Payload[:28] }, privK1), secret, licensefile.ErrMalformed, "too short"},
		{"encrypted, plaintext not canonical", withPlaintext(string(payload) + " "), secret, licensefile.ErrMalformed, "canonical"},
		{"encrypted, relabelled none", edit(encrypted, func(e *licensefile.Envelope) { e.Encryption = licensefile.EncNone }, nil), secret, licensefile.ErrBadSignature, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *licensefile.License
			var err error
			if tc.secret == nil {
				got, err = licensefile.Verify(tc.file, trustedKeys)
			} else {
				got, err = licensefile.VerifyEncrypted(tc.file, trustedKeys, tc.secret)
			}
			wantErr(t, "Verify", err, tc.want)
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
			if got != nil {
				t.Errorf("Verify returned a license with its error")
			}
		})
	}
}

func TestVerifyBadKeys(t *testing.T) {
	file := MustSign(t, fullLicense())
	for name, keys := range map[string]map[string]ed25519.PublicKey{
		"nil map":        nil,
		"empty map":      {},
		"other kid":      {"k2": pub(privK1)},
		"nil key":        {"k1": nil},
		"short key":      {"k1": pub(privK1)[:31]},
		"private as pub": {"k1": ed25519.PublicKey(privK1)},
	} {
		_, err := licensefile.Verify(file, keys)
		wantErr(t, name, err, licensefile.ErrUnknownKey)
	}
	_, err := licensefile.Verify(file, map[string]ed25519.PublicKey{"k1": pub(privOther)})
	wantErr(t, "wrong public key", err, licensefile.ErrBadSignature)
}

// editFile returns file with its envelope changed by f, then signed by priv
// (nil: keeping the signature).
func editFile(tb testing.TB, file []byte, f func(e *licensefile.Envelope), priv ed25519.PrivateKey) []byte {
	tb.Helper()
	e := MustInspect(tb, file)
	f(e)
	if priv == nil {
		return licensefile.Armor(e)
	}
	return licensefile.Seal(e, priv)
}

// addL adds the group order L to the little-endian scalar s in place:
// a signature with S+L instead of S must not verify (RFC 8032 §5.1.7).
func addL(s []byte) {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for i := range 32 {
		v := int(s[i]) + int(l[i]) + carry
		s[i], carry = byte(v), v>>8
	}
}

// quote prefixes every line of file.
func quote(file []byte, prefix string) []byte {
	lines := strings.SplitAfter(string(file), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return []byte(strings.Join(lines, ""))
}

// featuresOf returns the inside of the features list of payload p.
func featuresOf(p []byte) string {
	s := string(p)
	i := strings.Index(s, `"features":[`) + len(`"features":[`)
	j := strings.Index(s[i:], `],"seats"`)
	return s[i : i+j]
}
