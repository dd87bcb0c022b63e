package oidc

import "context"

// VerifyIDToken runs the ID token checks of Finish on a raw token.
func (p *Provider) VerifyIDToken(ctx context.Context, raw, nonce string) error {
	_, err := p.verifyIDToken(ctx, raw, nonce)
	return err
}
