package cli

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docker-compose.yml cannot be run here (no Docker engine), so it is checked
// by reading it: every service built from this repository runs a command the
// deposits binary has, with the environment it reads, and the API is
// published on the port it listens on.
func TestComposeFileRunsRealCommands(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Healthcheck yaml.Node         `yaml:"healthcheck"`
			Build       string            `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   yaml.Node         `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	root := (&app{}).rootCommand()
	built, certsJob := 0, false
	for name, s := range f.Services {
		if s.Build != "." {
			continue
		}
		built++
		if len(s.Command) > 0 && s.Command[0] == "certs" {
			certsJob = true
		} else {
			// Every deposits process speaks mutual TLS to Temporal.
			for _, key := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"} {
				if s.Environment[key] == "" {
					t.Errorf("service %s lacks %s", name, key)
				}
			}
			if !slices.Contains(s.Volumes, "./.certs:/certs:ro") {
				t.Errorf("service %s does not mount the certificates read-only", name)
			}
		}
		if len(s.Command) == 0 {
			continue // the image's default: worker
		}
		cmd, rest, err := root.Find(s.Command)
		if err != nil || cmd == root {
			t.Errorf("service %s runs %v, which deposits does not have", name, s.Command)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("service %s: %v: %v", name, s.Command, err)
		}
		if cmd.Name() == "serve" {
			if cert, _ := cmd.Flags().GetString("tls-cert"); cert == "" {
				t.Errorf("serve answers plain HTTP: no --tls-cert")
			}
			listen, _ := cmd.Flags().GetString("listen")
			port := listen[strings.LastIndex(listen, ":")+1:]
			if len(s.Ports) == 0 || !strings.HasSuffix(s.Ports[0], ":"+port) {
				t.Errorf("serve listens on %s but publishes %v", listen, s.Ports)
			}
		}
	}
	for _, want := range []string{"migrate", "setup", "worker", "serve", "admin"} {
		if _, ok := f.Services[want]; !ok {
			t.Errorf("docker-compose.yml has no %s service", want)
		}
	}
	if !certsJob {
		t.Errorf("docker-compose.yml makes no certificates (deposits certs)")
	}
	if built < 5 {
		t.Errorf("%d services are built from this repository", built)
	}

	// Temporal as users run it today: the server image, at the version the
	// tests run, its schemas by admin-tools; not the deprecated auto-setup.
	mod, err := os.ReadFile("../../e2e/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`go\.temporal\.io/server v(\S+)`).FindSubmatch(mod)
	if version == nil {
		t.Fatal("e2e/go.mod names no go.temporal.io/server")
	}
	images := map[string]bool{}
	for name, s := range f.Services {
		images[strings.Split(s.Image, ":")[0]] = true
		if strings.Contains(s.Image, "auto-setup") {
			t.Errorf("service %s runs the deprecated %s", name, s.Image)
		}
		if strings.HasPrefix(s.Image, "temporalio/server:") || strings.HasPrefix(s.Image, "temporalio/admin-tools:") {
			if tag := s.Image[strings.Index(s.Image, ":")+1:]; tag != string(version[1]) {
				t.Errorf("service %s runs Temporal %s; the tests run %s", name, tag, version[1])
			}
		}
		// Every "wait until healthy" names a service with a healthcheck.
		var deps map[string]struct {
			Condition string `yaml:"condition"`
		}
		_ = s.DependsOn.Decode(&deps)
		for dep, c := range deps {
			target, ok := f.Services[dep]
			switch {
			case !ok:
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
			case c.Condition == "service_healthy" && target.Healthcheck.Kind == 0:
				t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
	}
	for _, want := range []string{"temporalio/server", "temporalio/admin-tools", "temporalio/ui", "axllent/mailpit", "postgres"} {
		if !images[want] {
			t.Errorf("docker-compose.yml runs no %s", want)
		}
	}
}
