/*
The stand-in's schema change of 2.11 (Harbor's own 0140 changes tables the
stand-in does not have): longer project metadata values, looked up by name.
*/
ALTER TABLE project_metadata ALTER COLUMN value TYPE text;
CREATE INDEX IF NOT EXISTS project_metadata_name_idx ON project_metadata (name);
