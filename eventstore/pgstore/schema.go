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

-- Added to schemas made before it; checked first, because ALTER TABLE
-- locks the table against every append even when the column is there.
DO $do$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{S}.streams'::regclass AND attname = 'last_id' AND NOT attisdropped) THEN
		ALTER TABLE {S}.streams ADD COLUMN last_id text;
	END IF;
END $do$;
CREATE TABLE IF NOT EXISTS {S}.links (
	stream_id text NOT NULL,
	version   bigint NOT NULL,
	position  bigint NOT NULL,
	PRIMARY KEY (stream_id, version)
);

-- stream_ids lists a stream's event ids and positions from version p_from
-- to p_to, its own events and its links (resolved; a link whose event is
-- gone is left out).
CREATE OR REPLACE FUNCTION {S}.stream_ids(p_stream text, p_from bigint, p_to bigint)
RETURNS TABLE (v bigint, id text, pos bigint) LANGUAGE sql STABLE AS $fn$
	SELECT e.version, e.event_id, e.position FROM {S}.events e
	WHERE e.stream_id = p_stream AND e.version BETWEEN p_from AND p_to
	UNION ALL
	SELECT l.version, e.event_id, e.position FROM {S}.links l JOIN {S}.events e ON e.position = l.position
	WHERE l.stream_id = p_stream AND l.version BETWEEN p_from AND p_to
$fn$;

-- repeat_kind applies the idempotence rule (see package eventstore) to one
-- stream's part of an append: 0 none, 1 every event is there (o_version and
-- o_position say where), 2 the last is there and some other is not.
CREATE OR REPLACE FUNCTION {S}.repeat_kind(p_stream text, p_expected bigint, p_current bigint, p_ids text[],
	OUT o_kind int, OUT o_version bigint, OUT o_position bigint)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
	k int := coalesce(array_length(p_ids, 1), 0);
	f bigint;
	lid text;
	matched int;
BEGIN
	o_kind := 0;
	o_version := 0;
	o_position := 0;
	IF k = 0 THEN
		RETURN;
	END IF;
	IF p_expected < 0 THEN
		IF p_current < k THEN
			RETURN;
		END IF;
		f := p_current - k + 1;
	ELSE
		IF p_current = p_expected OR p_current < p_expected + k THEN
			RETURN;
		END IF;
		f := p_expected + 1;
	END IF;
	SELECT x.id INTO lid FROM {S}.stream_ids(p_stream, f + k - 1, f + k - 1) x;
	IF lid IS DISTINCT FROM p_ids[k] THEN
		RETURN;
	END IF;
	SELECT count(*), coalesce(max(x.pos), 0) INTO matched, o_position
	FROM {S}.stream_ids(p_stream, f, f + k - 1) x WHERE x.id = p_ids[(x.v - f + 1)::int];
	IF matched = k THEN
		o_kind := 1;
		o_version := f + k - 1;
	ELSE
		o_kind := 2;
		o_position := 0;
	END IF;
END
$fn$;

