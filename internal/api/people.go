package api

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/internal/statement"
	"github.com/depositflow/depositflow/templates"
)

// The routes people's CLI calls (`deposits login` first): decisions, deposit
// amendments, a property's policy, and the reports. A decision may carry an
// Idempotency-Key header: sent again under the same key it is not applied
// twice.

func (s *Server) peopleRoutes() {
	s.handle("GET /v1/me", true, s.me)
	s.handle("GET /v1/leases", true, s.listLeases)
	s.handle("POST /v1/leases/{lease_id}/deposit-amendments", true, s.amend)
	for _, kind := range []string{gateway.Extend, gateway.Keep, gateway.Release, gateway.Hold, gateway.Approve, gateway.Decline} {
		s.handle("POST /v1/leases/{lease_id}/"+kind, true, s.decide(kind))
	}
	s.handle("POST /v1/leases/{lease_id}/recheck-books", true, s.decide(gateway.RecheckBooks))
	s.handle("GET /v1/leases/{lease_id}/ledger", true, s.ledger)
	s.handle("GET /v1/leases/{lease_id}/audit", true, s.audit)
	s.handle("GET /v1/leases/{lease_id}/emails", true, s.emails)
	s.handle("GET /v1/leases/{lease_id}/emails/{kind}/preview", true, s.preview)
	s.handle("GET /v1/leases/{lease_id}/statement", true, s.statement)
	s.handle("GET /v1/compliance", true, s.compliance)
	s.handle("GET /v1/charge-codes", true, s.chargeCodes)
	s.handle("GET /v1/rules", true, s.rules)
	s.handle("GET /v1/rules/{code}", true, s.rule)
	s.handle("POST /v1/properties/{property_id}/policy", true, s.setPolicy)
	s.handle("POST /v1/properties/{property_id}/policy/approve", true, s.decidePolicy(true))
	s.handle("POST /v1/properties/{property_id}/policy/decline", true, s.decidePolicy(false))
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	writeJSON(w, http.StatusOK, s.gw.Who(r.Context(), who))
	return nil
}

// listLeases answers a page of the caller's leases from the database:
// ?stage=&property_id=&due_before=&cursor=&limit=.
func (s *Server) listLeases(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	f := gateway.LeaseFilter{Stage: q.Get("stage"), PropertyID: q.Get("property_id"), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = limit(q.Get("limit")); err != nil {
		return err
	}
	if v := q.Get("due_before"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				return invalid("due_before", "due_before %q: write the date as YYYY-MM-DD or RFC 3339", v)
			}
		}
		f.DueBefore = t
	}
	page, err := s.gw.ListLeases(r.Context(), who, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// limit reads a page size; absent is 0, the default.
func limit(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalid("limit", "limit %q is not a number", v)
	}
	if n < 1 {
		return 0, invalid("limit", "limit must be from 1 to %d", gateway.MaxPageSize)
	}
	return n, nil
}

// Amendment is a row added to a lease's deposit: a raise, a lowering
// (negative), a guarantee, a prepaid part, or a new payee (amount 0).
type Amendment struct {
	AmendmentID   string `json:"amendment_id,omitempty"`
	Type          string `json:"type"`
	AmountInCents int64  `json:"amount_in_cents"`
	Currency      string `json:"currency,omitempty"`
	Guarantor     string `json:"guarantor,omitempty"`
	PayeeEmail    string `json:"payee_email,omitempty"`
	PayeeName     string `json:"payee_name,omitempty"`
}

func (s *Server) amend(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Amendment
	if err := decode(w, r, &in); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.gw.AmendDeposit(r.Context(), who, gateway.AmendIn{LeaseID: leaseID, Ref: in.AmendmentID, Type: in.Type, Cents: in.AmountInCents,
		Currency: in.Currency, Guarantor: in.Guarantor, PayeeEmail: in.PayeeEmail, PayeeName: in.PayeeName})
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "amendment_id": out.Ref, "id": out.DepositID, "pending_approval": out.Pending})
}

