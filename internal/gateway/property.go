package gateway

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
)

// A property's money policy: who is reminded, what needs a books_admin's
// approval, the NSF fee, the deposit law, the currency and time zone of its
// new leases. A books_admin sets it; a change to an existing approval
// threshold (raised, lowered or removed) waits for a second books_admin, so
// no one can switch off separation of duties alone.

// Property is a property's policy as stored.
type Property struct {
	PropertyID             string `json:"property_id"`
	Name                   string `json:"name"`
	ManagerEmail           string `json:"manager_email"`
	ApprovalThresholdCents *int64 `json:"approval_threshold_cents"` // nil: no approval needed
	NSFFeeCents            int64  `json:"nsf_fee_cents"`
	Jurisdiction           string `json:"jurisdiction"`
	BuildingUnits          int32  `json:"building_units"`
	Currency               string `json:"currency"`
	TimeZone               string `json:"time_zone"`
	// UnclaimedAfterDays: a refund payout not marked paid this many days
	// after it was issued is flagged to the manager (default 90).
	UnclaimedAfterDays int32 `json:"unclaimed_after_days"`
	// ReminderDays: the managers are reminded this many days before an
	// automatic release (null: 10, 5 and 1; empty: never).
	ReminderDays []int `json:"reminder_days"`
	// DepositMethod is how new leases' deposits are taken: "payment" or
	// "card_hold" (an authorization on the tenant's card, renewed every
	// CardHoldRenewSeconds).
	DepositMethod        string         `json:"deposit_method"`
	CardHoldRenewSeconds int64          `json:"card_hold_renew_seconds"`
	PendingThreshold     *PendingChange `json:"pending_threshold_change,omitempty"`
}

// PendingChange is a threshold change waiting for a second books_admin.
type PendingChange struct {
	ID             int64     `json:"change_id"`
	ThresholdCents *int64    `json:"threshold_cents"` // nil: remove the threshold
	RequestedBy    string    `json:"requested_by"`
	RequestedAt    time.Time `json:"requested_at"`
}

// PropertyIn is what to set; nil leaves a setting as it is.
type PropertyIn struct {
	PropertyID     string  `json:"property_id"`
	ThresholdCents *int64  `json:"approval_threshold_cents,omitempty"`
	ClearThreshold bool    `json:"clear_threshold,omitempty"`
	ManagerEmail   *string `json:"manager_email,omitempty"`
	NSFFeeCents    *int64  `json:"nsf_fee_cents,omitempty"`
	Jurisdiction   *string `json:"jurisdiction,omitempty"`
	BuildingUnits  *int32  `json:"building_units,omitempty"`
	Currency       *string `json:"currency,omitempty"`
	TimeZone       *string `json:"time_zone,omitempty"`
	// UnclaimedAfterDays: days after which an unpaid refund payout is flagged.
	UnclaimedAfterDays *int32 `json:"unclaimed_after_days,omitempty"`
	// ReminderDays: days before an automatic release the property's
	// managers are reminded (an empty list: never).
	ReminderDays *[]int `json:"reminder_days,omitempty"`
	// DepositMethod: "payment" or "card_hold"; CardHoldRenewSeconds: how
	// often a hold is placed again (1 second to 7 days).
	DepositMethod        *string `json:"deposit_method,omitempty"`
	CardHoldRenewSeconds *int64  `json:"card_hold_renew_seconds,omitempty"`
}

// MaxReminders bounds a property's reminder schedule.
const MaxReminders = 10

func (in PropertyIn) empty() bool {
	return in.ThresholdCents == nil && !in.ClearThreshold && in.ManagerEmail == nil && in.NSFFeeCents == nil &&
		in.Jurisdiction == nil && in.BuildingUnits == nil && in.Currency == nil && in.TimeZone == nil && in.UnclaimedAfterDays == nil &&
		in.ReminderDays == nil && in.DepositMethod == nil && in.CardHoldRenewSeconds == nil
}

// MaxCardHoldRenewal is the longest a hold may stand before it is placed
// again: card networks let an authorization lapse after about 7 days.
const MaxCardHoldRenewal = 7 * 24 * time.Hour

