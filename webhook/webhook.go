// Package webhook signs and verifies Freight's webhook deliveries, and
// guards the portal's outgoing webhook connections.
//
// A delivery is an HTTP POST of a JSON event,
//
//	{"id": "wev_…", "type": "release.published", "created_at": "…", "data": {…}}
//
// with the headers
//
//	Freight-Event-Id:   wev_…   (the same on every retry: deduplicate on it)
//	Freight-Event-Type: release.published
//	Freight-Signature:  t=1767225600,v1=5257a869…
//
// where t is the time of the attempt in Unix seconds and each v1 is the hex
// HMAC-SHA256, keyed with the endpoint's signing secret (the whole
// "whsec_…" string), of the bytes "<t>.<body>". While a rotated secret is
// in its grace period, a second v1 signs with the old secret.
//
// Receivers in Go call Verify with the raw body, before parsing it; it
// refuses a signature older than five minutes (or as far in the future),
// so that a captured delivery cannot be replayed later. The package uses
// the standard library only, so importing it costs a receiver nothing.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	HeaderSignature = "Freight-Signature"
	HeaderEventID   = "Freight-Event-Id"
	HeaderEventType = "Freight-Event-Type"
)

// DefaultTolerance is how far the signature's time may be from the
// receiver's clock: older deliveries are refused as replays.
const DefaultTolerance = 5 * time.Minute

// maxHeader bounds the signature header Verify reads: a few signatures,
// never kilobytes.
const maxHeader = 1024

// Event is the body of a delivery.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Errors of Verify. Every refusal wraps ErrInvalid.
var (
	ErrInvalid   = errors.New("webhook: invalid signature")
	ErrMalformed = fmt.Errorf("%w: malformed %s header", ErrInvalid, HeaderSignature)
	ErrTooOld    = fmt.Errorf("%w: timestamp outside the tolerance (a replay, or a wrong clock)", ErrInvalid)
	ErrMismatch  = fmt.Errorf("%w: no signature matches the secret and the body", ErrInvalid)
)

// Sign returns the hex HMAC-SHA256 of "<t>.<body>" keyed with secret: one
// v1 value.
func Sign(secret string, t int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, t, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignatureHeader returns the Freight-Signature value of body sent at t,
// with one v1 per secret, in order.
func SignatureHeader(t time.Time, body []byte, secrets ...string) string {
	ts := t.Unix()
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(ts, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(Sign(s, ts, body))
	}
	return b.String()
}

// Signature is a parsed Freight-Signature header.
type Signature struct {
	Timestamp int64
	V1        [][]byte // each a SHA-256 MAC
}

// ParseHeader parses a Freight-Signature value: comma-separated key=value
// pairs, exactly one t (decimal Unix seconds) and at least one v1 (64 hex
// digits). Other keys are ignored, so that later schemes can be added
// beside v1 without breaking receivers.
func ParseHeader(h string) (Signature, error) {
	var sig Signature
	if len(h) > maxHeader {
		return sig, ErrMalformed
	}
	seenT := false
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sig, ErrMalformed
		}
		switch k {
		case "t":
			if seenT || v == "" || len(v) > 12 || strings.Trim(v, "0123456789") != "" {
				return sig, ErrMalformed
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return sig, ErrMalformed
			}
			sig.Timestamp, seenT = n, true
		case "v1":
			mac, err := hex.DecodeString(v)
			if err != nil || len(mac) != sha256.Size {
				return sig, ErrMalformed
			}
			sig.V1 = append(sig.V1, mac)
		}
	}
	if !seenT || len(sig.V1) == 0 {
		return sig, ErrMalformed
	}
	return sig, nil
}

// Verify checks the Freight-Signature header of a delivery against the
// endpoint's secret and the raw body, at the receiver's time now, with
// DefaultTolerance. It returns nil when one v1 matches and the timestamp
// is recent; otherwise an error wrapping ErrInvalid. Compare with the body
// as received, before any parsing: re-encoded JSON would not match.
func Verify(secret, header string, body []byte, now time.Time) error {
	return VerifyTolerance(secret, header, body, now, DefaultTolerance)
}

// VerifyTolerance is Verify with a tolerance of one's own.
func VerifyTolerance(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	sig, err := ParseHeader(header)
	if err != nil {
		return err
	}
	age := now.Unix() - sig.Timestamp
	if age > int64(tolerance/time.Second) || -age > int64(tolerance/time.Second) {
		return ErrTooOld
	}
	want, _ := hex.DecodeString(Sign(secret, sig.Timestamp, body))
	for _, mac := range sig.V1 {
		if hmac.Equal(mac, want) {
			return nil
		}
	}
	return ErrMismatch
}
