-- The nightly aggregates over the event archive: the SQL twin of compute_aggregates.
-- Written in DuckDB's dialect (run as is on one machine); the Athena (Trino) text beside it is
-- generated from this one by sqlglot (`python -m recsys.aggregates.sql --write`) and a test
-- checks the two agree. Parameters are positional (?) in the order of SqlParams.values(); the
-- relation events_archive is the archive table (a Glue table on AWS, a view over the Parquet
-- files locally). Every division and comparison is on DOUBLE so both engines compute the same
-- IEEE values as the Python path.
WITH params AS (
  SELECT
    CAST(? AS DOUBLE) AS wall_s,
    CAST(? AS BOOLEAN) AS follow_log,
    CAST(? AS DOUBLE) AS tau_s,
    CAST(? AS DOUBLE) AS window_s,
    CAST(? AS DOUBLE) AS baseline_s,
    CAST(? AS DOUBLE) AS ratio,
    CAST(? AS DOUBLE) AS min_count,
    CAST(? AS DOUBLE) AS prior_count,
    CAST(? AS BIGINT) AS min_support,
    CAST(? AS BIGINT) AS per_item,
    CAST(? AS BIGINT) AS max_basket_items,
    CAST(? AS BOOLEAN) AS session_baskets,
    CAST(? AS DOUBLE) AS active_s
),
weights (type, w) AS (
  VALUES
    ('view', CAST(? AS DOUBLE)),
    ('click', CAST(? AS DOUBLE)),
    ('add_to_cart', CAST(? AS DOUBLE)),
    ('remove_from_cart', CAST(? AS DOUBLE)),
    ('wishlist', CAST(? AS DOUBLE)),
    ('purchase', CAST(? AS DOUBLE)),
    ('search', CAST(? AS DOUBLE)),
    ('impression', CAST(? AS DOUBLE))
),
-- The archive is a change log (the stream of the DynamoDB table, or a snapshot of it): the log
-- as it stands is the newest change of each (owner, sk) unless that change is a delete
-- (an erasure, or the session half of a login merge).
changes AS (
  SELECT
    owner, sk, type, at_s, product_id, order_id, op,
    ROW_NUMBER() OVER (PARTITION BY owner, sk ORDER BY version DESC) AS newest_first
  FROM events_archive
),
log AS (
  SELECT owner, type, at_s, product_id, order_id FROM changes
  WHERE newest_first = 1 AND op = 'put'
),
-- The clock: as of the newest event when the log is a replayed history (older than a day),
-- otherwise the wall clock — the nightly job's rule.
clock AS (
  SELECT
    CASE
      WHEN p.follow_log AND MAX(l.at_s) < p.wall_s - 86400.0 THEN LEAST(p.wall_s, MAX(l.at_s))
      ELSE p.wall_s
    END AS now_s,
    COUNT(l.at_s) AS log_events
  FROM params AS p LEFT JOIN log AS l ON TRUE
  GROUP BY p.wall_s, p.follow_log
),
ev AS (
  SELECT l.owner, l.type, l.at_s, l.product_id, l.order_id, COALESCE(w.w, 0.0) AS w
  FROM log AS l
  CROSS JOIN clock AS c
  LEFT JOIN weights AS w ON w.type = l.type
  WHERE l.product_id IS NOT NULL AND l.at_s <= c.now_s
),
decayed AS (
  SELECT ev.product_id, SUM(ev.w * EXP(-(c.now_s - ev.at_s) / p.tau_s)) AS v
  FROM ev CROSS JOIN clock AS c CROSS JOIN params AS p
  WHERE ev.w > 0.0
  GROUP BY ev.product_id
),
popularity AS (
  SELECT product_id, v / MAX(v) OVER () AS score FROM decayed WHERE v > 0.0
),
windows AS (
  SELECT
    ev.product_id,
    SUM(CASE WHEN ev.at_s >= c.now_s - p.window_s THEN ev.w ELSE 0.0 END) AS recent,
    SUM(CASE WHEN ev.at_s < c.now_s - p.window_s THEN ev.w ELSE 0.0 END) AS baseline,
    MAX(CASE WHEN ev.at_s >= c.now_s - p.window_s THEN 1 ELSE 0 END) AS seen_recently
  FROM ev CROSS JOIN clock AS c CROSS JOIN params AS p
  WHERE ev.w > 0.0 AND ev.at_s >= c.now_s - p.window_s - p.baseline_s
  GROUP BY ev.product_id
),
trending AS (
  SELECT
    wi.product_id,
    (wi.recent - wi.baseline * p.ratio)
      / SQRT(wi.baseline * p.ratio + p.prior_count) AS score
  FROM windows AS wi CROSS JOIN params AS p
  WHERE wi.seen_recently = 1
    AND wi.recent >= p.min_count
    AND wi.recent > wi.baseline * p.ratio
),
-- Baskets: an order, or one owner's purchases of one UTC day when the order is unknown; by
-- default only identified customers' (anonymous sessions' owners start with "s#").
purchases AS (
  SELECT DISTINCT basket, product_id FROM (
    SELECT
      CASE
        WHEN ev.order_id IS NOT NULL AND ev.order_id <> '' THEN 'o#' || ev.order_id
        WHEN ev.owner IS NOT NULL AND ev.owner <> ''
          THEN 'd#' || ev.owner || '#' || CAST(CAST(FLOOR(ev.at_s / 86400.0) AS BIGINT) AS VARCHAR)
      END AS basket,
      ev.product_id
    FROM ev CROSS JOIN params AS p
    WHERE ev.type = 'purchase'
      AND (p.session_baskets OR ev.owner IS NULL OR ev.owner NOT LIKE 's#%')
  ) AS keyed
  WHERE basket IS NOT NULL
),
sized AS (
  SELECT basket, product_id, COUNT(*) OVER (PARTITION BY basket) AS items FROM purchases
),
baskets AS (
  -- Huge wholesale orders say little about which items go together and cost O(n²).
  SELECT s.basket, s.product_id FROM sized AS s CROSS JOIN params AS p
  WHERE s.items >= 2 AND s.items <= p.max_basket_items
),
item_baskets AS (
  SELECT product_id, COUNT(*) AS n FROM baskets GROUP BY product_id
),
pairs AS (
  SELECT a.product_id AS lo, b.product_id AS hi, COUNT(*) AS support
  FROM baskets AS a JOIN baskets AS b ON a.basket = b.basket AND a.product_id < b.product_id
  GROUP BY a.product_id, b.product_id
),
cosine AS (
  SELECT
    pr.lo, pr.hi,
    CAST(pr.support AS DOUBLE) / SQRT(CAST(nl.n AS DOUBLE) * CAST(nh.n AS DOUBLE)) AS score
  FROM pairs AS pr
  JOIN item_baskets AS nl ON nl.product_id = pr.lo
  JOIN item_baskets AS nh ON nh.product_id = pr.hi
  CROSS JOIN params AS p
  WHERE pr.support >= p.min_support
),
directed AS (
  SELECT lo AS product_id, hi AS neighbour, score FROM cosine
  UNION ALL
  SELECT hi AS product_id, lo AS neighbour, score FROM cosine
),
ranked AS (
  SELECT
    product_id, neighbour, score,
    ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY score DESC, neighbour ASC) AS position
  FROM directed
),
-- Repeat buyers: each identified customer's purchase occasions of a product (an order, or a
-- UTC day without one); a buyer on two or more occasions is a repeater.
occasions AS (
  SELECT
    ev.owner,
    ev.product_id,
    COUNT(DISTINCT CASE
      WHEN ev.order_id IS NOT NULL AND ev.order_id <> '' THEN 'o#' || ev.order_id
      ELSE 'd#' || ev.owner || '#' || CAST(CAST(FLOOR(ev.at_s / 86400.0) AS BIGINT) AS VARCHAR)
    END) AS n
  FROM ev
  WHERE ev.type = 'purchase'
    AND ev.owner IS NOT NULL AND ev.owner <> '' AND ev.owner NOT LIKE 's#%'
  GROUP BY ev.owner, ev.product_id
),
repeat_buyers AS (
  SELECT product_id, COUNT(*) AS buyers, SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) AS repeaters
  FROM occasions
  GROUP BY product_id
),
-- Owners active lately: the nightly job rebuilds their profiles (and creates missing ones).
active AS (
  SELECT l.owner FROM log AS l CROSS JOIN clock AS c CROSS JOIN params AS p
  WHERE l.owner IS NOT NULL
  GROUP BY l.owner, c.now_s, p.active_s
  HAVING MAX(l.at_s) >= c.now_s - p.active_s
)
SELECT 'popularity' AS kind, product_id AS k, CAST(NULL AS VARCHAR) AS k2, score AS v FROM popularity
UNION ALL
SELECT 'trending' AS kind, product_id AS k, CAST(NULL AS VARCHAR) AS k2, score AS v FROM trending
UNION ALL
SELECT 'neighbour' AS kind, r.product_id AS k, r.neighbour AS k2, r.score AS v
FROM ranked AS r CROSS JOIN params AS p WHERE r.position <= p.per_item
UNION ALL
SELECT 'buyers' AS kind, product_id AS k, CAST(NULL AS VARCHAR) AS k2, CAST(buyers AS DOUBLE) AS v FROM repeat_buyers
UNION ALL
SELECT 'repeaters' AS kind, product_id AS k, CAST(NULL AS VARCHAR) AS k2, CAST(repeaters AS DOUBLE) AS v FROM repeat_buyers
UNION ALL
SELECT 'owner' AS kind, owner AS k, CAST(NULL AS VARCHAR) AS k2, CAST(NULL AS DOUBLE) AS v FROM active
UNION ALL
SELECT 'stat' AS kind, 'now' AS k, CAST(NULL AS VARCHAR) AS k2, now_s AS v FROM clock
UNION ALL
SELECT 'stat' AS kind, 'log_events' AS k, CAST(NULL AS VARCHAR) AS k2, CAST(log_events AS DOUBLE) AS v FROM clock
UNION ALL
SELECT 'stat' AS kind, 'events' AS k, CAST(NULL AS VARCHAR) AS k2, CAST(COUNT(*) AS DOUBLE) AS v FROM ev
UNION ALL
SELECT 'stat' AS kind, 'baskets' AS k, CAST(NULL AS VARCHAR) AS k2, CAST(COUNT(DISTINCT basket) AS DOUBLE) AS v FROM baskets
