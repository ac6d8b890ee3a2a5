package depositclient

import (
	"context"
	"time"
)

// What a property-management system posts and reads, in the API's shapes
// (api/openapi.yaml names each schema; a test holds these types to it).
// Money is integer minor units (cents) of the lease's currency.

// Property is a building (schema Property).
type Property struct {
	PropertyID   string `json:"property_id"`
	Name         string `json:"name,omitempty"`
	ManagerEmail string `json:"manager_email,omitempty"`
}

// Unit is a unit of a property (schema Unit).
type Unit struct {
	PropertyID string `json:"property_id"`
	UnitID     string `json:"unit_id"`
}

// Listing is a unit's advertised deposit (schema Listing).
type Listing struct {
	ListingID            string `json:"listing_id"`
	PropertyID           string `json:"property_id"`
	UnitID               string `json:"unit_id"`
	DepositAmountInCents int64  `json:"deposit_amount_in_cents,omitempty"`
	Currency             string `json:"currency,omitempty"`
}

// Resident is a tenant known by the PMS's ID within a property (schema Resident).
type Resident struct {
	ResidentID        string `json:"resident_id"`
	PropertyID        string `json:"property_id"`
	Email             string `json:"email"`
	Name              string `json:"name,omitempty"`
	ForwardingAddress string `json:"forwarding_address,omitempty"`
}

// Lease starts a lease's deposit (schema Lease): its tenants are residents
// posted before (ResidentIDs, with Shares) or people named by email (Tenants).
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
	Jurisdiction         string   `json:"jurisdiction,omitempty"`
	LeaseStartDate       string   `json:"lease_start_date,omitempty"` // YYYY-MM-DD
	// CardPaymentMethod is the tenant's card (pm_...) where the property
	// takes deposits as card holds.
	CardPaymentMethod string `json:"card_payment_method,omitempty"`
}

// Tenant is a tenant of a new lease named by email (schema Tenant).
type Tenant struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	Share int32  `json:"share,omitempty"`
}

// LeaseStarted answers a lease's start (schema LeaseStarted); Status is
// started, or unchanged when the same lease was started before.
type LeaseStarted struct {
	LeaseID              string `json:"lease_id"`
	WorkflowID           string `json:"workflow_id"`
	RunID                string `json:"run_id,omitempty"`
	Status               string `json:"status"`
	DepositAmountInCents int64  `json:"deposit_amount_in_cents,omitempty"`
	Currency             string `json:"currency"`
	AssessForSeconds     int64  `json:"assess_for_seconds"`
	ReleaseAfterSeconds  int64  `json:"release_after_seconds"`
	Jurisdiction         string `json:"jurisdiction"`
}

// Payment is a payment toward the deposit (schema Payment).
type Payment struct {
	PaymentID       string `json:"payment_id,omitempty"`
	TransactionDate string `json:"transaction_date,omitempty"` // YYYY-MM-DD; absent, today
	ResidentID      string `json:"resident_id,omitempty"`
	AmountInCents   int64  `json:"amount_in_cents"`
	Currency        string `json:"currency,omitempty"`
	// CardPaymentIntent: paid by card through the card provider (pi_...).
	CardPaymentIntent string `json:"card_payment_intent,omitempty"`
}

// Charge is a charge on the resident ledger (schema Charge).
type Charge struct {
	ChargeID      string `json:"charge_id,omitempty"`
	ChargeCodeID  string `json:"charge_code_id"`
	AmountInCents int64  `json:"amount_in_cents"`
	Currency      string `json:"currency,omitempty"`
	Description   string `json:"description"`
}

// MoveOut is a lease's realized move-out (schema MoveOut): a day
// (YYYY-MM-DD, in the lease's time zone), an RFC 3339 instant, or "" for now.
type MoveOut struct {
	RealizedMoveOutDate string `json:"realized_move_out_date,omitempty"`
}

