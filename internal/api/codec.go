package api

import (
	"io"
	"net/http"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/depositflow/depositflow/internal/gateway"
)

// The codec endpoint: Temporal keeps tenants' data sealed in its histories
// (DEPOSITS_PAYLOAD_KEYS), and operators allowed to read it open it here,
// from the Temporal Web UI (its codec server setting pointed at
// https://deposits.example/codec) or the temporal CLI (--codec-endpoint
// https://deposits.example/codec --codec-auth "Bearer dfu_..."). Admins
// only; every request is audited.

// maxCodecBody bounds a request: Temporal refuses payloads over 2 MiB, and
// a page of the UI sends a few dozen.
const maxCodecBody = 16 << 20

// WithCodec serves the codec endpoint with codec for namespace, answering
// the browsers of the origins listed (the Web UI's, e.g.
// http://localhost:8233) with CORS headers. Without it the endpoint
// answers 404: payloads are not sealed here.
func (s *Server) WithCodec(codec converter.PayloadCodec, namespace string, origins []string) *Server {
	s.codec, s.codecNamespace, s.codecOrigins = codec, namespace, origins
	return s
}

func (s *Server) codecRoutes() {
	s.handle("POST /codec/{op}", true, s.openPayloads)
	s.codecSessionRoutes()
}

func (s *Server) openPayloads(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	op := r.PathValue("op")
	switch {
	case s.codec == nil:
		return noCodec()
	case op != "decode" && op != "encode":
		return refuse(http.StatusNotFound, "not_found", "op", "the codec answers /codec/decode and /codec/encode")
	}
	ns := r.Header.Get("X-Namespace")
	if ns != "" && ns != s.codecNamespace {
		return refuse(http.StatusNotFound, "not_found", "X-Namespace", "this server opens the payloads of namespace %s only", s.codecNamespace)
	}
	if err := s.gw.MayOpenPayloads(r.Context(), who, op, s.codecNamespace, r.ContentLength); err != nil {
		return err
	}
	// The exchange is the SDK's remote codec's ({"payloads": [...]} as
	// protojson both ways), with this API's errors.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCodecBody))
	if err != nil {
		return refuse(http.StatusRequestEntityTooLarge, "body_too_large", "", "a codec request is at most %d bytes", maxCodecBody)
	}
	var in commonpb.Payloads
	if err := protojson.Unmarshal(body, &in); err != nil {
		return refuse(http.StatusBadRequest, "bad_json", "", "send {\"payloads\": [...]} as the Temporal Web UI does")
	}
	var out []*commonpb.Payload
	if op == "decode" {
		out, err = s.codec.Decode(in.Payloads)
	} else {
		out, err = s.codec.Encode(in.Payloads)
	}
	if err != nil {
		return invalid("payloads", "%v", err)
	}
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// cors lets the Web UI's origins call the codec endpoint from a browser,
// with the user's Authorization header; other routes and origins get no
// CORS headers (browsers then refuse cross-origin calls). A browser's
// preflight carries no credential: it is answered here, and learns only
// which headers a call may send.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && strings.HasPrefix(r.URL.Path, "/codec/") && slices.Contains(s.codecOrigins, o) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
			h.Set("Access-Control-Max-Age", "600")
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
