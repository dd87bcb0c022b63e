package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// mustKeys makes keys with the given ids, each from a fixed secret derived
// from its id so that a test can make the same key twice.
func mustKeys(tb testing.TB, ids ...string) *Keys {
	tb.Helper()
	var keys []Key
	for _, id := range ids {
		keys = append(keys, Key{ID: id, Secret: bytes.Repeat([]byte(id[:1]), KeySize)})
	}
	k, err := New(keys...)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustKeys(t, "a")
	plain := []byte("JBSWY3DPEHPK3PXP secret")
	sealed := k.Seal(plain, "users.totp_secret/usr_1")
	if !bytes.HasPrefix(sealed, []byte("v1:a:")) {
		t.Errorf("sealed = %q, want it to start with v1:a:", sealed)
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("JBSWY3DP")) {
		t.Error("the sealed value holds the plaintext")
	}
	for _, c := range sealed {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("sealed value holds byte %#x; it must be printable ASCII to fit text columns", c)
		}
	}
	got, err := k.Open(sealed, "users.totp_secret/usr_1")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("Open = %q, want %q", got, plain)
	}
	if id, err := KeyID(sealed); err != nil || id != "a" {
		t.Errorf("KeyID = %q, %v; want a", id, err)
	}
	if !IsSealed(sealed) {
		t.Error("IsSealed(sealed) = false")
	}
	// A random nonce per value: the same secret sealed twice differs.
	if again := k.Seal(plain, "users.totp_secret/usr_1"); bytes.Equal(again, sealed) {
		t.Error("sealing the same value twice gave the same bytes")
	}
	// The empty secret opens as empty, not nil.
	if got, err := k.Open(k.Seal(nil, "x"), "x"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Open(Seal(nil)) = %q, %v; want an empty slice", got, err)
	}
}

// A sealed value opens only in the context it was sealed for: copied to
// another row or column, it is refused.
func TestSealBoundToContext(t *testing.T) {
	k := mustKeys(t, "a")
	sealed := k.Seal([]byte("secret"), "users.totp_secret/usr_1")
	for _, other := range []string{"users.totp_secret/usr_2", "users.totp_pending/usr_1", "webhooks.secret/usr_1", "", "users.totp_secret/usr_1 "} {
		if _, err := k.Open(sealed, other); !errors.Is(err, ErrNotOpened) {
			t.Errorf("Open in context %q = %v, want ErrNotOpened", other, err)
		}
	}
}

func TestSealTampered(t *testing.T) {
	k := mustKeys(t, "a")
	sealed := k.Seal([]byte("a secret of some length"), "ctx")
	for i := len("v1:a:"); i < len(sealed); i++ {
		b := bytes.Clone(sealed)
		// Swap for another letter of the alphabet, so that the value stays
		// well-formed and only the cipher can notice.
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if got, err := k.Open(b, "ctx"); err == nil {
			// The last character carries padding bits that Strict refuses,
			// or the change is caught by the tag; either way no plaintext.
			t.Fatalf("Open with byte %d changed = %q, want an error", i, got)
		}
	}
}