// Forwarding is the tenant's written forwarding address (schema Forwarding).
type Forwarding struct {
	ForwardingAddress string `json:"forwarding_address"`
	ReceivedDate      string `json:"received_date,omitempty"`
}

// Written says how a write went: Status recorded (and Signalled, or not yet:
// the next reconcile pass tells the lease's workflow) or unchanged (the
// same fact was recorded before).
type Written struct {
	Status    string `json:"status"`
	Signalled bool   `json:"signalled"`
	Note      string `json:"note,omitempty"`
}

// PaymentWritten answers a payment (schema PaymentWritten).
type PaymentWritten struct {
	Written
	LeaseID   string `json:"lease_id"`
	PaymentID string `json:"payment_id"`
	ID        int64  `json:"id"`
}

// ChargeWritten answers a charge (schema ChargeWritten).
type ChargeWritten struct {
	Written
	LeaseID         string `json:"lease_id"`
	ChargeID        string `json:"charge_id"`
	ID              int64  `json:"id"`
	Category        string `json:"category"`
	PendingApproval bool   `json:"pending_approval"`
}

// PaymentReturned answers a returned payment (schema PaymentReturned).
type PaymentReturned struct {
	Written
	LeaseID       string    `json:"lease_id"`
	PaymentID     string    `json:"payment_id"`
	AmountInCents int64     `json:"amount_in_cents"`
	ReturnedAt    time.Time `json:"returned_at,omitzero"`
	Reason        string    `json:"reason,omitempty"`
	NSFFeeInCents int64     `json:"nsf_fee_in_cents,omitempty"`
}

// MoveOutWritten answers a move-out (schema MoveOutWritten).
type MoveOutWritten struct {
	Written
	LeaseID           string    `json:"lease_id"`
	RealizedMoveOutAt time.Time `json:"realized_move_out_at"`
}

// ForwardingWritten answers a forwarding address (schema ForwardingWritten).
type ForwardingWritten struct {
	Written
	LeaseID           string `json:"lease_id"`
	ForwardingAddress string `json:"forwarding_address"`
	ReceivedDate      string `json:"received_date"`
}