// SetProperty sets a property's policy. A new threshold where there was
// none applies at once; changing an existing one is recorded as pending
// until a second books_admin approves it (ApprovePropertyChange).
func (g *Gateway) SetProperty(ctx context.Context, who Principal, in PropertyIn) (out Property, err error) {
	defer func() { g.audit(ctx, who, "", "property.set", in, err) }()
	if err := who.may("property.set"); err != nil {
		return out, err
	}
	if err := who.property(in.PropertyID); err != nil {
		return out, err
	}
	if in.empty() {
		return out, fail(Invalid, "nothing_to_set", "", "nothing to set: give an approval threshold, manager email, NSF fee, jurisdiction, building units, currency, time zone, unclaimed days, reminder days, deposit method or card hold renewal")
	}
	policy := db.SetPropertyPolicyParams{PropertyID: in.PropertyID}
	if in.ThresholdCents != nil && in.ClearThreshold {
		return out, fail(Invalid, "invalid", "approval_threshold_cents", "give a threshold or clear it, not both")
	}
	if in.ThresholdCents != nil {
		if err := CheckCents("approval_threshold_cents", *in.ThresholdCents); err != nil {
			return out, err
		}
	}
	if in.ManagerEmail != nil {
		addr, err := mail.ParseAddress(*in.ManagerEmail)
		if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
			return out, fail(Invalid, "invalid", "manager_email", "manager email %q is not an email address", *in.ManagerEmail)
		}
		policy.ManagerEmail = pgtype.Text{String: addr.Address, Valid: true}
	}
	if in.NSFFeeCents != nil {
		if *in.NSFFeeCents < 0 || *in.NSFFeeCents > money.MaxCents {
			return out, fail(Invalid, "invalid", "nsf_fee_cents", "the NSF fee must be from 0 (none) to %s", money.Format(money.MaxCents))
		}
		policy.NsfFeeCents = pgtype.Int8{Int64: *in.NSFFeeCents, Valid: true}
	}
	law := db.SetPropertyJurisdictionParams{PropertyID: in.PropertyID}
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	if in.Jurisdiction != nil {
		code, err := CheckJurisdiction(ctx, q, *in.Jurisdiction)
		if err != nil {
			return out, err
		}
		law.Jurisdiction = pgtype.Text{String: code, Valid: true}
	}
	if in.BuildingUnits != nil {
		if *in.BuildingUnits < 1 || *in.BuildingUnits > 100000 {
			return out, fail(Invalid, "invalid", "building_units", "building units must be from 1 to 100000")
		}
		law.BuildingUnits = pgtype.Int4{Int32: *in.BuildingUnits, Valid: true}
	}
	locale := db.SetPropertyLocaleParams{PropertyID: in.PropertyID}
	if in.Currency != nil {
		c, err := money.CheckCurrency(*in.Currency)
		if err != nil {
			return out, fail(Invalid, "invalid", "currency", "%v", err)
		}
		locale.Currency = pgtype.Text{String: c, Valid: true}
	} else if law.Jurisdiction.Valid && strings.HasPrefix(law.Jurisdiction.String, "GB-") {
		// English deposits are owed in pounds unless told otherwise.
		locale.Currency = pgtype.Text{String: "GBP", Valid: true}
	}
	if in.TimeZone != nil {
		if _, err := rules.LoadZone(*in.TimeZone); err != nil || *in.TimeZone == "" {
			return out, fail(Invalid, "invalid", "time_zone", "time zone %q: give an IANA name such as America/Los_Angeles or Europe/London", *in.TimeZone)
		}
		locale.TimeZone = pgtype.Text{String: *in.TimeZone, Valid: true}
	}
	if in.UnclaimedAfterDays != nil && (*in.UnclaimedAfterDays < 1 || *in.UnclaimedAfterDays > 3650) {
		return out, fail(Invalid, "invalid", "unclaimed_after_days", "unclaimed days must be from 1 to 3650")
	}
	var reminders []int32
	if in.ReminderDays != nil {
		days := *in.ReminderDays
		if len(days) > MaxReminders {
			return out, fail(Invalid, "invalid", "reminder_days", "give at most %d reminder days", MaxReminders)
		}
		reminders = []int32{}
		for _, d := range days {
			if d < 1 || d > 120 {
				return out, fail(Invalid, "invalid", "reminder_days", "reminder day %d: give days before the release, from 1 to 120", d)
			}
			if !slices.Contains(reminders, int32(d)) {
				reminders = append(reminders, int32(d))
			}
		}
		slices.Sort(reminders)
		slices.Reverse(reminders)
	}
	cards := db.SetPropertyCardHoldsParams{PropertyID: in.PropertyID}
	if in.DepositMethod != nil {
		if m := *in.DepositMethod; m != DepositPayment && m != DepositCardHold {
			return out, fail(Invalid, "invalid", "deposit_method", "deposit method %q: give payment or card_hold", m)
		}
		cards.DepositMethod = pgtype.Text{String: *in.DepositMethod, Valid: true}
	}
	if in.CardHoldRenewSeconds != nil {
		if s := *in.CardHoldRenewSeconds; s < 1 || s > int64(MaxCardHoldRenewal/time.Second) {
			return out, fail(Invalid, "invalid", "card_hold_renew_seconds", "a card hold is renewed every 1 second to 7 days (604800 seconds), before the card network lets it lapse")
		}
		cards.CardHoldRenewSeconds = pgtype.Int8{Int64: *in.CardHoldRenewSeconds, Valid: true}
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var row db.Property
	var pending *db.PropertyChange
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		// A property set before its first listing or lease is made here.
		if err := q.UpsertProperty(ctx, in.PropertyID); err != nil {
			return err
		}
		cur, err := q.GetProperty(ctx, in.PropertyID)
		if err != nil {
			return err
		}
		if in.ThresholdCents != nil || in.ClearThreshold {
			switch {
			case !cur.ApprovalThresholdCents.Valid && in.ThresholdCents != nil:
				// A first threshold only adds a control: it applies at once.
				policy.ApprovalThresholdCents = pgtype.Int8{Int64: *in.ThresholdCents, Valid: true}
			case cur.ApprovalThresholdCents.Valid && in.ThresholdCents != nil && cur.ApprovalThresholdCents.Int64 == *in.ThresholdCents,
				!cur.ApprovalThresholdCents.Valid && in.ClearThreshold:
				// Nothing changes.
			default:
				var to pgtype.Int8
				if in.ThresholdCents != nil {
					to = pgtype.Int8{Int64: *in.ThresholdCents, Valid: true}
				}
				ch, err := q.InsertPropertyChange(ctx, db.InsertPropertyChangeParams{PropertyID: in.PropertyID, ThresholdCents: to, RequestedBy: who.Name})
				if IsUniqueViolation(err) {
					return fail(Conflict, "change_pending", "approval_threshold_cents", "a change of property %s's threshold already awaits approval: approve or decline it first", in.PropertyID)
				}
				if err != nil {
					return err
				}
				pending = &ch
			}
		}
		if row, err = q.SetPropertyPolicy(ctx, policy); err != nil {
			return err
		}
		if row, err = q.SetPropertyJurisdiction(ctx, law); err != nil {
			return err
		}
		if row, err = q.SetPropertyLocale(ctx, locale); err != nil {
			return err
		}
		if in.UnclaimedAfterDays != nil {
			if row, err = q.SetUnclaimedAfterDays(ctx, db.SetUnclaimedAfterDaysParams{PropertyID: in.PropertyID, UnclaimedAfterDays: *in.UnclaimedAfterDays}); err != nil {
				return err
			}
		}
		if cards.DepositMethod.Valid || cards.CardHoldRenewSeconds.Valid {
			if row, err = q.SetPropertyCardHolds(ctx, cards); err != nil {
				return err
			}
		}
		if reminders != nil {
			if err := q.SetPropertyReminderDays(ctx, db.SetPropertyReminderDaysParams{PropertyID: in.PropertyID, ReminderDays: reminders}); err != nil {
				return err
			}
			row.ReminderDays = reminders
		}
		return nil
	})
	if err := txErr(err); err != nil {
		return out, err
	}
	return propertyOf(row, pending), nil
}

