-- test/data/seed.sql: a data set shaped like the seed application's tables
-- (Django app "metrics"), for the demo, the tests and the benchmarks.
--
--     psql -X -v ON_ERROR_STOP=1 -f test/data/seed.sql             -- defaults
--     psql -X -v ON_ERROR_STOP=1 -v members=500 -f test/data/seed.sql
--
-- Run it in an empty database, not in a transaction block (it ends with
-- VACUUM ANALYZE).  It refuses to run where the tables already exist.
--
-- Variables (psql -v name=value):
--   members           members with Copilot/Cursor data             2250
--   days              days of history, ending today                 730
--   weeks             weeks of weekly metrics, ending this week     130
--   members_per_team  members per team                               50
--   prs_per_team_year pull requests per team and year               500
--
-- With the defaults (the seed's "50 teams" row, over two years):
--   metrics_aiusagedaily   one row per member per day, in date order:
--                          2250 x 730 = 1,642,500 rows (146 MB heap, 95 MB
--                          of indexes), half of them older than 365 days
--   metrics_weeklymetrics  one row per member per week, 2.5 years of them
--                          (older than the 730-day retention): 292,500 rows
--   metrics_pullrequest    500 per team and year: 45,000 rows
-- Values are pseudo-random but the same on every run (setseed).  Loads in
-- about 11 s on a 2-core machine.

\if :{?members}
\else
\set members 2250
\endif
\if :{?days}
\else
\set days 730
\endif
\if :{?weeks}
\else
\set weeks 130
\endif
\if :{?members_per_team}
\else
\set members_per_team 50
\endif
\if :{?prs_per_team_year}
\else
\set prs_per_team_year 500
\endif

\set ON_ERROR_STOP on
-- Quiet: no result rows from setseed() and setval(); errors still show.
\o /dev/null
SET client_min_messages = warning;
-- Index builds below go faster with more memory.
SET maintenance_work_mem = '256MB';
SELECT setseed(0.5);

--
-- AIUsageDaily: Copilot/Cursor usage per member and day, written by a nightly
-- sync, so rows arrive in date order.  Each member uses one source.
--
CREATE TABLE metrics_aiusagedaily (
    id              bigserial,
    team_id         integer NOT NULL,
    member_id       integer NOT NULL,
    date            date NOT NULL,
    source          text NOT NULL,
    suggestions     integer NOT NULL DEFAULT 0,
    acceptances     integer NOT NULL DEFAULT 0,
    lines_accepted  integer NOT NULL DEFAULT 0,
    active_minutes  integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO metrics_aiusagedaily
    (id, team_id, member_id, date, source, suggestions, acceptances,
     lines_accepted, active_minutes, created_at, updated_at)
SELECT i + 1,
       (v.m - 1) / :members_per_team + 1,
       v.m,
       v.d,
       CASE WHEN v.m % 3 = 0 THEN 'cursor' ELSE 'copilot' END,
       v.s,
       v.a,
       v.a + v.a / 2,
       (random() * 480)::integer,
       v.d + time '02:00',
       v.d + time '02:00'
FROM generate_series(0, :members::bigint * :days - 1) AS i,
     LATERAL (SELECT m, d, s, (s * (0.15 + random() * 0.25))::integer AS a
              FROM (SELECT (i % :members)::integer + 1 AS m,
                           current_date - (:days - 1) + (i / :members)::integer AS d,
                           (random() * 200)::integer AS s) AS r) AS v;

SELECT setval(pg_get_serial_sequence('metrics_aiusagedaily', 'id'),
              (SELECT max(id) FROM metrics_aiusagedaily));
ALTER TABLE metrics_aiusagedaily
    ADD CONSTRAINT metrics_aiusagedaily_pkey PRIMARY KEY (id),
    ADD CONSTRAINT metrics_aiusagedaily_member_date_source_uniq
        UNIQUE (member_id, date, source);
CREATE INDEX metrics_aiusagedaily_team_date_idx
    ON metrics_aiusagedaily (team_id, date);

--
-- WeeklyMetrics: one row per member and week (weeks start on Monday).
--
CREATE TABLE metrics_weeklymetrics (
    id              bigserial,
    team_id         integer NOT NULL,
    member_id       integer NOT NULL,
    week_start      date NOT NULL,
    prs_merged      integer NOT NULL DEFAULT 0,
    reviews         integer NOT NULL DEFAULT 0,
    commits         integer NOT NULL DEFAULT 0,
    lines_added     integer NOT NULL DEFAULT 0,
    lines_deleted   integer NOT NULL DEFAULT 0,
    ai_suggestions  integer NOT NULL DEFAULT 0,
    ai_acceptances  integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO metrics_weeklymetrics
    (id, team_id, member_id, week_start, prs_merged, reviews, commits,
     lines_added, lines_deleted, ai_suggestions, ai_acceptances, created_at)
SELECT i + 1,
       (v.m - 1) / :members_per_team + 1,
       v.m,
       v.w,
       (random() * 8)::integer,
       (random() * 12)::integer,
       (random() * 40)::integer,
       (random() * 2000)::integer,
       (random() * 800)::integer,
       (random() * 1000)::integer,
       (random() * 300)::integer,
       least(v.w + 7 + time '03:00', now())
FROM generate_series(0, :members::bigint * :weeks - 1) AS i,
     LATERAL (SELECT (i % :members)::integer + 1 AS m,
                     date_trunc('week', current_date)::date
                         - 7 * (:weeks - 1 - (i / :members)::integer) AS w) AS v;

SELECT setval(pg_get_serial_sequence('metrics_weeklymetrics', 'id'),
              (SELECT max(id) FROM metrics_weeklymetrics));
ALTER TABLE metrics_weeklymetrics
    ADD CONSTRAINT metrics_weeklymetrics_pkey PRIMARY KEY (id),
    ADD CONSTRAINT metrics_weeklymetrics_member_week_uniq
        UNIQUE (member_id, week_start);
CREATE INDEX metrics_weeklymetrics_team_week_idx
    ON metrics_weeklymetrics (team_id, week_start);

--
-- PullRequest: core data, kept forever.  Spread evenly over the period, in
-- creation order; the last two weeks' are partly still open.
--
CREATE TABLE metrics_pullrequest (
    id              bigserial,
    team_id         integer NOT NULL,
    author_id       integer NOT NULL,
    repo            text NOT NULL,
    number          integer NOT NULL,
    title           text NOT NULL,
    state           text NOT NULL,
    additions       integer NOT NULL DEFAULT 0,
    deletions       integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    merged_at       timestamptz,
    closed_at       timestamptz
);

\set teams '((' :members ' + ' :members_per_team ' - 1) / ' :members_per_team ')'
\set prs '(' :teams ' * ' :prs_per_team_year ' * ' :days ' / 365)'

INSERT INTO metrics_pullrequest
    (id, team_id, author_id, repo, number, title, state, additions, deletions,
     created_at, updated_at, merged_at, closed_at)
SELECT i + 1,
       v.t,
       least((v.t - 1) * :members_per_team + 1 + (random() * (:members_per_team - 1))::integer,
             :members),
       format('acme/team-%s-service-%s', v.t, v.j % 4),
       v.j,
       format('Change %s of team %s', v.j, v.t),
       v.state,
       (random() * 600)::integer,
       (random() * 300)::integer,
       v.c,
       least(v.c + v.open_for, now()),
       CASE WHEN v.state = 'merged' THEN v.c + v.open_for END,
       CASE WHEN v.state <> 'open' THEN v.c + v.open_for END
FROM generate_series(0, :prs - 1) AS i,
     LATERAL (SELECT t, j, c, open_for,
                     CASE WHEN c + open_for > now() THEN 'open'
                          WHEN c > now() - interval '14 days' AND random() < 0.3 THEN 'open'
                          WHEN random() < 0.88 THEN 'merged'
                          ELSE 'closed' END AS state
              FROM (SELECT (i % :teams)::integer + 1 AS t,
                           (i / :teams)::integer + 1 AS j,
                           (current_date - (:days - 1))::timestamptz
                               + (now() - (current_date - (:days - 1))::timestamptz)
                                 * i / :prs AS c,
                           random() * interval '72 hours' AS open_for) AS r) AS v;

SELECT setval(pg_get_serial_sequence('metrics_pullrequest', 'id'),
              (SELECT max(id) FROM metrics_pullrequest));
ALTER TABLE metrics_pullrequest
    ADD CONSTRAINT metrics_pullrequest_pkey PRIMARY KEY (id),
    ADD CONSTRAINT metrics_pullrequest_repo_number_uniq UNIQUE (repo, number);
CREATE INDEX metrics_pullrequest_team_created_idx
    ON metrics_pullrequest (team_id, created_at);

RESET maintenance_work_mem;
RESET client_min_messages;
\o

-- A table that has been in use for two years is vacuumed: set the hint bits
-- and visibility map now, so that later timings do not pay for them.
VACUUM ANALYZE metrics_aiusagedaily, metrics_weeklymetrics, metrics_pullrequest;
