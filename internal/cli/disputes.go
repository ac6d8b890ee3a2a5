package cli

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/money"
)

// The managers' side of the tenant's page: evidence for the statement's
// items, and the answers to the items a tenant disputes. As every command
// of people, they ask the server, which decides.

func (a *app) evidenceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "evidence", Short: "Attach photos, receipts and inspection reports to a lease or its items; list them"}
	var charge string
	var keep int64
	add := &cobra.Command{
		Use:   "add LEASE [--charge REF | --keep N] FILE...",
		Short: "Attach files (images or PDFs, 10 MiB each) to a deduction (--charge), a keep (--keep) or the lease",
		Long: `Attach evidence to an item of the statement: a charge by its reference
(--charge, as it was posted), a keep by its number (--keep, deposits status
shows it), or, with neither, the lease itself (the move-in and move-out
inspection reports). Each file must be an image (JPEG, PNG, GIF, WebP) or a
PDF, by its content, of at most 10 MiB; one refused file refuses them all
and nothing is stored. The tenant sees them on their page, the statement
lists them.`,
		Example: `  deposits evidence add L-100 --charge CLEAN-1 carpet.jpg invoice.pdf
  deposits evidence add L-100 move-out-inspection.pdf`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			leaseID := args[0]
			if err := checkID("lease", leaseID); err != nil {
				return err
			}
			var files []depositclient.File
			for _, p := range args[1:] {
				b, err := os.ReadFile(p)
				if err != nil {
					return refused("cannot read %s: %v", p, err)
				}
				files = append(files, depositclient.File{Name: p, Data: b})
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			fields := map[string]string{"charge": charge}
			if keep != 0 {
				fields["keep"] = strconv.FormatInt(keep, 10)
			}
			resp, err := c.Upload(cmd.Context(), depositclient.LeasePath(leaseID, "evidence"), fields, files)
			if err != nil {
				return remoteErr(err)
			}
			var out api.EvidenceAdded
			if err := resp.Decode(&out); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			for _, f := range out.Evidence {
				a.printf("File %d: %s (%s, %d bytes, sha256 %s) attached to %s of lease %s.\n", f.ID, f.Name, f.Type, f.Size, f.SHA256[:12], subjectText(f.Subject, f.SubjectID), leaseID)
			}
			return nil
		},
	}
	add.Flags().StringVar(&charge, "charge", "", "the charge's reference")
	add.Flags().Int64Var(&keep, "keep", 0, "the keep's number")
	list := &cobra.Command{
		Use:     "list LEASE",
		Short:   "List a lease's files: the manager's evidence and the tenant's own",
		Example: `  deposits evidence list L-100`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.disputes(cmd, args[0])
			if err != nil || a.json() {
				return err
			}
			t := newTable(a.out, "FILE", "OF", "SIDE", "NAME", "TYPE", "BYTES", "BY")
			for _, f := range d.Evidence {
				t.row(strconv.FormatInt(f.ID, 10), subjectText(f.Subject, f.SubjectID), f.Side, f.Name, f.Type, strconv.FormatInt(f.Size, 10), f.UploadedBy)
			}
			return t.flush()
		},
	}
	cmd.AddCommand(add, list)
	return cmd
}

func subjectText(subject string, id int64) string {
	if subject == "lease" {
		return "the lease"
	}
	return fmt.Sprintf("%s %d", subject, id)
}

// disputes reads a lease's disputed items and files (printed as JSON with -o json).
func (a *app) disputes(cmd *cobra.Command, leaseID string) (api.Disputes, error) {
	var d api.Disputes
	if err := checkID("lease", leaseID); err != nil {
		return d, err
	}
	if err := a.get(cmd.Context(), depositclient.LeasePath(leaseID, "disputes"), nil, &d); err != nil {
		return d, err
	}
	if a.json() {
		return d, a.printJSON(d)
	}
	return d, nil
}

