-- Puts back what 005_advisor_fixes.sql changed, as 001-004 left it.

-- 7. uuid-ossp goes back to public only where 005 moved it (into the
-- schema extensions that 005 created)
DO $$
BEGIN
    IF obj_description(to_regnamespace('extensions'), 'pg_namespace') = 'created by 005_advisor_fixes.sql' THEN
        ALTER EXTENSION "uuid-ossp" SET SCHEMA public;
        DROP SCHEMA extensions;
    END IF;
END
$$;

-- 6.
CREATE INDEX idx_org_members_user ON organization_members(user_id);

CREATE POLICY "Public logo access" ON storage.objects
    FOR SELECT USING (bucket_id = 'logos');

DROP POLICY "Users can delete own brand settings" ON brand_settings;
DROP POLICY "Users can update own brand settings" ON brand_settings;
DROP POLICY "Users can create own brand settings" ON brand_settings;
DROP POLICY "Read shared and own brand settings" ON brand_settings;
CREATE POLICY "Users can manage own brand settings" ON brand_settings
    TO authenticated USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Everyone can read shared brand settings" ON brand_settings
    FOR SELECT TO anon, authenticated USING (user_id IS NULL);

ALTER FUNCTION private.is_org_member(uuid) SET SCHEMA public;
ALTER FUNCTION private.has_org_role(uuid, text[]) SET SCHEMA public;
DROP SCHEMA private;

ALTER POLICY "Admins can update organization" ON organizations
    TO authenticated USING (public.has_org_role(id, ARRAY['owner', 'admin']))
    WITH CHECK (public.has_org_role(id, ARRAY['owner', 'admin']));
ALTER POLICY "Members can view organization" ON organizations
    TO authenticated USING (public.is_org_member(id));

DROP POLICY "Admins can remove members" ON organization_members;
DROP POLICY "Admins can update members" ON organization_members;
DROP POLICY "Admins can add members" ON organization_members;
CREATE POLICY "Admins can manage members" ON organization_members
    TO authenticated USING (public.has_org_role(organization_id, ARRAY['owner', 'admin']))
    WITH CHECK (public.has_org_role(organization_id, ARRAY['owner', 'admin']));
ALTER POLICY "Members can view org membership" ON organization_members
    TO authenticated USING (public.is_org_member(organization_id));

CREATE OR REPLACE FUNCTION public.cleanup_expired_zoom_tokens()
RETURNS void AS $$
BEGIN
    DELETE FROM zoom_credentials
    WHERE expires_at < NOW() - INTERVAL '7 days';
END;
$$ LANGUAGE plpgsql;

CREATE INDEX idx_zoom_credentials_user ON zoom_credentials(user_id);