func propertyOf(row db.Property, pending *db.PropertyChange) Property {
	p := Property{PropertyID: row.PropertyID, Name: row.Name, ManagerEmail: row.ManagerEmail, NSFFeeCents: row.NsfFeeCents,
		Jurisdiction: row.Jurisdiction, BuildingUnits: row.BuildingUnits, Currency: row.Currency, TimeZone: row.TimeZone,
		UnclaimedAfterDays: row.UnclaimedAfterDays, DepositMethod: row.DepositMethod, CardHoldRenewSeconds: row.CardHoldRenewSeconds}
	if row.ReminderDays != nil {
		p.ReminderDays = make([]int, 0, len(row.ReminderDays))
		for _, d := range row.ReminderDays {
			p.ReminderDays = append(p.ReminderDays, int(d))
		}
	}
	if row.ApprovalThresholdCents.Valid {
		v := row.ApprovalThresholdCents.Int64
		p.ApprovalThresholdCents = &v
	}
	if pending != nil {
		p.PendingThreshold = &PendingChange{ID: pending.ChangeID, RequestedBy: pending.RequestedBy, RequestedAt: pending.CreatedAt}
		if pending.ThresholdCents.Valid {
			v := pending.ThresholdCents.Int64
			p.PendingThreshold.ThresholdCents = &v
		}
	}
	return p
}

