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
is( $node->safe_psql('alert',
		"SELECT status FROM pgscale_health() WHERE check_name = 'failing maintenance'"),
	'warn', 'pgscale_health() warns once a policy failed three times')
  if poll_until(
	$node, 'alert',
	"SELECT consecutive_failures >= 3 FROM pgscale_policy_status()", 't', 60);

$listener->quit;
$node->stop;
done_testing();
