package freight_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/freight-portal/freight"
)

// checkValidation checks that err is nil when wantField is empty, and an
// EINVALID error naming wantField otherwise.
func checkValidation(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Errorf("Validate() = nil, want an EINVALID error on %q", wantField)
		return
	}
	if got, want := freight.ErrorCode(err), freight.EINVALID; got != want {
		t.Errorf("ErrorCode(%v) = %q, want %q", err, got, want)
	}
	if got, want := freight.ErrorField(err), wantField; got != want {
		t.Errorf("ErrorField(%v) = %q, want %q", err, got, want)
	}
	if freight.ErrorMessage(err) == "" {
		t.Errorf("ErrorMessage(%v) is empty, want an explanation", err)
	}
}

// Text cases shared by every name field: validateName(field, s).
func nameCases() []struct{ name, value, wantErr string } {
	return []struct{ name, value, wantErr string }{
		{"simple", "Acme Corp", ""},
		{"unicode", "Société Générale — Zürich 東京", ""},
		{"200 runes", strings.Repeat("é", 200), ""},
		{"200 ASCII", strings.Repeat("n", 200), ""},
		{"empty", "", "required"},
		{"blank", "   ", "required"},
		{"only tab and newline", "\t\n", "required"},
		{"201 runes", strings.Repeat("é", 201), "long"},
		{"201 ASCII", strings.Repeat("n", 201), "long"},
		{"invalid UTF-8", "Acme \xff Corp", "utf8"},
		{"truncated UTF-8", "Acm\xc3", "utf8"},
		{"NUL", "Acme\x00Corp", "control"},
		{"escape", "Acme\x1b[31mCorp", "control"},
		{"bell", "Acme\aCorp", "control"},
		{"carriage return", "Acme\rCorp", "control"},
		{"DEL", "Acme\x7fCorp", "control"},
	}
}

func TestOrganizationValidate(t *testing.T) {
	tests := []struct {
		name      string
		slug      string
		orgName   string
		wantField string
	}{
		{"valid", "acme", "Acme Corp", ""},
		{"one character", "a", "A", ""},
		{"digit", "7", "Seven", ""},
		{"dashes inside", "acme-corp-eu", "Acme", ""},
		{"double dash", "a--b", "Acme", ""},
		{"63 characters", strings.Repeat("a", 63), "Acme", ""},
		{"empty slug", "", "Acme", "slug"},
		{"upper case", "Acme", "Acme", "slug"},
		{"leading dash", "-acme", "Acme", "slug"},
		{"trailing dash", "acme-", "Acme", "slug"},
		{"only dash", "-", "Acme", "slug"},
		{"64 characters", strings.Repeat("a", 64), "Acme", "slug"},
		{"unicode", "acmé", "Acme", "slug"},
		{"underscore", "acme_corp", "Acme", "slug"},
		{"dot", "acme.corp", "Acme", "slug"},
		{"space", "acme corp", "Acme", "slug"},
		{"trailing newline", "acme\n", "Acme", "slug"},
		{"slash", "acme/x", "Acme", "slug"},
		{"slug checked before name", "", "", "slug"},
	}
	for _, tt := range tests {
		t.Run("slug/"+tt.name, func(t *testing.T) {
			o := freight.Organization{Slug: tt.slug, Name: tt.orgName}
			checkValidation(t, o.Validate(), tt.wantField)
		})
	}
	for _, tt := range nameCases() {
		t.Run("name/"+tt.name, func(t *testing.T) {
			o := freight.Organization{Slug: "acme", Name: tt.value}
			field := ""
			if tt.wantErr != "" {
				field = "name"
			}
			checkValidation(t, o.Validate(), field)
		})
	}
}

// BUG: validateText promises to refuse control characters, "which break logs
// and terminals", but it only checks C0 and DEL. The C1 controls
// U+0080–U+009F (for example U+009B, the 8-bit CSI that starts a terminal
// escape sequence, and U+0085, NEL, a line break) pass in every name,
// description, note and yank reason.
func TestValidateRejectsC1Controls(t *testing.T) {
	for _, r := range []rune{0x80, 0x85, 0x9b, 0x9f} {
		name := "Acme" + string(r) + "31mCorp"
		t.Run(fmt.Sprintf("%U", r), func(t *testing.T) {
			o := freight.Organization{Slug: "acme", Name: name}
			checkValidation(t, o.Validate(), "name")
			p := freight.Product{Slug: "tool", Name: "Tool", Description: name}
			checkValidation(t, p.Validate(), "description")
		})
	}
}

