-- Drop storage policies
DROP POLICY IF EXISTS "Public logo access" ON storage.objects;
DROP POLICY IF EXISTS "Authenticated users can upload logos" ON storage.objects;
DROP POLICY IF EXISTS "Users can access own private files" ON storage.objects;
DROP POLICY IF EXISTS "Users can upload to own private folder" ON storage.objects;

-- Remove buckets (this will delete all files!)
DELETE FROM storage.buckets WHERE id IN ('logos', 'private');
