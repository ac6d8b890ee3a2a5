// Package api is depositflow's HTTP JSON API (`deposits serve`): what a
// property-management system posts (properties, units, listings, residents,
// leases, charges, payments, returned payments, move-outs, forwarding
// addresses) and what people do through the `deposits` CLI (every fact,
// every decision, every report). api/openapi.yaml documents every route:
// make check lints it against this package's routes and types, and the
// end-to-end tests hold every exchange to it (internal/contract).
//
// Every request carries a credential, checked here: a person's token
// (Authorization: Bearer dfu_..., from `deposits login`) or an integration's
// API key (dfk_...). Everything else is the gateway's (internal/gateway):
// what the caller's roles allow on which properties, the database first and
// then the lease's workflow, the audit log. The handlers only decode, call
// and encode.
//
// Refusals are 4xx with a JSON body {"error": {"code", "message", "field"}},
// or RFC 9457 problem details (application/problem+json) to a client that
// asks for them with Accept, and change nothing. A failure of the database or Temporal never reaches a
// client as their own text: it gets a request ID, which the server's log
// carries with the cause.
package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"golang.org/x/time/rate"

	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/money"
)

// MaxCents is the largest amount the API accepts: $10,000,000.00. Anything
// larger from a PMS is a bug on its side, not a deposit.
const MaxCents int64 = 10_000_000_00

// MaxBody is the largest request body read.
const MaxBody = 64 << 10

// Server serves the API over the gateway.
type Server struct {
	gw     *gateway.Gateway
	logger *slog.Logger
	mux    *http.ServeMux
	routes []string
	now    func() time.Time
	// anonymous bounds how many refusals of callers without a valid
	// credential reach the audit log: past it they are only logged, so
	// nobody can fill the database by knocking.
	anonymous *rate.Limiter

	// metrics counts requests by route and status; nil: not counted.
	metrics client.MetricsHandler

	// The codec endpoint (codec.go); nil when payloads are not sealed.
	codec          converter.PayloadCodec
	codecNamespace string
	codecOrigins   []string
}

// New returns the API server; Handler serves it.
func New(gw *gateway.Gateway, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{gw: gw, logger: logger, mux: http.NewServeMux(), now: time.Now, anonymous: rate.NewLimiter(10, 100)}
	s.handle("GET /healthz", false, s.health)
	s.pmsRoutes()
	s.peopleRoutes()
	s.booksRoutes()
	s.tenantRoutes()
	s.managerRoutes()
	s.approvalRoutes()
	s.disputeRoutes()
	s.moveRoutes()
	s.codecRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		id := requestID()
		w.Header().Set("X-Request-Id", id)
		writeErr(w, r, id, http.StatusNotFound, errorDetail{Code: "not_found", Message: "no such route: " + r.Method + " " + r.URL.Path})
	})
	return s
}

// WithMetrics counts every request by route and status
// (deposits_api_requests) and times it (deposits_api_request_latency).
func (s *Server) WithMetrics(m client.MetricsHandler) *Server {
	s.metrics = m
	return s
}

// Handler is the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.cors(s.mux) }

// Routes are the patterns registered, "METHOD /path".
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

type handler func(w http.ResponseWriter, r *http.Request, who gateway.Principal) error

// handle registers a route: every request gets an ID, is authenticated
// (unless auth is false), and is logged with its status, never with its
// credential.
func (s *Server) handle(pattern string, auth bool, h handler) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The request's span (otelhttp, when traced) is named for its route.
		trace.SpanFromContext(r.Context()).SetName(pattern)
		id := requestID()
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w}
		var who gateway.Principal
		err := func() error {
			if !auth {
				return nil
			}
			var err error
			if who, err = s.authenticate(r); err != nil {
				return err
			}
			who.RequestKey = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
			if len(who.RequestKey) > 200 {
				return refuse(http.StatusBadRequest, "invalid", "Idempotency-Key", "the Idempotency-Key is longer than 200 characters")
			}
			return nil
		}()
		if err == nil {
			err = h(rec, r, who)
		}
		if err != nil {
			s.auditRefusal(r, pattern, who, err)
			s.writeError(rec, r, id, err)
		}
		if s.metrics != nil {
			m := s.metrics.WithTags(map[string]string{"route": pattern, "status": strconv.Itoa(rec.status)})
			m.Counter("deposits_api_requests").Inc(1)
			m.Timer("deposits_api_request_latency").Record(time.Since(start))
		}
		s.logger.Info("api", "request_id", id, "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"caller", who.ID(), "origin", origin(r), "duration_ms", time.Since(start).Milliseconds())
	})
}