func TestUserValidate(t *testing.T) {
	tests := []struct {
		name      string
		user      freight.User
		wantField string
		wantEmail string // the normalised address when valid
	}{
		{"plain", freight.User{Email: "alice@example.com"}, "", "alice@example.com"},
		{"upper case", freight.User{Email: "Alice.Smith@Example.COM"}, "", "alice.smith@example.com"},
		{"surrounding space", freight.User{Email: "  bob@example.com\t"}, "", "bob@example.com"},
		{"plus and subdomain", freight.User{Email: "ops+freight@mail.example.co.uk"}, "", "ops+freight@mail.example.co.uk"},
		{"with name", freight.User{Email: "c@example.com", Name: "Carol"}, "", "c@example.com"},
		{"vendor admin", freight.User{Email: "a@example.com", VendorRole: freight.RoleAdmin}, "", "a@example.com"},
		{"vendor publisher", freight.User{Email: "a@example.com", VendorRole: freight.RolePublisher}, "", "a@example.com"},
		{"vendor support", freight.User{Email: "a@example.com", VendorRole: freight.RoleSupport}, "", "a@example.com"},
		{"254 bytes", freight.User{Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"}, "", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"},
		{"empty email", freight.User{}, "email", ""},
		{"blank email", freight.User{Email: "   "}, "email", ""},
		{"display name", freight.User{Email: "Alice <alice@example.com>"}, "email", ""},
		{"quoted display name", freight.User{Email: `"Alice" <alice@example.com>`}, "email", ""},
		{"angle brackets", freight.User{Email: "<alice@example.com>"}, "email", ""},
		{"comment", freight.User{Email: "alice@example.com (Alice)"}, "email", ""},
		{"quoted local part", freight.User{Email: `"alice"@example.com`}, "email", ""},
		{"no at", freight.User{Email: "alice.example.com"}, "email", ""},
		{"no local part", freight.User{Email: "@example.com"}, "email", ""},
		{"no domain", freight.User{Email: "alice@"}, "email", ""},
		{"no dot in domain", freight.User{Email: "alice@localhost"}, "email", ""},
		{"dot only in local part", freight.User{Email: "alice.smith@localhost"}, "email", ""},
		{"trailing dot", freight.User{Email: "alice@example.com."}, "email", ""},
		{"double dot", freight.User{Email: "alice@example..com"}, "email", ""},
		{"two addresses", freight.User{Email: "a@example.com, b@example.com"}, "email", ""},
		{"two at signs", freight.User{Email: "a@b@example.com"}, "email", ""},
		{"space inside", freight.User{Email: "al ice@example.com"}, "email", ""},
		{"255 bytes", freight.User{Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"}, "email", ""},
		{"blank name", freight.User{Email: "a@example.com", Name: "  "}, "name", ""},
		{"control in name", freight.User{Email: "a@example.com", Name: "Eve\x1b[0m"}, "name", ""},
		{"long name", freight.User{Email: "a@example.com", Name: strings.Repeat("x", 201)}, "name", ""},
		{"org role as vendor role", freight.User{Email: "a@example.com", VendorRole: freight.RoleOrgAdmin}, "vendor_role", ""},
		{"member as vendor role", freight.User{Email: "a@example.com", VendorRole: freight.RoleMember}, "vendor_role", ""},
		{"unknown vendor role", freight.User{Email: "a@example.com", VendorRole: "root"}, "vendor_role", ""},
		{"upper-case vendor role", freight.User{Email: "a@example.com", VendorRole: "Admin"}, "vendor_role", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.user
			checkValidation(t, u.Validate(), tt.wantField)
			if tt.wantField == "" {
				if got, want := u.Email, tt.wantEmail; got != want {
					t.Errorf("Email after Validate = %q, want %q", got, want)
				}
			}
		})
	}
}

// BUG: NormalizeEmail checks the 254-byte limit before lower-casing, and
// strings.ToLower can lengthen a string (U+023A Ⱥ, 2 bytes, lowers to U+2C65
// ⱥ, 3 bytes). The result can then exceed 254 bytes and is rejected when
// normalised again: the function is not idempotent, and a stored address
// breaks the documented limit.
func TestNormalizeEmailLengthAfterLowerCase(t *testing.T) {
	local := strings.Repeat("Ⱥ", 32) // 64 bytes, 96 once lower-cased
	in := local + "@" + strings.Repeat("b", 254-len(local)-1-4) + ".com"
	if got, want := len(in), 254; got != want {
		t.Fatalf("test input has %d bytes, want %d", got, want)
	}
	got, err := freight.NormalizeEmail(in)
	if err != nil {
		return // rejecting the input is acceptable too
	}
	if len(got) > 254 {
		t.Errorf("len(NormalizeEmail(%q)) = %d, want at most 254", in, len(got))
	}
	again, err := freight.NormalizeEmail(got)
	if err != nil {
		t.Fatalf("NormalizeEmail(NormalizeEmail(x)) error = %v, want nil", err)
	}
	if again != got {
		t.Errorf("NormalizeEmail(%q) = %q, want it unchanged", got, again)
	}
}

func TestMembershipValidate(t *testing.T) {
	tests := []struct {
		role      freight.Role
		wantField string
	}{
		{freight.RoleOrgAdmin, ""},
		{freight.RoleMember, ""},
		{freight.RoleAdmin, "role"},
		{freight.RolePublisher, "role"},
		{freight.RoleSupport, "role"},
		{"", "role"},
		{"owner", "role"},
		{"Member", "role"},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			m := freight.Membership{UserID: "usr_x", OrgID: "org_x", Role: tt.role}
			checkValidation(t, m.Validate(), tt.wantField)
		})
	}
}

