-- The schemas PostgREST serves, as a text[] expression shared by lints.sql
-- and probe.sql (verify.c substitutes it into both, with verify.schemas
-- as ARRAY[...] or NULL in it): verify.schemas when set, else
-- pgrst.db_schemas as Supabase sets it on the authenticator role (this
-- database's setting first, then the role-wide one), else the session's,
-- else public and graphql_public (Supabase's default).  Its aliases are
-- unlike any PL/pgSQL variable of the probe.
coalesce(@SCHEMAS@::text[], ARRAY(
    SELECT pg_catalog.btrim(xs_name, E' \t\n"')
    FROM pg_catalog.unnest(pg_catalog.string_to_array(coalesce(
        (SELECT pg_catalog.substr(xs_cfg, 18)
         FROM pg_catalog.pg_db_role_setting xs_set
         JOIN pg_catalog.pg_roles xs_role ON xs_role.oid = xs_set.setrole,
              pg_catalog.unnest(xs_set.setconfig) xs_cfg
         WHERE xs_role.rolname = 'authenticator' AND xs_cfg LIKE 'pgrst.db\_schemas=%'
           AND xs_set.setdatabase IN (0, (SELECT xs_db.oid FROM pg_catalog.pg_database xs_db
                                          WHERE xs_db.datname = pg_catalog.current_database()))
         ORDER BY xs_set.setdatabase DESC LIMIT 1),
        nullif(pg_catalog.current_setting('pgrst.db_schemas', true), ''), 'public, graphql_public'), ',')) xs_name))
