-- name: OpenCodecSession :one
-- A session for the token, ending with it at the latest.
INSERT INTO codec_sessions (token_id, secret_hash, origin, expires_at)
SELECT t.token_id, @secret_hash, @origin, least(@expires_at::timestamptz, t.expires_at)
FROM user_tokens t
WHERE t.token_id = @token_id AND t.revoked_at IS NULL AND t.expires_at > now()
RETURNING session_id, expires_at;

-- name: GetUserByCodecSession :one
-- The person a session belongs to, while the session, its token and the
-- person are all still good.
SELECT u.*, s.session_id, s.expires_at
FROM codec_sessions s JOIN user_tokens t USING (token_id) JOIN users u USING (user_id)
WHERE s.secret_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now()
  AND t.revoked_at IS NULL AND t.expires_at > now() AND u.revoked_at IS NULL;

-- name: EndCodecSession :execrows
UPDATE codec_sessions SET ended_at = now()
WHERE secret_hash = $1 AND ended_at IS NULL;

-- name: ForgetOldCodecSessions :execrows
-- Sessions ended or expired a week ago are of no more use.
DELETE FROM codec_sessions
WHERE coalesce(ended_at, expires_at) < now() - interval '7 days';
