-- migrate adopt dbmate: one row per applied version (dbmate's table has
-- nothing else).  A table with golang-migrate's dirty column is not
-- dbmate's: said, not guessed.
SELECT s.version::pg_catalog.text, '',
       CASE WHEN pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.?) 'dirty' THEN 'wrong-tool' ELSE 'applied' END, NULL
FROM schema_migrations s
