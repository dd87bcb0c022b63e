// Package mail renders the portal's mail from embedded templates.
//
// Every kind of message (freight.MailKind) has one text template file
// holding a "subject" and a "text" template, and one HTML file holding the
// "body" (and the "label" of its button) set inside templates/layout.html
// by html/template, which escapes every value; the files are parsed when the program
// starts, so a broken template stops it at once rather than at the first
// invitation. Render checks that the data fits the kind and that nothing in
// it can break out of a header line, and returns a freight.Message for a
// freight.Mailer (mail/outbox writes them to a folder).
//
// Every message has both a plain-text body and an HTML alternative with
// inline styles and no external resources.
package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"reflect"
	"strings"
	"text/template"
	"time"

	"github.com/freight-portal/freight"
)

// Invitation is the data of freight.MailInvitation.
type Invitation struct {
	Org     string    // the organisation the recipient is invited to
	Inviter string    // who invites: a name or an email address
	Link    string    // accepts the invitation; single use
	Expires time.Time // when Link stops working
}

// Link is the data of freight.MailVerifyEmail and freight.MailResetPassword.
type Link struct {
	Name    string // the recipient's name; may be empty
	Link    string // single use
	Expires time.Time
}

// Notice is the data of the account-security notices:
// freight.MailPasswordChanged, freight.MailMFAEnabled and
// freight.MailMFADisabled.
type Notice struct {
	Name   string    // the recipient's name; may be empty
	When   time.Time // when the change was made
	Portal string    // the portal's address, to sign in and review
}

// Release is the data of freight.MailReleaseAvailable.
type Release struct {
	Name    string // the recipient's name; may be empty
	Product string // the product's name
	Version string
	Channel string // stable, rc, beta, alpha or dev
	Link    string // the release's page on the portal
}

// License is the data of freight.MailLicenseIssued.
type License struct {
	Name    string    // the recipient's name; may be empty
	Org     string    // the organization the license is issued to
	Product string    // the product's name
	Expires time.Time // when the license expires; zero when it does not
	Link    string    // where to download the license file on the portal
}

//go:embed templates/*.txt templates/*.html
var files embed.FS

// kinds lists every kind with the type of its data.
var kinds = map[freight.MailKind]any{
	freight.MailInvitation:       Invitation{},
	freight.MailVerifyEmail:      Link{},
	freight.MailResetPassword:    Link{},
	freight.MailPasswordChanged:  Notice{},
	freight.MailMFAEnabled:       Notice{},
	freight.MailMFADisabled:      Notice{},
	freight.MailReleaseAvailable: Release{},
	freight.MailLicenseIssued:    License{},
}

var funcs = template.FuncMap{
	// when formats a time for people anywhere: in UTC, with the zone named.
	"when": func(t time.Time) string { return t.UTC().Format("Monday 2 January 2006 at 15:04 MST") },
}

// templates and htmlTemplates hold one parsed template per kind. They are
// built when the package is initialised, so a missing or broken file
// panics at start-up.
var (
	templates     = mustParse()
	htmlTemplates = mustParseHTML()
)

func mustParseHTML() map[freight.MailKind]*htmltemplate.Template {
	ts := make(map[freight.MailKind]*htmltemplate.Template, len(kinds))
	for kind := range kinds {
		name := "templates/" + string(kind) + ".html"
		t := htmltemplate.Must(htmltemplate.New(string(kind)).Funcs(htmltemplate.FuncMap(funcs)).ParseFS(files, "templates/layout.html", name))
		for _, part := range []string{"html", "body"} {
			if t.Lookup(part) == nil {
				panic(fmt.Sprintf("mail: %s defines no %q template", name, part))
			}
		}
		ts[kind] = t
	}
	return ts
}

