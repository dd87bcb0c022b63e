package freight_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// crockford is the alphabet ids must use, spelled out independently of the
// package so that a change there is caught here.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

var idPrefixes = []string{
	freight.PrefixOrganization,
	freight.PrefixUser,
	freight.PrefixProduct,
	freight.PrefixRelease,
	freight.PrefixArtifact,
	freight.PrefixEntitlement,
	freight.PrefixToken,
	freight.PrefixAudit,
}

var testTime = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// idMillis decodes the timestamp from the first ten digits of an id's
// suffix: 3 + 9×5 = 48 bits of milliseconds.
func idMillis(t *testing.T, prefix, id string) int64 {
	t.Helper()
	suffix, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(suffix) != 26 {
		t.Fatalf("id %q does not have the shape %s_<26 digits>", id, prefix)
	}
	var ms int64
	for _, c := range suffix[:10] {
		d := strings.IndexRune(crockford, c)
		if d < 0 {
			t.Fatalf("id %q: %q is not a Crockford digit", id, c)
		}
		ms = ms<<5 | int64(d)
	}
	return ms
}

func TestNewIDShape(t *testing.T) {
	for _, prefix := range idPrefixes {
		t.Run(prefix, func(t *testing.T) {
			id := freight.NewID(prefix, testTime)
			if got, want := len(id), len(prefix)+1+26; got != want {
				t.Errorf("len(%q) = %d, want %d", id, got, want)
			}
			if !strings.HasPrefix(id, prefix+"_") {
				t.Errorf("NewID(%q) = %q, want prefix %q", prefix, id, prefix+"_")
			}
			for i, c := range id[len(prefix)+1:] {
				if !strings.ContainsRune(crockford, c) {
					t.Errorf("NewID(%q) = %q: character %d %q is not in the Crockford alphabet", prefix, id, i, c)
				}
			}
			if !freight.ValidID(prefix, id) {
				t.Errorf("ValidID(%q, %q) = false, want true", prefix, id)
			}
		})
	}
}

func TestNewIDAlphabet(t *testing.T) {
	// Over many ids each of the 16 digits of the random tail (80 bits) takes
	// every value of the alphabet and nothing else; letters that read like
	// digits never appear. A digit that misses a value in 10000 draws means
	// it is not fully random (the odds by chance are below 1e-130).
	var seen [26]map[rune]bool
	for i := range seen {
		seen[i] = make(map[rune]bool)
	}
	for range 10000 {
		id := freight.NewID(freight.PrefixUser, testTime)
		suffix := id[len(freight.PrefixUser)+1:]
		if strings.ContainsAny(suffix, "ilouILOUABCDEFGHJKMNPQRSTVWXYZ") {
			t.Fatalf("NewID = %q, contains an excluded or upper-case letter", id)
		}
		for i, c := range suffix {
			seen[i][c] = true
		}
	}
	for i := 10; i < 26; i++ {
		if got, want := len(seen[i]), len(crockford); got != want {
			t.Errorf("random digit %d takes %d distinct values, want %d", i, got, want)
		}
		for c := range seen[i] {
			if !strings.ContainsRune(crockford, c) {
				t.Errorf("random digit %d takes value %q, not in the alphabet", i, c)
			}
		}
	}
	// The time part is the same for ids of one millisecond.
	for i := range 10 {
		if got, want := len(seen[i]), 1; got != want {
			t.Errorf("time digit %d takes %d distinct values at one instant, want %d", i, got, want)
		}
	}
}

func TestNewIDEncodesTime(t *testing.T) {
	tests := []struct {
		name string
		time time.Time
	}{
		{"epoch", time.UnixMilli(0)},
		{"one millisecond", time.UnixMilli(1)},
		{"2001", time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC)},
		{"test time", testTime},
		{"other zone", testTime.In(time.FixedZone("X", -7*3600))},
		{"2200", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"largest 48-bit", time.UnixMilli(1<<48 - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := freight.NewID(freight.PrefixRelease, tt.time)
			if got, want := idMillis(t, freight.PrefixRelease, id), tt.time.UnixMilli(); got != want {
				t.Errorf("NewID(%v) = %q encodes %d ms, want %d", tt.time, id, got, want)
			}
			// The first digit carries only 3 bits.
			if c := id[len(freight.PrefixRelease)+1]; c < '0' || c > '7' {
				t.Errorf("NewID(%v) = %q: first digit %q, want 0-7", tt.time, id, c)
			}
		})
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	var times []time.Time
	base := testTime
	for i := range 2000 { // consecutive milliseconds cross many digit boundaries
		times = append(times, base.Add(time.Duration(i)*time.Millisecond))
	}
	last := times[len(times)-1]
	for _, d := range []time.Duration{31 * time.Millisecond, time.Second, time.Hour, 24 * time.Hour, 365 * 24 * time.Hour, 100 * 365 * 24 * time.Hour} {
		last = last.Add(d)
		times = append(times, last)
	}

	ids := make([]string, len(times))
	for i, tm := range times {
		ids[i] = freight.NewID(freight.PrefixAudit, tm)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("NewID(%v) = %q >= NewID(%v) = %q, want ids in time order", times[i-1], ids[i-1], times[i], ids[i])
		}
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids created at increasing times are not sorted")
	}
}

func TestNewIDUnique(t *testing.T) {
	// All at the same millisecond: uniqueness rests on the random part.
	seen := make(map[string]bool, 10000)
	for range 10000 {
		id := freight.NewID(freight.PrefixToken, testTime)
		if seen[id] {
			t.Fatalf("NewID returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestValidID(t *testing.T) {
	id := freight.NewID(freight.PrefixOrganization, testTime)
	suffix := id[len("org_"):]
	replace := func(i int, s string) string {
		return "org_" + suffix[:i] + s + suffix[i+len(s):]
	}

	tests := []struct {
		name   string
		prefix string
		id     string
		want   bool
	}{
		{"new id", "org", id, true},
		{"all zeros", "org", "org_" + strings.Repeat("0", 26), true},
		{"low digits", "org", "org_0123456789abcdefghjkmnpqrs", true},
		{"high digits", "org", "org_7tvwxyz" + strings.Repeat("z", 19), true},
		{"wrong prefix", "usr", id, false},
		{"other type", "org", "usr_" + suffix, false},
		{"no underscore", "org", "org-" + suffix, false},
		{"prefix missing", "org", suffix, false},
		{"empty", "org", "", false},
		{"prefix only", "org", "org_", false},
		{"25 digits", "org", "org_" + suffix[:25], false},
		{"27 digits", "org", "org_" + suffix + "0", false},
		{"letter u", "org", replace(5, "u"), false},
		{"letter i", "org", replace(5, "i"), false},
		{"letter l", "org", replace(5, "l"), false},
		{"letter o", "org", replace(5, "o"), false},
		{"upper case digit", "org", replace(25, "A"), false},
		{"upper case", "org", "org_" + strings.ToUpper(suffix), false},
		{"upper-case prefix", "org", "ORG_" + suffix, false},
		{"dash", "org", replace(3, "-"), false},
		{"underscore", "org", replace(3, "_"), false},
		{"space", "org", replace(0, " "), false},
		{"non-ASCII of equal byte length", "org", replace(10, "é"), false},
		{"NUL", "org", replace(25, "\x00"), false},
		{"trailing newline", "org", "org_" + suffix[:25] + "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := freight.ValidID(tt.prefix, tt.id), tt.want; got != want {
				t.Errorf("ValidID(%q, %q) = %v, want %v", tt.prefix, tt.id, got, want)
			}
		})
	}
}
