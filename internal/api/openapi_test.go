package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/contract"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/rules"
)

// The TestOpenAPI tests lint api/openapi.yaml (make check runs them): a
// valid OpenAPI 3 document (kin-openapi's loader and validator), the
// server's routes exactly, one unique operationId each, response schemas
// that refuse undocumented fields, and the server's own types of requests
// and answers in step with the schemas. The end-to-end tests hold every
// exchange of the suite to it (internal/contract).

const docPath = "../../api/openapi.yaml"

func loadDoc(t *testing.T) *contract.Checker {
	t.Helper()
	c, err := contract.Load(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every route the server registers is in api/openapi.yaml, and every
// operation there is a route: the two cannot drift apart.
func TestOpenAPIRoutesMatchServer(t *testing.T) {
	var documented []string
	for path, item := range loadDoc(t).Doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	served := New(nil, nil).Routes()
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("routes and api/openapi.yaml differ\nserved:     %v\ndocumented: %v", served, documented)
	}
}

// Every operation has an operationId of its own (generated clients name
// their methods after them).
func TestOpenAPIOperationIDs(t *testing.T) {
	seen := map[string]string{}
	for path, item := range loadDoc(t).Doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			switch other, dup := seen[op.OperationID]; {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", where)
			case dup:
				t.Errorf("%s and %s share the operationId %s", where, other, op.OperationID)
			}
			seen[op.OperationID] = where
		}
	}
}

// Every operation documents the answers the HTTP layer gives any route: a
// credential refused (401), an Idempotency-Key too long (400), the server
// failing (500, 503); one that reads a body, a body refused (400, 413).
func TestOpenAPICommonAnswers(t *testing.T) {
	for path, item := range loadDoc(t).Doc.Paths.Map() {
		for method, op := range item.Operations() {
			want := []int{400, 401, 500, 503}
			switch {
			case path == "/healthz":
				want = []int{503}
			case strings.HasPrefix(path, "/t/"), strings.HasPrefix(path, "/m/"):
				// The tenant's page, a manager's link: the link is the credential, refused as a page.
				want = []int{500, 503}
				if strings.Contains(path, "{token}") {
					want = append(want, 404)
				}
			}
			if op.RequestBody != nil {
				want = append(want, 413)
			}
			for _, status := range want {
				if op.Responses.Status(status) == nil {
					t.Errorf("%s %s does not document %d", method, path, status)
				}
			}
		}
	}
}

// Every object an answer holds says whether it takes fields the document
// does not name (additionalProperties), so that the validator fails on an
// undocumented field; and none is closed inside an allOf, where each part
// would refuse the others' fields.
func TestOpenAPIResponsesAreClosed(t *testing.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, ref *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		if ref.Ref != "" {
			where = ref.Ref
		}
		s := ref.Value
		seen[s] = true
		if (s.Type.Is(openapi3.TypeObject) || len(s.Properties) > 0) && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			t.Errorf("%s: an object of an answer must say additionalProperties (false, unless it is free-form)", where)
		}
		if len(s.AllOf) > 1 {
			for _, part := range s.AllOf {
				if p := part.Value; p != nil && len(p.Properties) > 0 && p.AdditionalProperties.Has != nil && !*p.AdditionalProperties.Has {
					t.Errorf("%s: a closed object inside allOf refuses the other parts' fields: list them in one object", where)
				}
			}
		}
		for name, p := range s.Properties {
			walk(where+"."+name, p)
		}
		walk(where+"[]", s.Items)
		walk(where+".*", s.AdditionalProperties.Schema)
		for _, group := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
			for _, p := range group {
				walk(where, p)
			}
		}
	}
	for path, item := range loadDoc(t).Doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				for mt, content := range resp.Value.Content {
					walk(fmt.Sprintf("%s %s %s %s", method, path, status, mt), content.Schema)
				}
			}
		}
	}
}

// schemaFields are the properties a schema documents, and those it requires.
func schemaFields(t *testing.T, doc *openapi3.T, name string) (props, required []string) {
	t.Helper()
	ref, ok := doc.Components.Schemas[name]
	if !ok {
		t.Fatalf("schema %s is not documented", name)
	}
	for p := range ref.Value.Properties {
		props = append(props, p)
	}
	sort.Strings(props)
	return props, ref.Value.Required
}

