//! How a [`LiveRunner`] turns a strategy's answer into venue orders: sizing, the venue snapshot
//! the pre-trade checks read, and the journal path ([`place_order_keyed`]) every order takes.
//!
//! # Invariants
//! - One venue snapshot per answer, fetched only when the answer places or closes something, and
//!   kept current with the answer's own placements.
//! - Without a snapshot the checks cannot be trusted: the order is refused (fail closed), and its
//!   sequence number is still used.

use std::collections::VecDeque;

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use super::gate::Holdings;
use super::{LiveError, LiveRunner, Placed};
use crate::domain::{Intent, OrderIntent, OrderSize, OrderType, Side, TimeInForce, Timeframe};
use crate::veda::Error;
use crate::veda::journal::{IntentKey, place_order_keyed};
use crate::veda::risk::{Exposure, TradingState};
use crate::veda::types::{OrderQuantity, OrderQuery, OrderRequest, VenueOrder};

impl LiveRunner {
    /// Acts on the intents of one strategy answer; data-window requests are queued in
    /// `windows` for [`LiveRunner::handle`].
    pub(super) async fn act(
        &mut self,
        intents: Vec<Intent>,
        windows: &mut VecDeque<(String, Timeframe, u32)>,
    ) -> Result<(), LiveError> {
        // One venue snapshot per answer, fetched only if it places orders, kept current with
        // its own placements: a couple of requests per bar, not per order.
        let mut snapshot = None;
        for intent in intents {
            match intent {
                Intent::PlaceOrder(o) => self.place(o, &mut snapshot).await?,
                Intent::ClosePosition { symbol } => self.close(&symbol, &mut snapshot).await?,
                Intent::CancelOrder { client_order_id } => {
                    if let Err(e) = self
                        .journal
                        .record_cancel(&self.run_id, &client_order_id)
                        .await
                    {
                        // The request is not lost (the venue is still asked); only its record.
                        tracing::warn!(run = %self.run_id, error = %e, "cancel not recorded");
                    }
                    if let Ok(Some(o)) = self.venue.order_by_client_id(&client_order_id).await
                        && let Err(e) = self.venue.cancel_order(&o.id).await
                    {
                        tracing::warn!(run = %self.run_id, error = %e, "cancel refused");
                    }
                }
                Intent::Log { level, message } => {
                    tracing::info!(run = %self.run_id, ?level, "strategy: {message}");
                }
                Intent::FetchWindow {
                    symbol,
                    timeframe,
                    lookback,
                } => windows.push_back((symbol, timeframe, lookback)),
            }
        }
        Ok(())
    }

    /// The run's positions, working orders and (when a limit needs it) equity, fetched
    /// concurrently: the venue's, or on a shared account the run's own share
    /// ([`super::account::AccountSource::own_share`]) and its own orders.
    async fn fetch_snapshot(&self) -> Result<Snapshot, Error> {
        let query = OrderQuery::default();
        let marks = self.marks();
        let own = async {
            match &self.account {
                Some(source) => source.own_share(&marks).await,
                None => Ok(None),
            }
        };
        let (positions, open, own) =
            tokio::join!(self.venue.positions(), self.venue.orders(&query), own);
        let wants_equity = self
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .max_order_equity_pct
            .is_some();
        let (positions, open) = (positions?, open?);
        let snapshot = match own? {
            Some(own) => Snapshot {
                positions: own
                    .positions
                    .into_iter()
                    .filter_map(|p| Some((p.symbol, Decimal::from_f64(p.quantity)?.normalize())))
                    .collect(),
                open: open
                    .iter()
                    .filter(|o| self.is_mine(&o.client_order_id))
                    .cloned()
                    .collect(),
                equity: Decimal::from_f64(own.equity).filter(|_| wants_equity),
                held: match &self.gate {
                    Some(gate) => Some(Holdings {
                        positions,
                        open,
                        equity: match gate.wants_equity() {
                            true => Some(self.venue.account().await?.equity),
                            false => None,
                        },
                    }),
                    None => None,
                },
            },
            None => Snapshot {
                positions: positions
                    .into_iter()
                    .map(|p| (p.symbol, p.quantity))
                    .collect(),
                open,
                equity: match wants_equity {
                    true => Some(self.venue.account().await?.equity),
                    false => None,
                },
                held: None,
            },
        };
        Ok(snapshot)
    }