// DecisionRequest is a decision's body; which fields count depends on the
// decision (extend: days; keep: amount_in_cents or all, reason; hold: off;
// approve and decline: item, reason; recheck-books: rebuild).
type DecisionRequest struct {
	Days          int    `json:"days,omitempty"`
	AmountInCents int64  `json:"amount_in_cents,omitempty"`
	Currency      string `json:"currency,omitempty"`
	All           bool   `json:"all,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Off           bool   `json:"off,omitempty"`
	Item          string `json:"item,omitempty"`
	Rebuild       bool   `json:"rebuild,omitempty"`
	Message       string `json:"message,omitempty"`
}

// decide answers a decision with the lease's state after it.
func (s *Server) decide(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
		var in DecisionRequest
		if err := decodeOptional(w, r, &in); err != nil {
			return err
		}
		if kind == gateway.Extend && in.Days == 0 {
			in.Days = 7
		}
		st, err := s.gw.Decide(r.Context(), who, r.PathValue("lease_id"), gateway.Decision{Kind: kind, Days: in.Days, AmountCents: in.AmountInCents,
			Currency: in.Currency, All: in.All, Reason: in.Reason, Off: in.Off, Item: in.Item, Rebuild: in.Rebuild, Message: in.Message})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}
}

func (s *Server) ledger(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	l, err := s.gw.Ledger(r.Context(), who, r.PathValue("lease_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	rows, err := s.gw.Audit(r.Context(), who, r.PathValue("lease_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"lease_id": r.PathValue("lease_id"), "audit": rows})
	return nil
}

func (s *Server) emails(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	rows, err := s.gw.Emails(r.Context(), who, r.PathValue("lease_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"lease_id": r.PathValue("lease_id"), "emails": rows})
	return nil
}

// preview renders an email of a lease as it stands, without sending it:
// its HTML, or (format=text) its subject and plain text.
func (s *Server) preview(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "html"
	}
	if format != "html" && format != "text" {
		return invalid("format", "format %q: choose html or text", format)
	}
	kind := r.PathValue("kind")
	if kind == templates.KindStatement {
		return invalid("kind", "the statement is GET /v1/leases/{lease_id}/statement")
	}
	data, err := s.gw.StatementData(r.Context(), who, r.PathValue("lease_id"), kind)
	if err != nil {
		return err
	}
	if r.URL.Query().Has("message") {
		// A draft of the manager's message, as the tenant would read it.
		if data.ManagerMessage, err = gateway.CheckMessage(r.URL.Query().Get("message")); err != nil {
			return err
		}
	}
	out, err := templates.Render(kind, data)
	if err != nil {
		return err
	}
	if format == "text" {
		return writeBody(w, "text/plain; charset=utf-8", []byte("Subject: "+out.Subject+"\n\n"+out.Text))
	}
	w.Header().Set("X-Email-Subject", out.Subject)
	return writeBody(w, "text/html; charset=utf-8", []byte(out.HTML))
}

// statement renders the lease's itemized statement: html, text or pdf.
func (s *Server) statement(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "html"
	}
	if format != "html" && format != "text" && format != "pdf" {
		return invalid("format", "format %q: choose html, pdf or text", format)
	}
	data, err := s.gw.StatementData(r.Context(), who, r.PathValue("lease_id"), templates.KindStatement)
	if err != nil {
		return err
	}
	if format == "pdf" {
		var b bytes.Buffer
		if err := statement.PDF(&b, data, s.now()); err != nil {
			return err
		}
		w.Header().Set("Content-Disposition", `attachment; filename="`+data.LeaseID+`-statement.pdf"`)
		return writeBody(w, "application/pdf", b.Bytes())
	}
	out, err := templates.Render(templates.KindStatement, data)
	if err != nil {
		return err
	}
	if format == "text" {
		return writeBody(w, "text/plain; charset=utf-8", []byte(out.Subject+"\n\n"+out.Text))
	}
	return writeBody(w, "text/html; charset=utf-8", []byte(out.HTML))
}

func writeBody(w http.ResponseWriter, contentType string, b []byte) error {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

func (s *Server) compliance(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	rows, err := s.gw.Compliance(r.Context(), who, r.URL.Query().Get("property_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"leases": rows})
	return nil
}

func (s *Server) chargeCodes(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	codes, err := s.gw.ChargeCodes(r.Context(), who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"charge_codes": codes})
	return nil
}

// rules lists the rule of every jurisdiction in force today.
func (s *Server) rules(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	b, err := s.gw.RuleBook(r.Context(), who)
	if err != nil {
		return err
	}
	out := []rules.Rule{}
	for _, code := range b.Codes() {
		if rule, err := b.For(code, s.now()); err == nil {
			out = append(out, rule)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": out})
	return nil
}

// rule answers a jurisdiction's rule in force on a day (?on=YYYY-MM-DD,
// default today), with the history of its editions.
func (s *Server) rule(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	day := s.now()
	if on := r.URL.Query().Get("on"); on != "" {
		t, err := time.Parse(time.DateOnly, on)
		if err != nil {
			return invalid("on", "on %q: write the date as YYYY-MM-DD", on)
		}
		day = t
	}
	b, err := s.gw.RuleBook(r.Context(), who)
	if err != nil {
		return err
	}
	rule, err := b.For(strings.ToUpper(r.PathValue("code")), day)
	if err != nil {
		return refuse(http.StatusNotFound, "rule_not_found", "code", "%v", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rule": rule, "history": b.History(rule.Code)})
	return nil
}

// Policy is what a books_admin sets on a property; an absent field is left
// as it is.
type Policy struct {
	ApprovalThresholdCents *int64  `json:"approval_threshold_cents,omitempty"`
	ClearThreshold         bool    `json:"clear_threshold,omitempty"`
	ManagerEmail           *string `json:"manager_email,omitempty"`
	NSFFeeCents            *int64  `json:"nsf_fee_cents,omitempty"`
	Jurisdiction           *string `json:"jurisdiction,omitempty"`
	BuildingUnits          *int32  `json:"building_units,omitempty"`
	Currency               *string `json:"currency,omitempty"`
	TimeZone               *string `json:"time_zone,omitempty"`
	UnclaimedAfterDays     *int32  `json:"unclaimed_after_days,omitempty"`
	ReminderDays           *[]int  `json:"reminder_days,omitempty"`
	DepositMethod          *string `json:"deposit_method,omitempty"`
	CardHoldRenewSeconds   *int64  `json:"card_hold_renew_seconds,omitempty"`
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Policy
	if err := decode(w, r, &in); err != nil {
		return err
	}
	p, err := s.gw.SetProperty(r.Context(), who, gateway.PropertyIn{PropertyID: r.PathValue("property_id"), ThresholdCents: in.ApprovalThresholdCents,
		ClearThreshold: in.ClearThreshold, ManagerEmail: in.ManagerEmail, NSFFeeCents: in.NSFFeeCents, Jurisdiction: in.Jurisdiction,
		BuildingUnits: in.BuildingUnits, Currency: in.Currency, TimeZone: in.TimeZone, UnclaimedAfterDays: in.UnclaimedAfterDays,
		ReminderDays: in.ReminderDays, DepositMethod: in.DepositMethod, CardHoldRenewSeconds: in.CardHoldRenewSeconds})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) decidePolicy(approve bool) handler {
	return func(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
		p, err := s.gw.DecidePropertyChange(r.Context(), who, r.PathValue("property_id"), approve)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	}
}
