-- A fingerprint of the feed's configuration when it was last seen (its entry in sources.yaml
-- and the fetch settings): when it changes, a feed backing off after failures is tried at once.
ALTER TABLE sources ADD COLUMN config_hash VARCHAR;
