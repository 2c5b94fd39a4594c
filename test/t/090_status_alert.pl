# A failing cycle of the background worker is sent as NOTIFY pgscale_alert
# with a JSON payload (database, table, action, error, consecutive
# failures), so that a listening session hears of it without polling; and
# pgscale_policy_status() counts the failures in a row and shows when the
# worker's next cycle is due.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = pgscale_node('alert',
	conf => [ "pgscale.databases = 'alert'", "pgscale.naptime = 1" ]);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE alert');
$node->safe_psql('alert', 'CREATE EXTENSION pgscale');

# a table whose owner's trigger refuses every delete: each cycle fails on it
$node->safe_psql('alert', q{
	CREATE TABLE refusing (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
	INSERT INTO refusing (ts) SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
	CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN RAISE EXCEPTION 'refusing keeps its rows'; END$$;
	CREATE TRIGGER refuse BEFORE DELETE ON refusing FOR EACH ROW EXECUTE FUNCTION refuse();
});

my $listener = $node->background_psql('alert');
$listener->query_safe('LISTEN pgscale_alert');
$node->safe_psql('alert',
	"SELECT pgscale_set_retention('refusing', interval '30 days', 'ts')");

# psql prints the notifications it received after the next statement
my $payload;
my $deadline = time() + 60;
while (time() < $deadline)
{
	my $out = $listener->query('SELECT 1');
	if ($out =~ /Asynchronous notification "pgscale_alert" with payload "(.*)" received/)
	{
		$payload = $1;
		last;
	}
	usleep(200_000);
}
ok(defined $payload, 'the listening session received NOTIFY pgscale_alert');
$payload //= '{}';
my $q = $payload;
$q =~ s/'/''/g;
is( $node->safe_psql('alert',
		"SELECT concat_ws('|', j->>'database', j->>'table', j->>'action',
		                  j->>'error' ~ 'refusing keeps its rows',
		                  (j->>'consecutive_failures')::int >= 1)
		 FROM (SELECT '$q'::json AS j) s"),
	'alert|public.refusing|retention|t|t',
	'the payload is JSON: database, table, action, error, consecutive failures');

# the next cycles fail too: pgscale_policy_status() counts them, and knows
# when the worker comes back
ok( poll_until(
		$node, 'alert',
		"SELECT consecutive_failures >= 2 AND last_success IS NULL
		        AND last_error ~ 'refusing keeps its rows' AND next_run IS NOT NULL
		 FROM pgscale_policy_status() WHERE table_name = 'refusing'::regclass",
		't', 60),
	'pgscale_policy_status(): failures in a row counted, the next run known');
ok( poll_until(
		$node, 'alert',
		"SELECT consecutive_failures >= 3 FROM pgscale_policy_status()", 't', 60),
	'three failures in a row');
is( $node->safe_psql('alert',
		"SELECT status FROM pgscale_health() WHERE check_name = 'failing maintenance'"),
	'warn', 'pgscale_health() warns once a policy failed three times');

# with the worker switched off: no next run; a cleanup run by hand sends
# no alert (its caller sees the error), one run by pg_cron does, with an
# error cut so that the payload stays under NOTIFY's 8000 bytes
$node->safe_psql('alert', 'ALTER SYSTEM SET pgscale.enabled = off');
$node->safe_psql('alert', 'SELECT pg_reload_conf()');
ok( poll_until(
		$node, 'alert',
		"SELECT next_run IS NULL FROM pgscale_policy_status()
		 WHERE table_name = 'refusing'::regclass",
		't', 30),
	'pgscale.enabled off: no next run');
ok( poll_until(
		$node, 'alert',
		"SELECT count(*) FROM pgscale_worker_status() WHERE running", '0', 30),
	'... and no cycle running');
$node->safe_psql('alert', q{
	CREATE TABLE longerr (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
	INSERT INTO longerr (ts) SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
	CREATE FUNCTION refuse_long() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN RAISE EXCEPTION 'long: %', repeat('x', 10000); END$$;
	CREATE TRIGGER refuse BEFORE DELETE ON longerr FOR EACH ROW EXECUTE FUNCTION refuse_long();
	SELECT pgscale_set_retention('longerr', interval '30 days', 'ts');
});
$listener->query_safe('SELECT 1');    # what came before is read and dropped
my $manual = $listener->query(
	"SET client_min_messages = error; SELECT count(*) FROM pgscale_cleanup(relation => 'longerr')");
unlike($manual, qr/pgscale_alert/, 'a cleanup run by hand sends no alert');
my $cron = $listener->query(
	"SET application_name = 'pg_cron'; SELECT count(*) FROM pgscale_cleanup(relation => 'longerr')");
my ($long) = $cron =~ /Asynchronous notification "pgscale_alert" with payload "(.*)" received/;
ok(defined $long, 'a cleanup run by pg_cron sends one');
$long //= '{}';
ok(length($long) < 8000, 'the payload stays under 8000 bytes (' . length($long) . ')');
$q = $long;
$q =~ s/'/''/g;
is( $node->safe_psql('alert',
		"SELECT concat_ws('|', j->>'table', length(j->>'error') BETWEEN 1000 AND 4000,
		                  j->>'consecutive_failures')
		 FROM (SELECT '$q'::json AS j) s"),
	'public.longerr|t|2', '... valid JSON, its error cut, the failures in a row counted');

$listener->quit;
$node->stop;
done_testing();
