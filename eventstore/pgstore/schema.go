package pgstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// schemaSQL creates the store's objects in schema S (the placeholder {S} is
// replaced). It is run under an advisory lock, so nodes starting at once
// do not race; every statement is idempotent.
const schemaSQL = `
CREATE SCHEMA IF NOT EXISTS {S};
CREATE SEQUENCE IF NOT EXISTS {S}.position AS bigint CACHE 1;
CREATE TABLE IF NOT EXISTS {S}.streams (
	stream_id text PRIMARY KEY,
	version   bigint NOT NULL,
	deleted   boolean NOT NULL DEFAULT false,
	created   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {S}.events (
	position  bigint PRIMARY KEY,
	stream_id text NOT NULL,
	version   bigint NOT NULL,
	event_id  text NOT NULL,
	type      text NOT NULL,
	data      bytea,
	metadata  bytea,
	created   timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON {S}.events (stream_id, version);
CREATE TABLE IF NOT EXISTS {S}.snapshots (
	stream_id text PRIMARY KEY,
	version   bigint NOT NULL,
	type      text NOT NULL,
	data      bytea,
	created   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {S}.checkpoints (
	name     text PRIMARY KEY,
	position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {S}.leases (
	name    text PRIMARY KEY,
	owner   text NOT NULL,
	token   bigint NOT NULL,
	expires timestamptz NOT NULL
);

-- append checks and bumps each stream's version under its row lock, then
-- inserts the events with positions from the sequence. The streams come
-- sorted by name, so that concurrent multi-stream appends lock in one order.
-- The first write (the stream row) gives the transaction its id before any
-- position is drawn: the $all horizon relies on it.
CREATE OR REPLACE FUNCTION {S}.append(
	p_streams text[], p_expected bigint[], p_counts int[],
	p_si int[], p_ids text[], p_types text[], p_data bytea[], p_meta bytea[],
	OUT o_versions bigint[], OUT o_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	i int;
	v bigint;
	n int;
	cur bigint;
	del boolean;
	firsts bigint[] := '{}';
BEGIN
	-- Mark this transaction as an appender of this schema for the horizon,
	-- before anything else; a shared lock, so appenders never wait for it.
	PERFORM pg_advisory_xact_lock_shared({K1}, {K2});
	o_versions := '{}';
	FOR i IN 1 .. array_length(p_streams, 1) LOOP
		n := p_counts[i];
		v := NULL;
		IF p_expected[i] = -1 THEN
			INSERT INTO {S}.streams AS t (stream_id, version) VALUES (p_streams[i], n)
			ON CONFLICT (stream_id) DO UPDATE SET version = t.version + n WHERE NOT t.deleted
			RETURNING t.version INTO v;
		ELSIF p_expected[i] = 0 THEN
			INSERT INTO {S}.streams (stream_id, version) VALUES (p_streams[i], n)
			ON CONFLICT (stream_id) DO NOTHING
			RETURNING version INTO v;
		ELSIF p_expected[i] = -2 THEN
			UPDATE {S}.streams SET version = version + n
			WHERE stream_id = p_streams[i] AND NOT deleted
			RETURNING version INTO v;
		ELSE
			UPDATE {S}.streams SET version = version + n
			WHERE stream_id = p_streams[i] AND NOT deleted AND version = p_expected[i]
			RETURNING version INTO v;
		END IF;
		IF v IS NULL THEN
			SELECT t.version, t.deleted INTO cur, del FROM {S}.streams t WHERE t.stream_id = p_streams[i];
			IF del THEN
				RAISE EXCEPTION USING ERRCODE = 'GE001', MESSAGE = p_streams[i];
			END IF;
			RAISE EXCEPTION USING ERRCODE = 'GE002', MESSAGE = p_streams[i],
				DETAIL = coalesce(cur, 0)::text, HINT = (cur IS NOT NULL)::text;
		END IF;
		o_versions := o_versions || v;
		firsts := firsts || (v - n);
	END LOOP;
	INSERT INTO {S}.events (position, stream_id, version, event_id, type, data, metadata, created)
	SELECT nextval('{S}.position'), p_streams[e.si], firsts[e.si] + e.k, e.id, e.type, e.data, e.meta, now()
	FROM (
		SELECT u.si, u.id, u.type, u.data, u.meta, u.ord,
			row_number() OVER (PARTITION BY u.si ORDER BY u.ord) AS k
		FROM unnest(p_si, p_ids, p_types, p_data, p_meta) WITH ORDINALITY AS u(si, id, type, data, meta, ord)
		ORDER BY u.ord
	) e;
	o_position := currval('{S}.position');
END
$fn$;

-- remove deletes a stream softly or hard if its version meets p_expected.
CREATE OR REPLACE FUNCTION {S}.remove(p_stream text, p_expected bigint, p_hard boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
	cur bigint;
	del boolean;
BEGIN
	SELECT version, deleted INTO cur, del FROM {S}.streams WHERE stream_id = p_stream FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'GE003', MESSAGE = p_stream;
	END IF;
	IF del AND NOT p_hard THEN
		RAISE EXCEPTION USING ERRCODE = 'GE001', MESSAGE = p_stream;
	END IF;
	IF NOT (p_expected = -1 OR (p_expected = -2 AND cur > 0) OR p_expected = cur) THEN
		RAISE EXCEPTION USING ERRCODE = 'GE002', MESSAGE = p_stream, DETAIL = cur::text, HINT = 'true';
	END IF;
	IF p_hard THEN
		DELETE FROM {S}.events WHERE stream_id = p_stream;
		DELETE FROM {S}.snapshots WHERE stream_id = p_stream;
		DELETE FROM {S}.streams WHERE stream_id = p_stream;
	ELSE
		UPDATE {S}.streams SET deleted = true WHERE stream_id = p_stream;
	END IF;
END
$fn$;

-- horizon samples what the $all horizon needs, in this order: whether the
-- appenders of the previous sample have ended; then the last position
-- drawn; then, in a later statement, the appenders running now. An appender
-- is a transaction holding this schema's shared advisory lock, which the
-- append function takes before it draws a position and which a transaction
-- releases only after its commit is visible to new snapshots. (A snapshot's
-- list of running transactions would not do: it leaves out those at or
-- above its xmax, and the commit log marks a transaction committed a moment
-- before its rows become visible.)
CREATE OR REPLACE FUNCTION {S}.horizon(p_pending text[], OUT o_done boolean, OUT o_hi bigint, OUT o_xips text[])
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
	called boolean;
BEGIN
	o_done := NOT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND classid = {K1} AND objid = {K2} AND objsubid = 2
		AND virtualtransaction = ANY (p_pending));
	SELECT last_value, is_called INTO o_hi, called FROM {S}.position;
	IF NOT called THEN
		o_hi := 0;
	END IF;
	SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') INTO o_xips
	FROM pg_locks WHERE locktype = 'advisory' AND classid = {K1} AND objid = {K2} AND objsubid = 2;
END
$fn$;
`

// advisoryClass and advisoryKey name the shared advisory lock that marks a
// schema's appenders: both positive, so that pg_locks shows them as they are.
const advisoryClass = 0x47524f56 // "GROV"

func advisoryKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte(schema))
	return int32(h.Sum32() & 0x7fffffff)
}

func setupSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("pgstore: schema name %q is not a plain lower-case identifier", schema)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "grove-eventstore-schema:"+schema); err != nil {
		return fmt.Errorf("pgstore: locking the schema: %w", err)
	}
	sql := strings.NewReplacer("{S}", schema, "{K1}", strconv.Itoa(advisoryClass), "{K2}", strconv.Itoa(int(advisoryKey(schema)))).Replace(schemaSQL)
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgstore: creating schema %s: %w", schema, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: creating schema %s: %w", schema, err)
	}
	return nil
}
