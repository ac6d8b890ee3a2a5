package cli

import (
	"errors"
	"io/fs"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/devcerts"
)

func (a *app) certsCommand() *cobra.Command {
	var temporalHosts, apiHosts []string
	var validFor time.Duration
	var keyMode string
	cmd := &cobra.Command{
		Use:   "certs DIR",
		Short: "Make a private CA and the TLS certificates of a stack without a PKI of its own (docker compose, a first try)",
		Long: `Write into DIR a new certificate authority (ca.pem) and, each with its key
(NAME-key.pem), the certificates a stack needs to speak TLS between its services:
  temporal.pem   the Temporal server's frontend and internode certificate
  api.pem        deposits serve's HTTPS certificate (--tls-cert, --tls-key)
  deposits.pem   the client certificate of the deposits processes (mutual TLS
                 to Temporal: TEMPORAL_TLS_CLIENT_CERT_PATH and _KEY_PATH)
  tools.pem      the client certificate of the Temporal Web UI and CLI
The CA's key is not kept, so nothing more can be signed with it. A DIR that
already holds ca.pem is left as it is, so the command is safe to run again.
Production brings its own PKI (cert-manager, a cloud CA, Temporal Cloud's).`,
		Example: `  deposits certs /certs --temporal-host temporal --api-host serve --key-mode 0644`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := strconv.ParseUint(keyMode, 8, 32)
			if err != nil || mode&^0o644 != 0 || mode&0o400 == 0 {
				return refused("--key-mode %q: an octal mode the owner can read and nobody can write or run but the owner, such as 0600 or 0644", keyMode)
			}
			if validFor < time.Hour || validFor > 825*24*time.Hour {
				return refused("--valid-for %s: between 1h and 825 days (19800h)", validFor)
			}
			err = devcerts.Write(args[0], devcerts.Stack(temporalHosts, apiHosts), validFor, fs.FileMode(mode))
			if errors.Is(err, devcerts.ErrExists) {
				a.printf("%s already holds a CA: left as it is.\n", args[0])
				return nil
			}
			if err != nil {
				return unavailable("the certificates' directory", err)
			}
			a.printf("Wrote ca.pem, temporal.pem, api.pem, deposits.pem and tools.pem with their keys to %s.\n", args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&temporalHosts, "temporal-host", nil, "a name the Temporal server is reached by (besides localhost and 127.0.0.1)")
	f.StringSliceVar(&apiHosts, "api-host", nil, "a name deposits serve is reached by (besides localhost and 127.0.0.1)")
	f.DurationVar(&validFor, "valid-for", 365*24*time.Hour, "how long the certificates are valid")
	f.StringVar(&keyMode, "key-mode", "0600", "file mode of the keys: 0644 when the services that read them run as other users on a volume only they mount")
	return cmd
}
