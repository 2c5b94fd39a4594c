--
-- ALTER EXTENSION pgscale UPDATE works from every released version: each
-- one is installed, updated to the default, and must then have exactly the
-- objects of a fresh install.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pgscale CASCADE;

CREATE TEMP TABLE upgrade_results (from_version text, same_objects boolean);

CREATE FUNCTION pg_temp.members() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT pg_describe_object(classid, objid, objsubid)
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE e.extname = 'pgscale' AND d.deptype = 'e'
$$;

CREATE EXTENSION pgscale;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.members() AS m;
DROP EXTENSION pgscale;

DO $$
DECLARE
    v text;
    same boolean;
BEGIN
    FOR v IN SELECT version FROM pg_available_extension_versions
             WHERE name = 'pgscale' ORDER BY string_to_array(version, '.')::int[]
    LOOP
        EXECUTE format('CREATE EXTENSION pgscale VERSION %L', v);
        ALTER EXTENSION pgscale UPDATE;
        SELECT NOT EXISTS (SELECT * FROM fresh EXCEPT SELECT * FROM pg_temp.members())
           AND NOT EXISTS (SELECT * FROM pg_temp.members() EXCEPT SELECT * FROM fresh)
          INTO same;
        INSERT INTO upgrade_results VALUES (v, same);
        DROP EXTENSION pgscale;
    END LOOP;
END $$;

SELECT count(*) >= 1 AS versions_tried, bool_and(same_objects) AS all_match
FROM upgrade_results;
CREATE EXTENSION pgscale;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pgscale')
       AS installed_default
FROM pg_extension WHERE extname = 'pgscale';