// authenticate finds who sent a request: the bearer credential, or on the
// codec endpoint a browser's session cookie (codec_session.go). The
// principal is returned with a refusal too when the credential was good,
// for the audit log.
func (s *Server) authenticate(r *http.Request) (gateway.Principal, error) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if c, err := r.Cookie(codecCookie); err == nil && strings.HasPrefix(r.URL.Path, "/codec/") {
			return s.codecSession(r, c.Value)
		}
	}
	return s.gw.Authenticate(r.Context(), bearer, origin(r))
}

// auditRefusal writes to the audit log what this layer refused itself (a
// body that is not JSON, a credential that signs no one in): the gateway
// audits what it refuses.
func (s *Server) auditRefusal(r *http.Request, route string, who gateway.Principal, err error) {
	var ae *apiError
	switch {
	case s.gw == nil || s.gw.DB == nil:
		return
	case gateway.IsKind(err, gateway.Unauthenticated):
		if !s.anonymous.Allow() {
			return // the request log still has it
		}
		// No lease: a caller nobody knows does not write into a lease's audit log.
		who = gateway.Principal{Kind: "anonymous", Name: "", Origin: origin(r)}
		s.gw.RecordAction(r.Context(), who, "", route, map[string]string{"path": r.URL.Path}, err)
		return
	case !errors.As(err, &ae):
		return
	}
	s.gw.RecordAction(r.Context(), who, r.PathValue("lease_id"), route, map[string]string{"path": r.URL.Path}, err)
}

