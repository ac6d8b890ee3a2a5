package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/api"
)

func (a *app) importCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.json",
		Short: "Load a property-management export (the API's shapes) for first-time onboarding",
		Long: `Load a portfolio exported from a property-management system: properties,
units, listings, residents, leases, charges, payments, returned payments and
move-out dates, in the shapes of the HTTP API (api/openapi.yaml), each loaded
as its API request would be: stored first, then signalled to the lease's
workflow. Importing the same file again changes nothing. Progress goes to
standard error; exits 1 if any item was refused (the others are loaded).`,
		Example: `  deposits import portfolio.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return refused("%v", err)
			}
			var f api.ImportFile
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f); err != nil {
				return refused("%s: %v", args[0], api.DecodeError(err))
			}
			ctx := cmd.Context()
			// Both connections first: an import that cannot reach one fails at once.
			if _, err := a.db(ctx); err != nil {
				return err
			}
			if _, err := a.temporal(ctx); err != nil {
				return err
			}
			bar := newProgress(a.errOut, "import")
			rep := api.New(a.gateway(), nil).Import(ctx, a.local(), f, bar.update)
			bar.finish()
			a.gateway().RecordAction(ctx, a.local(), "", "import", map[string]any{"file": args[0], "items": rep.Items, "failed": rep.Failed}, nil)
			if a.json() {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				a.printf("Imported %s: %d items, %d upserted, %d written, %d unchanged, %d pending (reconcile tells their workflows), %d refused.\n",
					args[0], rep.Items, rep.Upserted, rep.Written, rep.Unchanged, rep.Pending, rep.Failed)
				for _, e := range rep.Errors {
					a.printf("  refused: %s\n", e)
				}
			}
			if rep.Failed > 0 {
				return refused("%d of %d items were refused (listed above)", rep.Failed, rep.Items)
			}
			return nil
		},
	}
}

// progress draws a progress bar on a terminal line, at most ten times a second.
type progress struct {
	w     io.Writer
	label string
	last  time.Time
	done  int
	total int
}

func newProgress(w io.Writer, label string) *progress { return &progress{w: w, label: label} }

func (p *progress) update(done, total int) {
	p.done, p.total = done, total
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := 0
	if total > 0 {
		filled = done * width / total
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
}

func (p *progress) finish() {
	if p.total == 0 {
		fmt.Fprintf(p.w, "%s: nothing to load\n", p.label)
		return
	}
	p.update(p.total, p.total)
	fmt.Fprintln(p.w)
}
