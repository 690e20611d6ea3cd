// The demo's semantic layer: orders per day and status from the orders_daily mart.
// JavaScript model syntax: read by Cube 0.32 (hermetic image) and Cube 1.x (upstream) alike.
cube(`Orders`, {
  sql: `SELECT * FROM marts.orders_daily`,

  refreshKey: {
    every: `1 second`,
    sql: `SELECT MAX(computed_at) FROM marts.orders_daily`,
  },

  measures: {
    count: {
      sql: `order_count`,
      type: `sum`,
      title: `Orders`,
    },
    revenue: {
      sql: `revenue`,
      type: `sum`,
      format: `currency`,
    },
  },

  dimensions: {
    day: {
      sql: `day`,
      type: `time`,
    },
    status: {
      sql: `status`,
      type: `string`,
    },
  },
});
