// Package depositclient calls depositflow's HTTP API (`deposits serve`,
// described by api/openapi.yaml) from Go: as an integration with its API
// key (a property-management system posting its facts and paying what the
// settlements say), or as a person with their token. It sends the
// credential, an idempotency key with every write (and retries a write that
// never reached the server under the same key), and turns the server's
// refusals into *Error values with the server's code, field and message.
//
// The typed methods cover what an integration does: the upserts, a lease,
// its payments, charges, returned payments, move-out and forwarding
// address, the lease's state and invoices, and the lists across leases
// (Leases, Invoices), which page with cursors behind an iterator. Get, Post
// and Do reach every other route. The `deposits` CLI's people's commands go
// through this package too, and the end-to-end tests send its calls
// through a validator of the OpenAPI document, which keeps the two in step.
//
//	c := depositclient.New("http://localhost:8081", os.Getenv("DEPOSITS_API_KEY"))
//	for inv, err := range c.Invoices(ctx, depositclient.InvoiceFilter{Status: "open"}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(inv.LeaseID, inv.Kind, inv.AmountDueInCents, inv.Recipient.Email)
//	}
package depositclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
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
// server failed). The server answers it as RFC 9457 problem details, which
// this client asks for; Type and Instance are theirs.
type Error struct {
	Status    int
	Code      string
	Message   string
	Field     string
	RequestID string
	Type      string // urn:depositflow:problem:<code>
	Instance  string // the request's path
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
		hr.Header.Set("Accept", "application/json, application/problem+json")
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
		return Response{}, refusal(resp, b)
	}
	return Response{}, last
}

// refusal reads an error answer in either of the server's shapes: problem
// details, or {"error": {...}}.
func refusal(resp *http.Response, b []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" {
		var p struct {
			Type      string `json:"type"`
			Detail    string `json:"detail"`
			Instance  string `json:"instance"`
			Code      string `json:"code"`
			Field     string `json:"field"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(b, &p) == nil && p.Code != "" {
			e.Code, e.Message, e.Field, e.RequestID, e.Type, e.Instance = p.Code, p.Detail, p.Field, p.RequestID, p.Type, p.Instance
			return e
		}
	}
	var wrapped struct {
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Field     string `json:"field"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &wrapped) == nil && wrapped.Error != nil {
		w := wrapped.Error
		e.Code, e.Message, e.Field, e.RequestID = w.Code, w.Message, w.Field, w.RequestID
		return e
	}
	e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), fmt.Sprintf("the server answered %s", resp.Status)
	return e
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

// Post sends a JSON body (none when body is nil) under an idempotency key
// (a new one when key is "") and reads the answer into out (when not nil);
// it returns the status (201 recorded, 200 unchanged, 202 recorded but not
// yet told to the lease's workflow).
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

// LeasePath is the path of a lease's resource, with the lease ID and each
// part after it escaped.
func LeasePath(leaseID string, rest ...string) string {
	p := "/v1/leases/" + url.PathEscape(leaseID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}
