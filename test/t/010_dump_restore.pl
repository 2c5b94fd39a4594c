# pg_dump / pg_restore of a database using pgscale keeps its policies, and
# the restored database is maintained as the original was: restored as it
# was, into a database whose pgscale lives in another schema (a: its tables
# are in schema pgscale wherever its functions are), and data only into a
# database whose table already has a policy (b).  The node does
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

# The restored database: row security on pgscale's tables is the
# extension's own (not in the dump), and a role that owns nothing sees no
# policy; a dry run deletes what the real run then deletes.
is( $node->safe_psql(
		'restored',
		q{SELECT bool_and(relrowsecurity) FROM pg_class
		  WHERE relnamespace = 'pgscale'::regnamespace AND relkind = 'r'}),
	't', 'restored: row security is on for every pgscale table');
$node->safe_psql('postgres', 'CREATE ROLE nobody_special');
$node->safe_psql('restored', 'GRANT USAGE ON SCHEMA "My App" TO nobody_special');
is( $node->safe_psql(
		'restored',
		q{SET ROLE nobody_special; SELECT count(*) FROM "My App".pgscale_policy}),
	'0', '... and a role that owns no table sees no policy');

# 'same' when a dry run would delete as many rows as the run then deletes
# (seven expired rows added, at least those).
sub dry_and_real
{
	my ($db, $schema) = @_;
	$node->safe_psql($db, "INSERT INTO daily (d) SELECT current_date - 200 - g FROM generate_series(1, 7) g");
	my $dry = $node->safe_psql($db,
		"SELECT coalesce(sum(rows_deleted), 0) FROM $schema.pgscale_cleanup(dry_run => true)");
	my $real = $node->safe_psql($db,
		"SELECT coalesce(sum(rows_deleted), 0) FROM $schema.pgscale_cleanup()");
	return $dry eq $real && $real >= 7 ? 'same' : "dry run $dry, run $real";
}
is(dry_and_real('restored', '"My App"'), 'same', 'restored: the dry run deletes what the run deletes');

#
# (a) Restored into a database whose pgscale lives in another schema (a
# managed service that preinstalls it): pgscale's tables are in schema
# pgscale wherever its functions are, so the dump's data of them loads as
# it is, and the policies work there.
#
my ($rc, $out, $err);
$node->safe_psql('postgres', 'CREATE DATABASE moved');
$node->safe_psql('moved', 'CREATE SCHEMA x; CREATE EXTENSION pgscale SCHEMA x');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('moved'), $dump ],
	'pgscale in another schema: a plain restore succeeds ...');
(my $moved_policies = $policies) =~ s/"My App"/x/;
is($node->safe_psql('moved', $moved_policies), $before,
	'... with the same policies as the source');
is($node->safe_psql('moved',
		q{SELECT count(*) FROM pg_extension WHERE extname = 'pgscale'
		  AND extnamespace = 'x'::regnamespace}),
	'1', '... kept in the schema it was created in');
is(dry_and_real('moved', 'x'), 'same', '... which work: the dry run deletes what the run deletes');

#
# (b) A data-only restore into a database where the table already has a
# policy: refused with an error that names the table; nothing is doubled
# and the policy in place stays.  Removed, the restore brings the dumped one.
#
my $data = $node->basedir . '/app_data.dump';
$node->command_ok([ 'pg_dump', '-Fc', '--data-only', '-d', $node->connstr('app'), '-f', $data ],
	'pg_dump --data-only');
$node->safe_psql('postgres', 'CREATE DATABASE dataonly');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '--schema-only', '-d', $node->connstr('dataonly'), $dump ],
	'... into a database restored from the schema only');
$node->safe_psql('dataonly', q{SELECT "My App".pgscale_set_retention('daily', '300 days', 'd')});
$rc = $node->run_log(
	[ 'pg_restore', '--exit-on-error', '--data-only', '-d', $node->connstr('dataonly'), $data ],
	'2>', \$err);
ok(!$rc, 'daily already has a policy: the data-only restore fails');
like($err, qr/ERROR:  table public\.daily already has a pgscale policy\nDETAIL:  The policy in place keeps 300 days; the row being restored keeps 100 days\.\nHINT:  To take the restored policy, remove the one in place with pgscale_remove_policy\(\)/,
	'... saying which table, both retentions, and what to do');
is( $node->safe_psql(
		'dataonly',
		q{SELECT count(*) || '|' || min(retention) FROM "My App".pgscale_policy WHERE table_name = 'daily'::regclass}),
	'1|300 days', '... no second policy, and the one in place stays');
$node->safe_psql('dataonly', q{SELECT "My App".pgscale_remove_policy('daily')});
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '--data-only', '-d', $node->connstr('dataonly'), $data ],
	'removed first: the data-only restore passes');
