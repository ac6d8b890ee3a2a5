// Package apiclient calls depositflow's HTTP API (`deposits serve`) as a
// person or an integration: it sends the credential, an idempotency key for
// writes, JSON bodies, and turns the server's refusals into Errors that say
// what the server said. The `deposits` CLI's people's commands go through it,
// and so can a Go program of an integrator's.
package apiclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one depositflow server with one credential.
type Client struct {
	Server string // e.g. http://localhost:8081
	Token  string // a person's token (dfu_...) or an API key (dfk_...)
	HTTP   *http.Client
}

// New returns a client of server with a credential.
func New(server, token string) *Client {
	return &Client{Server: strings.TrimRight(server, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is the server refusing a request: its status, stable code, the
// field it is about, and its message (which names the request ID when the
// server failed).
type Error struct {
	Status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field"`
	RequestID string `json:"request_id"`
}

func (e *Error) Error() string { return e.Message }

// ErrUnreachable wraps a failure to reach the server at all.
var ErrUnreachable = errors.New("cannot reach the depositflow server")

// NewKey returns a random idempotency key for a write.
func NewKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Request is one call.
type Request struct {
	Method string
	Path   string     // e.g. /v1/leases/L-100/payments
	Query  url.Values // optional
	Body   any        // encoded as JSON when not nil
	// Key is the Idempotency-Key of a write: the same key again is the same
	// request. The client retries a write it could not deliver under the
	// same key, so a network blip never doubles a decision.
	Key string
}

// Response is the server's answer to a call that succeeded.
type Response struct {
	Status      int
	ContentType string
	Header      http.Header
	Body        []byte
}

// Decode reads a JSON answer into v.
func (r Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("the server's answer is not what this client expects: %w", err)
	}
	return nil
}

// Do sends a request and returns the answer of a 2xx, or the server's
// refusal as an *Error, or ErrUnreachable.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	u := c.Server + req.Path
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = json.Marshal(req.Body); err != nil {
			return Response{}, err
		}
	}
	var last error
	// A request that never reached the server is tried again (only with an
	// idempotency key, or for a read); one the server answered is not.
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return Response{}, fmt.Errorf("%w: %v", ErrUnreachable, ctx.Err())
			case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
			}
		}
		hr, err := http.NewRequestWithContext(ctx, req.Method, u, bytes.NewReader(body))
		if err != nil {
			return Response{}, err
		}
		if req.Body != nil {
			hr.Header.Set("Content-Type", "application/json")
		}
		hr.Header.Set("Accept", "application/json")
		if c.Token != "" {
			hr.Header.Set("Authorization", "Bearer "+c.Token)
		}
		if req.Key != "" {
			hr.Header.Set("Idempotency-Key", req.Key)
		}
		resp, err := c.HTTP.Do(hr)
		if err != nil {
			// Never the URL's credentials or the token: only where and why.
			last = fmt.Errorf("%w at %s: %v", ErrUnreachable, c.Server, rootCause(err))
			if req.Method != http.MethodGet && req.Key == "" {
				break
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			last = fmt.Errorf("%w at %s: %v", ErrUnreachable, c.Server, err)
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Header: resp.Header, Body: b}, nil
		}
		e := &Error{Status: resp.StatusCode}
		var wrapped struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Error != nil {
			wrapped.Error.Status = resp.StatusCode
			e = wrapped.Error
		} else {
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), fmt.Sprintf("the server answered %s", resp.Status)
		}
		return Response{}, e
	}
	return Response{}, last
}

// rootCause is the innermost error, without url.Error's method and URL.
func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Get reads a JSON resource into out.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, Path: path, Query: query})
	if err != nil {
		return err
	}
	return resp.Decode(out)
}

// Post sends a JSON body under an idempotency key and reads the answer into
// out (when not nil); it returns the status (201 recorded, 200 unchanged,
// 202 recorded but not yet told to the lease's workflow).
func (c *Client) Post(ctx context.Context, path string, body any, key string, out any) (int, error) {
	if key == "" {
		key = NewKey()
	}
	resp, err := c.Do(ctx, Request{Method: http.MethodPost, Path: path, Body: body, Key: key})
	if err != nil {
		return 0, err
	}
	if out != nil {
		return resp.Status, resp.Decode(out)
	}
	return resp.Status, nil
}

// LeasePath is the path of a lease's resource, with the lease ID escaped.
func LeasePath(leaseID string, rest ...string) string {
	p := "/v1/leases/" + url.PathEscape(leaseID)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}
