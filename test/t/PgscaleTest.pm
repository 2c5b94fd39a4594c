=pod

=head1 NAME

PgscaleTest - helpers shared by pgscale's TAP tests (test/t/*.pl)

=head1 SYNOPSIS

  use FindBin;
  use lib $FindBin::RealBin;
  use PgscaleTest;

  my $node = pgscale_node('primary', conf => ["pgscale.naptime = 1"]);
  $node->start;
  ok(poll_until($node, 'postgres', 'SELECT true', 't', 10), 'server answers');

=head1 DESCRIPTION

Nodes that preload pgscale (from PGS_DESTDIR when that is set, as
test/lib.sh does), and waiting with an explicit deadline instead of
sleeping: every wait names how long it may take and fails the test
when that is exceeded.

=cut

package PgscaleTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(
  pgscale_node
  faketime_available
  start_at
  poll_until
  wait_for_cycle_after
  worker_status
  loaded_pgscale_library
  reject_local_role
  child_pids
  wait_for_pids_gone
  sql_digest_function
  sql_plain_table
  sql_partitioned_table
  sql_retention
  sql_table_ok
  sql_months_premade
);

=pod

=over

=item destdir_settings()

With PGS_DESTDIR set (an absolute staging directory that
C<make install DESTDIR=...> filled), the settings that make a server load
pgscale from there (Debian's extension_destdir).  Nothing when it is not
set, or when TEMP_CONFIG (test/run_tests.sh) already carries them.

=cut

sub destdir_settings
{
	my $destdir = $ENV{PGS_DESTDIR};
	return () unless defined $destdir && $destdir ne '';
	die "PGS_DESTDIR must be an absolute path" unless $destdir =~ m{^/};
	if (defined $ENV{TEMP_CONFIG} && -f $ENV{TEMP_CONFIG})
	{
		return ()
		  if slurp_file($ENV{TEMP_CONFIG}) =~ /^\s*extension_destdir\s*=/m;
	}
	my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
	my $pkglibdir = `$pg_config --pkglibdir`;
	chomp $pkglibdir;
	return (
		"extension_destdir = '$destdir'",
		"dynamic_library_path = '$destdir$pkglibdir:\$libdir'");
}

=pod

=item pgscale_node(name, %options)

A new, initialized (not started) node with pgscale in
shared_preload_libraries.  Options: C<preload> (the whole
shared_preload_libraries value, default 'pgscale'), C<allows_streaming>,
C<conf> (a list of postgresql.conf lines added last).

=cut

sub pgscale_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opt{allows_streaming} // 0);
	my $preload = $opt{preload} // 'pgscale';
	$node->append_conf('postgresql.conf',
		join("\n",
			destdir_settings(),
			"shared_preload_libraries = '$preload'",
			# the fixtures remove most of their rows: the limit has its
			# own tests (sql/guard.sql), with it set back per session
			"pgscale.max_delete_fraction = 1",
			# NOTICEs of the worker (a skipped cycle) reach the server log
			"log_min_messages = notice",
			@{ $opt{conf} // [] }));
	return $node;
}

=pod

=item faketime_available()

The path of Debian's libfaketime when it and a C compiler are there (see
start_at), else undef.

=cut

sub faketime_lib
{
	my $arch = `gcc -print-multiarch 2>/dev/null` // '';
	chomp $arch;
	$arch = 'x86_64-linux-gnu' if $arch eq '';
	return "/usr/lib/$arch/faketime/libfaketime.so.1";
}

sub faketime_available
{
	my $lib = faketime_lib();
	return undef unless -f $lib;
	return undef if system('gcc --version >/dev/null 2>&1') != 0;
	return $lib;
}

=pod

=item start_at(node, 'YYYY-MM-DD HH:MM:SS')

Start the node with its clock moved (libfaketime, one fixed offset) so that
the server starts at that moment, UTC, and time passes normally from there.
The sleep calls go through test/faketime/sleep_shim.c first (the test
runner's --date does the same, for the same reason).  The clients of the
test keep their own clock: compare times on the server.

=cut

sub start_at
{
	my ($node, $when) = @_;
	my $lib = faketime_available() or die "libfaketime is not installed";
	my $shim = PostgreSQL::Test::Utils::tempdir() . '/sleep_shim.so';
	my $src = ($ENV{TESTDIR} // '.') . '/test/faketime/sleep_shim.c';
	system('gcc', '-shared', '-fPIC', '-O2', '-o', $shim, $src) == 0
	  or die "could not build $shim from $src";
	my ($y, $mo, $d, $h, $mi, $sec) = $when =~
	  /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)$/
	  or die "start_at: not a date: $when";
	require Time::Local;
	my $target = Time::Local::timegm($sec, $mi, $h, $d, $mo - 1, $y);
	# the offset counts from the real clock, which this test may not see
	# (test/run_tests.sh --date runs it under libfaketime too)
	my $real = int(time());
	$real -= $1
	  if ($ENV{LD_PRELOAD} // '') =~ /faketime/
	  && ($ENV{FAKETIME} // '') =~ /^([+-]\d+)$/;
	local $ENV{LD_PRELOAD} = "$shim:$lib";
	local $ENV{FAKETIME} = sprintf('%+d', $target - $real);
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
	$node->start;
	return;
}

=pod

=item poll_until(node, dbname, query, expected, seconds)

Run query every 0.1 s until its output (psql -XAt) equals expected or the
deadline passes.  Returns true on success; on timeout prints the last
output and error and returns false.  Connection failures (a server that
is restarting) count as "not yet".

=cut

sub poll_until
{
	my ($node, $dbname, $query, $expected, $seconds) = @_;
	my $deadline = time() + $seconds;
	my ($ret, $stdout, $stderr);
	while (1)
	{
		($ret, $stdout, $stderr) = $node->psql($dbname, $query);
		return 1 if $ret == 0 && $stdout eq $expected;
		last if time() > $deadline;
		usleep(100_000);
	}
	diag("poll_until: no '$expected' within $seconds s from:\n$query\n"
		  . "last output: '$stdout'\nlast error: $stderr");
	return 0;
}

=pod

=item wait_for_cycle_after(node, dbname, database, since, seconds)

Wait until pgscale_worker_status() (read in dbname) shows a finished cycle
of database that started after the server timestamp since.  Returns that
status row as a hash (see worker_status), read by the same query that saw
it finished (the next cycle may start at any moment), or undef on timeout.

=cut

sub wait_for_cycle_after
{
	my ($node, $dbname, $database, $since, $seconds) = @_;
	my $deadline = time() + $seconds;
	my $row;
	while (1)
	{
		$row = worker_status($node, $dbname, $database,
			"NOT running AND last_start > '$since'::timestamptz
			 AND last_end >= last_start");
		return $row if $row->{database} ne '';
		last if time() > $deadline;
		usleep(100_000);
	}
	$row = worker_status($node, $dbname, $database);
	diag("wait_for_cycle_after: no cycle of $database started after $since "
		  . "ended within $seconds s; status: "
		  . join(', ', map { "$_=$row->{$_}" } sort keys %$row));
	return undef;
}

=pod

=item worker_status(node, dbname, database [, condition])

The row of pgscale_worker_status() for database (when it satisfies the
SQL condition, if one is given), as a hash of its columns (empty strings
for NULL and for no row), plus C<seconds_to_next>: next_cycle - now() in
seconds, and C<naptime_ok>: whether next_cycle - last_end equals
pgscale.naptime.  A server that is restarting gives an empty row.

=cut

sub worker_status
{
	my ($node, $dbname, $database, $condition) = @_;
	my @cols = qw(database running pid last_start last_end outcome
	  next_cycle last_error last_error_at cycles seconds_to_next naptime_ok);
	$condition //= 'true';
	my ($ret, $out) = $node->psql($dbname,
		"SELECT database, running, pid, last_start, last_end, outcome,
		        next_cycle, last_error, last_error_at, cycles,
		        round(extract(epoch FROM next_cycle - now()), 1),
		        next_cycle - last_end = current_setting('pgscale.naptime')::interval
		 FROM pgscale_worker_status()
		 WHERE database = '$database' AND ($condition)",
		extra_params => [ '-F', "\x1f" ]);
	my %row;
	my @vals = $ret == 0 ? split(/\x1f/, $out, -1) : ();
	@row{@cols} = map { $_ // '' } @vals[ 0 .. $#cols ];
	return \%row;
}

=pod

=item loaded_pgscale_library(node)

The path of the pgscale.so mapped into the node's postmaster (from
/proc/PID/maps): shows which build a test runs against.

=cut

sub loaded_pgscale_library
{
	my ($node) = @_;
	my $pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
	open my $maps, '<', "/proc/$pid/maps" or return '(unknown)';
	while (<$maps>)
	{
		return $1 if m{\s(/\S*pgscale\.so)$};
	}
	return '(not loaded)';
}

=pod

=item reject_local_role(node, role)

Put a line first in the node's pg_hba.conf that rejects local (Unix
socket) connections of role, and reload: pgscale's loopback connection as
that session user is then refused.

=cut
sub reject_local_role
{
	my ($node, $role) = @_;
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $text = slurp_file($hba);
	open(my $fh, '>', $hba) or die "cannot write $hba: $!";
	print $fh "local all $role reject\n" . $text;
	close($fh);
	$node->reload;
	return;
}

=pod

=item child_pids(node)

The PIDs of the node's postmaster and of every process whose parent it is.

=cut

sub child_pids
{
	my ($node) = @_;
	my $postmaster = $node->{_pid};
	my @pids = ($postmaster);
	opendir my $dh, '/proc' or die "cannot read /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		open my $st, '<', "/proc/$pid/stat" or next;
		my $stat = <$st>;
		close $st;
		next unless defined $stat && $stat =~ /\)\s+\S+\s+(\d+)/;
		push @pids, $pid if $1 == $postmaster;
	}
	closedir $dh;
	return @pids;
}

# A process that exists, zombies included: the postmaster refuses to start
# while the PID in postmaster.pid answers kill(PID, 0), which a zombie does.
sub process_alive
{
	my ($pid) = @_;
	return -e "/proc/$pid";
}

=pod

=item wait_for_pids_gone(seconds, pid ...)

Wait until none of the processes exists any more; true on success.

=cut

sub wait_for_pids_gone
{
	my ($seconds, @pids) = @_;
	my $deadline = time() + $seconds;
	while (1)
	{
		my @alive = grep { process_alive($_) } @pids;
		return 1 unless @alive;
		if (time() > $deadline)
		{
			diag("still running after $seconds s: @alive");
			return 0;
		}
		usleep(100_000);
	}
}


=pod

=item sql_digest_function()

SQL creating table_digest(regclass): "count:md5" of a table's rows in id
order, to compare a maintained table with its copy.

=cut

sub sql_digest_function
{
	return <<'SQL';
CREATE FUNCTION table_digest(r regclass) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE d text;
BEGIN
    EXECUTE format('SELECT count(*) || %L || coalesce(md5(string_agg(t::text, %L ORDER BY t.id)), %L) FROM %s t',
                   ':', ',', '', r)
    INTO d;
    RETURN d;
END
$fn$;
SQL
}

# The rows of a test table: one an hour over the last $days days, except
# within a day of the retention cutoff, so that the cutoff moving on while
# a test runs changes nothing.
sub sql_hourly_rows
{
	my ($name, $days, $retention, $policy) = @_;
	my ($lo, $hi) = ($retention + 1, $retention - 1);
	my $sql = <<"SQL";
INSERT INTO $name (ts, payload)
SELECT now() - g * interval '1 hour', md5(g::text)
FROM generate_series(1, $days * 24) g
WHERE now() - g * interval '1 hour'
      NOT BETWEEN now() - interval '$lo days' AND now() - interval '$hi days'
ORDER BY g DESC;
CREATE TABLE ${name}_keep AS
    SELECT * FROM $name WHERE ts >= now() - interval '$retention days';
SQL
	$sql .= sql_retention($name, $retention) if $policy;
	return $sql;
}

=pod

=item sql_retention(name, retention_days)

SQL setting the retention policy of a table made by sql_plain_table or
sql_partitioned_table.

=cut

sub sql_retention
{
	my ($name, $retention) = @_;
	return "SELECT pgscale_set_retention('$name', interval '$retention days', 'ts');\n";
}

=pod

=item sql_plain_table(name, days, retention_days, %options)

SQL creating a plain table name(id, ts, payload) with a row every hour
over the last days days (none within a day of the retention cutoff), its
copy name_keep holding the rows within retention, and the retention
policy (unless policy => 0).

=cut

sub sql_plain_table
{
	my ($name, $days, $retention, %opt) = @_;
	return <<"SQL" . sql_hourly_rows($name, $days, $retention, $opt{policy} // 1);
CREATE TABLE $name (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, payload text);
CREATE INDEX ON $name (ts);
SQL
}

=pod

=item sql_partitioned_table(name, days, retention_days, %options)

The same on a table partitioned by month on ts (UTC months), with
partitions from the month of the oldest row through this month and a
default partition; no partitioning policy yet.

=cut

sub sql_partitioned_table
{
	my ($name, $days, $retention, %opt) = @_;
	return <<"SQL" . sql_hourly_rows($name, $days, $retention, $opt{policy} // 1);
CREATE TABLE $name (id bigserial, ts timestamptz NOT NULL, payload text,
                    PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
CREATE TABLE ${name}_default PARTITION OF $name DEFAULT;
SELECT count(*) FROM pgscale_create_month_partitions('$name', 0,
    (now() - interval '$days days')::date);
SQL
}

=pod

=item sql_table_ok(name, retention_days)

A query returning "expired rows|copy": "0|same" once retention is
enforced and nothing within it was lost.

=cut

sub sql_table_ok
{
	my ($name, $retention) = @_;
	return "SELECT (SELECT count(*) FROM $name
	                WHERE ts < now() - interval '$retention days')
	               || '|' || CASE WHEN table_digest('$name') = table_digest('${name}_keep')
	                         THEN 'same' ELSE 'differs' END";
}

=pod

=item sql_months_premade(name, months, since)

A query counting the monthly partitions name_YYYY_MM of the next months
months (UTC) that exist, as the larger count of two reckonings: from the
month of the server timestamp since (a cycle that ran before a turn of
the month made them) and from the month of the clock (one that ran
after).  Either way the answer is months once premaking works, also when
the month turns between the cycle and the check.

=cut

sub sql_months_premade
{
	my ($name, $months, $since) = @_;
	return "SELECT max(n) FROM (
	          SELECT count(to_regclass('${name}_' || to_char(
	                     date_trunc('month', r AT TIME ZONE 'UTC') + m * interval '1 month',
	                     'YYYY_MM'))) AS n
	          FROM unnest(ARRAY['$since'::timestamptz, clock_timestamp()]) r,
	               generate_series(1, $months) m
	          GROUP BY r) c";
}

=pod

=back

=cut

1;
