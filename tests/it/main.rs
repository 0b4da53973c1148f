//! The integration tests, one crate (one binary, one process): each module is one area of
//! loadgate tested end to end, and `common` holds what they share, among it the throwaway
//! server that every test which can share one uses.

mod common;

mod bulk;
mod cli;
mod faults;
mod gate;
mod index;
mod input;
mod install;
mod lean;
mod lost;
mod monitor;
mod newcomer;
mod power;
mod proxy;
mod same;
mod server;
mod store;
mod truth;
mod work;
