// Package gateway is the one way into a lease's deposit from outside: it
// starts a lease's workflow, records every fact (payments, returned
// payments, charges, deposit amendments, the move-out, a forwarding
// address), sends every decision (extend, keep, release, hold, approve,
// decline) and reads a lease's state and books. The HTTP server (`deposits
// serve`, which people's CLI and PMSs call), reconcile and import all go
// through it, so they refuse the same things for the same reasons.
//
// Who acts is a Principal the caller has authenticated (a person's token,
// an integration's API key, depositflow itself): the gateway checks what
// its roles allow on which properties, and audits every action, accepted or
// refused, under its name. A lease outside the caller's properties answers
// exactly as one that does not exist.
//
// Facts go to PostgreSQL first; the signal that follows only wakes the
// lease's workflow with the row's ID, and the workflow reads the fact from
// the database. A decision is audited first (the audit row is the proof of
// who asked that the workflow checks), then sent as a Temporal Update.
// Recording the same fact again under its key (the same payment reference,
// charge or amendment reference) changes nothing and signals again, so a
// caller cut off half-way finishes by trying again; reconcile does it for
// those who never try again.
//
// Errors are neutral (a Kind, a stable code, the field, a message that
// never carries a database's or Temporal's own text): each front end words
// them for its users, and logs the cause.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/evidence"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/tenantlink"
	"github.com/depositflow/depositflow/workflows"
)

// Kind says what went wrong, so that the CLI can choose an exit code and the
// API a status code.
type Kind int

// Kinds of failure.
const (
	Invalid         Kind = iota + 1 // the request itself is wrong: nothing changed
	NotFound                        // the lease, payment or listing does not exist (or is not the caller's to see)
	Conflict                        // it contradicts what is recorded, or the lease is closed: nothing changed
	Forbidden                       // the caller's roles or properties do not allow it: nothing changed
	Unauthenticated                 // no credential, or one that is unknown, expired or revoked
	Unavailable                     // the database or Temporal cannot be reached: nothing changed
	NotSignalled                    // the fact is committed but its workflow was not told yet
)

// Error is a refusal or a failure, with the field it is about when there is
// one. Msg is safe to show to the caller; the cause (a database's or
// Temporal's own error) is only for the server's log.
type Error struct {
	Kind  Kind
	Code  string // a stable machine-readable code, e.g. "amount_too_large"
	Field string
	Msg   string
	cause error
}

func (e *Error) Error() string { return e.Msg }

// Cause is the underlying failure, for logs; nil for a refusal.
func (e *Error) Cause() error { return e.cause }

