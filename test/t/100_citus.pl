# pgscale on a real multi-node Citus cluster: a coordinator and two
# workers, each its own server preloading citus and pgscale, the workers
# added with citus_add_node(), the seed's metrics_aiusagedaily distributed
# by team_id and partitioned by month.
#
# Retention is exact on every shard of every node (checked on the workers
# directly), the premade partitions are distributed, the dry run says what
# the real run does, pgscale_partition_table() refuses a distributed table
# with a recipe, and pgscale_unused_indexes() counts the scans of every
# shard placement: an index the shards use is not listed, and with a node
# down the answer is "unknown", never "unused".  The background worker's
# cycle and, where pg_cron is installed, the README's pg_cron recipe run
# on the coordinator and reach the shards.
#
# Citus is not packaged for Debian: the test skips when citus.so is not in
# this PostgreSQL's pkglibdir (README.md, "Citus", says how it was built).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $pkglibdir = `$pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "Citus is not installed (no citus.so in $pkglibdir); "
  . "build Citus 13.2 against this PostgreSQL to run this test"
  unless -f "$pkglibdir/citus.so";

my @conf = (
	"citus.shard_count = 4",
	# the diagnostics read the shards' statistics right after the queries
	"stats_fetch_consistency = none",
	"max_connections = 60");
# pg_cron on the coordinator, where it is installed: its cycle is tested too
my $cron = -f "$pkglibdir/pg_cron.so";
my %node;
for my $name (qw(coordinator worker1 worker2))
{
	my $with_cron = $cron && $name eq 'coordinator';
	$node{$name} = pgscale_node($name,
		preload => $with_cron ? 'citus,pg_cron,pgscale' : 'citus,pgscale',
		conf => [ @conf, $with_cron
			? ("cron.database_name = 'postgres'", 'cron.use_background_workers = on',
				'max_worker_processes = 24')
			: () ]);
	$node{$name}->start;
	$node{$name}->safe_psql('postgres', 'CREATE EXTENSION citus');
}
my ($coord, $w1, $w2) = @node{qw(coordinator worker1 worker2)};

# the nodes find each other through the shared socket directory
my $host = $coord->host;
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_set_coordinator_host('%s', %d);
	SELECT citus_add_node('%s', %d);
	SELECT citus_add_node('%s', %d);
	CREATE EXTENSION pgscale;
}, $host, $coord->port, $host, $w1->port, $host, $w2->port));
is($coord->safe_psql('postgres',
		'SELECT count(*) FROM citus_get_active_worker_nodes()'),
	'2', 'the coordinator sees two active workers');

# The seed's table, with the keys Citus and partitioning need (both
# columns in every unique key), months from the oldest row through this
# one, distributed by team_id: 16 members in 8 teams, a row per member and
# day over 400 days.
$coord->safe_psql('postgres', q{
	CREATE TABLE metrics_aiusagedaily (
	    id bigserial, team_id integer NOT NULL, member_id integer NOT NULL,
	    date date NOT NULL, source text NOT NULL,
	    suggestions integer NOT NULL DEFAULT 0,
	    acceptances integer NOT NULL DEFAULT 0,
	    created_at timestamptz NOT NULL DEFAULT now(),
	    PRIMARY KEY (team_id, id, date),
	    UNIQUE (team_id, member_id, date, source)) PARTITION BY RANGE (date);
	CREATE INDEX metrics_aiusagedaily_team_date_idx
	    ON metrics_aiusagedaily (team_id, date);
	CREATE INDEX metrics_aiusagedaily_member_idx
	    ON metrics_aiusagedaily (member_id);
	CREATE INDEX metrics_aiusagedaily_source_idx
	    ON metrics_aiusagedaily (source);
	CREATE TABLE metrics_aiusagedaily_default PARTITION OF metrics_aiusagedaily DEFAULT;
	SELECT count(*) FROM pgscale_create_month_partitions('metrics_aiusagedaily', 0,
	    (current_date - 399)::date);
	SELECT create_distributed_table('metrics_aiusagedaily', 'team_id');
	INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source, suggestions)
	SELECT (m - 1) / 2 + 1, m, current_date - d,
	       CASE WHEN m % 3 = 0 THEN 'cursor' ELSE 'copilot' END, d % 7
	FROM generate_series(1, 16) m, generate_series(0, 399) d;
	CREATE TABLE keep AS
	    SELECT * FROM metrics_aiusagedaily WHERE date >= current_date - 365;
	SELECT pgscale_set_retention('metrics_aiusagedaily', interval '365 days', 'date');
	SELECT pgscale_set_partitioning('metrics_aiusagedaily', 3);
});

# The parent's shards and where each is placed.
sub shards_on
{
	my ($worker) = @_;
	return split /\n/, $coord->safe_psql('postgres', sprintf(q{
		SELECT shard_name FROM citus_shards
		WHERE table_name = 'metrics_aiusagedaily'::regclass AND nodeport = %d
		ORDER BY 1}, $worker->port));
}

