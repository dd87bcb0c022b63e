package licensefile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
)

// Sign issues a license file: it writes l's payload, signs it with priv
// under keyID, and returns the armored file. The vendor's portal calls it;
// applications only verify.
//
// Sign does not change l. It writes a normalised copy: Version 0 becomes 1;
// KeyID empty becomes keyID (any other value than keyID is refused); times
// are converted to UTC and rounded down to whole seconds; a zero NotBefore
// becomes IssuedAt (which must be set); features are sorted by name and
// hardware ids by byte order. A license that breaks a rule of FORMAT.md is
// refused with an error wrapping ErrMalformed that names the field. Sign
// checks that the file it returns verifies.
func Sign(l *License, keyID string, priv ed25519.PrivateKey) ([]byte, error) {
	return sign(l, keyID, priv, false, nil, nil)
}

// SignEncrypted is Sign with the payload encrypted with AES-256-GCM under a
// key derived from the customer's secret (SecretSize random bytes, see
// NewSecret), for vendors that do not want the contents readable without
// it. Anyone with the public key can still check that the file is genuine.
func SignEncrypted(l *License, keyID string, priv ed25519.PrivateKey, secret []byte) ([]byte, error) {
	return sign(l, keyID, priv, true, secret, rand.Reader)
}

func sign(l *License, keyID string, priv ed25519.PrivateKey, encrypt bool, secret []byte, nonces io.Reader) ([]byte, error) {
	if l == nil {
		return nil, errorf(ErrMalformed, "no license")
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("licensefile: the private key is not an Ed25519 private key")
	}
	if pub := ed25519.NewKeyFromSeed(priv.Seed()); !bytes.Equal(pub, priv) {
		// The second half of priv is its public key, used by Sign: a
		// damaged one would make signatures no key verifies.
		return nil, errors.New("licensefile: the private key is damaged: its public half does not match its seed")
	}
	if !validKeyID(keyID) {
		return nil, errorf(ErrMalformed, "key id must be 1 to %d characters of A-Z a-z 0-9 _ -", maxKeyID)
	}
	n, err := normalize(l, keyID)
	if err != nil {
		return nil, err
	}
	payload, err := encodePayload(n)
	if err != nil {
		return nil, err
	}
	e := &Envelope{Version: Version, Algorithm: Algorithm, KeyID: keyID, Encryption: EncNone, Payload: payload}
	if encrypt {
		gcm, err := aead(secret)
		if err != nil {
			return nil, err
		}
		e.Encryption = EncAES256GCM
		nonce := make([]byte, nonceSize, nonceSize+len(payload)+tagSize)
		if _, err := io.ReadFull(nonces, nonce); err != nil {
			return nil, err
		}
		e.Payload = gcm.Seal(nonce, nonce, payload, header(e.KeyID, e.Encryption))
	}
	e.Signature = ed25519.Sign(priv, e.signedMessage())
	file := armor(e.encode())
	if len(file) > MaxFileSize {
		return nil, errorf(ErrMalformed, "the file would be %d bytes, more than %d", len(file), MaxFileSize)
	}
	// Check the whole way back, so that the portal never hands out a file
	// that does not verify.
	keys := map[string]ed25519.PublicKey{keyID: priv.Public().(ed25519.PublicKey)}
	got, err := VerifyEncrypted(file, keys, secret)
	if err == nil {
		var again []byte
		if again, err = encodePayload(got); err == nil && !bytes.Equal(again, payload) {
			err = errors.New("the payload changed")
		}
	}
	if err != nil {
		return nil, errors.Join(errors.New("licensefile: internal error: a signed file does not verify"), err)
	}
	return file, nil
}

// NewSecret returns a new random customer secret of SecretSize bytes.
func NewSecret() []byte {
	s := make([]byte, SecretSize)
	rand.Read(s) // never fails (crypto/rand, Go 1.24+)
	return s
}

// EncodeSecret returns the text form of a secret: base64url without padding
// (RFC 4648 §5), 43 characters for SecretSize bytes.
func EncodeSecret(secret []byte) string { return base64.RawURLEncoding.EncodeToString(secret) }

// ParseSecret reads the text form of a secret, ignoring spaces and line
// breaks around it. Errors wrap ErrWrongSecret.
func ParseSecret(s string) ([]byte, error) {
	s = trimSpace(s)
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != SecretSize {
		return nil, errorf(ErrWrongSecret, "a secret is %d characters of base64url (A-Z a-z 0-9 - _)", base64.RawURLEncoding.EncodedLen(SecretSize))
	}
	return b, nil
}
