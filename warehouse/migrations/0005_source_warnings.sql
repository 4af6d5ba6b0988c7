-- What the feed's last document read warned about while the fetch itself succeeded, such as
-- entries beyond `max_entries_per_feed` that were not taken; NULL when nothing.
ALTER TABLE sources ADD COLUMN last_warning VARCHAR;
