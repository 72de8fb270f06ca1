-- Fixes to the row level security of 001-003, found by `momentum-maintd verify`
-- on a fresh database (001-003 stay as the design wrote them; README.md,
-- "What migration 004 fixes", explains each change).
--
-- 1. organization_members' policies read organization_members, and
--    organizations' policies read it too: every query on either table by an
--    API role failed with "infinite recursion detected in policy"
--    (SQLSTATE 42P17), so no member could see their organization.  The
--    membership test now runs in two SECURITY DEFINER functions with an
--    empty search_path, which read organization_members without its policies.
-- 2. "Users can manage own brand settings" let anyone, anon included,
--    insert, update and delete the shared rows (user_id IS NULL).  Reading
--    the shared rows stays open; writing is for a row's own user.
-- 3. Write policies had no TO clause, so they applied to anon as well: every
--    policy now names the role it is for.
-- 4. Policies called auth.uid() / auth.role() once per row; they now call it
--    once per statement, through (select ...).
-- 5. brand_settings.user_id had no index: deleting a profile scanned
--    brand_settings.

CREATE FUNCTION public.is_org_member(org uuid)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
    SELECT EXISTS (SELECT 1 FROM public.organization_members m
                   WHERE m.organization_id = org AND m.user_id = (SELECT auth.uid()))
$$;

CREATE FUNCTION public.has_org_role(org uuid, roles text[])
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
AS $$
    SELECT EXISTS (SELECT 1 FROM public.organization_members m
                   WHERE m.organization_id = org AND m.user_id = (SELECT auth.uid())
                     AND m.role = ANY (roles))
$$;

REVOKE EXECUTE ON FUNCTION public.is_org_member(uuid) FROM PUBLIC, anon;
REVOKE EXECUTE ON FUNCTION public.has_org_role(uuid, text[]) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.is_org_member(uuid) TO authenticated;
GRANT EXECUTE ON FUNCTION public.has_org_role(uuid, text[]) TO authenticated;

-- profiles
ALTER POLICY "Users can view own profile" ON profiles
    TO authenticated USING ((SELECT auth.uid()) = id);
ALTER POLICY "Users can update own profile" ON profiles
    TO authenticated USING ((SELECT auth.uid()) = id) WITH CHECK ((SELECT auth.uid()) = id);

-- deliverables
ALTER POLICY "Users can manage own deliverables" ON deliverables
    TO authenticated USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);

-- organizations
ALTER POLICY "Members can view organization" ON organizations
    TO authenticated USING (public.is_org_member(id));
ALTER POLICY "Admins can update organization" ON organizations
    TO authenticated USING (public.has_org_role(id, ARRAY['owner', 'admin']))
    WITH CHECK (public.has_org_role(id, ARRAY['owner', 'admin']));

-- organization_members
ALTER POLICY "Members can view org membership" ON organization_members
    TO authenticated USING (public.is_org_member(organization_id));
ALTER POLICY "Admins can manage members" ON organization_members
    TO authenticated USING (public.has_org_role(organization_id, ARRAY['owner', 'admin']))
    WITH CHECK (public.has_org_role(organization_id, ARRAY['owner', 'admin']));

-- brand_settings
ALTER POLICY "Users can manage own brand settings" ON brand_settings
    TO authenticated USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Everyone can read shared brand settings" ON brand_settings
    FOR SELECT TO anon, authenticated USING (user_id IS NULL);
CREATE INDEX idx_brand_settings_user ON brand_settings(user_id);

-- zoom_credentials
ALTER POLICY "Users can manage own zoom credentials" ON zoom_credentials
    TO authenticated USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);

-- storage.objects
ALTER POLICY "Authenticated users can upload logos" ON storage.objects
    TO authenticated WITH CHECK (bucket_id = 'logos' AND (SELECT auth.role()) = 'authenticated');
ALTER POLICY "Users can access own private files" ON storage.objects
    TO authenticated USING (bucket_id = 'private' AND (SELECT auth.uid())::text = (storage.foldername(name))[1]);
ALTER POLICY "Users can upload to own private folder" ON storage.objects
    TO authenticated WITH CHECK (bucket_id = 'private' AND (SELECT auth.uid())::text = (storage.foldername(name))[1]);
