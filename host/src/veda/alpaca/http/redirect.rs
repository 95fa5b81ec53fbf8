//! Where the Alpaca client follows a redirect: only within the origin (scheme, host and port) it
//! sent the request to. The keys travel as default headers on every request, and reqwest removes
//! only the standard credential headers (`Authorization`, `Cookie`) when a redirect leaves the
//! host, so following one to another origin would hand `APCA-API-KEY-ID` and
//! `APCA-API-SECRET-KEY` to whoever the redirect names.
//!
//! # Invariants
//! - A redirect to another origin is not followed: the 3xx answer itself comes back and the call
//!   fails as a refusal, with nothing sent to the other origin.
//! - At most [`MAX_HOPS`] redirects are followed, all within the first request's origin.

use reqwest::redirect::{Attempt, Policy};

/// The most same-origin redirects one request follows.
pub(super) const MAX_HOPS: usize = 5;

/// The client's redirect policy (see the module docs).
pub(super) fn same_origin_only() -> Policy {
    Policy::custom(decide)
}

fn decide(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let Some(first) = attempt.previous().first() else {
        return attempt.stop();
    };
    let same = first.origin() == attempt.url().origin();
    if same && attempt.previous().len() <= MAX_HOPS {
        attempt.follow()
    } else {
        tracing::warn!(
            from = %first.origin().ascii_serialization(),
            to = %attempt.url().origin().ascii_serialization(),
            "redirect not followed: it leaves the configured origin (the API keys stay here)"
        );
        attempt.stop()
    }
}