func TestProductValidate(t *testing.T) {
	tests := []struct {
		name      string
		product   freight.Product
		wantField string
	}{
		{"valid", freight.Product{Slug: "freight-agent", Name: "Freight Agent"}, ""},
		{"markdown description", freight.Product{Slug: "agent", Name: "Agent", Description: "# Agent\n\n\tInstalls *fast*.\n"}, ""},
		{"10000-rune description", freight.Product{Slug: "agent", Name: "Agent", Description: strings.Repeat("é", 10000)}, ""},
		{"bad slug", freight.Product{Slug: "Agent", Name: "Agent"}, "slug"},
		{"empty slug", freight.Product{Name: "Agent"}, "slug"},
		{"64-character slug", freight.Product{Slug: strings.Repeat("p", 64), Name: "Agent"}, "slug"},
		{"empty name", freight.Product{Slug: "agent"}, "name"},
		{"control in name", freight.Product{Slug: "agent", Name: "Agent\x00"}, "name"},
		{"201-rune name", freight.Product{Slug: "agent", Name: strings.Repeat("é", 201)}, "name"},
		{"10001-rune description", freight.Product{Slug: "agent", Name: "Agent", Description: strings.Repeat("é", 10001)}, "description"},
		{"control in description", freight.Product{Slug: "agent", Name: "Agent", Description: "a\x1bb"}, "description"},
		{"invalid UTF-8 description", freight.Product{Slug: "agent", Name: "Agent", Description: "\xfe\xff"}, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, tt.product.Validate(), tt.wantField)
		})
	}
}

func TestReleaseValidate(t *testing.T) {
	valid := func(mod func(*freight.Release)) freight.Release {
		r := freight.Release{Version: "1.2.3", Channel: freight.ChannelStable, State: freight.ReleaseDraft}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	tests := []struct {
		name      string
		release   freight.Release
		wantField string
	}{
		{"valid", valid(nil), ""},
		{"pre-release", valid(func(r *freight.Release) { r.Version = "2.0.0-rc.1+build.5"; r.Channel = freight.ChannelRC }), ""},
		{"beta", valid(func(r *freight.Release) { r.Channel = freight.ChannelBeta }), ""},
		{"alpha", valid(func(r *freight.Release) { r.Channel = freight.ChannelAlpha }), ""},
		{"dev", valid(func(r *freight.Release) { r.Channel = freight.ChannelDev }), ""},
		{"markdown notes", valid(func(r *freight.Release) { r.Notes = "## Fixes\n\n- crash\n\t- on exit\n" }), ""},
		{"100000-rune notes", valid(func(r *freight.Release) { r.Notes = strings.Repeat("é", 100000) }), ""},
		{"1000-rune yank reason", valid(func(r *freight.Release) { r.YankReason = strings.Repeat("y", 1000) }), ""},
		{"empty version", valid(func(r *freight.Release) { r.Version = "" }), "version"},
		{"v prefix", valid(func(r *freight.Release) { r.Version = "v1.2.3" }), "version"},
		{"two numbers", valid(func(r *freight.Release) { r.Version = "1.2" }), "version"},
		{"empty channel", valid(func(r *freight.Release) { r.Channel = "" }), "channel"},
		{"unknown channel", valid(func(r *freight.Release) { r.Channel = "nightly" }), "channel"},
		{"upper-case channel", valid(func(r *freight.Release) { r.Channel = "Stable" }), "channel"},
		{"100001-rune notes", valid(func(r *freight.Release) { r.Notes = strings.Repeat("é", 100001) }), "notes"},
		{"control in notes", valid(func(r *freight.Release) { r.Notes = "\x1b]0;pwned\a" }), "notes"},
		{"invalid UTF-8 notes", valid(func(r *freight.Release) { r.Notes = "\xc0" }), "notes"},
		{"1001-rune yank reason", valid(func(r *freight.Release) { r.YankReason = strings.Repeat("y", 1001) }), "yank_reason"},
		{"control in yank reason", valid(func(r *freight.Release) { r.YankReason = "bad\x00" }), "yank_reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, tt.release.Validate(), tt.wantField)
		})
	}
}

