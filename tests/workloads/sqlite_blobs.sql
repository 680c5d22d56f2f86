-- Deterministic sqlite3 workload for the whole-process tests in every mode
-- (real_programs_test.py): sqlite3 :memory: < sqlite_blobs.sql
-- Besides rows, indexes and sorts (the small-object churn), it builds text and blob values
-- of 64 KiB to 3 MiB (after rewrites): sqlite mallocs each such value whole (and its overflow-page chain),
-- so the preloaded allocator's route serves them in each of its bands. Only deterministic
-- functions (no random(), randomblob(), dates): the output on glibc is the expected one.
PRAGMA cache_size = -16000;

CREATE TABLE docs(id INTEGER PRIMARY KEY, kind TEXT, body TEXT, data BLOB);

-- 160 documents: most a few KiB, every 8th between 64 KiB and 1.5 MiB.
WITH RECURSIVE n(i, r) AS (
  SELECT 1, 987654321
  UNION ALL
  SELECT i + 1, (r * 1103515245 + 12345) % 2147483648 FROM n WHERE i < 160)
INSERT INTO docs
SELECT i,
       CASE WHEN i % 8 = 0 THEN 'large' ELSE 'small' END,
       replace(printf('%.*c', CASE WHEN i % 8 = 0 THEN 65536 + r % 1500000 ELSE 100 + r % 4000 END,
                      'x'), 'x', char(97 + i % 26)) || printf('|%d|', r),
       CASE WHEN i % 8 = 0 THEN zeroblob(70000 + r % 900000) ELSE zeroblob(16 + r % 500) END
FROM n;

SELECT 'docs', kind, count(*), sum(length(body)), sum(length(data)), max(length(body))
FROM docs GROUP BY kind ORDER BY kind;

-- Rewrite the large values: grow, shrink and replace them (realloc across the bands).
UPDATE docs SET body = body || body WHERE kind = 'large' AND id % 16 = 0;
UPDATE docs SET body = substr(body, 1, 70000) WHERE kind = 'large' AND id % 16 = 8;
UPDATE docs SET data = zeroblob(length(data) * 2) WHERE id % 24 = 0;
SELECT 'rewritten', count(*), sum(length(body)), sum(length(data)) FROM docs;

-- Big intermediate values: hex() of a blob doubles it, group_concat joins many rows.
SELECT 'hex', sum(length(hex(data))) FROM docs WHERE kind = 'large';
SELECT 'concat', length(group_concat(body, ',')) FROM (SELECT body FROM docs ORDER BY id DESC);
SELECT 'substr', group_concat(substr(body, length(body) - 12), ';')
FROM (SELECT body FROM docs WHERE id % 50 = 0 ORDER BY id);

-- JSON built from and taken apart into rows.
CREATE TABLE events(id INTEGER PRIMARY KEY, doc TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO events
SELECT i, json_object('id', i, 'tags', json_array('t' || (i % 7), 't' || (i % 11)),
                      'weight', (i * 7919) % 1000)
FROM n;
SELECT 'json', count(*), sum(json_extract(doc, '$.weight')),
       count(DISTINCT json_extract(doc, '$.tags[0]'))
FROM events;
SELECT 'json_each', j.value, count(*)
FROM events, json_each(events.doc, '$.tags') AS j
GROUP BY j.value ORDER BY count(*) DESC, j.value LIMIT 5;

-- Sorting and indexing the small rows, then dropping everything.
CREATE INDEX docs_kind_len ON docs(kind, length(body));
SELECT 'sorted', id, length(body) FROM docs ORDER BY length(body) DESC, id LIMIT 5;
DELETE FROM docs WHERE id % 3 = 0;
SELECT 'after_delete', count(*), sum(length(body)) FROM docs;
DROP TABLE docs;
DROP TABLE events;
SELECT 'done';
