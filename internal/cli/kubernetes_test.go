package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/depositflow/depositflow/internal/api"
)

// deploy/kubernetes/depositflow.yaml cannot be applied here (no cluster), so
// it is read: every container runs a command deposits has with flags it
// takes, with the configuration it reads, its probes on ports it opens and
// routes the server has, and the Service pointing at a port the API opens.
func TestKubernetesManifestsRunRealCommands(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/depositflow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet *struct {
			Path   string `yaml:"path"`
			Port   string `yaml:"port"`
			Scheme string `yaml:"scheme"`
		} `yaml:"httpGet"`
		TCPSocket *struct {
			Port string `yaml:"port"`
		} `yaml:"tcpSocket"`
	}
	type container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		EnvFrom []struct {
			ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
			SecretRef    *struct{ Name string } `yaml:"secretRef"`
		} `yaml:"envFrom"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		VolumeMounts   []struct {
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	type doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Replicas int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
			// a Service's
			Ports []struct {
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	var docs []doc
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d doc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("depositflow.yaml: %v", err)
		}
		if d.Kind == "" || d.APIVersion == "" || d.Metadata.Name == "" {
			t.Fatalf("a document without kind, apiVersion or name: %+v", d)
		}
		docs = append(docs, d)
	}
	config := map[string]string{}
	for _, d := range docs {
		if d.Kind == "ConfigMap" {
			config = d.Data
		}
	}
	for _, key := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DEPOSITS_PAYLOAD_KEYS_FILE"} {
		if config[key] == "" {
			t.Errorf("the ConfigMap lacks %s", key)
		}
	}
	routes := api.New(nil, nil).Routes()
	root := (&app{}).rootCommand()
	commands := map[string]bool{}
	apiPorts := map[string]bool{}
	for _, d := range docs {
		if d.Kind != "Deployment" && d.Kind != "Job" {
			continue
		}
		if d.Kind == "Deployment" && (d.Spec.Replicas < 2 || d.Spec.Selector.MatchLabels["app"] != d.Spec.Template.Metadata.Labels["app"]) {
			t.Errorf("%s: want at least 2 replicas selected by their own label", d.Metadata.Name)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			cmd, rest, err := root.Find(c.Args)
			if err != nil || cmd == root {
				t.Errorf("%s runs %v, which deposits does not have", d.Metadata.Name, c.Args)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %v: %v", d.Metadata.Name, c.Args, err)
			}
			commands[cmd.Name()] = true
			var fromConfig, fromSecret bool
			for _, e := range c.EnvFrom {
				fromConfig = fromConfig || e.ConfigMapRef != nil && e.ConfigMapRef.Name == "depositflow"
				fromSecret = fromSecret || e.SecretRef != nil && e.SecretRef.Name == "depositflow"
			}
			if !fromConfig || !fromSecret {
				t.Errorf("%s: its environment is not the depositflow ConfigMap and Secret", d.Metadata.Name)
			}
			ports := map[string]int{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			// Every file the configuration names is on a mounted volume:
			// the certificates of TLS to Temporal and of the API's HTTPS.
			for _, key := range []string{"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "API_TLS_CERT", "API_TLS_KEY", "DEPOSITS_PAYLOAD_KEYS_FILE"} {
				if key == "API_TLS_CERT" || key == "API_TLS_KEY" {
					if cmd.Name() != "serve" {
						continue
					}
				}
				f := config[key]
				if f == "" {
					t.Errorf("the ConfigMap sets no %s", key)
					continue
				}
				mounted := false
				for _, m := range c.VolumeMounts {
					mounted = mounted || strings.TrimSuffix(f[:strings.LastIndex(f, "/")], "/") == m.MountPath
				}
				if !mounted {
					t.Errorf("%s: %s is %s, on no mounted volume", d.Metadata.Name, key, f)
				}
			}
			if cmd.Name() == "serve" {
				listen, _ := cmd.Flags().GetString("listen")
				if !strings.HasSuffix(listen, ":"+itoa(int64(ports["https"]))) {
					t.Errorf("serve listens on %s but opens %v", listen, ports)
				}
				for name := range ports {
					apiPorts[name] = true
				}
			}
			if p, ok := ports["metrics"]; ok {
				want := config["METRICS_ADDRESS"]
				if cmd.Name() == "serve" {
					want = config["API_METRICS_ADDRESS"]
				}
				if !strings.HasSuffix(want, ":"+itoa(int64(p))) {
					t.Errorf("%s opens metrics on %d but is configured for %s", d.Metadata.Name, p, want)
				}
			}
			for _, pr := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
				switch {
				case pr == nil:
				case pr.HTTPGet != nil:
					if _, ok := ports[pr.HTTPGet.Port]; !ok {
						t.Errorf("%s probes port %s, which it does not open", d.Metadata.Name, pr.HTTPGet.Port)
					}
					if cmd.Name() == "serve" && pr.HTTPGet.Scheme != "HTTPS" {
						t.Errorf("%s probes over %q, but serves HTTPS only", d.Metadata.Name, pr.HTTPGet.Scheme)
					}
					if cmd.Name() == "serve" && !slices.Contains(routes, "GET "+pr.HTTPGet.Path) {
						t.Errorf("%s probes %s, which the API does not serve", d.Metadata.Name, pr.HTTPGet.Path)
					}
				case pr.TCPSocket != nil:
					if _, ok := ports[pr.TCPSocket.Port]; !ok {
						t.Errorf("%s probes port %s, which it does not open", d.Metadata.Name, pr.TCPSocket.Port)
					}
				}
			}
		}
	}
	for _, want := range []string{"migrate", "setup", "worker", "serve"} {
		if !commands[want] {
			t.Errorf("no container runs deposits %s", want)
		}
	}
	for _, d := range docs {
		if d.Kind != "Service" {
			continue
		}
		for _, p := range d.Spec.Ports {
			if !apiPorts[p.TargetPort] {
				t.Errorf("Service %s targets port %s, which the API does not open", d.Metadata.Name, p.TargetPort)
			}
		}
	}
}
