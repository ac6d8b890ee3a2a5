package api

import (
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type spec struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			AdditionalProperties *bool          `yaml:"additionalProperties"`
			Properties           map[string]any `yaml:"properties"`
			Required             []string       `yaml:"required"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func readSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return s
}

// Every route the server registers is in api/openapi.yaml, and every
// operation there is a route: the two cannot drift apart.
func TestRoutesMatchOpenAPI(t *testing.T) {
	var documented []string
	for path, ops := range readSpec(t).Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := New(nil, nil).Routes()
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("routes and api/openapi.yaml differ\nserved:     %v\ndocumented: %v", served, documented)
	}
}

// The request bodies have exactly the documented fields, and refuse others.
func TestRequestSchemasMatchTypes(t *testing.T) {
	s := readSpec(t)
	for name, v := range map[string]any{
		"Property": Property{}, "Unit": Unit{}, "Listing": Listing{}, "Resident": Resident{}, "Lease": Lease{},
		"Charge": Charge{}, "Payment": Payment{}, "ReturnedPayment": ReturnedPayment{}, "MoveOut": MoveOut{},
		"Tenant": Tenant{}, "Forwarding": Forwarding{}, "Amendment": Amendment{}, "DecisionRequest": DecisionRequest{}, "Policy": Policy{},
	} {
		sc, ok := s.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s is not documented", name)
			continue
		}
		if sc.AdditionalProperties == nil || *sc.AdditionalProperties {
			t.Errorf("schema %s must say additionalProperties: false", name)
		}
		var fields, doc []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			fields = append(fields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
		for f := range sc.Properties {
			doc = append(doc, f)
		}
		sort.Strings(fields)
		sort.Strings(doc)
		if !slices.Equal(fields, doc) {
			t.Errorf("schema %s documents %v, the API reads %v", name, doc, fields)
		}
		for _, r := range sc.Required {
			if !slices.Contains(fields, r) {
				t.Errorf("schema %s requires %s, which the API does not read", name, r)
			}
		}
	}
}

// Without a key, every route but the health check is 401 with a JSON error,
// before anything is read.
func TestUnauthenticated(t *testing.T) {
	h := New(nil, nil).Handler()
	for _, route := range New(nil, nil).Routes() {
		if route == "GET /healthz" {
			continue
		}
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{lease_id}", "L-1", "{payment_id}", "P-1").Replace(path)
		for _, auth := range []string{"", "Basic abc", "Bearer nope"} {
			req := httptest.NewRequest(method, path, strings.NewReader("{}"))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"code": "unauthenticated"`) {
				t.Errorf("%s with %q: %d %s", route, auth, rec.Code, rec.Body.String())
			}
		}
	}
}
