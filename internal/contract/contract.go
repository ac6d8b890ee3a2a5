// Package contract holds depositflow's HTTP API to its OpenAPI document
// (api/openapi.yaml). A Checker judges an exchange, a request and the
// server's answer, against the document with kin-openapi's validator
// (openapi3filter), and serves a reverse proxy that judges every exchange it
// passes and keeps each breach. The end-to-end tests put one in front of
// every `deposits serve`, so every call of the suite (the CLI's, curl's,
// the tests' own) is held to the document in both directions.
//
// An exchange keeps the contract when:
//   - its route is documented, or it is answered 404 with a documented error;
//   - the answer's status, content type and body are documented for the
//     operation (response schemas say additionalProperties: false, so an
//     undocumented field is a breach, as are a wrong type, a value outside
//     an enum and a missing required field);
//   - a request the document refuses (a body, parameter, query parameter or
//     credential it does not describe) is refused with a 4xx, and one it
//     accepts is never refused as malformed (400 bad_json, wrong_type,
//     unknown_field);
//   - an error is application/problem+json when the request asked for it
//     with Accept, and {"error": {...}} in application/json otherwise.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

func init() {
	// The document's other bodies: rendered emails and statements.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/pdf", openapi3filter.FileBodyDecoder)
}

// ProblemJSON is the media type of RFC 9457 problem details.
const ProblemJSON = "application/problem+json"

// Checker judges exchanges against one OpenAPI document and keeps the
// breaches of the exchanges its proxies passed.
type Checker struct {
	Doc    *openapi3.T
	router routers.Router

	mu       sync.Mutex
	breaches []Breach
}

// Breach is an exchange that broke the contract, and how.
type Breach struct {
	Method, Target string
	Status         int
	Problems       []string
}

func (b Breach) String() string {
	return fmt.Sprintf("%s %s answered %d: %s", b.Method, b.Target, b.Status, strings.Join(b.Problems, "; "))
}

// Load reads and validates an OpenAPI document.
func Load(path string) (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
	}
	// Routes are matched on the path alone, whatever host serves them.
	routed := *doc
	routed.Servers = nil
	router, err := legacy.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Checker{Doc: doc, router: router}, nil
}

func (c *Checker) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		MultiError:                        true,
		IncludeResponseStatus:             true,
		RejectWhenRequestBodyNotSpecified: true,
		AuthenticationFunc:                bearer,
		SchemaValidationOptions:           []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
}

// bearer accepts a request that carries a bearer credential: whether it is
// a good one is the server's to say (401), not the document's.
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	token, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return errors.New("no bearer credential")
	}
	return nil
}

// Check returns the ways an exchange breaks the document; none when it
// keeps it. body is the request's body, respBody the answer's.
func (c *Checker) Check(req *http.Request, body []byte, status int, header http.Header, respBody []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	req = req.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// No documented route: the server must say so, as a documented error.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			add("the route is not documented (%v), yet it was answered %d", err, status)
		}
		problems = append(problems, c.checkError(req, header, respBody)...)
		return problems
	}
	opts := c.options()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if undocumented := undocumentedQuery(route, req.URL.Query()); len(undocumented) > 0 {
		reqErr = errors.Join(reqErr, fmt.Errorf("undocumented query parameters %s", strings.Join(undocumented, ", ")))
	}
	code := errorCode(respBody)
	switch {
	case reqErr != nil && (status < 400 || status >= 500):
		add("the document refuses the request (%s), yet it was answered %d", oneLine(reqErr), status)
	case reqErr == nil && status == http.StatusBadRequest && slices.Contains([]string{"bad_json", "wrong_type", "unknown_field"}, code):
		add("the document accepts the request, yet the server refused it as malformed (%s)", code)
	}

	resp := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), resp); err != nil {
		add("the answer is not what the document says: %s", oneLine(err))
	}
	if status >= 400 {
		problems = append(problems, c.errorShape(req, header)...)
	}
	return problems
}

// checkError checks an answer to an undocumented route against the
// document's error schemas.
func (c *Checker) checkError(req *http.Request, header http.Header, body []byte) []string {
	problems := c.errorShape(req, header)
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	name := map[string]string{"application/json": "Error", ProblemJSON: "Problem"}[mt]
	ref := c.Doc.Components.Schemas[name]
	if ref == nil {
		return append(problems, fmt.Sprintf("an error in %q, which the document has no schema for", mt))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return append(problems, fmt.Sprintf("the error is not JSON: %v", err))
	}
	if err := ref.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()); err != nil {
		problems = append(problems, fmt.Sprintf("the error is not a %s: %s", name, oneLine(err)))
	}
	return problems
}

// errorShape checks that an error is problem details when the request
// asked for them, and the plain error object otherwise.
func (c *Checker) errorShape(req *http.Request, header http.Header) []string {
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if (strings.HasPrefix(req.URL.Path, "/t/") || strings.HasPrefix(req.URL.Path, "/m/")) && mt == "text/html" {
		return nil // the tenant's page and a manager's link answer people, as a page
	}
	want := "application/json"
	if WantsProblem(req.Header.Get("Accept")) {
		want = ProblemJSON
	}
	if mt != want {
		return []string{fmt.Sprintf("an error in %q to a request that accepts %q (want %s)", mt, req.Header.Get("Accept"), want)}
	}
	return nil
}

// WantsProblem says whether an Accept header asks for problem details: it
// names application/problem+json with a quality above zero and at least
// that of application/json.
func WantsProblem(accept string) bool {
	problem, plain := 0.0, 0.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case ProblemJSON:
			problem = max(problem, q)
		case "application/json":
			plain = max(plain, q)
		}
	}
	return problem > 0 && problem >= plain
}

// undocumentedQuery lists the query parameters the operation does not document.
func undocumentedQuery(route *routers.Route, query url.Values) []string {
	var out []string
	for name := range query {
		documented := false
		for _, ps := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
			if ps.GetByInAndName(openapi3.ParameterInQuery, name) != nil {
				documented = true
			}
		}
		if !documented {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// errorCode is the code of an error answer in either shape, or "".
func errorCode(body []byte) string {
	var e struct {
		Code  string `json:"code"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code + e.Code
}

// oneLine flattens a validator's error for a report.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Proxy serves target (a `deposits serve`'s base URL) through the checker:
// every exchange is passed on unchanged and judged, and its breaches kept.
func (c *Checker) Proxy(target string) (http.Handler, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		ModifyResponse: func(resp *http.Response) error {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			sent := resp.Request.Context().Value(sentKey{}).(*sent)
			if problems := c.Check(sent.req, sent.body, resp.StatusCode, resp.Header, b); len(problems) > 0 {
				c.record(Breach{Method: sent.req.Method, Target: sent.req.URL.RequestURI(), Status: resp.StatusCode, Problems: problems})
			}
			return nil
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ctx := context.WithValue(r.Context(), sentKey{}, &sent{req: r.Clone(context.Background()), body: body})
		rp.ServeHTTP(w, r.WithContext(ctx))
	}), nil
}

type sentKey struct{}

type sent struct {
	req  *http.Request
	body []byte
}

func (c *Checker) record(b Breach) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breaches = append(c.breaches, b)
}

// Breaches returns the breaches kept from the n-th on, and how many there
// are in all.
func (c *Checker) Breaches(from int) ([]Breach, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from = min(from, len(c.breaches))
	return slices.Clone(c.breaches[from:]), len(c.breaches)
}
