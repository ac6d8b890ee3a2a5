package api

import (
	"context"
	"errors"

	"github.com/depositflow/depositflow/internal/gateway"
)

// ImportFile is a PMS export (`deposits import FILE.json`): the API's own
// shapes, in lists, with lease_id on what belongs to a lease. It is loaded
// in this order, each item as its API request would be, so importing the
// same file again changes nothing.
type ImportFile struct {
	Properties       []Property             `json:"properties"`
	Units            []Unit                 `json:"units"`
	Listings         []Listing              `json:"listings"`
	Residents        []Resident             `json:"residents"`
	Leases           []Lease                `json:"leases"`
	Charges          []LeaseCharge          `json:"charges"`
	Payments         []LeasePayment         `json:"payments"`
	ReturnedPayments []LeaseReturnedPayment `json:"returned_payments"`
	MoveOuts         []LeaseMoveOut         `json:"move_outs"`
}

// LeaseCharge is a charge of a lease in an import file.
type LeaseCharge struct {
	LeaseID string `json:"lease_id"`
	Charge
}

// LeasePayment is a payment of a lease in an import file.
type LeasePayment struct {
	LeaseID string `json:"lease_id"`
	Payment
}

// LeaseReturnedPayment is a returned payment in an import file.
type LeaseReturnedPayment struct {
	LeaseID   string `json:"lease_id"`
	PaymentID string `json:"payment_id"`
	ReturnedPayment
}

// LeaseMoveOut is a realized move-out date in an import file.
type LeaseMoveOut struct {
	LeaseID string `json:"lease_id"`
	MoveOut
}

// Total is how many items the file holds.
func (f ImportFile) Total() int {
	return len(f.Properties) + len(f.Units) + len(f.Listings) + len(f.Residents) + len(f.Leases) +
		len(f.Charges) + len(f.Payments) + len(f.ReturnedPayments) + len(f.MoveOuts)
}

// ImportReport counts what an import did.
type ImportReport struct {
	Items     int      `json:"items"`
	Upserted  int      `json:"upserted"`  // properties, units, listings, residents: created or set as given
	Written   int      `json:"written"`   // leases started, facts recorded and signalled
	Unchanged int      `json:"unchanged"` // already there: nothing changed
	Pending   int      `json:"pending"`   // recorded; the workflow is told by the next reconcile pass
	Failed    int      `json:"failed"`
	Errors    []string `json:"errors"`
}

// Import loads a file as the caller, calling progress after each item. An
// item that is refused is reported and the rest still load.
func (s *Server) Import(ctx context.Context, p gateway.Principal, f ImportFile, progress func(done, total int)) ImportReport {
	r := ImportReport{Items: f.Total(), Errors: []string{}}
	done := 0
	step := func(what string, again bool, err error) {
		var ie *gateway.Error
		switch {
		case errors.As(err, &ie) && ie.Kind == gateway.NotSignalled:
			r.Pending++
		case err != nil:
			r.Failed++
			r.Errors = append(r.Errors, what+": "+err.Error())
		case again:
			r.Unchanged++
		default:
			r.Written++
		}
		done++
		if progress != nil {
			progress(done, r.Items)
		}
	}
	upserted := func(what string, err error) {
		if err == nil {
			r.Upserted++
			r.Written-- // counted as an upsert, not as a fact
		}
		step(what, false, err)
	}
	for _, x := range f.Properties {
		_, err := s.UpsertProperty(ctx, p, x)
		upserted("property "+x.PropertyID, err)
	}
	for _, x := range f.Units {
		upserted("unit "+x.PropertyID+"/"+x.UnitID, s.gw.AddUnit(ctx, p, x.PropertyID, x.UnitID))
	}
	for _, x := range f.Listings {
		_, err := s.UpsertListing(ctx, p, x)
		upserted("listing "+x.ListingID, err)
	}
	for _, x := range f.Residents {
		_, err := s.gw.UpsertResident(ctx, p, x)
		upserted("resident "+x.ResidentID, err)
	}
	for _, x := range f.Leases {
		out, err := s.CreateLease(ctx, p, x)
		step("lease "+x.LeaseID, out.Status == "unchanged", err)
	}
	for _, x := range f.Charges {
		out, err := s.PostCharge(ctx, p, x.LeaseID, x.Charge)
		step(describe("charge", x.ChargeID, x.LeaseID), out.Again, err)
	}
	for _, x := range f.Payments {
		out, err := s.PostPayment(ctx, p, x.LeaseID, x.Payment)
		step(describe("payment", x.PaymentID, x.LeaseID), out.Again, err)
	}
	for _, x := range f.ReturnedPayments {
		out, err := s.gw.ReturnPayment(ctx, p, gateway.ReturnIn{LeaseID: x.LeaseID, Reference: x.PaymentID, Reason: x.Reason})
		step(describe("return of payment", x.PaymentID, x.LeaseID), out.Again, err)
	}
	for _, x := range f.MoveOuts {
		out, err := s.gw.RecordMoveOut(ctx, p, gateway.MoveOutIn{LeaseID: x.LeaseID, Date: x.RealizedMoveOutDate})
		step("move-out of lease "+x.LeaseID, out.Again, err)
	}
	return r
}
