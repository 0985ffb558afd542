-- Every refresh rotation sets its family's
-- last_used_at. With an index on that column no such update could be HOT
-- (heap-only): each one wrote a new row version plus an entry in all four of
-- the table's indexes, and the indexes bloated (make bench's cluster: 60 families
-- after ~86,000 rotations, 211 of them HOT; 256 kB of table, 2.2 MB of
-- index, PostgreSQL's CPU per rotation growing from run to run).
--
-- Nothing reads through that index: families are found by id, and the
-- janitor's purge ORs last_used_at with revoked_at, which has no index, so
-- it scans the table in any case (EXPLAIN: Seq Scan on refresh_families).
-- Without it the update touches no indexed column, and the room that the
-- fillfactor leaves on each page takes the new version there.
DROP INDEX refresh_families_last_used;
ALTER TABLE refresh_families SET (fillfactor = 80);
