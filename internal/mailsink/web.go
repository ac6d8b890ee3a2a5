package mailsink

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler serves the received messages for people (an inbox page and each
// message's HTML part) and for scripts (/api/messages as JSON, and the raw
// message at /messages/N.eml).
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.inbox)
	mux.HandleFunc("GET /api/messages", s.apiList)
	mux.HandleFunc("GET /messages/{file}", s.message)
	return mux
}

type summary struct {
	ID        int       `json:"id"`
	Received  time.Time `json:"received"`
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
	MessageID string    `json:"message_id"`
	Text      string    `json:"text,omitempty"`
}

func (s *Sink) summaries(withText bool) []summary {
	var out []summary
	for i, m := range s.Messages() {
		p, err := Parse(m.Raw)
		sum := summary{ID: i + 1, Received: m.Received, From: m.From, To: m.To}
		if err == nil {
			sum.Subject, sum.MessageID = p.Subject, p.Header.Get("Message-Id")
			if withText {
				sum.Text = p.Text
			}
		}
		out = append(out, sum)
	}
	return out
}

var inboxPage = template.Must(template.New("inbox").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>depositflow mail sink</title>
<meta http-equiv="refresh" content="5">
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#1f2937}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:6px 10px;border-bottom:1px solid #e5e7eb;font-size:14px}th{background:#f3f4f6}a{color:#1e3a5f}</style>
</head><body><h1>Mail received by the dev SMTP sink</h1>
<p>{{len .}} message(s). This page refreshes every 5 seconds. JSON: <a href="/api/messages">/api/messages</a></p>
<table><tr><th>#</th><th>Received (UTC)</th><th>To</th><th>Subject</th><th></th></tr>
{{range .}}<tr><td>{{.ID}}</td><td>{{.Received.UTC.Format "2006-01-02 15:04:05"}}</td><td>{{range .To}}{{.}} {{end}}</td>
<td><a href="/messages/{{.ID}}">{{.Subject}}</a></td><td><a href="/messages/{{.ID}}.txt">text</a> · <a href="/messages/{{.ID}}.eml">raw</a></td></tr>{{end}}
</table></body></html>`))

func (s *Sink) inbox(w http.ResponseWriter, _ *http.Request) {
	sums := s.summaries(false)
	// Newest first, as an inbox shows them.
	for i, j := 0, len(sums)-1; i < j; i, j = i+1, j-1 {
		sums[i], sums[j] = sums[j], sums[i]
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = inboxPage.Execute(w, sums)
}

func (s *Sink) apiList(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.summaries(true))
}

func (s *Sink) message(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	name, ext, _ := strings.Cut(file, ".")
	n, err := strconv.Atoi(name)
	msgs := s.Messages()
	if err != nil || n < 1 || n > len(msgs) {
		http.NotFound(w, r)
		return
	}
	raw := msgs[n-1].Raw
	if ext == "eml" {
		w.Header().Set("Content-Type", "message/rfc822")
		_, _ = w.Write(raw)
		return
	}
	p, err := Parse(raw)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if ext == "txt" || p.HTML == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(p.Text))
		return
	}
	// The HTML part is our own template's output; the sink shows it as sent.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(p.HTML))
}
