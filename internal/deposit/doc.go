// Package deposit is the vocabulary every part of depositflow speaks about a
// lease's deposit: its stages and outcomes, the charge categories and deposit
// types, the state a lease's workflow reports, and the refund maths (Settle,
// SplitCents), which is pure Go so that the workflow, the activities that
// check it against the database, and the CLI all compute the same cents.
package deposit
