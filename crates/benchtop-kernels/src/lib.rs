//! Host-side numeric loops on the studies' hot paths. A crate of its own so that it can be
//! optimised in debug builds (the build users run) without optimising the studies' crate,
//! whose rebuilds stay fast; nothing here knows about burn.

pub mod adam;
