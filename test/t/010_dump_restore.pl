# pg_dump / pg_restore of a database using pgscale keeps its policies, and
# the restored database is maintained as the original was.  The node does
# not preload pgscale: every SQL function must work without it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE SCHEMA "My App";
	CREATE EXTENSION pgscale SCHEMA "My App";
	CREATE TABLE daily (id bigserial PRIMARY KEY, d date NOT NULL);
	INSERT INTO daily (d) SELECT current_date - g FROM generate_series(0, 499) g;
	CREATE TABLE "Odd; Name" (at timestamptz NOT NULL) PARTITION BY RANGE (at);
	CREATE TABLE core (id int);
	SELECT "My App".pgscale_set_retention('daily', '100 days', 'd');
	SELECT "My App".pgscale_set_retention('"Odd; Name"', '1 year');
	SELECT "My App".pgscale_set_partitioning('"Odd; Name"', 2, 'Europe/Berlin');
	SELECT "My App".pgscale_protect('core');
});

my $policies = q{
	SELECT string_agg(format('%s|%s|%s|%s|%s|%s', table_name, time_column,
	                         retention, protected, premake_months, time_zone), ',' ORDER BY table_name::text)
	FROM "My App".pgscale_policy};
my $before = $node->safe_psql('app', $policies);

my $dump = $node->basedir . '/app.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('app'), '-f', $dump ],
	'pg_dump of a database using pgscale');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a new database');

is($node->safe_psql('restored', $policies), $before,
	'the restored policies are the same, odd names and time zones included');
is($node->safe_psql('restored',
		q{SELECT count(*) FROM "My App".pgscale_policy p
		  WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.table_name)}),
	'0', 'every restored policy points at a restored table');

# the restored database is maintained like the original
$node->safe_psql('restored', q{SELECT * FROM "My App".pgscale_run_maintenance()});
is($node->safe_psql('restored',
		q{SELECT count(*) FILTER (WHERE d < current_date - 100) || '/' || count(*) FROM daily}),
	'0/101', 'retention runs on the restored table');
is($node->safe_psql('restored',
		q{SELECT count(*) >= 3 FROM pg_inherits WHERE inhparent = '"Odd; Name"'::regclass}),
	't', 'partitions are premade on the restored table');

# not preloaded: no worker, and the status function says so without failing
is($node->safe_psql('restored', q{SHOW shared_preload_libraries}), '',
	'pgscale is not preloaded on this node');
my ($rc, $out, $err) = $node->psql('restored',
	q{SELECT count(*) FROM "My App".pgscale_worker_status()});
is($out, '0', 'pgscale_worker_status() returns no row without the worker');
like($err, qr/background worker is not running/, '... with a notice saying why');

$node->stop;
done_testing();
