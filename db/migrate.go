package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

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
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	dir, err := fs.Sub(Migrations, "migrations")
	if err != nil {
		return 0, 0, err
	}
	if err := m.LoadMigrations(dir); err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	if from, err = m.GetCurrentVersion(ctx); err != nil {
		return 0, 0, err
	}
	if err := m.Migrate(ctx); err != nil {
		return from, 0, fmt.Errorf("migrate: %w", err)
	}
	to, err = m.GetCurrentVersion(ctx)
	return from, to, err
}
