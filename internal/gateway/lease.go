package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

// TenantIn is one tenant of a new lease: a resident a PMS posted before,
// by its own ID (ExternalID), or one to create (Email and Name, as people
// type them).
type TenantIn struct {
	ExternalID string `json:"resident_id,omitempty"`
	Email      string `json:"email,omitempty"`
	Name       string `json:"name,omitempty"`
	Share      int32  `json:"share"`
	residentID int64
}

// LeaseIn is a lease to start: its unit, its deposit (the listing's, or
// Cents) and its tenants, the first of whom is addressed.
type LeaseIn struct {
	LeaseID, PropertyID, UnitID, ListingID string
	Cents                                  int64
	Currency                               string // empty, or the property's
	AssessFor, ReleaseAfter                time.Duration
	Tenants                                []TenantIn
	// Jurisdiction overrides the property's (rules.None: no statute); empty
	// takes the property's. StartsOn is the day the lease began (interest and
	// short-stay exemptions count from it); zero is today.
	Jurisdiction string
	StartsOn     time.Time
	// CardPaymentMethod is the tenant's card (a provider payment method
	// ID, pm_...) where the property takes deposits as card holds.
	CardPaymentMethod string
}

// MarshalJSON writes a lease start as the audit log keeps it: the API's
// field names, durations in seconds.
func (in LeaseIn) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"lease_id": in.LeaseID, "property_id": in.PropertyID, "unit_id": in.UnitID, "listing_id": in.ListingID,
		"deposit_amount_in_cents": in.Cents, "currency": in.Currency, "tenants": in.Tenants,
		"assess_for_seconds": int64(in.AssessFor / time.Second), "release_after_seconds": int64(in.ReleaseAfter / time.Second),
		"jurisdiction": in.Jurisdiction, "lease_start_date": in.StartsOn.Format(time.DateOnly),
		"card_payment_method": in.CardPaymentMethod,
	})
}

// LeaseOut is the started workflow's input and run, and the lease's currency.
type LeaseOut struct {
	Input      workflows.LeaseInput
	WorkflowID string
	RunID      string
	Currency   string
}

