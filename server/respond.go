package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/freight-portal/freight"
)

// statusOf maps an error code to its HTTP status. It is the only mapping.
func statusOf(code string) int {
	switch code {
	case freight.EINVALID:
		return http.StatusBadRequest
	case freight.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case freight.EFORBIDDEN:
		return http.StatusForbidden
	case freight.ENOTFOUND:
		return http.StatusNotFound
	case freight.ECONFLICT:
		return http.StatusConflict
	case freight.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case freight.ERATELIMIT:
		return http.StatusTooManyRequests
	case freight.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Field     string `json:"field,omitempty"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// writeError answers err as JSON. Only internal and unavailable errors are
// logged with their cause, and as errors only when the client still waits
// for the answer; the caller sees the safe message only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, s.logger, err)
}

// WriteError is writeError for handlers that serve Freight's API shapes
// outside a Server (freight edge).
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := freight.ErrorCode(err)
	status := statusOf(code)
	switch {
	case status >= 500 && r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away (an edge stopped mid-request, a browser
		// closed): what the request did not finish, it asks again.
		logger.InfoContext(r.Context(), "request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
	case status >= 500:
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = freight.ErrorMessage(err)
	body.Error.Field = freight.ErrorField(err)
	body.Error.RequestID = RequestID(r.Context())
	if code == freight.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="freight"`)
	}
	setRetryAfter(w, err)
	writeJSON(w, status, body)
}

// setRetryAfter sets Retry-After when err says when to try again.
func setRetryAfter(w http.ResponseWriter, err error) {
	if d := freight.RetryAfter(err); d > 0 {
		// Whole seconds, rounded up: "Retry-After: 0" would invite a loop.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	// Not json.Marshal: it escapes <, > and & for HTML, which only makes
	// messages like "Bearer <token>" harder to read. Answers are never HTML.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	buf := b.Bytes()
	if err != nil {
		// Only a programming error gets here: every answer type marshals.
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf) // Encode ends it with a newline
}

// list is the JSON shape of every list answer. Next is the cursor to pass
// as ?after= for the following page; it is absent on the last page.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func writeList[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, list[T]{Items: items, Next: next})
}

// readBody reads the whole request body, at most s.maxBody bytes, and checks
// that it is JSON. Handlers that decode the body twice (PATCH merges) call
// it once and pass the bytes to decodeBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.readBodyLimit(w, r, s.maxBody)
}

// readBodyLimit is readBody with a limit of its own, for the few bodies
// that are larger by nature (batches of edge events).
func (s *Server) readBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if mt = strings.TrimSpace(strings.ToLower(mt)); mt != "application/json" {
			return nil, freight.Errorf(freight.EINVALID, "Content-Type must be application/json, not %q", mt)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, freight.Errorf(freight.ETOOLARGE, "request body exceeds %d bytes", limit)
		}
		return nil, freight.Errorf(freight.EINVALID, "reading request body: connection failed")
	}
	return body, nil
}

// decode reads the request body as one JSON object into v.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// decodeOptional is decode for requests whose body may be left out: an
// empty body leaves v as it is.
func (s *Server) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return decodeBytes(body, v)
}

// decodeBytes decodes one JSON object into v, refusing unknown fields and
// trailing data, and turns decoder errors into messages that name the field.
// Decoding into a populated v overwrites only the fields present, which is
// how PATCH requests merge.
func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return freight.Errorf(freight.EINVALID, "request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return freight.Errorf(freight.EINVALID, "request body must hold a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return freight.Errorf(freight.EINVALID, "malformed JSON at byte %d: %s", e.Offset, e.Error())
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return freight.Errorf(freight.EINVALID, "request body must be a JSON object, not %s", e.Value)
		}
		return freight.FieldError(e.Field, "must be %s, not %s", jsonTypeName(e.Type.Kind().String()), e.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return freight.Errorf(freight.EINVALID, "malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return freight.FieldError(name, "unknown field")
	}
	// time.Time and other TextUnmarshalers report their own parse errors.
	if strings.Contains(msg, "parsing time") {
		return freight.Errorf(freight.EINVALID, "malformed time: use RFC 3339, like 2026-01-31T12:00:00Z")
	}
	return freight.Errorf(freight.EINVALID, "malformed JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return fmt.Sprintf("of type %s", kind)
}

// patchBody reads a PATCH body and checks that it decodes into a fresh
// input (v), so that a malformed body fails before any transaction starts.
// The handler decodes the bytes again over the current object, inside the
// store's updater, which merges only the fields present.
func (s *Server) patchBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	if err := decodeBytes(body, v); err != nil {
		return nil, err
	}
	return body, nil
}

// diff is the audit detail of an update.
type diff struct {
	Before any `json:"before"`
	After  any `json:"after"`
}