func (a *app) disputeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "dispute", Short: "The items a tenant disputes: list them, answer each, export the case"}
	list := &cobra.Command{
		Use:     "list LEASE",
		Short:   "List the disputed items, with both sides' messages and what is held",
		Example: `  deposits dispute list L-100`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.disputes(cmd, args[0])
			if err != nil || a.json() {
				return err
			}
			if len(d.Disputes) == 0 {
				a.printf("Lease %s has no disputed item.\n", args[0])
				return nil
			}
			var cur string
			if s, err := a.leaseState(cmd.Context(), args[0]); err == nil {
				cur = s.Currency
			}
			t := newTable(a.out, "ITEM", "WHAT", "AMOUNT", "STATUS", "OFFER", "HELD", "PAID BACK", "TENANT WRITES", "ANSWER")
			for _, it := range d.Disputes {
				offer := "-"
				if it.OfferCents > 0 {
					offer = money.FormatIn(cur, it.OfferCents)
				}
				t.row(strconv.FormatInt(it.DisputeID, 10), it.Description, money.FormatIn(cur, it.AmountCents), it.Status, offer,
					money.FormatIn(cur, it.HeldCents), money.FormatIn(cur, it.RefundCents), quote(it.TenantMessage), quote(it.ManagerMessage))
			}
			return t.flush()
		},
	}
	var item int64
	var concede, maintain bool
	var offer, message string
	resolve := &cobra.Command{
		Use:   "resolve LEASE --item N (--concede | --maintain | --offer AMOUNT) --message TEXT",
		Short: "Answer a disputed item: give it all back, keep it, or offer part back; the tenant is emailed",
		Long: `Answer a disputed item (its number is in the email that told you of it, and
in deposits dispute list). --concede gives the whole item back and pays it at
once; --offer AMOUNT offers part of it back, paid once the tenant accepts it on
their page; --maintain keeps it (the tenant may take it to the deposit scheme
or a court: deposits dispute export). The message is what the tenant reads.
An answer is final once conceded, maintained or agreed.`,
		Example: `  deposits dispute resolve L-100 --item 3 --offer 60.00 --message "Half: the carpet was 6 years old"
  deposits dispute resolve L-100 --item 3 --concede --message "You are right, sorry"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			leaseID := args[0]
			if err := checkID("lease", leaseID); err != nil {
				return err
			}
			if item <= 0 {
				return refused("name the disputed item: --item N (deposits dispute list %s)", leaseID)
			}
			var req api.Resolution
			n := 0
			if concede {
				req.Resolution, n = gateway.Concede, n+1
			}
			if maintain {
				req.Resolution, n = gateway.Maintain, n+1
			}
			if offer != "" {
				c, _, err := parseAmount("offer", offer)
				if err != nil {
					return err
				}
				req.Resolution, req.OfferCents, n = gateway.Offer, c, n+1
			}
			if n != 1 {
				return refused("answer with one of --concede, --maintain or --offer AMOUNT")
			}
			req.Message = strings.TrimSpace(message)
			if req.Message == "" {
				return refused("write the tenant a message with the answer (--message)")
			}
			var out api.Resolved
			status, err := a.post(cmd.Context(), depositclient.LeasePath(leaseID, "disputes", strconv.FormatInt(item, 10), "resolve"), req, "", &out)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			verb := map[string]string{"conceded": "conceded: it is paid back to the tenant", "maintained": "maintained",
				"offered": "answered with an offer; it is paid once the tenant accepts it on their page"}[out.Dispute.Status]
			if out.Status == "unchanged" {
				a.printf("Item %d of lease %s was already answered so; nothing changed.\n", item, leaseID)
			} else {
				a.printf("Item %d (%s) of lease %s %s. The tenant is emailed.\n", item, out.Dispute.Description, leaseID, verb)
			}
			if status == http.StatusAccepted {
				a.notYetApplied(leaseID)
			}
			return nil
		},
	}
	resolve.Flags().Int64Var(&item, "item", 0, "the disputed item's number")
	resolve.Flags().BoolVar(&concede, "concede", false, "give the whole item back")
	resolve.Flags().BoolVar(&maintain, "maintain", false, "keep the item")
	resolve.Flags().StringVar(&offer, "offer", "", "offer this amount back (less than the item)")
	resolve.Flags().StringVar(&message, "message", "", "what the tenant reads (required)")
	var out string
	export := &cobra.Command{
		Use:   "export LEASE --out FILE.pdf",
		Short: "Export the case as one PDF evidence pack for the deposit scheme's adjudicator or a small-claims court",
		Long: `Write the case of a disputed deposit as one PDF: the itemized statement, each
disputed item with the tenant's message and the manager's answer, both sides'
files (photos shown, PDFs attached to the document, each with its SHA-256),
and the lease's timeline from its audit log. The case can be exported once
an item is maintained, or has waited unanswered for the server's
DISPUTE_EXPORT_AFTER (14 days by default).`,
		Example: `  deposits dispute export L-100 --out L-100-evidence-pack.pdf`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			leaseID := args[0]
			if err := checkID("lease", leaseID); err != nil {
				return err
			}
			if out == "" {
				return refused("a PDF goes to a file: give --out FILE.pdf")
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			resp, err := c.Do(cmd.Context(), depositclient.Request{Method: http.MethodGet, Path: depositclient.LeasePath(leaseID, "disputes", "export")})
			if err != nil {
				return remoteErr(err)
			}
			if err := os.WriteFile(out, resp.Body, 0o644); err != nil {
				return refused("cannot write %s: %v", out, err)
			}
			a.printf("Wrote the evidence pack of lease %s to %s.\n", leaseID, out)
			return nil
		},
	}
	export.Flags().StringVar(&out, "out", "", "the PDF file to write (required)")
	cmd.AddCommand(list, resolve, export)
	return cmd
}

func quote(s string) string {
	if s == "" {
		return "-"
	}
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}
