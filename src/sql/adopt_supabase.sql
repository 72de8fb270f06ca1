-- migrate adopt supabase: what the Supabase CLI recorded, as adopt.c reads
-- it (version, name, state, statements).  Read through to_jsonb so that a
-- table from an older CLI, without the name or statements column, reads
-- too.  The statements are joined with a newline before each ";" so that
-- one ending in a line comment cannot swallow the separator; adopt.c
-- compares them ignoring comments, white space and where they were split.
SELECT s.version, coalesce(to_jsonb(s)->>'name', ''), 'applied',
       CASE WHEN jsonb_typeof(to_jsonb(s)->'statements') = 'array' THEN
            (SELECT string_agg(t, E'\n;\n' ORDER BY n)
             FROM jsonb_array_elements_text(to_jsonb(s)->'statements') WITH ORDINALITY AS a(t, n)) END
FROM supabase_migrations.schema_migrations s
