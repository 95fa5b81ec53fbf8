-- The identity chain: GET /events?corr_id= reads every event one request caused, in order.
create index outbox_corr_idx on outbox (corr_id, id);
