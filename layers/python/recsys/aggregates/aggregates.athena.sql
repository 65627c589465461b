-- Generated from aggregates.sql by sqlglot (python -m recsys.aggregates.sql --write):
-- the Athena (Trino) text of the same query. Do not edit; edit aggregates.sql.
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
), weights(type, w) AS (
  SELECT
    *
  FROM (VALUES
    ('view', CAST(? AS DOUBLE)),
    ('click', CAST(? AS DOUBLE)),
    ('add_to_cart', CAST(? AS DOUBLE)),
    ('remove_from_cart', CAST(? AS DOUBLE)),
    ('wishlist', CAST(? AS DOUBLE)),
    ('purchase', CAST(? AS DOUBLE)),
    ('search', CAST(? AS DOUBLE)),
    ('impression', CAST(? AS DOUBLE))) AS _values
), changes AS (
  SELECT
    owner,
    sk,
    type,
    at_s,
    product_id,
    order_id,
    op,
    ROW_NUMBER() OVER (PARTITION BY owner, sk ORDER BY version DESC) AS newest_first
  FROM events_archive
), log AS (
  SELECT
    owner,
    type,
    at_s,
    product_id,
    order_id
  FROM changes
  WHERE
    newest_first = 1 AND op = 'put'
), clock AS (
  SELECT
    CASE
      WHEN p.follow_log AND MAX(l.at_s) < p.wall_s - 86400.0
      THEN LEAST(p.wall_s, MAX(l.at_s))
      ELSE p.wall_s
    END AS now_s,
    COUNT(l.at_s) AS log_events
  FROM params AS p
  LEFT JOIN log AS l
    ON TRUE
  GROUP BY
    p.wall_s,
    p.follow_log
), ev AS (
  SELECT
    l.owner,
    l.type,
    l.at_s,
    l.product_id,
    l.order_id,
    COALESCE(w.w, 0.0) AS w
  FROM log AS l
  CROSS JOIN clock AS c
  LEFT JOIN weights AS w
    ON w.type = l.type
  WHERE
    NOT l.product_id IS NULL AND l.at_s <= c.now_s
), decayed AS (
  SELECT
    ev.product_id,
    SUM(ev.w * EXP(CAST(-(
      c.now_s - ev.at_s
    ) AS DOUBLE) / p.tau_s)) AS v
  FROM ev
  CROSS JOIN clock AS c
  CROSS JOIN params AS p
  WHERE
    ev.w > 0.0
  GROUP BY
    ev.product_id
), popularity AS (
  SELECT
    product_id,
    CAST(v AS DOUBLE) / MAX(v) OVER () AS score
  FROM decayed
  WHERE
    v > 0.0
), windows AS (
  SELECT
    ev.product_id,
    SUM(CASE WHEN ev.at_s >= c.now_s - p.window_s THEN ev.w ELSE 0.0 END) AS recent,
    SUM(CASE WHEN ev.at_s < c.now_s - p.window_s THEN ev.w ELSE 0.0 END) AS baseline,
    MAX(CASE WHEN ev.at_s >= c.now_s - p.window_s THEN 1 ELSE 0 END) AS seen_recently
  FROM ev
  CROSS JOIN clock AS c
  CROSS JOIN params AS p
  WHERE
    ev.w > 0.0 AND ev.at_s >= c.now_s - p.window_s - p.baseline_s
  GROUP BY
    ev.product_id
), trending AS (
  SELECT
    wi.product_id,
    CAST((
      wi.recent - wi.baseline * p.ratio
    ) AS DOUBLE) / SQRT(wi.baseline * p.ratio + p.prior_count) AS score
  FROM windows AS wi
  CROSS JOIN params AS p
  WHERE
    wi.seen_recently = 1
    AND wi.recent >= p.min_count
    AND wi.recent > wi.baseline * p.ratio
), purchases AS (
  SELECT DISTINCT
    basket,
    product_id
  FROM (
    SELECT
      CASE
        WHEN NOT ev.order_id IS NULL AND ev.order_id <> ''
        THEN CONCAT(CAST('o#' AS VARCHAR), CAST(ev.order_id AS VARCHAR))
        WHEN NOT ev.owner IS NULL AND ev.owner <> ''
        THEN CONCAT(
          CAST('d#' AS VARCHAR),
          CAST(ev.owner AS VARCHAR),
          CAST('#' AS VARCHAR),
          CAST(CAST(FLOOR(CAST(ev.at_s AS DOUBLE) / 86400.0) AS BIGINT) AS VARCHAR)
        )
      END AS basket,
      ev.product_id
    FROM ev
    CROSS JOIN params AS p
    WHERE
      ev.type = 'purchase'
      AND (
        p.session_baskets OR ev.owner IS NULL OR ev.owner NOT LIKE 's#%'
      )
  ) AS keyed
  WHERE
    NOT basket IS NULL
), sized AS (
  SELECT
    basket,
    product_id,
    COUNT(*) OVER (PARTITION BY basket) AS items
  FROM purchases
), baskets AS (
  SELECT
    s.basket,
    s.product_id
  FROM sized AS s
  CROSS JOIN params AS p
  WHERE
    s.items >= 2 AND s.items <= p.max_basket_items
), item_baskets AS (
  SELECT
    product_id,
    COUNT(*) AS n
  FROM baskets
  GROUP BY
    product_id
), pairs AS (
  SELECT
    a.product_id AS lo,
    b.product_id AS hi,
    COUNT(*) AS support
  FROM baskets AS a
  JOIN baskets AS b
    ON a.basket = b.basket AND a.product_id < b.product_id
  GROUP BY
    a.product_id,
    b.product_id
), cosine AS (
  SELECT
    pr.lo,
    pr.hi,
    CAST(pr.support AS DOUBLE) / SQRT(CAST(nl.n AS DOUBLE) * CAST(nh.n AS DOUBLE)) AS score
  FROM pairs AS pr
  JOIN item_baskets AS nl
    ON nl.product_id = pr.lo
  JOIN item_baskets AS nh
    ON nh.product_id = pr.hi
  CROSS JOIN params AS p
  WHERE
    pr.support >= p.min_support
), directed AS (
  SELECT
    lo AS product_id,
    hi AS neighbour,
    score
  FROM cosine
  UNION ALL
  SELECT
    hi AS product_id,
    lo AS neighbour,
    score
  FROM cosine
), ranked AS (
  SELECT
    product_id,
    neighbour,
    score,
    ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY score DESC, neighbour ASC) AS position
  FROM directed
), occasions AS (
  SELECT
    ev.owner,
    ev.product_id,
    COUNT(
      DISTINCT CASE
        WHEN NOT ev.order_id IS NULL AND ev.order_id <> ''
        THEN CONCAT(CAST('o#' AS VARCHAR), CAST(ev.order_id AS VARCHAR))
        ELSE CONCAT(
          CAST('d#' AS VARCHAR),
          CAST(ev.owner AS VARCHAR),
          CAST('#' AS VARCHAR),
          CAST(CAST(FLOOR(CAST(ev.at_s AS DOUBLE) / 86400.0) AS BIGINT) AS VARCHAR)
        )
      END
    ) AS n
  FROM ev
  WHERE
    ev.type = 'purchase'
    AND NOT ev.owner IS NULL
    AND ev.owner <> ''
    AND ev.owner NOT LIKE 's#%'
  GROUP BY
    ev.owner,
    ev.product_id
), repeat_buyers AS (
  SELECT
    product_id,
    COUNT(*) AS buyers,
    SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) AS repeaters
  FROM occasions
  GROUP BY
    product_id
), active AS (
  SELECT
    l.owner
  FROM log AS l
  CROSS JOIN clock AS c
  CROSS JOIN params AS p
  WHERE
    NOT l.owner IS NULL
  GROUP BY
    l.owner,
    c.now_s,
    p.active_s
  HAVING
    MAX(l.at_s) >= c.now_s - p.active_s
)
SELECT
  'popularity' AS kind,
  product_id AS k,
  CAST(NULL AS VARCHAR) AS k2,
  score AS v
