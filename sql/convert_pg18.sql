--
-- Online conversion on PostgreSQL 18 and later, where NOT NULL constraints
-- are catalogued, named, and may be NOT VALID.  Older servers skip this
-- file (expected/convert_pg18_1.out).
--
SELECT current_setting('server_version_num')::int < 180000 AS skip_test \gset
\if :skip_test
\quit
\endif
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscale;
CREATE SCHEMA cv18;
SET search_path = cv18, public;

CREATE TABLE nn (id bigserial PRIMARY KEY, d date CONSTRAINT d_required NOT NULL,
                 v int, w int);
INSERT INTO nn (d, v, w)
SELECT current_date - g, g, CASE WHEN g % 2 = 0 THEN g END FROM generate_series(1, 100) g;
ALTER TABLE nn ADD CONSTRAINT v_present NOT NULL v;
-- rows written from now on must have w, the old ones need not
ALTER TABLE nn ADD CONSTRAINT w_present NOT NULL w NOT VALID;

-- refused before anything is changed, naming the constraint
\set VERBOSITY default
CALL pgscale_partition_table('nn', 'd', extend_keys => true);
\set VERBOSITY terse
SELECT relkind FROM pg_class WHERE oid = 'nn'::regclass;
SELECT count(*) AS helper_constraints FROM pg_constraint
WHERE conrelid = 'nn'::regclass AND conname LIKE 'pgscale%';

-- once the old rows are fixed and the constraint validated, it converts,
-- and the named NOT NULL constraints keep their names
UPDATE nn SET w = 0 WHERE w IS NULL;
ALTER TABLE nn VALIDATE CONSTRAINT w_present;
CALL pgscale_partition_table('nn', 'd', extend_keys => true);
SELECT relkind FROM pg_class WHERE oid = 'nn'::regclass;
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = 'nn'::regclass AND contype = 'n' ORDER BY conname;
SELECT count(*) AS rows, count(w) AS with_w FROM nn;

DROP SCHEMA cv18 CASCADE;
