-- Fixes to what Supabase's advisor (and `momentum-maintd verify`) finds
-- after 001-004 (001-004 stay as they were applied; README.md, "What
-- migration 005 fixes", explains each change).
--
-- 1. idx_zoom_credentials_user indexes what UNIQUE(user_id) already does
--    (zoom_credentials_user_id_key): every write paid for two indexes.
-- 2. cleanup_expired_zoom_tokens() ran with the caller's search_path: it
--    now has a fixed, empty one and names its table in full.
-- 3. 004's is_org_member() and has_org_role() were in public, so the API
--    served them at /rpc.  They move to the schema private, which the API
--    does not expose; the policies that call them keep calling them (a
--    policy refers to a function itself, not to its name), and EXECUTE
--    stays granted to authenticated only.
-- 4. brand_settings and organization_members each had two permissive
--    policies for SELECT (a FOR ALL policy and a FOR SELECT one), both
--    evaluated on every read.  Each pair is now one SELECT policy with the
--    same meaning, and the FOR ALL policy is split into INSERT, UPDATE and
--    DELETE policies that say what it said.
-- 5. "Public logo access" let anyone list every file of the public logos
--    bucket.  A public bucket serves its files by URL without any policy,
--    so the policy is dropped.
-- 6. idx_org_members_user (user_id) is the leading column of
--    UNIQUE(user_id, organization_id)'s index, which serves the same
--    lookups.
-- 7. 001 creates uuid-ossp, whose functions nothing calls (the tables use
--    the built-in gen_random_uuid()); on plain PostgreSQL it lands in
--    public, where the API would serve its functions.  It moves to the
--    schema extensions, as on Supabase (where it is there already and
--    this step does nothing).

-- 1.
DROP INDEX public.idx_zoom_credentials_user;

-- 2.
CREATE OR REPLACE FUNCTION public.cleanup_expired_zoom_tokens()
RETURNS void
LANGUAGE plpgsql SET search_path = ''
AS $$
BEGIN
    DELETE FROM public.zoom_credentials
    WHERE expires_at < pg_catalog.now() - INTERVAL '7 days';
END;
$$;

-- 3.
CREATE SCHEMA private;
REVOKE ALL ON SCHEMA private FROM PUBLIC;
GRANT USAGE ON SCHEMA private TO authenticated;
ALTER FUNCTION public.is_org_member(uuid) SET SCHEMA private;
ALTER FUNCTION public.has_org_role(uuid, text[]) SET SCHEMA private;
REVOKE EXECUTE ON FUNCTION private.is_org_member(uuid) FROM PUBLIC, anon;
REVOKE EXECUTE ON FUNCTION private.has_org_role(uuid, text[]) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION private.is_org_member(uuid) TO authenticated;
GRANT EXECUTE ON FUNCTION private.has_org_role(uuid, text[]) TO authenticated;

-- 4. organization_members: an admin is a member, so members' SELECT
-- already covered what "Admins can manage members" let admins read
DROP POLICY "Admins can manage members" ON organization_members;
ALTER POLICY "Members can view org membership" ON organization_members
    TO authenticated USING (private.is_org_member(organization_id));
CREATE POLICY "Admins can add members" ON organization_members
    FOR INSERT TO authenticated
    WITH CHECK (private.has_org_role(organization_id, ARRAY['owner', 'admin']));
CREATE POLICY "Admins can update members" ON organization_members
    FOR UPDATE TO authenticated
    USING (private.has_org_role(organization_id, ARRAY['owner', 'admin']))
    WITH CHECK (private.has_org_role(organization_id, ARRAY['owner', 'admin']));
CREATE POLICY "Admins can remove members" ON organization_members
    FOR DELETE TO authenticated
    USING (private.has_org_role(organization_id, ARRAY['owner', 'admin']));

-- organizations: the same functions, named where they now are
ALTER POLICY "Members can view organization" ON organizations
    TO authenticated USING (private.is_org_member(id));
ALTER POLICY "Admins can update organization" ON organizations
    TO authenticated USING (private.has_org_role(id, ARRAY['owner', 'admin']))
    WITH CHECK (private.has_org_role(id, ARRAY['owner', 'admin']));

-- brand_settings: anon reads the shared rows; a user reads them and their
-- own (auth.uid() is NULL for anon, so anon's reads stay the shared rows)
DROP POLICY "Everyone can read shared brand settings" ON brand_settings;
DROP POLICY "Users can manage own brand settings" ON brand_settings;
CREATE POLICY "Read shared and own brand settings" ON brand_settings
    FOR SELECT TO anon, authenticated
    USING (user_id IS NULL OR (SELECT auth.uid()) = user_id);
CREATE POLICY "Users can create own brand settings" ON brand_settings
    FOR INSERT TO authenticated
    WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can update own brand settings" ON brand_settings
    FOR UPDATE TO authenticated
    USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can delete own brand settings" ON brand_settings
    FOR DELETE TO authenticated
    USING ((SELECT auth.uid()) = user_id);

-- 5.
DROP POLICY "Public logo access" ON storage.objects;

-- 6.
DROP INDEX public.idx_org_members_user;

-- 7.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
               WHERE e.extname = 'uuid-ossp' AND n.nspname = 'public') THEN
        IF to_regnamespace('extensions') IS NULL THEN
            CREATE SCHEMA extensions;
            COMMENT ON SCHEMA extensions IS 'created by 005_advisor_fixes.sql';
        END IF;
        ALTER EXTENSION "uuid-ossp" SET SCHEMA extensions;
    END IF;
END
$$;
