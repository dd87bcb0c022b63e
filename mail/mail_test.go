package mail_test

import (
	"html"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mail"
)

var (
	expires = time.Date(2026, 12, 24, 18, 30, 0, 0, time.FixedZone("CET", 3600))
	link    = "https://downloads.example.com/invite/7ZrQ2xkM1pYvW9sA"
)

// sample returns valid data for every kind.
func sample(kind freight.MailKind) any {
	switch kind {
	case freight.MailInvitation:
		return mail.Invitation{Org: "Acme Robotics", Inviter: "Jane Doe", Link: link, Expires: expires}
	case freight.MailVerifyEmail, freight.MailResetPassword:
		return &mail.Link{Name: "Joe", Link: link, Expires: expires}
	case freight.MailReleaseAvailable:
		return mail.Release{Name: "Joe", Product: "Robot Studio", Version: "4.2.0", Channel: "stable", Link: "https://downloads.example.com/releases/rel_1"}
	case freight.MailLicenseIssued:
		return &mail.License{Org: "Acme Robotics", Product: "Robot Studio", Expires: expires, Link: "https://downloads.example.com/licenses/lic_1"}
	default:
		return mail.Notice{Name: "Joe", When: expires, Portal: "https://downloads.example.com/"}
	}
}

func TestRenderEveryKind(t *testing.T) {
	kinds := mail.Kinds()
	if len(kinds) != 8 {
		t.Errorf("Kinds() = %v, want the eight kinds", kinds)
	}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			m, err := mail.Render(kind, sample(kind))
			if err != nil {
				t.Fatal(err)
			}
			m.To = "joe@example.com"
			if err := m.Validate(); err != nil {
				t.Fatalf("rendered message does not validate: %v", err)
			}
			if m.Kind != kind {
				t.Errorf("Kind = %q", m.Kind)
			}
			if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || !strings.Contains(m.HTML, "</html>") {
				t.Errorf("HTML is not a whole document:\n%s", m.HTML)
			}
			for _, external := range []string{"<img", "<script", "<link", "src=", "url("} {
				if strings.Contains(m.HTML, external) {
					t.Errorf("HTML loads something (%q):\n%s", external, m.HTML)
				}
			}
			if strings.Contains(m.HTML, "<no value>") {
				t.Errorf("a field is missing from the HTML:\n%s", m.HTML)
			}
			if strings.Contains(m.Text, "<no value>") || strings.Contains(m.Subject, "<no value>") {
				t.Errorf("a field is missing:\n%s", m.Text)
			}
			if strings.HasPrefix(m.Text, "\n") || !strings.HasSuffix(m.Text, "\n") {
				t.Errorf("text should start with its first line and end with a newline: %q", m.Text)
			}
			for i, line := range strings.Split(m.Text, "\n") {
				if len(line) > 78 && !strings.HasPrefix(line, "http") {
					t.Errorf("line %d is %d characters long: %q", i+1, len(line), line)
				}
			}
		})
	}
}

func TestRenderContent(t *testing.T) {
	when := "Thursday 24 December 2026 at 17:30 UTC"
	for _, tc := range []struct {
		kind    freight.MailKind
		subject string
		text    []string
	}{
		{freight.MailInvitation, "Jane Doe invites you to Acme Robotics on the download portal", []string{"Hello,", "Jane Doe", "Acme Robotics", link, when}},
		{freight.MailVerifyEmail, "Confirm your email address", []string{"Hello Joe,", link, when}},
		{freight.MailResetPassword, "Reset your password", []string{"Hello Joe,", link, when, "If this wasn't you"}},
		{freight.MailPasswordChanged, "Your password was changed", []string{when, "If this wasn't you", "https://downloads.example.com/"}},
		{freight.MailMFAEnabled, "Two-step sign-in was turned on", []string{when, "If this wasn't you"}},
		{freight.MailMFADisabled, "Two-step sign-in was turned off", []string{when, "If this wasn't you"}},
		{freight.MailReleaseAvailable, "Robot Studio 4.2.0 is available", []string{"Hello Joe,", "Robot Studio 4.2.0", "stable channel", "https://downloads.example.com/releases/rel_1", "turn them off"}},
		{freight.MailLicenseIssued, "A license for Robot Studio was issued to Acme Robotics", []string{"Hello,", "It expires on " + when, "https://downloads.example.com/licenses/lic_1"}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			m, err := mail.Render(tc.kind, sample(tc.kind))
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			for _, want := range tc.text {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
				if want := strings.TrimSuffix(strings.TrimPrefix(want, "Hello"), ","); !strings.Contains(html.UnescapeString(m.HTML), want) {
					t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
				}
			}
		})
	}
	m, _ := mail.Render(freight.MailResetPassword, mail.Link{Link: link, Expires: expires})
	if !strings.HasPrefix(m.Text, "Hello,\n") {
		t.Errorf("greeting without a name: %q", m.Text[:20])
	}
}