func TestChannelValid(t *testing.T) {
	if got, want := freight.Channels, []freight.Channel{"stable", "rc", "beta", "alpha", "dev"}; !slices.Equal(got, want) {
		t.Errorf("Channels = %v, want %v", got, want)
	}
	for _, tt := range []struct {
		channel freight.Channel
		want    bool
	}{
		{freight.ChannelStable, true},
		{freight.ChannelRC, true},
		{freight.ChannelBeta, true},
		{freight.ChannelAlpha, true},
		{freight.ChannelDev, true},
		{"", false},
		{"nightly", false},
		{"STABLE", false},
		{"stable ", false},
	} {
		t.Run(string(tt.channel), func(t *testing.T) {
			if got, want := tt.channel.Valid(), tt.want; got != want {
				t.Errorf("Channel(%q).Valid() = %v, want %v", tt.channel, got, want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in                  string
		ok                  bool
		major, minor, patch uint64
		pre, meta           string
	}{
		{"1.2.3", true, 1, 2, 3, "", ""},
		{"0.0.0", true, 0, 0, 0, "", ""},
		{"10.20.30", true, 10, 20, 30, "", ""},
		{"1.2.3-rc.1+build.5", true, 1, 2, 3, "rc.1", "build.5"},
		{"1.2.3-rc.1", true, 1, 2, 3, "rc.1", ""},
		{"1.2.3+build.5", true, 1, 2, 3, "", "build.5"},
		{"1.0.0-alpha-a.b-c", true, 1, 0, 0, "alpha-a.b-c", ""},
		{"1.0.0+0001", true, 1, 0, 0, "", "0001"},
		{"1.0.0-0", true, 1, 0, 0, "0", ""},
		{"18446744073709551615.0.0", true, 1<<64 - 1, 0, 0, "", ""},
		{"1.2.3-" + strings.Repeat("a", 122), true, 1, 2, 3, strings.Repeat("a", 122), ""}, // 128 bytes
		{in: ""},
		{in: "v1.2.3"},
		{in: "V1.2.3"},
		{in: "1.2"},
		{in: "1"},
		{in: "1.2.3.4"},
		{in: "01.2.3"},
		{in: "1.02.3"},
		{in: "1.2.03"},
		{in: "1.2.3-01"},
		{in: "1.2.3-"},
		{in: "1.2.3+"},
		{in: "1.2.3-rc..1"},
		{in: "1.2.3-rc_1"},
		{in: "1.2.3+build+5"},
		{in: "1..3"},
		{in: "1.2.x"},
		{in: "a.b.c"},
		{in: "-1.2.3"},
		{in: "+1.2.3"},
		{in: " 1.2.3"},
		{in: "1.2.3 "},
		{in: "1.2.3\n"},
		{in: "１.2.3"},
		{in: "18446744073709551616.0.0"},
		{in: "1.2.3-" + strings.Repeat("a", 123)}, // 129 bytes
		{in: "1.2.3-" + strings.Repeat("a", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := freight.ParseVersion(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseVersion(%q) = %v, nil, want an error", tt.in, v)
				}
				if v != nil {
					t.Errorf("ParseVersion(%q) version = %v on error, want nil", tt.in, v)
				}
				if got, want := freight.ErrorCode(err), freight.EINVALID; got != want {
					t.Errorf("ErrorCode = %q, want %q", got, want)
				}
				if got, want := freight.ErrorField(err), "version"; got != want {
					t.Errorf("ErrorField = %q, want %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVersion(%q) error = %v, want nil", tt.in, err)
			}
			if got, want := v.Major(), tt.major; got != want {
				t.Errorf("Major = %d, want %d", got, want)
			}
			if got, want := v.Minor(), tt.minor; got != want {
				t.Errorf("Minor = %d, want %d", got, want)
			}
			if got, want := v.Patch(), tt.patch; got != want {
				t.Errorf("Patch = %d, want %d", got, want)
			}
			if got, want := v.Prerelease(), tt.pre; got != want {
				t.Errorf("Prerelease = %q, want %q", got, want)
			}
			if got, want := v.Metadata(), tt.meta; got != want {
				t.Errorf("Metadata = %q, want %q", got, want)
			}
			if got, want := v.String(), tt.in; got != want {
				t.Errorf("String = %q, want %q", got, want)
			}
		})
	}
}

func TestParseVersionRange(t *testing.T) {
	tests := []struct {
		in    string
		ok    bool
		allow []string
		deny  []string
	}{
		{">= 2.0, < 3.0", true, []string{"2.0.0", "2.9.9"}, []string{"1.9.9", "3.0.0"}},
		{"~2.4", true, []string{"2.4.0", "2.4.9"}, []string{"2.5.0", "2.3.9"}},
		{"2.x", true, []string{"2.0.0", "2.99.0"}, []string{"3.0.0", "1.0.0"}},
		{"^1.2", true, []string{"1.2.0", "1.9.0"}, []string{"2.0.0", "1.1.0"}},
		{"1.2.3 - 2.0.0", true, []string{"1.2.3", "2.0.0"}, []string{"1.2.2", "2.0.1"}},
		{"< 1.0 || >= 3.0", true, []string{"0.9.0", "3.1.0"}, []string{"1.0.0", "2.0.0"}},
		{"= 1.2.3", true, []string{"1.2.3"}, []string{"1.2.4"}},
		{"*", true, []string{"0.0.1", "9.9.9"}, nil},
		{"=1.0.0-" + strings.Repeat("a", 249), true, nil, []string{"1.0.0", "1.0.0-a"}}, // 256 bytes
		{in: ""},
		{in: " "},
		{in: "abc"},
		{in: ">= 2.0,"},
		{in: "||"},
		{in: ">= two"},
		{in: ">= " + strings.Repeat("1", 254)}, // 257 bytes
		{in: "=1.0.0-" + strings.Repeat("a", 250)}, // 257 bytes, valid but too long
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := freight.ParseVersionRange(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseVersionRange(%q) = %v, nil, want an error", tt.in, c)
				}
				if c != nil {
					t.Errorf("ParseVersionRange(%q) constraint = %v on error, want nil", tt.in, c)
				}
				if got, want := freight.ErrorCode(err), freight.EINVALID; got != want {
					t.Errorf("ErrorCode = %q, want %q", got, want)
				}
				if got, want := freight.ErrorField(err), "version_range"; got != want {
					t.Errorf("ErrorField = %q, want %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVersionRange(%q) error = %v, want nil", tt.in, err)
			}
			for _, s := range tt.allow {
				v, err := freight.ParseVersion(s)
				if err != nil {
					t.Fatalf("ParseVersion(%q) = %v", s, err)
				}
				if !c.Check(v) {
					t.Errorf("%q allows %s = false, want true", tt.in, s)
				}
			}
			for _, s := range tt.deny {
				v, err := freight.ParseVersion(s)
				if err != nil {
					t.Fatalf("ParseVersion(%q) = %v", s, err)
				}
				if c.Check(v) {
					t.Errorf("%q allows %s = true, want false", tt.in, s)
				}
			}
		})
	}
}

func TestArtifactValidate(t *testing.T) {
	const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	valid := func(mod func(*freight.Artifact)) freight.Artifact {
		a := freight.Artifact{Filename: "setup.exe", Platform: "windows", Arch: "x86_64", Size: 1024, State: freight.ArtifactUploading}
		if mod != nil {
			mod(&a)
		}
		return a
	}
	tests := []struct {
		name      string
		artifact  freight.Artifact
		wantField string
	}{
		{"valid", valid(nil), ""},
		{"versioned name", valid(func(a *freight.Artifact) { a.Filename = "freight-1.2.3+linux_amd64.tar.gz" }), ""},
		{"one character", valid(func(a *freight.Artifact) { a.Filename = "A" }), ""},
		{"255 characters", valid(func(a *freight.Artifact) { a.Filename = strings.Repeat("f", 251) + ".zip" }), ""},
		{"upper case", valid(func(a *freight.Artifact) { a.Filename = "Setup.EXE" }), ""},
		{"256 characters", valid(func(a *freight.Artifact) { a.Filename = strings.Repeat("f", 252) + ".zip" }), "filename"},
		{"empty filename", valid(func(a *freight.Artifact) { a.Filename = "" }), "filename"},
		{"parent directory", valid(func(a *freight.Artifact) { a.Filename = "../x" }), "filename"},
		{"dot", valid(func(a *freight.Artifact) { a.Filename = "." }), "filename"},
		{"dot dot", valid(func(a *freight.Artifact) { a.Filename = ".." }), "filename"},
		{"hidden", valid(func(a *freight.Artifact) { a.Filename = ".hidden" }), "filename"},
		{"leading dash", valid(func(a *freight.Artifact) { a.Filename = "-rf" }), "filename"},
		{"leading underscore", valid(func(a *freight.Artifact) { a.Filename = "_setup.exe" }), "filename"},
		{"slash", valid(func(a *freight.Artifact) { a.Filename = "a/b" }), "filename"},
		{"absolute", valid(func(a *freight.Artifact) { a.Filename = "/etc/passwd" }), "filename"},
		{"backslash", valid(func(a *freight.Artifact) { a.Filename = `a\b` }), "filename"},
		{"space", valid(func(a *freight.Artifact) { a.Filename = "a b" }), "filename"},
		{"quote", valid(func(a *freight.Artifact) { a.Filename = `a".exe` }), "filename"},
		{"semicolon", valid(func(a *freight.Artifact) { a.Filename = "a;b.exe" }), "filename"},
		{"colon", valid(func(a *freight.Artifact) { a.Filename = "c:setup.exe" }), "filename"},
		{"newline", valid(func(a *freight.Artifact) { a.Filename = "setup.exe\n" }), "filename"},
		{"unicode", valid(func(a *freight.Artifact) { a.Filename = "ñ.exe" }), "filename"},
		{"platform linux", valid(func(a *freight.Artifact) { a.Platform = "linux" }), ""},
		{"platform any", valid(func(a *freight.Artifact) { a.Platform = "any" }), ""},
		{"platform 32 characters", valid(func(a *freight.Artifact) { a.Platform = strings.Repeat("p", 32) }), ""},
		{"platform with dash and underscore", valid(func(a *freight.Artifact) { a.Platform = "linux-musl_static" }), ""},
		{"empty platform", valid(func(a *freight.Artifact) { a.Platform = "" }), "platform"},
		{"upper-case platform", valid(func(a *freight.Artifact) { a.Platform = "Linux" }), "platform"},
		{"platform with space", valid(func(a *freight.Artifact) { a.Platform = "mac os" }), "platform"},
		{"platform 33 characters", valid(func(a *freight.Artifact) { a.Platform = strings.Repeat("p", 33) }), "platform"},
		{"platform leading dash", valid(func(a *freight.Artifact) { a.Platform = "-linux" }), "platform"},
		{"platform leading underscore", valid(func(a *freight.Artifact) { a.Platform = "_linux" }), "platform"},
		{"arch arm64", valid(func(a *freight.Artifact) { a.Arch = "arm64" }), ""},
		{"arch any", valid(func(a *freight.Artifact) { a.Arch = "any" }), ""},
		{"arch 32 characters", valid(func(a *freight.Artifact) { a.Arch = strings.Repeat("a", 32) }), ""},
		{"empty arch", valid(func(a *freight.Artifact) { a.Arch = "" }), "arch"},
		{"upper-case arch", valid(func(a *freight.Artifact) { a.Arch = "ARM64" }), "arch"},
		{"arch with dot", valid(func(a *freight.Artifact) { a.Arch = "armv7.1" }), "arch"},
		{"arch 33 characters", valid(func(a *freight.Artifact) { a.Arch = strings.Repeat("a", 33) }), "arch"},
		{"zero size", valid(func(a *freight.Artifact) { a.Size = 0 }), ""},
		{"negative size", valid(func(a *freight.Artifact) { a.Size = -1 }), "size"},
		{"sha256", valid(func(a *freight.Artifact) { a.SHA256 = sha }), ""},
		{"sha256 63 digits", valid(func(a *freight.Artifact) { a.SHA256 = sha[:63] }), "sha256"},
		{"sha256 65 digits", valid(func(a *freight.Artifact) { a.SHA256 = sha + "0" }), "sha256"},
		{"sha256 upper case", valid(func(a *freight.Artifact) { a.SHA256 = strings.ToUpper(sha) }), "sha256"},
		{"sha256 not hex", valid(func(a *freight.Artifact) { a.SHA256 = "g" + sha[1:] }), "sha256"},
		{"sha256 with prefix", valid(func(a *freight.Artifact) { a.SHA256 = "sha256:" + sha }), "sha256"},
		{"sha256 with newline", valid(func(a *freight.Artifact) { a.SHA256 = sha + "\n" }), "sha256"},
		{"verifying", valid(func(a *freight.Artifact) { a.State = freight.ArtifactVerifying }), ""},
		{"available", valid(func(a *freight.Artifact) { a.State = freight.ArtifactAvailable; a.SHA256 = sha }), ""},
		{"failed", valid(func(a *freight.Artifact) { a.State = freight.ArtifactFailed; a.Error = "checksum mismatch" }), ""},
		{"empty state", valid(func(a *freight.Artifact) { a.State = "" }), "state"},
		{"unknown state", valid(func(a *freight.Artifact) { a.State = "deleted" }), "state"},
		{"upper-case state", valid(func(a *freight.Artifact) { a.State = "Available" }), "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, tt.artifact.Validate(), tt.wantField)
		})
	}
}

func TestEntitlementValidate(t *testing.T) {
	t0 := testTime
	t1 := testTime.Add(time.Hour)
	valid := func(mod func(*freight.Entitlement)) freight.Entitlement {
		e := freight.Entitlement{OrgID: "org_x", ProductID: "prd_x", Channels: []freight.Channel{freight.ChannelStable}}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	tests := []struct {
		name      string
		ent       freight.Entitlement
		wantField string
	}{
		{"valid", valid(nil), ""},
		{"every clause", valid(func(e *freight.Entitlement) {
			e.Channels = freight.Channels
			e.VersionRange = ">= 2.0, < 3.0"
			e.MaintenanceUntil = &t1
			e.NotBefore, e.NotAfter = &t0, &t1
			e.Platforms = []string{"linux", "windows"}
			e.Arches = []string{"x86_64", "arm64"}
			e.Limits = freight.DownloadLimits{Downloads: 100, Bytes: 1 << 40, Period: freight.LimitMonth}
		}), ""},
		{"nil channels", valid(func(e *freight.Entitlement) { e.Channels = nil }), "channels"},
		{"empty channels", valid(func(e *freight.Entitlement) { e.Channels = []freight.Channel{} }), "channels"},
		{"unknown channel", valid(func(e *freight.Entitlement) { e.Channels = []freight.Channel{"stable", "nightly"} }), "channels"},
		{"empty channel", valid(func(e *freight.Entitlement) { e.Channels = []freight.Channel{""} }), "channels"},
		{"upper-case channel", valid(func(e *freight.Entitlement) { e.Channels = []freight.Channel{"Beta"} }), "channels"},
		{"version range", valid(func(e *freight.Entitlement) { e.VersionRange = "~2.4" }), ""},
		{"bad version range", valid(func(e *freight.Entitlement) { e.VersionRange = "two or three" }), "version_range"},
		{"long version range", valid(func(e *freight.Entitlement) { e.VersionRange = ">= " + strings.Repeat("1", 254) }), "version_range"},
		{"only not_before", valid(func(e *freight.Entitlement) { e.NotBefore = &t1 }), ""},
		{"only not_after", valid(func(e *freight.Entitlement) { e.NotAfter = &t0 }), ""},
		{"not_before equals not_after", valid(func(e *freight.Entitlement) { e.NotBefore, e.NotAfter = &t0, &t0 }), "not_after"},
		{"not_before after not_after", valid(func(e *freight.Entitlement) { e.NotBefore, e.NotAfter = &t1, &t0 }), "not_after"},
		{"not_after one nanosecond later", valid(func(e *freight.Entitlement) {
			later := t0.Add(time.Nanosecond)
			e.NotBefore, e.NotAfter = &t0, &later
		}), ""},
		{"bad platform", valid(func(e *freight.Entitlement) { e.Platforms = []string{"linux", "Windows"} }), "platforms"},
		{"empty platform", valid(func(e *freight.Entitlement) { e.Platforms = []string{""} }), "platforms"},
		{"platform 33 characters", valid(func(e *freight.Entitlement) { e.Platforms = []string{strings.Repeat("p", 33)} }), "platforms"},
		{"bad arch", valid(func(e *freight.Entitlement) { e.Arches = []string{"x86 64"} }), "arches"},
		{"empty arch", valid(func(e *freight.Entitlement) { e.Arches = []string{""} }), "arches"},
		{"negative downloads", valid(func(e *freight.Entitlement) { e.Limits.Downloads = -1 }), "limits.downloads"},
		{"negative bytes", valid(func(e *freight.Entitlement) { e.Limits.Bytes = -1 }), "limits.bytes"},
		{"zero limits", valid(func(e *freight.Entitlement) { e.Limits = freight.DownloadLimits{} }), ""},
		{"day", valid(func(e *freight.Entitlement) { e.Limits.Period = freight.LimitDay }), ""},
		{"week", valid(func(e *freight.Entitlement) { e.Limits.Period = freight.LimitWeek }), ""},
		{"month", valid(func(e *freight.Entitlement) { e.Limits.Period = freight.LimitMonth }), ""},
		{"total", valid(func(e *freight.Entitlement) { e.Limits.Period = freight.LimitTotal }), ""},
		{"year", valid(func(e *freight.Entitlement) { e.Limits.Period = "year" }), "limits.period"},
		{"upper-case period", valid(func(e *freight.Entitlement) { e.Limits.Period = "Day" }), "limits.period"},
		{"total spelled out", valid(func(e *freight.Entitlement) { e.Limits.Period = "total" }), "limits.period"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.ent
			checkValidation(t, e.Validate(), tt.wantField)
		})
	}
}

func TestEntitlementValidateNormalises(t *testing.T) {
	channels := []freight.Channel{freight.ChannelStable, freight.ChannelBeta, freight.ChannelStable, freight.ChannelAlpha, freight.ChannelBeta}
	platforms := []string{"windows", "linux", "windows", "macos"}
	arches := []string{"x86_64", "arm64", "arm64"}
	origChannels := slices.Clone(channels)
	origPlatforms := slices.Clone(platforms)

	e := freight.Entitlement{Channels: channels, Platforms: platforms, Arches: arches}
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	if got, want := e.Channels, []freight.Channel{"alpha", "beta", "stable"}; !slices.Equal(got, want) {
		t.Errorf("Channels = %v, want %v", got, want)
	}
	if got, want := e.Platforms, []string{"linux", "macos", "windows"}; !slices.Equal(got, want) {
		t.Errorf("Platforms = %v, want %v", got, want)
	}
	if got, want := e.Arches, []string{"arm64", "x86_64"}; !slices.Equal(got, want) {
		t.Errorf("Arches = %v, want %v", got, want)
	}

	// The caller's slices are not reordered behind its back.
	if !slices.Equal(channels, origChannels) {
		t.Errorf("caller's channels = %v after Validate, want %v", channels, origChannels)
	}
	if !slices.Equal(platforms, origPlatforms) {
		t.Errorf("caller's platforms = %v after Validate, want %v", platforms, origPlatforms)
	}

	// Entitlements that differ only in order and duplicates compare equal.
	other := freight.Entitlement{
		Channels:  []freight.Channel{freight.ChannelAlpha, freight.ChannelStable, freight.ChannelBeta},
		Platforms: []string{"macos", "linux", "windows"},
		Arches:    []string{"arm64", "x86_64"},
	}
	if err := other.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	if !slices.Equal(e.Channels, other.Channels) || !slices.Equal(e.Platforms, other.Platforms) || !slices.Equal(e.Arches, other.Arches) {
		t.Errorf("normalised entitlements differ: %v %v %v vs %v %v %v", e.Channels, e.Platforms, e.Arches, other.Channels, other.Platforms, other.Arches)
	}

	// Validating twice changes nothing.
	before := slices.Clone(e.Channels)
	if err := e.Validate(); err != nil {
		t.Fatalf("second Validate() = %v, want nil", err)
	}
	if !slices.Equal(e.Channels, before) {
		t.Errorf("Channels after second Validate = %v, want %v", e.Channels, before)
	}
}

func TestArtifactStateValid(t *testing.T) {
	for _, tt := range []struct {
		state freight.ArtifactState
		want  bool
	}{
		{freight.ArtifactUploading, true},
		{freight.ArtifactVerifying, true},
		{freight.ArtifactAvailable, true},
		{freight.ArtifactFailed, true},
		{"", false},
		{"deleted", false},
		{"AVAILABLE", false},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			if got, want := tt.state.Valid(), tt.want; got != want {
				t.Errorf("ArtifactState(%q).Valid() = %v, want %v", tt.state, got, want)
			}
		})
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"a@b.c",
		"Alice@Example.COM",
		"  bob@example.com\n",
		"Alice <alice@example.com>",
		"<a@b.c>",
		`"a b"@example.com`,
		"a@[192.0.2.1]",
		"a@localhost",
		"a@b@c.d",
		"",
		"@",
		"ÀÉÎ@Ünïcode.example",
		"Ⱥ@example.com",
		"K@example.com", // Kelvin sign
		"İ@example.com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com",
		"Ⱥ" + strings.Repeat("a", 62) + "@" + strings.Repeat("b", 184) + ".com", // 253 bytes, 254 lower-cased
		"\xff@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := freight.NormalizeEmail(s)
		if err != nil {
			if got != "" {
				t.Errorf("NormalizeEmail(%q) = %q with error %v, want empty", s, got, err)
			}
			if code, field := freight.ErrorCode(err), freight.ErrorField(err); code != freight.EINVALID || field != "email" {
				t.Errorf("NormalizeEmail(%q) error code %q field %q, want %q %q", s, code, field, freight.EINVALID, "email")
			}
			return
		}
		if got != strings.ToLower(got) {
			t.Errorf("NormalizeEmail(%q) = %q, not lower case", s, got)
		}
		if len(got) > 254 {
			t.Errorf("NormalizeEmail(%q) = %q, %d bytes, want at most 254", s, got, len(got))
		}
		if !strings.Contains(got, "@") {
			t.Errorf("NormalizeEmail(%q) = %q, has no @", s, got)
		}
		if !utf8.ValidString(got) {
			t.Errorf("NormalizeEmail(%q) = %q, not valid UTF-8", s, got)
		}
		if got != strings.TrimSpace(got) {
			t.Errorf("NormalizeEmail(%q) = %q, has surrounding space", s, got)
		}
		if want := strings.ToLower(strings.TrimSpace(s)); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", s, got, want)
		}
		again, err := freight.NormalizeEmail(got)
		if err != nil {
			t.Fatalf("NormalizeEmail(%q) = %q, which is then rejected: %v", s, got, err)
		}
		if again != got {
			t.Errorf("NormalizeEmail(%q) = %q, not idempotent", got, again)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{
		"1.2.3", "0.0.0", "1.2.3-rc.1+build.5", "v1.2.3", "1.2", "01.2.3",
		"1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b", "18446744073709551616.0.0",
		"", "1.2.3-" + strings.Repeat("a", 122),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := freight.ParseVersion(s)
		if err != nil {
			if v != nil {
				t.Errorf("ParseVersion(%q) = %v with error %v, want nil", s, v, err)
			}
			if code, field := freight.ErrorCode(err), freight.ErrorField(err); code != freight.EINVALID || field != "version" {
				t.Errorf("ParseVersion(%q) error code %q field %q, want %q %q", s, code, field, freight.EINVALID, "version")
			}
			return
		}
		if v == nil {
			t.Fatalf("ParseVersion(%q) = nil, nil", s)
		}
		if len(s) > 128 {
			t.Errorf("ParseVersion accepted %d bytes, want at most 128", len(s))
		}
		if s[0] < '0' || s[0] > '9' {
			t.Errorf("ParseVersion(%q) accepted a version not starting with a digit", s)
		}
		if got := v.String(); got != s {
			t.Errorf("ParseVersion(%q).String() = %q, want the input", s, got)
		}
		v2, err := freight.ParseVersion(v.String())
		if err != nil {
			t.Fatalf("ParseVersion(%q) error = %v after accepting it once", v.String(), err)
		}
		if !v.Equal(v2) {
			t.Errorf("reparsed %q = %v, want equal", s, v2)
		}
	})
}

