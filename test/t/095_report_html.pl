# pgscale_report_html() in a real browser: a database with data (size
# snapshots of two tables, a policy that removed rows, an unused index, a
# failing policy) gives one self-contained page that headless Chromium
# (Debian's chromium) renders.  The page's structure is checked in the DOM
# the browser built: every section, one chart per table with history and as
# many points as it has snapshots, the bars of the rows removed, no script.
# A table named <script>alert(1)</script> shows as text.  The screenshot is
# kept as an artifact (tmp_check/report_html.png).  Without chromium only
# the page's text is checked and the browser half is skipped.
use strict;
use warnings;

use File::Basename qw(dirname);
use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node('report_html');
$node->start;

my $xss = '<script>alert(1)</script>';
$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION pgscale;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL, v int);
INSERT INTO events (ts, v) SELECT now() - g * interval '1 hour', g FROM generate_series(1, 2000) g;
CREATE INDEX events_v_idx ON events (v);
SELECT pgscale_set_retention('events', '30 days', 'ts');
SELECT rows_deleted FROM pgscale_cleanup(relation => 'events');
CREATE TABLE "$xss" (ts timestamptz NOT NULL);
INSERT INTO "$xss" SELECT now() - g * interval '1 day' FROM generate_series(1, 10) g;
SELECT pgscale_set_retention('"$xss"', '5 days', 'ts');
-- a failing run: its last log entry is an error
INSERT INTO pgscale_log (table_name, relid, action, object_name, rows, duration, source, detail)
SELECT '"$xss"', '"$xss"'::regclass, 'error', '"$xss"', 0, '0', 'manual', 'boom <b>&</b>';
-- 7 snapshots of events and 5 of the other table, a day apart
INSERT INTO pgscale_size_history
    (taken_at, schema_name, table_name, relid, total_bytes, table_bytes, index_bytes, toast_bytes, estimated_rows)
SELECT now() - g * interval '1 day', 'public', 'events', 'events'::regclass,
       1000000 + (7 - g) * 100000, 800000, 200000, 0, 2000
  FROM generate_series(0, 6) g;
INSERT INTO pgscale_size_history
    (taken_at, schema_name, table_name, relid, total_bytes, table_bytes, index_bytes, toast_bytes, estimated_rows)
SELECT now() - g * interval '1 day', 'public', '$xss', '"$xss"'::regclass,
       50000 + (5 - g) * 1000, 50000, 0, 0, 10
  FROM generate_series(0, 4) g;
});

my $html = $node->safe_psql('postgres', 'SELECT pgscale_report_html()');
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $page = "$dir/report_html.html";
open(my $fh, '>', $page) or die "could not write $page: $!";
print $fh $html;
close($fh);

# the page's text
like($html, qr/^<!DOCTYPE html>/, 'an HTML page');
for my $id (qw(tier growth removed compliance indexes health))
{
	like($html, qr/<section id="$id">/, "section $id present");
}
unlike($html, qr/<script/i, 'no script element anywhere in the page');
unlike($html, qr/(?:src|href)=/i, 'no external file');
like($html, qr/&lt;script&gt;alert\(1\)&lt;\/script&gt;/,
	'the table named <script> shows escaped');
like($html, qr/boom &lt;b&gt;&amp;&lt;\/b&gt;/, 'log text escaped');
like($html, qr/<polyline class="history" data-points="7"/,
	'the chart of events has 7 points');
like($html, qr/<polyline class="history" data-points="5"/,
	'the chart of the other table has 5 points');
like($html, qr/class="steady"/, 'a retention steady-state line');
like($html, qr/class="forecast"/, 'a forecast line');
like($html, qr/<rect class="bar"/, 'rows removed are charted');
like($html, qr/<span class="no">1 in a row<\/span>: boom/,
	'the failing policy is named in the compliance table, with its error');
like($html, qr/<td class="no">no<\/td>/, 'a policy out of compliance says so');

# in the browser
my $chromium = (grep { -x $_ } qw(/usr/bin/chromium /usr/bin/chromium-browser))[0];
SKIP:
{
	skip 'chromium (Debian package chromium) is not installed', 9
	  unless $chromium;

	# the browser runs on the real clock: under test/run_tests.sh --date the
	# tests inherit libfaketime, which Chromium does not survive
	my @browser = (
		'env', '-u', 'LD_PRELOAD', '-u', 'FAKETIME', '-u', 'FAKETIME_SHARED',
		'-u', 'FAKETIME_DONT_FAKE_MONOTONIC', 'timeout', '120', $chromium);
	my @flags = (
		'--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
		'--no-first-run', "--user-data-dir=$dir/chromium");
	my ($dom, $err) = run_command(
		[ @browser, @flags, '--dump-dom', "file://$page" ]);
	like($dom, qr/<section id="compliance">/, 'the browser built the page');
	my @svgs = ($dom =~ /<svg class="chart"/g);
	is(scalar(@svgs), 3, 'three charts: two tables and the rows removed');
	my @points = map { scalar(split / /, $_) }
	  ($dom =~ /<polyline class="history"[^>]* points="([^"]*)"/g);
	is_deeply([ sort { $a <=> $b } @points ], [ 5, 7 ],
		'each chart has as many points as its table has snapshots');
	my @bars = ($dom =~ /<rect class="bar"/g);
	cmp_ok(scalar(@bars), '>=', 1, 'at least one bar of rows removed');
	unlike($dom, qr/<script/i, 'no script element in the DOM');
	like($dom, qr/<h3>public\."&lt;script&gt;alert\(1\)&lt;\/script&gt;"<\/h3>/,
		'the table named <script> is text in the DOM');

	my $png = "$dir/report_html.png";
	unlink $png;
	run_command(
		[
			@browser, @flags, '--window-size=1200,2400',
			"--screenshot=$png", "file://$page"
		]);
	ok(-s $png, "screenshot kept: $png");
	open(my $ph, '<:raw', $png) or die "could not read $png: $!";
	read($ph, my $magic, 24);
	close($ph);
	is(substr($magic, 1, 3), 'PNG', 'the screenshot is a PNG');
	my ($width, $height) = unpack('NN', substr($magic, 16, 8));
	is("$width x $height", '1200 x 2400', 'of the window size asked for');
}

$node->stop;
done_testing();
