package mfa

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestNewRecoveryCodes(t *testing.T) {
	codes, hashes := NewRecoveryCodes(10)
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("got %d codes and %d hashes, want 10 each", len(codes), len(hashes))
	}
	format := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)
	seen := map[string]bool{}
	for i, c := range codes {
		if !format.MatchString(c) {
			t.Errorf("code %q is not four groups of four unambiguous characters", c)
		}
		if seen[c] {
			t.Errorf("code %q repeats", c)
		}
		seen[c] = true
		if !bytes.Equal(hashes[i], HashRecoveryCode(c)) {
			t.Errorf("hashes[%d] is not HashRecoveryCode(codes[%d])", i, i)
		}
		if len(hashes[i]) != 32 {
			t.Errorf("hash of %d bytes, want SHA-256", len(hashes[i]))
		}
	}
}

// Every character position takes all 32 values: the codes carry the full
// 80 bits and none is stuck (a bit-slicing mistake would show here).
func TestRecoveryCodesUseTheWholeAlphabet(t *testing.T) {
	codes, _ := NewRecoveryCodes(2000)
	var used [recoveryLen]map[byte]bool
	for i := range used {
		used[i] = map[byte]bool{}
	}
	for _, c := range codes {
		n, _ := NormalizeRecoveryCode(c)
		for i := range recoveryLen {
			used[i][n[i]] = true
		}
	}
	for i, u := range used {
		if len(u) != 32 {
			// 2000 draws miss a given symbol with probability (31/32)^2000, about 1e-28.
			t.Errorf("position %d took %d distinct values, want 32", i, len(u))
		}
	}
}

func TestMatchRecoveryCode(t *testing.T) {
	codes, hashes := NewRecoveryCodes(5)
	c := codes[3]
	forms := []string{
		c,
		strings.ToUpper(c),
		strings.ReplaceAll(c, "-", ""),
		strings.ReplaceAll(c, "-", " "),
		" " + c + " ",
	}
	for _, f := range forms {
		if got := MatchRecoveryCode(f, hashes); got != 3 {
			t.Errorf("MatchRecoveryCode(%q) = %d, want 3", f, got)
		}
	}
	// Read back from paper: I and L for 1, O for 0.
	if got, _ := NormalizeRecoveryCode("1111-0000-aaaa-bbbb"); got != "11110000aaaabbbb" {
		t.Errorf("normalised = %q", got)
	}
	if a, b := HashRecoveryCode("IiLl-OoOo-aaaa-bbbb"), HashRecoveryCode("1111-0000-AAAA-BBBB"); !bytes.Equal(a, b) {
		t.Error("ambiguous letters hash differently from the digits they stand for")
	}
	for _, bad := range []string{"", c[:len(c)-1], c + "x", strings.Replace(c, c[:1], "u", 1), c + "-", "!" + c[1:]} {
		if bad == c+"-" {
			// A trailing dash is only a separator: this still matches.
			if MatchRecoveryCode(bad, hashes) != 3 {
				t.Errorf("MatchRecoveryCode(%q) did not match", bad)
			}
			continue
		}
		if got := MatchRecoveryCode(bad, hashes); got != -1 {
			t.Errorf("MatchRecoveryCode(%q) = %d, want -1", bad, got)
		}
	}
	other, _ := NewRecoveryCodes(1)
	if got := MatchRecoveryCode(other[0], hashes); got != -1 {
		t.Errorf("a code of another set matches index %d", got)
	}
	if got := MatchRecoveryCode(c, nil); got != -1 {
		t.Errorf("match against no hashes = %d", got)
	}
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	codes, _ := NewRecoveryCodes(2)
	for _, s := range []string{codes[0], strings.ToUpper(codes[1]), "", "----", "iiii llll oooo 0000", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := NormalizeRecoveryCode(s)
		if !ok {
			if HashRecoveryCode(s) == nil {
				t.Fatal("nil hash")
			}
			return
		}
		if len(n) != recoveryLen || strings.Trim(n, recoveryAlphabet) != "" {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q: not canonical", s, n)
		}
		if again, ok := NormalizeRecoveryCode(n); !ok || again != n {
			t.Fatalf("normalising %q again gave %q, %v", n, again, ok)
		}
		if !bytes.Equal(HashRecoveryCode(s), HashRecoveryCode(n)) {
			t.Fatalf("%q and its canonical form hash differently", s)
		}
	})
}
