package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

// The resources a property-management system posts, with the PMS's field
// names (Propexo's): deposit_amount_in_cents, charge_code_id,
// amount_in_cents, transaction_date, resident_id, realized_move_out_date.
// People's CLI posts the same facts to the same routes.

func (s *Server) pmsRoutes() {
	s.handle("POST /v1/properties", true, s.upsertProperty)
	s.handle("POST /v1/units", true, s.upsertUnit)
	s.handle("POST /v1/listings", true, s.upsertListing)
	s.handle("POST /v1/residents", true, s.upsertResident)
	s.handle("POST /v1/leases", true, s.createLease)
	s.handle("GET /v1/leases/{lease_id}", true, s.getLease)
	s.handle("GET /v1/leases/{lease_id}/invoices", true, s.leaseInvoices)
	s.handle("GET /v1/invoices", true, s.listInvoices)
	s.handle("POST /v1/leases/{lease_id}/charges", true, s.postCharge)
	s.handle("POST /v1/leases/{lease_id}/payments", true, s.postPayment)
	s.handle("POST /v1/leases/{lease_id}/payments/{payment_id}/return", true, s.returnPayment)
	s.handle("POST /v1/leases/{lease_id}/move-out", true, s.postMoveOut)
	s.handle("POST /v1/leases/{lease_id}/forwarding-address", true, s.postForwarding)
}

// Property is a building.
type Property struct {
	PropertyID   string  `json:"property_id"`
	Name         *string `json:"name,omitempty"`
	ManagerEmail *string `json:"manager_email,omitempty"`
}