# On a worker, directly: rows of its shards of the table (the shard of the
# parent is partitioned like the parent), and those before the cutoff
# (each shard asked on its own: a UNION ALL of shard parents with columnar
# partitions fails in Citus 13.2 with "invalid perminfoindex 0").
sub worker_rows
{
	my ($worker, $days) = @_;
	$days //= 365;
	my ($all, $old) = (0, 0);
	for my $shard (shards_on($worker))
	{
		my ($a, $o) = split /\|/, $worker->safe_psql('postgres',
			"SET citus.show_shards_for_app_name_prefixes = '*';
			 SELECT count(*) || '|' || count(*) FILTER (WHERE date < current_date - $days)
			 FROM $shard");
		$all += $a;
		$old += $o;
	}
	return "$all|$old";
}

# Shard tables on a worker whose name starts with a partition's name.
sub worker_shard_tables
{
	my ($worker, $partition) = @_;
	return $worker->safe_psql('postgres',
		"SET citus.show_shards_for_app_name_prefixes = '*';
		 SELECT count(*) FROM pg_class
		 WHERE relkind = 'r' AND relname ~ '^${partition}_[0-9]+\$'");
}

my ($shards1, $shards2) = (scalar(shards_on($w1)), scalar(shards_on($w2)));
is($shards1 + $shards2, 4, 'the four shards are on the workers');
ok($shards1 > 0 && $shards2 > 0, 'both workers hold shards');

my ($before1, $before2) = (worker_rows($w1), worker_rows($w2));
my ($total_before) = 0;
$total_before += (split /\|/, $_)[0] for ($before1, $before2);
is($total_before, 6400, 'the workers hold every row');

my $expired_parts = $coord->safe_psql('postgres', q{
	SELECT string_agg(c.relname, ',' ORDER BY c.relname)
	FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = 'metrics_aiusagedaily'::regclass
	  AND pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM%'
	  AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::date
	      <= current_date - 365});
my @expired = split /,/, $expired_parts;
ok(@expired >= 1, 'some monthly partitions are wholly expired');
is(worker_shard_tables($w1, $expired[0]) + worker_shard_tables($w2, $expired[0]),
	4, "the expired partition $expired[0] has its four shards on the workers");

# The dry run, then the real run: the same partitions and rows.
my $dry = $coord->safe_psql('postgres', q{
	SELECT partitions_dropped || '|' || rows_deleted
	FROM pgscale_cleanup(dry_run => true)
	WHERE table_name = 'metrics_aiusagedaily'::regclass});
my $expected_rows = $coord->safe_psql('postgres',
	"SELECT count(*) FROM metrics_aiusagedaily WHERE date < current_date - 365");
my $expected_trim = $coord->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_aiusagedaily
	WHERE date < current_date - 365
	  AND date >= date_trunc('month', (current_date - 365)::timestamp)::date});
is($dry, scalar(@expired) . "|$expected_trim",
	'the dry run drops the expired months and trims the rest');

my $cycle = $coord->safe_psql('postgres', q{
	SELECT string_agg(action || ':' || coalesce(rows::text, '') || ':'
	                  || coalesce(object_name, ''), ',' ORDER BY action, object_name)
	FROM pgscale_run_maintenance()
	WHERE action IN ('retention', 'create_partition', 'error')});
unlike($cycle, qr/error/, 'the maintenance cycle on the coordinator has no error');
like($cycle, qr/retention:$expected_trim:/,
	'the real run deletes the rows the dry run counted');
my $premade = () = $cycle =~ /create_partition/g;
is($premade, 3, 'the cycle premakes three months');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pgscale_log
	WHERE action = 'drop_partition' AND relid = 'metrics_aiusagedaily'::regclass}),
	scalar(@expired), 'the real run drops the partitions the dry run counted');

# Exact on every node: nothing expired left, nothing kept lost.
is($coord->safe_psql('postgres',
		"SELECT count(*) FROM metrics_aiusagedaily WHERE date < current_date - 365"),
	'0', 'no expired row seen through the coordinator');
my ($after1, $after2) = (worker_rows($w1), worker_rows($w2));
is((split /\|/, $after1)[1], '0', 'no expired row on the shards of worker 1');
is((split /\|/, $after2)[1], '0', 'no expired row on the shards of worker 2');
is((split /\|/, $after1)[0] + (split /\|/, $after2)[0],
	$total_before - $expected_rows, 'the workers lost only the expired rows');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM (
	    (SELECT * FROM metrics_aiusagedaily EXCEPT ALL SELECT * FROM keep)
	    UNION ALL
	    (SELECT * FROM keep EXCEPT ALL SELECT * FROM metrics_aiusagedaily)) d}),
	'0', 'the kept rows are exactly the rows within the retention');
is(worker_shard_tables($w1, $expired[0]) + worker_shard_tables($w2, $expired[0]),
	0, "the shards of the dropped partition $expired[0] are gone on the workers");

# The premade months are distributed, with shards on the workers.
my $newest = $coord->safe_psql('postgres', q{
	SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = 'metrics_aiusagedaily'::regclass
	ORDER BY pg_get_expr(c.relpartbound, c.oid) DESC LIMIT 1});
