package api

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/statement"
)

// The managers' side of the tenant's page: evidence files (multipart, each
// checked by content and size before anything is stored), the disputed
// items and their answers.

func (s *Server) disputeRoutes() {
	s.handle("POST /v1/leases/{lease_id}/evidence", true, s.addEvidence)
	s.handle("GET /v1/leases/{lease_id}/evidence/{evidence_id}", true, s.getEvidence)
	s.handle("GET /v1/leases/{lease_id}/disputes", true, s.listDisputes)
	s.handle("POST /v1/leases/{lease_id}/disputes/{dispute_id}/resolve", true, s.resolveDispute)
	s.handle("GET /v1/leases/{lease_id}/disputes/export", true, s.exportDisputes)
}

// exportDisputes answers the case as one PDF evidence pack.
func (s *Server) exportDisputes(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	leaseID := r.PathValue("lease_id")
	pack, err := s.gw.DisputeExport(r.Context(), who, leaseID)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := statement.EvidencePack(&b, pack, s.now()); err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+leaseID+`-evidence-pack.pdf"`)
	return writeBody(w, "application/pdf", b.Bytes())
}

// EvidenceAdded answers an upload.
type EvidenceAdded struct {
	LeaseID  string                    `json:"lease_id"`
	Evidence []activities.EvidenceFile `json:"evidence"`
}

// Disputes is a lease's disputed items and every file of the lease.
type Disputes struct {
	LeaseID  string                    `json:"lease_id"`
	Disputes []deposit.Dispute         `json:"disputes"`
	Evidence []activities.EvidenceFile `json:"evidence"`
}

// Resolution is a manager's answer to a disputed item.
type Resolution struct {
	Resolution string `json:"resolution"`
	OfferCents int64  `json:"offer_cents,omitempty"`
	Message    string `json:"message"`
}

// Resolved answers a resolution.
type Resolved struct {
	LeaseID   string          `json:"lease_id"`
	Status    string          `json:"status"` // recorded, unchanged
	Signalled bool            `json:"signalled"`
	Dispute   deposit.Dispute `json:"dispute"`
}

func (s *Server) addEvidence(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	leaseID := r.PathValue("lease_id")
	fields, files, err := readUpload(w, r)
	if err != nil {
		return err
	}
	in := gateway.EvidenceIn{LeaseID: leaseID, Charge: fields.Get("charge"), Files: files}
	if v := fields.Get("keep"); v != "" {
		if in.Keep, err = strconv.ParseInt(v, 10, 64); err != nil || in.Keep <= 0 {
			return invalid("keep", "keep %q: give the keep's number", v)
		}
	}
	out, err := s.gw.AddEvidence(r.Context(), who, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, EvidenceAdded{LeaseID: leaseID, Evidence: out})
	return nil
}

func (s *Server) getEvidence(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	id, err := strconv.ParseInt(r.PathValue("evidence_id"), 10, 64)
	if err != nil || id <= 0 {
		return refuse(http.StatusNotFound, "evidence_not_found", "evidence_id", "no file %q", r.PathValue("evidence_id"))
	}
	return s.serveFile(w, r, who, r.PathValue("lease_id"), id)
}

func (s *Server) listDisputes(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	leaseID := r.PathValue("lease_id")
	ds, files, err := s.gw.Disputes(r.Context(), who, leaseID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Disputes{LeaseID: leaseID, Disputes: ds, Evidence: files})
	return nil
}

func (s *Server) resolveDispute(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	leaseID := r.PathValue("lease_id")
	id, err := strconv.ParseInt(r.PathValue("dispute_id"), 10, 64)
	if err != nil || id <= 0 {
		return refuse(http.StatusNotFound, "item_not_found", "dispute_id", "no disputed item %q", r.PathValue("dispute_id"))
	}
	var in Resolution
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.gw.ResolveDispute(r.Context(), who, gateway.ResolveIn{LeaseID: leaseID, DisputeID: id, Resolution: in.Resolution,
		OfferCents: in.OfferCents, Message: in.Message})
	res := Resolved{LeaseID: leaseID, Status: "recorded", Signalled: true, Dispute: out.Dispute}
	status := http.StatusOK
	switch {
	case gateway.IsKind(err, gateway.NotSignalled):
		status, res.Signalled = http.StatusAccepted, false
	case err != nil:
		return err
	case out.Again:
		res.Status = "unchanged"
	}
	writeJSON(w, status, res)
	return nil
}
