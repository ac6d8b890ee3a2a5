package depositclient

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/depositflow/depositflow/internal/contract"
)

// The client's types are the document's schemas: the same JSON names with
// the same JSON types, every field of a request and of most answers (the
// end-to-end tests send this client's calls through the document's
// validator too). LeaseState is the part of DepositState it names.
func TestTypesMatchTheDocument(t *testing.T) {
	c, err := contract.Load("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schema string
		v      any
		part   bool // the type names some of the schema's fields
	}{
		{"Property", Property{}, false}, {"Unit", Unit{}, false}, {"Listing", Listing{}, false}, {"Resident", Resident{}, false},
		{"Lease", Lease{}, false}, {"Tenant", Tenant{}, false}, {"LeaseStarted", LeaseStarted{}, false}, {"Payment", Payment{}, false},
		{"Charge", Charge{}, false}, {"MoveOut", MoveOut{}, false}, {"Forwarding", Forwarding{}, false},
		{"PaymentWritten", PaymentWritten{}, false}, {"ChargeWritten", ChargeWritten{}, false}, {"PaymentReturned", PaymentReturned{}, false},
		{"MoveOutWritten", MoveOutWritten{}, false}, {"ForwardingWritten", ForwardingWritten{}, false}, {"Who", Who{}, false},
		{"Invoice", Invoice{}, false}, {"ListedLease", ListedLease{}, false}, {"LeasePage", LeasePage{}, false},
		{"InvoicePage", InvoicePage{}, false}, {"DepositState", LeaseState{}, true},
	} {
		ref, ok := c.Doc.Components.Schemas[tc.schema]
		if !ok {
			t.Errorf("schema %s is not documented", tc.schema)
			continue
		}
		compare(t, tc.schema, ref.Value, reflect.TypeOf(tc.v), tc.part)
	}
}

func compare(t *testing.T, where string, s *openapi3.Schema, rt reflect.Type, part bool) {
	t.Helper()
	fields := map[string]reflect.Type{}
	var collect func(rt reflect.Type)
	collect = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if f.Anonymous && name == "" {
				collect(f.Type)
				continue
			}
			fields[name] = f.Type
		}
	}
	collect(rt)
	for name, ft := range fields {
		p, ok := s.Properties[name]
		if !ok {
			t.Errorf("%s: the client has %s, the document does not", where, name)
			continue
		}
		if want, got := jsonType(ft), schemaType(p.Value); want != got {
			t.Errorf("%s.%s: the client has a JSON %s, the document a %s", where, name, want, got)
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			compare(t, where+"."+name, p.Value, ft, false)
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			compare(t, where+"."+name+"[]", p.Value.Items.Value, ft.Elem(), false)
		}
	}
	if part {
		return
	}
	for name := range s.Properties {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: the document has %s, the client does not", where, name)
		}
	}
	for _, name := range s.Required {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: the document requires %s", where, name)
		}
	}
}

// schemaType is a schema's JSON type, through an allOf that only adds a description.
func schemaType(s *openapi3.Schema) string {
	if s.Type != nil && len(s.Type.Slice()) == 1 {
		return s.Type.Slice()[0]
	}
	for _, part := range s.AllOf {
		if t := schemaType(part.Value); t != "" {
			return t
		}
	}
	if len(s.Properties) > 0 {
		return "object"
	}
	return ""
}

func jsonType(rt reflect.Type) string {
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch {
	case rt == reflect.TypeFor[time.Time]():
		return "string"
	case rt.Kind() == reflect.String:
		return "string"
	case rt.Kind() == reflect.Bool:
		return "boolean"
	case rt.Kind() >= reflect.Int && rt.Kind() <= reflect.Uint64:
		return "integer"
	case rt.Kind() == reflect.Slice:
		return "array"
	}
	return "object"
}
