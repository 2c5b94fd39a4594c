-- A hostile table owner, for the tests that check that a table owner's
-- code runs as the owner (sql/owner_code.sql, test/t/060_owner_code.pl):
-- role regress_hostile owns schema hostile, in which escalate() makes its
-- owner superuser whenever it runs as a superuser, and records in
-- hostile.seen who ran it and why.  Leaves the session as regress_hostile,
-- with search_path hostile, public.
CREATE ROLE regress_hostile;
CREATE SCHEMA hostile AUTHORIZATION regress_hostile;
SET ROLE regress_hostile;
SET search_path = hostile, public;

CREATE TABLE seen (who name, what text);
CREATE FUNCTION escalate(what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hostile.seen VALUES (current_user, what);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE regress_hostile SUPERUSER';
    END IF;
    RETURN true;
END $$;
CREATE FUNCTION escalate_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hostile.escalate(TG_OP || ' ' || TG_TABLE_NAME);
    RETURN OLD;
END $$;
