--
-- The seed's metrics_aiusagedaily, without its indexes: :members members
-- with one row a day for 24 months up to today, in date order.  The source
-- the benchmarks copy their tables from (test/bench_cleanup.sh,
-- test/bench_pacing.sh: psql -v members=N, then \i this file).
--
CREATE TABLE bench_src (
    id bigint NOT NULL,
    member_id integer NOT NULL,
    team_id integer NOT NULL,
    date date NOT NULL,
    source varchar(20) NOT NULL,
    suggestions_shown integer NOT NULL,
    suggestions_accepted integer NOT NULL,
    lines_suggested integer NOT NULL,
    lines_accepted integer NOT NULL,
    chat_messages integer NOT NULL,
    active_minutes integer NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO bench_src
SELECT row_number() OVER (ORDER BY d, m), m, 1 + (m - 1) % 50, d,
       CASE WHEN m % 3 = 0 THEN 'cursor' ELSE 'copilot' END,
       (m * 7 + i * 13) % 400, (m * 5 + i * 11) % 120, (m * 3 + i * 17) % 900,
       (m * 11 + i * 7) % 300, (m + i) % 40, (m * 13 + i) % 480,
       d + time '06:00' + (m % 600) * interval '1 minute'
  FROM generate_series((current_date - interval '24 months')::date + 1, current_date, interval '1 day') AS day(ts),
       LATERAL (SELECT ts::date AS d, (ts::date - date '2000-01-01') AS i) AS x,
       generate_series(1, :members) AS m
 ORDER BY d, m;
VACUUM ANALYZE bench_src;
