// Package deploy holds what operators deploy beside depositflow: Prometheus
// alert rules and a Grafana dashboard over the metrics the worker and
// `deposits serve` expose. Nothing here runs (no Prometheus or Grafana on
// the build machine), so the test reads them: well-formed, and naming only
// metrics that exist.
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// exported are the Prometheus names the worker and the server can expose:
// depositflow's counters and timers (read from the code that records them)
// and the Temporal SDK's (read from its constants), as the SDK's Prometheus
// naming writes them (_total, _seconds).
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	add := func(kind, name string) {
		switch kind {
		case "Counter":
			names[name+"_total"] = true
		case "Timer":
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				names[name+"_seconds"+s] = true
			}
		default: // the SDK's: a counter or a timer
			names[name+"_total"] = true
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				names[name+"_seconds"+s] = true
			}
			names[name] = true
		}
	}
	recorded := regexp.MustCompile(`\.(Counter|Timer)\("([a-z_]+)"\)`)
	for _, glob := range []string{"../workflows/*.go", "../activities/*.go", "../internal/api/*.go"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range recorded.FindAllStringSubmatch(string(b), -1) {
				add(m[1], m[2])
			}
		}
	}
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("go list go.temporal.io/sdk: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`TemporalMetricsPrefix \+ "([a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
		add("sdk", "temporal_"+m[1])
	}
	if !names["deposit_emails_sent_total"] || !names["temporal_workflow_task_execution_failed_total"] {
		t.Fatalf("the metric names were not found in the code: %d names", len(names))
	}
	return names
}

var (
	labelMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|(by|without|on|ignoring) \([^)]*\)|\b[0-9][0-9.]*(e-?[0-9]+)?\b`)
	identifiers   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlWords   = map[string]bool{"sum": true, "rate": true, "increase": true, "histogram_quantile": true, "clamp_min": true, "max": true, "min": true, "avg": true, "count": true, "and": true, "or": true, "unless": true}
)

// metricsOf are the metric names a PromQL expression reads.
func metricsOf(expr string) []string {
	var out []string
	for _, id := range identifiers.FindAllString(labelMatchers.ReplaceAllString(expr, " "), -1) {
		if !promqlWords[id] {
			out = append(out, id)
		}
	}
	return out
}

func TestAlertRules(t *testing.T) {
	names := exported(t)
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: an alert needs expr, a severity and a summary", r.Alert)
			}
			for _, m := range metricsOf(r.Expr) {
				if !names[m] {
					t.Errorf("%s reads %s, which nothing exports", r.Alert, m)
				}
			}
		}
	}
	// What #20 asks the rules to watch.
	for _, want := range []string{"DepositStatutoryDeadlineMissed", "DepositEmailsFailing", "DepositBooksDisagree", "DepositWorkflowTaskFailures"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
	// The check can fail.
	if m := metricsOf(`sum by (kind) (rate(deposit_nosuch_total{kind="x"}[5m]))`); len(m) != 1 || names[m[0]] {
		t.Errorf("metricsOf = %v", m)
	}
}

func TestGrafanaDashboard(t *testing.T) {
	names := exported(t)
	b, err := os.ReadFile("grafana/depositflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("depositflow.json: %v", err)
	}
	if d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("not a Grafana dashboard: uid %q, schemaVersion %d, %d panels", d.UID, d.SchemaVersion, len(d.Panels))
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, m := range metricsOf(q.Expr) {
				if !names[m] {
					t.Errorf("panel %q reads %s, which nothing exports", p.Title, m)
				}
			}
		}
	}
}
