//! Fresh stores for the contract suite: a new PostgreSQL database per test, or a temp SQLite file.

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use weaver::walle::{DbConfig, Walle};

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pg,
    Sqlite,
}

/// A migrated, empty store that is removed again by [`TestStore::finish`].
pub(crate) struct TestStore {
    pub(crate) walle: Walle,
    pub(crate) kind: Kind,
    config: DbConfig,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn pg_admin_url() -> String {
    std::env::var("WEAVER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The URL of database `name` on the admin URL's server.
fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let cut = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..cut])
}

impl TestStore {
    pub(crate) async fn new(kind: Kind) -> TestStore {
        match kind {
            Kind::Pg => {
                let admin = pg_admin_url();
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {admin}: {e}\n\
                         The contract tests need it. Start it with\n  \
                         pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
                         or point WEAVER_TEST_PG_URL at a server (./.ci/run does this)."
                    )
                });
                let name = format!("weaver_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let config = DbConfig::with_url(&with_database(&admin, &name));
                let walle = Walle::connect(&config)
                    .await
                    .expect("connect and migrate postgres");
                TestStore {
                    walle,
                    kind,
                    config,
                    pg: Some((admin, name)),
                    _dir: None,
                }
            }
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let config = DbConfig::sqlite_in(dir.path());
                let walle = Walle::connect(&config)
                    .await
                    .expect("connect and migrate sqlite");
                TestStore {
                    walle,
                    kind,
                    config,
                    pg: None,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// Another handle on the same database, as a second process would have. On SQLite the
    /// in-process wake-up is the design, so this is the same store.
    /// The PostgreSQL URL of this store's database (`None` on SQLite).
    pub(crate) fn pg_url(&self) -> Option<String> {
        self.pg
            .as_ref()
            .map(|(admin, name)| with_database(admin, name))
    }

    pub(crate) async fn second_handle(&self) -> Walle {
        match self.kind {
            Kind::Pg => Walle::connect(&self.config).await.expect("second handle"),
            Kind::Sqlite => self.walle.clone(),
        }
    }

    /// Runs one SQL statement on the store's database through a connection of its own (for
    /// setting up states the API cannot make, such as events from long ago).
    pub(crate) async fn exec_sql(&self, sql: &str) -> u64 {
        use sqlx::Connection;
        let stmt = sqlx::AssertSqlSafe(sql.to_owned());
        match (&self.pg, &self._dir) {
            (Some((admin, name)), _) => {
                let mut c = PgConnection::connect(&with_database(admin, name))
                    .await
                    .expect("connect");
                sqlx::query(stmt)
                    .execute(&mut c)
                    .await
                    .expect("statement")
                    .rows_affected()
            }
            (None, Some(dir)) => {
                let url = format!("sqlite://{}", dir.path().join("weaver.db").display());
                let mut c = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                sqlx::query(stmt)
                    .execute(&mut c)
                    .await
                    .expect("statement")
                    .rows_affected()
            }
            _ => unreachable!("a store is PostgreSQL or SQLite in a temp dir"),
        }
    }

    /// The rows of a one-column query as text (PostgreSQL only: tests that look inside tables
    /// the API does not show, such as the workers' leases).
    pub(crate) async fn exec_rows(&self, sql: &str) -> Vec<String> {
        let (admin, name) = self.pg.as_ref().expect("exec_rows runs on PostgreSQL");
        let mut c = PgConnection::connect(&with_database(admin, name))
            .await
            .expect("connect");
        let stmt = sqlx::AssertSqlSafe(format!("select q.x::text from ({sql}) as q(x)"));
        sqlx::query_scalar::<_, String>(stmt)
            .fetch_all(&mut c)
            .await
            .expect("query")
    }

    pub(crate) fn is_pg(&self) -> bool {
        self.kind == Kind::Pg
    }

    pub(crate) async fn finish(self) {
        self.walle.close().await;
        if let Some((admin, name)) = &self.pg {
            let mut conn = PgConnection::connect(admin)
                .await
                .expect("reconnect to drop test database");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists {name} with (force)"
            )))
            .execute(&mut conn)
            .await
            .expect("drop test database");
        }
    }
}

/// Declares each listed `async fn(&TestStore)` as two tests, `postgres::<name>` and
/// `sqlite::<name>`, each on a fresh store.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = $crate::walle::support::TestStore::new($crate::walle::support::Kind::Pg).await;
                    super::$name(&store).await;
                    store.finish().await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store = $crate::walle::support::TestStore::new($crate::walle::support::Kind::Sqlite).await;
                    super::$name(&store).await;
                    store.finish().await;
                }
            )*
        }
    };
}
pub(crate) use contract;

/// PostgreSQL: waits until every transaction that started before now has finished, so a read
/// below the outbox horizon sees everything committed so far (other tests share the cluster and
/// their open transactions hold the horizon for a moment). No-op on SQLite.
pub(crate) async fn settle(w: &Walle) {
    let Some(pool) = w.pg_pool() else { return };
    let (xmax,): (String,) = sqlx::query_as("select pg_snapshot_xmax(pg_current_snapshot())::text")
        .fetch_one(pool)
        .await
        .expect("snapshot");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (passed,): (bool,) =
            sqlx::query_as("select pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8")
                .bind(&xmax)
                .fetch_one(pool)
                .await
                .expect("horizon");
        if passed {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the horizon did not pass {xmax} in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A `ui.Notice` event whose message is `event {i}`.
pub(crate) fn notice(i: usize) -> weaver::events::Envelope {
    weaver::events::Envelope::new(
        "ui.Notice",
        "test",
        serde_json::json!({"level": "info", "message": format!("event {i}")}),
    )
    .expect("envelope")
}