// origin is the client's address, for the audit log.
func origin(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// apiError is a refusal of the HTTP layer itself (a body that is not JSON,
// a wrong type), with its status.
type apiError struct {
	status int
	detail errorDetail
}

func (e *apiError) Error() string { return e.detail.Message }

func refuse(status int, code, field, format string, args ...any) error {
	return &apiError{status: status, detail: errorDetail{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

func invalid(field, format string, args ...any) error {
	return refuse(http.StatusUnprocessableEntity, "invalid", field, format, args...)
}

// statuses are the HTTP words for the gateway's kinds of failure.
var statuses = map[gateway.Kind]int{
	gateway.Invalid: http.StatusUnprocessableEntity, gateway.NotFound: http.StatusNotFound,
	gateway.Conflict: http.StatusConflict, gateway.Forbidden: http.StatusForbidden,
	gateway.Unauthenticated: http.StatusUnauthorized, gateway.Unavailable: http.StatusServiceUnavailable,
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, id string, err error) {
	var ae *apiError
	var ge *gateway.Error
	switch {
	case errors.As(err, &ae):
		writeErr(w, r, id, ae.status, ae.detail)
	case errors.As(err, &ge) && statuses[ge.Kind] != 0:
		d := errorDetail{Code: ge.Code, Field: ge.Field, Message: ge.Msg}
		if ge.Kind == gateway.Unavailable {
			// The cause stays in this log: a client never sees a database's
			// or Temporal's own text, only what to quote to an operator.
			s.logger.Error("api", "request_id", id, "path", r.URL.Path, "error", ge.Cause())
			d.Message += " (request " + id + ")"
			d.RequestID = id
		}
		if ge.Kind == gateway.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="depositflow"`)
		}
		writeErr(w, r, id, statuses[ge.Kind], d)
	default:
		s.logger.Error("api", "request_id", id, "path", r.URL.Path, "error", err)
		writeErr(w, r, id, http.StatusInternalServerError, errorDetail{Code: "internal", RequestID: id,
			Message: "internal error: quote request " + id + " to an operator"})
	}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// problem is an error as RFC 9457 problem details, with depositflow's
// code, field and request ID as extension members.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

// ProblemJSON is the media type of RFC 9457 problem details.
const ProblemJSON = "application/problem+json"

// writeErr answers an error: as problem details when the request asked
// for them (Accept: application/problem+json), as {"error": {...}}
// otherwise, which is what every client got before problem details.
func writeErr(w http.ResponseWriter, r *http.Request, id string, status int, d errorDetail) {
	if !wantsProblem(r.Header.Get("Accept")) {
		writeJSON(w, status, errorBody{Error: d})
		return
	}
	title := strings.ReplaceAll(d.Code, "_", " ")
	if title != "" {
		title = strings.ToUpper(title[:1]) + title[1:]
	}
	writeAs(w, ProblemJSON, status, problem{Type: "urn:depositflow:problem:" + d.Code, Title: title, Status: status, Detail: d.Message,
		Instance: r.URL.Path, Code: d.Code, Field: d.Field, RequestID: id})
}

// wantsProblem says whether an Accept header asks for problem details: it
// names application/problem+json with a quality above zero and no lower
// than application/json's.
func wantsProblem(accept string) bool {
	if accept == "" {
		return false
	}
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeAs(w, "application/json", status, v)
}

func writeAs(w http.ResponseWriter, contentType string, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads one JSON object into v: no unknown fields, no trailing data,
// at most MaxBody bytes. An empty body is an empty object where allowEmpty.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return refuse(http.StatusBadRequest, "bad_json", "", "the body must hold exactly one JSON object")
		}
		return nil
	}
	return DecodeError(err)
}

// decodeOptional is decode for a body that may be left out: no body is an
// empty object.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	err := decode(w, r, v)
	var ae *apiError
	if errors.As(err, &ae) && ae.detail.Code == "bad_json" && strings.HasPrefix(ae.detail.Message, "the body is empty") {
		return nil
	}
	return err
}

// DecodeError turns a JSON decoding error into a refusal naming the field.
func DecodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return refuse(http.StatusRequestEntityTooLarge, "body_too_large", "", "the body is larger than %d bytes", MaxBody)
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return refuse(http.StatusBadRequest, "bad_json", "", "the body is not valid JSON: %v", err)
	case errors.Is(err, io.EOF):
		return refuse(http.StatusBadRequest, "bad_json", "", "the body is empty: send a JSON object")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return refuse(http.StatusBadRequest, "wrong_type", "", "the body must be a JSON object")
		}
		return refuse(http.StatusBadRequest, "wrong_type", typ.Field, "%s must be a JSON %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return refuse(http.StatusBadRequest, "unknown_field", f, "unknown field %q", f)
	}
	return refuse(http.StatusBadRequest, "bad_json", "", "the body is not valid JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "integer"
	case goKind == "string":
		return "string"
	case goKind == "slice":
		return "array"
	case goKind == "bool":
		return "boolean"
	}
	return goKind
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ gateway.Principal) error {
	pool, err := s.gw.DB(r.Context())
	if err == nil {
		err = pool.Ping(r.Context())
	}
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// checkCents refuses amounts a PMS cannot mean.
func checkCents(field string, cents int64, zeroOK bool) error {
	switch {
	case cents < 0:
		return refuse(http.StatusUnprocessableEntity, "amount_negative", field, "%s must not be negative", field)
	case cents == 0 && !zeroOK:
		return refuse(http.StatusUnprocessableEntity, "amount_zero", field, "%s must be more than zero", field)
	case cents > MaxCents:
		return refuse(http.StatusUnprocessableEntity, "amount_too_large", field, "%s is larger than %s", field, money.Format(MaxCents))
	}
	return nil
}

// written answers a write: 201 when recorded and signalled, 200 when it was
// recorded before (nothing changed), 202 when recorded but the workflow is
// not told yet (the reconcile pass will).
func written(w http.ResponseWriter, again bool, err error, body map[string]any) error {
	status := http.StatusCreated
	body["status"] = "recorded"
	body["signalled"] = true
	switch {
	case gateway.IsKind(err, gateway.NotSignalled):
		status, body["signalled"], body["note"] = http.StatusAccepted, false, "recorded; the lease's workflow will be told by the next reconcile pass"
	case err != nil:
		return err
	case again:
		status, body["status"] = http.StatusOK, "unchanged"
	}
	writeJSON(w, status, body)
	return nil
}
