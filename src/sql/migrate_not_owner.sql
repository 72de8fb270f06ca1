-- "must be owner of table NAME": the server names no schema, so every
-- relation of that name whose owner the current role is not (nor a member
-- of), with its owner; and who we are connected as.  In the files'
-- session, after one failed, with whatever search_path it left: pg_catalog
-- by name.
SELECT coalesce(pg_catalog.string_agg(pg_catalog.format('%I.%I is owned by %I', n.nspname, c.relname,
                                                         pg_catalog.pg_get_userbyid(c.relowner)),
                                      ', ' ORDER BY n.nspname), ''),
       pg_catalog.quote_ident(session_user), pg_catalog.quote_ident(current_user)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.=) $1 AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')