func TestRotation(t *testing.T) {
	old := mustKeys(t, "k1")
	sealedOld := old.Seal([]byte("secret"), "ctx")

	both := mustKeys(t, "k1", "k2")
	if got := both.Current(); got != "k2" {
		t.Errorf("Current = %q, want the last key, k2", got)
	}
	if got, err := both.Open(sealedOld, "ctx"); err != nil || string(got) != "secret" {
		t.Errorf("the new keys open the old value: %q, %v; want secret", got, err)
	}
	sealedNew := both.Seal([]byte("secret"), "ctx")
	if id, _ := KeyID(sealedNew); id != "k2" {
		t.Errorf("a new value is sealed with %q, want k2", id)
	}

	newOnly := mustKeys(t, "k2")
	if _, err := newOnly.Open(sealedNew, "ctx"); err != nil {
		t.Errorf("Open with k2 only: %v", err)
	}
	_, err := newOnly.Open(sealedOld, "ctx")
	var uk *UnknownKeyError
	if !errors.As(err, &uk) || uk.ID != "k1" {
		t.Fatalf("Open of a k1 value with k2 only = %v, want an UnknownKeyError for k1", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `sealed with key "k1", which is not configured`) || !strings.Contains(msg, `"k2"`) {
		t.Errorf("error = %q, want it to name the missing key and the configured ones", msg)
	}

	// Another key under the same id does not open it.
	impostor, err := New(Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := impostor.Open(sealedOld, "ctx"); !errors.Is(err, ErrNotOpened) {
		t.Errorf("Open with another key of the same id = %v, want ErrNotOpened", err)
	}
}

func TestMalformed(t *testing.T) {
	k := mustKeys(t, "a")
	good := k.Seal([]byte("secret"), "ctx")
	body := string(good[len("v1:a:"):])
	for name, v := range map[string]string{
		"empty":           "",
		"clear":           "whsec_0123456789abcdefghijklmnopqrstuvwxyz",
		"no prefix":       "a:" + body,
		"other version":   "v2:a:" + body,
		"no key id":       "v1::" + body,
		"no colon":        "v1:a" + body,
		"bad key id":      "v1:a/b:" + body,
		"long key id":     "v1:" + strings.Repeat("a", MaxKeyID+1) + ":" + body,
		"not base64":      "v1:a:" + body[:10] + "*" + body[11:],
		"padded":          "v1:a:" + base64.URLEncoding.EncodeToString(make([]byte, 40)),
		"standard base64": "v1:a:" + strings.Repeat("+", 40),
		"line break":      "v1:a:" + body[:10] + "\n" + body[10:],
		"too short":       "v1:a:" + base64.RawURLEncoding.EncodeToString(make([]byte, nonceSize+tagSize-1)),
		"too long":        "v1:a:" + strings.Repeat("A", maxSealed),
	} {
		if IsSealed([]byte(v)) {
			t.Errorf("%s: IsSealed = true", name)
		}
		if _, err := k.Open([]byte(v), "ctx"); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Open = %v, want ErrMalformed", name, err)
		}
	}
}

func TestNew(t *testing.T) {
	key := bytes.Repeat([]byte{1}, KeySize)
	for name, keys := range map[string][]Key{
		"none":      nil,
		"bad id":    {{ID: "a:b", Secret: key}},
		"empty id":  {{ID: "", Secret: key}},
		"short key": {{ID: "a", Secret: key[:16]}},
		"duplicate": {{ID: "a", Secret: key}, {ID: "a", Secret: key}},
	} {
		if _, err := New(keys...); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

func TestParse(t *testing.T) {
	l1, _ := NewKeyLine("2025-01")
	l2, _ := NewKeyLine("2025-07")
	for name, text := range map[string]string{
		"lines":    "# keys of the portal\n" + l1 + "\n\n" + l2 + "  # the newest\n",
		"commas":   l1 + "," + l2,
		"spaces":   l1 + " " + l2,
		"crlf":     l1 + "\r\n" + l2 + "\r\n",
		"unpadded": l1 + "\n" + strings.TrimRight(l2, "="),
	} {
		k, err := Parse(text)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := strings.Join(k.IDs(), " "); got != "2025-01 2025-07" || k.Current() != "2025-07" {
			t.Errorf("%s: ids %q, current %q; want 2025-01 2025-07, the last current", name, got, k.Current())
		}
	}
	// The line of one key opens what the same line sealed in another
	// process: the key is the line, nothing else.
	a, _ := Parse(l1)
	b, _ := Parse(l1)
	if got, err := b.Open(a.Seal([]byte("x"), "c"), "c"); err != nil || string(got) != "x" {
		t.Errorf("the same key line parsed twice does not open its own values: %q, %v", got, err)
	}
	// URL-safe base64 of the same key is the same key.
	id, std, _ := strings.Cut(l1, ":")
	raw, _ := base64.StdEncoding.DecodeString(std)
	c, err := Parse(id + ":" + base64.RawURLEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(a.Seal([]byte("x"), "c"), "c"); err != nil {
		t.Errorf("the key in URL-safe base64 is another key: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	keyB64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, KeySize))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 16))
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "no key"},
		{"comments only", "# nothing\n\n", "no key"},
		{"bare key", keyB64, "line 1: an entry is not keyid:base64key"},
		{"reversed", keyB64 + ":k1", "line 1: a key id must be"},
		{"bad id", "k/1:" + keyB64, "line 1: a key id must be"},
		{"not base64", "k1:" + keyB64[:20] + "*" + keyB64[21:], `line 1: key "k1": is not base64`},
		{"short key", "ok:" + keyB64 + "\nk2:" + short, `line 2: key "k2": must be 32 bytes, not 16`},
		{"duplicate", "k1:" + keyB64 + "\nk1:" + keyB64, `key id "k1" appears twice`},
		{"too many", strings.Repeat("k:"+keyB64+",", maxKeys+1), "more than 256 keys"},
	} {
		_, err := Parse(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), keyB64[:16]) || strings.Contains(err.Error(), short[:16]) {
			t.Errorf("%s: the error %q quotes key material", tc.name, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	line, err := NewKeyLine("k1")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secrets.keys")
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if k.Current() != "k1" {
		t.Errorf("Current = %q, want k1", k.Current())
	}
	if runtime.GOOS != "windows" {
		for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("ReadFile of a file with mode %04o = %v, want an error that says to chmod 600", mode, err)
			}
		}
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(path); err != nil {
			t.Errorf("ReadFile of a file with mode 0400: %v", err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile of a directory = %v, want an error", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), maxKeyFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadFile of a large file = %v, want an error", err)
	}
}

func TestNewKeyLine(t *testing.T) {
	a, err := NewKeyLine("k1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeyLine("k1")
	if a == b {
		t.Error("two new keys are the same")
	}
	if _, err := NewKeyLine("bad id"); err == nil {
		t.Error("NewKeyLine with a bad id succeeded")
	}
}

// FuzzOpen feeds Open what a database could hold: it must never panic,
// and whatever it opens must be what the keys sealed in that context.
func FuzzOpen(f *testing.F) {
	k := mustKeys(f, "a", "b")
	f.Add(k.Seal([]byte("secret"), "ctx"), "ctx")
	f.Add(k.Seal(nil, ""), "")
	f.Add([]byte("v1:a:AAAA"), "ctx")
	f.Add([]byte("v1:c:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "ctx")
	f.Add([]byte("whsec_abc"), "ctx")
	f.Fuzz(func(t *testing.T, b []byte, ctx string) {
		id, idErr := KeyID(b)
		if IsSealed(b) != (idErr == nil) {
			t.Fatalf("IsSealed and KeyID disagree on %q", b)
		}
		plain, err := k.Open(b, ctx)
		if err != nil {
			var uk *UnknownKeyError
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotOpened) && !errors.As(err, &uk) {
				t.Fatalf("Open(%q) = %v, not one of the documented errors", b, err)
			}
			if errors.Is(err, ErrMalformed) != (idErr != nil) {
				t.Fatalf("Open(%q) = %v but KeyID = %v", b, err, idErr)
			}
			return
		}
		if id != "a" && id != "b" {
			t.Fatalf("Open(%q) opened a value of key %q", b, id)
		}
		if again, err := k.Open(b, ctx+"x"); err == nil {
			t.Fatalf("Open(%q) opens in two contexts: %q", b, again)
		}
		_ = plain
	})
}

// FuzzParse feeds Parse what an operator could write in a key file or in
// FREIGHT_SECRETS_KEY: it must never panic, and its errors never quote key
// material.
func FuzzParse(f *testing.F) {
	l1, _ := NewKeyLine("k1")
	l2, _ := NewKeyLine("k2")
	f.Add(l1 + "\n" + l2)
	f.Add("# c\n" + l1 + "," + l2 + " # newest\n")
	f.Add("k1:AAAA")
	f.Add(":")
	f.Add(strings.TrimPrefix(l1, "k1:"))
	f.Fuzz(func(t *testing.T, text string) {
		k, err := Parse(text)
		if err != nil {
			msg := err.Error()
			for _, line := range strings.Split(text, "\n") {
				line, _, _ = strings.Cut(line, "#")
				for _, entry := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
					// What follows the first colon is the key; longer than
					// any key id, it can only appear in the error if the
					// error quotes it.
					if _, secret, ok := strings.Cut(entry, ":"); ok && len(secret) > MaxKeyID+2 && strings.Contains(msg, secret) {
						t.Fatalf("Parse error %q quotes the key of %q", msg, entry)
					}
					if !strings.Contains(entry, ":") && len(entry) > MaxKeyID+2 && strings.Contains(msg, entry) {
						t.Fatalf("Parse error %q quotes the entry %q", msg, entry)
					}
				}
			}
			return
		}
		ids := k.IDs()
		if len(ids) == 0 || ids[len(ids)-1] != k.Current() {
			t.Fatalf("Parse(%q): ids %q, current %q", text, ids, k.Current())
		}
		got, err := k.Open(k.Seal([]byte("s"), "c"), "c")
		if err != nil || string(got) != "s" {
			t.Fatalf("keys parsed from %q do not open their own value: %q, %v", text, got, err)
		}
	})
}

// The store seals and opens a secret on every write and read of its row:
// these measure what that adds.
func BenchmarkSeal(b *testing.B) {
	k := mustKeys(b, "a")
	secret := make([]byte, 64)
	for b.Loop() {
		k.Seal(secret, "signing_keys.private_key/k8wj9ghwmmb")
	}
}

func BenchmarkOpen(b *testing.B) {
	k := mustKeys(b, "a")
	sealed := k.Seal(make([]byte, 64), "signing_keys.private_key/k8wj9ghwmmb")
	for b.Loop() {
		if _, err := k.Open(sealed, "signing_keys.private_key/k8wj9ghwmmb"); err != nil {
			b.Fatal(err)
		}
	}
}
