-- An operator signed in to the codec endpoint from a browser: the Temporal
-- Web UI sends a cookie to a codec server, not a bearer token. A session is
-- opened with a person's token and lives at most 8 hours, never longer than
-- that token nor the person; only the SHA-256 of its secret is kept, so
-- every API server of a deployment knows it and a restart keeps it.
CREATE TABLE codec_sessions (
    session_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id    bigint NOT NULL REFERENCES user_tokens (token_id),
    secret_hash bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    origin      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX codec_sessions_token_idx ON codec_sessions (token_id);
