// Package password hashes and checks user passwords with argon2id.
//
// Hashes are encoded in the PHC string format
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash) so that they carry their
// parameters: raising the parameters later leaves old hashes verifiable, and
// NeedsRehash tells when to re-hash at the next sign-in.
//
// Hashing is bounded: at most GOMAXPROCS hashes run at once, each holding
// Params.Memory KiB, and callers beyond that wait for a slot or for their
// context to end. A flood of sign-ins therefore costs latency, not memory.
//
// Passwords are normalised to Unicode NFC before they are checked, counted
// and hashed, so that the same password typed on systems that compose
// accented letters differently still matches. They are never truncated: a
// password longer than MaxBytes is refused, not shortened.
//
// Check enforces the sign-up and change policy: length bounds, no
// composition rules, no common passwords (an embedded list), no password
// equal to the user's email or name.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default is OWASP's recommended minimum for argon2id (t=2, m=19 MiB, p=1).
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// slots bounds concurrent hashing: each hash holds Memory KiB while it
// runs, so a flood of sign-ins waits here instead of exhausting memory.
var slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// ErrMalformed is returned for an encoded hash that cannot be parsed.
var ErrMalformed = errors.New("password: malformed hash")

// Hash returns the encoded argon2id hash of pw with parameters p. It refuses
// a password longer than MaxBytes with an EINVALID error; it does not apply
// the rest of the policy, which is Check's job.
func Hash(ctx context.Context, pw string, p Params) (string, error) {
	if len(pw) > MaxBytes {
		return "", tooLong()
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := derive(ctx, pw, salt, p, keyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the encoded hash. A password longer than
// MaxBytes cannot have been hashed, so it does not match and costs no hashing.
func Verify(ctx context.Context, pw, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxBytes {
		return false, nil
	}
	got, err := derive(ctx, pw, salt, p, uint32(len(key)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters weaker than p.
func NeedsRehash(encoded string, p Params) bool {
	q, _, _, err := decode(encoded)
	return err != nil || q.Memory < p.Memory || q.Time < p.Time || q.Threads < p.Threads
}

// idKey is argon2.IDKey; tests replace it to watch concurrency.
var idKey = argon2.IDKey

func derive(ctx context.Context, pw string, salt []byte, p Params, n uint32) ([]byte, error) {
	// A caller that has already given up must not take a slot: select picks
	// at random among ready cases.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-slots }()
	return idKey([]byte(Normalize(pw)), salt, p.Time, p.Memory, p.Threads, n), nil
}

// Bounds on decoded parameters, so that a tampered hash in the database
// cannot make one check allocate gigabytes or spin for minutes.
const (
	maxMemory = 1 << 20 // KiB: 1 GiB
	maxTime   = 32
)

func decode(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, ErrMalformed
	}
	if p.Memory < 8 || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || threads < 1 || threads > 255 {
		return p, nil, nil, ErrMalformed
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformed
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
