package licensefile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Domain starts the signed message and the AES-GCM additional data of
// version 1 files, so that a signature made for anything else (a download
// grant, another version) never verifies as a license file.
const Domain = "freight-license-v1"

// Limits of FORMAT.md.
const (
	maxKeyID       = 32
	maxToken       = 128 // ids, product, feature names
	maxHardwareID  = 128
	maxName        = 256 // organization name, bytes of UTF-8
	maxValue       = 256 // feature value, bytes of UTF-8
	maxFeatures    = 256
	maxHardwareIDs = 1024
	maxSeats       = 1<<31 - 1
	maxLimit       = 1<<53 - 1 // the greatest integer a double holds exactly
	lineWidth      = 64        // base64 characters per body line written
	nonceSize      = 12
	tagSize        = 16
	bom            = "\xef\xbb\xbf"
)

// timeLayout is the only time format: RFC 3339 in UTC, whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

var (
	b64     = base64.StdEncoding.Strict()
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// armor wraps the envelope in the header and footer lines.
func armor(envelope []byte) []byte {
	body := b64.EncodeToString(envelope)
	var b bytes.Buffer
	b.Grow(len(Header) + len(Footer) + len(body) + len(body)/lineWidth + 4)
	b.WriteString(Header)
	b.WriteByte('\n')
	for len(body) > 0 {
		n := min(lineWidth, len(body))
		b.WriteString(body[:n])
		b.WriteByte('\n')
		body = body[n:]
	}
	b.WriteString(Footer)
	b.WriteByte('\n')
	return b.Bytes()
}

// dearmor finds the one armored block in data and returns its body decoded.
// Lines end at LF, CR LF or CR; whitespace around lines and inside the body
// is ignored; text before the header line and after the footer line is
// ignored, unless it holds another header or footer line.
func dearmor(data []byte) ([]byte, error) {
	if len(data) > MaxFileSize {
		return nil, errorf(ErrMalformed, "file is larger than %d bytes", MaxFileSize)
	}
	data = bytes.TrimPrefix(data, []byte(bom))
	const (
		before = iota
		inside
		after
	)
	state := before
	var body []byte
	for n, rest := 1, data; len(rest) > 0; n++ {
		line := rest
		rest = nil
		if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
			crlf := line[i] == '\r' && i+1 < len(line) && line[i+1] == '\n'
			line, rest = line[:i], line[i+1:]
			if crlf {
				rest = rest[1:]
			}
		}
		t := trimSpace(string(line))
		switch {
		case t == Header && state == before:
			state = inside
		case t == Header:
			return nil, errorf(ErrMalformed, "line %d: a second BEGIN line", n)
		case t == Footer && state == inside:
			state = after
		case t == Footer && state == before:
			return nil, errorf(ErrMalformed, "line %d: END line before the BEGIN line", n)
		case t == Footer:
			return nil, errorf(ErrMalformed, "line %d: a second END line", n)
		case state == inside:
			for i := 0; i < len(t); i++ {
				switch c := t[i]; {
				case isBase64(c):
					body = append(body, c)
				case isSpace(c):
				default:
					return nil, errorf(ErrMalformed, "line %d: character %q in the body", n, c)
				}
			}
		}
	}
	switch state {
	case before:
		if bytes.Contains(data, []byte(Header)) {
			return nil, errorf(ErrMalformed, "the BEGIN line must stand on a line of its own (is the file quoted or indented with other characters than spaces?)")
		}
		return nil, errorf(ErrMalformed, "no %s line", Header)
	case inside:
		return nil, errorf(ErrMalformed, "no %s line", Footer)
	}
	if len(body) == 0 {
		return nil, errorf(ErrMalformed, "empty body")
	}
	out, err := b64.DecodeString(string(body))
	if err != nil {
		return nil, errorf(ErrMalformed, "body is not base64: %v", err)
	}
	return out, nil
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

// wireEnvelope is the decoded body. Member order is the canonical order.
type wireEnvelope struct {
	V       int    `json:"v"`
	Alg     string `json:"alg"`
	KID     string `json:"kid"`
	Enc     string `json:"enc"`
	Payload string `json:"payload"`
	Sig     string `json:"sig"`
}

// Envelope is a license file taken apart without checking anything but its
// shape: Inspect returns it. Nothing in it is authenticated.
type Envelope struct {
	Version    int    // format version, 1
	Algorithm  string // "ed25519"
	KeyID      string // id of the key the file claims to be signed with
	Encryption string // EncNone or EncAES256GCM
	// Payload is the signed bytes: the payload JSON when Encryption is
	// EncNone, otherwise nonce (12 bytes) || ciphertext || tag (16 bytes).
	Payload   []byte
	Signature []byte // 64 bytes
}

// Encrypted reports whether the payload is encrypted.
func (e *Envelope) Encrypted() bool { return e.Encryption != EncNone }

// UnverifiedLicense parses the payload of an unencrypted file WITHOUT
// checking the signature: its result must never decide what software may
// do. It is for showing a file to a person. An encrypted payload gives
// ErrEncrypted.
func (e *Envelope) UnverifiedLicense() (*License, error) {
	if e.Encrypted() {
		return nil, errorf(ErrEncrypted, "the payload can only be read with the customer's secret")
	}
	return decodePayload(e.Payload)
}

// signedMessage returns what the signature covers: the header of the
// envelope and the payload bytes.
func (e *Envelope) signedMessage() []byte {
	return append(header(e.KeyID, e.Encryption), e.Payload...)
}

// header is Domain, alg, kid and enc, each followed by a zero byte; none of
// them can contain one, so the concatenation is unambiguous.
func header(kid, enc string) []byte {
	h := make([]byte, 0, len(Domain)+len(Algorithm)+len(kid)+len(enc)+4)
	for _, s := range []string{Domain, Algorithm, kid, enc} {
		h = append(h, s...)
		h = append(h, 0)
	}
	return h
}

func (e *Envelope) encode() []byte {
	b, err := marshal(wireEnvelope{
		V:       e.Version,
		Alg:     e.Algorithm,
		KID:     e.KeyID,
		Enc:     e.Encryption,
		Payload: b64.EncodeToString(e.Payload),
		Sig:     b64.EncodeToString(e.Signature),
	})
	if err != nil {
		panic(err) // strings and an int always marshal
	}
	return b
}

// parseEnvelope checks the version, then the members, then that body is
// exactly the canonical encoding of what it says.
func parseEnvelope(body []byte) (*Envelope, error) {
	if err := checkVersion(body, "v", "envelope"); err != nil {
		return nil, err
	}
	var w wireEnvelope
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, errorf(ErrMalformed, "envelope: %v", err)
	}
	e := &Envelope{Version: w.V, Algorithm: w.Alg, KeyID: w.KID, Encryption: w.Enc}
	if w.Alg != Algorithm {
		return nil, errorf(ErrMalformed, "envelope: alg must be %q", Algorithm)
	}
	if !validKeyID(w.KID) {
		return nil, errorf(ErrMalformed, "envelope: kid must be 1 to %d characters of A-Z a-z 0-9 _ -", maxKeyID)
	}
	var err error
	if e.Payload, err = b64.DecodeString(w.Payload); err != nil {
		return nil, errorf(ErrMalformed, "envelope: payload is not base64: %v", err)
	}
	if e.Signature, err = b64.DecodeString(w.Sig); err != nil {
		return nil, errorf(ErrMalformed, "envelope: sig is not base64: %v", err)
	}
	if len(e.Signature) != 64 {
		return nil, errorf(ErrMalformed, "envelope: sig is %d bytes, not 64", len(e.Signature))
	}
	switch w.Enc {
	case EncNone:
		if len(e.Payload) == 0 {
			return nil, errorf(ErrMalformed, "envelope: empty payload")
		}
	case EncAES256GCM:
		if len(e.Payload) <= nonceSize+tagSize {
			return nil, errorf(ErrMalformed, "envelope: encrypted payload of %d bytes is too short", len(e.Payload))
		}
	default:
		return nil, errorf(ErrMalformed, "envelope: enc must be %q or %q", EncNone, EncAES256GCM)
	}
	if canon := e.encode(); !bytes.Equal(canon, body) {
		return nil, errorf(ErrMalformed, "envelope is not in canonical form (differs at byte %d)", firstDiff(canon, body))
	}
	return e, nil
}

