-- 0004: GrowthBook SDK extras (issue 15).
-- Saved groups: named lists of attribute values for the $inGroup / $notInGroup operators,
-- stored as their API JSON document (src/core/saved_group.c reads it).
CREATE TABLE saved_groups (
    key        TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- SDK keys created with "encrypt": true serve the GrowthBook payload encrypted
-- (encryptedFeatures, AES-128-CBC) with this key (base64 of 16 random bytes). It is the
-- decryptionKey handed to the SDK, so it is stored as it is, not hashed.
ALTER TABLE api_keys ADD COLUMN encryption_key TEXT;