func mustParse() map[freight.MailKind]*template.Template {
	ts := make(map[freight.MailKind]*template.Template, len(kinds))
	for kind := range kinds {
		name := "templates/" + string(kind) + ".txt"
		t := template.Must(template.New(string(kind)).Funcs(funcs).ParseFS(files, name))
		for _, part := range []string{"subject", "text"} {
			if t.Lookup(part) == nil {
				panic(fmt.Sprintf("mail: %s defines no %q template", name, part))
			}
		}
		ts[kind] = t
	}
	return ts
}

// Kinds returns every kind that Render knows.
func Kinds() []freight.MailKind {
	out := make([]freight.MailKind, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	return out
}

// Render returns the message of the given kind made from data, whose type
// must be the one documented for the kind (Invitation, Link, Notice,
// Release or License, as
// a value or a pointer). The caller sets To. Data that cannot make a safe
// message (a missing link, a line break in a name) is an EINVALID error.
func Render(kind freight.MailKind, data any) (*freight.Message, error) {
	t, ok := templates[kind]
	if !ok {
		return nil, freight.FieldError("kind", "unknown mail kind %q", kind)
	}
	data, err := check(kind, data)
	if err != nil {
		return nil, err
	}
	var subject, text, html bytes.Buffer
	if err := t.ExecuteTemplate(&subject, "subject", data); err != nil {
		return nil, freight.Internal(fmt.Errorf("mail: %s subject: %w", kind, err))
	}
	if err := t.ExecuteTemplate(&text, "text", data); err != nil {
		return nil, freight.Internal(fmt.Errorf("mail: %s text: %w", kind, err))
	}
	if err := htmlTemplates[kind].ExecuteTemplate(&html, "html", data); err != nil {
		return nil, freight.Internal(fmt.Errorf("mail: %s html: %w", kind, err))
	}
	m := &freight.Message{
		Kind:    kind,
		Subject: strings.TrimSpace(subject.String()),
		Text:    strings.TrimLeft(text.String(), "\n"),
		HTML:    html.String(),
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, freight.Internal(fmt.Errorf("mail: %s subject template makes more than one line", kind))
	}
	return m, nil
}

// check returns data as the value type of kind, or an EINVALID error.
func check(kind freight.MailKind, data any) (any, error) {
	switch d := data.(type) {
	case *Invitation:
		if d != nil {
			return check(kind, *d)
		}
	case *Link:
		if d != nil {
			return check(kind, *d)
		}
	case *Notice:
		if d != nil {
			return check(kind, *d)
		}
	case *Release:
		if d != nil {
			return check(kind, *d)
		}
	case *License:
		if d != nil {
			return check(kind, *d)
		}
	}
	if reflect.TypeOf(data) != reflect.TypeOf(kinds[kind]) {
		return nil, freight.Errorf(freight.EINVALID, "mail %s takes %T data, not %T", kind, kinds[kind], data)
	}
	var err error
	switch d := data.(type) {
	case Invitation:
		err = firstError(line("org", d.Org, true), line("inviter", d.Inviter, true), link(d.Link), expires(d.Expires))
	case Link:
		err = firstError(line("name", d.Name, false), link(d.Link), expires(d.Expires))
	case Notice:
		err = firstError(line("name", d.Name, false), link(d.Portal), when(d.When))
	case Release:
		err = firstError(line("name", d.Name, false), line("product", d.Product, true), line("version", d.Version, true),
			line("channel", d.Channel, true), link(d.Link))
	case License:
		err = firstError(line("name", d.Name, false), line("org", d.Org, true), line("product", d.Product, true), link(d.Link))
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// line checks a value that is printed on one line: in the subject or a
// greeting, a line break would let its author write lines of their own.
func line(field, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return freight.FieldError(field, "is required")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return freight.FieldError(field, "must be one line of printable text")
		}
	}
	return nil
}

func link(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return freight.FieldError("link", "must be an absolute http or https URL")
	}
	return nil
}

func expires(t time.Time) error {
	if t.IsZero() {
		return freight.FieldError("expires", "is required")
	}
	return nil
}

func when(t time.Time) error {
	if t.IsZero() {
		return freight.FieldError("when", "is required")
	}
	return nil
}