// checkVersion reads member of the JSON object b and refuses anything but
// Version. It runs first, so that a file of a later version is reported as
// such, not as malformed.
func checkVersion(b []byte, member, what string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return errorf(ErrMalformed, "%s is not a JSON object: %v", what, err)
	}
	raw, ok := m[member]
	if !ok {
		return errorf(ErrMalformed, "%s has no member %q", what, member)
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return errorf(ErrMalformed, "%s: %q is not an integer", what, member)
	}
	if v != Version {
		return errorf(ErrUnsupportedVersion, "%s version %d, this verifier reads version %d", what, v, Version)
	}
	return nil
}

// wirePayload is the payload JSON. Member order is the canonical order.
type wirePayload struct {
	Version          int           `json:"version"`
	ID               string        `json:"id"`
	KeyID            string        `json:"key_id"`
	Organization     wireOrg       `json:"organization"`
	Product          string        `json:"product"`
	Features         []wireFeature `json:"features"`
	Seats            int64         `json:"seats"`
	HardwareIDs      []string      `json:"hardware_ids"`
	IssuedAt         string        `json:"issued_at"`
	NotBefore        string        `json:"not_before"`
	ExpiresAt        string        `json:"expires_at,omitempty"`
	MaintenanceUntil string        `json:"maintenance_until,omitempty"`
}