is($coord->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE p.logicalrelid IS NULL)
	FROM pg_inherits i LEFT JOIN pg_dist_partition p ON p.logicalrelid = i.inhrelid
	WHERE i.inhparent = 'metrics_aiusagedaily'::regclass}),
	'0', 'every partition, premade ones included, is distributed');
is(worker_shard_tables($w1, $newest) + worker_shard_tables($w2, $newest),
	4, "the premade partition $newest has its four shards on the workers");
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pgscale_run_maintenance()
	WHERE action IN ('create_partition', 'drop_partition', 'error')
	   OR (action = 'retention' AND rows > 0)}),
	'0', 'a second cycle has nothing left to do');

# The background worker's cycle on the coordinator: rows that arrive
# already expired (they land in the default partition) are removed from
# the shards.
$coord->safe_psql('postgres', q{
	INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source)
	SELECT (m - 1) / 2 + 1, m, current_date - 380, 'late' FROM generate_series(1, 16) m;
});
is((split /\|/, worker_rows($w1))[1] + (split /\|/, worker_rows($w2))[1],
	16, 'sixteen late expired rows on the workers');
my $since = $coord->safe_psql('postgres', 'SELECT now()');
$coord->safe_psql('postgres', q{
	ALTER SYSTEM SET pgscale.databases = 'postgres';
	ALTER SYSTEM SET pgscale.naptime = 1;
	SELECT pg_reload_conf();
});
ok(wait_for_cycle_after($coord, 'postgres', 'postgres', $since, 60),
	'the background worker ran a cycle on the coordinator');
is((split /\|/, worker_rows($w1))[1] . '|' . (split /\|/, worker_rows($w2))[1],
	'0|0', 'the worker cycle removed them from the shards of both workers');
$coord->safe_psql('postgres', q{
	ALTER SYSTEM SET pgscale.databases = '';
	SELECT pg_reload_conf();
});
$coord->safe_psql('postgres', 'TRUNCATE pgscale.pgscale_log');

# The README's pg_cron recipe on the coordinator (a schedule of seconds
# here, not of minutes): late expired rows are removed from the shards
# too, by a run pg_cron records as succeeded and pgscale logs as 'cron'.
SKIP:
{
	skip 'pg_cron is not installed', 4 unless $cron;
	# pg_cron lives on the coordinator only: Citus must not propagate it
	$coord->safe_psql('postgres', q{
		SET citus.enable_ddl_propagation = off;
		CREATE EXTENSION pg_cron;
		RESET citus.enable_ddl_propagation;
		INSERT INTO metrics_aiusagedaily (team_id, member_id, date, source)
		SELECT (m - 1) / 2 + 1, m, current_date - 380, 'late by cron' FROM generate_series(1, 16) m;
	});
	is((split /\|/, worker_rows($w1))[1] + (split /\|/, worker_rows($w2))[1],
		16, 'pg_cron: sixteen late expired rows on the workers');
	my $job = $coord->safe_psql('postgres',
		q{SELECT cron.schedule('pgscale', '2 seconds', 'CALL pgscale_run_maintenance_proc()')});
	ok(poll_until($coord, 'postgres',
			"SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $job AND status = 'succeeded'",
			't', 90),
		'pg_cron: the cycle on the coordinator succeeded');
	$coord->safe_psql('postgres', q{SELECT cron.unschedule('pgscale')});
	is((split /\|/, worker_rows($w1))[1] . '|' . (split /\|/, worker_rows($w2))[1],
		'0|0', 'pg_cron: its cycle removed them from the shards of both workers');
	is($coord->safe_psql('postgres',
			q{SELECT count(*) > 0 AND bool_and(source = 'cron') FROM pgscale_log
			  WHERE action = 'delete' AND rows > 0}),
		't', "pg_cron: ... logged with source 'cron'");
	$coord->safe_psql('postgres', 'TRUNCATE pgscale.pgscale_log');
}

# pgscale_partition_table on a distributed plain table: refused, with the
# recipe in the hint.
$coord->safe_psql('postgres', q{
	CREATE TABLE plain_events (id bigserial, team_id integer NOT NULL,
	                           ts timestamptz NOT NULL, PRIMARY KEY (team_id, id));
	SELECT create_distributed_table('plain_events', 'team_id');
	INSERT INTO plain_events (team_id, ts) SELECT g % 8, now() - g * interval '1 day'
	FROM generate_series(1, 100) g;
});
my ($ret, $out, $err) = $coord->psql('postgres',
	"CALL pgscale_partition_table('plain_events', 'ts')");
isnt($ret, 0, 'pgscale_partition_table refuses a distributed table');
like($err, qr/cannot partition table public\.plain_events: it is a Citus distributed table/,
	'the refusal names the table and why');
like($err, qr/HINT:.*create_distributed_table\(\).*undistribute_table\(\)/s,
	'the hint gives the recipe');
is($coord->safe_psql('postgres', q{
	SELECT relkind::text || ':' || (SELECT count(*) FROM plain_events)
	FROM pg_class WHERE oid = 'plain_events'::regclass}),
	'r:100', 'the refused table is unchanged');

