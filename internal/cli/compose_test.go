package cli

import (
	"os"
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
			Build       string            `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			DependsOn   yaml.Node         `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	root := (&app{}).rootCommand()
	built := 0
	for name, s := range f.Services {
		if s.Build != "." {
			continue
		}
		built++
		for _, key := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS"} {
			if s.Environment[key] == "" {
				t.Errorf("service %s lacks %s", name, key)
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
	if built < 5 {
		t.Errorf("%d services are built from this repository", built)
	}
}
