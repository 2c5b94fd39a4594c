# The worker acts on each table as its owner.  Its role (pgscale.role) is
# the bootstrap superuser by default; a table owner's trigger and CHECK
# function that make their owner superuser when they run as one must find
# themselves running as the owner, in the worker's purge and in its
# premake (rows moved out of the default partition).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node(
	'owner_code',
	conf => [ "pgscale.databases = 'postgres'", "pgscale.naptime = 1" ]);
$node->start;

$node->safe_psql('postgres',
	'CREATE EXTENSION pgscale;'
	  . slurp_file("$ENV{TESTDIR}/test/data/hostile_owner.sql")
	  . q{
CREATE TABLE ev (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO ev (ts) SELECT now() - g * interval '1 day' FROM generate_series(1, 40) g;
CREATE TRIGGER escalate BEFORE DELETE ON ev
    FOR EACH ROW EXECUTE FUNCTION escalate_trigger();
CREATE TABLE pev (ts timestamptz NOT NULL CHECK (hostile.escalate('check')))
    PARTITION BY RANGE (ts);
CREATE TABLE pev_default PARTITION OF pev DEFAULT;
INSERT INTO pev VALUES (date_trunc('month', now()) + interval '1 month 1 day');
TRUNCATE seen;
SELECT pgscale_set_retention('ev', interval '30 days', 'ts');
SELECT pgscale_set_partitioning('pev', 2);
});

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM hostile.ev WHERE ts < now() - interval '30 days'",
		'0', 30),
	'the worker purged the expired rows of the hostile table');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM hostile.pev_default", '0', 30),
	'... and premake moved the future row out of the default partition');
is( $node->safe_psql(
		'postgres',
		"SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hostile'"),
	'f', 'the owner did not become superuser');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(DISTINCT who || ':' || what, ',' ORDER BY who || ':' || what)
		 FROM hostile.seen"),
	'regress_hostile:DELETE ev,regress_hostile:check',
	'the trigger and the CHECK ran, as the owner');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM pgscale_log WHERE action = 'error'"),
	'0', 'no error logged');

$node->stop;
done_testing();
