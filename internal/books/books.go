// Package books is depositflow's trust accounting as reports: the shapes
// of the liability report, the trial balance, the journal export, the aging
// of what former tenants owe, the bank reconciliation and the interest a
// 1099-INT needs, and the pure computations behind them. The journal
// itself lives in PostgreSQL (migration 015): every money fact posts one
// balanced entry by trigger in its own transaction; the gateway reads it
// and hands the rows to these functions.
package books

import (
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/depositflow/depositflow/internal/money"
)

// Accounts of the default chart (chart_of_accounts). New kinds of money
// (a transfer of a deposit to another lease, a card hold captured: issue
// #16) post to these through journal_desired's lines: a transfer moves
// security_deposit_liability from one lease to the other in one entry, a
// captured hold is a receipt like a payment.
const (
	TrustBank                = "trust_bank"
	UndepositedFunds         = "undeposited_funds"
	TenantReceivable         = "tenant_receivable"
	SecurityDepositLiability = "security_deposit_liability"
	DepositsBilled           = "deposits_billed"
	RefundsPayable           = "refunds_payable"
	DamageIncome             = "damage_income"
	FeeIncome                = "fee_income"
	InterestExpense          = "interest_expense"
	TenantCredits            = "tenant_credits"
)

// HeldTerms are a lease's facts as the refund maths counts them, as they
// stood at the report's cutoff.
type HeldTerms struct {
	ReceivedCents         int64 // payments not returned, prepaid deposit rows
	CreditsCents          int64 // credits to the tenant
	InterestCreditedCents int64 // interest credited at anniversaries
	OtherRefundsCents     int64 // refunds outside a settlement (partial refunds, follow-ups)
	TransfersOutCents     int64 // moved to other leases before the settlement (#16)
	Settled               bool
	SettledReceivedCents  int64
	SettledCreditsCents   int64
	SettledEarlierRefunds int64
	// DisputesHeldCents is what the settlement holds for disputed items
	// and their resolutions have not applied yet (what they paid back is
	// among OtherRefundsCents).
	DisputesHeldCents int64
}

// Held is what the deposit records say is held for the tenant: before the
// settlement, everything received, credited and earned; after it, only
// what came after it and was not refunded yet. It is the ledger's
// conservation rule (received + interest + credits = held + refunded +
// applied), computed from the facts, never from the journal.
func (t HeldTerms) Held() int64 {
	held := t.ReceivedCents + t.CreditsCents + t.InterestCreditedCents - t.OtherRefundsCents - t.TransfersOutCents
	if t.Settled {
		held -= t.SettledReceivedCents + t.SettledCreditsCents + t.InterestCreditedCents - t.SettledEarlierRefunds
		held += t.DisputesHeldCents
	}
	return held
}

// LeaseHeld is one lease's line of the liability report.
type LeaseHeld struct {
	LeaseID         string `json:"lease_id"`
	PropertyID      string `json:"property_id"`
	Currency        string `json:"currency"`
	Stage           string `json:"stage"`
	TenantName      string `json:"tenant_name"`
	HeldCents       int64  `json:"held_cents"`      // from the deposit records
	LiabilityCents  int64  `json:"liability_cents"` // the journal's Security Deposit Liability for the lease
	DifferenceCents int64  `json:"difference_cents"`
}

// PropertyLiability is one property's (and currency's) total.
type PropertyLiability struct {
	PropertyID            string `json:"property_id"`
	Currency              string `json:"currency"`
	Leases                int    `json:"leases"`
	TotalHeldCents        int64  `json:"total_held_cents"`
	LiabilityBalanceCents int64  `json:"liability_balance_cents"`
	Ties                  bool   `json:"ties"`
}

// Liability is the liability report: per property and per lease, the
// deposits held, whose total must equal the Security Deposit Liability
// balance. Ties says whether it does everywhere; Differences lists every
// lease where it does not.
type Liability struct {
	AsOf                  string              `json:"as_of"`
	TotalHeldCents        int64               `json:"total_held_cents"`
	LiabilityBalanceCents int64               `json:"liability_balance_cents"`
	Ties                  bool                `json:"ties"`
	Properties            []PropertyLiability `json:"properties"`
	Leases                []LeaseHeld         `json:"leases"`
	Differences           []LeaseHeld         `json:"differences"`
}

