-- Models brought in as `.tflite` files rather than trained here: what was
-- imported (the file's name and its input described as an impulse, JSON).
-- NULL for trained models, whose impulse is `impulse_version`.
ALTER TABLE models ADD COLUMN imported TEXT;