// StartLease commits the lease (its property, unit, residents and terms),
// then starts its workflow. If the start fails, starting the same lease again
// finds it in the database and starts its workflow with the terms stored
// first (and the reconcile pass starts it too). A lease whose workflow runs
// already is refused with code already_started.
func (g *Gateway) StartLease(ctx context.Context, who Principal, in LeaseIn) (out LeaseOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "lease.start", in, err) }()
	if err := who.may("lease.start"); err != nil {
		return out, err
	}
	for _, f := range [][2]string{{"lease_id", in.LeaseID}, {"property_id", in.PropertyID}, {"unit_id", in.UnitID}} {
		if err := CheckID(f[0], f[1]); err != nil {
			return out, err
		}
	}
	if in.ListingID != "" {
		if err := CheckID("listing_id", in.ListingID); err != nil {
			return out, err
		}
	}
	if err := who.property(in.PropertyID); err != nil {
		return out, err
	}
	if len(in.Tenants) > 20 {
		return out, fail(Invalid, "too_many", "resident_ids", "a lease has at most 20 tenants")
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{{"assess_for_seconds", in.AssessFor}, {"release_after_seconds", in.ReleaseAfter}} {
		if d.d <= 0 || d.d > deposit.MaxDelay || d.d%time.Second != 0 {
			return out, fail(Invalid, "invalid", d.field, "%s must be whole seconds, from 1 second to 120 days", d.field)
		}
	}
	if len(in.Tenants) == 0 {
		return out, fail(Invalid, "missing_field", "resident_ids", "a lease needs at least one tenant")
	}
	seen := map[string]bool{}
	for i, t := range in.Tenants {
		if t.Share == 0 {
			t.Share = 1
		}
		if t.Share < 1 || t.Share > 1000 {
			return out, fail(Invalid, "invalid", "shares", "each share is a whole number from 1 to 1000")
		}
		who := t.ExternalID
		if who == "" {
			addr, err := mail.ParseAddress(t.Email)
			if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
				return out, fail(Invalid, "invalid", "tenants", "tenant email %q is not an email address", t.Email)
			}
			t.Email, t.Name = addr.Address, strings.TrimSpace(t.Name)
			if len(t.Name) > MaxDescription {
				return out, fail(Invalid, "too_long", "tenants", "a tenant's name is longer than %d characters", MaxDescription)
			}
			who = strings.ToLower(t.Email)
		} else if err := CheckID("resident_ids", t.ExternalID); err != nil {
			return out, err
		}
		if seen[who] {
			return out, fail(Invalid, "invalid", "resident_ids", "tenant %s is given twice", who)
		}
		seen[who] = true
		in.Tenants[i] = t
	}
	if in.Cents < 0 || in.Cents > money.MaxCents {
		return out, CheckCents("deposit_amount_in_cents", in.Cents)
	}
	if in.Cents == 0 && in.ListingID == "" {
		return out, fail(Invalid, "missing_field", "listing_id", "give the deposit: --listing L (its advertised deposit) or --amount 1500.00")
	}
	if in.CardPaymentMethod != "" {
		if err := CheckCardPaymentMethod(in.CardPaymentMethod); err != nil {
			return out, err
		}
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	q := db.New(pool)
	for i, t := range in.Tenants {
		if t.ExternalID == "" {
			continue
		}
		res, err := q.GetExternalResident(ctx, db.GetExternalResidentParams{PropertyID: pgtype.Text{String: in.PropertyID, Valid: true}, ExternalID: pgtype.Text{String: t.ExternalID, Valid: true}})
		if errors.Is(err, pgx.ErrNoRows) {
			return out, fail(Invalid, "unknown_resident", "resident_ids", "resident %s of property %s does not exist: POST /v1/residents first", t.ExternalID, in.PropertyID)
		}
		if err != nil {
			return out, unavailable("the database", err)
		}
		in.Tenants[i].residentID, in.Tenants[i].Email, in.Tenants[i].Name = res.ResidentID, res.Email, res.Name
	}
	if in.Jurisdiction != "" {
		if in.Jurisdiction, err = CheckJurisdiction(ctx, q, in.Jurisdiction); err != nil {
			return out, err
		}
	}
	if in.StartsOn.IsZero() {
		in.StartsOn = g.now().UTC().Truncate(24 * time.Hour)
	}
	c, err := g.temporal(ctx)
	if err != nil {
		return out, err
	}
	var listingID pgtype.Text
	if in.ListingID != "" {
		l, err := q.GetListing(ctx, in.ListingID)
		if err == nil && !who.Covers(l.PropertyID) {
			err = pgx.ErrNoRows // another property's listing answers like none
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return out, fail(NotFound, "listing_not_found", "listing_id", "listing %s does not exist: add it with `deposits listing add %s --property %s --unit %s --deposit 1500.00`",
				in.ListingID, in.ListingID, in.PropertyID, in.UnitID)
		}
		if err != nil {
			return out, unavailable("the database", err)
		}
		if l.PropertyID != in.PropertyID || l.UnitID != in.UnitID {
			return out, fail(Invalid, "listing_mismatch", "listing_id", "listing %s is for property %s unit %s, not %s %s", in.ListingID, l.PropertyID, l.UnitID, in.PropertyID, in.UnitID)
		}
		if in.Cents == 0 && l.DepositAmountInCents == 0 {
			return out, fail(Invalid, "no_deposit", "listing_id", "listing %s advertises no deposit: give --amount", in.ListingID)
		}
		listingID = pgtype.Text{String: in.ListingID, Valid: true}
	}

	li := workflows.LeaseInput{LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID, AmountCents: in.Cents,
		AssessForSeconds: int64(in.AssessFor / time.Second), ReleaseAfterSeconds: int64(in.ReleaseAfter / time.Second)}
	var zone string // the lease's time zone, its property's
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := UpsertUnit(ctx, q, in.PropertyID, in.UnitID); err != nil {
			return err
		}
		var ids []int64
		for _, t := range in.Tenants {
			if t.residentID != 0 {
				ids = append(ids, t.residentID)
				continue
			}
			res, err := q.CreateResident(ctx, db.CreateResidentParams{Email: t.Email, Name: t.Name})
			if err != nil {
				return err
			}
			ids = append(ids, res.ResidentID)
		}
		requested := pgtype.Int8{Int64: in.Cents, Valid: in.Cents > 0}
		if _, err := q.CreateLease(ctx, db.CreateLeaseParams{
			LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID, ListingID: listingID, ResidentID: ids[0],
			RequestedCents: requested, AssessForSeconds: li.AssessForSeconds, ReleaseAfterSeconds: li.ReleaseAfterSeconds,
		}); err != nil {
			return err
		}
		// The lease takes its property's jurisdiction unless told otherwise.
		p, err := q.GetProperty(ctx, in.PropertyID)
		if err != nil {
			return err
		}
		if err := sameCurrency(p, in.Currency); err != nil {
			return err
		}
		// A property that takes its deposits as card holds needs the card.
		switch {
		case p.DepositMethod == DepositCardHold && in.CardPaymentMethod == "":
			return fail(Invalid, "missing_field", "card_payment_method", "property %s takes deposits as card holds: give the tenant's card (--card-payment-method pm_...)", in.PropertyID)
		case p.DepositMethod != DepositCardHold && in.CardPaymentMethod != "":
			return fail(Invalid, "invalid", "card_payment_method", "property %s takes deposits as payments, not card holds (deposits property set %s --deposit-method card_hold)", in.PropertyID, in.PropertyID)
		case in.CardPaymentMethod != "":
			if err := q.SetLeaseCardPaymentMethod(ctx, db.SetLeaseCardPaymentMethodParams{LeaseID: in.LeaseID, CardPaymentMethod: pgtype.Text{String: in.CardPaymentMethod, Valid: true}}); err != nil {
				return err
			}
			li.CardPaymentMethod, li.CardHoldRenewSeconds = in.CardPaymentMethod, p.CardHoldRenewSeconds
		}
		out.Currency, zone = p.Currency, p.TimeZone
		// The lease takes its property's jurisdiction unless told otherwise.
		jurisdiction := in.Jurisdiction
		if jurisdiction == "" {
			jurisdiction = p.Jurisdiction
		}
		if err := q.SetLeaseTerms(ctx, db.SetLeaseTermsParams{
			LeaseID: in.LeaseID, Jurisdiction: jurisdiction, StartsOn: pgtype.Date{Time: in.StartsOn, Valid: true},
		}); err != nil {
			return err
		}
		li.Jurisdiction = jurisdiction
		for i, t := range in.Tenants {
			share := max(t.Share, 1)
			if err := q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: in.LeaseID, ResidentID: ids[i], Position: int32(i + 1), Share: share}); err != nil {
				return err
			}
		}
		return nil
	})
	fresh := err == nil // this call wrote the lease
	var refused *Error
	if errors.As(err, &refused) {
		return out, refused
	}
	if IsUniqueViolation(err) {
		existing, err := q.GetLease(ctx, in.LeaseID)
		if err != nil {
			return out, unavailable("the database", err)
		}
		l := existing.Lease
		first := in.Tenants[0]
		sameTenant := existing.Resident.Email == first.Email
		if first.residentID != 0 {
			sameTenant = existing.Resident.ResidentID == first.residentID
		}
		if !who.Covers(l.PropertyID) {
			// Another property's lease: say no more than that the ID is taken.
			return out, fail(Conflict, "lease_exists", "lease_id", "lease ID %s is taken: choose another", in.LeaseID)
		}
		if l.PropertyID != in.PropertyID || l.UnitID != in.UnitID || !sameTenant {
			return out, fail(Conflict, "lease_exists", "lease_id", "lease %s already exists for %s at property %s unit %s", in.LeaseID, existing.Resident.Email, l.PropertyID, l.UnitID)
		}
		if in.Cents != l.RequestedCents.Int64 || in.ListingID != l.ListingID.String ||
			li.AssessForSeconds != l.AssessForSeconds || li.ReleaseAfterSeconds != l.ReleaseAfterSeconds {
			return out, fail(Conflict, "lease_exists", "lease_id", "lease %s already exists with other terms (deposit, listing or windows): a lease's terms are set once", in.LeaseID)
		}
		// Same lease again: start its workflow with the terms stored first.
		li.AmountCents = l.RequestedCents.Int64
		li.AssessForSeconds, li.ReleaseAfterSeconds = l.AssessForSeconds, l.ReleaseAfterSeconds
		li.Jurisdiction = l.Jurisdiction
		in.ListingID = l.ListingID.String
		if li.CardPaymentMethod, li.CardHoldRenewSeconds, err = cardTerms(ctx, q, in.LeaseID); err != nil {
			return out, unavailable("the database", err)
		}
		out.Currency, zone = l.Currency, l.TimeZone
	} else if err != nil {
		return out, unavailable("the database", err)
	}
	out.Input, out.WorkflowID = li, workflows.WorkflowID(in.LeaseID)
	committed := time.Now()
	run, err := StartWorkflow(ctx, c, li, in.ListingID, out.Currency, zone)
	var ie *Error
	if errors.As(err, &ie) && ie.Code == "already_started" && fresh {
		// This call wrote the lease, and a workflow already runs: a reconcile
		// pass saw the new lease between the commit and this start, and
		// started it. That is this lease's workflow.
		desc, derr := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(in.LeaseID), "")
		if derr == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING &&
			!desc.GetWorkflowExecutionInfo().GetStartTime().AsTime().Before(committed.Add(-time.Minute)) {
			out.RunID = desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
			return out, nil
		}
	}
	if err != nil {
		return out, err
	}
	out.RunID = run.GetRunID()
	return out, nil
}

