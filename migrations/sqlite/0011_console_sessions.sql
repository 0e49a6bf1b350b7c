-- The web console's sessions (docs/console.md#sign-in-and-sessions), kept here so that any
-- replica serves any browser and a restart signs nobody out. Nothing in a row lets its reader
-- act as the user: the row is keyed by SHA-256 of the browser's cookie secret, which is not
-- stored, and the tokens and the CSRF token are sealed under a key derived from that secret.
CREATE TABLE console_sessions (
    -- base64url(SHA-256(cookie secret))
    key             TEXT    NOT NULL PRIMARY KEY,
    project         TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    -- Unix seconds
    expires_at      INTEGER  NOT NULL,
    -- when the provider's access token is renewed, Unix seconds; NULL for a dev sign-in
    renew_at        INTEGER,
    -- one more at each renewal: renewals compare and set it
    version         INTEGER  NOT NULL,
    -- a renewal under way until then (Unix seconds), so that one replica asks the provider
    renewing_until  INTEGER  NOT NULL DEFAULT 0,
    -- base64url(nonce ‖ ChaCha20-Poly1305 ciphertext ‖ tag) of the session's secrets
    sealed          TEXT    NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- Keys the replicas share, made once by whichever replica needs one first: the key that seals
-- the console's sign-in binding cookie, so that the provider's answer completes on any replica.
CREATE TABLE console_keys (
    name            TEXT    NOT NULL PRIMARY KEY,
    -- base64url of 32 random bytes
    key             TEXT    NOT NULL
);
