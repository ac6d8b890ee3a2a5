package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/depositflow/depositflow/internal/ingest"
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
func (s *Server) Import(ctx context.Context, p Caller, f ImportFile, progress func(done, total int)) ImportReport {
	r := ImportReport{Items: f.Total(), Errors: []string{}}
	done := 0
	step := func(what string, again bool, err error) {
		var ie *ingest.Error
		switch {
		case errors.As(err, &ie) && ie.Kind == ingest.NotSignalled:
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
		upserted("unit "+x.PropertyID+"/"+x.UnitID, s.UpsertUnit(ctx, p, x))
	}
	for _, x := range f.Listings {
		upserted("listing "+x.ListingID, s.UpsertListing(ctx, p, x))
	}
	for _, x := range f.Residents {
		_, err := s.UpsertResident(ctx, p, x)
		upserted("resident "+x.ResidentID, err)
	}
	for _, x := range f.Leases {
		_, status, err := s.CreateLease(ctx, p, x)
		step("lease "+x.LeaseID, status == 200, err)
	}
	for _, x := range f.Charges {
		again, err := s.onLease(ctx, p, x.LeaseID, func() (bool, error) {
			out, err := s.PostCharge(ctx, p, x.LeaseID, x.Charge)
			return out.Again, err
		})
		step(fmt.Sprintf("charge %s of lease %s", x.ChargeID, x.LeaseID), again, err)
	}
	for _, x := range f.Payments {
		again, err := s.onLease(ctx, p, x.LeaseID, func() (bool, error) {
			out, err := s.PostPayment(ctx, p, x.LeaseID, x.Payment)
			return out.Again, err
		})
		step(fmt.Sprintf("payment %s of lease %s", x.PaymentID, x.LeaseID), again, err)
	}
	for _, x := range f.ReturnedPayments {
		again, err := s.onLease(ctx, p, x.LeaseID, func() (bool, error) {
			out, err := s.ReturnPayment(ctx, p, x.LeaseID, x.PaymentID, x.ReturnedPayment)
			return out.Again, err
		})
		step(fmt.Sprintf("return of payment %s of lease %s", x.PaymentID, x.LeaseID), again, err)
	}
	for _, x := range f.MoveOuts {
		again, err := s.onLease(ctx, p, x.LeaseID, func() (bool, error) {
			out, err := s.PostMoveOut(ctx, p, x.LeaseID, x.MoveOut)
			return out.Again, err
		})
		step("move-out of lease "+x.LeaseID, again, err)
	}
	return r
}

func (s *Server) onLease(ctx context.Context, p Caller, leaseID string, fn func() (bool, error)) (bool, error) {
	if _, err := s.leaseByID(ctx, leaseID, p); err != nil {
		return false, err
	}
	return fn()
}