    /// The account's refusal of `request`, if the run trades on a shared account with a gate.
    fn account_check(&self, request: &OrderRequest, snap: &Snapshot) -> Result<(), Error> {
        let (Some(gate), Some(held)) = (&self.gate, &snap.held) else {
            return Ok(());
        };
        let reference_price = self
            .symbols
            .iter()
            .position(|s| *s == request.symbol)
            .and_then(|i| self.last_close[i])
            .and_then(Decimal::from_f64);
        // Closing by hand or flattening eases the account's halt to reduce-only, as the run's.
        gate.check(
            request,
            held,
            reference_price,
            chrono::Utc::now(),
            self.closing,
        )
        .map_err(Error::PreTrade)
    }

    /// Tells the strategy, if it subscribed to lifecycle events, each order the checks refused
    /// while acting on its last answer: a `risk.OrderDenied` event (a `raw` JSON payload in
    /// this contract version: `type` (`risk.OrderDenied`), `client_order_id`, `symbol`, `side`, `rule`, `code`, `figure`,
    /// `limit`, `message`, and `account` when the account's limits refused it). What it answers is not acted on (as at `Stopping`), so a strategy
    /// that insists cannot loop on its refusals.
    pub(super) fn tell_denied(&mut self) -> Result<(), LiveError> {
        if self.denied.is_empty() {
            return Ok(());
        }
        let denied = std::mem::take(&mut self.denied);
        let wants = self
            .strategy
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .subscriptions()
            .lifecycle;
        if !wants {
            return Ok(());
        }
        let ts = self.last_ts.unwrap_or(0);
        for (order, v) in denied {
            let body = serde_json::json!({
                "type": "risk.OrderDenied",
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": order.side,
                "rule": v.rule(),
                "code": v.code(),
                "figure": v.figure(),
                "limit": v.limit(),
                "message": v.to_string(),
                "account": v.account(),
            });
            let payload = crate::domain::StrategyPayload::Raw {
                content_type: "application/json".to_owned(),
                bytes: body.to_string().into_bytes(),
            };
            self.events += 1;
            let meta = self.meta("denied", "risk.OrderDenied", ts);
            let event = crate::domain::StrategyEvent { meta, payload };
            self.strategy
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .on_event(&event)
                .map_err(LiveError::Strategy)?;
        }
        Ok(())
    }

    /// The run's working orders at the venue.
    pub(super) async fn own_open_orders(&self) -> Result<Vec<VenueOrder>, Error> {
        let open = self.venue.orders(&OrderQuery::default()).await?;
        Ok(open
            .into_iter()
            .filter(|o| !o.status.is_terminal() && self.is_mine(&o.client_order_id))
            .collect())
    }

