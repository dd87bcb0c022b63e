package freight

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each one maps to a single HTTP status in the server package;
// the set is small on purpose so that callers can branch on it.
const (
	EINVALID      = "invalid"      // the request is malformed or violates a rule
	ENOTFOUND     = "not_found"    // the object does not exist or the caller may not see it
	ECONFLICT     = "conflict"     // the object exists already or its state forbids the change
	EUNAUTHORIZED = "unauthorized" // no valid credential
	EFORBIDDEN    = "forbidden"    // a valid credential without the needed role
	ETOOLARGE     = "too_large"    // a size limit is exceeded: a request body, a download's byte budget
	ERATELIMIT    = "rate_limited" // too many attempts or requests; try again later
	EUNAVAILABLE  = "unavailable"  // a dependency (database, storage) cannot be reached
	EINTERNAL     = "internal"     // a bug or an unexpected failure; details are logged, never shown
)

// Error is the one error type of Freight. Code is machine readable, Message
// is safe to show to the caller, Field names the offending input field when
// there is one. Err keeps the underlying cause for logs; it is never shown.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
	// RetryAfter, when positive, tells the caller when to try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error about one input field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error. Its message is generic so that nothing
// about the cause (SQL, paths, hosts) reaches the caller.
func Internal(err error) *Error {
	return &Error{Code: EINTERNAL, Message: "internal error", Err: err}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, "" for nil, and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e != nil {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of err. Errors that are not *Error
// get a generic message: their text may hold details the caller must not see.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e != nil {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the input field named by err, if any.
func ErrorField(err error) string {
	if e, ok := errors.AsType[*Error](err); ok && e != nil {
		return e.Field
	}
	return ""
}

// RetryAfter returns how long err asks the caller to wait, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