-- bump checks one stream's expectation and bumps its version under its row
-- lock, applying the idempotence rule where the expectation lets it: o_state
-- 0 bumped (o_version is the new version), 1 a repeat (o_version, o_position
-- of the events found), 2 partly stored, 3 a wrong version (o_version is the
-- stream's, o_exists whether it has a row). A soft-deleted stream raises.
CREATE OR REPLACE FUNCTION {S}.bump(p_stream text, p_expected bigint, p_ids text[],
	OUT o_state int, OUT o_version bigint, OUT o_position bigint, OUT o_exists boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
	n int := array_length(p_ids, 1);
	lst text := p_ids[n];
	v bigint;
	cur bigint;
	del boolean;
	k int;
BEGIN
	o_state := 0;
	o_position := 0;
	o_exists := true;
	IF p_expected = -1 THEN
		-- A stream whose last event has the append's last ID may hold the
		-- append already: that case is checked below.
		INSERT INTO {S}.streams AS t (stream_id, version, last_id) VALUES (p_stream, n, lst)
		ON CONFLICT (stream_id) DO UPDATE SET version = t.version + n, last_id = lst
		WHERE NOT t.deleted AND t.last_id IS DISTINCT FROM lst
		RETURNING t.version INTO v;
	ELSIF p_expected = 0 THEN
		INSERT INTO {S}.streams (stream_id, version, last_id) VALUES (p_stream, n, lst)
		ON CONFLICT (stream_id) DO NOTHING
		RETURNING version INTO v;
	ELSIF p_expected = -2 THEN
		UPDATE {S}.streams SET version = version + n, last_id = lst
		WHERE stream_id = p_stream AND NOT deleted AND last_id IS DISTINCT FROM lst
		RETURNING version INTO v;
	ELSE
		UPDATE {S}.streams SET version = version + n, last_id = lst
		WHERE stream_id = p_stream AND NOT deleted AND version = p_expected
		RETURNING version INTO v;
	END IF;
	IF v IS NOT NULL THEN
		o_version := v;
		RETURN;
	END IF;
	SELECT t.version, t.deleted INTO cur, del FROM {S}.streams t WHERE t.stream_id = p_stream;
	IF del THEN
		RAISE EXCEPTION USING ERRCODE = 'GE001', MESSAGE = p_stream;
	END IF;
	IF cur IS NOT NULL THEN
		SELECT r.o_kind, r.o_version, r.o_position INTO k, o_version, o_position
		FROM {S}.repeat_kind(p_stream, p_expected, cur, p_ids) r;
		IF k > 0 THEN
			o_state := k;
			RETURN;
		END IF;
	END IF;
	IF p_expected IN (-1, -2) THEN
		-- Not a repeat after all (the stream moved meanwhile): append.
		IF p_expected = -1 THEN
			INSERT INTO {S}.streams AS t (stream_id, version, last_id) VALUES (p_stream, n, lst)
			ON CONFLICT (stream_id) DO UPDATE SET version = t.version + n, last_id = lst WHERE NOT t.deleted
			RETURNING t.version INTO v;
		ELSE
			UPDATE {S}.streams SET version = version + n, last_id = lst
			WHERE stream_id = p_stream AND NOT deleted RETURNING version INTO v;
		END IF;
		IF v IS NOT NULL THEN
			o_version := v;
			RETURN;
		END IF;
		SELECT t.version, t.deleted INTO cur, del FROM {S}.streams t WHERE t.stream_id = p_stream;
		IF del THEN
			RAISE EXCEPTION USING ERRCODE = 'GE001', MESSAGE = p_stream;
		END IF;
	END IF;
	o_state := 3;
	o_version := coalesce(cur, 0);
	o_exists := cur IS NOT NULL;
END
$fn$;

-- append checks and bumps each stream's version under its row lock (bump),
-- then inserts the events with positions from the sequence. The streams come
-- sorted by name, so that concurrent multi-stream appends lock in one order;
-- each stream's events are contiguous in the arrays, in stream order.
-- The first write (the stream row) gives the transaction its id before any
-- position is drawn: the $all horizon relies on it.
CREATE OR REPLACE FUNCTION {S}.append(
	p_streams text[], p_expected bigint[], p_counts int[],
	p_si int[], p_ids text[], p_types text[], p_data bytea[], p_meta bytea[],
	OUT o_versions bigint[], OUT o_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	i int;
	n int;
	ns int := array_length(p_streams, 1);
	off int := 0;
	b record;
	firsts bigint[] := '{}';
	rver bigint[] := '{}';
	rpos bigint := 0;
	nfull int := 0;
	dup text;
	notfull text;
	bad text;
	bad_cur bigint;
	bad_exists boolean;
	lst text;
	v bigint;
BEGIN
	-- Mark this transaction as an appender of this schema for the horizon,
	-- before anything else; a shared lock, so appenders never wait for it.
	PERFORM pg_advisory_xact_lock_shared({K1}, {K2});
	o_versions := '{}';
	FOR i IN 1 .. ns LOOP
		n := p_counts[i];
		-- The common case inline (bump does it again, and the rest, when
		-- it fails): a nested call per stream costs the busiest path.
		lst := p_ids[off + n];
		v := NULL;
		IF p_expected[i] >= 1 THEN
			UPDATE {S}.streams SET version = version + n, last_id = lst
			WHERE stream_id = p_streams[i] AND NOT deleted AND version = p_expected[i]
			RETURNING version INTO v;
		ELSIF p_expected[i] = 0 THEN
			INSERT INTO {S}.streams (stream_id, version, last_id) VALUES (p_streams[i], n, lst)
			ON CONFLICT (stream_id) DO NOTHING
			RETURNING version INTO v;
		END IF;
		IF v IS NOT NULL THEN
			notfull := coalesce(notfull, p_streams[i]);
			o_versions := o_versions || v;
			firsts := firsts || (v - n);
			off := off + n;
			CONTINUE;
		END IF;
		SELECT * INTO b FROM {S}.bump(p_streams[i], p_expected[i], p_ids[off + 1 : off + n]);
		off := off + n;
		IF b.o_state = 1 THEN
			nfull := nfull + 1;
			rver := rver || b.o_version;
			rpos := greatest(rpos, b.o_position);
		ELSE
			notfull := coalesce(notfull, p_streams[i]);
			IF b.o_state = 2 THEN
				dup := coalesce(dup, p_streams[i]);
			ELSIF b.o_state = 3 AND bad IS NULL THEN
				bad := p_streams[i];
				bad_cur := b.o_version;
				bad_exists := b.o_exists;
			END IF;
		END IF;
		o_versions := o_versions || b.o_version;
		firsts := firsts || (b.o_version - n);
	END LOOP;
	IF dup IS NOT NULL OR (nfull > 0 AND nfull < ns) THEN
		RAISE EXCEPTION USING ERRCODE = 'GE004', MESSAGE = coalesce(dup, notfull);
	END IF;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'GE002', MESSAGE = bad, DETAIL = bad_cur::text, HINT = bad_exists::text;
	END IF;
	IF nfull = ns THEN
		o_versions := rver;
		o_position := rpos;
		RETURN;
	END IF;
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

-- link appends links to the events at p_positions to a stream. Links draw
-- no position: $all holds each event once.
CREATE OR REPLACE FUNCTION {S}.link(p_stream text, p_expected bigint, p_positions bigint[],
	OUT o_version bigint, OUT o_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	missing bigint;
	ids text[];
	b record;
BEGIN
	SELECT u.p INTO missing FROM unnest(p_positions) AS u(p)
	WHERE NOT EXISTS (SELECT 1 FROM {S}.events e WHERE e.position = u.p) LIMIT 1;
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'GE005', MESSAGE = missing::text;
	END IF;
	SELECT array_agg(e.event_id ORDER BY u.ord) INTO ids
	FROM unnest(p_positions) WITH ORDINALITY AS u(p, ord) JOIN {S}.events e ON e.position = u.p;
	SELECT * INTO b FROM {S}.bump(p_stream, p_expected, ids);
	IF b.o_state = 2 THEN
		RAISE EXCEPTION USING ERRCODE = 'GE004', MESSAGE = p_stream;
	ELSIF b.o_state = 3 THEN
		RAISE EXCEPTION USING ERRCODE = 'GE002', MESSAGE = p_stream, DETAIL = b.o_version::text, HINT = b.o_exists::text;
	END IF;
	o_version := b.o_version;
	IF b.o_state = 1 THEN
		o_position := b.o_position;
		RETURN;
	END IF;
	INSERT INTO {S}.links (stream_id, version, position)
	SELECT p_stream, b.o_version - array_length(p_positions, 1) + u.ord, u.p
	FROM unnest(p_positions) WITH ORDINALITY AS u(p, ord);
	SELECT max(u.p) INTO o_position FROM unnest(p_positions) AS u(p);
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
		DELETE FROM {S}.links WHERE stream_id = p_stream;
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
