-- "must be owner of table NAME": the server names no schema, so every
-- relation of that name whose owner the current role is not (nor a member
-- of), with its owner; and who we are connected as.
SELECT coalesce(string_agg(format('%I.%I is owned by %I', n.nspname, c.relname, pg_get_userbyid(c.relowner)),
                           ', ' ORDER BY n.nspname), ''),
       quote_ident(session_user), quote_ident(current_user)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND NOT pg_has_role(c.relowner, 'USAGE')
