package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/signing"
)

// origin is the portal as an edge sees it.
type origin struct {
	base       string // without a trailing slash
	credential string
	client     *http.Client
}

// blob opens bytes [off, end) of a blob (end < 0: to the end). token, the
// grant token of the download the fetch serves, authorises it; "" for a
// prefetch the portal asked for.
func (o *origin) blob(ctx context.Context, digest, token string, off, end int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+"/api/v1/edge/blobs/"+digest, nil)
	if err != nil {
		return nil, err
	}
	o.auth(req)
	if token != "" {
		req.Header.Set(server.GrantHeader, token)
	}
	rng := "bytes=" + strconv.FormatInt(off, 10) + "-"
	if end >= 0 {
		rng += strconv.FormatInt(end-1, 10)
	}
	req.Header.Set("Range", rng)
	// A response for another representation must not be stitched to ours.
	req.Header.Set("If-Range", `"`+digest+`"`)
	res, err := o.client.Do(req)
	if err != nil {
		return nil, freight.Errorf(freight.EUNAVAILABLE, "origin unreachable: %v", err)
	}
	if res.StatusCode != http.StatusPartialContent {
		defer res.Body.Close()
		return nil, o.failure(res, "blob fetch")
	}
	// The answer must start where asked: a proxy that answers another
	// range would corrupt the cache.
	cr := res.Header.Get("Content-Range")
	if !strings.HasPrefix(cr, "bytes "+strconv.FormatInt(off, 10)+"-") {
		res.Body.Close()
		return nil, freight.Errorf(freight.EUNAVAILABLE, "origin answered Content-Range %q for %s", cr, rng)
	}
	return res.Body, nil
}

// keys fetches the public keys that verify grant tokens.
func (o *origin) keys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+"/.well-known/freight-keys.json", nil)
	if err != nil {
		return nil, err
	}
	res, err := o.client.Do(req)
	if err != nil {
		return nil, freight.Errorf(freight.EUNAVAILABLE, "origin unreachable: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, o.failure(res, "key fetch")
	}
	var body struct {
		Keys []signing.PublicKey `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		return nil, freight.Errorf(freight.EUNAVAILABLE, "origin keys: %v", err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range body.Keys {
		if k.Algorithm == "Ed25519" && len(k.Key) == ed25519.PublicKeySize && k.ID != "" {
			keys[k.ID] = ed25519.PublicKey(k.Key)
		}
	}
	return keys, nil
}

// post sends a JSON request to the edge API and decodes the answer.
func (o *origin) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	o.auth(req)
	req.Header.Set("Content-Type", "application/json")
	res, err := o.client.Do(req)
	if err != nil {
		return freight.Errorf(freight.EUNAVAILABLE, "origin unreachable: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return o.failure(res, path)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 16<<20)).Decode(out); err != nil {
		return freight.Errorf(freight.EUNAVAILABLE, "%s: answer: %v", path, err)
	}
	return nil
}

func (o *origin) auth(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+o.credential)
}

// failure turns an error answer of the portal into a *freight.Error with
// its code and message.
func (o *origin) failure(res *http.Response, what string) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		code := body.Error.Code
		if code == freight.EINTERNAL {
			code = freight.EUNAVAILABLE
		}
		return &freight.Error{Code: code, Message: "origin: " + body.Error.Message}
	}
	return freight.Errorf(freight.EUNAVAILABLE, "origin: %s answered %s", what, res.Status)
}
