# pgscale_metrics(), pgscale_metrics_text() and queries.yaml: the samples of
# policies with known states (one out of compliance, one cleaned, one
# failing twice in a row, a partitioned one with premade months and rows in
# its default partition, one with a name that needs escaping), read by a
# pg_monitor role and while a table is locked; the text read by a
# Prometheus parser (test/metrics_check.py, Debian's
# python3-prometheus-client); every postgres_exporter query of queries.yaml
# run, its columns against the file's, its metric names against the
# function's.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use JSON::PP;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node('metrics');
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pgscale;
-- out of compliance: rows 40 days old, 30 kept, never cleaned
CREATE TABLE late (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
CREATE INDEX ON late (ts);
INSERT INTO late (ts) SELECT now() - g * interval '1 day' FROM generate_series(0, 40) g;
SELECT pgscale_set_retention('late', '30 days', 'ts');
-- cleaned: compliant, with rows removed
CREATE TABLE clean (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO clean (ts) SELECT now() - g * interval '1 day' FROM generate_series(0, 40) g;
SELECT pgscale_set_retention('clean', '30 days', 'ts');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'clean', force => true);
-- failing twice in a row
CREATE TABLE failing (ts timestamptz NOT NULL);
INSERT INTO failing SELECT now();
SELECT pgscale_set_retention('failing', '30 days', 'ts');
INSERT INTO pgscale_log (table_name, relid, action, source, detail)
SELECT 'failing', 'failing'::regclass, 'error', 'worker', 'a failure, for the test'
  FROM generate_series(1, 2);
-- partitioned: months premade ahead, 3 rows in the default partition
CREATE TABLE part (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE part_default PARTITION OF part DEFAULT;
SELECT pgscale_set_partitioning('part', 2);
SELECT count(*) FROM pgscale_create_month_partitions('part', 2);
INSERT INTO part_default VALUES ('2001-01-01'), ('2001-01-02'), ('2001-01-03');
SELECT pgscale_set_retention('part', '100 years', 'ts');
-- a name a label must escape
CREATE TABLE "we""ird\name" (ts timestamptz NOT NULL);
INSERT INTO "we""ird\name" SELECT now();
SELECT pgscale_set_retention('"we""ird\name"', '30 days', 'ts');
CREATE ROLE regress_mon LOGIN IN ROLE pg_monitor;
});