is($node->safe_psql('dataonly', $policies), $before, '... with the dumped policies');
is(dry_and_real('dataonly', '"My App"'), 'same', '... which work: the dry run deletes what the run deletes');
# pgscale's own upsert of an existing policy is not taken for a restore
$node->safe_psql('dataonly', q{SELECT "My App".pgscale_set_retention('daily', '150 days', 'd')});
is( $node->safe_psql(
		'dataonly',
		q{SELECT count(*) || '|' || min(retention) FROM "My App".pgscale_policy WHERE table_name = 'daily'::regclass}),
	'1|150 days', 'pgscale_set_retention still updates a policy in place');

# A role that is not a superuser dumps pgscale's tables with
# --enable-row-security, and gets the policies of its own tables only.
$node->safe_psql('postgres', 'CREATE ROLE dumper LOGIN');
$node->safe_psql('app', q{
	ALTER TABLE daily OWNER TO dumper;
	ALTER TABLE "Odd; Name" OWNER TO dumper;
	ALTER TABLE core OWNER TO dumper;
	GRANT USAGE ON SCHEMA "My App" TO dumper;
	CREATE TABLE not_dumpers (d date);
	SELECT "My App".pgscale_set_retention('not_dumpers', '1 day', 'd');
	REVOKE ALL ON not_dumpers FROM PUBLIC;
});
$rc = $node->run_log(
	[ 'pg_dump', '-d', $node->connstr('app') . ' user=dumper', '-T', 'not_dumpers', '-f', '/dev/null' ],
	'2>', \$err);
ok(!$rc, 'a table owner\'s pg_dump without --enable-row-security fails ...');
# (the first of pgscale's tables pg_dump copies says it)
like($err, qr/query would be affected by row-level security policy for table "pgscale_[a-z_]+"/,
	'... saying that row security applies');
my $own = `pg_dump -d '@{[ $node->connstr('app') ]} user=dumper' --enable-row-security -T not_dumpers -t 'pgscale.pgscale_policy' --data-only`;
ok($own =~ /^public\.daily\t/m && $own !~ /not_dumpers/,
	'... with it, the dump has its own policies and not the others\'');

# not preloaded: no worker, and the status function says so without failing
is($node->safe_psql('restored', q{SHOW shared_preload_libraries}), '',
	'pgscale is not preloaded on this node');
($rc, $out, $err) = $node->psql('restored',
	q{SELECT count(*) FROM "My App".pgscale_worker_status()});
is($out, '0', 'pgscale_worker_status() returns no row without the worker');
like($err, qr/background worker is not running/, '... with a notice saying why');

# action 'archive': the catalog of archived pieces (pgscale_archive) is
# kept by pg_dump, names its tables by name, and works after a restore:
# its rows are moved back from the restored archive.
$node->safe_psql('postgres', 'CREATE DATABASE archapp');
$node->safe_psql('archapp', q{
	CREATE EXTENSION pgscale;
	CREATE TABLE arch_src (at timestamptz NOT NULL, v int);
	INSERT INTO arch_src SELECT now() - g * interval '1 day', g FROM generate_series(0, 99) g;
	SELECT pgscale_set_retention('arch_src', '30 days', 'at', action => 'archive',
	                             archive_schema => 'Old Data');
	SELECT * FROM pgscale_cleanup(relation => 'arch_src');
});
my $archive = q{
	SELECT string_agg(format('%s|%s|%s|%s|%s|%s', source_schema, source_table, archive_schema,
	                         archive_table, kind, rows), ',' ORDER BY archive_table)
	FROM pgscale_archive};
my $archive_before = $node->safe_psql('archapp', $archive);
isnt($archive_before, '', 'archive: the source has archived pieces');
my $archdump = $node->basedir . '/archapp.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('archapp'), '-f', $archdump ],
	'archive: pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE archrestored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('archrestored'), $archdump ],
	'archive: pg_restore');
is($node->safe_psql('archrestored', $archive), $archive_before,
	'archive: pgscale_archive is restored the same');
is($node->safe_psql('archrestored', q{SELECT count(*) FROM "Old Data".arch_src}), '70',
	'... and so are the archived rows');
$node->safe_psql('archrestored', q{SELECT pgscale_set_retention('arch_src', '200 days')});
is( $node->safe_psql(
		'archrestored',
		q{SELECT sum(rows) FROM pgscale_restore_archive('arch_src',
		    now() - interval '60 days', now() + interval '1 day')}),
	'30', '... and pgscale_restore_archive() moves rows back from them');
is($node->safe_psql('archrestored', q{SELECT count(*) FROM arch_src}), '60',
	'... into the restored table');
is($node->safe_psql('archrestored',
		q{SELECT count(*) FROM pgscale_archived('arch_src') WHERE dump_command LIKE 'pg_dump %'}),
	$node->safe_psql('archrestored', q{SELECT count(*) FROM pgscale_archive}),
	'... and pgscale_archived() gives a pg_dump command for each piece');

