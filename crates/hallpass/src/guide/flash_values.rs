#![doc = include_str!("flash_values.md")]