# The procedure form on a distributed table with no default partition:
# Citus refuses DETACH PARTITION CONCURRENTLY, so the expired months are
# dropped under ACCESS EXCLUSIVE (Citus drops their shards), never left
# behind with a warning at every run.
$coord->safe_psql('postgres', q{
	CREATE TABLE events_nodefault (team_id integer NOT NULL, day date NOT NULL,
	                               PRIMARY KEY (team_id, day)) PARTITION BY RANGE (day);
	SELECT count(*) FROM pgscale_create_month_partitions('events_nodefault', 0,
	    (current_date - 120)::date);
	SELECT create_distributed_table('events_nodefault', 'team_id');
	INSERT INTO events_nodefault SELECT t, current_date - d
	FROM generate_series(1, 4) t, generate_series(0, 119) d;
	SELECT pgscale_set_retention('events_nodefault', interval '60 days', 'day');
});
($ret, $out, $err) = $coord->psql('postgres',
	"CALL pgscale_cleanup_proc(relation => 'events_nodefault')");
is($ret . '|' . ($err =~ /WARNING|ERROR/ ? $err : 'clean'), '0|clean',
	'the procedure form runs clean on a Citus table without a default partition');
is($coord->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM events_nodefault WHERE day < current_date - 60) || '|'
	    || (SELECT count(*) FROM events_nodefault) || '|'
	    || (SELECT count(*) > 0 AND bool_and(detail LIKE '%Citus table%') FROM pgscale_log
	        WHERE action = 'drop_partition' AND relid = 'events_nodefault'::regclass)}),
	'0|244|true', 'it dropped the expired months under ACCESS EXCLUSIVE, saying why, and kept the rest');

# Unused indexes: the member index is scanned only on the shards (five
# queries, each on every shard of every partition), the source index never.
# (SET LOCAL reaches the shards with citus.propagate_set_commands)
$coord->safe_psql('postgres', join('',
		"SET citus.propagate_set_commands = 'local'; BEGIN; SET LOCAL enable_seqscan = off;\n",
		map { "SELECT count(*) FROM metrics_aiusagedaily WHERE member_id = $_;\n" }
		  1 .. 5) . "COMMIT;\n");
my $coord_scans = $coord->safe_psql('postgres', q{
	SELECT sum(pg_stat_get_numscans(indexrelid)) FROM pg_index
	WHERE indexrelid IN (SELECT relid FROM pg_partition_tree('metrics_aiusagedaily_member_idx'))});
is($coord_scans, '0', 'the coordinator itself never scanned the member index');
# (a worker's connection reports its scans when it goes idle)
ok(poll_until($coord, 'postgres', q{
	SELECT count(*) FROM pgscale_unused_indexes(min_scans => 100)
	WHERE index_name = 'metrics_aiusagedaily_member_idx'}, '0', 30),
	'an index the shards scanned more than min_scans times is not listed');
my $unused = $coord->safe_psql('postgres', q{
	SELECT index_name || '|' || idx_scan || '|' || coalesce(drop_statement, '')
	FROM pgscale_unused_indexes(min_scans => 100) ORDER BY index_name});
like($unused, qr/^metrics_aiusagedaily_source_idx\|0\|.*DROP INDEX public\.metrics_aiusagedaily_source_idx;/m,
	'an index no shard scanned is listed, with a DROP INDEX Citus propagates');
my $member = $coord->safe_psql('postgres', q{
	SELECT (idx_scan >= 5 * 15)::text || '|' || (reason LIKE '%shard placements on the Citus nodes%')
	FROM pgscale_unused_indexes(min_scans => 100000)
	WHERE index_name = 'metrics_aiusagedaily_member_idx'});
is($member, 'true|true', 'its scans are the sum over the shard placements');

# The space report and the missing indexes count the shards.
my $shard_bytes = $coord->safe_psql('postgres', q{
	SELECT sum(citus_total_relation_size(p.logicalrelid))
	FROM pg_dist_partition p
	JOIN pg_class c ON c.oid = p.logicalrelid AND c.relkind = 'r'
	WHERE p.logicalrelid IN (SELECT relid FROM pg_partition_tree('metrics_aiusagedaily'))});
is($coord->safe_psql('postgres', qq{
	SELECT (total_bytes >= $shard_bytes)::text || '|' || estimated_rows
	FROM pgscale_space_report()
	WHERE table_name = 'metrics_aiusagedaily'}),
	'true|' . ($total_before - $expected_rows),
	'the space report holds every shard\'s bytes and live rows');
$coord->safe_psql('postgres', join('',
		map { "SELECT count(*) FROM metrics_aiusagedaily WHERE suggestions = $_;\n" }
		  1 .. 150));
ok(poll_until($coord, 'postgres', q{
	SELECT count(*) FROM pgscale_missing_indexes(min_rows => 1000)
	WHERE table_name = 'metrics_aiusagedaily'
	  AND advice LIKE '%shard placements on the Citus nodes%'}, '1', 30),
	'a table read by sequential scans on its shards is a missing-index candidate');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pgscale_health() WHERE status = 'error'}),
	'0', 'pgscale_health() runs on the coordinator');