func FuzzParseVersionRange(f *testing.F) {
	for _, s := range []string{
		">= 2.0, < 3.0", "~2.4", "2.x", "^1.2", "1.2.3 - 2.0.0", "< 1.0 || >= 3.0",
		"*", "", "abc", "||", ">= 2.0,", "=1.2.3-rc.1", "!=1.0", ">=v1",
	} {
		f.Add(s)
	}
	probes := []string{"0.0.0", "1.2.3", "2.5.0", "3.0.0-rc.1", "18446744073709551615.0.0"}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := freight.ParseVersionRange(s)
		if err != nil {
			if c != nil {
				t.Errorf("ParseVersionRange(%q) = %v with error %v, want nil", s, c, err)
			}
			if code, field := freight.ErrorCode(err), freight.ErrorField(err); code != freight.EINVALID || field != "version_range" {
				t.Errorf("ParseVersionRange(%q) error code %q field %q, want %q %q", s, code, field, freight.EINVALID, "version_range")
			}
			return
		}
		if c == nil {
			t.Fatalf("ParseVersionRange(%q) = nil, nil", s)
		}
		if len(s) > 256 {
			t.Errorf("ParseVersionRange accepted %d bytes, want at most 256", len(s))
		}
		for _, p := range probes {
			v, err := freight.ParseVersion(p)
			if err != nil {
				t.Fatalf("ParseVersion(%q) = %v", p, err)
			}
			c.Check(v) // must not panic
		}
		_ = c.String()
	})
}
