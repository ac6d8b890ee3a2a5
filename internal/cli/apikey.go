package cli

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/gateway"
)

func (a *app) apikeyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "API keys for property-management integrations (deposits serve)"}
	var properties []string
	var all bool
	create := &cobra.Command{
		Use:   "create --name NAME --property P [--property P2 ...] | --all-properties",
		Short: "Create an API key scoped to properties; the key is printed once",
		Long: `Create an API key for one integration. The key is printed once and only its
SHA-256 is stored: keep it in the integration's secret store. A key may touch
only the properties it names (--all-properties: every property).`,
		Example: `  deposits apikey create --name PMS-1 --property maple --property birch`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, _ := cmd.Flags().GetString("name")
			key, err := a.createAPIKey(cmd.Context(), name, properties, all)
			a.gateway().RecordAction(cmd.Context(), a.local(), "", "apikey.create", map[string]any{"name": name, "properties": properties, "all": all}, err)
			if err != nil {
				return err
			}
			a.printf("%s\n", key)
			_, _ = a.errOut.Write([]byte("Created API key " + name + ": it is shown once above; send it as Authorization: Bearer <key>.\n"))
			return nil
		},
	}
	create.Flags().String("name", "", "the integration's name, unique")
	create.Flags().StringArrayVar(&properties, "property", nil, "a property the key may touch; repeat")
	create.Flags().BoolVar(&all, "all-properties", false, "the key may touch every property")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List API keys (never the keys themselves)",
		Example: `  deposits apikey list -o json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			keys, err := db.New(pool).ListAPIKeys(cmd.Context())
			if err != nil {
				return unavailable("the database", err)
			}
			type row struct {
				Name       string     `json:"name"`
				Prefix     string     `json:"prefix"`
				Properties []string   `json:"properties"`
				CreatedAt  time.Time  `json:"created_at"`
				LastUsedAt *time.Time `json:"last_used_at,omitempty"`
				RevokedAt  *time.Time `json:"revoked_at,omitempty"`
			}
			rows := []row{}
			for _, k := range keys {
				rows = append(rows, row{k.Name, k.KeyPrefix, k.Properties, k.CreatedAt, k.LastUsedAt, k.RevokedAt})
			}
			if a.json() {
				return a.printJSON(rows)
			}
			t := newTable(a.out, "NAME", "KEY", "PROPERTIES", "CREATED", "LAST USED", "STATUS")
			for _, r := range rows {
				used, status := "never", "active"
				if r.LastUsedAt != nil {
					used = r.LastUsedAt.UTC().Format(time.RFC3339)
				}
				if r.RevokedAt != nil {
					status = "revoked " + r.RevokedAt.UTC().Format(time.DateOnly)
				}
				t.row(r.Name, r.Prefix+"...", strings.Join(r.Properties, ","), r.CreatedAt.UTC().Format(time.DateOnly), used, status)
			}
			return t.flush()
		},
	}
	revoke := &cobra.Command{
		Use:     "revoke NAME",
		Short:   "Revoke an API key: it is refused from now on",
		Example: `  deposits apikey revoke PMS-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := a.revokeAPIKey(cmd.Context(), args[0])
			a.gateway().RecordAction(cmd.Context(), a.local(), "", "apikey.revoke", map[string]string{"name": args[0]}, err)
			if err == nil {
				a.printf("Revoked API key %s.\n", args[0])
			}
			return err
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func (a *app) createAPIKey(ctx context.Context, name string, properties []string, all bool) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", refused("--name is required: the integration's name")
	}
	if all == (len(properties) > 0) {
		return "", refused("give the key's scope: --property P (repeat) or --all-properties")
	}
	for _, p := range properties {
		if err := checkID("--property", p); err != nil {
			return "", err
		}
	}
	if all {
		properties = []string{"*"}
	}
	pool, err := a.db(ctx)
	if err != nil {
		return "", err
	}
	key, hash, err := gateway.NewSecret(gateway.KeyPrefix)
	if err != nil {
		return "", err
	}
	_, err = db.New(pool).CreateAPIKey(ctx, db.CreateAPIKeyParams{Name: name, KeyHash: hash, KeyPrefix: gateway.Shown(key), Properties: properties, CreatedBy: a.local().ID()})
	if gateway.IsUniqueViolation(err) {
		return "", refused("an API key named %s exists: choose another --name (or revoke it and use a new name)", name)
	}
	if err != nil {
		return "", unavailable("the database", err)
	}
	return key, nil
}

func (a *app) revokeAPIKey(ctx context.Context, name string) error {
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	_, err = db.New(pool).RevokeAPIKey(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return refused("no active API key named %s", name)
	}
	if err != nil {
		return unavailable("the database", err)
	}
	return nil
}
