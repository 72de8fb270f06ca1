-- Performance and role lints, in the spirit of Supabase's splinter (its names
-- where it has the same check): each row is check_name, level, object,
-- detail, remedy.  One catalog query whatever the number of tables: every
-- check below is a join on indexed catalog columns or a GROUP BY, never a
-- per-table lookup.  Run with search_path = '' (names come out qualified).
--
-- Only the user's objects are checked.  The platform's are left alone, told
-- apart by
--   * schema: the schemas Supabase and its extensions own (auth, storage,
--     realtime, extensions, vault, ...) and this daemon's momentum_maintd;
--   * owner: a relation owned by one of the platform's roles (the roles
--     supautils reserves, e.g. supabase_storage_admin), wherever it is;
--   * extension membership: a relation an extension created (pg_depend
--     deptype 'e') is the extension's.
WITH platform_roles AS MATERIALIZED (
  SELECT r.oid, r.rolname FROM pg_catalog.pg_roles r
  WHERE r.rolname = ANY (ARRAY['supabase_admin', 'supabase_auth_admin', 'supabase_storage_admin',
                               'supabase_read_only_user', 'supabase_replication_admin',
                               'supabase_realtime_admin', 'supabase_functions_admin', 'supabase_etl_admin',
                               'dashboard_user', 'pgbouncer', 'authenticator', 'service_role',
                               'anon', 'authenticated',
                               'momentum_maintd_probe'])   -- this daemon's own probe role
     -- what this server's supautils reserves ('name*' lets the role be granted)
     OR r.rolname = ANY (SELECT trim(rtrim(trim(x), '*'))
                         FROM unnest(string_to_array(coalesce(current_setting('supautils.reserved_roles', true), ''),
                                                     ',')) x)
), user_rels AS NOT MATERIALIZED (
  SELECT c.oid, c.relname, c.relkind, c.relispartition, n.nspname,
         format('%I.%I', n.nspname, c.relname) AS obj
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm')
    AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema', 'momentum_maintd',
        'auth', 'storage', 'realtime', 'extensions', 'vault', 'graphql', 'graphql_public', 'net',
        'cron', 'pgbouncer', 'pgsodium', 'pgsodium_masks', 'pgmq', 'pgtle', 'pgroonga', 'repack',
        'supabase_functions', 'supabase_migrations', 'tiger', 'topology', '_realtime', '_analytics',
        '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_config', '_timescaledb_internal'])
    AND n.nspname !~ '^pg_(toast|temp_)'
    AND c.relowner NOT IN (SELECT oid FROM platform_roles)
    -- (a hashed subplan, read once: as a NOT EXISTS the planner looked
    -- pg_depend up once per index of the table, not once per table)
    AND c.oid NOT IN (SELECT d.objid FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'e')
), backing AS MATERIALIZED (
  -- the constraints an index backs: its own primary key, unique or
  -- exclusion constraint, and the foreign keys that reference it; such an
  -- index is never one to drop
  SELECT conindid, string_agg(quote_ident(conname), ', ' ORDER BY conname) AS conname
  FROM pg_catalog.pg_constraint WHERE conindid <> 0 GROUP BY conindid
), idx AS MATERIALIZED (
  -- every index of a user relation, with what defines it; key = the key
  -- columns (0 for an expression; from 1), without INCLUDE ones; conname = the
  -- constraints it backs, if any; partitioned: an index of a partitioned
  -- table (dropped without CONCURRENTLY); parent: the partitioned index it is
  -- a partition of (dropped only with it)
  SELECT i.indexrelid, i.indrelid, t.obj, ic.relam, i.indisunique, i.indisprimary, i.indisvalid,
         i.indnkeyatts, (i.indkey::int2[])[0:i.indnkeyatts - 1] AS key,
         (i.indclass::oid[])[0:i.indnkeyatts - 1] AS key_class,
         (i.indcollation::oid[])[0:i.indnkeyatts - 1] AS key_coll,
         (i.indoption::int2[])[0:i.indnkeyatts - 1] AS key_opt,
         cardinality(i.indkey::int2[]) > i.indnkeyatts AS has_include,
         i.indkey::text AS indkey, i.indclass::text AS indclass, i.indcollation::text AS indcollation,
         i.indoption::text AS indoption, i.indnullsnotdistinct, i.indimmediate, i.indisexclusion,
         coalesce(pg_catalog.pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
         coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '') AS pred,
         format('%I.%I', t.nspname, ic.relname) AS name, ic.xmin AS created_by, b.conname,
         coalesce(ic.reloptions::text, '') AS reloptions, ic.relkind = 'I' AS partitioned, par.parent
  FROM pg_catalog.pg_index i
  JOIN user_rels t ON t.oid = i.indrelid
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  LEFT JOIN backing b ON b.conindid = i.indexrelid
  LEFT JOIN (SELECT h.inhrelid, format('%I.%I', pn.nspname, pc.relname) AS parent
             FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent AND pc.relkind = 'I'
             JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace) par ON par.inhrelid = i.indexrelid
), sig AS MATERIALIZED (
  -- two indexes with the same signature are the same index twice (but for
  -- operator class parameters, compared below); a partition's part of a
  -- partitioned index is compared as its parent.  (A row as text quotes
  -- what its fields hold: no two signatures read the same.)
  SELECT idx.*, ROW(relam, indkey, indnkeyatts, indclass, indcollation, indoption, indisunique,
                    indnullsnotdistinct, indimmediate, indisexclusion, exprs, pred, reloptions)::text AS signature
  FROM idx WHERE indisvalid AND parent IS NULL
), twice AS MATERIALIZED (
  -- (computed once, whatever the estimates: as a subquery, it was
  -- grouped again for each of 6,000 indexes when sig was thought small)
  SELECT indrelid, signature FROM sig GROUP BY 1, 2 HAVING count(*) > 1
), fkeys AS MATERIALIZED (
  SELECT con.oid, con.conname, con.conrelid, con.conkey, con.confrelid, t.obj, t.relkind,
         (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
          FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS cols
  FROM pg_catalog.pg_constraint con JOIN user_rels t ON t.oid = con.conrelid
  WHERE con.contype = 'f' AND con.conparentid = 0
), stats_age AS MATERIALIZED (
  -- index scan counters count since the later of the last reset of this
  -- database's statistics and the server's start (a crash loses them); and
  -- an index a migration made is no older than the last migration run
  -- (@MIGRATED_AT@: its time, or null without the daemon's bookkeeping)
  SELECT greatest(d.stats_reset, pg_catalog.pg_postmaster_start_time(), @MIGRATED_AT@) AS since,
         coalesce(nullif(current_setting('momentum_maintd.unused_index_min_days', true), '')::numeric, 7)
           AS min_days
  FROM pg_catalog.pg_stat_database d WHERE d.datname = current_database()
)
SELECT 'unindexed_foreign_keys', 'info', format('%s (%s)', f.obj, f.conname),
       format('no valid index starts with the foreign key''s columns (%s): every DELETE on %s, and every '
              'UPDATE of its key, scans %s for referencing rows, and joins on the key cannot use an index',
              f.cols, f.confrelid::regclass, f.obj),
       -- CONCURRENTLY: a plain CREATE INDEX blocks writes to the table while
       -- it builds (and a migration holding it is create_index_not_concurrently);
       -- PostgreSQL refuses CONCURRENTLY on a partitioned table
       format('CREATE INDEX %sON %s (%s)', CASE WHEN f.relkind <> 'p' THEN 'CONCURRENTLY ' END, f.obj, f.cols)
-- covered: a valid, complete (not partial) b-tree or hash index whose
-- leading key columns are the foreign key's, in any order, which is what a
-- DELETE on the referenced table looks the referencing rows up with
FROM fkeys f
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                  WHERE i.indrelid = f.conrelid AND i.indisvalid AND i.indpred IS NULL
                    AND ic.relam IN (403, 405) AND i.indnkeyatts >= cardinality(f.conkey)
                    AND (i.indkey::int2[])[0:cardinality(f.conkey) - 1] @> f.conkey
                    AND (i.indkey::int2[])[0:cardinality(f.conkey) - 1] <@ f.conkey)
UNION ALL
SELECT 'duplicate_index', 'warn', string_agg(name, ', ' ORDER BY name),
       format('%s indexes on %s have the same definition (columns, expressions, predicate, operator classes and '
              'their parameters, collations, sort order, uniqueness, NULLS [NOT] DISTINCT and storage parameters)%s',
              count(*), min(obj),
              CASE WHEN count(conname) > 1
                   THEN format('; %s of them back constraints (%s): drop an extra constraint only if nothing '
                               'depends on it', count(conname), string_agg(conname, '; ' ORDER BY conname))
                   ELSE '' END),
       coalesce(nullif(
         -- keep the one that backs a constraint (or the first by name); drop
         -- the others, never one that backs a constraint
         string_agg(format(CASE WHEN partitioned THEN 'DROP INDEX %s;' ELSE 'DROP INDEX CONCURRENTLY %s;' END, name),
                    ' ' ORDER BY name)
           FILTER (WHERE conname IS NULL AND name <> keep), ''),
         'drop the extra constraints: every one of these indexes backs one')
FROM (SELECT s.*, o.opts, first_value(name) OVER (PARTITION BY indrelid, signature, o.opts
                                                  ORDER BY conname IS NULL, indisprimary DESC, name) AS keep
      FROM sig s
      -- operator class parameters (e.g. tsvector_ops(siglen = 100)), kept
      -- per column of the index: read only for the signatures found twice
      CROSS JOIN LATERAL (SELECT ARRAY(SELECT coalesce(a.attoptions::text, '') FROM pg_catalog.pg_attribute a
                                       WHERE a.attrelid = s.indexrelid ORDER BY a.attnum)::text AS opts) o
      -- only the signatures found twice are sorted for the window
      WHERE (s.indrelid, s.signature) IN (SELECT indrelid, signature FROM twice)) s
GROUP BY indrelid, signature, opts
HAVING count(*) > 1
UNION ALL
SELECT * FROM (
  SELECT DISTINCT ON (a.indexrelid) 'redundant_index', 'warn', a.name,
         format('%s is a leading part of %s: the larger index serves every lookup this one does',
                pg_catalog.pg_get_indexdef(a.indexrelid), pg_catalog.pg_get_indexdef(b.indexrelid)),
         format(CASE WHEN a.partitioned THEN 'DROP INDEX %s' ELSE 'DROP INDEX CONCURRENTLY %s' END, a.name)
  FROM sig a
  JOIN pg_catalog.pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
  JOIN pg_catalog.pg_class bc ON bc.oid = b.indexrelid
  WHERE a.relam = 403 AND bc.relam = 403        -- b-tree: a prefix of the key is an index of its own
    AND NOT a.indisunique AND a.conname IS NULL -- a plain index, backing nothing
    AND a.exprs = '' AND NOT a.has_include
    AND b.indisvalid AND b.indnkeyatts >= a.indnkeyatts
    AND coalesce(pg_catalog.pg_get_expr(b.indpred, b.indrelid), '') = a.pred
    AND (b.indkey::int2[])[0:a.indnkeyatts - 1] = a.key
    AND (b.indclass::oid[])[0:a.indnkeyatts - 1] = a.key_class
    AND (b.indcollation::oid[])[0:a.indnkeyatts - 1] = a.key_coll
    AND (b.indoption::int2[])[0:a.indnkeyatts - 1] = a.key_opt
    -- the same plain index twice is duplicate_index
    AND NOT (NOT b.indisunique AND b.indnkeyatts = a.indnkeyatts AND b.indexprs IS NULL
             AND cardinality(b.indkey::int2[]) = b.indnkeyatts AND NOT b.indisexclusion)
  ORDER BY a.indexrelid, b.indisunique DESC, b.indexrelid) r
UNION ALL
SELECT 'invalid_index', 'error', i.name,
       CASE WHEN NOT i.partitioned
            THEN 'the index is invalid (a CREATE INDEX CONCURRENTLY that failed?) and is not used'
            WHEN m.missing IS NULL
            THEN 'the partitioned index is invalid: the index attached for a partitioned partition is invalid itself'
            WHEN m.foreign_parts IS NOT NULL
            THEN format('the partitioned index is invalid (made ON ONLY the table?) and cannot become valid: %s '
                        'is a foreign table, which can have no index attached', m.foreign_parts)
            ELSE format('the partitioned index is invalid (made ON ONLY the table?): %s has no index attached to it, '
                        'and a partition made from now on gets none', m.missing) END,
       CASE WHEN NOT i.partitioned
            THEN format('DROP INDEX CONCURRENTLY %s; then create it again: %s', i.name,
                        regexp_replace(pg_catalog.pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX ',
                                       'CREATE \1INDEX CONCURRENTLY '))
            WHEN m.missing IS NULL
            THEN 'make the invalid indexes of its partitions valid (each has its own finding)'
            -- (made without ONLY, a partitioned index skips foreign partitions)
            WHEN m.foreign_parts IS NOT NULL
            THEN format('DROP INDEX %s; then CREATE INDEX it again without ONLY, which skips foreign partitions '
                        '(not CONCURRENTLY: a partitioned table refuses it)', i.name)
            -- (a partitioned index cannot be dropped or made CONCURRENTLY)
            ELSE format('on %s, CREATE INDEX CONCURRENTLY the same index and ALTER INDEX %s ATTACH PARTITION it '
                        '(valid once every partition''s is attached); or DROP INDEX %s', m.missing, i.name, i.name) END
FROM idx i
-- a partitioned index: the partitions with no index attached to it
LEFT JOIN LATERAL (
  SELECT string_agg(h.inhrelid::regclass::text, ', ' ORDER BY h.inhrelid::regclass::text) AS missing,
         string_agg(h.inhrelid::regclass::text, ', ' ORDER BY h.inhrelid::regclass::text)
           FILTER (WHERE pc.relkind = 'f') AS foreign_parts
  FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class pc ON pc.oid = h.inhrelid
  WHERE i.partitioned AND h.inhparent = i.indrelid
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits hi JOIN pg_catalog.pg_index pi ON pi.indexrelid = hi.inhrelid
                    WHERE hi.inhparent = i.indexrelid AND pi.indrelid = h.inhrelid)) m ON true
