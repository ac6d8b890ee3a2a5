package api

import (
	"embed"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/depositflow/depositflow/internal/gateway"
)

// Signing a browser in to the codec endpoint. The Temporal Web UI calls a
// codec server from the operator's browser with the browser's cookies
// ("Include cross-origin credentials"), never with a depositflow token. An
// admin opens /codec/login once, gives their personal token, and the
// browser gets a session cookie (gateway.OpenCodecSession) good for the
// codec endpoint only, for 8 hours at most. A request with the cookie must
// come from a Web UI origin listed in DEPOSITS_CODEC_ORIGINS (or be this
// page's own sign-out): another site's page can make the browser send it,
// never read the answer, and is refused (403 cross_site) and audited.

// codecCookie is the session cookie's name.
const codecCookie = "deposits_codec"

//go:embed codec_login.html
var codecLoginFS embed.FS

var codecLoginPage = template.Must(template.ParseFS(codecLoginFS, "codec_login.html"))

// codecLoginView is what codec_login.html renders.
type codecLoginView struct {
	User, Namespace, Until, Endpoint, Error string
}

func (s *Server) codecSessionRoutes() {
	s.handle("GET /codec/login", false, s.codecLoginForm)
	s.handle("POST /codec/login", false, s.codecLogin)
	s.handle("POST /codec/logout", true, s.codecLogout)
}

// codecSession authenticates a browser by its session cookie, sent from a
// Web UI origin of DEPOSITS_CODEC_ORIGINS; only the sign-out form may post
// it from this server's own page.
func (s *Server) codecSession(r *http.Request, secret string) (gateway.Principal, error) {
	who, err := s.gw.AuthenticateCodecSession(r.Context(), secret, origin(r))
	if err != nil {
		return who, err
	}
	o := r.Header.Get("Origin")
	ownPage := r.URL.Path == "/codec/logout" && o == s.selfURL(r)
	if !ownPage && !slices.Contains(s.codecOrigins, o) {
		return who, refuse(http.StatusForbidden, "cross_site", "Origin",
			"a codec session answers the Temporal Web UI's origins only (DEPOSITS_CODEC_ORIGINS), not %q", o)
	}
	return who, nil
}

func (s *Server) codecPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	// same-origin, not no-referrer: the sign-out form's POST must carry
	// this page's Origin (with no-referrer a browser sends "null").
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// codecLoginForm shows the sign-in form, or who this browser is signed in as.
func (s *Server) codecLoginForm(w http.ResponseWriter, r *http.Request, _ gateway.Principal) error {
	if s.codec == nil {
		return noCodec()
	}
	v := codecLoginView{Namespace: s.codecNamespace}
	if c, err := r.Cookie(codecCookie); err == nil {
		if who, err := s.gw.AuthenticateCodecSession(r.Context(), c.Value, origin(r)); err == nil {
			v.User = who.Name
			v.Until = who.ExpiresAt.UTC().Format("2006-01-02 15:04")
			v.Endpoint = s.selfURL(r) + "/codec"
		}
	}
	return s.renderCodecPage(w, http.StatusOK, v)
}

func (s *Server) renderCodecPage(w http.ResponseWriter, status int, v codecLoginView) error {
	s.codecPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return codecLoginPage.Execute(w, v)
}

// codecLogin opens a session with a person's token: the form's field (a
// browser) or the Authorization header (a script). A form gets the page
// back; anything else gets JSON.
func (s *Server) codecLogin(w http.ResponseWriter, r *http.Request, _ gateway.Principal) error {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form := mt == "application/x-www-form-urlencoded"
	if form {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			return refuse(http.StatusRequestEntityTooLarge, "body_too_large", "", "send the form's one field, token")
		}
		bearer = r.PostForm.Get("token")
	}
	who, err := s.gw.Authenticate(r.Context(), bearer, origin(r))
	if err == nil && s.codec == nil {
		err = noCodec()
	}
	var sess gateway.CodecSession
	if err == nil {
		sess, err = s.gw.OpenCodecSession(r.Context(), who, s.codecNamespace)
	}
	if err != nil {
		if !form {
			return err
		}
		status, msg := http.StatusUnauthorized, "That token signs no one in: it is unknown, expired or revoked."
		switch {
		case gateway.IsKind(err, gateway.Forbidden): // audited by the gateway
			status, msg = http.StatusForbidden, "Only an admin opens tenants' payloads; "+who.Name+" is not one."
		case gateway.IsKind(err, gateway.Unauthenticated):
			s.auditRefusal(r, "POST /codec/login", who, err)
		default:
			return err
		}
		return s.renderCodecPage(w, status, codecLoginView{Namespace: s.codecNamespace, Error: msg})
	}
	http.SetCookie(w, &http.Cookie{Name: codecCookie, Value: sess.Secret, Path: "/codec", MaxAge: int(sess.ExpiresAt.Sub(s.now()).Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	if !form {
		writeJSON(w, http.StatusOK, map[string]any{"user": sess.User, "namespace": s.codecNamespace, "expires_at": sess.ExpiresAt})
		return nil
	}
	http.Redirect(w, r, "/codec/login", http.StatusSeeOther)
	return nil
}

// codecLogout ends the browser's session and forgets its cookie.
func (s *Server) codecLogout(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	c, err := r.Cookie(codecCookie)
	if err != nil {
		return refuse(http.StatusUnprocessableEntity, "invalid", "", "signing out ends a browser's codec session: send its cookie (%s)", codecCookie)
	}
	if err := s.gw.EndCodecSession(r.Context(), who, c.Value); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: codecCookie, Value: "", Path: "/codec", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		http.Redirect(w, r, "/codec/login", http.StatusSeeOther)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// selfURL is this server's URL as the browser reached it.
func (s *Server) selfURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func noCodec() error {
	return refuse(http.StatusNotFound, "not_found", "", "no codec here: this server seals no payloads (DEPOSITS_PAYLOAD_KEYS is not set)")
}
