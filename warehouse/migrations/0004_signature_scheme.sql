-- Which shingle hashing made a signature: hashes of different schemes are not comparable,
-- so grouping reads only the current scheme's. Rows from before this column were sha1's.
ALTER TABLE article_signatures ADD COLUMN scheme VARCHAR DEFAULT 'sha1-affine32';