WHERE NOT i.indisvalid
UNION ALL
SELECT 'unused_index', 'info', i.name,
       format('no query has used the index since %s, when its statistics began counting or migrations last ran '
              '(%s days ago)',
              to_char(u.since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
              floor(extract(epoch FROM now() - u.since) / 86400)),
       CASE WHEN i.parent IS NULL
            THEN format('DROP INDEX CONCURRENTLY %s, unless a rare but important query needs it', i.name)
            ELSE format('it is a partition''s part of %s: DROP INDEX %s (every partition''s; not CONCURRENTLY), '
                        'once no partition''s part of it is used', i.parent, i.parent) END
FROM idx i
JOIN pg_catalog.pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
CROSS JOIN stats_age a
-- the counters of an index created later count since its creation, known
-- when commit timestamps are tracked (a frozen xmin is old enough)
CROSS JOIN LATERAL (SELECT greatest(a.since, CASE WHEN current_setting('track_commit_timestamp') = 'on'
                                                  THEN pg_catalog.pg_xact_commit_timestamp(i.created_by) END)
                           AS since) u
WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND i.conname IS NULL
  AND now() - u.since >= a.min_days * interval '1 day'
  -- the index a foreign key needs is not unused, only rarely used
  AND NOT (i.pred = '' AND i.relam IN (403, 405) AND EXISTS (
      SELECT 1 FROM pg_catalog.pg_constraint con
      WHERE con.conrelid = i.indrelid AND con.contype = 'f' AND cardinality(con.conkey) <= i.indnkeyatts
        AND i.key[1:cardinality(con.conkey)] @> con.conkey AND i.key[1:cardinality(con.conkey)] <@ con.conkey))
UNION ALL
-- a table at least four times the size its rows need, by more than 20 MiB:
-- the need estimated from its statistics (pg_stats: average widths and
-- null fractions), with a tuple's header, null bitmap, alignment and line
-- pointer, and its fillfactor; tables never analyzed are left alone
SELECT 'table_bloat', 'info', t.obj,
       format('the table takes %s where its %s rows need about %s (estimated from its statistics): %s of dead '
              'space that VACUUM does not give back', pg_size_pretty(b.pages * b.bs), b.tuples,
              pg_size_pretty(b.need * b.bs), pg_size_pretty((b.pages - b.need) * b.bs)),
       format('VACUUM FULL %s (it locks the table while it rewrites it: plan for that) or pg_repack; then let '
              'autovacuum visit it sooner, e.g. ALTER TABLE %s SET (autovacuum_vacuum_scale_factor = 0.05)',
              t.obj, t.obj)
FROM pg_catalog.pg_class c
JOIN user_rels t ON t.oid = c.oid
CROSS JOIN LATERAL (
  SELECT sum((1 - s.null_frac::numeric) * s.avg_width) AS width, bool_or(s.null_frac > 0) AS nulls
  FROM pg_catalog.pg_stats s WHERE s.schemaname = t.nspname AND s.tablename = t.relname AND NOT s.inherited) st
CROSS JOIN LATERAL (
  SELECT c.relpages::numeric AS pages, c.reltuples::bigint AS tuples, current_setting('block_size')::numeric AS bs,
         -- header (23 bytes, and the null bitmap), aligned; then the data, aligned; then its line pointer
         ceil((23 + CASE WHEN st.nulls THEN ceil(c.relnatts / 8.0) ELSE 0 END) / 8.0) * 8
           + ceil(st.width / 8.0) * 8 + 4 AS tuple,
         coalesce((SELECT o.option_value::numeric FROM pg_catalog.pg_options_to_table(c.reloptions) o
                   WHERE o.option_name = 'fillfactor'), 100) AS fillfactor) r
CROSS JOIN LATERAL (
  SELECT r.pages, r.tuples, r.bs,
         greatest(ceil(r.tuples / greatest(floor((r.bs - 24) * r.fillfactor / 100 / r.tuple), 1)), 1) AS need) b
WHERE c.relkind = 'r' AND c.relam = 2 /* heap */ AND c.reltuples >= 0
  AND c.relpages::bigint * current_setting('block_size')::bigint > 20 * 1024 * 1024
  AND st.width IS NOT NULL
  AND b.pages >= 4 * b.need AND (b.pages - b.need) * b.bs > 20 * 1024 * 1024
UNION ALL
SELECT 'no_primary_key', 'info', t.obj,
       CASE WHEN t.relkind = 'p' THEN 'the partitioned table and its partitions have no primary key'
            ELSE 'the table has no primary key: its rows cannot be told apart, and logical replication cannot '
                 'replicate its UPDATEs and DELETEs' END,
       -- (ADD COLUMN id fails on a table that has a column id: make that one the key)
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'id'
                         AND NOT a.attisdropped)
            THEN format('ALTER TABLE %s ADD PRIMARY KEY (id), once its id is unique and NOT NULL (or on other '
                        'unique NOT NULL columns)', t.obj)
            ELSE format('ALTER TABLE %s ADD PRIMARY KEY (...) on unique NOT NULL columns, or ADD COLUMN id bigint '
                        'GENERATED ALWAYS AS IDENTITY PRIMARY KEY', t.obj) END