func fail(kind Kind, code, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// unavailable says what could not be reached, keeping the cause for the log.
func unavailable(what string, err error) *Error {
	return &Error{Kind: Unavailable, Code: "unavailable", Msg: "cannot reach " + what, cause: err}
}

// IsKind says whether err is a gateway error of that kind.
func IsKind(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}

// Principal is who acts, as the caller authenticated it.
type Principal struct {
	Kind       string   // user, key (an integration's API key), system (depositflow's own passes), local (an admin command run where the database is)
	Name       string   // the user's or key's name
	Roles      []string // deposit.Role*; keys act as integrations
	Properties []string // the properties it may act on; "*" is every property
	Origin     string   // the client's address, for the audit log
	// RequestKey is the caller's idempotency key for this request (the
	// Idempotency-Key header): a decision sent again under it is the same decision.
	RequestKey string
	// ExpiresAt is when a person's token stops working.
	ExpiresAt *time.Time
	// Lease and Resident scope a tenant (KindTenant) to the one lease and
	// the one tenant their signed link names.
	Lease    string
	Resident int64
	// tokenID is the person's token this request came with (0 for others):
	// a codec session opened with it ends with it.
	tokenID int64
}

// Principal kinds.
const (
	KindUser   = "user"
	KindKey    = "key"
	KindSystem = "system"
	KindLocal  = "local"
	// KindTenant is a tenant who opened their lease's page with a signed
	// link (tenant.go): they may read that lease and answer its statement.
	KindTenant = "tenant"
)

// RoleIntegration is what an API key acts as: a PMS posting its facts.
const RoleIntegration = "integration"

// System is depositflow itself acting (reconcile, import): every property,
// facts only.
func System(name string) Principal {
	return Principal{Kind: KindSystem, Name: name, Roles: []string{deposit.RoleSystem}, Properties: []string{"*"}}
}

// ID names the principal in the audit log: "user:ana", "key:PMS-1".
func (p Principal) ID() string { return p.Kind + ":" + p.Name }

// Has says whether the principal holds a role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

// Covers says whether the principal may act on a property.
func (p Principal) Covers(property string) bool {
	return slices.Contains(p.Properties, "*") || slices.Contains(p.Properties, property)
}

func (p Principal) describe() string {
	switch p.Kind {
	case KindKey:
		return "API key " + p.Name
	case KindUser:
		return fmt.Sprintf("%s (%s)", p.Name, strings.Join(p.Roles, ", "))
	}
	return p.Name
}

// Actions and who may take them. A person needs one of the roles listed;
// an API key (a PMS) may take the actions marked for integrations; depositflow
// itself (reconcile, import) records facts.
type permission struct {
	roles       []string
	integration bool
	system      bool
}

var permissions = map[string]permission{
	"read":               {roles: deposit.Roles, integration: true, system: true},
	"lease.start":        {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"listing.add":        {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"property.upsert":    {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"resident.upsert":    {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"payment.record":     {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"payment.return":     {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"charge.add":         {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"moveout":            {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"forwarding-address": {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"deposit.amend":      {roles: []string{deposit.RoleManager}},
	// Money moved before the settlement and open invoices (moves.go).
	"transfer":       {roles: []string{deposit.RoleManager}},
	"refund.partial": {roles: []string{deposit.RoleManager}},
	"invoice.add":    {roles: []string{deposit.RoleManager}, integration: true, system: true},
	"invoice.apply":  {roles: []string{deposit.RoleManager}},
	"extend":         {roles: []string{deposit.RoleManager}},
	"keep":           {roles: []string{deposit.RoleManager}},
	"release":        {roles: []string{deposit.RoleManager}},
	"hold":           {roles: []string{deposit.RoleManager}},
	"approve":        {roles: []string{deposit.RoleBooksAdmin}},
	// Whoever asked may withdraw their own request; the workflow checks it was them.
	"decline":       {roles: []string{deposit.RoleBooksAdmin, deposit.RoleManager}},
	"property.set":  {roles: []string{deposit.RoleBooksAdmin}},
	"property.ok":   {roles: []string{deposit.RoleBooksAdmin}},
	"recheck_books": {roles: []string{deposit.RoleAdmin}},
	// The trust books: anyone with a role reads those of their properties;
	// a books_admin writes what only the books have (a deposit batch, a
	// refund paid, a statement reconciled).
	"books.read":        {roles: deposit.Roles},
	"books.deposit":     {roles: []string{deposit.RoleBooksAdmin}},
	"books.refund_paid": {roles: []string{deposit.RoleBooksAdmin}},
	"books.reconcile":   {roles: []string{deposit.RoleBooksAdmin}},
	// The tenant's side (tenant.go).
	"evidence.add":    {roles: []string{deposit.RoleManager}},
	"dispute.resolve": {roles: []string{deposit.RoleManager}},
	"dispute.export":  {roles: []string{deposit.RoleManager}},
	// Tenants' data as Temporal holds it, sealed (the Web UI's codec server).
	"payloads.decode": {roles: []string{deposit.RoleAdmin}},
}

// tenantActions are all a tenant may do, on their own lease only.
var tenantActions = map[string]bool{
	"tenant.read": true, "dispute.open": true, "statement.accept": true, "offer.accept": true, "forwarding-address": true,
}

// may refuses an action the principal's roles do not allow, naming the role it needs.
func (p Principal) may(action string) error {
	perm, ok := permissions[action]
	if !ok && !tenantActions[action] {
		return fail(Forbidden, "forbidden", "", "no one may %s", action)
	}
	if p.Kind == KindTenant {
		if tenantActions[action] {
			return nil
		}
		return fail(Forbidden, "forbidden", "", "a tenant may not %s", action)
	}
	if !ok {
		return fail(Forbidden, "forbidden", "", "only the tenant, through the link of their lease's page, may %s", action)
	}
	switch p.Kind {
	case KindKey:
		if perm.integration {
			return nil
		}
		return fail(Forbidden, "forbidden", "", "API key %s may not %s: integrations record facts; a person decides (deposits login)", p.Name, action)
	case KindSystem, KindLocal:
		if perm.system {
			return nil
		}
	default:
		for _, r := range perm.roles {
			if p.Has(r) {
				return nil
			}
		}
	}
	need := strings.Join(perm.roles, " or ")
	if action == "read" {
		need = "any role"
	}
	return fail(Forbidden, "forbidden", "", "%s may not %s: it needs the %s role", p.describe(), action, need)
}

// Gateway is the one way into a lease. DB and Temporal are called on first
// use, so a request refused early never connects.
type Gateway struct {
	DB       func(context.Context) (*pgxpool.Pool, error)
	Temporal func(context.Context) (client.Client, error)
	// SignalWait is how long a Temporal hiccup is waited out after the
	// commit before giving up with NotSignalled (20 s when zero).
	SignalWait time.Duration
	// Logger receives the causes of failures the callers only see as
	// "cannot reach"; nil discards them.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Links checks tenants' signed links (nil: every link is refused);
	// Blobs stores evidence files (nil: uploads are refused).
	Links *tenantlink.Signer
	Blobs *evidence.Store
	// DisputeExportAfter is how long a disputed item must have waited,
	// unresolved, before its case can be exported for an adjudicator
	// (DefaultDisputeExportAfter when zero).
	DisputeExportAfter time.Duration
}

func (g *Gateway) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Gateway) queries(ctx context.Context) (*db.Queries, error) {
	pool, err := g.DB(ctx)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	return db.New(pool), nil
}

func (g *Gateway) temporal(ctx context.Context) (client.Client, error) {
	c, err := g.Temporal(ctx)
	if err != nil {
		return nil, unavailable("Temporal", err)
	}
	return c, nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID says whether an ID survives in a workflow ID, a URL and an email Message-ID.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// CheckID refuses an ID that would not survive in a workflow ID, a URL or a Message-ID.
func CheckID(field, id string) error {
	if id == "" {
		return fail(Invalid, "missing_field", field, "%s is required", field)
	}
	if !ValidID(id) {
		return fail(Invalid, "invalid_id", field, "%s %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", field, id)
	}
	return nil
}

// CheckCents refuses amounts that are not positive or larger than money.MaxCents.
func CheckCents(field string, cents int64) error {
	switch {
	case cents < 0:
		return fail(Invalid, "amount_negative", field, "%s must be positive", field)
	case cents == 0:
		return fail(Invalid, "amount_zero", field, "%s must be more than zero", field)
	case cents > money.MaxCents:
		return fail(Invalid, "amount_too_large", field, "%s is larger than %s", field, money.Format(money.MaxCents))
	}
	return nil
}

// IsUniqueViolation says whether err is PostgreSQL refusing a duplicate key.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// txErr is the outcome of a transaction: a refusal made inside it as it
// is, any other failure as the database being away.
func txErr(err error) error {
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	if err != nil {
		return unavailable("the database", err)
	}
	return nil
}

// notFound is what an unknown lease, and one outside the caller's
// properties, both answer: the same words, so nothing leaks.
func notFound(leaseID string) *Error {
	return fail(NotFound, "lease_not_found", "lease_id", "lease %s does not exist", leaseID)
}

// lease finds a lease the principal may see: NotFound when it does not
// exist or belongs to a property outside the principal's scope.
func (g *Gateway) lease(ctx context.Context, who Principal, leaseID string) (*db.Queries, db.GetLeaseRow, error) {
	if err := CheckID("lease_id", leaseID); err != nil {
		return nil, db.GetLeaseRow{}, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, db.GetLeaseRow{}, err
	}
	if who.Kind == KindTenant && leaseID != who.Lease {
		// A tenant's link opens their lease alone, and is refused for
		// another exactly as a tampered or expired one.
		return nil, db.GetLeaseRow{}, linkRefused()
	}
	l, err := q.GetLease(ctx, leaseID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !who.Covers(l.Lease.PropertyID) {
		return nil, l, notFound(leaseID)
	}
	if err != nil {
		return nil, l, unavailable("the database", err)
	}
	return q, l, nil
}

// property checks that the principal may act on a property; a property
// outside its scope is refused whether it exists or not.
func (who Principal) property(propertyID string) error {
	if err := CheckID("property_id", propertyID); err != nil {
		return err
	}
	if !who.Covers(propertyID) {
		return fail(Forbidden, "forbidden", "property_id", "%s may not act on property %s (its properties: %s)", who.describe(), propertyID, strings.Join(who.Properties, ", "))
	}
	return nil
}

// audit writes an action to the audit log, accepted or refused, under the
// principal's name, roles and address. The audit log is the one table a
// refusal writes.
func (g *Gateway) audit(ctx context.Context, who Principal, leaseID, action string, request any, err error) {
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	g.auditRow(ctx, who, leaseID, action, request, pgtype.Bool{Bool: err == nil, Valid: true}, result, "")
}

func (g *Gateway) auditRow(ctx context.Context, who Principal, leaseID, action string, request any, accepted pgtype.Bool, result, key string) (db.AuditLog, error) {
	q, err := g.queries(ctx)
	if err != nil {
		return db.AuditLog{}, err
	}
	b, err := json.Marshal(request)
	if err != nil {
		return db.AuditLog{}, err
	}
	p := db.InsertAuditParams{
		Actor: who.Name, Role: strings.Join(who.Roles, ","), Principal: who.ID(), Origin: who.Origin,
		LeaseID: leaseID, Action: action, Request: b, Accepted: accepted, Result: result,
	}
	if key != "" {
		p.RequestKey = pgtype.Text{String: key, Valid: true}
	}
	row, err := q.InsertAudit(context.WithoutCancel(ctx), p)
	if err != nil {
		g.log("audit row not written", err, "lease_id", leaseID, "action", action)
		return row, unavailable("the database", err)
	}
	return row, nil
}

func (g *Gateway) log(msg string, err error, args ...any) {
	if g.Logger != nil {
		g.Logger.Error(msg, append(args, "error", err)...)
	}
}

// Signal tells the lease's workflow that a fact is in the database: the
// argument carries the row's ID, and the workflow reads the fact itself.
// Temporal being away for a moment is waited out.
func (g *Gateway) Signal(ctx context.Context, leaseID, name string, arg any) error {
	c, err := g.Temporal(ctx)
	if err != nil {
		return &Error{Kind: NotSignalled, Code: "not_signalled", Msg: fmt.Sprintf("recorded in the database, but Temporal could not be reached to tell lease %s's workflow: the next reconcile pass will", leaseID), cause: err}
	}
	wait := g.SignalWait
	if wait == 0 {
		wait = 20 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		err = c.SignalWorkflow(ctx, workflows.WorkflowID(leaseID), "", name, arg)
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			return nil
		case errors.As(err, &nf):
			// Committed, and accepted: reconcile's next pass starts a lease
			// whose workflow never began, or follows up a fact that came
			// as its lease closed (a refund or an invoice of the difference).
			return &Error{Kind: NotSignalled, Code: "not_signalled", cause: err,
				Msg: fmt.Sprintf("recorded in the database, but lease %s's workflow is not running (it may have just closed): the next reconcile pass settles the difference", leaseID)}
		case time.Now().After(deadline) || ctx.Err() != nil:
			return &Error{Kind: NotSignalled, Code: "not_signalled", cause: err,
				Msg: fmt.Sprintf("recorded in the database, but Temporal did not take the %s signal for lease %s: run the same command again to finish (or let the next reconcile pass)", name, leaseID)}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// State is a lease's deposit as its workflow knows it: the live query while
// it runs, its result once it has closed (which needs no worker).
func (g *Gateway) State(ctx context.Context, who Principal, leaseID string) (deposit.State, error) {
	q, l, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return deposit.State{}, err
	}
	s, err := g.state(ctx, leaseID)
	if s.Currency == "" {
		s.Currency = l.Lease.Currency
	}
	if err == nil && s.Stage == deposit.StageClosed {
		s.FollowUps, err = g.followUps(ctx, q, leaseID)
	}
	return s, err
}

func (g *Gateway) state(ctx context.Context, leaseID string) (deposit.State, error) {
	var s deposit.State
	c, err := g.temporal(ctx)
	if err != nil {
		return s, err
	}
	wid := workflows.WorkflowID(leaseID)
	desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return s, fail(NotFound, "workflow_not_found", "lease_id", "lease %s has no deposit workflow yet (the next reconcile pass starts it)", leaseID)
	}
	if err != nil {
		return s, unavailable("Temporal", err)
	}
	switch st := desc.GetWorkflowExecutionInfo().GetStatus(); st {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := c.QueryWorkflow(qctx, wid, "", workflows.QueryState)
		if err != nil {
			return s, unavailable("a deposits worker (is `deposits worker` running?)", err)
		}
		if err := v.Get(&s); err != nil {
			return s, unavailable("a deposits worker", err)
		}
		return s, nil
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if err := c.GetWorkflow(ctx, wid, "").Get(ctx, &s); err != nil {
			return s, unavailable("Temporal", err)
		}
		return s, nil
	case enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		// Described between two runs: the next run answers.
		v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryState)
		if err != nil {
			return s, unavailable("a deposits worker", err)
		}
		if err := v.Get(&s); err != nil {
			return s, unavailable("a deposits worker", err)
		}
		return s, nil
	default:
		return s, fail(Conflict, "workflow_ended", "lease_id", "the deposit workflow of lease %s ended as %s: an operator must look at it in the Temporal UI", leaseID, strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_")))
	}
}

// checkOpen refuses a fact for a lease whose workflow no longer runs: a
// settled deposit takes no new money (the settlement's date says when).
func (g *Gateway) checkOpen(ctx context.Context, q *db.Queries, l db.GetLeaseRow) error {
	st, err := q.GetSettlement(ctx, l.Lease.LeaseID)
	if err == nil {
		return fail(Conflict, "lease_closed", "lease_id", "lease %s is closed: its deposit was settled on %s (%s), nothing can change it now",
			l.Lease.LeaseID, st.CreatedAt.UTC().Format(time.DateOnly), st.Outcome)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return unavailable("the database", err)
	}
	if l.Lease.Stage == deposit.StageClosed {
		return fail(Conflict, "lease_closed", "lease_id", "lease %s is closed (%s): nothing can change its deposit now", l.Lease.LeaseID, l.Lease.Outcome)
	}
	c, err := g.temporal(ctx)
	if err != nil {
		return err
	}
	desc, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(l.Lease.LeaseID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fail(Conflict, "workflow_not_found", "lease_id", "lease %s has no deposit workflow yet: start it with `deposits lease start %s ...`, or let the next reconcile pass", l.Lease.LeaseID, l.Lease.LeaseID)
	}
	if err != nil {
		return unavailable("Temporal", err)
	}
	switch st := desc.GetWorkflowExecutionInfo().GetStatus(); st {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING, enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return nil
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return fail(Conflict, "lease_closed", "lease_id", "lease %s is closed: nothing can change its deposit now", l.Lease.LeaseID)
	default:
		return fail(Conflict, "workflow_ended", "lease_id", "the deposit workflow of lease %s ended as %s: an operator must look at it in the Temporal UI", l.Lease.LeaseID, strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_")))
	}
}

// MayOpenPayloads lets a caller through the codec endpoint, the door to
// every tenant's data in Temporal's histories: admins only, and each use
// audited (what, how many bytes), granted or refused.
func (g *Gateway) MayOpenPayloads(ctx context.Context, who Principal, op, namespace string, bytes int64) error {
	err := who.may("payloads.decode")
	g.audit(ctx, who, "", "payloads."+op, map[string]any{"namespace": namespace, "bytes": bytes}, err)
	return err
}

// RecordAction audits an action taken outside the gateway's own methods
// (an admin command run where the database is: rules set, apikey create).
func (g *Gateway) RecordAction(ctx context.Context, who Principal, leaseID, action string, request any, err error) {
	g.audit(ctx, who, leaseID, action, request, err)
}

// WakeWebhooks starts (or wakes) the delivery workflows of webhook queues
// an admin put deliveries back in (deposits webhook enable --redeliver).
func (g *Gateway) WakeWebhooks(ctx context.Context, queues []activities.WebhookQueue) error {
	if len(queues) == 0 {
		return nil
	}
	c, err := g.temporal(ctx)
	if err != nil {
		return err
	}
	if err := (workflows.WebhookStarter{Client: c}).DispatchWebhooks(ctx, queues); err != nil {
		return unavailable("Temporal", err)
	}
	return nil
}
