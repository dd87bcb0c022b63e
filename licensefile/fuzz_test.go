package licensefile_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/freight-portal/freight/licensefile"
)

// FuzzVerify feeds arbitrary bytes and mutations of valid files to the
// parser and verifier. Nothing panics; what verifies is one of the licenses
// signed here, payload byte for byte; every error wraps a sentinel.
func FuzzVerify(f *testing.F) {
	signed := map[string]bool{}
	var files [][]byte
	for _, l := range []*licensefile.License{fullLicense(), minimalLicense()} {
		plain, enc := MustSign(f, l), MustSignEncrypted(f, l)
		files = append(files, plain, enc)
		n, err := licensefile.Normalize(l, "k1")
		if err != nil {
			f.Fatal(err)
		}
		p, err := licensefile.EncodePayload(n)
		if err != nil {
			f.Fatal(err)
		}
		signed[string(p)] = true
	}
	for _, file := range files {
		f.Add(file)
		f.Add(bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n")))
		f.Add(file[:len(file)/2])
		f.Add(quote(file, "> "))
		e := MustInspect(f, file)
		f.Add(licensefile.EncodeEnvelope(e)) // a body without armor
		f.Add(licensefile.ArmorBody(e.Payload))
		f.Add(licensefile.ArmorBody(append(licensefile.EncodeEnvelope(e), ' ')))
	}
	f.Add([]byte{})
	f.Add([]byte(licensefile.Header + "\n" + licensefile.Footer))
	f.Add([]byte(licensefile.Header + "\ne30=\n" + licensefile.Footer))
	f.Add(licensefile.ArmorBody([]byte(`{"v":1,"alg":"ed25519","kid":"k1","enc":"none","payload":"e30=","sig":""}`)))
	f.Add(licensefile.ArmorBody([]byte(`{"v":2}`)))

	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, l *licensefile.License, err error) {
			if err != nil {
				if l != nil {
					t.Fatalf("%s returned a license with error %v", what, err)
				}
				if !wrapsOneSentinel(err) {
					t.Fatalf("%s: error %v wraps no sentinel, or several", what, err)
				}
				return
			}
			n, nerr := licensefile.Normalize(l, l.KeyID)
			p, perr := licensefile.EncodePayload(n)
			if nerr != nil || perr != nil || !signed[string(p)] {
				t.Fatalf("%s verified a license never signed: %s (%v, %v)", what, p, nerr, perr)
			}
			// The helpers work on anything Verify returns.
			_ = l.Valid(time.Now())
			l.BoundTo("DONGLE-4711")
			l.HasFeature("export")
			l.CoversRelease(time.Now())
			l.AllowsSeats(3)
		}
		l, err := licensefile.Verify(data, trustedKeys)
		check("Verify", l, err)
		l, err = licensefile.VerifyEncrypted(data, trustedKeys, secret)
		check("VerifyEncrypted", l, err)
		l, err = licensefile.VerifyEncrypted(data, trustedKeys, wrongSecret)
		if err == nil {
			// Only a plain file verifies without the right secret.
			if e, ierr := licensefile.Inspect(data); ierr != nil || e.Encrypted() {
				t.Fatalf("an encrypted file verified with the wrong secret")
			}
		}
		check("VerifyEncrypted(wrong secret)", l, err)
		if e, err := licensefile.Inspect(data); err == nil {
			_, _ = e.UnverifiedLicense()
		} else if !wrapsOneSentinel(err) {
			t.Fatalf("Inspect: error %v wraps no sentinel", err)
		}
	})
}

func wrapsOneSentinel(err error) bool {
	n := 0
	for _, s := range sentinelErrs {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1
}

// FuzzSignRoundTrip: whatever strings a portal passes, Sign either refuses
// them with ErrMalformed or writes a file that verifies to the same license.
func FuzzSignRoundTrip(f *testing.F) {
	f.Add("ACME GmbH", "pdf", "DONGLE-4711", "export", int64(25), int64(4), false)
	f.Add(`Müller & Söhne "Präzision" \ GmbH <x>`, "ü\u2029", " a ", "a b", int64(-1), int64(-1), true)
	f.Add("\u00a0\ufeff", "\x7f", "x\\", "\"", int64(1)<<31, int64(1)<<53, false)
	f.Fuzz(func(t *testing.T, name, value, hwid, feature string, seats, limit int64, encrypt bool) {
		l := fullLicense()
		l.Organization.Name = name
		l.Features = append(l.Features, licensefile.Feature{Name: feature, Value: value, Limit: &limit})
		l.HardwareIDs = append(l.HardwareIDs, hwid)
		l.Seats = int(seats)
		var file []byte
		var err error
		if encrypt {
			file, err = licensefile.SignEncrypted(l, "k1", privK1, secret)
		} else {
			file, err = licensefile.Sign(l, "k1", privK1)
		}
		if err != nil {
			if !errors.Is(err, licensefile.ErrMalformed) {
				t.Fatalf("Sign: %v, want ErrMalformed", err)
			}
			return
		}
		got, err := licensefile.VerifyEncrypted(file, trustedKeys, secret)
		if err != nil {
			t.Fatalf("Verify of a signed file: %v", err)
		}
		want, err := licensefile.Normalize(l, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
			t.Fatalf("round trip =\n%s\nwant\n%s", g, w)
		}
	})
}