FROM user_rels t
WHERE (t.relkind = 'p' OR (t.relkind = 'r' AND NOT t.relispartition))
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = t.oid AND i.indisprimary)
UNION ALL
SELECT 'multiple_permissive_policies', 'warn', format('%s: %s for %s', p.obj, p.cmd, quote_ident(p.rolname)),
       format('%s permissive policies apply to %s for %s (%s): every one of them runs on every row',
              count(*), quote_ident(p.rolname), p.cmd,
              string_agg(format('"%s"', replace(p.polname, '"', '""')), ', ' ORDER BY p.polname)),
       'merge them into one policy whose USING / WITH CHECK is the OR of theirs'
FROM (SELECT t.obj, pol.polname, r.rolname, x.cmd
      FROM pg_catalog.pg_policy pol
      JOIN user_rels t ON t.oid = pol.polrelid
      -- the roles the policy applies to: its TO list; PUBLIC is every role
      -- that row level security applies to and that is not the platform's
      -- (but anon and authenticated, the API's)
      JOIN pg_catalog.pg_roles r
        ON r.oid = ANY (pol.polroles)
        OR (0::oid = ANY (pol.polroles) AND NOT r.rolsuper AND NOT r.rolbypassrls AND r.rolname !~ '^pg_'
            AND (r.rolname IN ('anon', 'authenticated') OR r.oid NOT IN (SELECT oid FROM platform_roles)))
      CROSS JOIN LATERAL unnest(CASE pol.polcmd WHEN 'r' THEN ARRAY['SELECT'] WHEN 'a' THEN ARRAY['INSERT']
                                     WHEN 'w' THEN ARRAY['UPDATE'] WHEN 'd' THEN ARRAY['DELETE']
                                     ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] END) x(cmd)
      WHERE pol.polpermissive AND NOT r.rolbypassrls AND NOT r.rolsuper) p
GROUP BY p.obj, p.cmd, p.rolname
HAVING count(*) > 1
UNION ALL
SELECT 'bypassrls_role', 'warn', r.rolname::text,
       'the role bypasses row level security and is not one of the platform''s',
       format('ALTER ROLE %I NOBYPASSRLS', r.rolname)
FROM pg_catalog.pg_roles r
WHERE r.rolbypassrls AND NOT r.rolsuper AND r.rolname <> 'postgres'
  AND r.oid NOT IN (SELECT oid FROM platform_roles)
