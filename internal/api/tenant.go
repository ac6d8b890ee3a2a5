package api

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/evidence"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
)

// The tenant's page (issue #17): server-rendered HTML under /t/{token},
// where token is the tenant's signed link from their emails. No password,
// no JavaScript, no cookies: every form carries the link in its action and
// a form token bound to it (tenantlink.FormToken), and only POST changes
// anything. A link that is tampered with, expired, or for a tenant no
// longer on the lease answers the same 404 page, which offers a new link
// by email.

//go:embed tenant.html
var tenantFS embed.FS

var tenantPage = template.Must(template.New("tenant.html").Funcs(template.FuncMap{
	"money": func(currency string, cents int64) string { return money.FormatIn(currency, cents) },
	"day": func(zone string, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		loc, err := rules.LoadZone(zone)
		if err != nil {
			loc = time.UTC
		}
		return t.In(loc).Format("Monday 2 January 2006")
	},
	"isImage": func(typ string) bool { return strings.HasPrefix(typ, "image/") },
	"anchor":  func(ref string) string { return strings.ReplaceAll(ref, ":", "-") },
	"pair": func(token string, f activities.EvidenceFile) fileLink {
		return fileLink{Token: token, File: f}
	},
}).ParseFS(tenantFS, "tenant.html"))

// fileLink is a file as the page links it: under the tenant's link.
type fileLink struct {
	Token string
	File  activities.EvidenceFile
}

// MaxUpload is the largest multipart body read: MaxFiles files of
// evidence.MaxBytes, and the form's fields.
const MaxUpload = gateway.MaxFiles*evidence.MaxBytes + 1<<20

func (s *Server) tenantRoutes() {
	s.page("GET /t/{token}", s.tenantView)
	s.page("GET /t/{token}/files/{evidence_id}", s.tenantFile)
	s.page("POST /t/{token}/accept", s.tenantAccept)
	s.page("POST /t/{token}/disputes", s.tenantDispute)
	s.page("POST /t/{token}/offers/{dispute_id}/accept", s.tenantAcceptOffer)
	s.page("POST /t/{token}/forwarding-address", s.tenantForwarding)
	s.page("POST /t/link", s.tenantRequestLink)
}

// pageHandler serves a tenant's request, their link checked.
type pageHandler func(w http.ResponseWriter, r *http.Request, who gateway.Principal) error

// page registers a route of the tenant's page: the link in the path is
// checked (except for asking for a new one), and errors are answered as
// the page, never as JSON.
func (s *Server) page(pattern string, h pageHandler) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID()
		h2 := w.Header()
		h2.Set("X-Request-Id", id)
		// The link is in the address: no page elsewhere ever sees it.
		h2.Set("Referrer-Policy", "no-referrer")
		h2.Set("Cache-Control", "no-store")
		h2.Set("X-Content-Type-Options", "nosniff")
		h2.Set("X-Frame-Options", "DENY")
		h2.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		rec := &recorder{ResponseWriter: w}
		var who gateway.Principal
		err := func() error {
			if r.PathValue("token") == "" {
				return nil
			}
			if s.gw == nil || s.gw.DB == nil {
				return refuse(http.StatusNotFound, "link_not_valid", "", "this link is not valid")
			}
			var err error
			who, err = s.gw.TenantLink(r.Context(), r.PathValue("token"), origin(r))
			return err
		}()
		if err == nil {
			err = h(rec, r, who)
		}
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && s.gw != nil && s.gw.DB != nil {
				// What this layer refused itself (a form out of date, a
				// file too large): the gateway audits its own refusals.
				s.gw.RecordAction(r.Context(), who, who.Lease, pattern, map[string]string{"path": redactToken(r.URL.Path)}, err)
			}
			s.pageError(rec, r, id, who, err)
		}
		s.logger.Info("page", "request_id", id, "method", r.Method, "path", redactToken(r.URL.Path), "status", rec.status,
			"caller", who.ID(), "origin", origin(r), "duration_ms", time.Since(start).Milliseconds())
	})
}

// redactToken keeps a link's token out of the log.
func redactToken(path string) string {
	rest, ok := strings.CutPrefix(path, "/t/")
	if !ok || rest == "link" {
		return path
	}
	_, after, _ := strings.Cut(rest, "/")
	if after == "" {
		return "/t/…"
	}
	return "/t/…/" + after
}

// pageView is what tenant.html renders.
type pageView struct {
	gateway.TenantView
	Token  string
	Forms  map[string]string // form name: its token
	Notice string
	Error  string
	// Refused: the link was not valid; the page only offers a new one.
	Refused bool
	Sent    bool // a new link was asked for
}

