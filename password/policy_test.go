package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/password"
)

func TestCheck(t *testing.T) {
	const email = "Ada.Lovelace@example.com"
	const name = "Ada Lovelace"
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"seven characters", "k7#pq2z", false},
		{"eight characters", "k7#pq2zx", true},
		{"eight code points of four bytes", strings.Repeat("😀", 8), true},
		{"seven code points of four bytes", strings.Repeat("😀", 7), false},
		// "é" as e + combining accent is two code points but one after NFC.
		{"decomposed counts after NFC", strings.Repeat("e\u0301", 7), false},
		{"decomposed eight after NFC", strings.Repeat("e\u0301", 8), true},
		{"no composition rules: lower case only", "correcthorsebatterystaple", true},
		{"spaces are characters", "a b c d e", true},
		{"128 characters", strings.Repeat("ab", 64), true},
		{"129 characters", strings.Repeat("ab", 64) + "c", false},
		{"128 four-byte characters", strings.Repeat("𝄞", 128), true},
		{"over the byte bound", strings.Repeat("é", 600), false},
		{"invalid UTF-8", "abcdefgh\xff", false},
		{"common", "password", false},
		{"common, other case", "PassWord", false},
		{"common digits", "12345678", false},
		{"common, longer", "qwertyuiop", false},
		{"common with a space is another password", "pass word", true},
		{"the email", email, false},
		{"the email, other case", strings.ToUpper(email), false},
		{"the email's local part", "ada.lovelace", false},
		{"the name", "ada lovelace", false},
		{"the name with spaces around it", "  Ada Lovelace ", true},
		{"contains the name is fine", "Ada Lovelace rocks", true},
		{"product name", "FREIGHT", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := password.Check(tc.pw, email, name, "")
			if got := err == nil; got != tc.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
			}
			if err == nil {
				return
			}
			var fe *freight.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Check(%q) error %T, want *freight.Error", tc.pw, err)
			}
			if fe.Code != freight.EINVALID || fe.Field != "password" || fe.Message == "" {
				t.Errorf("Check(%q) = %+v, want EINVALID on field password with a message", tc.pw, fe)
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	for _, tc := range []struct{ pw, want string }{
		{"short", "at least 8 characters"},
		{strings.Repeat("x", 200), "at most 128 characters"},
		{strings.Repeat("x", 5000), "at most 128 characters"},
		{"iloveyou", "most commonly used"},
		{"someone@example.org", "email address"},
	} {
		err := password.Check(tc.pw, "someone@example.org")
		if err == nil || !strings.Contains(freight.ErrorMessage(err), tc.want) {
			t.Errorf("Check(%.20q) = %v, want a message with %q", tc.pw, err, tc.want)
		}
	}
}

// A password with a combining accent hashes like its composed form.
func TestNormalizedHashing(t *testing.T) {
	ctx := context.Background()
	composed, decomposed := "caf\u00e9 cr\u00e8me", "cafe\u0301 cre\u0300me"
	h, err := password.Hash(ctx, decomposed, fast)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(ctx, composed, h); err != nil || !ok {
		t.Errorf("Verify(composed, hash of decomposed) = %v, %v; want true", ok, err)
	}
	// Made with the Argon2 reference implementation (argon2 CLI) from the
	// NFC bytes of "café crème brûlée".
	const ref = "$argon2id$v=19$m=1024,t=1,p=1$bGVnYWN5c2FsdDEyMzQ1Ng$wGPlihTDI/B9xsTzG84nIGbUPcrag1kraM2iH6WkNB4"
	if ok, err := password.Verify(ctx, "cafe\u0301 cre\u0300me bru\u0302le\u0301e", ref); err != nil || !ok {
		t.Errorf("Verify(decomposed, reference hash of NFC) = %v, %v; want true", ok, err)
	}
}

func TestNoTruncation(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("a", password.MaxBytes)
	h, err := password.Hash(ctx, long, fast)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := password.Verify(ctx, long[:len(long)-1], h); ok {
		t.Error("a password one byte shorter verifies: input is truncated")
	}
	if ok, _ := password.Verify(ctx, long+"b", h); ok {
		t.Error("a password one byte longer verifies: input is truncated")
	}
	if _, err := password.Hash(ctx, long+"a", fast); freight.ErrorCode(err) != freight.EINVALID {
		t.Errorf("Hash(MaxBytes+1 bytes) err = %v, want EINVALID", err)
	}
}

// Hashes made with older, weaker parameters keep working and ask to be
// re-hashed; the fixture comes from the Argon2 reference implementation.
func TestVerifyLegacyHash(t *testing.T) {
	const old = "$argon2id$v=19$m=4096,t=2,p=1$bGVnYWN5c2FsdDEyMzQ1Ng$tv25GzjkkxwDi3rMjEX2CYuqQq/iJ/a3hdCOHo/XxBw"
	ok, err := password.Verify(context.Background(), "Tr0ub4dor&3 is old", old)
	if err != nil || !ok {
		t.Fatalf("Verify(legacy hash) = %v, %v; want true", ok, err)
	}
	if ok, _ := password.Verify(context.Background(), "Tr0ub4dor&3 is new", old); ok {
		t.Error("Verify(wrong password, legacy hash) = true")
	}
	if !password.NeedsRehash(old, password.Default) {
		t.Error("NeedsRehash(m=4096 hash, Default) = false, want true")
	}
	const current = "$argon2id$v=19$m=19456,t=2,p=1$bGVnYWN5c2FsdDEyMzQ1Ng$HpfJhBwn0AD2hE6UJSraB1dmMftC9ZFBdFQnNvqJv1w"
	if password.NeedsRehash(current, password.Default) {
		t.Error("NeedsRehash(hash at Default, Default) = true, want false")
	}
	if ok, err := password.Verify(context.Background(), "Tr0ub4dor&3 is old", current); err != nil || !ok {
		t.Errorf("Verify(reference hash at Default) = %v, %v; want true", ok, err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "password", "k7#pq2zx", "e\u0301e\u0301e\u0301e\u0301", "ada@example.com", "\xff\xfe", strings.Repeat("𝄞", 129)} {
		f.Add(s, "ada@example.com")
	}
	f.Fuzz(func(t *testing.T, pw, email string) {
		err := password.Check(pw, email)
		if err == nil {
			n := utf8.RuneCountInString(password.Normalize(pw))
			if n < password.MinLength || n > password.MaxLength || len(pw) > password.MaxBytes || !utf8.ValidString(pw) {
				t.Fatalf("Check(%q) accepted a password out of bounds (%d characters, %d bytes)", pw, n, len(pw))
			}
			if strings.EqualFold(password.Normalize(pw), password.Normalize(strings.TrimSpace(email))) {
				t.Fatalf("Check(%q) accepted the email", pw)
			}
			return
		}
		if freight.ErrorCode(err) != freight.EINVALID || freight.ErrorField(err) != "password" {
			t.Fatalf("Check(%q) = %v, want EINVALID on password", pw, err)
		}
	})
}
