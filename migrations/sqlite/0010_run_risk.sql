-- A run's risk limits (the `risk` object of `POST /runs`, every key, null where off), resolved
-- when the run is created (the operator's defaults for runs on Alpaca, none on the simulated
-- exchange, then what the request set) and changed by `PATCH /runs/{id}/risk`; stored so a
-- resumed run keeps them. Null for runs stored before limits existed: no limits.
alter table runs add column risk text;
