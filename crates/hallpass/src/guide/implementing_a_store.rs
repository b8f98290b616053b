#![doc = include_str!("implementing_a_store.md")]
