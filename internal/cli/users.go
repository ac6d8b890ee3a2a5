package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

// People and their tokens: an admin command, run where the database is
// (like migrate). A token is printed once; only its hash is kept.

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "People who use depositflow: their roles, properties and tokens (admin, where the database is)"}
	var roles, properties []string
	var all bool
	var expires, email string
	add := &cobra.Command{
		Use:   "add NAME --role viewer|manager|books_admin|admin [--role ...] (--property P ... | --all-properties) [--email E] [--expires 90d]",
		Short: "Add a person with roles on properties; their token is printed once",
		Long: `Add a person. Roles: viewer reads; manager records facts and decides (extend,
keep, hold, release) on the properties of their scope; books_admin approves or
declines and sets a property's money policy; admin manages users, keys and rules
(repeat --role for several). The token is printed once on standard output: hand
it to the person, who runs deposits login. Tokens expire (90 days unless
--expires says otherwise) and deposits user revoke stops them at once. A
manager with an --email gets the alert at each move-out of their properties and
the reminders before each automatic release, with one-click links that act as them.`,
		Example: `  deposits user add ana --role manager --property maple --property birch --email ana@maple.example > ana.token
  deposits user add ben --role books_admin --all-properties
  deposits user add ops --role admin --expires 30d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			life, err := parseLife(expires)
			if err != nil {
				return err
			}
			if all {
				if len(properties) > 0 {
					return refused("give --property or --all-properties, not both")
				}
				properties = []string{"*"}
			}
			g, err := a.adminGateway(cmd.Context())
			if err != nil {
				return err
			}
			u, err := g.AddUser(cmd.Context(), a.local(), gateway.UserIn{Name: args[0], Roles: roles, Properties: properties, TokenLife: life, Email: email})
			if err != nil {
				return gatewayErr(err)
			}
			a.printf("%s\n", u.Token)
			a.notef("Added %s (%s; properties %s). The token above is shown once; it expires %s. They sign in with: deposits login --server URL\n",
				u.User.Name, strings.Join(u.User.Roles, ", "), strings.Join(u.User.Properties, ", "), u.ExpiresAt.UTC().Format(time.DateOnly))
			return nil
		},
	}
	add.Flags().StringArrayVar(&roles, "role", nil, "a role: "+strings.Join(deposit.Roles, ", ")+" (repeat for several)")
	add.Flags().StringArrayVar(&properties, "property", nil, "a property the person acts on (repeat)")
	add.Flags().BoolVar(&all, "all-properties", false, "every property")
	add.Flags().StringVar(&expires, "expires", "90d", "how long the token works: 90d, 12h, ...")
	add.Flags().StringVar(&email, "email", "", "where a manager's alerts and reminders go, with their one-click links")

	list := &cobra.Command{
		Use:     "list [-o json]",
		Short:   "List people, their roles and properties, and when their token expires (never the tokens)",
		Example: `  deposits user list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			g, err := a.adminGateway(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := g.Users(cmd.Context())
			if err != nil {
				return gatewayErr(err)
			}
			if a.json() {
				return a.printJSON(rows)
			}
			t := newTable(a.out, "NAME", "ROLES", "PROPERTIES", "TOKEN EXPIRES", "LAST USED", "STATUS")
			for _, r := range rows {
				status := "active"
				if r.RevokedAt != nil {
					status = "revoked " + r.RevokedAt.UTC().Format(time.DateOnly)
				}
				t.row(r.Name, strings.Join(r.Roles, ","), strings.Join(r.Properties, ","), dayOrDash(r.TokenExpiresAt), dayOrDash(r.LastUsedAt), status)
			}
			return t.flush()
		},
	}
	revoke := &cobra.Command{
		Use:     "revoke NAME",
		Short:   "Revoke a person: every token of theirs stops working at once",
		Example: `  deposits user revoke ana`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := a.adminGateway(cmd.Context())
			if err != nil {
				return err
			}
			if err := g.RevokeUser(cmd.Context(), a.local(), args[0]); err != nil {
				return gatewayErr(err)
			}
			a.printf("Revoked %s: their tokens stop working now.\n", args[0])
			return nil
		},
	}
	var rotateExpires string
	rotate := &cobra.Command{
		Use:     "rotate NAME [--expires 90d]",
		Short:   "Give a person a new token (printed once); their old tokens stop working",
		Example: `  deposits user rotate ana > ana.token`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			life, err := parseLife(rotateExpires)
			if err != nil {
				return err
			}
			g, err := a.adminGateway(cmd.Context())
			if err != nil {
				return err
			}
			u, err := g.RotateUser(cmd.Context(), a.local(), args[0], life)
			if err != nil {
				return gatewayErr(err)
			}
			a.printf("%s\n", u.Token)
			a.notef("New token for %s (shown once above, expires %s); the old ones no longer work.\n", u.User.Name, u.ExpiresAt.UTC().Format(time.DateOnly))
			return nil
		},
	}
	rotate.Flags().StringVar(&rotateExpires, "expires", "90d", "how long the token works: 90d, 12h, ...")
	setEmail := &cobra.Command{
		Use:   "email NAME ADDRESS|none",
		Short: "Set where a person's alerts go (a manager's alerts and reminders, with their one-click links)",
		Example: `  deposits user email ana ana@maple.example
  deposits user email ana none`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := a.adminGateway(cmd.Context())
			if err != nil {
				return err
			}
			addr := args[1]
			if addr == "none" {
				addr = ""
			}
			if err := g.SetUserEmail(cmd.Context(), a.local(), args[0], addr); err != nil {
				return gatewayErr(err)
			}
			if addr == "" {
				a.printf("%s gets no alerts by email now.\n", args[0])
			} else {
				a.printf("%s's alerts go to %s.\n", args[0], addr)
			}
			return nil
		},
	}
	cmd.AddCommand(add, list, revoke, rotate, setEmail)
	return cmd
}

// parseLife reads a token's life: days ("90d") or a Go duration ("12h").
func parseLife(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 400 {
			return 0, refused("--expires %q: give 1d to 400d, or a duration such as 12h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, refused("--expires %q: give 1d to 400d, or a duration such as 12h", s)
	}
	return d, nil
}

// notef writes a note for the person at the terminal (standard error), so
// that standard output holds only what a script keeps (a token).
func (a *app) notef(format string, args ...any) {
	fmt.Fprintf(a.errOut, format, args...)
}
