package licensefile

import (
	"crypto/ed25519"
	"io"
)

// Test hooks: ways to build files that Sign refuses to write, so that the
// tests and the test vectors can check that Verify refuses them too.

// SignEncryptedWithNonces is SignEncrypted with the nonce read from nonces,
// for reproducible test vectors.
func SignEncryptedWithNonces(l *License, keyID string, priv ed25519.PrivateKey, secret []byte, nonces io.Reader) ([]byte, error) {
	return sign(l, keyID, priv, true, secret, nonces)
}

// Seal returns the file of envelope e after signing it with priv: e's
// members are used as they are, unchecked.
func Seal(e *Envelope, priv ed25519.PrivateKey) []byte {
	e.Signature = ed25519.Sign(priv, e.signedMessage())
	return armor(e.encode())
}

// Armor returns the file of envelope e as it is, signature included.
func Armor(e *Envelope) []byte { return armor(e.encode()) }

// ArmorBody returns a file whose body is the base64 of body.
func ArmorBody(body []byte) []byte { return armor(body) }

// EncodeEnvelope returns the canonical envelope JSON of e.
func EncodeEnvelope(e *Envelope) []byte { return e.encode() }

// Encrypt returns nonce || AES-256-GCM(plain) as an encrypted envelope of
// key id kid holds it.
func Encrypt(kid string, plain, secret, nonce []byte) []byte {
	gcm, err := aead(secret)
	if err != nil {
		panic(err)
	}
	return gcm.Seal(append([]byte{}, nonce...), nonce, plain, header(kid, EncAES256GCM))
}

// EncodePayload returns the canonical payload of a normalised license.
func EncodePayload(l *License) ([]byte, error) { return encodePayload(l) }

// Normalize returns l as Sign writes it.
func Normalize(l *License, keyID string) (*License, error) { return normalize(l, keyID) }