// forms are the names of the page's forms, each with its own token.
func (s *Server) forms(token string, v gateway.TenantView) map[string]string {
	names := []string{"accept", "dispute", "forwarding"}
	for _, it := range v.Items {
		if it.Dispute != nil {
			names = append(names, "offer-"+strconv.FormatInt(it.Dispute.DisputeID, 10))
		}
	}
	out := map[string]string{}
	for _, n := range names {
		out[n] = s.gw.Links.FormToken(token, n)
	}
	return out
}

func (s *Server) renderPage(w http.ResponseWriter, status int, v pageView) error {
	var b bytes.Buffer
	if err := tenantPage.Execute(&b, v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// pageError answers an error as the page: the refused link's page for a
// link that is not valid, the lease's page with the error otherwise.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, id string, who gateway.Principal, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side: quote "+id+" to the manager."
	var ge *gateway.Error
	var ae *apiError
	switch {
	case errors.As(err, &ge) && ge.Code == "link_not_valid":
		_ = s.renderPage(w, http.StatusNotFound, pageView{Refused: true, Error: ge.Msg})
		return
	case errors.As(err, &ae):
		status, msg = ae.status, ae.detail.Message
	case errors.As(err, &ge) && statuses[ge.Kind] != 0:
		status, msg = statuses[ge.Kind], ge.Msg
		if ge.Kind == gateway.Unavailable {
			s.logger.Error("page", "request_id", id, "error", ge.Cause())
			msg += " (quote " + id + " to the manager)"
		}
	default:
		s.logger.Error("page", "request_id", id, "error", err)
	}
	if who.Kind != gateway.KindTenant || r.Method == http.MethodGet && r.PathValue("evidence_id") == "" {
		_ = s.renderPage(w, status, pageView{Refused: who.Kind != gateway.KindTenant, Error: msg})
		return
	}
	v, verr := s.gw.TenantPage(r.Context(), who, who.Lease)
	if verr != nil {
		_ = s.renderPage(w, status, pageView{Error: msg})
		return
	}
	token := r.PathValue("token")
	_ = s.renderPage(w, status, pageView{TenantView: v, Token: token, Forms: s.forms(token, v), Error: msg})
}

func (s *Server) tenantView(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	v, err := s.gw.TenantPage(r.Context(), who, who.Lease)
	if err != nil {
		return err
	}
	token := r.PathValue("token")
	notice := map[string]string{
		"accepted":   "Thank you: you accepted the statement.",
		"disputed":   "Your dispute was sent to the manager. The undisputed part of your deposit is still paid on the release date.",
		"agreed":     "You accepted the offer: it is paid to you now (or with the refund on the release date).",
		"forwarding": "Thank you: your forwarding address was recorded.",
	}[r.URL.Query().Get("done")]
	return s.renderPage(w, http.StatusOK, pageView{TenantView: v, Token: token, Forms: s.forms(token, v), Notice: notice})
}

// tenantFile serves one evidence file of the lease, inline.
func (s *Server) tenantFile(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	id, err := strconv.ParseInt(r.PathValue("evidence_id"), 10, 64)
	if err != nil || id <= 0 {
		return refuse(http.StatusNotFound, "evidence_not_found", "evidence_id", "no such file")
	}
	return s.serveFile(w, r, who, who.Lease, id)
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, who gateway.Principal, leaseID string, id int64) error {
	f, data, err := s.gw.EvidenceContent(r.Context(), who, leaseID, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", "inline; filename=\""+f.Name+"\"")
	w.Header().Set("Content-Security-Policy", "sandbox")
	return writeBody(w, f.Type, data)
}

// checkForm refuses a post without the token of the form it names.
func (s *Server) checkForm(r *http.Request, form string) error {
	if !s.gw.Links.CheckForm(r.PathValue("token"), form, r.FormValue("form_token")) {
		return refuse(http.StatusForbidden, "form_not_valid", "form_token", "this form is out of date: open the page again from your link and send it again")
	}
	return nil
}

// done answers a post that worked: back to the page (post, redirect, get).
func done(w http.ResponseWriter, r *http.Request, what, anchor string) error {
	u := "/t/" + url.PathEscape(r.PathValue("token")) + "?done=" + what
	if anchor != "" {
		u += "#" + anchor
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
	return nil
}

func (s *Server) tenantAccept(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := s.checkForm(r, "accept"); err != nil {
		return err
	}
	if _, err := s.gw.AcceptStatement(r.Context(), who, who.Lease); err != nil {
		return err
	}
	return done(w, r, "accepted", "")
}

func (s *Server) tenantDispute(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	fields, files, err := readUpload(w, r)
	if err != nil {
		return err
	}
	if !s.gw.Links.CheckForm(r.PathValue("token"), "dispute", fields.Get("form_token")) {
		return refuse(http.StatusForbidden, "form_not_valid", "form_token", "this form is out of date: open the page again from your link and send it again")
	}
	out, err := s.gw.OpenDispute(r.Context(), who, gateway.DisputeIn{LeaseID: who.Lease, Item: fields.Get("item"), Message: fields.Get("message"), Files: files})
	if err != nil && !gateway.IsKind(err, gateway.NotSignalled) {
		return err
	}
	return done(w, r, "disputed", "item-"+strings.ReplaceAll(out.Dispute.Item, ":", "-"))
}

func (s *Server) tenantAcceptOffer(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	id, err := strconv.ParseInt(r.PathValue("dispute_id"), 10, 64)
	if err != nil || id <= 0 {
		return refuse(http.StatusNotFound, "item_not_found", "dispute_id", "no such disputed item")
	}
	if err := s.checkForm(r, "offer-"+strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	out, err := s.gw.AcceptOffer(r.Context(), who, who.Lease, id)
	if err != nil && !gateway.IsKind(err, gateway.NotSignalled) {
		return err
	}
	return done(w, r, "agreed", "item-"+strings.ReplaceAll(out.Dispute.Item, ":", "-"))
}

func (s *Server) tenantForwarding(w http.ResponseWriter, r *http.Request, who gateway.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := s.checkForm(r, "forwarding"); err != nil {
		return err
	}
	_, err := s.gw.RecordForwarding(r.Context(), who, gateway.ForwardingIn{LeaseID: who.Lease, Address: r.FormValue("forwarding_address")})
	if err != nil && !gateway.IsKind(err, gateway.NotSignalled) {
		return err
	}
	return done(w, r, "forwarding", "forwarding")
}

// tenantRequestLink emails a new link to a tenant who gives their lease and
// address; it answers the same whatever they give.
func (s *Server) tenantRequestLink(w http.ResponseWriter, r *http.Request, _ gateway.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if s.gw == nil || s.gw.DB == nil {
		return refuse(http.StatusServiceUnavailable, "unavailable", "", "cannot reach the database")
	}
	if err := s.gw.RequestLink(r.Context(), origin(r), strings.TrimSpace(r.FormValue("lease_id")), r.FormValue("email")); err != nil {
		return err
	}
	return s.renderPage(w, http.StatusOK, pageView{Refused: true, Sent: true})
}

// readUpload reads a multipart form: its fields, and each file part
// checked (size and type, by content) before anything is stored. A file
// input left empty is no file.
func readUpload(w http.ResponseWriter, r *http.Request) (url.Values, []evidence.File, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, refuse(http.StatusBadRequest, "bad_form", "", "send the form as multipart/form-data")
	}
	fields := url.Values{}
	var files []evidence.File
	fieldBytes := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, refuse(http.StatusRequestEntityTooLarge, "body_too_large", "", "the upload is larger than %d MiB", MaxUpload>>20)
		}
		if err != nil {
			return nil, nil, refuse(http.StatusBadRequest, "bad_form", "", "the form could not be read: %v", err)
		}
		if p.FileName() == "" && p.FormName() != "file" {
			b, err := io.ReadAll(io.LimitReader(p, int64(MaxBody-fieldBytes)+1))
			fieldBytes += len(b)
			if err != nil || fieldBytes > MaxBody {
				return nil, nil, refuse(http.StatusRequestEntityTooLarge, "body_too_large", "", "the form's fields are larger than %d bytes", MaxBody)
			}
			fields.Add(p.FormName(), string(b))
			continue
		}
		f, err := readFile(p)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			files = append(files, *f)
		}
	}
	if len(files) > gateway.MaxFiles {
		return nil, nil, refuse(http.StatusUnprocessableEntity, "too_many_files", "file", "send at most %d files at once", gateway.MaxFiles)
	}
	return fields, files, nil
}

func readFile(p *multipart.Part) (*evidence.File, error) {
	if p.FileName() == "" {
		_, _ = io.Copy(io.Discard, io.LimitReader(p, 1<<10))
		return nil, nil
	}
	f, err := evidence.Check(p.FileName(), p, evidence.MaxBytes)
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, evidence.ErrTooLarge), errors.As(err, &tooBig):
		return nil, refuse(http.StatusRequestEntityTooLarge, "file_too_large", "file", "%s: %v", evidence.SafeName(p.FileName(), ""), evidence.ErrTooLarge)
	case errors.Is(err, evidence.ErrType):
		return nil, refuse(http.StatusUnsupportedMediaType, "unsupported_file", "file", "%s: %v", evidence.SafeName(p.FileName(), ""), err)
	case errors.Is(err, evidence.ErrEmpty):
		return nil, nil
	case err != nil:
		return nil, refuse(http.StatusBadRequest, "bad_form", "file", "the file could not be read: %v", err)
	}
	return &f, nil
}
