package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

// Manager decisions go to the server, which audits who asks and sends them
// to the lease's workflow; a wrong request is refused before anything is
// written, with the workflow's reason. Each command prints the state after
// the decision. --idempotency-key makes a decision safe to send again from
// a script: the same key is the same decision (the CLI itself retries a
// request it could not deliver under one key of its own).

func (a *app) decisionCommands() []*cobra.Command {
	var key string
	keyFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&key, "idempotency-key", "", "the same key sent again is the same decision, applied once")
	}
	var message, messageFile string
	messageFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&message, "message", "", "your own words to the tenant, shown above the statement in their email")
		c.Flags().StringVar(&messageFile, "message-file", "", "read the message to the tenant from this file (- for standard input)")
	}
	var days int
	extend := &cobra.Command{
		Use:   "extend LEASE [--days 7]",
		Short: "Move the release date later (repeatable, up to 120 days after move-out)",
		Example: `  deposits extend L-100
  deposits extend L-100 --days 14`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], gateway.Extend, api.DecisionRequest{Days: days}, key, func(s deposit.State) string {
				return fmt.Sprintf("Release of lease %s moved to %s.", s.LeaseID, s.ReleaseAt.Format(time.RFC3339))
			})
		},
	}
	extend.Flags().IntVar(&days, "days", deposit.DefaultExtendDays, "days to add to the release date")
	keyFlag(extend)

	var amount, reason string
	var all bool
	keep := &cobra.Command{
		Use:   "keep LEASE (--amount 300.00 | --all) --reason TEXT",
		Short: "Keep part or all of the deposit; the reason is the explanation the tenant reads",
		Long: `Keep part (--amount) or all (--all) of what is still held after charges. The
reason goes into the tenant's email. Once what people moved of the deposit
since the move-out (keeps, deductions and credits they added) passes the
property's approval threshold, the keep waits as pending until a books_admin
who is not you approves or declines it.`,
		Example: `  deposits keep L-100 --amount 300.00 --reason "Burn mark on the kitchen counter"
  deposits keep L-100 --all --reason "Water damage beyond the deposit, invoice follows"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.DecisionRequest{All: all, Reason: strings.TrimSpace(reason)}
			if !all {
				c, currency, err := parseAmount("amount", amount)
				if err != nil {
					return err
				}
				req.AmountInCents, req.Currency = c, currency
			} else if amount != "" {
				return refused("give either --amount or --all, not both")
			}
			if req.Reason == "" {
				return refused("give a reason (--reason): the tenant reads it as the explanation")
			}
			var err error
			if req.Message, err = a.readMessage(message, messageFile); err != nil {
				return err
			}
			return a.decide(cmd.Context(), args[0], gateway.Keep, req, key, keepDone)
		},
	}
	keep.Flags().StringVar(&amount, "amount", "", "amount to keep")
	keep.Flags().BoolVar(&all, "all", false, "keep everything still held")
	keep.Flags().StringVar(&reason, "reason", "", "why: the tenant reads it (required)")
	keyFlag(keep)
	messageFlags(keep)

	release := &cobra.Command{
		Use:   "release LEASE",
		Short: "Release the deposit now: compute and issue the refund (or invoice) at once",
		Example: `  deposits release L-100
  deposits release L-100 --message "Thank you for leaving the flat spotless."
  deposits release L-100 --message-file note.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := a.readMessage(message, messageFile)
			if err != nil {
				return err
			}
			return a.decide(cmd.Context(), args[0], gateway.Release, api.DecisionRequest{Message: msg}, key, nil)
		},
	}
	keyFlag(release)
	messageFlags(release)

	var off bool
	hold := &cobra.Command{
		Use:   "hold LEASE [--off]",
		Short: "Never release this deposit automatically (or lift the hold with --off)",
		Long: `On hold, the deposit is not released on its release date: it waits for
deposits release, and the property's manager is reminded once when the date has passed.`,
		Example: `  deposits hold L-100
  deposits hold L-100 --off`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], gateway.Hold, api.DecisionRequest{Off: off}, key, func(s deposit.State) string {
				if s.OnHold {
					return fmt.Sprintf("Lease %s is on hold: it will not be released until `deposits release %s`.", s.LeaseID, s.LeaseID)
				}
				return fmt.Sprintf("Hold lifted: lease %s is released automatically on %s.", s.LeaseID, s.ReleaseAt.Format(time.RFC3339))
			})
		},
	}
	hold.Flags().BoolVar(&off, "off", false, "lift the hold")
	keyFlag(hold)

	var item, declineReason string
	approve := &cobra.Command{
		Use:   "approve LEASE [--item keep:12]",
		Short: "Approve what awaits approval on a lease (books_admin, never the one who asked)",
		Long: `Approve a keep, a charge or a deposit amendment that awaits a books_admin's
approval. With one item pending, --item may be left out; deposits status lists
them. No one may approve their own request, whatever roles they hold.`,
		Example: `  deposits approve L-100
  deposits approve L-100 --item charge:34`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], gateway.Approve, api.DecisionRequest{Item: item}, key, func(s deposit.State) string {
				return fmt.Sprintf("Approved on lease %s: %s.", s.LeaseID, lastDecision(s, gateway.Approve)) + pendingNote(s)
			})
		},
	}
	approve.Flags().StringVar(&item, "item", "", "the pending item, e.g. keep:12 (see deposits status)")
	keyFlag(approve)
	decline := &cobra.Command{
		Use:   "decline LEASE [--item keep:12] [--reason TEXT]",
		Short: "Decline what awaits approval (books_admin, or whoever asked)",
		Example: `  deposits decline L-100 --reason "No photos of the damage"
  deposits decline L-100 --item deposit:56`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := a.readMessage(message, messageFile)
			if err != nil {
				return err
			}
			return a.decide(cmd.Context(), args[0], gateway.Decline, api.DecisionRequest{Item: item, Reason: declineReason, Message: msg}, key, func(s deposit.State) string {
				return fmt.Sprintf("Declined on lease %s: %s; it does not count.", s.LeaseID, lastDecision(s, gateway.Decline)) + pendingNote(s)
			})
		},
	}
	decline.Flags().StringVar(&item, "item", "", "the pending item, e.g. keep:12 (see deposits status)")
	decline.Flags().StringVar(&declineReason, "reason", "", "why, for the audit log")
	keyFlag(decline)
	messageFlags(decline)
	return []*cobra.Command{extend, keep, release, hold, approve, decline}
}

