--
-- Foreign keys on a Django schema (DEFERRABLE INITIALLY DEFERRED, no ON
-- DELETE action): for each choice of on_referenced, the dry run equals the
-- real run table by table, no expired row is left where the choice allows,
-- no kept row goes, and nothing is orphaned.  One transaction, rolled back.
--
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgscale;
SET LOCAL client_min_messages = error;

SELECT plan(26);

CREATE SCHEMA pgscale_r;
-- authors <- books <- reviews (a chain of three); awards also reference
-- books (two tables on the same rows); shelves reference themselves.
CREATE TABLE pgscale_r.author (id int PRIMARY KEY, created timestamptz NOT NULL);
CREATE TABLE pgscale_r.book (id int PRIMARY KEY, created timestamptz NOT NULL, author_id int NOT NULL);
ALTER TABLE pgscale_r.book ADD CONSTRAINT book_author_id_fk FOREIGN KEY (author_id)
    REFERENCES pgscale_r.author (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ON pgscale_r.book (author_id);
CREATE TABLE pgscale_r.review (id serial PRIMARY KEY, book_id int NOT NULL);
ALTER TABLE pgscale_r.review ADD CONSTRAINT review_book_id_fk FOREIGN KEY (book_id)
    REFERENCES pgscale_r.book (id) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE pgscale_r.award (id serial PRIMARY KEY, book_id int NOT NULL);
ALTER TABLE pgscale_r.award ADD CONSTRAINT award_book_id_fk FOREIGN KEY (book_id)
    REFERENCES pgscale_r.book (id) DEFERRABLE INITIALLY DEFERRED;

CREATE FUNCTION pgscale_r.fill() RETURNS void LANGUAGE sql AS $$
    -- (checks of earlier inserts are pending in this one transaction)
    SET CONSTRAINTS ALL IMMEDIATE;
    SET CONSTRAINTS ALL DEFERRED;
    TRUNCATE pgscale_r.review, pgscale_r.award, pgscale_r.book, pgscale_r.author;
    -- 40 authors, every 2nd one expired; each has 2 books, recent or old
    INSERT INTO pgscale_r.author
    SELECT g, CASE WHEN g % 2 = 0 THEN now() - interval '90 days' ELSE now() END
    FROM generate_series(1, 40) g;
    INSERT INTO pgscale_r.book
    SELECT g, CASE WHEN g % 3 = 0 THEN now() - interval '90 days' ELSE now() END, (g + 1) / 2
    FROM generate_series(1, 80) g;
    INSERT INTO pgscale_r.review (book_id) SELECT g FROM generate_series(1, 80, 3) g;
    INSERT INTO pgscale_r.award (book_id) SELECT g FROM generate_series(2, 80, 10) g;
$$;

CREATE FUNCTION pgscale_r.orphans() RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM pgscale_r.book b WHERE NOT EXISTS (SELECT FROM pgscale_r.author a WHERE a.id = b.author_id))
         + (SELECT count(*) FROM pgscale_r.review r WHERE NOT EXISTS (SELECT FROM pgscale_r.book b WHERE b.id = r.book_id))
         + (SELECT count(*) FROM pgscale_r.award w WHERE NOT EXISTS (SELECT FROM pgscale_r.book b WHERE b.id = w.book_id))
$$;

