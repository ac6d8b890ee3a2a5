package cli

import (
	"crypto/tls"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	sdklog "go.temporal.io/sdk/log"

	"github.com/depositflow/depositflow/internal/payloadcrypt"
	"github.com/depositflow/depositflow/internal/tracing"
)

// temporalConn is how to reach Temporal, configured the way the temporal CLI
// and every SDK are (go.temporal.io/sdk/contrib/envconfig): a TOML profile
// (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml;
// TEMPORAL_PROFILE or --temporal-profile picks one) under the standard
// variables: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
// TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, ... The flags
// --temporal-address, --namespace and --temporal-tls override both.
// Payloads are sealed with the key ring of DEPOSITS_PAYLOAD_KEYS(_FILE)
// when one is set. Secrets come only from files or the environment and are
// never printed.
type temporalConn struct {
	profile string
	tls     bool
}

func (t *temporalConn) addFlags(a *app) {
	f := a.root.PersistentFlags()
	f.StringVar(&t.profile, "temporal-profile", "", "profile of the Temporal client config file (TEMPORAL_PROFILE; default \"default\")")
	f.BoolVar(&t.tls, "temporal-tls", false, "connect to Temporal over TLS (TEMPORAL_TLS=true); implied by an API key or a client certificate")
}

// options builds the client options: the profile and the environment,
// then address and namespace when given (flags), else localhost:7233 and
// "default" when nothing names them.
func (t *temporalConn) options(address, namespace string, logger *slog.Logger) (client.Options, error) {
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{ConfigFileProfile: t.profile})
	if err != nil {
		return client.Options{}, refused("Temporal client config: %v", err)
	}
	if address != "" {
		prof.Address = address
	}
	if namespace != "" {
		prof.Namespace = namespace
	}
	if prof.Address == "" {
		prof.Address = "localhost:7233"
	}
	if prof.Namespace == "" {
		prof.Namespace = "default"
	}
	if t.tls {
		if prof.TLS == nil {
			prof.TLS = &envconfig.ClientConfigTLS{}
		}
		prof.TLS.Disabled = false
	}
	o, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, refused("Temporal client config: %v", err)
	}
	if o.ConnectionOptions.TLS != nil {
		o.ConnectionOptions.TLS.MinVersion = tls.VersionTLS12
	}
	o.Logger = sdklog.NewStructuredLogger(logger)
	codec, err := payloadCodec()
	if err != nil {
		return client.Options{}, err
	}
	if codec != nil {
		o.DataConverter = codec.DataConverter(nil)
	}
	if tracing.Enabled() {
		// Starts, signals, workflow tasks and activities join the caller's trace.
		ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{})
		if err != nil {
			return client.Options{}, refused("tracing: %v", err)
		}
		o.Interceptors = append(o.Interceptors, ti)
	}
	return o, nil
}

// describe says how the connection is secured and whether payloads are
// sealed, for logs and errors (never the secrets).
func (t *temporalConn) describe(o client.Options) string {
	s := "plaintext"
	switch {
	case o.ConnectionOptions.TLS == nil:
	case o.Credentials != nil:
		s = "tls+api-key"
	case len(o.ConnectionOptions.TLS.Certificates) > 0 || o.ConnectionOptions.TLS.GetClientCertificate != nil:
		s = "mtls"
	default:
		s = "tls"
	}
	if o.DataConverter != nil {
		s += ", payloads encrypted"
	}
	return s
}

// payloadCodec is the configured key ring, nil when payloads go in clear.
func payloadCodec() (*payloadcrypt.Codec, error) {
	c, err := payloadcrypt.FromEnv()
	if err != nil {
		return nil, refused("%v", err)
	}
	return c, nil
}
