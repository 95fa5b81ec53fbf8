//! The notifier's store (`notifications`): one outcome per event and channel (the first one
//! stored wins, so a redelivered event changes nothing), the dead-letter list paged by id, and
//! a retry that delivers takes a dead letter off the list for good.

use weaver::walle::{NewNotification, NotificationStatus};

use super::support::{TestStore, contract};

fn outcome<'a>(
    event: &'a str,
    channel: &'a str,
    status: NotificationStatus,
) -> NewNotification<'a> {
    NewNotification {
        event_id: event,
        event_type: "ui.TradingState",
        channel,
        status,
        attempts: 5,
        last_error: (status == NotificationStatus::DeadLetter).then_some("webhook answered 503"),
        body: r#"{"title": "t"}"#,
    }
}

async fn notification_outcomes_are_kept_once_and_dead_letters_page(store: &TestStore) {
    let w = &store.walle;
    assert!(
        w.notification("e1", "webhook")
            .await
            .expect("read")
            .is_none()
    );
    w.record_notification(&outcome("e1", "webhook", NotificationStatus::Delivered))
        .await
        .expect("store");
    // A second outcome for the same event and channel (a redelivery) changes nothing.
    w.record_notification(&outcome("e1", "webhook", NotificationStatus::DeadLetter))
        .await
        .expect("store again");
    let kept = w
        .notification("e1", "webhook")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(kept.status, "delivered");
    assert_eq!(kept.last_error, None);
    // Another channel of the same event is its own row.
    for (event, channel) in [("e1", "telegram"), ("e2", "webhook"), ("e3", "discord")] {
        w.record_notification(&outcome(event, channel, NotificationStatus::DeadLetter))
            .await
            .expect("dead letter");
    }
    let all = w.dead_letters(0, 10).await.expect("list");
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|p| p[0].id < p[1].id), "oldest first");
    let first = w.dead_letters(0, 2).await.expect("page 1");
    let rest = w.dead_letters(first[1].id, 2).await.expect("page 2");
    assert_eq!(first.len() + rest.len(), 3);
    assert_eq!(rest[0].event_id, "e3");
    assert_eq!(first[0].last_error.as_deref(), Some("webhook answered 503"));

    // A failed retry keeps it listed with one more attempt; a delivered one takes it off.
    let id = first[0].id;
    assert!(
        w.retried_dead_letter(id, Some("timeout"))
            .await
            .expect("retry")
    );
    let again = w.dead_letter(id).await.expect("read").expect("still dead");
    assert_eq!(
        (again.attempts, again.last_error.as_deref()),
        (6, Some("timeout"))
    );
    assert!(w.retried_dead_letter(id, None).await.expect("retry"));
    assert!(w.dead_letter(id).await.expect("read").is_none());
    assert!(
        !w.retried_dead_letter(id, None).await.expect("retry"),
        "settled already"
    );
    let delivered = w
        .notification("e1", "telegram")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(delivered.status, "delivered");
    assert_eq!(w.dead_letters(0, 10).await.expect("list").len(), 2);
}

contract!(notification_outcomes_are_kept_once_and_dead_letters_page);
