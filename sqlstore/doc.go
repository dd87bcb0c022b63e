// Package sqlstore implements freight.Store on SQL databases: SQLite through
// the pure-Go modernc.org/sqlite driver for the embedded single-machine
// setup, and PostgreSQL through pgx for replicated deployments.
//
// One package serves both because the schema and the queries are the same
// apart from a few types: queries are written once with "?" placeholders and
// rebound for PostgreSQL, and each dialect has its own embedded migrations
// with identical tables and constraints. Times are stored at microsecond
// precision (PostgreSQL's) and in UTC, so what is read back equals what was
// written on both backends; SQLite keeps them as fixed-width text so that
// text order is time order.
//
// The database is chosen by URL, see Open. Open does not change the schema:
// call Migrate, which is safe to run from many replicas at once.
//
// Secrets that must stay usable (private signing keys, TOTP secrets,
// webhook secrets, upload URL keys) are sealed by the store with keys the
// database does not hold, given with SealWith; see secrets.go.
package sqlstore
