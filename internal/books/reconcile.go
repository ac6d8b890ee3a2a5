package books

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/depositflow/depositflow/internal/money"
)

// StatementLine is one line of a bank statement of the trust account: a
// deposit (positive) or a withdrawal (negative) on a day.
type StatementLine struct {
	Line        int    `json:"line"` // its line in the file (1 is the header)
	Date        string `json:"date"` // YYYY-MM-DD
	AmountCents int64  `json:"amount_cents"`
	Reference   string `json:"reference"`
	Description string `json:"description"`
}

// Movement is what the journal moved in or out of the trust bank in one
// entry: a deposit batch in, a refund paid or a returned payment out.
type Movement struct {
	EntryID     int64  `json:"entry_id"`
	Date        string `json:"date"`
	AmountCents int64  `json:"amount_cents"`
	Reference   string `json:"reference"`
	Event       string `json:"event"`
	Source      string `json:"source"`
}

// Match pairs a statement line with the journal's movement.
type Match struct {
	Statement StatementLine `json:"statement"`
	Journal   Movement      `json:"journal"`
}

// Reconciliation is a statement matched to the journal: what matched,
// what the bank shows that the books do not (to post, or to ask the bank
// about), what the books show that the bank does not (in transit, or an
// error).
type Reconciliation struct {
	ID             int64           `json:"reconciliation_id"`
	PropertyID     string          `json:"property_id"`
	Currency       string          `json:"currency"`
	From           string          `json:"from"`
	To             string          `json:"to"`
	Matched        []Match         `json:"matched"`
	NotInBooks     []StatementLine `json:"not_in_books"`
	NotOnStatement []Movement      `json:"not_on_statement"`
	Reconciled     bool            `json:"reconciled"`
}

// MatchWindow is how many days after the books' date a bank may show a
// movement (a deposit credited the next business day, a cheque cashed
// later).
const MatchWindow = 5

// Reconcile matches statement lines to movements: the same amount, the
// bank's date on or up to MatchWindow days after the books', a line whose
// reference names the movement's first, then the nearest date. Movements
// dated in the statement's period that nothing matched are listed as not
// on the statement; movements before it are outside it.
func Reconcile(lines []StatementLine, movements []Movement, from, to string) Reconciliation {
	r := Reconciliation{From: from, To: to, Matched: []Match{}, NotInBooks: []StatementLine{}, NotOnStatement: []Movement{}}
	used := make([]bool, len(movements))
	for _, l := range lines {
		best := -1
		bestScore := 0
		ld, _ := time.Parse(time.DateOnly, l.Date)
		for i, m := range movements {
			if used[i] || m.AmountCents != l.AmountCents {
				continue
			}
			md, _ := time.Parse(time.DateOnly, m.Date)
			lag := int(ld.Sub(md).Hours() / 24)
			if lag < 0 || lag > MatchWindow {
				continue
			}
			score := 100 - lag
			if m.Reference != "" && l.Reference != "" && (strings.EqualFold(m.Reference, l.Reference) ||
				strings.Contains(strings.ToLower(l.Description), strings.ToLower(m.Reference))) {
				score += 1000
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			r.NotInBooks = append(r.NotInBooks, l)
			continue
		}
		used[best] = true
		r.Matched = append(r.Matched, Match{Statement: l, Journal: movements[best]})
	}
	for i, m := range movements {
		if !used[i] && m.Date >= from && m.Date <= to {
			r.NotOnStatement = append(r.NotOnStatement, m)
		}
	}
	r.Reconciled = len(r.NotInBooks) == 0 && len(r.NotOnStatement) == 0
	return r
}

// StatementColumns are the columns `deposits books reconcile --statement`
// reads, by header name (any order; others are ignored): date
// (YYYY-MM-DD), amount (signed, in major units: 1500.00 in, -880.00 out;
// or debit and credit columns instead), reference, description.
var StatementColumns = []string{"date", "amount", "reference", "description"}

// ParseStatement reads a bank statement CSV with a header row.
func ParseStatement(r io.Reader, currency string) ([]StatementLine, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("the statement has no header row: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	_, hasAmount := col["amount"]
	_, hasDebit := col["debit"]
	_, hasCredit := col["credit"]
	if _, ok := col["date"]; !ok || (!hasAmount && !(hasDebit && hasCredit)) {
		return nil, errors.New("the statement needs a date column and an amount column (or debit and credit columns)")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []StatementLine
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("statement line %d: %w", n, err)
		}
		if len(slices.DeleteFunc(slices.Clone(rec), func(s string) bool { return strings.TrimSpace(s) == "" })) == 0 {
			continue
		}
		l := StatementLine{Line: n, Reference: get(rec, "reference"), Description: get(rec, "description")}
		d, err := time.Parse(time.DateOnly, get(rec, "date"))
		if err != nil {
			return nil, fmt.Errorf("statement line %d: date %q: write it as YYYY-MM-DD", n, get(rec, "date"))
		}
		l.Date = d.Format(time.DateOnly)
		if hasAmount {
			if l.AmountCents, err = signedCents(get(rec, "amount"), currency); err != nil {
				return nil, fmt.Errorf("statement line %d: amount: %w", n, err)
			}
		} else {
			in, err1 := optionalCents(get(rec, "credit"), currency)
			outc, err2 := optionalCents(get(rec, "debit"), currency)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("statement line %d: %w", n, err)
			}
			l.AmountCents = in - outc
		}
		if l.AmountCents == 0 {
			return nil, fmt.Errorf("statement line %d: an amount of 0", n)
		}
		out = append(out, l)
	}
	return out, nil
}

func signedCents(s, currency string) (int64, error) { return money.ParseSignedIn(currency, s) }

func optionalCents(s, currency string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return money.ParseIn(currency, s)
}
