package api

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
)

// A manager's one-click links (issue #16): /m/{token}, from the alert and
// reminders a property's managers get. GET shows what the link will do (the
// amount, the tenant, the release date) and a confirmation form, and never
// acts: mail scanners open links. POST of that form (with its form token,
// bound to the link) acts as the person the link was sent to, through the
// gateway. Server-rendered, no JavaScript, no cookies, like the tenant's page.

//go:embed manager.html
var managerFS embed.FS

var managerPage = template.Must(template.New("manager.html").Funcs(template.FuncMap{
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
	"plusDays": func(t time.Time, days int) time.Time { return t.AddDate(0, 0, days) },
}).ParseFS(managerFS, "manager.html"))

// managerView is what manager.html renders.
type managerView struct {
	gateway.ManagerLinkView
	Token     string
	FormToken string
	Days      int
	Done      string // what a confirmed link did
	Error     string
	Refused   bool // the link opens nothing
}

func (s *Server) managerRoutes() {
	s.managerLinkRoute("GET /m/{token}", s.managerLinkView)
	s.managerLinkRoute("POST /m/{token}", s.managerLinkConfirm)
}

// managerLinkRoute registers a route of the manager's link page: errors
// are answered as the page, never as JSON, and the token stays out of logs.
func (s *Server) managerLinkRoute(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID()
		hd := w.Header()
		hd.Set("X-Request-Id", id)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		rec := &recorder{ResponseWriter: w}
		var err error
		if s.gw == nil || s.gw.DB == nil {
			err = refuse(http.StatusNotFound, "link_not_valid", "", "this link is not valid")
		} else {
			err = h(rec, r)
		}
		if err != nil {
			s.managerError(rec, id, err)
		}
		s.logger.Info("page", "request_id", id, "method", r.Method, "path", "/m/…", "status", rec.status,
			"origin", origin(r), "duration_ms", time.Since(start).Milliseconds())
	})
}

func (s *Server) renderManager(w http.ResponseWriter, status int, v managerView) error {
	var b bytes.Buffer
	if err := managerPage.Execute(&b, v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// managerError answers a refusal as the page, in words.
func (s *Server) managerError(w http.ResponseWriter, id string, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side: quote "+id+"."
	var ge *gateway.Error
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		status, msg = ae.status, ae.detail.Message
	case errors.As(err, &ge) && statuses[ge.Kind] != 0:
		status, msg = statuses[ge.Kind], ge.Msg
		if ge.Kind == gateway.Unavailable {
			s.logger.Error("page", "request_id", id, "error", ge.Cause())
			msg += " (quote " + id + ")"
		}
	default:
		s.logger.Error("page", "request_id", id, "error", err)
	}
	_ = s.renderManager(w, status, managerView{Refused: true, Error: msg})
}

func (s *Server) managerLinkView(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	v, err := s.gw.ManagerLink(r.Context(), token, origin(r))
	if err != nil {
		return err
	}
	mv := managerView{ManagerLinkView: v, Token: token, FormToken: s.gw.Links.ManagerFormToken(token), Days: gateway.ExtendDays}
	if v.UsedAt != nil {
		mv.Error = "This link was already used on " + v.UsedAt.UTC().Format("2 Jan 2006 15:04 UTC") + ": it " + v.UsedWhat + ". It does nothing more."
	}
	return s.renderManager(w, http.StatusOK, mv)
}

func (s *Server) managerLinkConfirm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	token := r.PathValue("token")
	if !s.gw.Links.CheckManagerForm(token, r.FormValue("form_token")) {
		err := refuse(http.StatusForbidden, "form_not_valid", "form_token", "this form is out of date: open the link from your email again and confirm there")
		s.gw.RecordAction(r.Context(), gateway.Principal{Kind: "anonymous", Origin: origin(r)}, "", "POST /m/{token}", map[string]string{"path": "/m/…"}, err)
		return err
	}
	out, err := s.gw.ManagerLinkAct(r.Context(), token, origin(r))
	if err != nil {
		return err
	}
	v := out.View
	v.Data.ReleaseAt = out.State.ReleaseAt
	done := "Released: the deposit of lease " + v.Data.LeaseID + " is settled now, and the tenant's email is on its way."
	if v.Action == "extend" {
		done = "Extended: the deposit of lease " + v.Data.LeaseID + " is now released on " + out.State.ReleaseAt.UTC().Format("Monday 2 January 2006") + "."
	}
	return s.renderManager(w, http.StatusOK, managerView{ManagerLinkView: v, Token: token, Done: done, Days: gateway.ExtendDays})
}