// DecidePropertyChange approves or declines a property's pending threshold
// change: a books_admin who did not ask for it.
func (g *Gateway) DecidePropertyChange(ctx context.Context, who Principal, propertyID string, approve bool) (out Property, err error) {
	action := "property.decline"
	if approve {
		action = "property.approve"
	}
	defer func() { g.audit(ctx, who, "", action, map[string]string{"property_id": propertyID}, err) }()
	if err := who.may("property.ok"); err != nil {
		return out, err
	}
	if err := who.property(propertyID); err != nil {
		return out, err
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		ch, err := q.GetPendingPropertyChange(ctx, propertyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail(Conflict, "nothing_pending", "property_id", "no change of property %s awaits approval", propertyID)
		}
		if err != nil {
			return err
		}
		if approve && ch.RequestedBy == who.Name {
			return fail(Forbidden, "own_request", "", "you asked for this change of property %s: another books_admin must approve it", propertyID)
		}
		status := "declined"
		if approve {
			status = "approved"
		}
		if _, err := q.DecidePropertyChange(ctx, db.DecidePropertyChangeParams{ChangeID: ch.ChangeID, Status: status, DecidedBy: who.Name}); err != nil {
			return err
		}
		row, err := q.GetProperty(ctx, propertyID)
		if approve {
			row, err = q.SetPropertyThreshold(ctx, db.SetPropertyThresholdParams{PropertyID: propertyID, ApprovalThresholdCents: ch.ThresholdCents})
		}
		out = propertyOf(row, nil)
		return err
	})
	return out, txErr(err)
}

// UpsertProperty creates a property (from a PMS, or a person's first lease
// there) or sets its name and manager email.
func (g *Gateway) UpsertProperty(ctx context.Context, who Principal, propertyID string, name, managerEmail *string) (out Property, err error) {
	defer func() {
		g.audit(ctx, who, "", "property.upsert", map[string]any{"property_id": propertyID, "name": name, "manager_email": managerEmail}, err)
	}()
	if err := who.may("property.upsert"); err != nil {
		return out, err
	}
	if err := who.property(propertyID); err != nil {
		return out, err
	}
	params := db.UpsertPropertyDetailsParams{PropertyID: propertyID}
	if name != nil {
		n := strings.TrimSpace(*name)
		if len(n) > MaxDescription {
			return out, fail(Invalid, "too_long", "name", "name is longer than %d characters", MaxDescription)
		}
		params.Name = pgtype.Text{String: n, Valid: true}
	}
	if managerEmail != nil {
		addr, err := mail.ParseAddress(*managerEmail)
		if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
			return out, fail(Invalid, "invalid", "manager_email", "manager_email %q is not an email address", *managerEmail)
		}
		params.ManagerEmail = pgtype.Text{String: addr.Address, Valid: true}
	}
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	row, err := q.UpsertPropertyDetails(ctx, params)
	if err != nil {
		return out, unavailable("the database", err)
	}
	return propertyOf(row, nil), nil
}

