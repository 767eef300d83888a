-- A search's trials are jobs of their own, so that several workers share
-- them: `parent_id` names the search that queued a trial. Job lists show
-- only jobs without a parent; a search claims and collects its own trials.
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
CREATE INDEX jobs_parent ON jobs(parent_id, status);
