-- name: CreateUser :one
INSERT INTO users (name, roles, properties, created_by) VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: GetUserByName :one
SELECT * FROM users WHERE name = $1;

-- name: ListUsers :many
SELECT * FROM users ORDER BY name;

-- name: ListLiveTokens :many
-- The tokens that still work, for the list of people.
SELECT user_id, expires_at, last_used_at FROM user_tokens
WHERE revoked_at IS NULL AND expires_at > now()
ORDER BY user_id, expires_at;

-- name: RevokeUser :one
UPDATE users SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
RETURNING *;

-- name: CreateUserToken :one
INSERT INTO user_tokens (user_id, token_hash, token_prefix, expires_at) VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: RevokeUserTokens :execrows
UPDATE user_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL;

-- name: GetUserByTokenHash :one
-- The person a token belongs to, if the token and the person are both
-- still good: not revoked, not expired.
SELECT u.*, t.token_id, t.expires_at
FROM user_tokens t JOIN users u USING (user_id)
WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now() AND u.revoked_at IS NULL;

-- name: TouchUserToken :exec
UPDATE user_tokens SET last_used_at = now()
WHERE token_id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: CountUsers :one
SELECT count(*) FROM users WHERE revoked_at IS NULL;
