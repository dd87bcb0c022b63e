package freight_test

import (
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

func TestMessageValidate(t *testing.T) {
	valid := func() freight.Message {
		return freight.Message{Kind: freight.MailInvitation, To: "jane@example.com", Subject: "Hello", Text: "Body\n"}
	}
	for _, tc := range []struct {
		name      string
		edit      func(m *freight.Message)
		wantField string
	}{
		{"valid", func(m *freight.Message) {}, ""},
		{"unicode subject", func(m *freight.Message) { m.Subject = "Einladung für Müller GmbH" }, ""},
		{"no kind", func(m *freight.Message) { m.Kind = "" }, "kind"},
		{"kind with a space", func(m *freight.Message) { m.Kind = "a b" }, "kind"},
		{"kind with a path", func(m *freight.Message) { m.Kind = "../x" }, "kind"},
		{"no recipient", func(m *freight.Message) { m.To = "" }, "to"},
		{"recipient with CRLF", func(m *freight.Message) { m.To = "jane@example.com\r\nBcc: all@example.com" }, "to"},
		{"recipient with LF", func(m *freight.Message) { m.To = "jane@example.com\nBcc: all@example.com" }, "to"},
		{"two recipients", func(m *freight.Message) { m.To = "jane@example.com, joe@example.com" }, "to"},
		{"display name", func(m *freight.Message) { m.To = "Jane <jane@example.com>" }, "to"},
		{"recipient with spaces around", func(m *freight.Message) { m.To = " jane@example.com" }, "to"},
		{"subject with CRLF", func(m *freight.Message) { m.Subject = "Hi\r\nBcc: all@example.com" }, "subject"},
		{"subject with CR", func(m *freight.Message) { m.Subject = "Hi\rthere" }, "subject"},
		{"subject with a tab", func(m *freight.Message) { m.Subject = "Hi\tthere" }, "subject"},
		{"subject not UTF-8", func(m *freight.Message) { m.Subject = "Hi \xff" }, "subject"},
		{"empty subject", func(m *freight.Message) { m.Subject = " " }, "subject"},
		{"long subject", func(m *freight.Message) { m.Subject = strings.Repeat("x", 251) }, "subject"},
		{"empty text", func(m *freight.Message) { m.Text = "\n" }, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.edit(&m)
			checkValidation(t, m.Validate(), tc.wantField)
		})
	}
}