func (s *Server) upsertProperty(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Property
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.UpsertProperty(r.Context(), who, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UpsertProperty creates a property or sets its name and manager email.
func (s *Server) UpsertProperty(ctx context.Context, who gateway.Principal, in Property) (Property, error) {
	p, err := s.gw.UpsertProperty(ctx, who, in.PropertyID, in.Name, in.ManagerEmail)
	if err != nil {
		return in, err
	}
	return Property{PropertyID: p.PropertyID, Name: &p.Name, ManagerEmail: &p.ManagerEmail}, nil
}

// Unit is a unit within a property.
type Unit struct {
	PropertyID string `json:"property_id"`
	UnitID     string `json:"unit_id"`
}

func (s *Server) upsertUnit(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Unit
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.gw.AddUnit(r.Context(), who, in.PropertyID, in.UnitID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// Listing is a unit's publicly advertised deposit.
type Listing struct {
	ListingID            string `json:"listing_id"`
	PropertyID           string `json:"property_id"`
	UnitID               string `json:"unit_id"`
	DepositAmountInCents int64  `json:"deposit_amount_in_cents"`
	// Currency is the property's (answered; when sent, it must be the property's).
	Currency string `json:"currency,omitempty"`
}

func (s *Server) upsertListing(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Listing
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.UpsertListing(r.Context(), who, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UpsertListing creates a listing or sets its advertised deposit.
func (s *Server) UpsertListing(ctx context.Context, who gateway.Principal, in Listing) (Listing, error) {
	if err := checkCents("deposit_amount_in_cents", in.DepositAmountInCents, true); err != nil {
		return in, err
	}
	l, err := s.gw.UpsertListing(ctx, who, gateway.ListingIn{ListingID: in.ListingID, PropertyID: in.PropertyID, UnitID: in.UnitID,
		Cents: in.DepositAmountInCents, Currency: in.Currency})
	in.Currency = l.Currency
	return in, err
}

// Resident is a tenant, known by the PMS's ID within a property.
type Resident = gateway.ResidentIn

func (s *Server) upsertResident(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Resident
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.gw.UpsertResident(r.Context(), who, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Lease starts a lease's deposit workflow. Its tenants are residents a PMS
// posted before (resident_ids, with shares), or people named by email
// (tenants), as the CLI does.
type Lease struct {
	LeaseID              string   `json:"lease_id"`
	PropertyID           string   `json:"property_id"`
	UnitID               string   `json:"unit_id"`
	ListingID            string   `json:"listing_id,omitempty"`
	DepositAmountInCents int64    `json:"deposit_amount_in_cents,omitempty"`
	Currency             string   `json:"currency,omitempty"`
	ResidentIDs          []string `json:"resident_ids,omitempty"`
	Shares               []int32  `json:"shares,omitempty"`
	Tenants              []Tenant `json:"tenants,omitempty"`
	AssessForSeconds     int64    `json:"assess_for_seconds,omitempty"`
	ReleaseAfterSeconds  int64    `json:"release_after_seconds,omitempty"`
	// Jurisdiction overrides the property's deposit law (e.g. US-CA);
	// LeaseStartDate is when the lease began (interest counts from it).
	Jurisdiction   string `json:"jurisdiction,omitempty"`
	LeaseStartDate string `json:"lease_start_date,omitempty"`
	// CardPaymentMethod is the tenant's card where the property takes
	// deposits as card holds (pm_...).
	CardPaymentMethod string `json:"card_payment_method,omitempty"`
}

// Tenant is a tenant of a new lease named by email.
type Tenant struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Share int32  `json:"share,omitempty"`
}

// LeaseStarted is the answer to a lease start.
type LeaseStarted struct {
	LeaseID             string `json:"lease_id"`
	WorkflowID          string `json:"workflow_id"`
	RunID               string `json:"run_id,omitempty"`
	Status              string `json:"status"` // started, or unchanged when it was started before
	DepositAmountInCent int64  `json:"deposit_amount_in_cents,omitempty"`
	Currency            string `json:"currency"`
	AssessForSeconds    int64  `json:"assess_for_seconds"`
	ReleaseAfterSeconds int64  `json:"release_after_seconds"`
	Jurisdiction        string `json:"jurisdiction"`
}

func (s *Server) createLease(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Lease
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.CreateLease(r.Context(), who, in)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if out.Status == "unchanged" {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
	return nil
}

// CreateLease starts a lease; the same lease again is unchanged.
func (s *Server) CreateLease(ctx context.Context, who gateway.Principal, in Lease) (LeaseStarted, error) {
	var out LeaseStarted
	if err := checkCents("deposit_amount_in_cents", in.DepositAmountInCents, true); err != nil {
		return out, err
	}
	if in.DepositAmountInCents == 0 && in.ListingID == "" {
		return out, invalid("deposit_amount_in_cents", "give the deposit: listing_id (its advertised deposit) or deposit_amount_in_cents")
	}
	if len(in.ResidentIDs) > 0 && len(in.Tenants) > 0 {
		return out, invalid("tenants", "name the tenants by resident_ids or by tenants, not both")
	}
	if in.Shares != nil && len(in.Shares) != len(in.ResidentIDs) {
		return out, invalid("shares", "shares has %d entries for %d residents", len(in.Shares), len(in.ResidentIDs))
	}
	assess, release := deposit.DefaultAssessFor, deposit.DefaultReleaseAfter
	for _, d := range []struct {
		field string
		secs  int64
		into  *time.Duration
	}{{"assess_for_seconds", in.AssessForSeconds, &assess}, {"release_after_seconds", in.ReleaseAfterSeconds, &release}} {
		if d.secs < 0 || d.secs > int64(deposit.MaxDelay/time.Second) {
			return out, invalid(d.field, "%s must be from 1 to %d (120 days)", d.field, int64(deposit.MaxDelay/time.Second))
		}
		if d.secs > 0 {
			*d.into = time.Duration(d.secs) * time.Second
		}
	}
	var starts time.Time
	if in.LeaseStartDate != "" {
		var err error
		if starts, err = s.checkDate("lease_start_date", in.LeaseStartDate); err != nil {
			return out, err
		}
	}
	li := gateway.LeaseIn{LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID, ListingID: in.ListingID, Currency: in.Currency,
		Cents: in.DepositAmountInCents, AssessFor: assess, ReleaseAfter: release, Jurisdiction: in.Jurisdiction, StartsOn: starts,
		CardPaymentMethod: in.CardPaymentMethod}
	for i, rid := range in.ResidentIDs {
		t := gateway.TenantIn{ExternalID: rid, Share: 1}
		if in.Shares != nil {
			t.Share = in.Shares[i]
		}
		li.Tenants = append(li.Tenants, t)
	}
	for _, t := range in.Tenants {
		li.Tenants = append(li.Tenants, gateway.TenantIn{Email: t.Email, Name: t.Name, Share: t.Share})
	}
	started, err := s.gw.StartLease(ctx, who, li)
	out = LeaseStarted{LeaseID: in.LeaseID, WorkflowID: started.WorkflowID, RunID: started.RunID, Status: "started",
		DepositAmountInCent: started.Input.AmountCents, AssessForSeconds: started.Input.AssessForSeconds,
		ReleaseAfterSeconds: started.Input.ReleaseAfterSeconds, Jurisdiction: started.Input.Jurisdiction, Currency: started.Currency}
	if gateway.IsKind(err, gateway.Conflict) && isCode(err, "already_started") {
		out.Status, out.RunID = "unchanged", ""
		return out, nil
	}
	return out, err
}

func isCode(err error, code string) bool {
	ge, ok := err.(*gateway.Error)
	return ok && ge.Code == code
}

// Charge is a charge on the resident ledger, known by the PMS's charge_id
// (or a person's reference; made from the content when absent).
type Charge struct {
	ChargeID      string `json:"charge_id,omitempty"`
	ChargeCodeID  string `json:"charge_code_id"`
	AmountInCents int64  `json:"amount_in_cents"`
	Currency      string `json:"currency,omitempty"`
	Description   string `json:"description"`
}

func (s *Server) postCharge(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Charge
	if err := decode(w, r, &in); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.PostCharge(r.Context(), who, leaseID, in)
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "charge_id": out.Ref, "id": out.ChargeID,
		"category": out.Category, "pending_approval": out.Pending})
}

// PostCharge records a charge once per charge_id.
func (s *Server) PostCharge(ctx context.Context, who gateway.Principal, leaseID string, in Charge) (gateway.ChargeOut, error) {
	if in.ChargeCodeID == "" {
		return gateway.ChargeOut{}, invalid("charge_code_id", "charge_code_id is required")
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, false); err != nil {
		return gateway.ChargeOut{}, err
	}
	return s.gw.AddCharge(ctx, who, gateway.ChargeIn{LeaseID: leaseID, Code: in.ChargeCodeID, Cents: in.AmountInCents, Currency: in.Currency,
		Description: in.Description, Ref: in.ChargeID})
}

// Payment is a payment toward the deposit, known by the PMS's payment_id
// (made from the amount and date when absent).
type Payment struct {
	PaymentID       string `json:"payment_id,omitempty"`
	TransactionDate string `json:"transaction_date,omitempty"`
	ResidentID      string `json:"resident_id,omitempty"`
	AmountInCents   int64  `json:"amount_in_cents"`
	Currency        string `json:"currency,omitempty"`
	// CardPaymentIntent: paid by card through the card provider (pi_...);
	// a refund goes back to the card.
	CardPaymentIntent string `json:"card_payment_intent,omitempty"`
}

func (s *Server) postPayment(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Payment
	if err := decode(w, r, &in); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.PostPayment(r.Context(), who, leaseID, in)
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "payment_id": out.Payment.Reference, "id": out.Payment.PaymentID})
}

// PostPayment records a payment once per payment_id.
func (s *Server) PostPayment(ctx context.Context, who gateway.Principal, leaseID string, in Payment) (gateway.PaymentOut, error) {
	if err := checkCents("amount_in_cents", in.AmountInCents, false); err != nil {
		return gateway.PaymentOut{}, err
	}
	var day time.Time
	if in.TransactionDate != "" {
		var err error
		if day, err = s.checkDate("transaction_date", in.TransactionDate); err != nil {
			return gateway.PaymentOut{}, err
		}
	}
	return s.gw.RecordPayment(ctx, who, gateway.PaymentIn{LeaseID: leaseID, Cents: in.AmountInCents, Currency: in.Currency, Date: day,
		Reference: in.PaymentID, ResidentExternalID: in.ResidentID, CardPaymentIntent: in.CardPaymentIntent})
}

// ReturnedPayment says a payment came back.
type ReturnedPayment struct {
	Reason string `json:"reason"`
}

func (s *Server) returnPayment(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in ReturnedPayment
	if err := decode(w, r, &in); err != nil {
		return err
	}
	leaseID, pid := r.PathValue("lease_id"), r.PathValue("payment_id")
	out, err := s.gw.ReturnPayment(r.Context(), who, gateway.ReturnIn{LeaseID: leaseID, Reference: pid, Reason: in.Reason})
	body := map[string]any{"lease_id": leaseID, "payment_id": pid, "amount_in_cents": out.Payment.AmountInCents}
	if out.Payment.ReturnedAt != nil {
		body["returned_at"] = out.Payment.ReturnedAt.UTC()
		body["reason"] = out.Payment.ReturnReason
	}
	if out.Fee != nil {
		body["nsf_fee_in_cents"] = out.Fee.AmountCents
	}
	return written(w, out.Again, err, body)
}

// MoveOut is the lease's realized move-out: a day (YYYY-MM-DD, in the
// property's time zone), an exact RFC 3339 instant, or absent for now.
type MoveOut struct {
	RealizedMoveOutDate string `json:"realized_move_out_date,omitempty"`
}

func (s *Server) postMoveOut(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in MoveOut
	if err := decodeOptional(w, r, &in); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.gw.RecordMoveOut(r.Context(), who, gateway.MoveOutIn{LeaseID: leaseID, Date: in.RealizedMoveOutDate})
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "realized_move_out_at": out.At.UTC()})
}

// Forwarding is the tenant's written forwarding address and the day it arrived.
type Forwarding struct {
	ForwardingAddress string `json:"forwarding_address"`
	ReceivedDate      string `json:"received_date,omitempty"`
}

func (s *Server) postForwarding(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Forwarding
	if err := decode(w, r, &in); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.gw.RecordForwarding(r.Context(), who, gateway.ForwardingIn{LeaseID: leaseID, Address: in.ForwardingAddress, Date: in.ReceivedDate})
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "forwarding_address": out.Address, "received_date": out.Day})
}

// getLease answers the lease's deposit as its workflow knows it.
func (s *Server) getLease(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	st, err := s.gw.State(r.Context(), who, r.PathValue("lease_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) leaseInvoices(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	leaseID := r.PathValue("lease_id")
	invoices, err := s.gw.Invoices(r.Context(), who, leaseID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"lease_id": leaseID, "invoices": invoices})
	return nil
}

// listInvoices answers a page of what the PMS must pay or collect across
// the caller's leases: ?status=open&property_id=&cursor=&limit=.
func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	f := gateway.InvoiceFilter{Status: q.Get("status"), PropertyID: q.Get("property_id"), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = limit(q.Get("limit")); err != nil {
		return err
	}
	page, err := s.gw.ListInvoices(r.Context(), who, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// checkDate reads a YYYY-MM-DD date of something that happened: not more
// than a day ahead (a day of slack covers every time zone), not before 1990.
func (s *Server) checkDate(field, v string) (time.Time, error) {
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

// describe names an item of an import for its report.
func describe(kind, id, leaseID string) string {
	if leaseID == "" {
		return kind + " " + id
	}
	return fmt.Sprintf("%s %s of lease %s", kind, id, leaseID)
}
