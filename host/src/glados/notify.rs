//! Notifications through the API: which channels are configured and where each rule goes
//! (`GET /notifications/settings`), the rules (`PUT /notifications/rules`), a test send
//! (`POST /notifications/test`) and the dead-letter list with its retry. The notifier itself
//! lives in [`crate::notify`].
//!
//! # Invariants
//! - No answer carries a channel's URL, token or signing key: a channel is `configured` or not.
//! - `PUT /notifications/rules` changes only the rules it names (`inherit` drops the API's
//!   route for one); a rule the API never set follows `WEAVER_NOTIFY_RULES`, then `all`. A bad
//!   rule or route changes nothing.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::http::{AppJson, AppQuery, IdPath, OptionalJson};
use crate::notify::{self, Attempt, Channel, Settings};

/// The notification routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notifications/settings", get(get_settings))
        .route("/notifications/rules", put(put_rules))
        .route("/notifications/test", post(send_test))
        .route("/notifications/dead-letters", get(list_dead_letters))
        .route(
            "/notifications/dead-letters/{id}/retry",
            post(retry_dead_letter),
        )
}

impl From<notify::Error> for ApiError {
    fn from(e: notify::Error) -> Self {
        match e {
            notify::Error::Invalid { code, message } => ApiError::Invalid { code, message },
            notify::Error::NotFound(id) => ApiError::NotFound {
                entity: "dead letter",
                id: id.to_string(),
            },
            e @ (notify::Error::NotConfigured(_) | notify::Error::NoChannel) => {
                ApiError::Conflict {
                    code: e.code(),
                    message: e.to_string(),
                }
            }
            notify::Error::Store(e) => e.into(),
        }
    }
}

/// A channel and whether it is configured (never its URL or token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifyChannelView {
    /// `webhook`, `telegram` or `discord`.
    pub channel: String,
    /// Set up by the `WEAVER_NOTIFY_WEBHOOK_URL` family of variables.
    pub configured: bool,
}

/// A rule and where its notifications go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifyRuleView {
    /// Rule name (`run_failed`, `order_denied`, …).
    pub rule: String,
    /// The events it matches.
    pub events: String,
    /// `all` (every configured channel), `off`, or one channel's name.
    pub route: String,
    /// Who set the route: `default`, `env` (`WEAVER_NOTIFY_RULES`) or `api`.
    pub source: String,
}

/// The notification settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifySettingsView {
    /// Every channel.
    pub channels: Vec<NotifyChannelView>,
    /// Every rule.
    pub rules: Vec<NotifyRuleView>,
}

impl From<Settings> for NotifySettingsView {
    fn from(s: Settings) -> Self {
        NotifySettingsView {
            channels: s
                .channels
                .into_iter()
                .map(|(c, configured)| NotifyChannelView {
                    channel: c.name().to_owned(),
                    configured,
                })
                .collect(),
            rules: s
                .rules
                .into_iter()
                .map(|(r, e)| NotifyRuleView {
                    rule: r.name().to_owned(),
                    events: r.describe().to_owned(),
                    route: e.route.name().to_owned(),
                    source: e.source.to_owned(),
                })
                .collect(),
        }
    }
}

/// The rules to set through the API.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRulesRequest {
    /// Rule name → `all`, `off`, `webhook`, `telegram` or `discord`, or `inherit` to drop the
    /// route set here (back to `WEAVER_NOTIFY_RULES`, else `all`). Rules left out keep theirs.
    pub rules: BTreeMap<String, String>,
}

/// Which channel to test.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyTestRequest {
    /// One channel; absent: every configured channel.
    pub channel: Option<String>,
}

/// What one channel did with a send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifyAttemptView {
    /// The channel.
    pub channel: String,
    /// It took the notification.
    pub delivered: bool,
    /// Why not (the channel's answer or the transport error; never a URL).
    pub error: Option<String>,
}

impl From<Attempt> for NotifyAttemptView {
    fn from(a: Attempt) -> Self {
        NotifyAttemptView {
            channel: a.channel.name().to_owned(),
            delivered: a.error.is_none(),
            error: a.error,
        }
    }
}

/// The test sends, one per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotifyTestView {
    /// One per channel tried.
    pub results: Vec<NotifyAttemptView>,
}