-- dry run and real run of one table, table by table
CREATE FUNCTION pgscale_r.same_as_dry_run(rel regclass, description text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    dry text;
    real_run text;
BEGIN
    SELECT string_agg(format('%s:%s:%s', table_name, reached_through, rows_deleted), ' ' ORDER BY table_name::text)
      INTO dry FROM pgscale_cleanup(dry_run => true, relation => rel);
    SELECT string_agg(format('%s:%s:%s', table_name, reached_through, rows_deleted), ' ' ORDER BY table_name::text)
      INTO real_run FROM pgscale_cleanup(relation => rel);
    RETURN is(real_run, dry, description);
END
$$;

SET LOCAL search_path = pgscale_r, public;

-- error: nothing of the authors is touched
SELECT fill();
INSERT INTO author SELECT g, now() - interval '90 days' FROM generate_series(41, 50) g;
SELECT pgscale_set_retention('author', '30 days', 'created');
SELECT same_as_dry_run('author', 'error: the dry run says what the run does');
SELECT is((SELECT count(*) FROM author), 50::bigint, 'error: every author is still there');
SELECT is((SELECT count(*) FROM pgscale_log WHERE relid = 'author'::regclass AND action = 'error'
             AND detail LIKE 'blocked by foreign keys: 20 expired rows are referenced by table pgscale_r.book through constraint "book_author_id_fk"'),
          1::bigint, 'error: logged, naming the constraint, the table and the count');

-- cascade: books, then their reviews and awards, go with their authors
SELECT pgscale_set_retention('author', '30 days', on_referenced => 'cascade');
SELECT results_eq(
    $$SELECT table_name::text, reached_through, rows_deleted FROM pgscale_cleanup(dry_run => true, relation => 'author') ORDER BY 1$$,
    $$SELECT 'author', NULL::text, count(*) FROM author WHERE created < now() - interval '30 days'
      UNION ALL
      SELECT 'award', 'award_book_id_fk', count(*) FROM award w JOIN book b ON b.id = w.book_id
        JOIN author a ON a.id = b.author_id WHERE a.created < now() - interval '30 days'
      UNION ALL
      SELECT 'book', 'book_author_id_fk', count(*) FROM book b
        JOIN author a ON a.id = b.author_id WHERE a.created < now() - interval '30 days'
      UNION ALL
      SELECT 'review', 'review_book_id_fk', count(*) FROM review r JOIN book b ON b.id = r.book_id
        JOIN author a ON a.id = b.author_id WHERE a.created < now() - interval '30 days'
      ORDER BY 1$$,
    'cascade: the dry run names every table reached, the key it was reached through and its rows');
SELECT same_as_dry_run('author', 'cascade: the run does what the dry run said');
SELECT is((SELECT count(*) FROM author WHERE created < now() - interval '30 days'), 0::bigint,
          'cascade: no expired author left');
SELECT is((SELECT count(*) FROM author), 20::bigint, 'cascade: every recent author kept');
SELECT is((SELECT count(*) FROM book), 40::bigint, '... with all their books, old ones too');
SELECT is(orphans(), 0::bigint, 'cascade: nothing orphaned');

-- keep: authors with books stay, the others go
SELECT fill();
INSERT INTO author SELECT g, now() - interval '90 days' FROM generate_series(41, 50) g;
SELECT pgscale_set_retention('author', '30 days', on_referenced => 'keep');
SELECT same_as_dry_run('author', 'keep: the run does what the dry run said');
SELECT is((SELECT count(*) FROM author WHERE created < now() - interval '30 days'), 20::bigint,
          'keep: the expired authors with books stay');
SELECT is((SELECT count(*) FROM author WHERE id > 40), 0::bigint, 'keep: those without books go');
SELECT is((SELECT count(*) FROM book), 80::bigint, 'keep: no book touched');

-- books, referenced by reviews and by awards (two tables on the same rows)
SELECT pgscale_remove_policy('author');
SELECT fill();
SELECT pgscale_set_retention('book', '30 days', 'created', on_referenced => 'keep');
SELECT same_as_dry_run('book', 'keep, two referencing tables: the run does what the dry run said');
SELECT is((SELECT count(*) FROM book b WHERE b.created < now() - interval '30 days'
             AND NOT EXISTS (SELECT FROM review r WHERE r.book_id = b.id)
             AND NOT EXISTS (SELECT FROM award w WHERE w.book_id = b.id)), 0::bigint,
          'keep, two referencing tables: every unreferenced expired book went');
SELECT is((SELECT count(*) FROM book b WHERE b.created < now() - interval '30 days'), 
          (SELECT count(DISTINCT b.id) FROM book b JOIN (SELECT book_id FROM review UNION SELECT book_id FROM award) r
             ON r.book_id = b.id WHERE b.created < now() - interval '30 days'),
          '... and every referenced one stayed');
SELECT fill();
SELECT count(*) AS recent_reviews FROM review r JOIN book b ON b.id = r.book_id
WHERE b.created >= now() - interval '30 days' \gset
SELECT pgscale_set_retention('book', '30 days', on_referenced => 'cascade');
SELECT same_as_dry_run('book', 'cascade, two referencing tables: the run does what the dry run said');
SELECT is((SELECT count(*) FROM book WHERE created < now() - interval '30 days'), 0::bigint,
          'cascade, two referencing tables: no expired book left');
SELECT is(orphans(), 0::bigint, 'cascade, two referencing tables: nothing orphaned');
SELECT is((SELECT count(*) FROM review), :recent_reviews::bigint, '... and the reviews of recent books kept');

-- a cascade that would reach a protected table behaves as error
SELECT fill();
SELECT pgscale_protect('award');
SELECT same_as_dry_run('book', 'cascade into a protected table: the run does what the dry run said');
SELECT is((SELECT count(*) FROM book), 80::bigint, '... which is nothing');
SELECT is((SELECT count(*) FROM award), (SELECT count(*) FROM generate_series(2, 80, 10)), '... and the protected table is untouched');
SELECT pgscale_remove_policy('award');

-- a cycle where one policy is blocked: the others finish, it is logged
SELECT fill();
DELETE FROM pgscale_log;
SELECT pgscale_set_retention('book', '30 days', on_referenced => 'error');
CREATE TABLE other (ts timestamptz NOT NULL);
INSERT INTO other SELECT now() - g * interval '1 day' FROM generate_series(1, 60) g;
SELECT pgscale_set_retention('other', '30 days', 'ts');
SELECT lives_ok($$SELECT * FROM pgscale_run_maintenance()$$, 'a cycle with a blocked policy succeeds');
SELECT is((SELECT count(*) FROM other WHERE ts < now() - interval '30 days'), 0::bigint,
          '... the other policies are enforced');
SELECT is((SELECT count(*) FROM pgscale_log WHERE relid = 'book'::regclass AND action = 'error'), 1::bigint,
          '... and the blocked one is logged');

SELECT * FROM finish();
ROLLBACK;