type wireOrg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type wireFeature struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Limit *int64 `json:"limit,omitempty"`
}

// encodePayload validates l and returns its canonical payload. l must be
// normalised (times in whole seconds, lists sorted): validate refuses
// anything else.
func encodePayload(l *License) ([]byte, error) {
	if err := validate(l); err != nil {
		return nil, err
	}
	w := wirePayload{
		Version:      l.Version,
		ID:           l.ID,
		KeyID:        l.KeyID,
		Organization: wireOrg(l.Organization),
		Product:      l.Product,
		Features:     make([]wireFeature, len(l.Features)),
		Seats:        int64(l.Seats),
		HardwareIDs:  append([]string{}, l.HardwareIDs...),
		IssuedAt:     formatTime(l.IssuedAt),
		NotBefore:    formatTime(l.NotBefore),
	}
	for i, f := range l.Features {
		w.Features[i] = wireFeature(f)
	}
	if l.ExpiresAt != nil {
		w.ExpiresAt = formatTime(*l.ExpiresAt)
	}
	if l.MaintenanceUntil != nil {
		w.MaintenanceUntil = formatTime(*l.MaintenanceUntil)
	}
	return marshal(w)
}

// decodePayload parses and checks a payload: version, members, the rules,
// and that p is exactly the canonical encoding of the license it describes.
func decodePayload(p []byte) (*License, error) {
	if err := checkVersion(p, "version", "payload"); err != nil {
		return nil, err
	}
	var w wirePayload
	if err := json.Unmarshal(p, &w); err != nil {
		return nil, errorf(ErrMalformed, "payload: %v", err)
	}
	if w.Seats < 0 || w.Seats > maxSeats {
		return nil, errorf(ErrMalformed, "payload: seats must be 0 to %d", maxSeats)
	}
	l := &License{
		Version:      w.Version,
		ID:           w.ID,
		KeyID:        w.KeyID,
		Organization: Organization(w.Organization),
		Product:      w.Product,
		Features:     make([]Feature, len(w.Features)),
		Seats:        int(w.Seats),
		HardwareIDs:  w.HardwareIDs,
	}
	if l.HardwareIDs == nil {
		l.HardwareIDs = []string{} // so that null is not canonical
	}
	for i, f := range w.Features {
		l.Features[i] = Feature(f)
	}
	var err error
	if l.IssuedAt, err = parseTime("issued_at", w.IssuedAt); err != nil {
		return nil, err
	}
	if l.NotBefore, err = parseTime("not_before", w.NotBefore); err != nil {
		return nil, err
	}
	if w.ExpiresAt != "" {
		t, err := parseTime("expires_at", w.ExpiresAt)
		if err != nil {
			return nil, err
		}
		l.ExpiresAt = &t
	}
	if w.MaintenanceUntil != "" {
		t, err := parseTime("maintenance_until", w.MaintenanceUntil)
		if err != nil {
			return nil, err
		}
		l.MaintenanceUntil = &t
	}
	canon, err := encodePayload(l)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, p) {
		return nil, errorf(ErrMalformed, "payload is not in canonical form (differs at byte %d)", firstDiff(canon, p))
	}
	return l, nil
}