// Who is the caller as the server authenticated it (schema Who).
type Who struct {
	Kind       string     `json:"kind"` // user or key
	Name       string     `json:"name"`
	Roles      []string   `json:"roles"`
	Properties []string   `json:"properties"` // "*" is every property
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// LeaseState is where a lease's deposit stands, as its workflow knows it:
// the part of schema DepositState an integration reads most.
type LeaseState struct {
	LeaseID          string    `json:"lease_id"`
	PropertyID       string    `json:"property_id"`
	UnitID           string    `json:"unit_id"`
	Stage            string    `json:"stage"`
	Outcome          string    `json:"outcome,omitempty"`
	Currency         string    `json:"currency,omitempty"`
	ExpectedCents    int64     `json:"expected_cents"`
	PaidCents        int64     `json:"paid_cents"`
	ReceivedCents    int64     `json:"received_cents"`
	ArrearsCents     int64     `json:"arrears_cents"`
	DeductionsCents  int64     `json:"deductions_cents"`
	KeptCents        int64     `json:"kept_cents"`
	RefundCents      int64     `json:"refund_cents"`
	BalanceOwedCents int64     `json:"balance_owed_cents"`
	MovedOutAt       time.Time `json:"moved_out_at,omitzero"`
	ReleaseAt        time.Time `json:"release_at,omitzero"`
	ClosedAt         time.Time `json:"closed_at,omitzero"`
}

// Invoice is money to move for a lease (schema Invoice): a refund to pay
// to the recipient (Kind refund), or a balance to collect (balance_owed).
type Invoice struct {
	InvoiceID        string    `json:"invoice_id"`
	LeaseID          string    `json:"lease_id"`
	PropertyID       string    `json:"property_id"`
	Kind             string    `json:"kind"`
	AmountDueInCents int64     `json:"amount_due_in_cents"`
	Currency         string    `json:"currency"`
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

// Me says who the client's credential is.
func (c *Client) Me(ctx context.Context) (Who, error) {
	var out Who
	return out, c.Get(ctx, "/v1/me", nil, &out)
}

// UpsertProperty creates a property or sets its name and manager email.
func (c *Client) UpsertProperty(ctx context.Context, p Property) (Property, error) {
	var out Property
	_, err := c.Post(ctx, "/v1/properties", p, "", &out)
	return out, err
}

// UpsertUnit creates a unit (and its property) if new.
func (c *Client) UpsertUnit(ctx context.Context, u Unit) (Unit, error) {
	var out Unit
	_, err := c.Post(ctx, "/v1/units", u, "", &out)
	return out, err
}

// UpsertListing creates a listing or sets its advertised deposit.
func (c *Client) UpsertListing(ctx context.Context, l Listing) (Listing, error) {
	var out Listing
	_, err := c.Post(ctx, "/v1/listings", l, "", &out)
	return out, err
}

// UpsertResident creates a resident or updates their contact details.
func (c *Client) UpsertResident(ctx context.Context, r Resident) (Resident, error) {
	var out Resident
	_, err := c.Post(ctx, "/v1/residents", r, "", &out)
	return out, err
}

// StartLease starts a lease's deposit; the same lease again is unchanged.
func (c *Client) StartLease(ctx context.Context, l Lease) (LeaseStarted, error) {
	var out LeaseStarted
	_, err := c.Post(ctx, "/v1/leases", l, "", &out)
	return out, err
}

// PostPayment records a payment once per PaymentID.
func (c *Client) PostPayment(ctx context.Context, leaseID string, p Payment) (PaymentWritten, error) {
	var out PaymentWritten
	_, err := c.Post(ctx, LeasePath(leaseID, "payments"), p, "", &out)
	return out, err
}

// PostCharge records a charge once per ChargeID.
func (c *Client) PostCharge(ctx context.Context, leaseID string, ch Charge) (ChargeWritten, error) {
	var out ChargeWritten
	_, err := c.Post(ctx, LeasePath(leaseID, "charges"), ch, "", &out)
	return out, err
}

// ReturnPayment records that a payment came back (reason nsf,
// closed_account, invalid_account, stopped_payment or other; "" is nsf).
func (c *Client) ReturnPayment(ctx context.Context, leaseID, paymentID, reason string) (PaymentReturned, error) {
	var out PaymentReturned
	body := struct {
		Reason string `json:"reason,omitempty"`
	}{reason}
	_, err := c.Post(ctx, LeasePath(leaseID, "payments", paymentID, "return"), body, "", &out)
	return out, err
}

// PostMoveOut records the lease's realized move-out.
func (c *Client) PostMoveOut(ctx context.Context, leaseID string, m MoveOut) (MoveOutWritten, error) {
	var out MoveOutWritten
	_, err := c.Post(ctx, LeasePath(leaseID, "move-out"), m, "", &out)
	return out, err
}

// PostForwardingAddress records the tenant's written forwarding address.
func (c *Client) PostForwardingAddress(ctx context.Context, leaseID string, f Forwarding) (ForwardingWritten, error) {
	var out ForwardingWritten
	_, err := c.Post(ctx, LeasePath(leaseID, "forwarding-address"), f, "", &out)
	return out, err
}

// Lease reads where a lease's deposit stands.
func (c *Client) Lease(ctx context.Context, leaseID string) (LeaseState, error) {
	var out LeaseState
	return out, c.Get(ctx, LeasePath(leaseID), nil, &out)
}

// LeaseInvoices lists a lease's refunds to pay and balances to collect.
func (c *Client) LeaseInvoices(ctx context.Context, leaseID string) ([]Invoice, error) {
	var out struct {
		Invoices []Invoice `json:"invoices"`
	}
	return out.Invoices, c.Get(ctx, LeasePath(leaseID, "invoices"), nil, &out)
}
