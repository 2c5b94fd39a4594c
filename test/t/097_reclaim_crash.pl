# Crash in the middle of CALL pgscale_reclaim: kill -9 of its backend, then
# of the postmaster, while it moves rows (an index expression of the
# owner's that sleeps makes each batch last).  After each restart every row
# is there, once (count and a checksum of all columns against a copy),
# every index is consistent with the heap (amcheck), and the next call
# finishes the compaction: it returns at least 40% of the file (the table
# is big enough, 32,000 rows, for the one-batch margin the compaction keeps
# not to decide it).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('reclaim_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgscale'
restart_after_crash = on
fsync = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pgscale;
	CREATE EXTENSION amcheck;
	CREATE FUNCTION slow_key(integer) RETURNS integer IMMUTABLE LANGUAGE plpgsql
	    AS $$BEGIN
	        IF current_setting('pgscale_test.slow', true) = 'on' THEN
	            PERFORM pg_sleep(0.002);
	        END IF;
	        RETURN $1;
	    END$$;
	CREATE TABLE usage (id integer PRIMARY KEY, team_id integer NOT NULL,
	                    at timestamptz NOT NULL, pad text NOT NULL);
	INSERT INTO usage SELECT g, g % 37, '2025-01-01'::timestamptz + g * interval '1 minute',
	                         repeat('x', 150)
	FROM generate_series(1, 32000) g;
	CREATE INDEX usage_slow ON usage (slow_key(id));
	CREATE INDEX usage_team ON usage (team_id, at);
	DELETE FROM usage WHERE id <= 16000;
	CREATE TABLE copy AS SELECT * FROM usage;
});
# the index function is slow for the sessions that start from now on (the
# compaction's), not for the checks, which turn it off
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET pgscale_test.slow = on});

my $same = q{
	SELECT (SELECT count(*) FROM usage) = (SELECT count(*) FROM copy)
	   AND (SELECT count(DISTINCT id) FROM usage) = (SELECT count(*) FROM copy)
	   AND (SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM usage u)
	     = (SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM copy c)};
my $indexes_ok = q{
	SET pgscale_test.slow = off;
	SELECT count(*) FROM (SELECT bt_index_check(indexrelid, true)
	                      FROM pg_index WHERE indrelid = 'usage'::regclass) c};

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

# Start the compaction and return its backend's pid once it has moved rows
# (the moved rows' new versions are in the head: below block 60).
sub start_reclaim
{
	my $caller = $node->background_psql('postgres', on_error_stop => 0);
	$caller->query_until(qr/started/, q{
		\echo started
		CALL pgscale_reclaim('usage');
	});
	$node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM usage WHERE (ctid::text::point)[0] < 60})
	  or die 'the compaction never moved a row';
	my $pid = $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL pgscale_reclaim%'});
	return ($pid, $caller);
}

my $size_before = $node->safe_psql('postgres', q{SELECT pg_relation_size('usage')});

# 1. kill -9 of the compacting backend
my ($pid, $caller) = start_reclaim();
ok($pid =~ /^\d+$/, 'the compaction is running');
kill 'KILL', $pid;
eval { $caller->quit };
wait_for_server();
is($node->safe_psql('postgres', $same), 't', 'backend killed: every row there, once, unchanged');
is($node->safe_psql('postgres', $indexes_ok), '3', '... every index consistent with the heap');

# 2. kill -9 of the postmaster
$node->safe_psql('postgres', 'VACUUM usage');
($pid, $caller) = start_reclaim();
$node->kill9;
eval { $caller->quit };
# the orphaned backends (this one and its loopback session) notice the
# postmaster's death and exit; until then the server cannot start
sleep 1 while kill(0, $pid);
my $started = 0;
foreach (1 .. 30)
{
	last if ($started = $node->start(fail_ok => 1));
	sleep 1;
}
ok($started, 'server killed: it starts again');
is($node->safe_psql('postgres', $same), 't', 'server killed: every row there, once, unchanged');
is($node->safe_psql('postgres', $indexes_ok), '3', '... every index consistent with the heap');

# the next call finishes: the file gives back at least 40% of its size
$node->safe_psql('postgres', q{
	DROP INDEX usage_slow;
	CALL pgscale_reclaim('usage');});
is($node->safe_psql('postgres', $same), 't', 'the next call keeps every row');
cmp_ok($node->safe_psql('postgres', q{SELECT pg_relation_size('usage')}), '<=', $size_before * 0.6,
	'... and returns at least 40% of the file')
  or diag($node->safe_psql('postgres', q{SELECT string_agg(rows || ': ' || detail, E'\n' ORDER BY id) FROM pgscale_log WHERE action = 'reclaim'}));

$node->stop;
done_testing();
