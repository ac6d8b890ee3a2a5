package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

// TenantIn is one tenant of a new lease: a resident already in the database
// (ResidentID, from the API), or one to create (Email and Name, from the CLI).
type TenantIn struct {
	ResidentID int64
	Email      string
	Name       string
	Share      int32
}

// LeaseIn is a lease to start: its unit, its deposit (the listing's, or
// Cents) and its tenants, the first of whom is addressed.
type LeaseIn struct {
	LeaseID, PropertyID, UnitID, ListingID string
	Cents                                  int64
	AssessFor, ReleaseAfter                time.Duration
	Tenants                                []TenantIn
	// Jurisdiction overrides the property's (rules.None: no statute); empty
	// takes the property's. StartsOn is the day the lease began (interest and
	// short-stay exemptions count from it); zero is today.
	Jurisdiction string
	StartsOn     time.Time
}

// LeaseOut is the started workflow's input and run.
type LeaseOut struct {
	Input workflows.LeaseInput
	RunID string
}

// StartLease commits the lease (its property, unit, residents and terms),
// then starts its workflow. If the start fails, starting the same lease again
// finds it in the database and starts its workflow with the terms stored
// first (and the reconcile pass starts it too). A lease whose workflow runs
// already is refused with code already_started.
func (s *Service) StartLease(ctx context.Context, in LeaseIn) (LeaseOut, error) {
	var out LeaseOut
	if len(in.Tenants) == 0 {
		return out, fail(Invalid, "missing_field", "resident_ids", "a lease needs at least one tenant")
	}
	if in.Cents < 0 || in.Cents > money.MaxCents {
		return out, CheckCents("deposit_amount_in_cents", in.Cents)
	}
	if in.Cents == 0 && in.ListingID == "" {
		return out, fail(Invalid, "missing_field", "listing_id", "give the deposit: --listing L (its advertised deposit) or --amount 1500.00")
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return out, err
	}
	q := db.New(pool)
	if in.Jurisdiction != "" {
		if in.Jurisdiction, err = CheckJurisdiction(ctx, q, in.Jurisdiction); err != nil {
			return out, err
		}
	}
	if in.StartsOn.IsZero() {
		in.StartsOn = time.Now().UTC().Truncate(24 * time.Hour)
	}
	c, err := s.Temporal(ctx)
	if err != nil {
		return out, err
	}
	var listingID pgtype.Text
	if in.ListingID != "" {
		l, err := q.GetListing(ctx, in.ListingID)
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
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := UpsertUnit(ctx, q, in.PropertyID, in.UnitID); err != nil {
			return err
		}
		var ids []int64
		for _, t := range in.Tenants {
			if t.ResidentID != 0 {
				ids = append(ids, t.ResidentID)
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
		jurisdiction := in.Jurisdiction
		if jurisdiction == "" {
			p, err := q.GetProperty(ctx, in.PropertyID)
			if err != nil {
				return err
			}
			jurisdiction = p.Jurisdiction
		}
		if err := q.SetLeaseJurisdiction(ctx, db.SetLeaseJurisdictionParams{
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
	if IsUniqueViolation(err) {
		existing, err := q.GetLease(ctx, in.LeaseID)
		if err != nil {
			return out, unavailable("the database", err)
		}
		l := existing.Lease
		first := in.Tenants[0]
		sameTenant := existing.Resident.Email == first.Email
		if first.ResidentID != 0 {
			sameTenant = existing.Resident.ResidentID == first.ResidentID
		}
		if l.PropertyID != in.PropertyID || l.UnitID != in.UnitID || !sameTenant {
			return out, fail(Conflict, "lease_exists", "lease_id", "lease %s already exists for %s at property %s unit %s", in.LeaseID, existing.Resident.Email, l.PropertyID, l.UnitID)
		}
		// Same lease again: start its workflow with the terms stored first.
		li.AmountCents = l.RequestedCents.Int64
		li.AssessForSeconds, li.ReleaseAfterSeconds = l.AssessForSeconds, l.ReleaseAfterSeconds
		li.Jurisdiction = l.Jurisdiction
		in.ListingID = l.ListingID.String
	} else if err != nil {
		return out, unavailable("the database", err)
	}
	out.Input = li
	committed := time.Now()
	run, err := StartWorkflow(ctx, c, li, in.ListingID, in.Tenants[0].Email)
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
func StartWorkflow(ctx context.Context, c client.Client, in workflows.LeaseInput, listing, tenant string) (client.WorkflowRun, error) {
	summary := fmt.Sprintf("Security deposit of lease %s (property %s, unit %s)", in.LeaseID, in.PropertyID, in.UnitID)
	if tenant != "" {
		summary = fmt.Sprintf("Security deposit of lease %s (property %s, unit %s, tenant %s)", in.LeaseID, in.PropertyID, in.UnitID, tenant)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(in.LeaseID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK quietly hands back the running workflow.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// Operators filter on these in the Web UI from the first moment.
		TypedSearchAttributes: workflows.StartSearchAttributes(in),
		StaticDetails: workflows.Markdown(fmt.Sprintf("Deposit: %s.\n\nAssessment window %s and release %s after the move-out (00:00 UTC of its date).",
			DepositText(in.AmountCents, listing), HumanDuration(in.AssessFor()), HumanDuration(in.ReleaseAfter()))),
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

// DepositText names the deposit a lease expects.
func DepositText(cents int64, listing string) string {
	if cents > 0 {
		return money.Format(cents)
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

// UpsertListing creates or updates a listing's advertised deposit (and its
// property and unit). A listing belongs to one unit for good.
func (s *Service) UpsertListing(ctx context.Context, listing, property, unit string, cents int64) (db.Listing, error) {
	var out db.Listing
	if cents < 0 || cents > money.MaxCents {
		return out, CheckCents("deposit_amount_in_cents", cents)
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return out, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := UpsertUnit(ctx, q, property, unit); err != nil {
			return err
		}
		out, err = q.UpsertListing(ctx, db.UpsertListingParams{ListingID: listing, PropertyID: property, UnitID: unit, DepositAmountInCents: cents})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Conflict, "listing_mismatch", "listing_id", "listing %s exists for another property or unit", listing)
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
