//! The one integration-test binary (wasmtime and sqlx are linked once). One module per area.

mod walle;