// StartWorkflow starts a lease's deposit workflow, refusing a second one.
// currency and zone are the lease's, for its summary (empty: USD, UTC).
// The summary, like the search attributes, names no tenant: every operator
// of the Web UI reads it.
func StartWorkflow(ctx context.Context, c client.Client, in workflows.LeaseInput, listing, currency, zone string) (client.WorkflowRun, error) {
	if zone == "" {
		zone = "UTC"
	}
	summary := fmt.Sprintf("Security deposit of lease %s (property %s, unit %s)", in.LeaseID, in.PropertyID, in.UnitID)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(in.LeaseID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK quietly hands back the running workflow.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// Operators filter on these in the Web UI from the first moment.
		TypedSearchAttributes: workflows.StartSearchAttributes(in),
		StaticDetails: workflows.Markdown(fmt.Sprintf("Deposit: %s.\n\nAssessment window %s and release %s after the move-out (00:00 %s of its date).",
			DepositText(currency, in.AmountCents, listing), HumanDuration(in.AssessFor()), HumanDuration(in.ReleaseAfter()), zone)),
		StaticSummary: summary,
	}, workflows.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil, fail(Conflict, "already_started", "lease_id", "lease %s is already started (workflow %s): see `deposits status %s`", in.LeaseID, workflows.WorkflowID(in.LeaseID), in.LeaseID)
	}
	if err != nil && strings.Contains(err.Error(), "not defined") {
		return nil, fail(Invalid, "setup_needed", "", "the namespace lacks depositflow's search attributes: run `deposits setup` once, then start the lease again (%v)", err)
	}
	if err != nil {
		return nil, unavailable("Temporal", err)
	}
	return run, nil
}

