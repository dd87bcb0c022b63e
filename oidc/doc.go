// Package oidc signs users in with an external OpenID Connect provider
// (Amazon Cognito, Keycloak, Entra ID, Google, any issuer with discovery)
// using the authorization code flow with PKCE (S256). It wraps
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2 and adds what they
// leave to the caller: browser-bound state, the nonce check, the
// authorized-party check, and the mapping of identities to organizations.
//
// # Use
//
// One Provider per configured issuer, made at startup:
//
//	p, err := oidc.New(ctx, cfg, oidc.Options{Key: key}) // discovery happens here
//
// and two routes per provider, named by its slug:
//
//	GET /auth/oidc/{name}/start     -> p.Start(w, r, r.FormValue("return_to"))
//	GET /auth/oidc/{name}/callback  -> id, returnTo, err := p.Finish(w, r)
//
// The callback path is fixed (CallbackPath); cfg.RedirectURL must be the
// absolute URL of it, registered at the provider character for character.
// After Finish the caller links the identity to a user by (Issuer,
// Subject), never by email alone, applies p.Assignments(id) (see Assign),
// starts its own session with a new session id, and redirects to returnTo.
//
// # What is checked
//
// Start makes a fresh state, nonce and PKCE verifier and seals them, with
// the return path and an expiry of FlowTimeout, into a cookie: AES-256-GCM
// under a key derived from Options.Key, bound to the provider name. The
// cookie is named "__Host-freight-oidc-<name>" with Secure, HttpOnly,
// Path=/ and SameSite=Lax (Lax because the callback is a top-level
// navigation from the provider's site). Nothing is kept on the server, so
// any replica holding the same key can finish the flow.
//
// Finish clears the cookie first, so it serves one callback only, and
// refuses the sign-in unless:
//   - the cookie opens with the key, belongs to this provider and has not
//     expired;
//   - the state parameter equals the sealed state (constant time), and this
//     process has not finished a flow with that state before;
//   - an iss parameter (RFC 9207), when present, equals the issuer;
//   - the provider sent a code and no error;
//   - the token endpoint redeems the code with the PKCE verifier (a code is
//     redeemable once: a replayed callback fails there even on a replica
//     that did not see the first);
//   - the ID token is signed by a key of the provider, its iss equals the
//     configured issuer exactly, its aud contains the client id, it has not
//     expired, and with any other audience its azp is the client id;
//   - its nonce equals the sealed nonce (constant time);
//   - when the ID token has no email and the userinfo endpoint is asked,
//     the userinfo sub equals the ID token's sub.
//
// Errors are *freight.Error with messages safe to show; codes and tokens
// appear neither in messages nor in causes. Start refuses a return path
// that is not local (see CheckReturnTo), which would make the portal an
// open redirect.
//
// # Providers
//
// Email-domain rules need the provider to assert email_verified. Where it
// does not, match a claim instead: Google Workspace accounts carry "hd"
// (the hosted domain), Entra ID tokens "tid" (the tenant id; use the
// tenant-specific issuer, since go-oidc compares issuers exactly), Cognito
// "cognito:groups", Keycloak a "groups" claim when a group mapper is set.
package oidc
