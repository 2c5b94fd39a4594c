#!/usr/bin/python3
"""Check a Prometheus text exposition (stdin) the way a scraper reads it.

    psql -Atc 'SELECT pgscale_metrics_text()' | test/metrics_check.py

Parses it with prometheus_client's parser (Debian's python3-prometheus-client)
and checks what that parser lets through: every family has its # HELP and
# TYPE before its samples and only once, names and label names are valid,
label values are escaped, no series appears twice, every value is a number.
Prints "families N samples M" and exits 0, or names the first fault and
exits 1.

    test/metrics_check.py --queries queries.yaml

prints each postgres_exporter query of that file as one JSON line
{"namespace": ..., "query": ..., "columns": {column: usage}} for the test
to run.
"""
import json
import re
import sys

NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
VALUE = re.compile(r'^(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN)$')


def fail(msg):
    print('invalid exposition: ' + msg)
    sys.exit(1)


def check(text):
    from prometheus_client.parser import text_string_to_metric_families

    helped, typed, seen_samples = set(), set(), set()
    current = None
    for n, line in enumerate(text.split('\n'), 1):
        if line == '':
            continue
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            parts = line.split(' ', 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                fail('line %d: bad comment %r' % (n, line))
            kind, name = parts[1], parts[2]
            target = helped if kind == 'HELP' else typed
            if name in target:
                fail('line %d: a second # %s for %s' % (n, kind, name))
            if kind == 'TYPE' and parts[3] not in ('counter', 'gauge', 'untyped', 'summary', 'histogram'):
                fail('line %d: unknown type %r' % (n, parts[3]))
            target.add(name)
            current = name
            continue
        m = SAMPLE.match(line)
        if not m:
            fail('line %d: not a sample %r' % (n, line))
        name, _, labels, value = m.groups()
        if name != current or name not in helped or name not in typed:
            fail('line %d: sample of %s without its # HELP and # TYPE just before' % (n, name))
        keys = []
        if labels:
            pos = 0
            while pos < len(labels):
                p = PAIR.match(labels, pos)
                if not p:
                    fail('line %d: bad labels %r' % (n, labels))
                keys.append((p.group(1), p.group(2)))
                pos = p.end()
        if len(set(k for k, _ in keys)) != len(keys):
            fail('line %d: a label twice' % n)
        if not VALUE.match(value):
            fail('line %d: bad value %r' % (n, value))
        series = (name, tuple(sorted(keys)))
        if series in seen_samples:
            fail('line %d: series %r twice' % (n, series))
        seen_samples.add(series)
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        fail('prometheus_client: %s' % e)
    samples = sum(len(f.samples) for f in families)
    if samples != len(seen_samples):
        fail('prometheus_client read %d samples, the lines are %d' % (samples, len(seen_samples)))
    print('families %d samples %d' % (len(families), samples))


def queries(path):
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f)
    for namespace, q in doc.items():
        columns = {}
        for m in q['metrics']:
            ((col, spec),) = m.items()
            columns[col] = spec['usage']
        print(json.dumps({'namespace': namespace, 'query': q['query'], 'columns': columns}))


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--queries':
        queries(sys.argv[2])
    else:
        check(sys.stdin.read())