// lastDecision is the detail of the lease's newest decision of a kind.
func lastDecision(s deposit.State, kind string) string {
	for i := len(s.Decisions) - 1; i >= 0; i-- {
		if s.Decisions[i].Kind == kind {
			return s.Decisions[i].Detail
		}
	}
	return kind
}

// pendingNote says what still awaits approval, if anything.
func pendingNote(s deposit.State) string {
	if len(s.Pending) == 0 {
		return ""
	}
	var items []string
	for _, p := range s.Pending {
		items = append(items, p.Item)
	}
	return " Still pending: " + strings.Join(items, ", ") + "."
}

func keepDone(s deposit.State) string {
	if len(s.Pending) > 0 {
		p := s.Pending[len(s.Pending)-1]
		return fmt.Sprintf("Keep of %s is above the property's approval threshold: pending until a books_admin runs `deposits approve %s --item %s`.",
			cur(s.Currency, p.AmountCents), s.LeaseID, p.Item)
	}
	if p := s.PendingKeep; p != nil {
		return fmt.Sprintf("Keep of %s is above the property's approval threshold: pending until a books_admin runs `deposits approve %s`.",
			cur(s.Currency, p.AmountCents), s.LeaseID)
	}
	k := s.Kept[len(s.Kept)-1]
	return fmt.Sprintf("Kept %s of lease %s: %s.", cur(s.Currency, k.AmountCents), s.LeaseID, k.Reason)
}