# pgscale_detached: a partition detached concurrently whose drop (ev) or
# move into the archive (ev_a) a crash interrupted, left as the crash
# leaves it (detached, and recorded).  The records name their tables by
# schema and name, so after a dump and a restore into a new database the
# next run still finds them, and knows them by what the restore keeps
# (owner, columns, the CHECK constraint of their bound): the one is
# dropped, the other archived with its rows, and no record is left.  Fixed dates far in the past, and most
# rows current (the guard refuses a run that would remove most of a table).
$node->safe_psql('postgres', 'CREATE DATABASE detapp');
$node->safe_psql('detapp', q{
	CREATE EXTENSION pgscale;
	CREATE TABLE ev (d date NOT NULL, v int) PARTITION BY RANGE (d);
	CREATE TABLE ev_old1 PARTITION OF ev FOR VALUES FROM ('2000-01-01') TO ('2000-02-01');
	CREATE TABLE ev_old2 PARTITION OF ev FOR VALUES FROM ('2000-02-01') TO ('2000-03-01');
	CREATE TABLE ev_now PARTITION OF ev FOR VALUES FROM ('2000-03-01') TO (MAXVALUE);
	CREATE TABLE ev_a (LIKE ev) PARTITION BY RANGE (d);
	CREATE TABLE ev_a_old1 PARTITION OF ev_a FOR VALUES FROM ('2000-01-01') TO ('2000-02-01');
	CREATE TABLE ev_a_now PARTITION OF ev_a FOR VALUES FROM ('2000-02-01') TO (MAXVALUE);
	INSERT INTO ev SELECT '2000-01-01'::date + g % 58, g FROM generate_series(1, 580) g;
	INSERT INTO ev SELECT current_date, g FROM generate_series(1, 2000) g;
	INSERT INTO ev_a SELECT '2000-01-01'::date + g % 31, g FROM generate_series(1, 310) g;
	INSERT INTO ev_a SELECT current_date, g FROM generate_series(1, 2000) g;
	SELECT pgscale_set_retention('ev', '30 days', 'd');
	SELECT pgscale_set_retention('ev_a', '30 days', 'd', action => 'archive',
	                             archive_schema => 'Arch');
	-- CONCURRENTLY, as pgscale detaches: it leaves the partition's bound
	-- as a CHECK constraint, by which the next run knows the table again
	ALTER TABLE ev DETACH PARTITION ev_old1 CONCURRENTLY;
	ALTER TABLE ev_a DETACH PARTITION ev_a_old1 CONCURRENTLY;
	-- bounds as microseconds since 2000-01-01 (the time column read as timestamp)
	INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound, bound_from, bound_to)
	VALUES ('public', 'ev_old1', 'ev', 'FOR VALUES FROM (''2000-01-01'') TO (''2000-02-01'')',
	        0, 31 * 86400 * 1000000::bigint);
	INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound, action,
	                              archive_schema, bound_from, bound_to)
	VALUES ('public', 'ev_a_old1', 'ev_a', 'FOR VALUES FROM (''2000-01-01'') TO (''2000-02-01'')',
	        'archive', 'Arch', 0, 31 * 86400 * 1000000::bigint);
});
my $detdump = $node->basedir . '/detapp.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('detapp'), '-f', $detdump ],
	'detached: pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE detrestored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('detrestored'), $detdump ],
	'detached: pg_restore');
is( $node->safe_psql(
		'detrestored',
		q{SELECT string_agg(format('%s.%s %s %s', rel_schema, rel_name, table_name, action), ',' ORDER BY rel_name)
		  FROM pgscale_detached}),
	'public.ev_a_old1 ev_a archive,public.ev_old1 ev drop',
	'detached: the records are restored, naming the restored tables');
$node->safe_psql('detrestored', q{CALL pgscale_cleanup_proc()});
is( $node->safe_psql(
		'detrestored',
		q{SELECT (SELECT count(*) FROM pgscale_detached) = 0
		     AND to_regclass('public.ev_old1') IS NULL
		     AND to_regclass('public.ev_old2') IS NULL
		     AND (SELECT count(*) FROM ev) = 2000}),
	't', 'detached: after the restore the next run drops the detached table, no record left');
is( $node->safe_psql(
		'detrestored',
		q{SELECT to_regclass('public.ev_a_old1') IS NULL
		     AND (SELECT count(*) FROM "Arch".ev_a_2000_01) = 310
		     AND (SELECT count(*) FROM ev_a) = 2000
		     AND EXISTS (SELECT FROM pgscale_archive
		                 WHERE source_table = 'ev_a' AND archive_schema = 'Arch'
		                   AND archive_table = 'ev_a_2000_01' AND kind = 'partition'
		                   AND bound_from = '''2000-01-01''' AND bound_to = '''2000-02-01''')}),
	't', '... and archives the one recorded to be archived, with all its rows, recorded in pgscale_archive');
is( $node->safe_psql(
		'detrestored',
		q{SELECT count(*) FILTER (WHERE action = 'drop_partition' AND detail LIKE '%detached concurrently by an earlier run, dropped now')
		         || ' ' || count(*) FILTER (WHERE action = 'archive' AND detail LIKE 'partition detached concurrently by an earlier run, moved to the archive schema%')
		         || ' ' || count(*) FILTER (WHERE action = 'error')
		  FROM pgscale_log}),
	'1 1 0', '... and the log says so');

$node->stop;
done_testing();
