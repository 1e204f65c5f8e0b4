/*
As Harbor 2.12: robots record their creator; robots made before are "unknown".
*/
ALTER TABLE robot ADD COLUMN IF NOT EXISTS creator varchar(255);
UPDATE robot SET creator = 'unknown' WHERE creator IS NULL;