FROM popularity
UNION ALL
SELECT
  'trending' AS kind,
  product_id AS k,
  CAST(NULL AS VARCHAR) AS k2,
  score AS v
FROM trending
UNION ALL
SELECT
  'neighbour' AS kind,
  r.product_id AS k,
  r.neighbour AS k2,
  r.score AS v
FROM ranked AS r
CROSS JOIN params AS p
WHERE
  r.position <= p.per_item
UNION ALL
SELECT
  'buyers' AS kind,
  product_id AS k,
  CAST(NULL AS VARCHAR) AS k2,
  CAST(buyers AS DOUBLE) AS v
FROM repeat_buyers
UNION ALL
SELECT
  'repeaters' AS kind,
  product_id AS k,
  CAST(NULL AS VARCHAR) AS k2,
  CAST(repeaters AS DOUBLE) AS v
FROM repeat_buyers
UNION ALL
SELECT
  'owner' AS kind,
  owner AS k,
  CAST(NULL AS VARCHAR) AS k2,
  CAST(NULL AS DOUBLE) AS v
FROM active
UNION ALL
SELECT
  'stat' AS kind,
  'now' AS k,
  CAST(NULL AS VARCHAR) AS k2,
  now_s AS v
FROM clock
UNION ALL
SELECT
  'stat' AS kind,
  'log_events' AS k,
  CAST(NULL AS VARCHAR) AS k2,
  CAST(log_events AS DOUBLE) AS v
FROM clock
UNION ALL
SELECT
  'stat' AS kind,
  'events' AS k,
  CAST(NULL AS VARCHAR) AS k2,
  CAST(COUNT(*) AS DOUBLE) AS v
FROM ev
UNION ALL
SELECT
  'stat' AS kind,
  'baskets' AS k,
  CAST(NULL AS VARCHAR) AS k2,
  CAST(COUNT(DISTINCT basket) AS DOUBLE) AS v
FROM baskets