func TestRenderRefuses(t *testing.T) {
	inv := func(edit func(*mail.Invitation)) mail.Invitation {
		d := sample(freight.MailInvitation).(mail.Invitation)
		edit(&d)
		return d
	}
	for _, tc := range []struct {
		name string
		kind freight.MailKind
		data any
	}{
		{"unknown kind", "newsletter", mail.Link{Link: link, Expires: expires}},
		{"wrong data type", freight.MailInvitation, mail.Link{Link: link, Expires: expires}},
		{"notice data for a link kind", freight.MailResetPassword, mail.Notice{When: expires, Portal: link}},
		{"nil", freight.MailVerifyEmail, nil},
		{"nil pointer", freight.MailVerifyEmail, (*mail.Link)(nil)},
		{"org with a line break", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Org = "Acme\r\nBcc: all@example.com" })},
		{"inviter with a line break", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Inviter = "Jane\nBcc: x" })},
		{"inviter with a Unicode line separator", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Inviter = "Jane\u2028x" })},
		{"no org", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Org = " " })},
		{"no link", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Link = "" })},
		{"relative link", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Link = "/invite/abc" })},
		{"javascript link", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Link = "javascript:alert(1)" })},
		{"link with a line break", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Link = "https://x.example/a\nb" })},
		{"no expiry", freight.MailInvitation, inv(func(d *mail.Invitation) { d.Expires = time.Time{} })},
		{"name with a line break", freight.MailVerifyEmail, mail.Link{Name: "Joe\n\nClick here", Link: link, Expires: expires}},
		{"notice without a time", freight.MailMFADisabled, mail.Notice{Portal: link}},
		{"release without a product", freight.MailReleaseAvailable, mail.Release{Version: "1.0.0", Channel: "stable", Link: link}},
		{"release without a link", freight.MailReleaseAvailable, mail.Release{Product: "P", Version: "1.0.0", Channel: "stable"}},
		{"product with a line break", freight.MailReleaseAvailable, mail.Release{Product: "P\nBcc: x@example.com", Version: "1.0.0", Channel: "stable", Link: link}},
		{"license without an org", freight.MailLicenseIssued, mail.License{Product: "P", Link: link}},
		{"license data for a release", freight.MailReleaseAvailable, mail.License{Org: "O", Product: "P", Link: link}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mail.Render(tc.kind, tc.data)
			if err == nil {
				t.Fatalf("Render = %+v, want an error", m)
			}
			if got := freight.ErrorCode(err); got != freight.EINVALID {
				t.Errorf("ErrorCode(%v) = %q, want %q", err, got, freight.EINVALID)
			}
		})
	}
}

// TestRenderHTMLEscapes checks that names chosen by users cannot add markup
// to the HTML alternative, and that its link is the one given.
func TestRenderHTMLEscapes(t *testing.T) {
	evil := `Acme <script>alert(1)</script> & "Sons"`
	l := "https://downloads.example.com/invite/abc?x=1&y=<2>"
	m, err := mail.Render(freight.MailInvitation, mail.Invitation{Org: evil, Inviter: `<b onclick="x">Jane</b>`, Link: l, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"<script>", "<b onclick", `"Sons"`} {
		if strings.Contains(m.HTML, raw) {
			t.Errorf("HTML carries %q unescaped:\n%s", raw, m.HTML)
		}
	}
	if !strings.Contains(m.HTML, "Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Sons&#34;") {
		t.Errorf("HTML lacks the escaped name:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="https://downloads.example.com/invite/abc?x=1&amp;y=%3c2%3e"`) {
		t.Errorf("HTML lacks the link:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, evil) {
		t.Errorf("the text part should carry the name as it is:\n%s", m.Text)
	}

	m, err = mail.Render(freight.MailVerifyEmail, mail.Link{Name: "<i>Joe</i>", Link: link, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<i>Joe") || !strings.Contains(m.HTML, "Hello &lt;i&gt;Joe&lt;/i&gt;,") {
		t.Errorf("greeting not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Errorf("HTML lacks the link %s", link)
	}
}

func TestRenderLicenseWithoutExpiry(t *testing.T) {
	m, err := mail.Render(freight.MailLicenseIssued, mail.License{Org: "Acme", Product: "P", Link: link})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "It does not expire.") || !strings.Contains(m.HTML, "It does not expire.") {
		t.Errorf("a license without an expiry:\n%s\n%s", m.Text, m.HTML)
	}
}

func TestRenderReleaseEscapes(t *testing.T) {
	m, err := mail.Render(freight.MailReleaseAvailable, mail.Release{Product: "<b>Studio</b>", Version: "1.0.0", Channel: "beta", Link: link})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<b>Studio") || !strings.Contains(m.HTML, "&lt;b&gt;Studio&lt;/b&gt; 1.0.0") {
		t.Errorf("product not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Errorf("HTML lacks the link")
	}
}
