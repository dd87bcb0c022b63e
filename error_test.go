package freight_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

func TestErrorAccessors(t *testing.T) {
	field := freight.FieldError("slug", "is required")
	notFound := freight.Errorf(freight.ENOTFOUND, "organization %q not found", "acme")
	plain := errors.New("pq: password authentication failed for user \"freight\" at 10.0.0.7")

	tests := []struct {
		name        string
		err         error
		wantCode    string
		wantMessage string
		wantField   string
	}{
		{"nil", nil, "", "", ""},
		{"field error", field, freight.EINVALID, "is required", "slug"},
		{"coded error", notFound, freight.ENOTFOUND, `organization "acme" not found`, ""},
		{"wrapped", fmt.Errorf("create organization: %w", field), freight.EINVALID, "is required", "slug"},
		{"wrapped twice", fmt.Errorf("handler: %w", fmt.Errorf("store: %w", notFound)), freight.ENOTFOUND, `organization "acme" not found`, ""},
		{"joined", errors.Join(plain, notFound), freight.ENOTFOUND, `organization "acme" not found`, ""},
		{"plain", plain, freight.EINTERNAL, "internal error", ""},
		{"wrapped plain", fmt.Errorf("query: %w", plain), freight.EINTERNAL, "internal error", ""},
		{"internal", freight.Internal(plain), freight.EINTERNAL, "internal error", ""},
		{"wrapped internal", fmt.Errorf("tx: %w", freight.Internal(plain)), freight.EINTERNAL, "internal error", ""},
		{"outermost Error wins", &freight.Error{Code: freight.ECONFLICT, Message: "outer", Err: field}, freight.ECONFLICT, "outer", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := freight.ErrorCode(tt.err), tt.wantCode; got != want {
				t.Errorf("ErrorCode = %q, want %q", got, want)
			}
			if got, want := freight.ErrorMessage(tt.err), tt.wantMessage; got != want {
				t.Errorf("ErrorMessage = %q, want %q", got, want)
			}
			if got, want := freight.ErrorField(tt.err), tt.wantField; got != want {
				t.Errorf("ErrorField = %q, want %q", got, want)
			}
		})
	}
}

// The message of anything that is not a *Error must not leak the cause,
// however it is wrapped.
func TestErrorMessageHidesCause(t *testing.T) {
	const secret = "dial tcp 10.1.2.3:5432: password=hunter2"
	plain := errors.New(secret)
	for _, err := range []error{
		plain,
		fmt.Errorf("load: %w", plain),
		freight.Internal(plain),
		fmt.Errorf("load: %w", freight.Internal(plain)),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			msg := freight.ErrorMessage(err)
			for _, part := range []string{secret, "10.1.2.3", "hunter2", "dial"} {
				if strings.Contains(msg, part) {
					t.Errorf("ErrorMessage = %q, contains %q", msg, part)
				}
			}
			if msg == "" {
				t.Errorf("ErrorMessage = %q, want a generic message", msg)
			}
		})
	}
}

func TestInternal(t *testing.T) {
	cause := errors.New("disk full")
	err := freight.Internal(cause)

	if got, want := err.Code, freight.EINTERNAL; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := err.Message, "internal error"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if strings.Contains(err.Message, "disk") {
		t.Errorf("Message = %q, leaks the cause", err.Message)
	}
	if got, want := err.Field, ""; got != want {
		t.Errorf("Field = %q, want %q", got, want)
	}
	if got := errors.Unwrap(err); got != cause {
		t.Errorf("Unwrap = %v, want %v", got, cause)
	}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(Internal(cause), cause) = false, want true")
	}
	if wrapped := fmt.Errorf("op: %w", err); !errors.Is(wrapped, cause) {
		t.Errorf("errors.Is(wrapped Internal(cause), cause) = false, want true")
	}
	// The cause stays in Error() for the logs.
	if got := err.Error(); !strings.Contains(got, "disk full") {
		t.Errorf("Error() = %q, want it to contain the cause %q", got, "disk full")
	}
}

func TestErrorUnwrapNil(t *testing.T) {
	err := freight.FieldError("name", "is required")
	if got := errors.Unwrap(err); got != nil {
		t.Errorf("Unwrap = %v, want nil", got)
	}
}

func TestErrorAsFindsSameError(t *testing.T) {
	orig := freight.Errorf(freight.ECONFLICT, "slug taken")
	wrapped := fmt.Errorf("create: %w", orig)
	e, ok := errors.AsType[*freight.Error](wrapped)
	if !ok {
		t.Fatalf("errors.AsType[*Error] ok = false, want true")
	}
	if e != orig {
		t.Errorf("errors.AsType[*Error] = %p, want %p", e, orig)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *freight.Error
		want string
	}{
		{"code and message", &freight.Error{Code: freight.ENOTFOUND, Message: "no such product"}, "not_found: no such product"},
		{"with field", &freight.Error{Code: freight.EINVALID, Field: "slug", Message: "is required"}, "invalid: slug: is required"},
		{"with cause", &freight.Error{Code: freight.EINTERNAL, Message: "internal error", Err: errors.New("boom")}, "internal: internal error: boom"},
		{"with field and cause", &freight.Error{Code: freight.EINVALID, Field: "version", Message: "bad", Err: errors.New("parse")}, "invalid: version: bad: parse"},
		{"empty message", &freight.Error{Code: freight.EFORBIDDEN}, "forbidden: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.err.Error(), tt.want; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	err := freight.Errorf(freight.ETOOLARGE, "body exceeds %d bytes", 1024)
	if got, want := err.Code, freight.ETOOLARGE; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := err.Message, "body exceeds 1024 bytes"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if got, want := err.Field, ""; got != want {
		t.Errorf("Field = %q, want %q", got, want)
	}
	if err.Err != nil {
		t.Errorf("Err = %v, want nil", err.Err)
	}
}

func TestFieldError(t *testing.T) {
	err := freight.FieldError("limits.bytes", "must be at most %d", 10)
	if got, want := err.Code, freight.EINVALID; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := err.Field, "limits.bytes"; got != want {
		t.Errorf("Field = %q, want %q", got, want)
	}
	if got, want := err.Message, "must be at most 10"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}

// The codes are part of the API (they appear in JSON error bodies); a
// rename must be deliberate.
func TestErrorCodeValues(t *testing.T) {
	tests := []struct{ got, want string }{
		{freight.EINVALID, "invalid"},
		{freight.ENOTFOUND, "not_found"},
		{freight.ECONFLICT, "conflict"},
		{freight.EUNAUTHORIZED, "unauthorized"},
		{freight.EFORBIDDEN, "forbidden"},
		{freight.ETOOLARGE, "too_large"},
		{freight.EUNAVAILABLE, "unavailable"},
		{freight.EINTERNAL, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("code = %q, want %q", tt.got, tt.want)
			}
		})
	}
}
