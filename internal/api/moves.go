package api

import (
	"net/http"

	"github.com/depositflow/depositflow/internal/gateway"
)

// Money moved before the settlement and open invoices (#16): a manager's
// transfer to another lease and partial refund, and the invoices a PMS (or
// a manager) holds open against the tenant, which a manager may pay from
// the deposit.

func (s *Server) moveRoutes() {
	s.handle("POST /v1/leases/{lease_id}/transfers", true, s.postTransfer)
	s.handle("POST /v1/leases/{lease_id}/refunds", true, s.postPartialRefund)
	s.handle("POST /v1/leases/{lease_id}/open-invoices", true, s.postOpenInvoice)
	s.handle("GET /v1/leases/{lease_id}/open-invoices", true, s.openInvoices)
	s.handle("POST /v1/leases/{lease_id}/open-invoices/{reference}/apply", true, s.applyInvoice)
}

// Transfer moves refundable money to another lease; without amount_in_cents,
// all of it. Idempotent under the Idempotency-Key header (or one made from
// the leases and the amount).
type Transfer struct {
	ToLeaseID     string `json:"to_lease_id"`
	AmountInCents int64  `json:"amount_in_cents,omitempty"`
	Currency      string `json:"currency,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

func (s *Server) postTransfer(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in Transfer
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, true); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.gw.Transfer(r.Context(), who, gateway.TransferIn{LeaseID: leaseID, ToLeaseID: in.ToLeaseID, Cents: in.AmountInCents,
		Currency: in.Currency, Reason: in.Reason})
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "to_lease_id": in.ToLeaseID, "transfer_id": out.TransferID,
		"payment_id": out.PaymentID, "amount_in_cents": out.Cents, "key": out.Key})
}

// PartialRefund refunds part of the refundable amount before the
// settlement; without amount_in_cents, all of it.
type PartialRefund struct {
	AmountInCents int64  `json:"amount_in_cents,omitempty"`
	Currency      string `json:"currency,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

func (s *Server) postPartialRefund(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in PartialRefund
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, true); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.gw.PartialRefund(r.Context(), who, gateway.PartialRefundIn{LeaseID: leaseID, Cents: in.AmountInCents, Currency: in.Currency, Reason: in.Reason})
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "partial_refund_id": out.PartialRefundID,
		"amount_in_cents": out.Cents, "key": out.Key, "payouts": out.Payouts})
}

// OpenInvoiceRequest is an invoice held open against the tenant.
type OpenInvoiceRequest struct {
	Reference     string `json:"reference"`
	AmountInCents int64  `json:"amount_in_cents"`
	Currency      string `json:"currency,omitempty"`
	Description   string `json:"description"`
}

func (s *Server) postOpenInvoice(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in OpenInvoiceRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, false); err != nil {
		return err
	}
	out, err := s.gw.AddOpenInvoice(r.Context(), who, gateway.OpenInvoiceIn{LeaseID: r.PathValue("lease_id"), Reference: in.Reference,
		Cents: in.AmountInCents, Currency: in.Currency, Description: in.Description})
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

func (s *Server) openInvoices(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	out, err := s.gw.OpenInvoices(r.Context(), who, r.PathValue("lease_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ApplyInvoice pays an open invoice from the deposit; without
// amount_in_cents, what is open of it, up to the refundable amount.
type ApplyInvoice struct {
	AmountInCents int64 `json:"amount_in_cents,omitempty"`
}

func (s *Server) applyInvoice(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	var in ApplyInvoice
	if err := decodeOptional(w, r, &in); err != nil {
		return err
	}
	if err := checkCents("amount_in_cents", in.AmountInCents, true); err != nil {
		return err
	}
	leaseID := r.PathValue("lease_id")
	out, err := s.gw.ApplyInvoice(r.Context(), who, gateway.ApplyInvoiceIn{LeaseID: leaseID, Reference: r.PathValue("reference"), Cents: in.AmountInCents})
	return written(w, out.Again, err, map[string]any{"lease_id": leaseID, "invoice": r.PathValue("reference"), "id": out.ChargeID,
		"charge_code_id": out.Code, "pending_approval": out.Pending})
}
