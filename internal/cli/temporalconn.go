package cli

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// temporalConn is how to reach a Temporal cluster beyond a local dev server:
// TLS (with a private CA), mutual TLS with a client certificate (a
// self-hosted cluster or Temporal Cloud), or an API key (Temporal Cloud).
// Secrets come only from files or the environment and are never printed.
type temporalConn struct {
	tls        bool
	cert, key  string // client certificate and key files (mTLS)
	ca         string // CA file for the server's certificate
	serverName string
	apiKeyFile string
}

func (t *temporalConn) addFlags(a *app) {
	f := a.root.PersistentFlags()
	f.BoolVar(&t.tls, "temporal-tls", os.Getenv("TEMPORAL_TLS") == "true", "connect to Temporal over TLS (TEMPORAL_TLS=true); implied by the options below")
	f.StringVar(&t.cert, "temporal-tls-cert", os.Getenv("TEMPORAL_TLS_CERT"), "client certificate file for mutual TLS (TEMPORAL_TLS_CERT)")
	f.StringVar(&t.key, "temporal-tls-key", os.Getenv("TEMPORAL_TLS_KEY"), "client key file for mutual TLS (TEMPORAL_TLS_KEY)")
	f.StringVar(&t.ca, "temporal-tls-ca", os.Getenv("TEMPORAL_TLS_CA"), "CA certificate file that signed the server's certificate (TEMPORAL_TLS_CA)")
	f.StringVar(&t.serverName, "temporal-tls-server-name", os.Getenv("TEMPORAL_TLS_SERVER_NAME"), "server name to verify, if not the address's host (TEMPORAL_TLS_SERVER_NAME)")
	f.StringVar(&t.apiKeyFile, "temporal-api-key-file", os.Getenv("TEMPORAL_API_KEY_FILE"), "file holding a Temporal Cloud API key; or set TEMPORAL_API_KEY")
}

// options builds the client options for address and namespace.
func (t *temporalConn) options(address, namespace string, logger *slog.Logger) (client.Options, error) {
	o := client.Options{HostPort: address, Namespace: namespace, Logger: sdklog.NewStructuredLogger(logger)}
	apiKey := strings.TrimSpace(os.Getenv("TEMPORAL_API_KEY"))
	if t.apiKeyFile != "" {
		b, err := os.ReadFile(t.apiKeyFile)
		if err != nil {
			return o, refused("--temporal-api-key-file: %v", err)
		}
		apiKey = strings.TrimSpace(string(b))
	}
	if !t.tls && t.cert == "" && t.ca == "" && apiKey == "" {
		return o, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.serverName}
	if (t.cert == "") != (t.key == "") {
		return o, refused("mutual TLS needs both --temporal-tls-cert and --temporal-tls-key")
	}
	if t.cert != "" {
		pair, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return o, refused("client certificate: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if t.ca != "" {
		pem, err := os.ReadFile(t.ca)
		if err != nil {
			return o, refused("--temporal-tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return o, refused("--temporal-tls-ca %s holds no PEM certificate", t.ca)
		}
		cfg.RootCAs = pool
	}
	o.ConnectionOptions.TLS = cfg
	if apiKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(apiKey)
	}
	return o, nil
}

// describe says how the connection is secured, for logs (never the secrets).
func (t *temporalConn) describe(o client.Options) string {
	switch {
	case o.ConnectionOptions.TLS == nil:
		return "plaintext"
	case o.Credentials != nil:
		return "tls+api-key"
	case len(o.ConnectionOptions.TLS.Certificates) > 0:
		return "mtls"
	default:
		return "tls"
	}
}
