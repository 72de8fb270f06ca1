-- migrate adopt supabase: what the Supabase CLI recorded, as adopt.c reads
-- it (version, name, state, statements).  Read through to_jsonb so that a
-- table from an older CLI, without the name or statements column, reads
-- too.  The statements are joined with a newline before each ";" so that
-- one ending in a line comment cannot swallow the separator; adopt.c
-- compares them ignoring comments, white space and where they were split.
SELECT s.version, coalesce(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'name', ''), 'applied',
       CASE WHEN pg_catalog.jsonb_typeof(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->) 'statements')
                 OPERATOR(pg_catalog.=) 'array' THEN
            (SELECT pg_catalog.string_agg(t, E'\n;\n' ORDER BY n)
             FROM pg_catalog.jsonb_array_elements_text(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->) 'statements')
                  WITH ORDINALITY AS a(t, n)) END
FROM supabase_migrations.schema_migrations s
