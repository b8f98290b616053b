#![doc = include_str!("writing_an_adapter.md")]