// jsonFields are the JSON names of a struct's fields, embedded ones included.
func jsonFields(rt reflect.Type) []string {
	var out []string
	for i := range rt.NumField() {
		f := rt.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name != "-" && f.IsExported() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// The request bodies have exactly the documented fields, and refuse others.
func TestOpenAPIRequestSchemasMatchTypes(t *testing.T) {
	doc := loadDoc(t).Doc
	for name, v := range map[string]any{
		"Property": Property{}, "Unit": Unit{}, "Listing": Listing{}, "Resident": Resident{}, "Lease": Lease{},
		"Charge": Charge{}, "Payment": Payment{}, "ReturnedPayment": ReturnedPayment{}, "MoveOut": MoveOut{},
		"Tenant": Tenant{}, "Forwarding": Forwarding{}, "Amendment": Amendment{}, "DecisionRequest": DecisionRequest{}, "Policy": Policy{}, "BatchRequest": BatchRequest{},
		"DepositBatchRequest": DepositBatchRequest{}, "StatementRequest": StatementRequest{}, "RefundPaidRequest": RefundPaidRequest{},
		"StatementLine": books.StatementLine{},
		"Resolution":    Resolution{},
		"Transfer":      Transfer{}, "PartialRefund": PartialRefund{}, "OpenInvoiceRequest": OpenInvoiceRequest{}, "ApplyInvoice": ApplyInvoice{},
	} {
		if ap := doc.Components.Schemas[name].Value.AdditionalProperties.Has; ap == nil || *ap {
			t.Errorf("schema %s must say additionalProperties: false", name)
		}
		props, required := schemaFields(t, doc, name)
		fields := jsonFields(reflect.TypeOf(v))
		if !slices.Equal(fields, props) {
			t.Errorf("schema %s documents %v, the API reads %v", name, props, fields)
		}
		for _, r := range required {
			if !slices.Contains(fields, r) {
				t.Errorf("schema %s requires %s, which the API does not read", name, r)
			}
		}
	}
}

// Every field the server's answers can hold is documented, with its JSON
// type: each type is filled in completely (every field set, every list of
// one) and validated against its schema. Values (enums, patterns, formats)
// are the end-to-end tests' to check on real answers.
func TestOpenAPIResponseTypesAreDocumented(t *testing.T) {
	doc := loadDoc(t).Doc
	for name, v := range map[string]any{
		"DepositState": deposit.State{}, "Ledger": deposit.Ledger{}, "AuditEntry": deposit.AuditEntry{}, "EmailEntry": deposit.EmailEntry{},
		"ComplianceRow": deposit.ComplianceRow{}, "ChargeCode": deposit.ChargeCode{}, "Who": deposit.Who{}, "Invoice": deposit.Invoice{},
		"ListedLease": deposit.ListedLease{}, "LeasePage": gateway.LeasePage{}, "InvoicePage": gateway.InvoicePage{}, "Rule": rules.Rule{},
		"PropertyPolicy": gateway.Property{}, "Property": Property{}, "Unit": Unit{}, "Listing": Listing{}, "Resident": Resident{},
		"LeaseStarted": LeaseStarted{}, "Error": errorBody{}, "Problem": problem{},
		"Liability": books.Liability{}, "TrialBalance": books.TrialBalance{}, "JournalPage": JournalPage{}, "Aging": books.Aging{},
		"InterestReport": gateway.InterestReport{}, "UnclaimedRefund": gateway.UnclaimedRefund{}, "BatchOut": gateway.BatchOut{},
		"RefundPaid": gateway.RefundPaid{}, "Reconciliation": books.Reconciliation{},
		"EvidenceFile": activities.EvidenceFile{}, "Dispute": deposit.Dispute{}, "EvidenceAdded": EvidenceAdded{}, "Disputes": Disputes{},
		"Resolved": Resolved{}, "OpenInvoice": gateway.OpenInvoice{}, "Approvals": Approvals{}, "BatchDecided": BatchDecided{},
	} {
		t.Run(name, func(t *testing.T) {
			filled := reflect.New(reflect.TypeOf(v)).Elem()
			fill(filled)
			b, err := json.Marshal(filled.Interface())
			if err != nil {
				t.Fatal(err)
			}
			var value any
			if err := json.Unmarshal(b, &value); err != nil {
				t.Fatal(err)
			}
			err = doc.Components.Schemas[name].Value.VisitJSON(value, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails())
			for _, e := range schemaErrors(err) {
				switch e.SchemaField {
				case "enum", "pattern", "format", "minimum", "maximum", "oneOf", "anyOf":
					continue
				}
				t.Errorf("%s at /%s", e.Reason, strings.Join(e.JSONPointer(), "/"))
			}
		})
	}
}

// fill sets every field of v: strings, numbers, booleans, times, one item
// per list and map, pointers to filled values.
func fill(v reflect.Value) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.SetBytes([]byte(`{"asked": 1}`))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// schemaErrors flattens a validator's error into its schema errors.
func schemaErrors(err error) []*openapi3.SchemaError {
	var out []*openapi3.SchemaError
	var me openapi3.MultiError
	var se *openapi3.SchemaError
	switch {
	case err == nil:
	case errors.As(err, &me):
		for _, e := range me {
			out = append(out, schemaErrors(e)...)
		}
	case errors.As(err, &se):
		out = append(out, se)
	}
	return out
}

// Without a credential, every route but the health check is 401 with an
// error, before anything is read: {"error": ...} by default, problem
// details to a client that asks for them, each as the document says.
func TestUnauthenticated(t *testing.T) {
	c := loadDoc(t)
	h := New(nil, nil).Handler()
	for _, route := range New(nil, nil).Routes() {
		if route == "GET /healthz" || route == "GET /codec/login" || strings.Contains(route, " /t/") || strings.Contains(route, " /m/") {
			continue // the tenant's page: TestTenantLinkRefused; a manager's link: TestManagerLinkRefused
		}
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{lease_id}", "L-1", "{payment_id}", "P-1", "{property_id}", "maple", "{code}", "US-CA", "{kind}", "notice", "{refund_id}", "7").Replace(path)
		for _, auth := range []string{"", "Basic abc", "Bearer nope"} {
			for _, accept := range []string{"", "application/json", "application/problem+json", "application/json;q=0.5, application/problem+json"} {
				body := ""
				if method == http.MethodPost && !strings.Contains(path, "/policy/") {
					body = "{}"
				}
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				req.Header.Set("Accept", accept)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				wantType := "application/json"
				if strings.Contains(accept, "problem") {
					wantType = ProblemJSON
				}
				if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != wantType || !strings.Contains(rec.Body.String(), `"unauthenticated"`) {
					t.Errorf("%s with %q, Accept %q: %d %s %s", route, auth, accept, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
				}
				if problems := c.Check(req, []byte(body), rec.Code, rec.Header(), rec.Body.Bytes()); len(problems) > 0 {
					t.Errorf("%s with %q, Accept %q: %v", route, auth, accept, problems)
				}
			}
		}
	}
}

// Without a valid link, every route of the tenant's page answers the same
// 404 page, before anything is read, as the document says.
func TestTenantLinkRefused(t *testing.T) {
	c := loadDoc(t)
	h := New(nil, nil).Handler()
	for _, route := range New(nil, nil).Routes() {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/t/{token}") {
			continue
		}
		path = strings.NewReplacer("{token}", "eyJsIjoiTC0xIn0.bm9wZQ", "{evidence_id}", "1", "{dispute_id}", "1").Replace(path)
		req := httptest.NewRequest(method, path, strings.NewReader("form_token=x"))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "Ask for a new link") {
			t.Errorf("%s: %d %s %s", route, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
		if rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: the link may leak through the Referer", route)
		}
		if problems := c.Check(req, []byte("form_token=x"), rec.Code, rec.Header(), rec.Body.Bytes()); len(problems) > 0 {
			t.Errorf("%s: %v", route, problems)
		}
	}
}

// Without a valid manager's link, both routes of the manager's page answer
// a 404 page that does nothing, as the document says.
func TestManagerLinkRefused(t *testing.T) {
	c := loadDoc(t)
	h := New(nil, nil).Handler()
	for _, route := range []string{"GET /m/{token}", "POST /m/{token}"} {
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{token}", "eyJsIjoiTC0xIn0.bm9wZQ")
		req := httptest.NewRequest(method, path, strings.NewReader("form_token=x"))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "This link does nothing") {
			t.Errorf("%s: %d %s %s", route, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
		if rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: the link may leak through the Referer", route)
		}
		if problems := c.Check(req, []byte("form_token=x"), rec.Code, rec.Header(), rec.Body.Bytes()); len(problems) > 0 {
			t.Errorf("%s: %v", route, problems)
		}
	}
}