// BuildLiability adds the leases up per property and currency. Leases
// that hold nothing and owe nothing in the journal are left out.
func BuildLiability(asOf string, leases []LeaseHeld) Liability {
	r := Liability{AsOf: asOf, Ties: true, Properties: []PropertyLiability{}, Leases: []LeaseHeld{}, Differences: []LeaseHeld{}}
	index := map[[2]string]int{}
	for _, l := range leases {
		if l.HeldCents == 0 && l.LiabilityCents == 0 {
			continue
		}
		l.DifferenceCents = l.LiabilityCents - l.HeldCents
		k := [2]string{l.PropertyID, l.Currency}
		i, ok := index[k]
		if !ok {
			i = len(r.Properties)
			index[k] = i
			r.Properties = append(r.Properties, PropertyLiability{PropertyID: l.PropertyID, Currency: l.Currency, Ties: true})
		}
		p := &r.Properties[i]
		p.Leases++
		p.TotalHeldCents += l.HeldCents
		p.LiabilityBalanceCents += l.LiabilityCents
		r.TotalHeldCents += l.HeldCents
		r.LiabilityBalanceCents += l.LiabilityCents
		r.Leases = append(r.Leases, l)
		if l.DifferenceCents != 0 {
			r.Differences = append(r.Differences, l)
			p.Ties, r.Ties = false, false
		}
	}
	for i := range r.Properties {
		if r.Properties[i].TotalHeldCents != r.Properties[i].LiabilityBalanceCents {
			r.Properties[i].Ties, r.Ties = false, false
		}
	}
	if r.TotalHeldCents != r.LiabilityBalanceCents {
		r.Ties = false
	}
	return r
}

// AccountBalance is one account of the trial balance: its balance on its
// side (debit_cents or credit_cents, the other 0), and the totals posted.
type AccountBalance struct {
	PropertyID   string `json:"property_id"`
	Currency     string `json:"currency"`
	Account      string `json:"account"`
	Number       string `json:"number"`
	Name         string `json:"name"`
	Type         string `json:"type"`
	DebitCents   int64  `json:"debit_cents"`
	CreditCents  int64  `json:"credit_cents"`
	PostedDebit  int64  `json:"posted_debit_cents"`
	PostedCredit int64  `json:"posted_credit_cents"`
}

// TrialBalance lists every account's balance; debits equal credits in
// each property and currency, or Balanced is false.
type TrialBalance struct {
	AsOf             string           `json:"as_of"`
	Accounts         []AccountBalance `json:"accounts"`
	TotalDebitCents  int64            `json:"total_debit_cents"`
	TotalCreditCents int64            `json:"total_credit_cents"`
	Balanced         bool             `json:"balanced"`
}

// BuildTrialBalance puts each account's balance on its side and checks
// that debits equal credits per property and currency.
func BuildTrialBalance(asOf string, accounts []AccountBalance) TrialBalance {
	tb := TrialBalance{AsOf: asOf, Accounts: []AccountBalance{}, Balanced: true}
	net := map[[2]string]int64{}
	for _, a := range accounts {
		bal := a.PostedDebit - a.PostedCredit
		a.DebitCents, a.CreditCents = max(bal, 0), max(-bal, 0)
		tb.TotalDebitCents += a.DebitCents
		tb.TotalCreditCents += a.CreditCents
		net[[2]string{a.PropertyID, a.Currency}] += bal
		tb.Accounts = append(tb.Accounts, a)
	}
	for _, n := range net {
		if n != 0 {
			tb.Balanced = false
		}
	}
	return tb
}

// JournalLine is one line of the journal with its entry.
type JournalLine struct {
	EntryID       int64     `json:"entry_id"`
	Date          string    `json:"date"` // the accounting date, YYYY-MM-DD
	PostedAt      time.Time `json:"posted_at"`
	PropertyID    string    `json:"property_id"`
	Currency      string    `json:"currency"`
	Event         string    `json:"event"`
	Source        string    `json:"source"`
	Memo          string    `json:"memo"`
	LeaseID       string    `json:"lease_id"`
	Account       string    `json:"account"`
	AccountNumber string    `json:"account_number"`
	AccountName   string    `json:"account_name"`
	DebitCents    int64     `json:"debit_cents"`
	CreditCents   int64     `json:"credit_cents"`
}

