package api

import (
	"net/http"
	"strconv"

	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/gateway"
)

// The trust books (issue #19): the reports an accountant closes a month
// with, read from the journal the facts post to, and the few facts only
// the books have (a deposit batch taken to the bank, a refund paid, a bank
// statement reconciled). Every one goes through the gateway, which checks
// the caller's role and properties.

func (s *Server) booksRoutes() {
	s.handle("GET /v1/books/liability", true, s.liability)
	s.handle("GET /v1/books/trial-balance", true, s.trialBalance)
	s.handle("GET /v1/books/journal", true, s.journal)
	s.handle("GET /v1/books/aging", true, s.aging)
	s.handle("GET /v1/books/interest", true, s.interestReport)
	s.handle("GET /v1/books/unclaimed-refunds", true, s.unclaimed)
	s.handle("POST /v1/properties/{property_id}/deposit-batches", true, s.depositBatch)
	s.handle("POST /v1/properties/{property_id}/bank-reconciliations", true, s.reconcileStatement)
	s.handle("POST /v1/refunds/{refund_id}/paid", true, s.refundPaid)
}

func (s *Server) liability(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	out, err := s.gw.Liability(r.Context(), who, q.Get("property_id"), q.Get("as_of"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) trialBalance(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	out, err := s.gw.TrialBalance(r.Context(), who, q.Get("property_id"), q.Get("as_of"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// JournalPage is the journal's lines dated from..to.
type JournalPage struct {
	From    string              `json:"from"`
	To      string              `json:"to"`
	Columns []string            `json:"columns"`
	Lines   []books.JournalLine `json:"lines"`
}

// journal answers the journal's lines as JSON, or (format=csv) as the CSV
// export an accountant imports (columns: books.JournalColumns).
func (s *Server) journal(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return invalid("format", "format %q: choose json or csv", format)
	}
	lines, err := s.gw.Journal(r.Context(), who, q.Get("property_id"), q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="journal.csv"`)
		w.WriteHeader(http.StatusOK)
		return books.WriteJournalCSV(w, lines)
	}
	writeJSON(w, http.StatusOK, JournalPage{From: q.Get("from"), To: q.Get("to"), Columns: books.JournalColumns, Lines: lines})
	return nil
}

func (s *Server) aging(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	out, err := s.gw.Aging(r.Context(), who, q.Get("property_id"), q.Get("as_of"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// interestReport is the year-end export of interest per tenant:
// ?year=&property_id=&threshold_cents=.
func (s *Server) interestReport(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	q := r.URL.Query()
	year, err := strconv.Atoi(q.Get("year"))
	if err != nil {
		return invalid("year", "year %q: give a calendar year, e.g. 2026", q.Get("year"))
	}
	var threshold int64
	if v := q.Get("threshold_cents"); v != "" {
		if threshold, err = strconv.ParseInt(v, 10, 64); err != nil || threshold < 0 {
			return invalid("threshold_cents", "threshold_cents %q: give a number of cents", v)
		}
	}
	out, err := s.gw.Interest(r.Context(), who, q.Get("property_id"), year, threshold)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) unclaimed(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	out, err := s.gw.UnclaimedRefunds(r.Context(), who, r.URL.Query().Get("property_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"refunds": out})
	return nil
}

// DepositBatchRequest asks for a deposit batch of a property's receipts.
type DepositBatchRequest struct {
	DepositedOn string `json:"deposited_on,omitempty"`
	Reference   string `json:"reference,omitempty"`
}

func (s *Server) depositBatch(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in DepositBatchRequest
	if err := decodeOptional(w, r, &in); err != nil {
		return err
	}
	out, err := s.gw.DepositBatch(r.Context(), who, gateway.BatchIn{PropertyID: r.PathValue("property_id"), Date: in.DepositedOn, Reference: in.Reference})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if len(out.Batches) == 0 || out.Batches[0].Again {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
	return nil
}

// StatementRequest is a bank statement of a property's trust account.
type StatementRequest struct {
	Currency string                `json:"currency,omitempty"`
	Lines    []books.StatementLine `json:"lines"`
}

func (s *Server) reconcileStatement(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in StatementRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.gw.ReconcileStatement(r.Context(), who, gateway.ReconcileIn{PropertyID: r.PathValue("property_id"), Currency: in.Currency, Lines: in.Lines})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// RefundPaidRequest marks a refund paid from the trust account.
type RefundPaidRequest struct {
	PaidOn    string `json:"paid_on,omitempty"`
	Reference string `json:"reference"`
}

func (s *Server) refundPaid(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	id, err := strconv.ParseInt(r.PathValue("refund_id"), 10, 64)
	if err != nil || id < 1 {
		return invalid("refund_id", "refund_id %q is not a refund's number", r.PathValue("refund_id"))
	}
	var in RefundPaidRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.gw.MarkRefundPaid(r.Context(), who, gateway.RefundPaidIn{RefundID: id, PaidOn: in.PaidOn, Reference: in.Reference})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if out.Again {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
	return nil
}
