// Package api is depositflow's HTTP JSON API for property-management systems
// (`deposits serve`): upsert properties, units, listings, residents and
// leases; post charges, payments, returned payments and move-out dates; read a
// lease's deposit and the invoices to pay. api/openapi.yaml documents every
// route, and a test keeps the two in step.
//
// Every write goes through internal/ingest, as the CLI's do: the fact is
// committed to PostgreSQL first, then the lease's workflow is signalled. A
// post repeated with the same external ID (payment_id, charge_id, lease_id)
// is accepted (200, "unchanged") and changes nothing. A fact committed whose
// signal did not get through is answered 202: the reconcile pass delivers it.
//
// Requests carry an API key (Authorization: Bearer dfk_...), stored as its
// SHA-256 and scoped to properties. Refusals are 4xx with a JSON body
// {"error": {"code", "message", "field"}} and change nothing.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/ingest"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

// MaxCents is the largest amount the API accepts: $10,000,000.00. Anything
// larger from a PMS is a bug on its side, not a deposit.
const MaxCents int64 = 10_000_000_00

// MaxBody is the largest request body read.
const MaxBody = 64 << 10

// Server serves the API over a database pool and a Temporal client.
type Server struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Logger   *slog.Logger
	ingest   *ingest.Service
	mux      *http.ServeMux
	routes   []string
	now      func() time.Time
}

// New returns the API server; Handler serves it.
func New(pool *pgxpool.Pool, tc client.Client, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{Pool: pool, Temporal: tc, Logger: logger, mux: http.NewServeMux(), now: time.Now}
	s.ingest = &ingest.Service{
		DB:       func(context.Context) (*pgxpool.Pool, error) { return pool, nil },
		Temporal: func(context.Context) (client.Client, error) { return tc, nil },
		// A PMS waits on the answer: a Temporal hiccup longer than this is
		// answered 202 and left to the reconcile pass.
		SignalWait: 5 * time.Second,
	}
	s.handle("GET /healthz", false, s.health)
	s.handle("POST /v1/properties", true, s.upsertProperty)
	s.handle("POST /v1/units", true, s.upsertUnit)
	s.handle("POST /v1/listings", true, s.upsertListing)
	s.handle("POST /v1/residents", true, s.upsertResident)
	s.handle("POST /v1/leases", true, s.createLease)
	s.handle("GET /v1/leases/{lease_id}", true, s.getLease)
	s.handle("GET /v1/leases/{lease_id}/invoices", true, s.listInvoices)
	s.handle("POST /v1/leases/{lease_id}/charges", true, s.postCharge)
	s.handle("POST /v1/leases/{lease_id}/payments", true, s.postPayment)
	s.handle("POST /v1/leases/{lease_id}/payments/{payment_id}/return", true, s.returnPayment)
	s.handle("POST /v1/leases/{lease_id}/move-out", true, s.postMoveOut)
	s.handle("POST /v1/leases/{lease_id}/forwarding-address", true, s.postForwarding)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", "", "no such route: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// Handler is the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Routes are the patterns registered, "METHOD /path".
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Caller is who a request comes from: an API key, or the importer.
type Caller struct {
	name       string
	properties []string
}

func (p Caller) may(property string) bool {
	return slices.Contains(p.properties, "*") || slices.Contains(p.properties, property)
}

type ctxKey struct{}

type handler func(w http.ResponseWriter, r *http.Request, p Caller) error

func (s *Server) handle(pattern string, auth bool, h handler) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var p Caller
		if auth {
			var ok bool
			if p, ok = s.authenticate(w, r); !ok {
				return
			}
		}
		rec := &recorder{ResponseWriter: w}
		err := h(rec, r, p)
		if err != nil {
			s.writeError(rec, err)
		}
		s.Logger.Info("api", "method", r.Method, "path", r.URL.Path, "status", rec.status, "key", p.name,
			"duration_ms", time.Since(start).Milliseconds())
	})
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

// KeyPrefix starts every API key, so a leaked one is easy to recognise.
const KeyPrefix = "dfk_"

// NewKey returns a new random API key and its SHA-256, the only form stored.
func NewKey() (key string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key), nil
}

