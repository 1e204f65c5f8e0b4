/*
As Harbor 2.14 does for its permission tables: 64-bit ids, here the robots'.
*/
ALTER TABLE robot ALTER COLUMN id TYPE BIGINT;
ALTER SEQUENCE robot_id_seq AS BIGINT;
