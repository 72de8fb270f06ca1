-- What the migrations made, one row per object: kind, object, attrs.
-- A verification pass compares this with the copy recorded after the last
-- migration run (momentum_maintd.verify_snapshot).  Used inside other
-- statements: no trailing semicolon, no $$ quoting.  When what this
-- returns changes, bump the "manifest N" in fingerprint.sql: snapshots
-- recorded by an older version are then recorded again, not reported as
-- drift.
--
-- A policy is not deparsed here (pg_get_expr builds the relcache entry of
-- its table: most of a pass's cost with thousands of policies): its attrs
-- are only what it is for and to whom, its tree a hash of its stored node
-- trees (a 64-bit hash of each, in hex: cheaper than md5 and enough to
-- tell a changed tree), and polid the policy to deparse.  record.sql keeps
-- "<tree> <attrs> using (...) with check (...)"; drift.sql deparses only
-- the policies whose tree or attrs differ from that.  The other rows have
-- both columns null.
SELECT 'table'::text AS kind, format('%I.%I', n.nspname, c.relname) AS object,
       format('rls=%s force=%s', CASE WHEN c.relrowsecurity THEN 'on' ELSE 'off' END,
              CASE WHEN c.relforcerowsecurity THEN 'on' ELSE 'off' END) AS attrs,
       NULL::text AS tree, NULL::oid AS polid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'storage')
UNION ALL
SELECT 'policy', format('%I.%I: policy "%s"', n.nspname, c.relname, replace(p.polname, '"', '""')),
       format('%s for %s to %s',
              CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
              CASE p.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update'
                            WHEN 'd' THEN 'delete' ELSE 'all' END,
              (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ', ' ORDER BY 1)
                 FROM unnest(p.polroles) r)),
       format('%s.%s', coalesce(to_hex(hashtextextended(p.polqual::text, 0)), '-'),
              coalesce(to_hex(hashtextextended(p.polwithcheck::text, 0)), '-')),
       p.oid
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('public', 'storage')
UNION ALL
-- indexes: what defines one, read from pg_index itself rather than
-- pg_get_indexdef, which opens every index and its table (most of the cost
-- of a pass in a new session with thousands of tables); an index with
-- expressions or a predicate is still deparsed (its stored node tree holds
-- oids and the positions of the words in the statement that made it)
SELECT 'index', format('%I.%I', n.nspname, ic.relname),
       format('%s valid=%s',
              CASE WHEN i.indexprs IS NOT NULL OR i.indpred IS NOT NULL THEN pg_get_indexdef(i.indexrelid)
                   ELSE format('%s%s on %s using %s (%s)%s',
                               CASE WHEN i.indisprimary THEN 'primary key' WHEN i.indisunique THEN 'unique'
                                    WHEN i.indisexclusion THEN 'exclusion' ELSE 'index' END,
                               CASE WHEN i.indnullsnotdistinct THEN ' nulls not distinct' ELSE '' END
                                 || CASE WHEN NOT i.indimmediate THEN ' deferrable' ELSE '' END,
                               i.indrelid::regclass, am.amname, k.cols, ' include (' || k.incl || ')') END,
              CASE WHEN i.indisvalid THEN 'yes' ELSE 'no' END),
       NULL, NULL
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
-- its columns in order (an expression's is 0): name, operator class,
-- collation, DESC and NULLS FIRST; the INCLUDE ones by name
JOIN (SELECT x.indexrelid,
             string_agg(concat_ws(' ', coalesce(quote_ident(a.attname), 'expression'), quote_ident(oc.opcname),
                                  'collate ' || nullif(k.coll, 0)::regcollation::text,
                                  CASE WHEN k.opt & 1 = 1 THEN 'desc' END,
                                  CASE WHEN k.opt & 2 = 2 THEN 'nulls first' END), ', ' ORDER BY k.n)
               FILTER (WHERE k.n <= x.indnkeyatts) AS cols,
             string_agg(coalesce(quote_ident(a.attname), 'expression'), ', ' ORDER BY k.n)
               FILTER (WHERE k.n > x.indnkeyatts) AS incl
      FROM pg_index x JOIN pg_class xc ON xc.oid = x.indexrelid JOIN pg_namespace xn ON xn.oid = xc.relnamespace
      CROSS JOIN LATERAL unnest(x.indkey::int2[], x.indclass::oid[], x.indcollation::oid[], x.indoption::int2[])
           WITH ORDINALITY k(attnum, opc, coll, opt, n)
      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum > 0
      LEFT JOIN pg_opclass oc ON oc.oid = k.opc
      WHERE xn.nspname IN ('public', 'storage')
      GROUP BY x.indexrelid) k ON k.indexrelid = i.indexrelid
WHERE n.nspname IN ('public', 'storage')
UNION ALL
SELECT 'foreign key', format('%I.%I (%s)', n.nspname, c.relname, con.conname), pg_get_constraintdef(con.oid),
       NULL, NULL
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND n.nspname IN ('public', 'storage')
UNION ALL
-- views and materialized views: who owns them (a view reads its tables
-- with its owner's privileges unless security_invoker), whether the
-- reader's are used instead, and what they read (the definition as
-- PostgreSQL prints it with an empty search_path, every name qualified)
SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, format('%I.%I', n.nspname, c.relname),
       format('owner %s, security_invoker %s, definition md5 %s', c.relowner::regrole,
              CASE WHEN coalesce((SELECT o.option_value::boolean FROM pg_options_to_table(c.reloptions) o
                                  WHERE o.option_name = 'security_invoker'), false) THEN 'on' ELSE 'off' END,
              md5(pg_get_viewdef(c.oid))),
       NULL, NULL
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname IN ('public', 'storage')
UNION ALL
-- (read through query_to_xml, so that a database without storage.buckets
-- still verifies: the table is named only when it exists; XMLTABLE gives
-- the ids back as they are, where xpath() would leave &amp; and &lt;)
SELECT 'bucket', format('storage bucket %s', b.id), format('public=%s', coalesce(b.public, 'false')),
       NULL, NULL
FROM XMLTABLE('/table/row' PASSING CASE WHEN to_regclass('storage.buckets') IS NOT NULL
                                        THEN query_to_xml('SELECT id, public FROM storage.buckets', false, false, '')
                                   END
              COLUMNS id text PATH 'id', public text PATH 'public') b
UNION ALL
SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       format('security %s, config %s, body md5 %s', CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END,
              coalesce(array_to_string(p.proconfig, ' '), 'none'), md5(p.prosrc)),
       NULL, NULL
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                            AND d.objid = p.oid AND d.deptype = 'e')
   OR (n.nspname = 'auth' AND p.proname IN ('uid', 'role') AND p.pronargs = 0)
   -- and the user's functions that the policies call, wherever they are
   -- (not the platform's: Supabase upgrades those of auth and storage)
   OR (n.nspname NOT IN ('pg_catalog', 'information_schema', 'auth', 'storage', 'extensions')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                       AND d.objid = p.oid AND d.deptype = 'e')
       AND EXISTS (SELECT 1 FROM pg_depend d JOIN pg_policy pol ON pol.oid = d.objid
                   JOIN pg_class pc ON pc.oid = pol.polrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                   WHERE d.classid = 'pg_policy'::regclass AND d.refclassid = 'pg_proc'::regclass
                     AND d.refobjid = p.oid AND pn.nspname IN ('public', 'storage')))
