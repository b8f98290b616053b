#![doc = include_str!("labels.md")]
