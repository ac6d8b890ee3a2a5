package api

import (
	"net/http"

	"github.com/depositflow/depositflow/internal/gateway"
)

// Batch approvals (issue #16): what waits for a books_admin across the
// properties of their scope, and several items approved or declined at
// once, each its own decision (gateway/approvals.go).

func (s *Server) approvalRoutes() {
	s.handle("GET /v1/approvals", true, s.approvals)
	s.handle("POST /v1/approvals/approve", true, s.decideBatch(true))
	s.handle("POST /v1/approvals/decline", true, s.decideBatch(false))
}

// Approvals is what waits for approval.
type Approvals struct {
	Approvals []gateway.Awaiting `json:"approvals"`
}

// BatchRequest names what to approve or decline: all, some leases (each of
// their items), or items.
type BatchRequest struct {
	All     bool                   `json:"all,omitempty"`
	Leases  []string               `json:"leases,omitempty"`
	Items   []gateway.ApprovalItem `json:"items,omitempty"`
	Reason  string                 `json:"reason,omitempty"`
	Message string                 `json:"message,omitempty"`
}

// BatchDecided says what became of each item.
type BatchDecided struct {
	Outcomes []gateway.ApprovalOutcome `json:"outcomes"`
	Decided  int                       `json:"decided"`
	Refused  int                       `json:"refused"`
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	list, err := s.gw.Approvals(r.Context(), who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Approvals{Approvals: list})
	return nil
}

func (s *Server) decideBatch(approve bool) handler {
	return func(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
		var in BatchRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		out, err := s.gw.DecideBatch(r.Context(), who, gateway.ApprovalBatch{Approve: approve, All: in.All, Leases: in.Leases, Items: in.Items,
			Reason: in.Reason, Message: in.Message})
		if err != nil {
			return err
		}
		ans := BatchDecided{Outcomes: out}
		for _, o := range out {
			if o.OK {
				ans.Decided++
			} else {
				ans.Refused++
			}
		}
		writeJSON(w, http.StatusOK, ans)
		return nil
	}
}
