/*
The stand-in's schema change of 2.13 (Harbor's own 0160 changes tables the
stand-in does not have): retention policies get extra attributes, empty for the
existing ones.
*/
ALTER TABLE retention_policy ADD COLUMN IF NOT EXISTS extra_attrs text;
UPDATE retention_policy SET extra_attrs = '{}' WHERE extra_attrs IS NULL;