// DepositText names the deposit a lease expects, in the lease's currency
// (empty: USD): "£1,200.00".
func DepositText(currency string, cents int64, listing string) string {
	if cents > 0 {
		return money.FormatIn(currency, cents)
	}
	return "the deposit of listing " + listing
}

// HumanDuration writes whole days as days ("14 days") and anything else as Go does ("90s").
func HumanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > 0 && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// UpsertUnit creates the property and its unit if they are new.
func UpsertUnit(ctx context.Context, q *db.Queries, property, unit string) error {
	if err := q.UpsertProperty(ctx, property); err != nil {
		return err
	}
	return q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: property, UnitID: unit})
}

// ListingIn is a unit's publicly advertised deposit.
type ListingIn struct {
	ListingID  string `json:"listing_id"`
	PropertyID string `json:"property_id"`
	UnitID     string `json:"unit_id"`
	Cents      int64  `json:"deposit_amount_in_cents"`
	Currency   string `json:"currency,omitempty"` // empty, or the property's
}

// Listing is a listing as stored, in its property's currency.
type Listing struct {
	db.Listing
	Currency string
}

// UpsertListing creates or updates a listing's advertised deposit (and its
// property and unit). A listing belongs to one unit for good.
func (g *Gateway) UpsertListing(ctx context.Context, who Principal, in ListingIn) (out Listing, err error) {
	defer func() { g.audit(ctx, who, "", "listing.add", in, err) }()
	if err := who.may("listing.add"); err != nil {
		return out, err
	}
	for _, f := range [][2]string{{"listing_id", in.ListingID}, {"property_id", in.PropertyID}, {"unit_id", in.UnitID}} {
		if err := CheckID(f[0], f[1]); err != nil {
			return out, err
		}
	}
	if err := who.property(in.PropertyID); err != nil {
		return out, err
	}
	if in.Cents < 0 || in.Cents > money.MaxCents {
		return out, CheckCents("deposit_amount_in_cents", in.Cents)
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := UpsertUnit(ctx, q, in.PropertyID, in.UnitID); err != nil {
			return err
		}
		p, err := q.GetProperty(ctx, in.PropertyID)
		if err != nil {
			return err
		}
		if err := sameCurrency(p, in.Currency); err != nil {
			return err
		}
		out.Currency = p.Currency
		out.Listing, err = q.UpsertListing(ctx, db.UpsertListingParams{ListingID: in.ListingID, PropertyID: in.PropertyID, UnitID: in.UnitID, DepositAmountInCents: in.Cents})
		return err
	})
	var refused *Error
	if errors.As(err, &refused) {
		return out, refused
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Conflict, "listing_mismatch", "listing_id", "listing %s exists for another property or unit", in.ListingID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	return out, nil
}