// JournalColumns are the journal export's columns, in order: the header
// row of `deposits books journal -o csv`. Amounts are decimal in the
// currency's major unit with two places (cents / 100), a dot, no
// thousands separator; a line has a debit or a credit, the other empty.
var JournalColumns = []string{"entry_id", "date", "property_id", "currency", "account_number", "account_name",
	"debit", "credit", "lease_id", "event", "source", "memo", "posted_at"}

// WriteJournalCSV writes the lines as CSV with the JournalColumns header.
func WriteJournalCSV(w io.Writer, lines []JournalLine) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(JournalColumns); err != nil {
		return err
	}
	for _, l := range lines {
		if err := cw.Write([]string{strconv.FormatInt(l.EntryID, 10), l.Date, l.PropertyID, l.Currency, l.AccountNumber, l.AccountName,
			Decimal(l.Currency, l.DebitCents), Decimal(l.Currency, l.CreditCents), l.LeaseID, l.Event, l.Source, l.Memo, l.PostedAt.UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Decimal writes minor units as major units with the currency's places
// ("1234.05" for USD), no separator; 0 is empty (the other side of a line).
func Decimal(currency string, minor int64) string {
	if minor == 0 {
		return ""
	}
	return money.PlainIn(currency, minor)
}

// ReceivableLine is a Tenant Receivable line of a former tenant's lease.
type ReceivableLine struct {
	LeaseID, PropertyID, Currency, TenantName, TenantEmail string
	Date                                                   time.Time
	DebitCents, CreditCents                                int64
}

// AgingRow is what one former tenant owes on a lease, by age: what is
// left of each charge after the credits, oldest first (FIFO), aged from
// its day to the report's.
type AgingRow struct {
	LeaseID      string `json:"lease_id"`
	PropertyID   string `json:"property_id"`
	Currency     string `json:"currency"`
	TenantName   string `json:"tenant_name"`
	TenantEmail  string `json:"tenant_email"`
	OldestDate   string `json:"oldest_date"`
	CurrentCents int64  `json:"current_cents"` // 0-30 days
	Days31Cents  int64  `json:"days_31_60_cents"`
	Days61Cents  int64  `json:"days_61_90_cents"`
	Over90Cents  int64  `json:"over_90_cents"`
	TotalCents   int64  `json:"total_cents"`
}

// Aging is the aging report of what former tenants owe.
type Aging struct {
	AsOf       string     `json:"as_of"`
	Rows       []AgingRow `json:"rows"`
	TotalCents int64      `json:"total_cents"`
}

// BuildAging applies each lease's credits to its oldest charges and ages
// what is left. lines must be ordered by lease, then date.
func BuildAging(asOf time.Time, lines []ReceivableLine) Aging {
	a := Aging{AsOf: asOf.Format(time.DateOnly), Rows: []AgingRow{}}
	type item struct {
		date  time.Time
		cents int64
	}
	flush := func(first ReceivableLine, items []item, credit int64) {
		row := AgingRow{LeaseID: first.LeaseID, PropertyID: first.PropertyID, Currency: first.Currency, TenantName: first.TenantName, TenantEmail: first.TenantEmail}
		for _, it := range items {
			used := min(credit, it.cents)
			credit -= used
			left := it.cents - used
			if left == 0 {
				continue
			}
			if row.OldestDate == "" {
				row.OldestDate = it.date.Format(time.DateOnly)
			}
			switch days := int(asOf.Sub(it.date).Hours() / 24); {
			case days <= 30:
				row.CurrentCents += left
			case days <= 60:
				row.Days31Cents += left
			case days <= 90:
				row.Days61Cents += left
			default:
				row.Over90Cents += left
			}
			row.TotalCents += left
		}
		if row.TotalCents > 0 {
			a.Rows = append(a.Rows, row)
			a.TotalCents += row.TotalCents
		}
	}
	for i := 0; i < len(lines); {
		j := i
		var items []item
		var credit int64
		for ; j < len(lines) && lines[j].LeaseID == lines[i].LeaseID; j++ {
			if lines[j].DebitCents > 0 {
				items = append(items, item{lines[j].Date, lines[j].DebitCents})
			}
			credit += lines[j].CreditCents
		}
		flush(lines[i], items, credit)
		i = j
	}
	sort.SliceStable(a.Rows, func(i, j int) bool { return a.Rows[i].OldestDate < a.Rows[j].OldestDate })
	return a
}
