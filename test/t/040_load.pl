# Load: a pgbench workload of seed-like inserts (a share of them already
# expired) and dashboard reads, with and without the background worker
# enforcing retention and premaking partitions every 5 seconds.  Zero failed
# application transactions, throughput with the worker at least 90% of
# throughput without it (medians of alternating runs), and no expired row
# left at the end.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = $ENV{PGSCALE_LOAD_SECONDS} // 24;
my $pairs = $ENV{PGSCALE_LOAD_PAIRS} // 4;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgscale'
pgscale.databases = 'postgres'
pgscale.naptime = 5
pgscale.enabled = off
max_connections = 50
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pgscale;
	CREATE TABLE metrics (id bigserial, team_id int NOT NULL, member_id int NOT NULL,
	                      date date NOT NULL, suggestions int, PRIMARY KEY (id, date))
	    PARTITION BY RANGE (date);
	CREATE INDEX ON metrics (team_id, date);
	CREATE TABLE metrics_default PARTITION OF metrics DEFAULT;
	SELECT count(*) FROM pgscale_create_month_partitions('metrics', 2,
	    (date_trunc('month', current_date) - interval '25 months')::date);
	INSERT INTO metrics (team_id, member_id, date, suggestions)
	SELECT m % 50, m, current_date - d, m FROM generate_series(0, 729, 3) d, generate_series(1, 300) m;
	SELECT pgscale_set_retention('metrics', '365 days');
	SELECT pgscale_set_partitioning('metrics', 2);
	SELECT * FROM pgscale_cleanup();
	VACUUM ANALYZE metrics;
});

# disabled, the worker starts no cycle but still shows its databases
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pgscale_worker_status()
	WHERE database = 'postgres' AND cycles = 0 AND next_cycle IS NULL}),
	'pgscale.enabled = off: the database is listed, no cycle is due');

# one in five inserts is already expired (late data), so the worker always
# has rows to delete; reads are the dashboards' last-30-days sums
my $script = $node->basedir . '/workload.sql';
open(my $fh, '>', $script) or die;
print $fh q{
\set member random(1, 3000)
\set age random(0, 499)
\set team random(0, 49)
INSERT INTO metrics (team_id, member_id, date, suggestions)
VALUES (:member % 50, :member, current_date - (CASE WHEN :age < 100 THEN 366 + :age ELSE :age % 300 END), 1);
SELECT sum(suggestions) FROM metrics WHERE team_id = :team AND date >= current_date - 30;
};
close $fh;

sub run_load
{
	my ($label) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(
		[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', $seconds, '-f', $script,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$stdout, '2>', \$stderr);
	my ($tps) = $stdout =~ /tps = ([0-9.]+)/;
	my ($failed) = $stdout =~ /number of failed transactions: (\d+)/;
	$failed //= ($ok ? 0 : 1);
	note("$label: tps $tps, failed $failed");
	return ($tps // 0, $failed);
}

sub set_worker
{
	my ($on) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET pgscale.enabled = " . ($on ? 'on' : 'off') . "; SELECT pg_reload_conf();");
}

sub median
{
	my @s = sort { $a <=> $b } @_;
	my $n = scalar @s;
	return $n % 2 ? $s[ ($n - 1) / 2 ] : ($s[ $n / 2 - 1 ] + $s[ $n / 2 ]) / 2;
}

# pairs of runs, the order alternating, so that the table's growth during
# the test favours neither side; each pair gives a ratio, and the median of
# the pairs' ratios is what counts (drift between pairs cancels out)
my (@without, @with, @ratios);
my $failures = 0;
foreach my $pair (1 .. $pairs)
{
	my %tps;
	foreach my $on ($pair % 2 ? (0, 1) : (1, 0))
	{
		set_worker($on);
		my ($tps, $failed) = run_load("pair $pair " . ($on ? 'with' : 'without') . ' the worker');
		$tps{$on} = $tps;
		$failures += $failed;
	}
	push @without, $tps{0};
	push @with, $tps{1};
	push @ratios, $tps{0} > 0 ? $tps{1} / $tps{0} : 0;
}
set_worker(1);
my $cycles = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pgscale_log WHERE source = 'worker' AND action = 'delete'});

is($failures, 0, 'no application transaction failed');
cmp_ok($cycles, '>', 0, 'the worker deleted expired rows during the load');
my $ratio = median(@ratios);
note(sprintf('median tps without the worker %.1f, with %.1f; pair ratios %s; median ratio %.3f',
	median(@without), median(@with), join(' ', map { sprintf('%.3f', $_) } @ratios), $ratio));
cmp_ok($ratio, '>=', 0.9, 'throughput with the worker is at least 90% of without');

# the worker finishes what the last seconds left behind
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM metrics WHERE date < current_date - 365})
  or diag('expired rows are still there');
is($node->safe_psql('postgres', q{SELECT count(*) FROM metrics WHERE date < current_date - 365}),
	'0', 'no expired row is left at the end');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pgscale_log WHERE action = 'error'}),
	'0', 'no maintenance error during the load');

$node->stop;
done_testing();
