-- Deterministic sqlite3 workload: sqlite3 :memory: < sqlite_script.sql
-- sqlite allocates its page cache, parse trees and sort buffers through malloc, so tens of
-- thousands of rows, indexes, joins, sorts and text functions give the preloaded allocator
-- steady churn. Only deterministic functions are used (no random(), randomblob(), dates),
-- so the output under glibc is the expected output.
PRAGMA cache_size = -8000;  -- 8 MiB of page cache: many malloc'ed pages, not one arena

CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, score INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER, amount INTEGER,
                    note TEXT, payload BLOB);

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO customers
SELECT i,
       printf('customer-%06d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 7)),
       'city' || (i * 7919 % 97),
       (i * 2654435761) % 1000
FROM n;

-- Pseudo-random but fixed values from an LCG on the row number.
WITH RECURSIVE n(i, r) AS (
  SELECT 1, 12345
  UNION ALL
  SELECT i + 1, (r * 1103515245 + 12345) % 2147483648 FROM n WHERE i < 60000)
INSERT INTO orders
SELECT i, 1 + r % 20000, r % 10007,
       replace(printf('%.*c', 1 + r % 200, 'x'), 'x', char(65 + i % 26)),
       CASE WHEN i % 50 = 0 THEN zeroblob(1000 + r % 60000) ELSE x'00ff' END
FROM n;

CREATE INDEX orders_by_customer ON orders(customer_id);
CREATE INDEX customers_by_city ON customers(city, score);

SELECT 'customers', count(*), sum(score), max(length(name)) FROM customers;
SELECT 'orders', count(*), sum(amount), sum(length(note)), sum(length(payload)) FROM orders;

-- Join + group by + order by: hash/sort temporaries.
SELECT c.city, count(o.id), sum(o.amount), max(o.amount)
FROM customers c JOIN orders o ON o.customer_id = c.id
GROUP BY c.city ORDER BY sum(o.amount) DESC, c.city LIMIT 8;

SELECT group_concat(name, ',') IS NOT NULL, length(group_concat(name, ','))
FROM (SELECT name FROM customers WHERE score < 100 ORDER BY name);

-- Text functions on every row.
SELECT count(DISTINCT upper(substr(note, 1, 3))), sum(instr(note, 'Q')),
       sum(length(trim(replace(note, 'A', ' '))))
FROM orders;

-- Updates that grow and shrink rows (overflow pages come and go), then deletes.
UPDATE orders SET note = note || printf('%0200d', id) WHERE id % 3 = 0;
UPDATE orders SET payload = zeroblob(100000) WHERE id % 997 = 0;
UPDATE customers SET name = substr(name, 1, 10) WHERE id % 2 = 0;
DELETE FROM orders WHERE amount % 5 = 0;
DELETE FROM customers WHERE id NOT IN (SELECT customer_id FROM orders);

SELECT 'after', count(*), sum(amount), sum(length(note)), sum(length(payload)) FROM orders;
SELECT 'after', count(*), sum(score), sum(length(name)) FROM customers;

-- A correlated subquery and a window function.
SELECT id, name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n
FROM customers c ORDER BY n DESC, id LIMIT 5;
SELECT customer_id, amount, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC, id)
FROM orders WHERE customer_id <= 3 ORDER BY customer_id, 3 LIMIT 9;

-- Build and drop a large temporary table.
CREATE TEMP TABLE t AS SELECT o.id, c.name || ':' || o.note AS s FROM orders o JOIN customers c ON c.id = o.customer_id;
SELECT count(*), sum(length(s)), min(s) < max(s) FROM t;
DROP TABLE t;
VACUUM;

SELECT 'final', (SELECT count(*) FROM customers), (SELECT count(*) FROM orders),
       (SELECT sum(amount * customer_id) % 1000000007 FROM orders),
       (SELECT total(score) FROM customers);
