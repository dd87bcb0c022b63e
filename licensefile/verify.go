package licensefile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
)

// Verify checks a license file and returns the license it grants. keys maps
// the key ids the application trusts to their public keys; several keys
// let the vendor rotate without breaking licenses already issued.
//
// Verify checks the file's shape, version, key and signature and every rule
// of the payload, in the order of FORMAT.md, and returns an error wrapping
// ErrMalformed, ErrUnsupportedVersion, ErrUnknownKey or ErrBadSignature, or
// ErrEncrypted for a genuine file whose payload is encrypted (read it with
// VerifyEncrypted). It does not look at the clock, the hardware or the
// features: call License.Valid, BoundTo and HasFeature for that. Verify
// never panics, whatever data holds.
func Verify(data []byte, keys map[string]ed25519.PublicKey) (*License, error) {
	return verify(data, keys, nil, false)
}

// VerifyEncrypted is Verify for files whose payload may be encrypted with
// the customer's secret (SecretSize bytes). The signature is checked first,
// with the public keys alone; then the payload is decrypted. A wrong secret
// gives an error wrapping ErrWrongSecret. A file that is not encrypted is
// verified as by Verify: the signature, not the encryption, makes a file
// genuine.
func VerifyEncrypted(data []byte, keys map[string]ed25519.PublicKey, secret []byte) (*License, error) {
	return verify(data, keys, secret, true)
}

func verify(data []byte, keys map[string]ed25519.PublicKey, secret []byte, withSecret bool) (*License, error) {
	e, err := Inspect(data)
	if err != nil {
		return nil, err
	}
	pub, ok := keys[e.KeyID]
	if !ok {
		return nil, errorf(ErrUnknownKey, "key id %q", e.KeyID)
	}
	if len(pub) != ed25519.PublicKeySize {
		// A caller's mistake, but ed25519.Verify would panic on it.
		return nil, errorf(ErrUnknownKey, "the public key given for key id %q is %d bytes, not %d", e.KeyID, len(pub), ed25519.PublicKeySize)
	}
	if !ed25519.Verify(pub, e.signedMessage(), e.Signature) {
		return nil, errorf(ErrBadSignature, "key id %q", e.KeyID)
	}
	payload := e.Payload
	if e.Encrypted() {
		if !withSecret {
			return nil, errorf(ErrEncrypted, "verify it with the customer's secret")
		}
		if payload, err = decrypt(e, secret); err != nil {
			return nil, err
		}
	}
	l, err := decodePayload(payload)
	if err != nil {
		return nil, err
	}
	if l.KeyID != e.KeyID {
		return nil, errorf(ErrMalformed, "payload key_id %q differs from envelope kid %q", l.KeyID, e.KeyID)
	}
	return l, nil
}

// Inspect takes a license file apart WITHOUT verifying its signature: for
// showing a file to a person (which key, encrypted or not, and with
// Envelope.UnverifiedLicense what it claims), never for deciding what
// software may do. Errors wrap ErrMalformed or ErrUnsupportedVersion.
func Inspect(data []byte) (*Envelope, error) {
	body, err := dearmor(data)
	if err != nil {
		return nil, err
	}
	return parseEnvelope(body)
}

// aead returns AES-256-GCM keyed from the secret by HKDF-SHA256.
func aead(secret []byte) (cipher.AEAD, error) {
	if len(secret) != SecretSize {
		return nil, errorf(ErrWrongSecret, "the secret is %d bytes, not %d", len(secret), SecretSize)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, Domain+" aes-256-gcm", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func decrypt(e *Envelope, secret []byte) ([]byte, error) {
	gcm, err := aead(secret)
	if err != nil {
		return nil, err
	}
	nonce, sealed := e.Payload[:nonceSize], e.Payload[nonceSize:]
	plain, err := gcm.Open(nil, nonce, sealed, header(e.KeyID, e.Encryption))
	if err != nil {
		return nil, errorf(ErrWrongSecret, "the payload does not decrypt with this secret")
	}
	return plain, nil
}
