-- The event that caused an order (its `live.PlaceOrder` command): the venue updates and fills of
-- the order name it as their cause, so `GET /events?corr_id=` links decision → intent → fill.
alter table orders add column cause_event_id text;
