package freight

import (
	"context"
	"strings"
)

// MailKind names what a message is for. It appears in logs and file names,
// never the message's content.
type MailKind string

// Kinds of mail the portal sends.
const (
	MailInvitation       MailKind = "invitation"        // an org admin invites someone
	MailVerifyEmail      MailKind = "verify-email"      // confirm an email address
	MailResetPassword    MailKind = "reset-password"    // a password reset link
	MailPasswordChanged  MailKind = "password-changed"  // notice after a password change
	MailMFAEnabled       MailKind = "mfa-enabled"       // notice after enrolling a second factor
	MailMFADisabled      MailKind = "mfa-disabled"      // notice after removing it
	MailReleaseAvailable MailKind = "release-available" // a release the recipient's organization is entitled to was published
	MailLicenseIssued    MailKind = "license-issued"    // a license was issued to the recipient's organization
)

// Message is one mail to one recipient. Text is required; HTML, when set,
// is sent as an alternative to it. The body may hold single-use links, so
// a Mailer must never log it.
type Message struct {
	Kind    MailKind
	To      string // a plain address: name@example.com
	Subject string
	Text    string
	HTML    string
}

// maxSubject bounds the subject in bytes; longer ones are a bug upstream.
const maxSubject = 250

// Validate checks that m can be sent as it is. To and Subject become header
// lines, so any line break in them is refused: it would let their author add
// headers or recipients of their own.
func (m *Message) Validate() error {
	if m.Kind == "" || strings.Trim(string(m.Kind), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return FieldError("kind", "must be a mail kind such as %q", MailInvitation)
	}
	if strings.ContainsAny(m.To, "\r\n") {
		return FieldError("to", "must not contain a line break")
	}
	if _, err := NormalizeEmail(m.To); err != nil || strings.TrimSpace(m.To) != m.To {
		return FieldError("to", "must be a plain email address like name@example.com")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return FieldError("subject", "must not contain a line break")
	}
	if strings.TrimSpace(m.Subject) == "" {
		return FieldError("subject", "is required")
	}
	if len(m.Subject) > maxSubject {
		return FieldError("subject", "must be at most %d bytes", maxSubject)
	}
	for _, r := range m.Subject {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return FieldError("subject", "must be printable text")
		}
	}
	if strings.TrimSpace(m.Text) == "" {
		return FieldError("text", "is required")
	}
	return nil
}

// Mailer sends mail. Send validates m first and returns its EINVALID error
// unchanged; a message that was accepted is delivered or queued durably
// before Send returns nil. Other errors mean it was not sent and may be
// retried. Implementations log the recipient, subject and kind, never the
// body, which may hold single-use links.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}