// HashKey is how a key is stored and looked up.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	h := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || !strings.HasPrefix(key, KeyPrefix) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="depositflow"`)
		writeErr(w, http.StatusUnauthorized, "unauthenticated", "", "send an API key: Authorization: Bearer dfk_... (deposits apikey create)")
		return Caller{}, false
	}
	hash := HashKey(strings.TrimSpace(key))
	k, err := db.New(s.Pool).GetAPIKeyByHash(r.Context(), hash)
	// The lookup is by the hash of a 256-bit random key; the comparison is
	// constant-time all the same.
	if errors.Is(err, pgx.ErrNoRows) || err == nil && subtle.ConstantTimeCompare(k.KeyHash, hash) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="depositflow", error="invalid_token"`)
		writeErr(w, http.StatusUnauthorized, "unauthenticated", "", "the API key is unknown or revoked")
		return Caller{}, false
	}
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
		return Caller{}, false
	}
	_ = db.New(s.Pool).TouchAPIKey(r.Context(), k.ApiKeyID)
	return Caller{name: k.Name, properties: k.Properties}, true
}

// apiError is a refusal with its HTTP status.
type apiError struct {
	status int
	code   string
	field  string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func refuse(status int, code, field, format string, args ...any) error {
	return &apiError{status: status, code: code, field: field, msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return refuse(http.StatusUnprocessableEntity, "invalid", field, format, args...)
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	var ie *ingest.Error
	switch {
	case errors.As(err, &ae):
		writeErr(w, ae.status, ae.code, ae.field, ae.msg)
	case errors.As(err, &ie):
		status := map[ingest.Kind]int{
			ingest.Invalid: http.StatusUnprocessableEntity, ingest.NotFound: http.StatusNotFound,
			ingest.Conflict: http.StatusConflict, ingest.Unavailable: http.StatusServiceUnavailable,
		}[ie.Kind]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeErr(w, status, ie.Code, ie.Field, ie.Msg)
	default:
		s.Logger.Error("api", "error", err)
		writeErr(w, http.StatusInternalServerError, "internal", "", "internal error")
	}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeErr(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads one JSON object into v: no unknown fields, no trailing data,
// at most MaxBody bytes.
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

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ Caller) error {
	if err := s.Pool.Ping(r.Context()); err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// Checks on input fields.

func checkID(field, id string) error {
	if id == "" {
		return invalid(field, "%s is required", field)
	}
	if !ingest.ValidID(id) {
		return invalid(field, "%s %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", field, id)
	}
	return nil
}

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

func checkEmail(field, s string) (string, error) {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return "", invalid(field, "%s %q is not an email address", field, s)
	}
	return addr.Address, nil
}

// checkDate reads a YYYY-MM-DD date of something that happened: not more
// than a day ahead (a day of slack covers every time zone), not before 1990.
func (s *Server) checkDate(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, invalid(field, "%s is required (YYYY-MM-DD)", field)
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, invalid(field, "%s %q: write the date as YYYY-MM-DD", field, v)
	}
	if t.After(s.now().Add(24 * time.Hour)) {
		return time.Time{}, invalid(field, "%s %s is in the future", field, v)
	}
	if t.Year() < 1990 {
		return time.Time{}, invalid(field, "%s %s is too far in the past", field, v)
	}
	return t, nil
}

func checkText(field, v string, required bool, maxLen int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" && required {
		return "", invalid(field, "%s is required", field)
	}
	if len(v) > maxLen {
		return "", invalid(field, "%s is longer than %d characters", field, maxLen)
	}
	return v, nil
}

func (p Caller) check(property string) error {
	if !p.may(property) {
		return refuse(http.StatusForbidden, "forbidden", "property_id", "API key %s may not touch property %s", p.name, property)
	}
	return nil
}

// lease finds a lease the key may touch: 404 when it does not exist, 403
// when it is another property's.
func (s *Server) lease(r *http.Request, p Caller) (db.GetLeaseRow, error) {
	return s.leaseByID(r.Context(), r.PathValue("lease_id"), p)
}

func (s *Server) leaseByID(ctx context.Context, id string, p Caller) (db.GetLeaseRow, error) {
	if err := checkID("lease_id", id); err != nil {
		return db.GetLeaseRow{}, err
	}
	l, err := db.New(s.Pool).GetLease(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, refuse(http.StatusNotFound, "lease_not_found", "lease_id", "lease %s does not exist", id)
	}
	if err != nil {
		return l, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	return l, p.check(l.Lease.PropertyID)
}

// audit writes the action to the audit log, refusals included.
func (s *Server) audit(ctx context.Context, p Caller, leaseID, action string, req any, err error) {
	b, _ := json.Marshal(req)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	_, _ = db.New(s.Pool).InsertAudit(context.WithoutCancel(ctx), db.InsertAuditParams{
		Actor: "api:" + p.name, Role: "integration", Principal: "key:" + p.name, LeaseID: leaseID, Action: action, Request: b,
		Accepted: pgtype.Bool{Bool: err == nil, Valid: true}, Result: result,
	})
}

// written answers a write: 201 when recorded and signalled, 200 when it was
// recorded before (nothing changed), 202 when recorded but the workflow is
// not told yet (the reconcile pass will).
func written(w http.ResponseWriter, again bool, err error, body map[string]any) error {
	var ie *ingest.Error
	status := http.StatusCreated
	body["status"] = "recorded"
	body["signalled"] = true
	switch {
	case errors.As(err, &ie) && ie.Kind == ingest.NotSignalled:
		status, body["signalled"], body["note"] = http.StatusAccepted, false, "recorded; the lease's workflow will be told by the next reconcile pass"
	case err != nil:
		return err
	case again:
		status, body["status"] = http.StatusOK, "unchanged"
	}
	writeJSON(w, status, body)
	return nil
}

// The resources.

// Property is a building.
type Property struct {
	PropertyID   string  `json:"property_id"`
	Name         *string `json:"name,omitempty"`
	ManagerEmail *string `json:"manager_email,omitempty"`
}

func (s *Server) upsertProperty(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Property
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.UpsertProperty(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UpsertProperty creates a property or sets its name and manager email.
func (s *Server) UpsertProperty(ctx context.Context, p Caller, in Property) (Property, error) {
	if err := checkID("property_id", in.PropertyID); err != nil {
		return in, err
	}
	if err := p.check(in.PropertyID); err != nil {
		return in, err
	}
	params := db.UpsertPropertyDetailsParams{PropertyID: in.PropertyID}
	if in.Name != nil {
		name, err := checkText("name", *in.Name, false, 200)
		if err != nil {
			return in, err
		}
		params.Name = pgtype.Text{String: name, Valid: true}
	}
	if in.ManagerEmail != nil {
		e, err := checkEmail("manager_email", *in.ManagerEmail)
		if err != nil {
			return in, err
		}
		params.ManagerEmail = pgtype.Text{String: e, Valid: true}
	}
	row, err := db.New(s.Pool).UpsertPropertyDetails(ctx, params)
	if err != nil {
		return in, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	return Property{PropertyID: row.PropertyID, Name: &row.Name, ManagerEmail: &row.ManagerEmail}, nil
}

// Unit is a unit within a property.
type Unit struct {
	PropertyID string `json:"property_id"`
	UnitID     string `json:"unit_id"`
}

func (s *Server) upsertUnit(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Unit
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.UpsertUnit(r.Context(), p, in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// UpsertUnit creates a unit (and its property) if new.
func (s *Server) UpsertUnit(ctx context.Context, p Caller, in Unit) error {
	if err := checkID("property_id", in.PropertyID); err != nil {
		return err
	}
	if err := checkID("unit_id", in.UnitID); err != nil {
		return err
	}
	if err := p.check(in.PropertyID); err != nil {
		return err
	}
	if err := ingest.UpsertUnit(ctx, db.New(s.Pool), in.PropertyID, in.UnitID); err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	return nil
}

// Listing is a unit's publicly advertised deposit.
type Listing struct {
	ListingID            string `json:"listing_id"`
	PropertyID           string `json:"property_id"`
	UnitID               string `json:"unit_id"`
	DepositAmountInCents int64  `json:"deposit_amount_in_cents"`
}

func (s *Server) upsertListing(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Listing
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.UpsertListing(r.Context(), p, in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// UpsertListing creates a listing or sets its advertised deposit.
func (s *Server) UpsertListing(ctx context.Context, p Caller, in Listing) error {
	for _, f := range [][2]string{{"listing_id", in.ListingID}, {"property_id", in.PropertyID}, {"unit_id", in.UnitID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return err
		}
	}
	if err := checkCents("deposit_amount_in_cents", in.DepositAmountInCents, true); err != nil {
		return err
	}
	if err := p.check(in.PropertyID); err != nil {
		return err
	}
	_, err := s.ingest.UpsertListing(ctx, in.ListingID, in.PropertyID, in.UnitID, in.DepositAmountInCents)
	return err
}

// Resident is a tenant, known by the PMS's ID within a property.
type Resident struct {
	ResidentID        string `json:"resident_id"`
	PropertyID        string `json:"property_id"`
	Email             string `json:"email"`
	Name              string `json:"name,omitempty"`
	ForwardingAddress string `json:"forwarding_address,omitempty"`
}

func (s *Server) upsertResident(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Resident
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.UpsertResident(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UpsertResident creates a resident or updates their contact details.
func (s *Server) UpsertResident(ctx context.Context, p Caller, in Resident) (Resident, error) {
	if err := checkID("resident_id", in.ResidentID); err != nil {
		return in, err
	}
	if err := checkID("property_id", in.PropertyID); err != nil {
		return in, err
	}
	if err := p.check(in.PropertyID); err != nil {
		return in, err
	}
	email, err := checkEmail("email", in.Email)
	if err != nil {
		return in, err
	}
	name, err := checkText("name", in.Name, false, 200)
	if err != nil {
		return in, err
	}
	addr, err := checkText("forwarding_address", in.ForwardingAddress, false, 500)
	if err != nil {
		return in, err
	}
	q := db.New(s.Pool)
	if err := q.UpsertProperty(ctx, in.PropertyID); err != nil {
		return in, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	if _, err := q.UpsertExternalResident(ctx, db.UpsertExternalResidentParams{
		PropertyID: pgtype.Text{String: in.PropertyID, Valid: true}, ExternalID: pgtype.Text{String: in.ResidentID, Valid: true},
		Email: email, Name: name, ForwardingAddress: addr,
	}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return in, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	in.Email, in.Name, in.ForwardingAddress = email, name, addr
	return in, nil
}

// Lease starts a lease's deposit workflow.
type Lease struct {
	LeaseID              string   `json:"lease_id"`
	PropertyID           string   `json:"property_id"`
	UnitID               string   `json:"unit_id"`
	ListingID            string   `json:"listing_id,omitempty"`
	DepositAmountInCents int64    `json:"deposit_amount_in_cents,omitempty"`
	ResidentIDs          []string `json:"resident_ids"`
	Shares               []int32  `json:"shares,omitempty"`
	AssessForSeconds     int64    `json:"assess_for_seconds,omitempty"`
	ReleaseAfterSeconds  int64    `json:"release_after_seconds,omitempty"`
	// Jurisdiction overrides the property's deposit law (e.g. US-CA);
	// LeaseStartDate is when the lease began (interest counts from it).
	Jurisdiction   string `json:"jurisdiction,omitempty"`
	LeaseStartDate string `json:"lease_start_date,omitempty"`
}

func (s *Server) createLease(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Lease
	if err := decode(w, r, &in); err != nil {
		return err
	}
	body, status, err := s.CreateLease(r.Context(), p, in)
	s.audit(r.Context(), p, in.LeaseID, "api.lease.start", in, err)
	if err != nil {
		return err
	}
	writeJSON(w, status, body)
	return nil
}

// CreateLease starts a lease; the same lease again is 200, unchanged.
func (s *Server) CreateLease(ctx context.Context, p Caller, in Lease) (map[string]any, int, error) {
	for _, f := range [][2]string{{"lease_id", in.LeaseID}, {"property_id", in.PropertyID}, {"unit_id", in.UnitID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return nil, 0, err
		}
	}
	if in.ListingID != "" {
		if err := checkID("listing_id", in.ListingID); err != nil {
			return nil, 0, err
		}
	}
	if err := checkCents("deposit_amount_in_cents", in.DepositAmountInCents, true); err != nil {
		return nil, 0, err
	}
	if in.DepositAmountInCents == 0 && in.ListingID == "" {
		return nil, 0, invalid("deposit_amount_in_cents", "give the deposit: listing_id (its advertised deposit) or deposit_amount_in_cents")
	}
	if len(in.ResidentIDs) == 0 || len(in.ResidentIDs) > 20 {
		return nil, 0, invalid("resident_ids", "resident_ids names 1 to 20 residents, the first one addressed")
	}
	if in.Shares != nil && len(in.Shares) != len(in.ResidentIDs) {
		return nil, 0, invalid("shares", "shares has %d entries for %d residents", len(in.Shares), len(in.ResidentIDs))
	}
	assess, release := deposit.DefaultAssessFor, deposit.DefaultReleaseAfter
	for _, d := range []struct {
		field string
		secs  int64
		into  *time.Duration
	}{{"assess_for_seconds", in.AssessForSeconds, &assess}, {"release_after_seconds", in.ReleaseAfterSeconds, &release}} {
		if d.secs < 0 || d.secs > int64(deposit.MaxDelay/time.Second) {
			return nil, 0, invalid(d.field, "%s must be from 1 to %d (120 days)", d.field, int64(deposit.MaxDelay/time.Second))
		}
		if d.secs > 0 {
			*d.into = time.Duration(d.secs) * time.Second
		}
	}
	if err := p.check(in.PropertyID); err != nil {
		return nil, 0, err
	}
	var starts time.Time
	if in.LeaseStartDate != "" {
		var err error
		if starts, err = s.checkDate("lease_start_date", in.LeaseStartDate); err != nil {
			return nil, 0, err
		}
	}
	q := db.New(s.Pool)
	li := ingest.LeaseIn{LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID, ListingID: in.ListingID,
		Cents: in.DepositAmountInCents, AssessFor: assess, ReleaseAfter: release, Jurisdiction: in.Jurisdiction, StartsOn: starts}
	seen := map[string]bool{}
	for i, rid := range in.ResidentIDs {
		if seen[rid] {
			return nil, 0, invalid("resident_ids", "resident %s is given twice", rid)
		}
		seen[rid] = true
		res, err := q.GetExternalResident(ctx, db.GetExternalResidentParams{PropertyID: pgtype.Text{String: in.PropertyID, Valid: true}, ExternalID: pgtype.Text{String: rid, Valid: true}})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, 0, invalid("resident_ids", "resident %s of property %s does not exist: POST /v1/residents first", rid, in.PropertyID)
		}
		if err != nil {
			return nil, 0, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
		}
		t := ingest.TenantIn{ResidentID: res.ResidentID, Email: res.Email, Name: res.Name, Share: 1}
		if in.Shares != nil {
			if in.Shares[i] < 1 || in.Shares[i] > 1000 {
				return nil, 0, invalid("shares", "each share is a whole number from 1 to 1000")
			}
			t.Share = in.Shares[i]
		}
		li.Tenants = append(li.Tenants, t)
	}
	out, err := s.ingest.StartLease(ctx, li)
	var ie *ingest.Error
	if errors.As(err, &ie) && ie.Code == "already_started" {
		return map[string]any{"lease_id": in.LeaseID, "workflow_id": workflows.WorkflowID(in.LeaseID), "status": "unchanged"}, http.StatusOK, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return map[string]any{"lease_id": in.LeaseID, "workflow_id": workflows.WorkflowID(in.LeaseID), "run_id": out.RunID, "status": "started"}, http.StatusCreated, nil
}

// Charge is a charge on the resident ledger, known by the PMS's charge_id.
type Charge struct {
	ChargeID      string `json:"charge_id"`
	ChargeCodeID  string `json:"charge_code_id"`
	AmountInCents int64  `json:"amount_in_cents"`
	Description   string `json:"description"`
}

func (s *Server) postCharge(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Charge
	if err := decode(w, r, &in); err != nil {
		return err
	}
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	out, err := s.PostCharge(r.Context(), p, l.Lease.LeaseID, in)
	s.audit(r.Context(), p, l.Lease.LeaseID, "api.charge", in, ignoreNotSignalled(err))
	return written(w, out.Again, err, map[string]any{"lease_id": l.Lease.LeaseID, "charge_id": in.ChargeID, "id": out.ChargeID, "category": out.Category})
}

// PostCharge records a charge once per charge_id.
func (s *Server) PostCharge(ctx context.Context, p Caller, leaseID string, in Charge) (ingest.ChargeOut, error) {
	if err := checkID("charge_id", in.ChargeID); err != nil {
		return ingest.ChargeOut{}, err
	}
	if in.ChargeCodeID == "" {
		return ingest.ChargeOut{}, invalid("charge_code_id", "charge_code_id is required")
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, false); err != nil {
		return ingest.ChargeOut{}, err
	}
	desc, err := checkText("description", in.Description, true, 200)
	if err != nil {
		return ingest.ChargeOut{}, err
	}
	return s.ingest.AddCharge(ctx, ingest.ChargeIn{LeaseID: leaseID, Code: in.ChargeCodeID, Cents: in.AmountInCents, Description: desc,
		Key: "pms/" + leaseID + "/" + in.ChargeID, Actor: "api:" + p.name})
}

// Payment is a payment toward the deposit, known by the PMS's payment_id.
type Payment struct {
	PaymentID       string `json:"payment_id"`
	TransactionDate string `json:"transaction_date"`
	ResidentID      string `json:"resident_id,omitempty"`
	AmountInCents   int64  `json:"amount_in_cents"`
}

func (s *Server) postPayment(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Payment
	if err := decode(w, r, &in); err != nil {
		return err
	}
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	out, err := s.PostPayment(r.Context(), p, l.Lease.LeaseID, in)
	s.audit(r.Context(), p, l.Lease.LeaseID, "api.payment", in, ignoreNotSignalled(err))
	return written(w, out.Again, err, map[string]any{"lease_id": l.Lease.LeaseID, "payment_id": in.PaymentID, "id": out.Payment.PaymentID})
}

// PostPayment records a payment once per payment_id.
func (s *Server) PostPayment(ctx context.Context, p Caller, leaseID string, in Payment) (ingest.PaymentOut, error) {
	if err := checkID("payment_id", in.PaymentID); err != nil {
		return ingest.PaymentOut{}, err
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, false); err != nil {
		return ingest.PaymentOut{}, err
	}
	day, err := s.checkDate("transaction_date", in.TransactionDate)
	if err != nil {
		return ingest.PaymentOut{}, err
	}
	if in.ResidentID != "" {
		if err := checkID("resident_id", in.ResidentID); err != nil {
			return ingest.PaymentOut{}, err
		}
	}
	return s.ingest.RecordPayment(ctx, ingest.PaymentIn{LeaseID: leaseID, Cents: in.AmountInCents, Date: day, Reference: in.PaymentID,
		ResidentExternalID: in.ResidentID, Actor: "api:" + p.name, Strict: true})
}

// ReturnedPayment says a payment came back.
type ReturnedPayment struct {
	Reason string `json:"reason"`
}

func (s *Server) returnPayment(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in ReturnedPayment
	if err := decode(w, r, &in); err != nil {
		return err
	}
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	pid := r.PathValue("payment_id")
	out, err := s.ReturnPayment(r.Context(), p, l.Lease.LeaseID, pid, in)
	s.audit(r.Context(), p, l.Lease.LeaseID, "api.payment.return", map[string]string{"payment_id": pid, "reason": in.Reason}, ignoreNotSignalled(err))
	body := map[string]any{"lease_id": l.Lease.LeaseID, "payment_id": pid}
	if out.Fee != nil {
		body["nsf_fee_in_cents"] = out.Fee.AmountCents
	}
	return written(w, out.Again, err, body)
}

// ReturnPayment marks a payment returned, once.
func (s *Server) ReturnPayment(ctx context.Context, p Caller, leaseID, paymentID string, in ReturnedPayment) (ingest.ReturnOut, error) {
	if err := checkID("payment_id", paymentID); err != nil {
		return ingest.ReturnOut{}, err
	}
	if in.Reason == "" {
		in.Reason = "nsf"
	}
	if !slices.Contains(ingest.ReturnReasons, in.Reason) {
		return ingest.ReturnOut{}, invalid("reason", "reason %q: choose one of %s", in.Reason, strings.Join(ingest.ReturnReasons, ", "))
	}
	return s.ingest.ReturnPayment(ctx, ingest.ReturnIn{LeaseID: leaseID, Reference: paymentID, Reason: in.Reason, Actor: "api:" + p.name})
}

// MoveOut is the resident's realized move-out date.
type MoveOut struct {
	RealizedMoveOutDate string `json:"realized_move_out_date"`
}

func (s *Server) postMoveOut(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in MoveOut
	if err := decode(w, r, &in); err != nil {
		return err
	}
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	out, err := s.PostMoveOut(r.Context(), p, l.Lease.LeaseID, in)
	s.audit(r.Context(), p, l.Lease.LeaseID, "api.moveout", in, ignoreNotSignalled(err))
	return written(w, out.Again, err, map[string]any{"lease_id": l.Lease.LeaseID, "realized_move_out_date": in.RealizedMoveOutDate})
}

// PostMoveOut records the move-out date, once.
func (s *Server) PostMoveOut(ctx context.Context, _ Caller, leaseID string, in MoveOut) (ingest.MoveOutOut, error) {
	day, err := s.checkDate("realized_move_out_date", in.RealizedMoveOutDate)
	if err != nil {
		return ingest.MoveOutOut{}, err
	}
	return s.ingest.RecordMoveOut(ctx, ingest.MoveOutIn{LeaseID: leaseID, At: day})
}

// Forwarding is the tenant's written forwarding address and the day it arrived.
type Forwarding struct {
	ForwardingAddress string `json:"forwarding_address"`
	ReceivedDate      string `json:"received_date"`
}

func (s *Server) postForwarding(w http.ResponseWriter, r *http.Request, p Caller) error {
	var in Forwarding
	if err := decode(w, r, &in); err != nil {
		return err
	}
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	day, err := s.checkDate("received_date", in.ReceivedDate)
	var out ingest.ForwardingOut
	if err == nil {
		out, err = s.ingest.RecordForwarding(r.Context(), ingest.ForwardingIn{LeaseID: l.Lease.LeaseID, Address: in.ForwardingAddress, At: day})
	}
	s.audit(r.Context(), p, l.Lease.LeaseID, "api.forwarding-address", in, ignoreNotSignalled(err))
	return written(w, out.Again, err, map[string]any{"lease_id": l.Lease.LeaseID, "forwarding_address": out.Address, "received_date": out.At.Format(time.DateOnly)})
}

func ignoreNotSignalled(err error) error {
	var ie *ingest.Error
	if errors.As(err, &ie) && ie.Kind == ingest.NotSignalled {
		return nil
	}
	return err
}

// getLease answers the lease's deposit as its workflow knows it.
func (s *Server) getLease(w http.ResponseWriter, r *http.Request, p Caller) error {
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	st, err := s.state(r.Context(), l.Lease.LeaseID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) state(ctx context.Context, leaseID string) (deposit.State, error) {
	var st deposit.State
	wid := workflows.WorkflowID(leaseID)
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, refuse(http.StatusNotFound, "workflow_not_found", "lease_id", "lease %s has no deposit workflow yet (the next reconcile pass starts it)", leaseID)
	}
	if err != nil {
		return st, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach Temporal")
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := s.Temporal.GetWorkflow(ctx, wid, "").Get(ctx, &st); err != nil {
			return st, refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach Temporal")
		}
		return st, nil
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := s.Temporal.QueryWorkflow(qctx, wid, "", workflows.QueryState)
	if err != nil {
		return st, refuse(http.StatusServiceUnavailable, "unavailable", "", "no deposits worker answered for lease %s", leaseID)
	}
	return st, v.Get(&st)
}

// Invoice is money to move for a lease: a refund payout to pay to a
// resident, or a balance the resident owes.
type Invoice struct {
	InvoiceID        string    `json:"invoice_id"`
	Kind             string    `json:"kind"` // refund (pay it to the recipient) or balance_owed (collect it)
	AmountDueInCents int64     `json:"amount_due_in_cents"`
	Status           string    `json:"status"`
	Recipient        Recipient `json:"recipient"`
	CreatedAt        time.Time `json:"created_at"`
}

// Recipient is who an invoice is for.
type Recipient struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Address string `json:"address,omitempty"`
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, p Caller) error {
	l, err := s.lease(r, p)
	if err != nil {
		return err
	}
	q := db.New(s.Pool)
	refunds, err := q.ListLeaseRefunds(r.Context(), l.Lease.LeaseID)
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	invoices, err := q.ListInvoices(r.Context(), l.Lease.LeaseID)
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	out := []Invoice{}
	for _, f := range refunds {
		out = append(out, Invoice{InvoiceID: fmt.Sprintf("refund-%d", f.RefundID), Kind: "refund", AmountDueInCents: f.AmountInCents, Status: f.Status,
			Recipient: Recipient{Name: f.RecipientName, Email: f.RecipientEmail, Address: f.RecipientAddress}, CreatedAt: f.CreatedAt})
	}
	for _, inv := range invoices {
		out = append(out, Invoice{InvoiceID: fmt.Sprintf("invoice-%d", inv.InvoiceID), Kind: "balance_owed", AmountDueInCents: inv.AmountDueInCents, Status: inv.Status,
			Recipient: Recipient{Name: inv.RecipientName, Email: inv.RecipientEmail, Address: inv.RecipientAddress}, CreatedAt: inv.CreatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"lease_id": l.Lease.LeaseID, "invoices": out})
	return nil
}

// ImportCaller returns the identity an in-process caller (the importer) acts
// as: every property, under the given name.
func ImportCaller(name string) Caller { return Caller{name: name, properties: []string{"*"}} }