// validate checks every rule of FORMAT.md on a normalised license.
func validate(l *License) error {
	if l.Version != Version {
		return errorf(ErrUnsupportedVersion, "payload version %d, this package writes version %d", l.Version, Version)
	}
	bad := func(field, format string, args ...any) error {
		return errorf(ErrMalformed, "%s %s", field, fmt.Sprintf(format, args...))
	}
	if !validToken(l.ID) {
		return bad("id", "must be 1 to %d printable ASCII characters other than space, \" and \\", maxToken)
	}
	if !validKeyID(l.KeyID) {
		return bad("key_id", "must be 1 to %d characters of A-Z a-z 0-9 _ -", maxKeyID)
	}
	if !validToken(l.Organization.ID) {
		return bad("organization.id", "must be 1 to %d printable ASCII characters other than space, \" and \\", maxToken)
	}
	if l.Organization.Name == "" || !validText(l.Organization.Name, maxName) {
		return bad("organization.name", "must be 1 to %d bytes of UTF-8 text without control characters", maxName)
	}
	if !validToken(l.Product) {
		return bad("product", "must be 1 to %d printable ASCII characters other than space, \" and \\", maxToken)
	}
	if l.Features == nil {
		return bad("features", "must be a list, not null")
	}
	if len(l.Features) > maxFeatures {
		return bad("features", "has %d entries, more than %d", len(l.Features), maxFeatures)
	}
	for i, f := range l.Features {
		field := fmt.Sprintf("features[%d]", i)
		if !validToken(f.Name) {
			return bad(field+".name", "must be 1 to %d printable ASCII characters other than space, \" and \\", maxToken)
		}
		if i > 0 && l.Features[i-1].Name >= f.Name {
			return bad(field+".name", "%q is not after %q: names must be unique and sorted", f.Name, l.Features[i-1].Name)
		}
		if !validText(f.Value, maxValue) {
			return bad(field+".value", "must be at most %d bytes of UTF-8 text without control characters", maxValue)
		}
		if f.Limit != nil && (*f.Limit < 0 || *f.Limit > maxLimit) {
			return bad(field+".limit", "must be 0 to %d", int64(maxLimit))
		}
	}
	if l.Seats < 0 || l.Seats > maxSeats {
		return bad("seats", "must be 0 to %d", maxSeats)
	}
	if l.HardwareIDs == nil {
		return bad("hardware_ids", "must be a list, not null")
	}
	if len(l.HardwareIDs) > maxHardwareIDs {
		return bad("hardware_ids", "has %d entries, more than %d", len(l.HardwareIDs), maxHardwareIDs)
	}
	folded := make(map[string]bool, len(l.HardwareIDs))
	for i, h := range l.HardwareIDs {
		field := fmt.Sprintf("hardware_ids[%d]", i)
		if !validHardwareID(h) {
			return bad(field, "must be 1 to %d printable ASCII characters other than \" and \\, without spaces around", maxHardwareID)
		}
		if i > 0 && l.HardwareIDs[i-1] >= h {
			return bad(field, "%q is not after %q: ids must be unique and sorted", h, l.HardwareIDs[i-1])
		}
		f := strings.ToLower(h) // ASCII only, by validHardwareID
		if folded[f] {
			return bad(field, "%q differs from another id only in case", h)
		}
		folded[f] = true
	}
	times := []struct {
		name string
		t    *time.Time
	}{{"issued_at", &l.IssuedAt}, {"not_before", &l.NotBefore}, {"expires_at", l.ExpiresAt}, {"maintenance_until", l.MaintenanceUntil}}
	for _, x := range times {
		if x.t == nil {
			continue
		}
		if x.t.Before(minTime) || x.t.After(maxTime) || x.t.Nanosecond() != 0 {
			return bad(x.name, "must be whole seconds from %s to %s", minTime.Format(timeLayout), maxTime.Format(timeLayout))
		}
	}
	if l.ExpiresAt != nil && !l.ExpiresAt.After(l.NotBefore) {
		return bad("expires_at", "must be after not_before")
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, errorf(ErrMalformed, "%s must be a time like 2026-01-31T23:59:59Z", field)
	}
	return t, nil
}

