//! Column types shared by both backends.
//!
//! # Invariants
//! - [`Num`] round-trips a decimal exactly on both backends (never through a float).

use rust_decimal::Decimal;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};

/// An exact decimal column: `numeric` on PostgreSQL, decimal text on SQLite (which has no exact
/// numeric type; REAL would round money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Num(pub Decimal);

impl Type<Postgres> for Num {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Num {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <Decimal as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Num {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <Decimal as Decode<Postgres>>::decode(value).map(Num)
    }
}

impl Type<Sqlite> for Num {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Num {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Num {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Num(text.parse::<Decimal>()?))
    }
}

/// Implements `TryFrom<String>` through the enum's serde name, so rows can derive `FromRow`
/// with `#[sqlx(try_from = "String")]`.
macro_rules! text_column {
    ($($ty:ty),* $(,)?) => {$(
        impl TryFrom<String> for $ty {
            type Error = super::Error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                super::parse_text(stringify!($ty), &s)
            }
        }
    )*};
}

text_column!(
    super::StrategyStatus,
    super::RunMode,
    super::RunStatus,
    super::OrderState,
    super::BacktestStatus,
);