// AddUnit creates a unit (and its property) if new.
func (g *Gateway) AddUnit(ctx context.Context, who Principal, propertyID, unitID string) (err error) {
	defer func() {
		g.audit(ctx, who, "", "unit.upsert", map[string]string{"property_id": propertyID, "unit_id": unitID}, err)
	}()
	if err := who.may("property.upsert"); err != nil {
		return err
	}
	if err := CheckID("unit_id", unitID); err != nil {
		return err
	}
	if err := who.property(propertyID); err != nil {
		return err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return err
	}
	if err := UpsertUnit(ctx, q, propertyID, unitID); err != nil {
		return unavailable("the database", err)
	}
	return nil
}

// ResidentIn is a tenant as a PMS knows it: by its own ID within a property.
type ResidentIn struct {
	ResidentID        string `json:"resident_id"`
	PropertyID        string `json:"property_id"`
	Email             string `json:"email"`
	Name              string `json:"name,omitempty"`
	ForwardingAddress string `json:"forwarding_address,omitempty"`
}

// UpsertResident creates a resident or updates their contact details.
//
// Where a refund goes follows the resident's name, email and forwarding
// address, so a person may not change those of a resident whose lease holds money:
// that is a payee change, which a books_admin approves (`deposits deposit
// amend --payee`). The PMS's API key, the book of the tenant's contact
// details, may; the lease's audit log shows the change either way.
func (g *Gateway) UpsertResident(ctx context.Context, who Principal, in ResidentIn) (out ResidentIn, err error) {
	var leaseID string // the first lease holding money that the change touches, for its audit log
	defer func() { g.audit(ctx, who, leaseID, "resident.upsert", in, err) }()
	if err := who.may("resident.upsert"); err != nil {
		return in, err
	}
	if err := CheckID("resident_id", in.ResidentID); err != nil {
		return in, err
	}
	if err := who.property(in.PropertyID); err != nil {
		return in, err
	}
	addr, err := mail.ParseAddress(in.Email)
	if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return in, fail(Invalid, "invalid", "email", "email %q is not an email address", in.Email)
	}
	in.Email, in.Name, in.ForwardingAddress = addr.Address, strings.TrimSpace(in.Name), strings.TrimSpace(in.ForwardingAddress)
	if len(in.Name) > MaxDescription {
		return in, fail(Invalid, "too_long", "name", "name is longer than %d characters", MaxDescription)
	}
	if len(in.ForwardingAddress) > MaxReason {
		return in, fail(Invalid, "too_long", "forwarding_address", "forwarding_address is longer than %d characters", MaxReason)
	}
	q, err := g.queries(ctx)
	if err != nil {
		return in, err
	}
	property, external := pgtype.Text{String: in.PropertyID, Valid: true}, pgtype.Text{String: in.ResidentID, Valid: true}
	prev, err := q.GetExternalResident(ctx, db.GetExternalResidentParams{PropertyID: property, ExternalID: external})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return in, unavailable("the database", err)
	case prev.Email != in.Email || prev.Name != in.Name || prev.ForwardingAddress != in.ForwardingAddress:
		leases, err := q.ResidentLeasesHoldingMoney(ctx, db.ResidentLeasesHoldingMoneyParams{PropertyID: property, ExternalID: external})
		if err != nil {
			return in, unavailable("the database", err)
		}
		if len(leases) > 0 {
			leaseID = leases[0]
			if who.Kind == KindUser {
				return in, fail(Forbidden, "payee_change_needs_approval", "email",
					"resident %s is a tenant of lease %s, which holds their deposit: their refund follows their name, email and address, so a change is a payee change that a books_admin approves (`deposits deposit amend %s --type cash --amount 0 --payee EMAIL`), or comes from the PMS",
					in.ResidentID, leaseID, leaseID)
			}
		}
	}
	if err := q.UpsertProperty(ctx, in.PropertyID); err != nil {
		return in, unavailable("the database", err)
	}
	if _, err := q.UpsertExternalResident(ctx, db.UpsertExternalResidentParams{
		PropertyID: property, ExternalID: external, Email: in.Email, Name: in.Name, ForwardingAddress: in.ForwardingAddress,
	}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return in, unavailable("the database", err)
	}
	return in, nil
}
