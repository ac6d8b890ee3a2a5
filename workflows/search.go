package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
)

// Search attributes let operators filter leases in the Temporal UI and with
// `temporal workflow list --query`, e.g.
//
//	DepositStage = 'release_pending' AND DepositReleaseAt < '2026-12-01T00:00:00Z'
//
// They must be registered in the namespace first (`deposits setup`).
var (
	SALeaseID           = temporal.NewSearchAttributeKeyKeyword("DepositLeaseId")
	SAPropertyID        = temporal.NewSearchAttributeKeyKeyword("DepositPropertyId")
	SAStage             = temporal.NewSearchAttributeKeyKeyword("DepositStage")
	SAReleaseAt         = temporal.NewSearchAttributeKeyTime("DepositReleaseAt")
	SAJurisdiction      = temporal.NewSearchAttributeKeyKeyword("DepositJurisdiction")
	SAStatutoryDeadline = temporal.NewSearchAttributeKeyTime("DepositStatutoryDeadline")
)

// SearchAttributeKeys lists every key, for registration.
var SearchAttributeKeys = []temporal.SearchAttributeKey{SALeaseID, SAPropertyID, SAStage, SAReleaseAt, SAJurisdiction, SAStatutoryDeadline}

// NoJurisdiction marks a lease no statute governs (a short-term rental).
const NoJurisdiction = "NONE"

// StartSearchAttributes are set when a lease's workflow starts.
func StartSearchAttributes(in LeaseInput) temporal.SearchAttributes {
	j := in.Jurisdiction
	if j == "" {
		j = NoJurisdiction
	}
	return temporal.NewSearchAttributes(
		SALeaseID.ValueSet(in.LeaseID),
		SAPropertyID.ValueSet(in.PropertyID),
		SAStage.ValueSet(deposit.StageAwaitingPayment),
		SAJurisdiction.ValueSet(j),
	)
}

// lawAttributes show the lease's jurisdiction and refund deadline, so that
// operators can list what is due first:
//
//	DepositStatutoryDeadline < '2026-12-01T00:00:00Z' AND ExecutionStatus = 'Running'
func (d *flow) lawAttributes() []temporal.SearchAttributeUpdate {
	ups := []temporal.SearchAttributeUpdate{SAJurisdiction.ValueSet(d.state.Jurisdiction)}
	if c := d.state.Clock; c.Started {
		ups = append(ups, SAStatutoryDeadline.ValueSet(c.RefundDue))
	} else {
		ups = append(ups, SAStatutoryDeadline.ValueUnset())
	}
	if !d.state.ReleaseAt.IsZero() {
		ups = append(ups, SAReleaseAt.ValueSet(d.state.ReleaseAt))
	}
	return ups
}

