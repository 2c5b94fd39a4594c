# The worker's sessions print values unambiguously (issue 6): whatever the
# database sets for DateStyle, IntervalStyle and extra_float_digits, the
# maintenance cycle runs with DateStyle ISO, IntervalStyle postgres and
# extra_float_digits 1.  A trigger fired by the cycle's retention DELETE
# records what the session has.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node(
	'settings',
	conf => [
		"pgscale.databases = 'ws'",
		"pgscale.naptime = 1",
		"pgscale.max_workers = 1",
		"pgscale.enabled = off",
	]);
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE ws');
$node->safe_psql('postgres', <<'SQL');
ALTER DATABASE ws SET DateStyle = 'SQL, DMY';
ALTER DATABASE ws SET IntervalStyle = 'sql_standard';
ALTER DATABASE ws SET extra_float_digits = -15;
ALTER DATABASE ws SET TimeZone = 'Asia/Shanghai';
SQL
$node->safe_psql('ws', <<'SQL');
CREATE EXTENSION pgscale;
CREATE TABLE seen (datestyle text, intervalstyle text, extra_float_digits text);
CREATE TABLE t (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO t (ts) SELECT now() - g * interval '1 day' FROM generate_series(0, 30) g;
CREATE FUNCTION t_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seen VALUES (current_setting('DateStyle'), current_setting('IntervalStyle'),
                             current_setting('extra_float_digits'));
    RETURN OLD;
END $$;
CREATE TRIGGER t_seen BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION t_seen();
SELECT pgscale_set_retention('t', interval '10 days', 'ts');
SQL
is($node->safe_psql('ws', 'SHOW DateStyle'), 'SQL, DMY', 'a client session has the database setting');

$node->safe_psql('postgres', "ALTER SYSTEM SET pgscale.enabled = on");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(poll_until($node, 'ws', 'SELECT count(*) > 0 FROM seen', 't', 60),
	'the worker deleted expired rows');
is($node->safe_psql('ws', 'SELECT DISTINCT datestyle, intervalstyle, extra_float_digits FROM seen'),
	'ISO, MDY|postgres|1', 'the worker runs with DateStyle ISO, IntervalStyle postgres, extra_float_digits 1');
is($node->safe_psql('ws', "SELECT count(*) FROM t WHERE ts < now() - interval '10 days'"),
	'0', 'retention ran');

$node->stop;
done_testing();
