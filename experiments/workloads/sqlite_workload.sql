-- Allocation-heavy SQLite workload for allocator comparison.
-- Run as: sqlite3 :memory: < sqlite_workload.sql
-- SQLite routes its page cache, parser, VDBE and result rows through malloc by
-- default, so an in-memory database with variable-length text/blob rows,
-- index builds, joins and sorts/group-bys exercises many size classes and
-- lifetimes. Everything is deterministic (fixed formulas, no random()), so every
-- allocator does identical work. Only a few small summary rows are printed.
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;

CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, note BLOB);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, item TEXT,
                     qty INTEGER, price REAL, payload BLOB);

BEGIN;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20000)
INSERT INTO customers (id, name, city, note)
SELECT n,
       'customer-' || n || '-' || substr('abcdefghijklmnopqrstuvwxyz', 1 + n % 26, 1 + n % 17),
       'city-' || (n % 97),
       zeroblob(16 + (n * 7919) % 240)
FROM seq;

WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 200000)
INSERT INTO orders (id, customer_id, item, qty, price, payload)
SELECT n,
       1 + (n * 2654435761) % 20000,
       'item-' || (n % 1013) || '-' || hex(zeroblob(1 + n % 23)),
       1 + n % 9,
       ((n * 37) % 10000) / 100.0,
       zeroblob(8 + (n * 104729) % 200)
FROM seq;
COMMIT;

CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_item ON orders (item);
CREATE INDEX customers_city ON customers (city);

-- Join + group-by: per-city revenue.
SELECT 'top_cities', group_concat(city || ':' || printf('%.0f', revenue), ',') FROM (
  SELECT c.city AS city, sum(o.qty * o.price) AS revenue
  FROM orders o JOIN customers c ON c.id = o.customer_id
  GROUP BY c.city ORDER BY revenue DESC LIMIT 5);

-- Group-by over a text key with string building (many short-lived strings).
SELECT 'items', count(*), sum(length(names)) FROM (
  SELECT item, group_concat(customer_id) AS names FROM orders GROUP BY item);

-- Sort of wide rows, forcing the sorter to buffer blobs.
SELECT 'sorted', count(*), sum(length(payload)) FROM (
  SELECT payload FROM orders ORDER BY length(payload) DESC, id LIMIT 50000);

-- Update + delete churn: frees and reallocates rows of a different size.
UPDATE orders SET payload = zeroblob(4 + id % 64), item = item || '-x' WHERE id % 3 = 0;
DELETE FROM orders WHERE id % 5 = 0;

SELECT 'final', count(*), sum(length(payload)), count(DISTINCT customer_id) FROM orders;
