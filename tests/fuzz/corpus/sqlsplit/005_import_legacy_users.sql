-- Optional data migration, from the seed's "Data Migration Considerations":
-- copy users of a previous system (table legacy_users) into profiles.
--
-- To use it, copy this file and its rollback into the migrations directory
-- (renumber them if 005 is taken).  It does nothing where legacy_users does
-- not exist, and running it again inserts nothing twice.  Each profile
-- references auth.users: import the users into Supabase Auth (auth.users)
-- first, with the same ids.
DO $legacy$
BEGIN
    IF to_regclass('legacy_users') IS NULL THEN
        RAISE NOTICE 'legacy_users does not exist: nothing to import';
        RETURN;
    END IF;

    -- Example: Migrate existing user data
    INSERT INTO profiles (id, email, name, created_at)
    SELECT
        id,
        email,
        display_name,
        created_at
    FROM legacy_users
    ON CONFLICT (id) DO NOTHING;
END
$legacy$;