my $node_check = sprintf(q{
	SELECT string_agg(replace(check_name, '%s', 'H') || '|' || status || '|' || (value ~ '^\d+ of \d+ \(\d+%%\)$'),
	                  ',' ORDER BY check_name)
	FROM pgscale_health() WHERE check_name LIKE 'client connections on Citus node %%'}, $host);
is($coord->safe_psql('postgres', $node_check),
	'client connections on Citus node H:' . $w1->port . '|ok|true,'
	  . 'client connections on Citus node H:' . $w2->port . '|ok|true',
	'pgscale_health() has a connection check for each worker node');
$coord->safe_psql('postgres', 'SELECT pgscale_snapshot_sizes()');
is($coord->safe_psql('postgres', qq{
	SELECT (total_bytes >= $shard_bytes)::text FROM pgscale_size_history
	WHERE table_name = 'metrics_aiusagedaily' ORDER BY taken_at DESC LIMIT 1}),
	'true', 'the size snapshot records the shards\' bytes');

# On a node holding shards, in a session that shows them, a shard is
# never taken for a table of its own (nor its index offered for dropping).
is($w1->safe_psql('postgres', q{
	SET citus.show_shards_for_app_name_prefixes = '*';
	SELECT (SELECT count(*) FROM pg_class WHERE relname ~ '^metrics_aiusagedaily_[0-9]+$') > 0,
	       (SELECT count(*) FROM pgscale_unused_indexes(min_scans => 1000000)
	         WHERE index_name ~ '_[0-9]+$'),
	       (SELECT count(*) FROM pgscale_space_report(1000) WHERE table_name ~ '_[0-9]+$')}),
	't|0|0', 'shards shown on a worker are neither unused indexes nor tables of the space report');

# The scaling advice: tier 4 reached, and what remains (the local copy
# "keep" has team_id but is not distributed).
is($coord->safe_psql('postgres', q{
	SELECT verdict || '|' || (measured LIKE 'Citus: % distributed table% on 2 worker nodes; with a tenant column but not distributed yet: public.keep %')
	FROM pgscale_scaling_advice() WHERE action = 'shard by tenant with Citus'}),
	'now|true', 'the scaling advice sees the cluster and the table left to distribute');
$coord->safe_psql('postgres', 'DROP TABLE keep');
is($coord->safe_psql('postgres', q{
	SELECT verdict FROM pgscale_scaling_advice() WHERE action = 'shard by tenant with Citus'}),
	'done', 'with every tenant table distributed, tier 4 is done');

# The bloat estimate of a Citus table is made of its shards, never of the
# coordinator's empty shell: a table that lost three rows in four on
# every shard (and kept its pages) wastes most of them, its twin that lost
# none does not, and the relation sizes are the shards'.
$coord->safe_psql('postgres', q{
	CREATE TABLE bloated (id bigint NOT NULL, team_id integer NOT NULL,
	                      note text NOT NULL, PRIMARY KEY (team_id, id));
	CREATE TABLE compact (LIKE bloated INCLUDING ALL);
	SELECT create_distributed_table('bloated', 'team_id');
	SELECT create_distributed_table('compact', 'team_id');
	INSERT INTO bloated SELECT g, g % 8, repeat('x', 200) FROM generate_series(1, 80000) g;
	INSERT INTO compact SELECT * FROM bloated;
	DELETE FROM bloated WHERE (id / 8) % 4 <> 0;
	VACUUM ANALYZE bloated;
	VACUUM ANALYZE compact;
});
is($coord->safe_psql('postgres', q{
	SELECT relpages || '|' || (SELECT count(*) FROM bloated)
	FROM pg_class WHERE oid = 'bloated'::regclass}),
	'0|20000', 'the coordinator\'s shell has no page, the shards have the rows');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(table_name || '|' || (relation_bytes = citus_relation_size(table_name::regclass))
	                  || '|' || method || '|' || (wasted_percent >= 50),
	                  ',' ORDER BY table_name)
	FROM pgscale_table_bloat()
	WHERE kind = 'table' AND table_name IN ('bloated', 'compact')}),
	'bloated|true|estimate|true,compact|true|estimate|false',
	'pgscale_table_bloat() estimates a Citus table from its shards');
is($coord->safe_psql('postgres', q{
	SELECT count(*) || '|' || bool_and(relation_bytes > 8192) || '|' || bool_and(method = 'estimate')
	FROM pgscale_table_bloat()
	WHERE kind = 'index' AND table_name IN ('bloated', 'compact')}),
	'2|true|true', 'the primary keys of the Citus tables are estimated from their shards');
is($coord->safe_psql('postgres', q{
	SELECT (wasted_percent >= 50)::text || '|' || method FROM pgscale_table_bloat(exact => true)
	WHERE kind = 'table' AND table_name = 'bloated'}),
	'true|estimate', 'exact => true keeps the shard estimate for a Citus table');
