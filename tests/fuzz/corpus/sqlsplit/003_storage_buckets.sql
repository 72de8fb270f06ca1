-- Create storage buckets for file uploads
-- Note: These commands are typically run in Supabase dashboard or via API

-- Public bucket for logos
INSERT INTO storage.buckets (id, name, public)
VALUES ('logos', 'logos', true);

-- Private bucket for PDFs and sensitive files
INSERT INTO storage.buckets (id, name, public)
VALUES ('private', 'private', false);

-- Storage policies for logos bucket
CREATE POLICY "Public logo access" ON storage.objects
    FOR SELECT USING (bucket_id = 'logos');

CREATE POLICY "Authenticated users can upload logos" ON storage.objects
    FOR INSERT WITH CHECK (
        bucket_id = 'logos' AND
        auth.role() = 'authenticated'
    );

-- Storage policies for private bucket
CREATE POLICY "Users can access own private files" ON storage.objects
    FOR SELECT USING (
        bucket_id = 'private' AND
        auth.uid()::text = (storage.foldername(name))[1]
    );

CREATE POLICY "Users can upload to own private folder" ON storage.objects
    FOR INSERT WITH CHECK (
        bucket_id = 'private' AND
        auth.uid()::text = (storage.foldername(name))[1]
    );