// decide sends one decision to the server and prints the state it leaves.
func (a *app) decide(ctx context.Context, leaseID, kind string, req api.DecisionRequest, key string, done func(deposit.State) string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	path := depositclient.LeasePath(leaseID, kind)
	if kind == gateway.RecheckBooks {
		path = depositclient.LeasePath(leaseID, "recheck-books")
	}
	var s deposit.State
	if _, err := a.post(ctx, path, req, key, &s); err != nil {
		return err
	}
	if kind == gateway.Release {
		// The refund follows at once; show the closed lease.
		if closed, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return s.Stage == deposit.StageClosed }); ok {
			s = closed
		}
	}
	if a.json() {
		return a.printJSON(s)
	}
	if done != nil {
		a.printf("%s\n\n", done(s))
	}
	printState(a.out, s)
	return nil
}

func (a *app) propertyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "property", Short: "Property policies: approval threshold, manager email, NSF fee, law, currency, time zone"}
	var threshold, managerEmail, nsfFee, jurisdiction, currency, zone, depositMethod, renewEvery string
	var units, unclaimedDays int
	var reminderDays string
	set := &cobra.Command{
		Use:   "set PROPERTY [--approval-threshold 500.00|none] [--manager-email E] [--nsf-fee 35.00] [--jurisdiction US-CA] [--building-units N] [--currency GBP] [--time-zone Europe/London]",
		Short: "Set a property's policy (books_admin); a change of an existing threshold waits for a second books_admin",
		Long: `Set what a property decides for its deposits: the approval threshold (what
people may move of a lease's deposit after its move-out before a books_admin
must approve), the manager's email for reminders, the NSF fee, the deposit law
(jurisdiction) and the building's size, and the currency and time zone of its
new leases (a lease keeps those it started with). A first threshold applies at
once; raising, lowering or removing an existing one waits until another
books_admin runs deposits property approve.`,
		Example: `  deposits property set maple --approval-threshold 500.00 --manager-email manager@maple.example
  deposits property set maple --jurisdiction US-NY --building-units 12 --time-zone America/New_York
  deposits property set abbey --jurisdiction GB-ENG --currency GBP --time-zone Europe/London
  deposits property set maple --approval-threshold none
  deposits property set maple --reminder-days 14,7,2
  deposits property set maple --deposit-method card_hold --card-hold-renew-every 168h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkID("property", args[0]); err != nil {
				return err
			}
			var p api.Policy
			switch threshold {
			case "":
			case "none":
				p.ClearThreshold = true
			default:
				c, _, err := parseAmount("approval-threshold", threshold)
				if err != nil {
					return err
				}
				p.ApprovalThresholdCents = &c
			}
			if managerEmail != "" {
				e, err := parseEmail("manager-email", managerEmail)
				if err != nil {
					return err
				}
				p.ManagerEmail = &e
			}
			if nsfFee != "" {
				c, _, err := parseSignedAmount("nsf-fee", nsfFee)
				if err != nil || c < 0 {
					return refused("--nsf-fee %q: give a fee, 0 for none", nsfFee)
				}
				p.NSFFeeCents = &c
			}
			if jurisdiction != "" {
				p.Jurisdiction = &jurisdiction
			}
			if units != 0 {
				if units < 0 || units > 100000 {
					return refused("--building-units %d: give the number of units in the building", units)
				}
				u := int32(units)
				p.BuildingUnits = &u
			}
			if currency != "" {
				p.Currency = &currency
			}
			if zone != "" {
				p.TimeZone = &zone
			}
			if depositMethod != "" {
				p.DepositMethod = &depositMethod
			}
			if renewEvery != "" {
				d, err := time.ParseDuration(renewEvery)
				if err != nil || d < time.Second || d%time.Second != 0 || d > gateway.MaxCardHoldRenewal {
					return refused("--card-hold-renew-every %q: give a Go duration of whole seconds, up to 168h (7 days)", renewEvery)
				}
				s := int64(d / time.Second)
				p.CardHoldRenewSeconds = &s
			}
			if unclaimedDays != 0 {
				if unclaimedDays < 1 || unclaimedDays > 3650 {
					return refused("--unclaimed-after-days %d: give 1 to 3650 days", unclaimedDays)
				}
				d := int32(unclaimedDays)
				p.UnclaimedAfterDays = &d
			}
			if reminderDays != "" {
				days := []int{}
				if reminderDays != "none" {
					for _, f := range strings.Split(reminderDays, ",") {
						n, err := strconv.Atoi(strings.TrimSpace(f))
						if err != nil || n < 1 || n > 120 {
							return refused("--reminder-days %q: give days before the release, e.g. 10,5,1 (1 to 120 each), or none", reminderDays)
						}
						days = append(days, n)
					}
				}
				p.ReminderDays = &days
			}
			var out gateway.Property
			if _, err := a.post(cmd.Context(), "/v1/properties/"+args[0]+"/policy", p, "", &out); err != nil {
				return err
			}
			a.printProperty(out)
			return nil
		},
	}
	f := set.Flags()
	f.StringVar(&jurisdiction, "jurisdiction", "", "the deposit law of the property's new leases, e.g. US-CA (see deposits rules list)")
	f.IntVar(&units, "building-units", 0, "units in the building: some states owe interest only in larger buildings")
	f.StringVar(&threshold, "approval-threshold", "", "what people may move of a deposit after the move-out before a books_admin approves; none to remove")
	f.StringVar(&managerEmail, "manager-email", "", "where reminders before a release go")
	f.StringVar(&nsfFee, "nsf-fee", "", "fee charged for a returned payment (0 for none; default 25.00)")
	f.StringVar(&currency, "currency", "", "ISO 4217 currency of new leases (default USD; GB-ENG: GBP)")
	f.StringVar(&zone, "time-zone", "", "IANA time zone where the property's dates are days (default UTC)")
	f.StringVar(&reminderDays, "reminder-days", "", "days before an automatic release the property's managers are reminded, e.g. 10,5,1 (the default), or none")
	f.IntVar(&unclaimedDays, "unclaimed-after-days", 0, "days after which a refund not marked paid is flagged to the manager (default 90)")
	f.StringVar(&depositMethod, "deposit-method", "", "how new leases' deposits are taken: payment (default) or card_hold (an authorization on the tenant's card)")
	f.StringVar(&renewEvery, "card-hold-renew-every", "", "how often a card hold is placed again before the card network lets it lapse (default 168h, at most 168h)")
	decide := func(approve bool) *cobra.Command {
		verb, path := "decline", "decline"
		if approve {
			verb, path = "approve", "approve"
		}
		return &cobra.Command{
			Use:     verb + " PROPERTY",
			Short:   strings.ToUpper(verb[:1]) + verb[1:] + " a pending change of a property's approval threshold (another books_admin)",
			Example: "  deposits property " + verb + " maple",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := checkID("property", args[0]); err != nil {
					return err
				}
				var out gateway.Property
				if _, err := a.post(cmd.Context(), "/v1/properties/"+args[0]+"/policy/"+path, nil, "", &out); err != nil {
					return err
				}
				a.printProperty(out)
				return nil
			},
		}
	}
	cmd.AddCommand(set, decide(true), decide(false))
	return cmd
}

func (a *app) printProperty(p gateway.Property) {
	if a.json() {
		_ = a.printJSON(p)
		return
	}
	limit := "none"
	if p.ApprovalThresholdCents != nil {
		limit = cur(p.Currency, *p.ApprovalThresholdCents)
	}
	a.printf("Property %s: approval threshold %s, manager email %s, NSF fee %s, jurisdiction %s, %d unit(s) in the building, currency %s, time zone %s; refunds unpaid after %d days are flagged.\n",
		p.PropertyID, limit, dash(p.ManagerEmail), cur(p.Currency, p.NSFFeeCents), p.Jurisdiction, p.BuildingUnits, p.Currency, p.TimeZone, p.UnclaimedAfterDays)
	switch {
	case p.ReminderDays == nil:
	case len(p.ReminderDays) == 0:
		a.printf("Its managers get no reminders before an automatic release (only the alert at the move-out).\n")
	default:
		days := make([]string, len(p.ReminderDays))
		for i, d := range p.ReminderDays {
			days[i] = strconv.Itoa(d)
		}
		a.printf("Its managers are reminded %s day(s) before an automatic release.\n", strings.Join(days, ", "))
	}
	if p.DepositMethod == gateway.DepositCardHold {
		a.printf("Deposits are taken as holds on the tenant's card, placed again every %s.\n", gateway.HumanDuration(time.Duration(p.CardHoldRenewSeconds)*time.Second))
	}
	if c := p.PendingThreshold; c != nil {
		to := "none"
		if c.ThresholdCents != nil {
			to = cur(p.Currency, *c.ThresholdCents)
		}
		a.printf("The threshold change to %s asked by %s waits for another books_admin: deposits property approve %s (or decline).\n", to, c.RequestedBy, p.PropertyID)
	}
}

func (a *app) auditCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "audit LEASE [-o json]",
		Short: "Show every action on a lease, accepted or refused, with who (as signed in), from where, and what",
		Example: `  deposits audit L-100
  deposits audit L-100 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := checkID("lease", args[0]); err != nil {
				return err
			}
			var out struct {
				Audit []deposit.AuditEntry `json:"audit"`
			}
			if err := a.get(cmd.Context(), depositclient.LeasePath(args[0], "audit"), nil, &out); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out.Audit)
			}
			t := newTable(a.out, "AT", "ACTOR", "ROLE", "FROM", "ACTION", "RESULT", "REQUEST")
			for _, r := range out.Audit {
				result := "under way"
				if r.Accepted != nil {
					result = "refused: " + r.Result
					if *r.Accepted {
						result = r.Result
					}
				}
				var req bytes.Buffer
				if json.Compact(&req, r.Request) != nil {
					req.Write(r.Request)
				}
				t.row(r.At.UTC().Format(time.RFC3339), firstOf(r.Principal, r.Actor), dash(r.Role), dash(r.Origin), r.Action, result, req.String())
			}
			return t.flush()
		},
	}
}