sub sample
{
	my ($metric, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT value FROM pgscale_metrics() WHERE metric = '$metric' AND labels->>'table' = '$table'");
}

is(sample('pgscale_policy_compliant', 'public.late'), '0', 'a table with rows past its retention is not compliant');
is(sample('pgscale_policy_compliant', 'public.clean'), '1', 'a cleaned table is');
is(sample('pgscale_policy_retention_seconds', 'public.clean'), 30 * 86400, 'the retention in seconds');
ok(sample('pgscale_policy_oldest_row_age_seconds', 'public.late') > 39 * 86400,
	'the oldest row of the late table is 40 days old');
is( $node->safe_psql('postgres',
		"SELECT labels->>'source' FROM pgscale_metrics()
		  WHERE metric = 'pgscale_policy_oldest_row_age_seconds' AND labels->>'table' = 'public.late'"),
	'index', 'found through the index on the time column');
is(sample('pgscale_policy_consecutive_failures', 'public.failing'), '2', 'two failures in a row');
is(sample('pgscale_policy_consecutive_failures', 'public.clean'), '0', 'none for the cleaned table');
is(sample('pgscale_policy_last_success_age_seconds', 'public.failing'), 'Infinity',
	'a policy that never succeeded: +Inf');
ok(sample('pgscale_policy_last_success_age_seconds', 'public.clean') < 3600, 'the cleaned one just did');
is(sample('pgscale_policy_rows_removed_30d', 'public.clean'), '11', 'rows removed in 30 days');
ok(sample('pgscale_policy_premade_months', 'public.part') >= 2, 'months premade ahead');
is(sample('pgscale_policy_default_partition_rows', 'public.part'), '3', 'rows in the default partition');
is(sample('pgscale_policy_partition_gaps', 'public.part'), '0', 'no gaps');

# sizes come from the latest size snapshot: none yet, and it says so
my $server_wide = "SELECT string_agg(DISTINCT metric, ',' ORDER BY metric) FROM pgscale_metrics()
		  WHERE metric NOT LIKE 'pgscale\\_policy\\_%'
		    AND metric NOT LIKE 'pgscale\\_table\\_%' AND metric NOT LIKE 'pgscale\\_worker\\_%'";
is($node->safe_psql('postgres', $server_wide),
	'pgscale_cache_hit_ratio,pgscale_connections,pgscale_max_connections,pgscale_snapshot_age_seconds,'
	  . 'pgscale_wraparound_age',
	'without a snapshot: no size samples');
is($node->safe_psql('postgres',
		"SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_snapshot_age_seconds'"),
	'Infinity', 'and the snapshot age is +Inf');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_metrics() WHERE metric LIKE 'pgscale\\_table\\_%'"),
	'0', 'no table sizes either');

$node->safe_psql('postgres', 'SELECT pgscale_snapshot_sizes()');
is($node->safe_psql('postgres', $server_wide),
	'pgscale_cache_hit_ratio,pgscale_connections,pgscale_database_bytes,pgscale_duplicate_index_bytes,'
	  . 'pgscale_max_connections,pgscale_snapshot_age_seconds,pgscale_unused_index_bytes,pgscale_wraparound_age',
	'the server-wide samples, after a snapshot');
ok($node->safe_psql('postgres',
		"SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_snapshot_age_seconds'") < 3600,
	'the snapshot is recent');
is( $node->safe_psql('postgres',
		"SELECT (SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_unused_index_bytes')
		        = (SELECT coalesce(sum(index_bytes), 0) FROM pgscale_unused_indexes()),
		        (SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_duplicate_index_bytes')
		        = (SELECT coalesce(sum(index_bytes), 0) FROM pgscale_duplicate_indexes()),
		        (SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_database_bytes') > 0"),
	't|t|t', 'unused and duplicate index bytes as the diagnostics list them, the database size');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_metrics() WHERE metric = 'pgscale_table_total_bytes'
		    AND labels->>'table' IN ('public.late', 'public.part')"),
	'2', 'table sizes, partitions summed at their parent');

# a stale snapshot shows its age; a newer one replaces it
$node->safe_psql('postgres',
	"UPDATE pgscale_inventory SET taken_at = taken_at - interval '3 days';
	 UPDATE pgscale_size_history SET taken_at = taken_at - interval '3 days'");
ok($node->safe_psql('postgres',
		"SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_snapshot_age_seconds'") > 3 * 86400,
	'a stale snapshot: its age says so');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_metrics() WHERE metric = 'pgscale_table_total_bytes'
		    AND labels->>'table' IN ('public.late', 'public.part')"),
	'2', 'its sizes still exported');
$node->safe_psql('postgres', 'SELECT pgscale_snapshot_sizes()');
ok($node->safe_psql('postgres',
		"SELECT value FROM pgscale_metrics() WHERE metric = 'pgscale_snapshot_age_seconds'") < 3600,
	'the newest snapshot is the one read');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_metrics() WHERE metric = 'pgscale_table_total_bytes'
		    AND labels->>'table' = 'public.late'"),
	'1', 'once per table');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_metrics() WHERE value IS NULL OR help IS NULL OR labels IS NULL"),
	'0', 'every sample has a value, labels and a help text');

# a pg_monitor role sees every policy
is( $node->safe_psql('postgres',
		"SET ROLE regress_mon; SELECT count(*) FROM pgscale_metrics() WHERE metric = 'pgscale_policy_consecutive_failures'"),
	'5', 'a pg_monitor role reads the samples of every policy');

# a table locked against readers: the answer comes at once, without the
# samples that need its rows, with those of the other policies
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE late IN ACCESS EXCLUSIVE MODE;');
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '5s';
	 SELECT count(*) FILTER (WHERE labels->>'table' = 'public.late'
	                           AND metric IN ('pgscale_policy_compliant', 'pgscale_policy_oldest_row_age_seconds')),
	        count(*) FILTER (WHERE labels->>'table' = 'public.late' AND metric = 'pgscale_policy_consecutive_failures'),
	        count(*) FILTER (WHERE labels->>'table' = 'public.clean' AND metric = 'pgscale_policy_compliant'),
	        count(*) FILTER (WHERE metric = 'pgscale_table_total_bytes' AND labels->>'table' = 'public.late')
	   FROM pgscale_metrics()");
is($ret, 0, 'pgscale_metrics() does not wait for a locked table') or diag($err);
is($out, '0|1|1|1',
	'the locked table has no compliance or oldest-row sample; its runs, the other policies and the snapshot sizes are there');
($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '5s'; SELECT length(pgscale_metrics_text()) > 0");
is($ret, 0, 'nor does pgscale_metrics_text()') or diag($err);
$locker->query_safe('ROLLBACK');
$locker->quit;

# the text, for a parser
my $text = $node->safe_psql('postgres', 'SELECT pgscale_metrics_text()');
my $samples = $node->safe_psql('postgres', 'SELECT count(*) FROM pgscale_metrics()');
like($text, qr/^# HELP pgscale_cache_hit_ratio /m, 'HELP lines');
like($text, qr/^# TYPE pgscale_policy_compliant gauge$/m, 'TYPE lines');
like($text, qr/^# TYPE pgscale_worker_cycles_total counter$/m, 'counters end in _total')
  if $text =~ /pgscale_worker_cycles_total/;
like($text, qr/^pgscale_policy_last_success_age_seconds\{table="public\.failing"\} \+Inf$/m, '+Inf spelled as Prometheus does');
like($text, qr/^pgscale_policy_compliant\{table="public\.\\"we\\"\\"ird\\\\name\\""\} [01]$/m,
	'quotes and backslashes of a label value escaped');

my $checker = "$FindBin::RealBin/../metrics_check.py";
SKIP:
{
	skip 'python3-prometheus-client (Debian) is not installed', 3
	  if system('/usr/bin/python3', '-c', 'import prometheus_client, yaml') != 0;

	my ($stdout, $stderr);
	IPC::Run::run([ '/usr/bin/python3', $checker ], '<', \$text, '>', \$stdout, '2>', \$stderr);
	is($?, 0, 'the exposition is valid for a Prometheus parser') or diag($stdout . $stderr);
	like($stdout, qr/samples $samples$/m, 'the parser reads every sample');

	# queries.yaml for postgres_exporter
	IPC::Run::run([ '/usr/bin/python3', $checker, '--queries', "$FindBin::RealBin/../../queries.yaml" ],
		'>', \$stdout, '2>', \$stderr);
	my @queries = map { decode_json($_) } grep { /\S/ } split /\n/, $stdout;
	my $source = $node->safe_psql('postgres',
		"SELECT prosrc FROM pg_proc WHERE oid = 'pgscale_metrics()'::regprocedure");
	my @faults;
	for my $q (@queries)
	{
		my $sql = $q->{query};
		my $got = $node->safe_psql('postgres',
			"SET ROLE regress_mon; SELECT string_agg(k, ',' ORDER BY k)
			   FROM (SELECT DISTINCT jsonb_object_keys(to_jsonb(q)) AS k FROM ($sql) q) s");
		my $want = join(',', sort keys %{ $q->{columns} });
		push @faults, "$q->{namespace}: columns $got, the file says $want" if $got ne $want;
		for my $col (sort keys %{ $q->{columns} })
		{
			next if $q->{columns}{$col} ne 'GAUGE';
			my $name = "$q->{namespace}_$col";
			push @faults, "$q->{namespace}: $name is not a metric of pgscale_metrics()"
			  unless index($source, "'$name'") >= 0;
		}
	}
	ok(@queries >= 5 && !@faults,
		scalar(@queries) . ' postgres_exporter queries run, their columns and names match')
	  or diag(join("\n", @faults));
}

$node->stop;
done_testing();
