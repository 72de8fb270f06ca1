-- Zoom credentials table for OAuth integration
CREATE TABLE zoom_credentials (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID UNIQUE NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    access_token TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    zoom_user_id TEXT,
    zoom_email TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

-- Create index for token expiration cleanup
CREATE INDEX idx_zoom_credentials_expires ON zoom_credentials(expires_at);
CREATE INDEX idx_zoom_credentials_user ON zoom_credentials(user_id);

-- Enable RLS on zoom_credentials
ALTER TABLE zoom_credentials ENABLE ROW LEVEL SECURITY;

-- RLS Policy for zoom credentials
CREATE POLICY "Users can manage own zoom credentials" ON zoom_credentials
    FOR ALL USING (auth.uid() = user_id);

-- Function to automatically clean up expired tokens
CREATE OR REPLACE FUNCTION cleanup_expired_zoom_tokens()
RETURNS void AS $$
BEGIN
    DELETE FROM zoom_credentials
    WHERE expires_at < NOW() - INTERVAL '7 days';
END;
$$ LANGUAGE plpgsql;

-- Optional: Create a scheduled job to clean up expired tokens
-- This would typically be set up in Supabase dashboard or via pg_cron
-- SELECT cron.schedule('cleanup-zoom-tokens', '0 2 * * *', 'SELECT cleanup_expired_zoom_tokens();');