// booksCommand is what an admin does when a lease's books disagree.
func (a *app) booksCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "books", Short: "The trust books: liability, trial balance, journal, aging, deposit batches, bank reconciliation, interest; recheck a lease whose books disagree"}
	var rebuild bool
	var key string
	recheck := &cobra.Command{
		Use:   "recheck LEASE [--rebuild]",
		Short: "Settle a lease stopped because its books disagreed: check again, or rebuild the workflow's view from the database first",
		Long: `A lease whose settlement found the database's facts and the workflow's view of
them different stops in stage books_disagree instead of paying (the status and
the Temporal UI say which terms differ). Once the database is right, recheck
settles it; --rebuild first rebuilds the workflow's view from the database (the
book of record). Admin only.`,
		Example: `  deposits books recheck L-100
  deposits books recheck L-100 --rebuild`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], gateway.RecheckBooks, api.DecisionRequest{Rebuild: rebuild}, key, nil)
		},
	}
	recheck.Flags().BoolVar(&rebuild, "rebuild", false, "rebuild the workflow's view from the database before settling")
	recheck.Flags().StringVar(&key, "idempotency-key", "", "the same key sent again is the same request")
	cmd.AddCommand(recheck)
	cmd.AddCommand(a.booksReportCommands()...)
	return cmd
}

// readMessage is the manager's message to the tenant: --message, or the
// contents of --message-file (- for standard input), checked as the server
// will check it.
func (a *app) readMessage(message, file string) (string, error) {
	if file == "" {
		if message == "" {
			return "", nil
		}
		return checkMessage(message)
	}
	if message != "" {
		return "", refused("give --message or --message-file, not both")
	}
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(a.in, 64<<10))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", refused("--message-file %s: %v", file, err)
	}
	msg, err := checkMessage(string(b))
	if err == nil && msg == "" {
		return "", refused("--message-file %s is empty", file)
	}
	return msg, err
}

func checkMessage(msg string) (string, error) {
	msg, err := gateway.CheckMessage(msg)
	if err != nil {
		return "", refused("%v", err)
	}
	return msg, nil
}
