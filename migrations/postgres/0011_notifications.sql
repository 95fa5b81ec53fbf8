-- Notifications (host/src/notify.rs): what the notifier did with each event it sent to each
-- channel, so a restart re-sends nothing already delivered or dead-lettered, and the dead-letter
-- list (`status = 'dead_letter'`) that `GET /notifications/dead-letters` shows and
-- `POST /notifications/dead-letters/{id}/retry` delivers. PostgreSQL twin of
-- migrations/sqlite/0011_notifications.sql. `body` is the notification as JSON text (the
-- webhook's body without its signature); `last_error` never holds a URL or a secret.
create table notifications (
    id          bigint generated always as identity primary key,
    event_id    text not null,
    event_type  text not null,
    channel     text not null,
    status      text not null check (status in ('delivered', 'dead_letter')),
    attempts    integer not null,
    last_error  text,
    body        text not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    unique (event_id, channel)
);
create index notifications_dead on notifications (status, id);