// publish shows where the deposit stands to operators: the search attributes
// (at a stage change) and the workflow's current details, the words the UI's
// workflow page shows. Details cost no history event, so they follow every
// change; search attributes are upserted only when the stage changes.
func (d *flow) publish(ctx workflow.Context, stageChanged bool) error {
	workflow.SetCurrentDetails(ctx, d.details())
	if !stageChanged || workflow.GetVersion(ctx, "search-attributes", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	updates := []temporal.SearchAttributeUpdate{SAStage.ValueSet(d.state.Stage)}
	if !d.state.ReleaseAt.IsZero() {
		updates = append(updates, SAReleaseAt.ValueSet(d.state.ReleaseAt))
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// details says in words where the deposit stands (markdown, for the UI).
func (d *flow) details() string { return Markdown(d.plainDetails()) }

// Markdown escapes text for the Temporal UI's markdown, where a pair of
// dollar signs would otherwise start a formula.
func Markdown(s string) string { return strings.ReplaceAll(s, "$", `\$`) }

func (d *flow) plainDetails() string {
	s := d.state
	var b strings.Builder
	// The headline first: the UI shows the top of the details.
	add(&b, "**%s**", strings.ReplaceAll(s.Stage, "_", " "))
	switch {
	case s.Stage == deposit.StageClosed && s.BalanceOwedCents > 0:
		add(&b, ": balance owed %s (invoice %d), closed %s.", d.money(s.BalanceOwedCents), s.InvoiceID, d.dayText(s.ClosedAt))
	case s.Stage == deposit.StageClosed:
		add(&b, ": %s, refund %s in %d payout(s), closed %s.", strings.ReplaceAll(s.Outcome, "_", " "), d.money(s.RefundCents), len(s.Payouts), d.dayText(s.ClosedAt))
	case s.Stage == deposit.StageDisputed:
		add(&b, ": the undisputed part was settled (%s, refund %s); %s stays held for %d disputed item(s) until each is resolved.",
			strings.ReplaceAll(s.Outcome, "_", " "), d.money(s.RefundCents), d.money(s.DisputedCents), deposit.OpenDisputes(s.Disputes))
	case s.Stage == deposit.StageBooksDisagree:
		add(&b, ": nothing was paid. The settlement this workflow computed is not what the database's books show, so the lease waits "+
			"for an admin to recheck the books (recheck_books; with rebuild, the workflow first re-reads every fact from the database). %s.", s.BooksDisagree)
	case !s.ReleaseAt.IsZero():
		st := deposit.Settle(d.terms())
		when := "release on " + d.dayText(s.ReleaseAt)
		if s.OnHold {
			when = "on hold, released only by hand"
		}
		if st.BalanceOwedCents > 0 {
			add(&b, ": %s; balance owed %s if nothing changes.", when, d.money(st.BalanceOwedCents))
		} else {
			add(&b, ": %s; refund %s if nothing changes.", when, d.money(st.RefundCents))
		}
	case s.Stage == deposit.StageAwaitingPayment:
		add(&b, ": %s still to pay.", d.money(max(s.ExpectedCents-s.PaidCents, 0)))
	case s.Stage == deposit.StageHeld:
		add(&b, ": %s held until the move-out.", d.money(s.ReceivedCents))
	}
	switch {
	case len(s.Pending) > 0:
		var items []string
		for _, p := range s.Pending {
			items = append(items, fmt.Sprintf("%s (%s by %s)", p.Item, d.money(p.AmountCents), p.RequestedBy))
		}
		add(&b, "\n\nAwaiting a books_admin's approval: %s.", strings.Join(items, ", "))
	case s.PendingKeep != nil:
		add(&b, "\n\nA keep of %s by %s awaits a books_admin's approval.", d.money(s.PendingKeep.AmountCents), s.PendingKeep.RequestedBy)
	}
	if len(s.Disputes) > 0 {
		var items []string
		for _, it := range s.Disputes {
			what := it.Status
			if it.Status == deposit.DisputeOffered {
				what = "offered " + d.money(it.OfferCents) + " back"
			}
			if it.Settled() {
				what += ", settled: " + d.money(it.RefundCents) + " paid back"
			} else if it.Held {
				what += ", " + d.money(it.HeldCents) + " held"
			}
			items = append(items, fmt.Sprintf("item %d %s %s (%s)", it.DisputeID, it.Description, d.money(it.AmountCents), what))
		}
		add(&b, "\n\nDisputed by the tenant: %s.", strings.Join(items, "; "))
		if s.Stage != deposit.StageDisputed && s.Stage != deposit.StageClosed {
			add(&b, " The undisputed part is refunded on the release date; what the deposit covers of each open item stays held until it is resolved.")
		}
	}
	if n := len(s.IgnoredSignals); n > 0 {
		add(&b, "\n\n%d signal(s) named facts the database does not hold for this lease and were ignored; the last: %s.", n, s.IgnoredSignals[n-1])
	}
	if s.Rule != nil {
		add(&b, "\n\n%s", s.Clock.Why)
		if s.Clock.Started {
			add(&b, ". Statement due %s, refund due %s.", d.dayText(s.Clock.StatementDue), d.dayText(s.Clock.RefundDue))
		}
		if s.DeadlineMissed != "" {
			add(&b, "\n\n**Deadline missed**: %s.", s.DeadlineMissed)
		}
	}
	add(&b, "\n\nCash deposit %s, paid %s", d.money(s.ExpectedCents), d.money(s.PaidCents))
	if s.PrepaidCents != 0 {
		add(&b, ", prepaid %s", d.money(s.PrepaidCents))
	}
	if s.GuaranteeCents != 0 {
		add(&b, ", guarantee %s", d.money(s.GuaranteeCents))
	}
	add(&b, ". Arrears %s, deductions %s, kept %s.", d.money(s.ArrearsCents), d.money(s.DeductionsCents), d.money(s.KeptCents))
	return b.String()
}

// add appends formatted text (fmt.Sprintf: fmt.Fprintf counts as I/O to workflowcheck).
func add(b *strings.Builder, format string, args ...any) { b.WriteString(fmt.Sprintf(format, args...)) }

// The lease's words for money and time: every text the workflow writes
// (the UI's details, decisions, refusals, missed deadlines) shows amounts
// in the lease's currency and instants on its time zone's clock, as its
// emails do. A lease that names neither (one started before leases had
// them) shows dollars and UTC, as it always did.

// money writes an amount in the lease's currency: "£1,200.00".
func (d *flow) money(minor int64) string { return money.FormatIn(d.state.Currency, minor) }

// zone is the lease's time zone: UTC when it names none (or one this
// binary does not know, which LoadLeaseLaw refuses before any clock uses it).
func (d *flow) zone() *time.Location {
	zone, err := rules.LoadZone(d.state.TimeZone)
	if err != nil {
		return time.UTC
	}
	return zone
}

// dayText writes an instant on the lease's clock: "30 Mar 2027 00:00 BST",
// "4 Nov 2026 00:00 UTC".
func (d *flow) dayText(t time.Time) string { return t.In(d.zone()).Format("2 Jan 2006 15:04 MST") }

// dateText writes the lease's calendar day of an instant: "2027-03-30".
func (d *flow) dateText(t time.Time) string { return t.In(d.zone()).Format(time.DateOnly) }

// timeText writes an instant exactly, with the lease's offset:
// "2027-03-30T00:00:00+01:00", "2026-11-04T00:00:00Z".
func (d *flow) timeText(t time.Time) string { return t.In(d.zone()).Format(time.RFC3339) }
