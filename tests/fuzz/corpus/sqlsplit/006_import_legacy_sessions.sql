-- Optional data migration, from the seed's "Data Migration Considerations":
-- copy rendered sessions of a previous system (legacy_sessions) into
-- deliverables.
--
-- To use it, copy this file and its rollback into the migrations directory
-- after 005_import_legacy_users.sql (deliverables reference profiles).  It
-- does nothing where legacy_sessions does not exist, and running it again
-- inserts nothing twice (the seed's example had no ON CONFLICT clause: a
-- second run would have failed on the primary key).
DO $legacy$
BEGIN
    IF to_regclass('legacy_sessions') IS NULL THEN
        RAISE NOTICE 'legacy_sessions does not exist: nothing to import';
        RETURN;
    END IF;

    -- Example: Migrate existing deliverables
    INSERT INTO deliverables (id, user_id, client_name, html, created_at)
    SELECT
        session_id,
        user_id,
        client_name,
        rendered_html,
        created_at
    FROM legacy_sessions
    WHERE rendered_html IS NOT NULL
    ON CONFLICT (id) DO NOTHING;
END
$legacy$;
