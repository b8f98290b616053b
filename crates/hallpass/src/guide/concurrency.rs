#![doc = include_str!("concurrency.md")]
