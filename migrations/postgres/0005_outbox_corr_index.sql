-- The identity chain: GET /events?corr_id= reads every event one request caused, in order.
-- PostgreSQL twin of migrations/sqlite/0005_outbox_corr_index.sql.
create index outbox_corr_idx on outbox (corr_id, transaction_id, id);