// marshal encodes v as JSON without HTML escaping and without the newline
// json.Encoder adds.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// validKeyID: 1 to 32 characters of [A-Za-z0-9_-], as Freight's keyring.
func validKeyID(s string) bool {
	if len(s) == 0 || len(s) > maxKeyID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validToken: 1 to 128 bytes of 0x21-0x7E except '"' and '\'.
func validToken(s string) bool {
	if len(s) == 0 || len(s) > maxToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validHardwareID: 1 to 128 bytes of 0x20-0x7E except '"' and '\', not
// starting or ending with a space.
func validHardwareID(s string) bool {
	if len(s) == 0 || len(s) > maxHardwareID || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validText: at most max bytes of valid UTF-8 without control characters
// (C0, DEL, C1) and without U+2028 and U+2029, so that the canonical JSON
// string escapes only '"' and '\'.
func validText(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || 0x7f <= r && r <= 0x9f || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// normalize returns a copy of l as Sign writes it: version and key id set,
// times in UTC rounded down to whole seconds, NotBefore defaulting to
// IssuedAt, features and hardware ids sorted, nil lists empty.
func normalize(l *License, keyID string) (*License, error) {
	n := *l
	switch n.Version {
	case 0:
		n.Version = Version
	case Version:
	default:
		return nil, errorf(ErrUnsupportedVersion, "version %d, this package writes version %d", n.Version, Version)
	}
	switch n.KeyID {
	case "":
		n.KeyID = keyID
	case keyID:
	default:
		return nil, errorf(ErrMalformed, "key_id %q differs from the signing key id %q", n.KeyID, keyID)
	}
	if n.IssuedAt.IsZero() {
		return nil, errorf(ErrMalformed, "issued_at is not set")
	}
	n.IssuedAt = second(n.IssuedAt)
	if n.NotBefore.IsZero() {
		n.NotBefore = n.IssuedAt
	}
	n.NotBefore = second(n.NotBefore)
	if n.ExpiresAt != nil {
		t := second(*n.ExpiresAt)
		n.ExpiresAt = &t
	}
	if n.MaintenanceUntil != nil {
		t := second(*n.MaintenanceUntil)
		n.MaintenanceUntil = &t
	}
	n.Features = slices.Clone(l.Features)
	if n.Features == nil {
		n.Features = []Feature{}
	}
	for i, f := range n.Features {
		if f.Limit != nil {
			v := *f.Limit
			n.Features[i].Limit = &v
		}
	}
	slices.SortStableFunc(n.Features, func(a, b Feature) int { return strings.Compare(a.Name, b.Name) })
	n.HardwareIDs = slices.Clone(l.HardwareIDs)
	if n.HardwareIDs == nil {
		n.HardwareIDs = []string{}
	}
	slices.Sort(n.HardwareIDs)
	return &n, nil
}

// second returns t in UTC, rounded down to a whole second.
func second(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