// CheckJurisdiction refuses a jurisdiction no rule covers, and returns it in
// its canonical (upper-case) form.
func CheckJurisdiction(ctx context.Context, q *db.Queries, code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	b, err := activities.RuleBook(ctx, q)
	if err != nil {
		return "", unavailable("the database", err)
	}
	if !b.Has(code) {
		return "", fail(Invalid, "unknown_jurisdiction", "jurisdiction", "no rules for jurisdiction %q: choose one of %s, or add it with `deposits rules set`",
			code, strings.Join(b.Codes(), ", "))
	}
	return code, nil
}

// StartStored starts the workflow of a lease that is in the database but has
// none (its start was cut off after the commit), with the terms stored
// first. started is false when one was started meanwhile.
func (g *Gateway) StartStored(ctx context.Context, leaseID string) (started bool, err error) {
	q, err := g.queries(ctx)
	if err != nil {
		return false, err
	}
	facts, err := q.LeaseFacts(ctx, leaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, notFound(leaseID)
	}
	if err != nil {
		return false, unavailable("the database", err)
	}
	c, err := g.temporal(ctx)
	if err != nil {
		return false, err
	}
	in := workflows.LeaseInput{LeaseID: leaseID, PropertyID: facts.PropertyID, UnitID: facts.UnitID,
		AmountCents: facts.RequestedCents.Int64, AssessForSeconds: facts.AssessForSeconds, ReleaseAfterSeconds: facts.ReleaseAfterSeconds,
		Jurisdiction: facts.Jurisdiction}
	if in.CardPaymentMethod, in.CardHoldRenewSeconds, err = cardTerms(ctx, q, leaseID); err != nil {
		return false, unavailable("the database", err)
	}
	_, err = StartWorkflow(ctx, c, in, facts.ListingID.String, facts.Currency, facts.TimeZone)
	var ge *Error
	if errors.As(err, &ge) && ge.Code == "already_started" {
		return false, nil
	}
	return err == nil, err
}

// SystemState is a lease's state for depositflow's own passes: found is
// false when the lease has no workflow (yet).
func (g *Gateway) SystemState(ctx context.Context, leaseID string) (s deposit.State, found bool, err error) {
	s, err = g.state(ctx, leaseID)
	var ge *Error
	if errors.As(err, &ge) && ge.Code == "workflow_not_found" {
		return s, false, nil
	}
	return s, err == nil, err
}

// FollowUp starts the follow-up of a payment or charge that reached a
// settled lease ("payment:12", "charge:34"): refunded or invoiced, once,
// with an email to the tenant. started is false when it was started before.
func (g *Gateway) FollowUp(ctx context.Context, leaseID, fact string) (started bool, err error) {
	c, err := g.temporal(ctx)
	if err != nil {
		return false, err
	}
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       workflows.FollowUpWorkflowID(leaseID, fact),
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Follow-up of %s, which reached lease %s after its settlement", fact, leaseID),
	}, workflows.FollowUpWorkflowType, workflows.FollowUpInput{LeaseID: leaseID, Fact: fact})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return false, nil
	}
	if err != nil {
		return false, unavailable("Temporal", err)
	}
	return true, nil
}

// sameCurrency refuses a currency a PMS names that is not its property's;
// an empty one takes the property's.
func sameCurrency(p db.Property, currency string) error {
	if currency != "" && !strings.EqualFold(currency, p.Currency) {
		return fail(Invalid, "wrong_currency", "currency", "property %s takes deposits in %s, not %s", p.PropertyID, p.Currency, strings.ToUpper(currency))
	}
	return nil
}

// Deposit methods of a property: payments (by default) or card holds.
const (
	DepositPayment  = "payment"
	DepositCardHold = "card_hold"
)

// CheckCardPaymentMethod refuses what is not a provider's payment method ID.
func CheckCardPaymentMethod(pm string) error {
	if !validProviderID("pm_", pm) {
		return fail(Invalid, "invalid", "card_payment_method", "card payment method %q is not a payment method ID such as pm_1Hh1...", pm)
	}
	return nil
}

// validProviderID says whether id is a provider's ID with the prefix.
func validProviderID(prefix, id string) bool {
	return strings.HasPrefix(id, prefix) && len(id) > len(prefix) && len(id) <= 255 && !strings.ContainsFunc(id, func(r rune) bool {
		return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
}

// cardTerms are the card a lease's deposit is held on and how often the
// hold is renewed, as stored: empty for a lease that pays its deposit.
func cardTerms(ctx context.Context, q *db.Queries, leaseID string) (string, int64, error) {
	t, err := q.GetLeaseCardTerms(ctx, leaseID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !t.CardPaymentMethod.Valid) {
		return "", 0, nil
	}
	return t.CardPaymentMethod.String, t.CardHoldRenewSeconds, err
}