# The advice works on the shards (the table wastes over 10 MB there):
# Citus runs REINDEX INDEX CONCURRENTLY and VACUUM FULL on every placement
# (pgscale_reclaim would compact the empty shell).
like($coord->safe_psql('postgres', q{
	SELECT advice FROM pgscale_table_bloat(), pg_class c
	WHERE kind = 'table' AND table_name = 'bloated' AND c.oid = 'bloated'::regclass
	  AND c.relpages = 0}),
	qr/^reclaim it with VACUUM FULL public\.bloated: Citus runs it on every shard placement/,
	'a Citus table is never sent to pgscale_reclaim');
$coord->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY bloated_pkey');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(kind || '|' || (wasted_percent >= 50), ',' ORDER BY kind)
	FROM pgscale_table_bloat() WHERE table_name = 'bloated'}),
	'index|false,table|true', 'after REINDEX on the coordinator the shard indexes are compact');
$coord->safe_psql('postgres', 'VACUUM FULL bloated');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(kind || '|' || (wasted_percent >= 50), ',' ORDER BY kind)
	FROM pgscale_table_bloat() WHERE table_name = 'bloated'}),
	'index|false,table|false', 'after VACUUM FULL on the coordinator the shards are compact');
is($w1->safe_psql('postgres', q{
	SET citus.show_shards_for_app_name_prefixes = '*';
	SELECT count(*) FROM pgscale_table_bloat() WHERE table_name ~ '_[0-9]{6,}$'}),
	'0', 'shards shown on a worker are not tables of the bloat report');

