//! Hostile guests (filled in below).