/// A notification that could not be delivered after its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    /// Its id (for the retry).
    pub id: i64,
    /// The event it tells of.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The channel that failed.
    pub channel: String,
    /// The notification's title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was dead-lettered.
    pub created_at: DateTime<Utc>,
    /// The last attempt.
    pub updated_at: DateTime<Utc>,
}

impl From<crate::walle::Notification> for DeadLetterView {
    fn from(n: crate::walle::Notification) -> Self {
        let msg: Option<notify::Message> = serde_json::from_str(&n.body).ok();
        let (title, text) =
            msg.map_or_else(|| (String::new(), String::new()), |m| (m.title, m.text));
        DeadLetterView {
            id: n.id,
            event_id: n.event_id,
            event_type: n.event_type,
            channel: n.channel,
            title,
            text,
            attempts: n.attempts,
            last_error: n.last_error,
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

/// A page of dead letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterPage {
    /// Oldest first.
    pub items: Vec<DeadLetterView>,
    /// Cursor of the next page (`after`), when this one was full.
    pub next_after: Option<i64>,
}

/// Paging of the dead letters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Cursor: the previous page's `next_after`.
    pub after: Option<i64>,
    /// Page size (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The channels (configured or not, never their secrets) and where each rule goes.
#[utoipa::path(get, path = "/notifications/settings", tag = "notifications", responses(
    (status = 200, body = NotifySettingsView), (status = 401, body = ErrorBody)))]
pub async fn get_settings(State(state): State<AppState>) -> axum::Json<NotifySettingsView> {
    axum::Json(state.notifier().settings().await.into())
}

/// Changes the routes of the rules it names (stored, kept across a restart); others keep theirs.
#[utoipa::path(put, path = "/notifications/rules", tag = "notifications",
    request_body(content = NotifyRulesRequest, example = json!({"rules": {"order_denied": "off", "run_failed": "telegram"}})),
    responses(
    (status = 200, body = NotifySettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_rules(
    State(state): State<AppState>,
    AppJson(req): AppJson<NotifyRulesRequest>,
) -> Result<axum::Json<NotifySettingsView>, ApiError> {
    Ok(axum::Json(
        state.notifier().set_rules(&req.rules).await?.into(),
    ))
}

/// Sends a test notification to one channel or every configured one, once each.
#[utoipa::path(post, path = "/notifications/test", tag = "notifications",
    request_body(content = Option<NotifyTestRequest>, example = json!({"channel": "webhook"})),
    responses(
    (status = 200, body = NotifyTestView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_test(
    State(state): State<AppState>,
    OptionalJson(req): OptionalJson<NotifyTestRequest>,
) -> Result<axum::Json<NotifyTestView>, ApiError> {
    let channel = match req.and_then(|r| r.channel) {
        None => None,
        Some(name) => Some(Channel::parse(&name).ok_or_else(|| ApiError::Invalid {
            code: "invalid_channel",
            message: format!("unknown channel {name:?}; channels: webhook, telegram, discord"),
        })?),
    };
    let results = state.notifier().test(channel).await?;
    Ok(axum::Json(NotifyTestView {
        results: results.into_iter().map(Into::into).collect(),
    }))
}

/// Notifications that failed every attempt, oldest first.
#[utoipa::path(get, path = "/notifications/dead-letters", tag = "notifications", params(DeadLetterQuery),
    responses(
    (status = 200, body = DeadLetterPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<DeadLetterQuery>,
) -> Result<axum::Json<DeadLetterPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParam("limit must be 1–1000".into()));
    }
    let rows = state
        .notifier()
        .dead_letters(q.after.unwrap_or(0), limit)
        .await?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit;
    let next_after = if full {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(axum::Json(DeadLetterPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_after,
    }))
}

/// Sends a dead letter again, once: delivered, it leaves the list; failed, it stays.
#[utoipa::path(post, path = "/notifications/dead-letters/{id}/retry", tag = "notifications",
    params(("id" = i64, Path, description = "Dead letter id")), responses(
    (status = 200, body = NotifyAttemptView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn retry_dead_letter(
    State(state): State<AppState>,
    IdPath(id): IdPath,
) -> Result<axum::Json<NotifyAttemptView>, ApiError> {
    Ok(axum::Json(state.notifier().retry(id).await?.into()))
}
