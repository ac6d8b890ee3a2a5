package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Migrations are the schema's history in tern's format, embedded so the
// binary can migrate any database it is pointed at. sqlc reads the same files
// as the schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Migrate applies every migration not yet applied (under tern's advisory
// lock, so two processes migrating at once is safe) and returns the schema
// version before and after.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int32, err error) {
	return MigrateTo(ctx, pool, -1)
}

// MigrateTo is Migrate up (or down) to a version; -1 is the latest. Tests
// use it to write facts under an older schema and migrate them forward.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int32) (from, to int32, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	dir, err := migrationDir()
	if err != nil {
		return 0, 0, err
	}
	if err := m.LoadMigrations(dir); err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	if from, err = m.GetCurrentVersion(ctx); err != nil {
		return 0, 0, err
	}
	if version < 0 {
		err = m.Migrate(ctx)
	} else {
		err = m.MigrateTo(ctx, version)
	}
	if err != nil {
		return from, 0, fmt.Errorf("migrate: %w", err)
	}
	to, err = m.GetCurrentVersion(ctx)
	return from, to, err
}

var migrationName = regexp.MustCompile(`^(\d+)_.*\.sql$`)

// migrationDir is the embedded migrations with every gap in their numbers
// held by an empty migration: tern numbers migrations without gaps, and a
// branch may take a later number while an earlier one is being written on
// another branch (015, the trust books, was written while 014, the tenant
// page, was). Once the real file is merged the gap is gone and nothing is
// filled in. A database migrated past a gap records its number as applied,
// so a throwaway one should be dropped before the real migration is merged.
func migrationDir() (fs.FS, error) {
	dir, err := fs.Sub(Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(dir, ".")
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	have := map[int]bool{}
	top := 0
	for _, e := range entries {
		b, err := fs.ReadFile(dir, e.Name())
		if err != nil {
			return nil, err
		}
		out[e.Name()] = &fstest.MapFile{Data: b, Mode: 0o444}
		if m := migrationName.FindStringSubmatch(e.Name()); m != nil {
			n, _ := strconv.Atoi(m[1])
			have[n] = true
			top = max(top, n)
		}
	}
	for n := 1; n < top; n++ {
		if !have[n] {
			out[fmt.Sprintf("%03d_gap.sql", n)] = &fstest.MapFile{Data: []byte("SELECT 1;\n\n---- create above / drop below ----\nSELECT 1;\n"), Mode: 0o444}
		}
	}
	return out, nil
}