# Compression of old months on the distributed table (compress_after):
# each month wholly older than 3 months and wholly inside the retention
# becomes columnar on every shard (checked on the workers directly), by a
# plain ALTER TABLE ... SET ACCESS METHOD that Citus runs on the shards;
# the straddling month, the young and the premade ones stay heap; rows and
# checksum stay the same; the dry run names the months the real run
# converts; a session on a worker holding a shard makes pgscale give way
# after pgscale.lock_timeout (not pgscale.step_timeout), and the next run
# converts that month; when the cutoff comes to straddle a compressed
# month, it goes back to heap on every shard before its trim, and
# retention stays exact on every node.
SKIP:
{
	skip 'citus_columnar is not installed', 27
	  unless -f "$pkglibdir/citus_columnar.so";
	$coord->safe_psql('postgres', 'CREATE EXTENSION citus_columnar');

	# A reference table is refused, with a hint.
	$coord->safe_psql('postgres', q{
		CREATE TABLE teams (team_id integer PRIMARY KEY, created date NOT NULL);
		SELECT create_reference_table('teams');
	});
	($ret, $out, $err) = $coord->psql('postgres', q{
		SELECT pgscale_set_retention('teams', interval '365 days', 'created',
		                             compress_after => '3 months')});
	like($err, qr/compress_after is not supported on the Citus reference table public\.teams.*HINT:  Distribute the table/s,
		'compress_after on a reference table is refused, with a hint');

	# The months to compress, each with its bounds.
	my %bounds = map { my ($n, $lo, $hi) = split /\|/; ($n => [ $lo, $hi ]) }
	  split /\n/, $coord->safe_psql('postgres', q{
		SELECT c.relname || '|' || (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]
		       || '|' || (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'metrics_aiusagedaily'::regclass
		  AND pg_get_expr(c.relpartbound, c.oid) LIKE 'FOR VALUES FROM%'});
	my @months = sort grep {
		$coord->safe_psql('postgres', qq{
			SELECT '$bounds{$_}[0]'::date >= current_date - 365
			   AND '$bounds{$_}[1]'::date <= (current_date - interval '3 months')::date}) eq 't'
	} keys %bounds;
	ok(@months >= 7, scalar(@months) . ' months to compress');

	# On a worker, directly: how many shard tables of each partition have
	# each access method.
	my $shard_ams = sub {
		my %am;
		for my $worker ($w1, $w2)
		{
			for (split /\n/, $worker->safe_psql('postgres', q{
				SET citus.show_shards_for_app_name_prefixes = '*';
				SELECT substring(c.relname FROM '^(.*)_[0-9]+$') || '|' || a.amname
				FROM pg_class c JOIN pg_am a ON a.oid = c.relam
				WHERE c.relkind = 'r' AND c.relname ~ '^metrics_aiusagedaily_.*_[0-9]+$'
				  AND relation_is_a_known_shard(c.oid)}))
			{
				my ($part, $am) = split /\|/;
				$am{$part}{$am}++;
			}
		}
		return \%am;
	};
	my $sum = q{SELECT count(*) || '/' || sum(hashtext(id || ',' || team_id || ',' || member_id || ','
		|| date || ',' || source || ',' || suggestions)::bigint) FROM metrics_aiusagedaily};
	my $before = $coord->safe_psql('postgres', $sum);
	my ($rows1, $rows2) = (worker_rows($w1), worker_rows($w2));
	$coord->safe_psql('postgres', q{
		SELECT pgscale_set_retention('metrics_aiusagedaily', interval '365 days', 'date',
		                             compress_after => '3 months');
		TRUNCATE pgscale.pgscale_log;
	});

	# The dry run names each month, and converts none.
	($ret, $out, $err) = $coord->psql('postgres',
		"CALL pgscale_cleanup_proc(dry_run => true, relation => 'metrics_aiusagedaily')");
	my @would = sort($err =~ /cleanup would compress partition public\.(\S+)/g);
	is(join(',', @would), join(',', @months), 'the dry run would compress each month');
	is(scalar(grep { $shard_ams->()->{$_}{columnar} } keys %bounds), 0,
		'... and no shard is columnar');

	# A session on worker 1 holds a shard of the newest of those months: the
	# run gives way after pgscale.lock_timeout and goes on with the others.
	my $held = $months[-1];
	my $held_shard = $w1->safe_psql('postgres', qq{
		SET citus.show_shards_for_app_name_prefixes = '*';
		SELECT relname FROM pg_class WHERE relname ~ '^${held}_[0-9]+\$' ORDER BY 1 LIMIT 1});
	my $holder = $w1->background_psql('postgres');
	$holder->query_safe("SET citus.show_shards_for_app_name_prefixes = '*'; BEGIN; SELECT count(*) FROM $held_shard");
	my $t0 = time;
	($ret, $out, $err) = $coord->psql('postgres',
		"SET pgscale.lock_timeout = 1500; SET pgscale.lock_retries = 0;
		 CALL pgscale_cleanup_proc(relation => 'metrics_aiusagedaily')");
	my $took = time - $t0;
	$holder->query_safe('COMMIT');
	$holder->quit;
	is($ret, 0, 'the run with a shard held on a worker ends');
	note sprintf('the run took %.1f s', $took);
	ok($took < 60, '... within a minute: pgscale.lock_timeout bounds the wait on the worker too');
	is($coord->safe_psql('postgres', q{
		SELECT count(*) FROM pgscale_log WHERE action = 'error'
		  AND detail LIKE 'compress partition%lock timeout%'}),
		'1', '... with an error recorded for the held month');
	my $am = $shard_ams->();
	is(join(',', map { $am->{$_}{columnar} // 0 } @months),
		join(',', (4) x $#months, 0),
		'every month but the held one has its four shards columnar on the workers');

	# The next run converts it.
	$coord->safe_psql('postgres', "CALL pgscale_cleanup_proc(relation => 'metrics_aiusagedaily')");
	$am = $shard_ams->();
	is(join(',', map { ($am->{$_}{columnar} // 0) . '/' . ($am->{$_}{heap} // 0) } @months),
		join(',', ('4/0') x @months), 'the next run converts the held month: every shard of each month columnar');
	my @young = grep { my $m = $_; !grep { $_ eq $m } @months } keys %bounds;
	is(scalar(grep { ($am->{$_}{columnar} // 0) > 0 || ($am->{$_}{heap} // 0) != 4 } @young), 0,
		'the straddling, young and premade months stay heap on all their shards');
	is(($am->{metrics_aiusagedaily_default}{heap} // 0), 4, '... and so does the default partition');
	is($coord->safe_psql('postgres', sprintf(q{
		SELECT count(*) FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'columnar' AND c.relname IN (%s)}, join(',', map { "'$_'" } @months))),
		scalar(@months), 'the coordinator\'s shells of the months are columnar too');
	is($coord->safe_psql('postgres', $sum), $before, 'rows and checksum the same after compression');
	is(worker_rows($w1) . ',' . worker_rows($w2), "$rows1,$rows2", '... on each worker');
	is($coord->safe_psql('postgres', q{
		SELECT string_agg(split_part(object_name, '.', 2), ',' ORDER BY object_name) FROM pgscale_log
		WHERE action = 'compress' AND detail LIKE 'converted to columnar%'}),
		join(',', @would), 'the months converted are those the dry run named');
	# the logged size after is that of every shard placement
	my @sizes = split /\n/, $coord->safe_psql('postgres', q{
		SELECT (regexp_match(detail, '(\d+) bytes after'))[1]::bigint = citus_total_relation_size(object_name::regclass)
		       AND (regexp_match(detail, '(\d+) bytes before'))[1]::bigint > pg_total_relation_size(object_name::regclass)
		FROM pgscale_log WHERE action = 'compress'});
	is(join(',', @sizes), join(',', ('t') x @months),
		'each compression logged with its sizes summed over the shards (after = citus_total_relation_size)');
	like($coord->safe_psql('postgres', q{
		SELECT detail FROM pgscale_log WHERE action = 'compress' ORDER BY id LIMIT 1}),
		qr/^converted to columnar under ACCESS EXCLUSIVE on the partition and its shards only \(Citus ran the ALTER TABLE on every shard\): \d+ bytes before, \d+ bytes after \([0-9.]+ times (smaller|larger)\), summed over the shard placements$/,
		'... saying what it locked');
	is($coord->safe_psql('postgres', q{
		SELECT count(*) FROM metrics_aiusagedaily
		WHERE team_id = 3 AND date >= current_date - 300 AND date < current_date - 200}),
		'200', 'a dashboard query over compressed months reads them');

	# Time moves on: a cutoff in the middle of the second oldest compressed
	# month.  The oldest is dropped whole with the old straddling month, the
	# second converted back to heap on every shard and trimmed.
	my $m2 = $months[1];
	my $days = $coord->safe_psql('postgres',
		"SELECT current_date - ('$bounds{$m2}[0]'::date + 15)");
	my $kept = $coord->safe_psql('postgres', $sum =~ s/$/ WHERE date >= current_date - $days/r);
	my $expired_now = $coord->safe_psql('postgres',
		"SELECT count(*) FROM metrics_aiusagedaily WHERE date < current_date - $days");
	($ret, $out, $err) = $coord->psql('postgres',
		"CALL pgscale_cleanup_proc(dry_run => true, relation => 'metrics_aiusagedaily', days => $days)");
	like($err, qr/cleanup would convert partition public\.$m2 back to heap to trim it/,
		'the dry run says it would decompress the month that now straddles the cutoff');
	my ($dry_parts, $dry_rows) = $err =~ /metrics_aiusagedaily: (\d+) partitions dropped, (\d+) rows deleted \(dry run\)/;
	($ret, $out, $err) = $coord->psql('postgres',
		"CALL pgscale_cleanup_proc(relation => 'metrics_aiusagedaily', days => $days)");
	my ($parts, $rows) = $err =~ /metrics_aiusagedaily: (\d+) partitions dropped, (\d+) rows deleted/;
	is("$parts/$rows", "$dry_parts/$dry_rows", "the real run drops and deletes what the dry run said ($parts/$rows)");
	is($parts, 2, '... the old straddling month and the oldest compressed one, dropped whole');
	$am = $shard_ams->();
	is(($am->{$m2}{heap} // 0) . '/' . ($am->{$m2}{columnar} // 0), '4/0',
		"the compressed month $m2 that came to straddle the cutoff is heap again on every shard");
	is((split /\|/, worker_rows($w1, $days))[1] . '|' . (split /\|/, worker_rows($w2, $days))[1],
		'0|0', '... with no expired row left on the shards of either worker');
	is($coord->safe_psql('postgres', $sum =~ s/$/ WHERE date >= current_date - $days/r), $kept,
		'... and every kept row kept');
	is((split /\|/, worker_rows($w1, $days))[0] + (split /\|/, worker_rows($w2, $days))[0],
		(split /\//, $before)[0] - $expired_now, '... the workers lost only the expired rows');
	like($coord->safe_psql('postgres', q{
		SELECT count(*) || '|' || string_agg(detail, '') FROM pgscale_log WHERE action = 'decompress'}),
		qr/^1\|converted back to heap to trim its expired rows, under ACCESS EXCLUSIVE on the partition and its shards only .*: \d+ bytes before, \d+ bytes after .*summed over the shard placements$/,
		'... the conversion back logged with the shards\' sizes');
	is($coord->safe_psql('postgres', sprintf(q{
		SELECT count(*) FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		WHERE a.amname = 'columnar' AND c.relname IN (%s)}, join(',', map { "'$_'" } @months[2 .. $#months]))),
		scalar(@months) - 2, 'the younger compressed months stay columnar');
}

# A worker down: its placements do not answer; the indexes of the table
# are "unknown", with no statement to run.
$w2->stop('fast');
my $down = $coord->safe_psql('postgres', q{
	SELECT string_agg(index_name || '|' || (reason LIKE 'unknown:%')
	                  || '|' || (drop_statement IS NULL), ',' ORDER BY index_name)
	FROM pgscale_unused_indexes(min_scans => 100)});
is($down,
	'metrics_aiusagedaily_member_idx|true|true,metrics_aiusagedaily_source_idx|true|true,'
	  . 'metrics_aiusagedaily_team_date_idx|true|true',
	'with a worker down every index of the table is unknown, none has a DROP');
is($coord->safe_psql('postgres', q{
	SELECT (total_bytes IS NULL)::text || '|' || (total_size LIKE 'unknown:%')
	FROM pgscale_space_report() WHERE table_name = 'metrics_aiusagedaily'}),
	'true|true', 'with a worker down the table\'s size is unknown');
# pgscale_health() still runs with a node down (the retention check of
# events_nodefault cannot read the table: that policy's outcome is not
# known), and the node's connection check says so.
is($coord->safe_psql('postgres', q{
	SELECT string_agg(status || '|' || (value LIKE 'unreachable: %'), ',' ORDER BY check_name)
	FROM pgscale_health() WHERE check_name LIKE 'client connections on Citus node %'}),
	($w1->port < $w2->port ? 'ok|false,critical|true' : 'critical|true,ok|false'),
	'with a worker down its connection check is critical, unreachable, not a pass');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(kind || '|' || (relation_bytes IS NULL) || '|' || (wasted_bytes IS NULL)
	                  || '|' || method || '|' || (advice LIKE 'unknown: % shard placements %'),
	                  ',' ORDER BY kind)
	FROM pgscale_table_bloat() WHERE table_name = 'bloated'}),
	'index|true|true|unknown|true,table|true|true|unknown|true',
	'with a worker down the bloat of a Citus table is unknown, not the shell\'s');
$w2->start;

done_testing();
