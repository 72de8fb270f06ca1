-- Puts back the policies of 001-003 exactly as they were written (their
-- defects included: see 004_rls_fixes.sql).  Policies that 004 gave a
-- WITH CHECK clause are dropped and created again, since ALTER POLICY
-- cannot remove one.

DROP POLICY "Users can upload to own private folder" ON storage.objects;
CREATE POLICY "Users can upload to own private folder" ON storage.objects
    FOR INSERT WITH CHECK (
        bucket_id = 'private' AND
        auth.uid()::text = (storage.foldername(name))[1]
    );
DROP POLICY "Users can access own private files" ON storage.objects;
CREATE POLICY "Users can access own private files" ON storage.objects
    FOR SELECT USING (
        bucket_id = 'private' AND
        auth.uid()::text = (storage.foldername(name))[1]
    );
DROP POLICY "Authenticated users can upload logos" ON storage.objects;
CREATE POLICY "Authenticated users can upload logos" ON storage.objects
    FOR INSERT WITH CHECK (
        bucket_id = 'logos' AND
        auth.role() = 'authenticated'
    );

DROP POLICY "Users can manage own zoom credentials" ON zoom_credentials;
CREATE POLICY "Users can manage own zoom credentials" ON zoom_credentials
    FOR ALL USING (auth.uid() = user_id);

DROP INDEX idx_brand_settings_user;
DROP POLICY "Everyone can read shared brand settings" ON brand_settings;
DROP POLICY "Users can manage own brand settings" ON brand_settings;
CREATE POLICY "Users can manage own brand settings" ON brand_settings
    FOR ALL USING (auth.uid() = user_id OR user_id IS NULL);

DROP POLICY "Admins can manage members" ON organization_members;
CREATE POLICY "Admins can manage members" ON organization_members
    FOR ALL USING (
        organization_id IN (
            SELECT organization_id
            FROM organization_members
            WHERE user_id = auth.uid() AND role IN ('owner', 'admin')
        )
    );
DROP POLICY "Members can view org membership" ON organization_members;
CREATE POLICY "Members can view org membership" ON organization_members
    FOR SELECT USING (
        organization_id IN (
            SELECT organization_id
            FROM organization_members
            WHERE user_id = auth.uid()
        )
    );

DROP POLICY "Admins can update organization" ON organizations;
CREATE POLICY "Admins can update organization" ON organizations
    FOR UPDATE USING (
        id IN (
            SELECT organization_id
            FROM organization_members
            WHERE user_id = auth.uid() AND role IN ('owner', 'admin')
        )
    );
DROP POLICY "Members can view organization" ON organizations;
CREATE POLICY "Members can view organization" ON organizations
    FOR SELECT USING (
        id IN (
            SELECT organization_id
            FROM organization_members
            WHERE user_id = auth.uid()
        )
    );

DROP POLICY "Users can manage own deliverables" ON deliverables;
CREATE POLICY "Users can manage own deliverables" ON deliverables
    FOR ALL USING (auth.uid() = user_id);

DROP POLICY "Users can update own profile" ON profiles;
CREATE POLICY "Users can update own profile" ON profiles
    FOR UPDATE USING (auth.uid() = id);
DROP POLICY "Users can view own profile" ON profiles;
CREATE POLICY "Users can view own profile" ON profiles
    FOR SELECT USING (auth.uid() = id);

DROP FUNCTION public.has_org_role(uuid, text[]);
DROP FUNCTION public.is_org_member(uuid);
