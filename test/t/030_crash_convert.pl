# Crash in the middle of CALL pgscale_partition_table and CALL
# pgscale_split_legacy: kill -9 of the backend while the conversion waits
# at its first lock, and of the postmaster while the split is moving months.
# After each restart the table is either converted or not (never half), no
# row is missing (count and checksum against a copy), and a new call
# finishes the work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash_convert');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgscale'
restart_after_crash = on
fsync = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pgscale;
	CREATE TABLE daily (id bigserial PRIMARY KEY, member_id int NOT NULL,
	                    date date NOT NULL, v int, UNIQUE (member_id, date));
	INSERT INTO daily (member_id, date, v)
	SELECT m, current_date - d, m * d FROM generate_series(0, 299) d, generate_series(1, 200) m;
	CREATE TABLE copy AS SELECT * FROM daily;
	SELECT pgscale_set_retention('daily', '5 years', 'date');
});

my $same_rows = q{
	SELECT (SELECT count(*) FROM daily) = (SELECT count(*) FROM copy)
	   AND (SELECT md5(string_agg(id || ':' || member_id || ':' || date || ':' || v, ',' ORDER BY id)) FROM daily)
	     = (SELECT md5(string_agg(id || ':' || member_id || ':' || date || ':' || v, ',' ORDER BY id)) FROM copy)};
my $state = q{
	SELECT CASE c.relkind WHEN 'p' THEN 'converted' WHEN 'r' THEN 'plain' END
	       || '/' || (SELECT count(*) FROM pg_inherits WHERE inhparent = c.oid)
	FROM pg_class c WHERE c.oid = 'daily'::regclass};

sub wait_for_server
{
	foreach (1 .. $PostgreSQL::Test::Utils::timeout_default)
	{
		my $up = eval { $node->safe_psql('postgres', 'SELECT 1') };
		return 1 if defined $up && $up eq '1';
		sleep 1;
	}
	die 'the server did not come back';
}

sub backend_of
{
	my ($pattern) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE query LIKE '$pattern' AND pid <> pg_backend_pid()");
}

# 1. kill -9 of the backend while the conversion waits for its first lock
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK TABLE daily IN ROW EXCLUSIVE MODE;');
my $conv = $node->background_psql('postgres', on_error_stop => 0);
$conv->query_until(qr/started/, q{
	SET pgscale.lock_timeout = '60s';
	\echo started
	CALL pgscale_partition_table('daily', 'date', extend_keys => true);
});
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'pgscale conversion' AND wait_event_type = 'Lock'})
  or die 'the conversion never waited';
kill 'KILL', backend_of('CALL pgscale_partition_table%');
eval { $conv->quit };
eval { $holder->quit };
wait_for_server();
is($node->safe_psql('postgres', $state), 'plain/0', 'backend killed: the table is not converted');
is($node->safe_psql('postgres', $same_rows), 't', '... and no row is missing');

$node->safe_psql('postgres', q{CALL pgscale_partition_table('daily', 'date', extend_keys => true)});
like($node->safe_psql('postgres', $state), qr{^converted/}, 'a new call converts the table');
is($node->safe_psql('postgres', $same_rows), 't', '... with every row');

# 2. kill -9 of the postmaster while the split is moving months
my $split = $node->background_psql('postgres', on_error_stop => 0);
$split->query_until(qr/started/, q{
	\echo started
	CALL pgscale_split_legacy('daily');
});
$node->poll_query_until('postgres', q{
	SELECT count(*) >= 2 FROM pgscale_log WHERE action = 'split'})
  or die 'the split never moved a month';
my $pid = backend_of('CALL pgscale_split_legacy%');
$node->kill9;
eval { $split->quit };
sleep 1 while $pid ne '' && kill(0, $pid);
$node->start;
wait_for_server();
like($node->safe_psql('postgres', $state), qr{^converted/}, 'postmaster killed mid-split: still a partitioned table');
is($node->safe_psql('postgres', $same_rows), 't', '... and no row is missing');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM daily d JOIN pg_class c ON c.oid = d.tableoid
	WHERE c.relname NOT LIKE '%legacy%' AND c.relname <> 'daily_' || to_char(d.date, 'YYYY_MM')}),
	'0', '... and every moved row sits in its own month');

$node->safe_psql('postgres', q{CALL pgscale_split_legacy('daily')});
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
		  WHERE i.inhparent = 'daily'::regclass AND c.relname LIKE '%legacy%'}),
	'0', 'a new call finishes the split');
is($node->safe_psql('postgres', $same_rows), 't', '... with every row');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM daily d JOIN pg_class c ON c.oid = d.tableoid
		  WHERE c.relname <> 'daily_' || to_char(d.date, 'YYYY_MM')}),
	'0', 'every row is in the partition of its month');
my $next = $node->safe_psql('postgres',
	q{INSERT INTO daily (member_id, date, v) VALUES (1, current_date + 1, 0) RETURNING id > (SELECT max(id) FROM copy)});
is($next, 't', 'inserts without an id continue the sequence');

$node->stop;
done_testing();