    /// The bar's snapshot, fetched on first use.
    pub(super) async fn snapshot<'s>(
        &self,
        slot: &'s mut Option<Snapshot>,
    ) -> Result<&'s mut Snapshot, Error> {
        if slot.is_none() {
            // A run on a shared account reads its own share from the store: during an outage
            // it waits for it, as its orders' journal does, rather than fail.
            *slot = Some(self.patiently(|| self.fetch_snapshot()).await?);
        }
        slot.as_mut()
            .ok_or_else(|| Error::Config("snapshot missing".into()))
    }

    pub(super) async fn close(
        &mut self,
        symbol: &str,
        snapshot: &mut Option<Snapshot>,
    ) -> Result<(), LiveError> {
        let position = match self.snapshot(snapshot).await {
            Ok(snap) => snap.positions.get(symbol).copied().unwrap_or_default(),
            Err(e) => {
                tracing::warn!(run = %self.run_id, error = %e, "position unknown; close skipped");
                return Ok(());
            }
        };
        if position.is_zero() {
            return Ok(());
        }
        let side = if position > Decimal::ZERO {
            Side::Sell
        } else {
            Side::Buy
        };
        let request = OrderRequest {
            client_order_id: String::new(),
            symbol: symbol.to_owned(),
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            quantity: OrderQuantity::Units(position.abs()),
            limit_price: None,
            stop_price: None,
            extended_hours: false,
        };
        self.submit(request, None, snapshot).await
    }

    pub(super) async fn place(
        &mut self,
        o: OrderIntent,
        snapshot: &mut Option<Snapshot>,
    ) -> Result<(), LiveError> {
        let close = self
            .symbols
            .iter()
            .position(|s| *s == o.symbol)
            .and_then(|i| self.last_close[i]);
        let quantity = match o.size {
            OrderSize::Units(u) => Decimal::from_f64(u).map(OrderQuantity::Units),
            OrderSize::Notional(n) => Decimal::from_f64(n).map(OrderQuantity::Notional),
            OrderSize::EquityFraction(f) => match (self.venue.account().await, close) {
                (Ok(account), Some(price)) if price > 0.0 => Decimal::from_f64(price)
                    .filter(|p| !p.is_zero())
                    .and_then(|p| {
                        let power = self
                            .equity_cap
                            .map_or(account.buying_power, |cap| cap.min(account.buying_power));
                        Decimal::from_f64(f.min(1.0)).map(|f| f * power / p)
                    })
                    .map(|u| OrderQuantity::Units(u.floor())),
                _ => None,
            },
        };
        let request = OrderRequest {
            client_order_id: String::new(),
            symbol: o.symbol.clone(),
            side: o.side,
            order_type: o.order_type,
            time_in_force: o.time_in_force,
            // An unrepresentable size becomes zero units, which the checks refuse with a reason.
            quantity: quantity.unwrap_or(OrderQuantity::Units(Decimal::ZERO)),
            limit_price: o.limit_price.and_then(Decimal::from_f64),
            stop_price: o.stop_price.and_then(Decimal::from_f64),
            extended_hours: false,
        };
        self.submit(request, o.tag, snapshot).await
    }

    async fn submit(
        &mut self,
        mut request: OrderRequest,
        tag: Option<String>,
        snapshot: &mut Option<Snapshot>,
    ) -> Result<(), LiveError> {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        // Without the venue's positions and open orders the checks cannot be trusted: fail
        // closed (the order is not placed; the sequence number is still used).
        let outcome = match self.snapshot(snapshot).await {
            Ok(snap) => {
                let exposure = self.exposure(&request.symbol, snap);
                let limits = self
                    .limits
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let key = IntentKey {
                    sequence,
                    client_order_id: crate::veda::client_order_id::derive(&self.scope, sequence),
                };
                // The run's own limits first (their refusal names the run's rule), then the
                // account's over every run's holdings.
                let outcome = match crate::veda::risk::check_order(&request, &limits, &exposure)
                    .map_err(Error::PreTrade)
                    .and_then(|()| self.account_check(&request, snap))
                {
                    Err(e) => Err(e),
                    Ok(()) => {
                        // Trying again is safe: the journal recognises the intent by its key
                        // and asks the venue before sending anything.
                        self.patiently(|| {
                            place_order_keyed(
                                self.journal.as_ref(),
                                self.venue.as_ref(),
                                &self.run_id,
                                key.clone(),
                                request.clone(),
                                &limits,
                                &exposure,
                            )
                        })
                        .await
                    }
                };
                if let (Ok(order), Some(snap)) = (&outcome, snapshot.as_mut())
                    && !order.status.is_terminal()
                {
                    snap.open.push(order.clone());
                    if let Some(held) = snap.held.as_mut() {
                        held.open.push(order.clone());
                    }
                }
                if let (Ok(_), Some(gate)) = (&outcome, &self.gate) {
                    gate.on_order_placed(chrono::Utc::now());
                }
                outcome
            }
            Err(e) => Err(e),
        };
        request.client_order_id = crate::veda::client_order_id::derive(&self.scope, sequence);
        let journal_failed = matches!(outcome, Err(Error::Journal(_)));
        if let Err(Error::PreTrade(v)) = &outcome {
            self.denied.push((request.clone(), v.clone()));
        }
        if !matches!(outcome, Err(Error::PreTrade(_))) {
            // Counted for `max_orders_per_minute` by event time, so a replay counts the same.
            self.order_times.push_back(self.last_ts.unwrap_or(0));
            if self.order_times.len() > 4096 {
                self.order_times.pop_front();
            }
        }
        if let Err(e) = &outcome {
            tracing::warn!(run = %self.run_id, sequence, code = e.code(), "order not placed: {e}");
            if let Some(f) = &self.on_refused {
                f(sequence, &request, e);
            }
        }
        self.mine.insert(request.client_order_id.clone(), tag);
        self.placed.push(Placed {
            sequence,
            request,
            outcome,
        });
        if journal_failed
            && let Some(Placed {
                outcome: Err(e), ..
            }) = self.placed.pop()
        {
            return Err(LiveError::Journal(e));
        }
        Ok(())
    }

    /// `op`, tried again while the store cannot be written (a journal error), for up to the
    /// run's store patience ([`LiveRunner::store_patience`]): an outage of the database pauses
    /// the run (its next event waits) instead of failing it, and whoever watches is told while
    /// it waits.
    async fn patiently<T, F>(&self, mut op: impl FnMut() -> F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        let mut wait = crate::veda::store_wait::StoreWait::new(self.store_patience);
        let mut waited = false;
        let outcome = loop {
            match op().await {
                Err(Error::Journal(e)) if !wait.expired() => {
                    if !waited {
                        tracing::warn!(run = %self.run_id, "store unavailable; the run waits for it: {e}");
                    }
                    waited = true;
                    if let Some(f) = &self.on_store_wait {
                        f(Some(&e));
                    }
                    wait.pause().await;
                }
                other => break other,
            }
        };
        if waited && let Some(f) = &self.on_store_wait {
            f(None);
        }
        outcome
    }

    fn exposure(&self, symbol: &str, snap: &Snapshot) -> Exposure {
        let reference_price = self
            .symbols
            .iter()
            .position(|s| s == symbol)
            .and_then(|i| self.last_close[i])
            .and_then(Decimal::from_f64);
        let now = self.last_ts.unwrap_or(0);
        let orders_last_minute = self
            .order_times
            .iter()
            .rev()
            .take_while(|t| **t > now - 60_000)
            .count();
        Exposure {
            state: self.checked_state(),
            reference_price,
            position: snap.positions.get(symbol).copied().unwrap_or_default(),
            open_buy_quantity: snap.working(symbol, Side::Buy),
            open_sell_quantity: snap.working(symbol, Side::Sell),
            open_orders: snap.open.len(),
            equity: snap.equity,
            // Closing by hand or flattening eases a halting breach to reduce-only, as it eases
            // the state set by hand.
            breach: self.binding_breach(now).map(|mut b| {
                if self.closing && b.state == TradingState::Halted {
                    b.state = TradingState::ReduceOnly;
                }
                b
            }),
            gross_exposure: self.gross_exposure(snap),
            orders_last_minute: u32::try_from(orders_last_minute).unwrap_or(u32::MAX),
        }
    }

    /// Σ over symbols of the worst case of position and working orders, `max(|pos + buys|,
    /// |pos − sells|)`, at the latest close (the rule `check_order` applies to the order itself).
    /// A symbol without a known close (not one of the run's) is not counted.
    fn gross_exposure(&self, snap: &Snapshot) -> Decimal {
        let mut symbols: std::collections::BTreeSet<&str> =
            snap.positions.keys().map(String::as_str).collect();
        symbols.extend(snap.open.iter().map(|o| o.symbol.as_str()));
        symbols
            .into_iter()
            .filter_map(|symbol| {
                let price = self
                    .symbols
                    .iter()
                    .position(|s| s == symbol)
                    .and_then(|i| self.last_close[i])
                    .and_then(Decimal::from_f64)?;
                let pos = snap.positions.get(symbol).copied().unwrap_or_default();
                let worst = (pos + snap.working(symbol, Side::Buy))
                    .abs()
                    .max((pos - snap.working(symbol, Side::Sell)).abs());
                Some(worst * price)
            })
            .sum()
    }
}

/// The venue's positions and open orders as one bar's orders see them.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub(super) positions: std::collections::BTreeMap<String, Decimal>,
    open: Vec<VenueOrder>,
    /// The run's equity, fetched only when a limit needs it (`max_order_equity_pct`).
    equity: Option<Decimal>,
    /// The whole account's holdings, on a shared account with a gate.
    held: Option<Holdings>,
}

impl Snapshot {
    /// Units still to fill of the working orders on one side of `symbol`.
    fn working(&self, symbol: &str, side: Side) -> Decimal {
        self.open
            .iter()
            .filter(|o| o.symbol == symbol && o.side == side)
            .filter_map(|o| o.quantity.map(|q| q - o.filled_quantity))
            .sum()
    }
}
