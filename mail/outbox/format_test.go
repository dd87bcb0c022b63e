package outbox

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

func TestEncodeSubject(t *testing.T) {
	for _, s := range []string{
		"Reset your password",
		"Einladung zu Müller & Söhne GmbH",
		"=?utf-8?q?Fake?= looks encoded",
		strings.Repeat("日本語のサブジェクト", 8),
		strings.Repeat("x", 250),
	} {
		enc := encodeSubject(s)
		for _, line := range strings.Split(enc, "\r\n") {
			if len(line) > 78 && !strings.HasPrefix(s, "xxx") {
				t.Errorf("encodeSubject(%q) has a line of %d characters", s, len(line))
			}
		}
		got, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(enc, "\r\n", ""))
		if err != nil || got != s {
			t.Errorf("decode(encodeSubject(%q)) = %q, %v", s, got, err)
		}
	}
}

// FuzzFormat checks that whatever passes Validate comes out as a message
// that parses, with the same recipient, subject and text.
func FuzzFormat(f *testing.F) {
	f.Add("jane@example.com", "Reset your password", "Hello,\n\nhttps://x.example/?t=abc\n")
	f.Add("jörg@example.com", "Grüße =?utf-8?b?QQ==?=", "line\r\nline\rline\n.\n")
	f.Add("a@b.example", strings.Repeat("ü", 120), strings.Repeat("long line ", 50))
	f.Add("a@b.example", "x\r\nBcc: c@d.example", "y")
	f.Add("0@0.0", " 0", "0") // readers drop spaces around a plain header value
	from := &mail.Address{Name: "Freight", Address: "noreply@example.com"}
	f.Fuzz(func(t *testing.T, to, subject, text string) {
		m := &freight.Message{Kind: freight.MailVerifyEmail, To: to, Subject: subject, Text: text}
		if m.Validate() != nil {
			return
		}
		raw, err := format(m, from, time.Unix(1_800_000_000, 0), "<id@example.com>")
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("does not parse: %v\n%q", err, raw)
		}
		if got := msg.Header["To"]; len(got) != 1 || got[0] != to {
			t.Fatalf("To = %q, want %q", got, to)
		}
		if len(msg.Header) != 10 {
			t.Fatalf("%d headers, want 10: %v", len(msg.Header), msg.Header)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || subj != subject {
			t.Fatalf("Subject = %q, %v; want %q", subj, err, subject)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want {
			t.Fatalf("body = %q, want %q", got, want)
		}
	})
}
