-- The SHA-256 of each file a model was saved with (JSON: file name to hex
-- hash), so a damaged model file is refused when read instead of being run
-- or flashed. NULL for models saved before hashes were recorded.
ALTER TABLE models ADD COLUMN artifact_hashes TEXT;
